#include "core/proto_json.h"
#include "graph/analysis/graph_summary.h"

#include <algorithm>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"
#include "google/protobuf/util/json_util.h"
#include "graph/analysis/feature_columns.h"
#include "graph/analysis/flops.h"
#include "graph/analysis/op_support.h"
#include "graph/analysis/shape_inference.h"
#include "rankopt/status_macros.h"

namespace rankopt {
namespace {

// TF ops that produce no data outputs: never "outputs" of a plain GraphDef.
bool HasNoDataOutputs(const Node& node) {
  static const auto* const kOps =
      new absl::flat_hash_set<absl::string_view>{"NoOp",
                                                 "Assert",
                                                 "AssignVariableOp",
                                                 "AssignAddVariableOp",
                                                 "AssignSubVariableOp",
                                                 "SaveV2",
                                                 "Save",
                                                 "SaveSlices",
                                                 "MergeV2Checkpoints",
                                                 "PrintV2",
                                                 "WriteScalarSummary",
                                                 "ResourceApplyGradientDescent"};
  return kOps->contains(node.op);
}

void FillTensor(const std::string& name, const InferredTensor& t, SummaryTensor* out) {
  out->set_name(name);
  out->set_dtype(t.dtype == DType::kInvalid ? "unknown" : std::string(DTypeName(t.dtype)));
  out->set_known_rank(t.shape.known_rank());
  for (int64_t d : t.shape.dims()) out->add_dims(d);
  out->set_shape(t.shape.ToString());
}

// Sorted by count desc, then op, then domain.
std::vector<SummaryOpCount> SortedCounts(
    const std::map<std::pair<std::string, std::string>, int64_t>& counts) {
  std::vector<SummaryOpCount> out;
  for (const auto& [key, count] : counts) {
    SummaryOpCount c;
    c.set_domain(key.first);
    c.set_op(key.second);
    c.set_count(count);
    out.push_back(std::move(c));
  }
  std::stable_sort(out.begin(), out.end(), [](const SummaryOpCount& a, const SummaryOpCount& b) {
    return a.count() > b.count();
  });
  return out;
}

std::string OpLabel(const SummaryOpCount& c) {
  return c.domain().empty() ? c.op() : absl::StrCat(c.domain(), ":", c.op());
}

// 1234567 -> "1,234,567".
std::string WithCommas(int64_t v) {
  std::string digits = absl::StrCat(v < 0 ? -(v + 1) + 1ULL : static_cast<uint64_t>(v));
  std::string out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out.push_back(',');
    out.push_back(digits[i]);
  }
  return v < 0 ? "-" + out : out;
}

// 1234567 -> "1.23 M".
std::string Scaled(double v, absl::string_view unit) {
  const char* prefixes[] = {"", "K", "M", "G", "T", "P"};
  int i = 0;
  while (v >= 1000.0 && i < 5) {
    v /= 1000.0;
    ++i;
  }
  return absl::StrFormat("%.2f %s%s", v, prefixes[i], unit);
}

std::string Bytes(int64_t v) {
  double d = static_cast<double>(v);
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int i = 0;
  while (d >= 1024.0 && i < 4) {
    d /= 1024.0;
    ++i;
  }
  return i == 0 ? absl::StrCat(v, " B") : absl::StrFormat("%.1f %s", d, units[i]);
}

// Saturating add: an absurd graph must not overflow the totals.
int64_t SatAdd(int64_t a, int64_t b) {
  int64_t r;
  return __builtin_add_overflow(a, b, &r) ? INT64_MAX : r;
}

// A left-aligned text table with a two-space indent.
std::string Table(const std::vector<std::vector<std::string>>& rows,
                  const std::vector<bool>& right_align) {
  std::vector<size_t> width;
  for (const auto& row : rows) {
    for (size_t c = 0; c < row.size(); ++c) {
      if (width.size() <= c) width.push_back(0);
      width[c] = std::max(width[c], row[c].size());
    }
  }
  std::string out;
  for (const auto& row : rows) {
    std::string line = " ";
    for (size_t c = 0; c < row.size(); ++c) {
      const bool right = c < right_align.size() && right_align[c];
      const std::string pad(width[c] - row[c].size(), ' ');
      absl::StrAppend(&line, " ", right ? pad + row[c] : row[c] + pad);
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    absl::StrAppend(&out, line, "\n");
  }
  return out;
}

std::string SignatureText(const SummaryTensor& t) {
  std::vector<std::string> parts;
  for (const SummarySignatureBinding& b : t.signatures()) {
    parts.push_back(absl::StrCat(b.signature_key(), "[\"", b.tensor_key(), "\"]"));
  }
  return absl::StrJoin(parts, ", ");
}

void AppendTensors(absl::string_view title, absl::string_view source,
                   const google::protobuf::RepeatedPtrField<SummaryTensor>& tensors,
                   std::string* out) {
  absl::StrAppend(out, "\n", title, " (", tensors.size(), source.empty() ? "" : ", from ", source,
                  "):\n");
  if (tensors.empty()) {
    absl::StrAppend(out, "  (none)\n");
    return;
  }
  bool any_sig = false;
  for (const SummaryTensor& t : tensors) any_sig = any_sig || t.signatures_size() > 0;
  std::vector<std::vector<std::string>> rows = {{"name", "dtype", "shape"}};
  if (any_sig) rows[0].push_back("signature");
  for (const SummaryTensor& t : tensors) {
    rows.push_back({t.name(), t.dtype(), t.shape()});
    if (any_sig) rows.back().push_back(SignatureText(t));
  }
  absl::StrAppend(out, Table(rows, {}));
}

}  // namespace

absl::StatusOr<GraphSummaryProto> SummarizeGraph(const Graph& graph) {
  // Shapes as declared (unknown batch) for the report; batch 1 for FLOPs per example.
  RANKOPT_ASSIGN_OR_RETURN(ShapeMap shapes, InferShapes(graph, -1));
  RANKOPT_ASSIGN_OR_RETURN(ShapeMap shapes_b1, InferShapes(graph, 1));

  GraphSummaryProto s;
  s.set_format(std::string(ModelFormatName(graph.format())));
  s.set_node_count(static_cast<int64_t>(graph.num_nodes()));

  // Inputs: graph inputs, then any other tensor a SavedModel signature feeds (TF1 signatures may
  // feed an Identity or a PlaceholderWithDefault), each with its signature bindings. Where
  // inference cannot type a fed tensor, the signature's declared dtype and shape stand in.
  std::vector<TensorRef> inputs;
  absl::flat_hash_set<TensorRef> seen_inputs;
  for (const Node& node : graph.nodes()) {
    if (node.op != kPlaceholderOp) continue;
    if (seen_inputs.insert(TensorRef{node.name, 0}).second) inputs.push_back({node.name, 0});
  }
  for (const Signature& sig : graph.signatures()) {
    for (const SignatureTensor& in : sig.inputs) {
      if (seen_inputs.insert(in.ref).second) inputs.push_back(in.ref);
    }
  }
  for (const TensorRef& ref : inputs) {
    InferredTensor inferred = LookupInferred(shapes, ref);
    for (const Signature& sig : graph.signatures()) {
      for (const SignatureTensor& in : sig.inputs) {
        if (in.ref != ref) continue;
        if (inferred.dtype == DType::kInvalid) inferred.dtype = in.dtype;
        if (!inferred.shape.known_rank()) inferred.shape = in.shape;
      }
    }
    SummaryTensor* t = s.add_inputs();
    FillTensor(ref.ToString(), inferred, t);
    for (const Signature& sig : graph.signatures()) {
      for (const SignatureTensor& in : sig.inputs) {
        if (in.ref != ref) continue;
        SummarySignatureBinding* b = t->add_signatures();
        b->set_signature_key(sig.key);
        b->set_tensor_key(in.key);
      }
    }
  }

  // Outputs: declared graph outputs, else signature outputs, else unconsumed nodes.
  if (!graph.outputs().empty()) {
    s.set_outputs_source("graph outputs");
    for (const GraphOutput& o : graph.outputs()) {
      FillTensor(o.name.empty() ? o.ref.ToString() : o.name, LookupInferred(shapes, o.ref),
                 s.add_outputs());
    }
  } else if (std::any_of(graph.signatures().begin(), graph.signatures().end(),
                         [](const Signature& sig) { return !sig.outputs.empty(); })) {
    s.set_outputs_source("signature outputs");
    absl::flat_hash_map<TensorRef, SummaryTensor*> by_ref;
    for (const Signature& sig : graph.signatures()) {
      for (const SignatureTensor& o : sig.outputs) {
        SummaryTensor*& t = by_ref[o.ref];
        if (t == nullptr) {
          t = s.add_outputs();
          InferredTensor inferred = LookupInferred(shapes, o.ref);
          // The signature may know more than inference (it was recorded at export).
          if (inferred.dtype == DType::kInvalid) inferred.dtype = o.dtype;
          if (!inferred.shape.known_rank()) inferred.shape = o.shape;
          FillTensor(o.ref.ToString(), inferred, t);
        }
        SummarySignatureBinding* b = t->add_signatures();
        b->set_signature_key(sig.key);
        b->set_tensor_key(o.key);
      }
    }
  } else {
    s.set_outputs_source("unconsumed nodes");
    absl::flat_hash_set<std::string> consumed;
    for (const Node& node : graph.nodes()) {
      for (const TensorRef& in : node.inputs) consumed.insert(in.node);
      for (const std::string& c : node.control_inputs) consumed.insert(c);
    }
    for (const Node& node : graph.nodes()) {
      if (consumed.contains(node.name) || HasNoDataOutputs(node)) continue;
      const int ports = std::max<int>(1, static_cast<int>(node.output_names.size()));
      for (int p = 0; p < ports; ++p) {
        TensorRef ref{node.name, p};
        FillTensor(ref.ToString(), LookupInferred(shapes, ref), s.add_outputs());
      }
    }
  }

  // Op types, parameters, variables, control edges, FLOPs.
  std::map<std::pair<std::string, std::string>, int64_t> op_counts;
  std::map<std::pair<std::string, std::string>, int64_t> uncounted;
  std::map<std::string, std::pair<int64_t, int64_t>> flops_by_op;  // op -> (count, flops)
  int64_t total_flops = 0;
  for (const Node& node : graph.nodes()) {
    ++op_counts[{node.domain, node.op}];
    s.set_control_edge_count(s.control_edge_count() +
                             static_cast<int64_t>(node.control_inputs.size()));
    if (node.op == kConstOp) {
      s.set_const_count(s.const_count() + 1);
      if (const Tensor* t = node.attrs.Get<Tensor>("value")) {
        s.set_parameter_count(SatAdd(s.parameter_count(), t->num_elements()));
        s.set_parameter_bytes(SatAdd(s.parameter_bytes(), static_cast<int64_t>(t->ByteSize())));
      }
    }
    if (node.op == "VariableV2" || node.op == "Variable" || node.op == "VarHandleOp") {
      s.set_variable_op_count(s.variable_op_count() + 1);
    }
    NodeFlops f = EstimateNodeFlops(node, shapes_b1);
    if (f.kind == FlopsKind::kUncounted) {
      ++uncounted[{node.domain, node.op}];
    } else if (f.kind == FlopsKind::kCounted) {
      auto& [count, flops] = flops_by_op[node.op];
      ++count;
      flops = SatAdd(flops, f.flops);
      total_flops = SatAdd(total_flops, f.flops);
    }
  }
  s.set_frozen_variable_count(static_cast<int64_t>(graph.frozen_variables().size()));
  for (SummaryOpCount& c : SortedCounts(op_counts)) {
    if (!RankoptCanRun(graph.format(), c.op(), c.domain())) *s.add_unsupported_ops() = c;
    *s.add_op_types() = std::move(c);
  }
  for (SummaryOpCount& c : SortedCounts(uncounted)) *s.add_flops_uncounted() = std::move(c);
  s.set_flops_complete(s.flops_uncounted().empty());
  s.set_flops_per_example(total_flops);
  std::vector<SummaryOpFlops> by_op;
  for (const auto& [op, cf] : flops_by_op) {
    SummaryOpFlops f;
    f.set_op(op);
    f.set_count(cf.first);
    f.set_flops(cf.second);
    by_op.push_back(std::move(f));
  }
  std::stable_sort(
      by_op.begin(), by_op.end(),
      [](const SummaryOpFlops& a, const SummaryOpFlops& b) { return a.flops() > b.flops(); });
  for (SummaryOpFlops& f : by_op) *s.add_flops_by_op() = std::move(f);
  for (FeatureColumnInfo& c : FindFeatureColumns(graph)) {
    SummaryFeatureColumn* out = s.add_feature_columns();
    out->set_kind(std::move(c.kind));
    out->set_node(std::move(c.node));
    out->set_op(std::move(c.op));
    for (std::string& in : c.inputs) out->add_inputs(std::move(in));
    out->set_buckets(c.buckets);
    out->set_detail(std::move(c.detail));
  }
  return s;
}

std::string FormatSummaryText(const GraphSummaryProto& s) {
  std::string out;
  absl::StrAppend(&out, "Model: ", s.format(), ", ", WithCommas(s.node_count()), " nodes\n");
  AppendTensors("Inputs", "", s.inputs(), &out);
  AppendTensors("Outputs", s.outputs_source(), s.outputs(), &out);

  absl::StrAppend(&out, "\nOp types (", s.op_types_size(), " types, ", WithCommas(s.node_count()),
                  " nodes):\n");
  std::vector<std::vector<std::string>> rows = {{"count", "op"}};
  for (const SummaryOpCount& c : s.op_types()) rows.push_back({WithCommas(c.count()), OpLabel(c)});
  absl::StrAppend(&out, Table(rows, {true, false}));

  absl::StrAppend(&out, "\nParameters: ", WithCommas(s.parameter_count()), " in ",
                  WithCommas(s.const_count()), " Const nodes, ", WithCommas(s.parameter_bytes()),
                  " bytes (", Bytes(s.parameter_bytes()), ")\n");
  absl::StrAppend(&out, "Variables: ", s.variable_op_count(), " variable ops in the graph; ",
                  s.frozen_variable_count(), " frozen from checkpoint\n");
  absl::StrAppend(&out, "Control edges: ", WithCommas(s.control_edge_count()), "\n");

  absl::StrAppend(&out, "\nFLOPs per example (batch size 1): ", WithCommas(s.flops_per_example()),
                  " (", Scaled(static_cast<double>(s.flops_per_example()), "FLOPs"), ")",
                  s.flops_complete() ? "" : ", a lower bound", "\n");
  if (s.flops_by_op_size() > 0) {
    rows = {{"op", "count", "FLOPs", "%", "cdf %"}};
    double cdf = 0;
    const double total = std::max<double>(1.0, static_cast<double>(s.flops_per_example()));
    for (const SummaryOpFlops& f : s.flops_by_op()) {
      const double pct = 100.0 * static_cast<double>(f.flops()) / total;
      cdf += pct;
      rows.push_back({f.op(), WithCommas(f.count()), WithCommas(f.flops()),
                      absl::StrFormat("%.2f", pct), absl::StrFormat("%.2f", cdf)});
    }
    absl::StrAppend(&out, Table(rows, {false, true, true, true, true}));
  }
  if (s.flops_uncounted().empty()) {
    absl::StrAppend(&out, "  Every compute op was counted.\n");
  } else {
    std::vector<std::string> parts;
    for (const SummaryOpCount& c : s.flops_uncounted()) {
      parts.push_back(absl::StrCat(OpLabel(c), " x", c.count()));
    }
    absl::StrAppend(
        &out, "  Not counted (unmodelled op or unknown shape): ", absl::StrJoin(parts, ", "), "\n");
  }

  absl::StrAppend(&out, "\nOps rankopt cannot run yet (", s.unsupported_ops_size(), " of ",
                  s.op_types_size(), " op types)", s.unsupported_ops().empty() ? ": none" : "",
                  "\n");
  std::vector<std::string> parts;
  for (const SummaryOpCount& c : s.unsupported_ops()) {
    parts.push_back(absl::StrCat(OpLabel(c), " x", c.count()));
  }
  if (!parts.empty()) absl::StrAppend(&out, "  ", absl::StrJoin(parts, ", "), "\n");
  if (!s.fusion_notes().empty()) {
    absl::StrAppend(&out, "\nO2 fusion patterns (fused blocks and near misses)\n");
    for (const std::string& note : s.fusion_notes()) absl::StrAppend(&out, "  ", note, "\n");
  }
  if (s.feature_columns_size() > 0) {
    absl::StrAppend(&out, "\nFeature columns in the graph (", s.feature_columns_size(), "):\n");
    rows = {{"kind", "reads", "buckets", "op", "node", "detail"}};
    for (const SummaryFeatureColumn& c : s.feature_columns()) {
      std::vector<std::string> reads(c.inputs().begin(), c.inputs().end());
      if (reads.size() > 3) {
        const size_t more = reads.size() - 3;
        reads.resize(3);
        reads.push_back(absl::StrCat("+", more));
      }
      rows.push_back({c.kind(), reads.empty() ? "-" : absl::StrJoin(reads, ","),
                      c.buckets() < 0 ? "-" : WithCommas(c.buckets()), c.op(), c.node(),
                      c.detail()});
    }
    absl::StrAppend(&out, Table(rows, {false, false, true, false, false, false}));
  }
  if (s.lift_size() > 0 || !s.lift_note().empty()) {
    int lifted = 0;
    for (const SummaryLiftInput& in : s.lift()) lifted += in.lifted() ? 1 : 0;
    absl::StrAppend(&out, "\nrankopt lift would lift ", lifted, " of ", s.lift_size(),
                    " raw input(s) into the feature config",
                    s.lift_note().empty() ? "" : absl::StrCat(" (", s.lift_note(), ")"), ":\n");
    for (const SummaryLiftInput& in : s.lift()) {
      absl::StrAppend(&out, "  ", in.lifted() ? "lifted " : "kept   ", in.input(), ": ",
                      in.detail(), "\n");
    }
  }
  return out;
}

std::string FormatSummaryJson(const GraphSummaryProto& summary) {
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = true;
  options.always_print_primitive_fields = true;
  options.preserve_proto_field_names = true;
  return ProtoToJson(summary, options);
}

}  // namespace rankopt
