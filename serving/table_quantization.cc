#include "serving/table_quantization.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "embedding/kernels/lookup.h"
#include "graph/kernels/embedding/embedding_kernels.h"
#include "rankopt/status_macros.h"

namespace rankopt {
namespace {

bool IsGather(const std::string& op) {
  return op == "Gather" || op == "GatherV2" || op == "ResourceGather";
}

bool IsEmbeddingOp(const std::string& op) {
  return op == kEmbeddingLookupOp || op == kEmbeddingBagOp;
}

// Ops whose input 0 is an embedding table.
bool ReadsTable(const std::string& op) { return IsGather(op) || IsEmbeddingOp(op); }

// The inputs of `node` that are embedding tables: 0 for the ops above, every even input of a
// _RankoptMultiLookup (table, ids pairs).
std::vector<int> TableInputs(const Node& node) {
  std::vector<int> inputs;
  if (node.op == kMultiLookupOp) {
    for (size_t i = 0; i + 1 < node.inputs.size(); i += 2) inputs.push_back(static_cast<int>(i));
  } else if (ReadsTable(node.op) && !node.inputs.empty()) {
    inputs.push_back(0);
  }
  return inputs;
}

bool IsTableConst(const Node& node) {
  const Tensor* value = node.attrs.Get<Tensor>("value");
  return value != nullptr && value->dtype() == DType::kFloat32 && value->dims().size() == 2;
}

}  // namespace

absl::StatusOr<std::vector<float>> GatePredictions(const Graph& graph,
                                                   const std::vector<GateSample>& samples,
                                                   const std::vector<std::string>& outputs_wanted,
                                                   std::string* output_names) {
  PlanOptions plan_options;
  plan_options.outputs = outputs_wanted;
  RANKOPT_ASSIGN_OR_RETURN(std::unique_ptr<const ExecutionPlan> plan,
                           ExecutionPlan::Create(graph, plan_options));
  if (plan->outputs().empty()) {
    return absl::InvalidArgumentError("the model has no outputs to compare");
  }
  if (output_names != nullptr) *output_names = absl::StrJoin(plan->outputs(), ",");
  std::vector<float> predictions;
  std::vector<Tensor> outputs;
  for (size_t i = 0; i < samples.size(); ++i) {
    absl::Status run = plan->Run(samples[i], &outputs);
    if (!run.ok()) {
      return absl::Status(run.code(), absl::StrCat("sample ", i, ": ", run.message()));
    }
    for (size_t o = 0; o < outputs.size(); ++o) {
      if (outputs[o].dtype() == DType::kFloat64) {  // BigQuery ML exports: compared as float32
        for (double v : outputs[o].values<double>()) predictions.push_back(static_cast<float>(v));
        continue;
      }
      if (outputs[o].dtype() != DType::kFloat32) {
        return absl::InvalidArgumentError(
            absl::StrCat("output '", plan->outputs()[o], "' is ", DTypeName(outputs[o].dtype()),
                         "; the gate compares float32 (or float64) predictions"));
      }
      absl::Span<const float> values = outputs[o].values<float>();
      predictions.insert(predictions.end(), values.begin(), values.end());
    }
  }
  return predictions;
}

absl::StatusOr<std::vector<const Node*>> FindEmbeddingTables(const Graph& graph,
                                                             const std::vector<std::string>& names,
                                                             absl::string_view where) {
  std::vector<const Node*> selected;
  absl::flat_hash_set<const Node*> seen;
  if (names.size() == 1 && names[0] == "all") {
    for (const Node& node : graph.nodes()) {
      if (!ReadsTable(node.op) || node.inputs.empty()) continue;
      const Node* table = graph.ConstantBehind(node.inputs[0]);
      if (table == nullptr || !IsTableConst(*table)) continue;
      if (seen.insert(table).second) selected.push_back(table);
    }
    if (selected.empty()) {
      return absl::NotFoundError(absl::StrCat(
          where,
          ": no 2-D float32 constant feeds a Gather or an embedding lookup; name the tables "
          "with --tables"));
    }
    return selected;
  }
  for (const std::string& name : names) {
    const Node* node = graph.FindNode(name);
    if (node == nullptr) {
      return absl::NotFoundError(absl::StrCat(where, ": no node '", name, "'; closest: ",
                                              absl::StrJoin(graph.ClosestNames(name), ", ")));
    }
    const Node* table = graph.ConstantBehind(TensorRef{name, 0});
    if (table == nullptr || !IsTableConst(*table)) {
      return absl::InvalidArgumentError(absl::StrCat(
          where, ": node '", name, "' (", node->op,
          ") is not a 2-D float32 constant; embedding tables are [rows, dim] float32 Consts"));
    }
    if (seen.insert(table).second) selected.push_back(table);
  }
  return selected;
}

const Tensor& TableValue(const Node& node) { return *node.attrs.Get<Tensor>("value"); }

absl::StatusOr<TableGateReport> EvaluateTableQuantization(
    const Graph& graph, const std::vector<const EmbeddingTable*>& quantized,
    const std::vector<GateSample>& samples, absl::Span<const float> labels,
    const GateBudgets& budgets) {
  TableGateReport report;
  RANKOPT_ASSIGN_OR_RETURN(std::vector<float> fp32,
                           GatePredictions(graph, samples, {}, &report.outputs));

  Graph dequantized = graph;  // cheap: constants share storage
  for (const EmbeddingTable* table : quantized) {
    Node* node = dequantized.FindMutableNode(table->name());
    if (node == nullptr || !IsTableConst(*node)) {
      return absl::InvalidArgumentError(
          absl::StrCat("quantized table '", table->name(),
                       "' is not a table constant of the "
                       "model; expected the name of a [rows, dim] float32 Const"));
    }
    const Tensor& source = TableValue(*node);
    if (source.dims()[0] != table->rows() || source.dims()[1] != table->dim()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "quantized table '", table->name(), "' is ", table->rows(), " x ", table->dim(),
          " but the model's constant is ", source.dims()[0], " x ", source.dims()[1]));
    }
    // Every row through the lookup kernels' reference: the values a served table yields.
    std::vector<int64_t> rows(static_cast<size_t>(table->rows()));
    for (int64_t row = 0; row < table->rows(); ++row) rows[static_cast<size_t>(row)] = row;
    std::vector<float> values(static_cast<size_t>(table->rows() * table->dim()));
    if (!GatherRef(table->view(), rows, values.data())) {
      return absl::InternalError(absl::StrCat("cannot dequantize '", table->name(), "'"));
    }
    RANKOPT_ASSIGN_OR_RETURN(Tensor tensor, Tensor::FromValues<float>(source.dims(), values));
    node->attrs.Set("value", std::move(tensor));
  }
  RANKOPT_ASSIGN_OR_RETURN(std::vector<float> quant,
                           GatePredictions(dequantized, samples, {}, nullptr));
  report.predictions = static_cast<int64_t>(fp32.size());
  RANKOPT_ASSIGN_OR_RETURN(report.result, EvaluateQuantizationGate(fp32, quant, labels, budgets));
  return report;
}

absl::string_view TableQuantizationModeName(TableQuantizationMode mode) {
  switch (mode) {
    case TableQuantizationMode::kOff:
      return "off";
    case TableQuantizationMode::kAuto:
      return "auto";
    case TableQuantizationMode::kForce:
      return "force";
  }
  return "unknown";
}

absl::StatusOr<TableQuantizationMode> ParseTableQuantizationMode(absl::string_view text) {
  const std::string lower = absl::AsciiStrToLower(text);
  if (lower == "off") return TableQuantizationMode::kOff;
  if (lower == "auto") return TableQuantizationMode::kAuto;
  if (lower == "force") return TableQuantizationMode::kForce;
  return absl::InvalidArgumentError(absl::StrCat(
      "unknown table quantization mode '", text,
      "'; expected off (fp32 tables), auto (the tables the accuracy gate accepts) or force (every "
      "table)"));
}

namespace {

// A table QuantizeGraphTables found, and what it learned about it.
struct Candidate {
  GraphTableQuantization report;
  bool quantized = false;  // `rows` holds the table at the target dtype
  Tensor rows;             // [rows, row_bytes] uint8
  bool kept = false;
};

// How far a gate result is into its budgets: the largest figure / budget (inf for a non-zero
// figure against a zero budget).
double Severity(const GateResult& gate, const GateBudgets& budgets) {
  auto ratio = [](double figure, double budget) {
    if (budget > 0) return figure / budget;
    return figure > 0 ? std::numeric_limits<double>::infinity() : 0.0;
  };
  double severity = ratio(gate.max_abs_diff, budgets.max_abs_diff);
  if (gate.auc_delta.has_value()) {
    severity = std::max(severity, ratio(std::abs(*gate.auc_delta), budgets.auc_delta));
  }
  return severity;
}

// `in` with the tables of `chosen` stored quantized.
absl::StatusOr<Graph> WithQuantizedTables(const Graph& in, const std::vector<Candidate>& tables,
                                          const std::vector<size_t>& chosen, TableDType dtype) {
  Graph result = in;  // cheap: constants share storage
  for (size_t i : chosen) {
    const Candidate& c = tables[i];
    Node* table = result.FindMutableNode(c.report.table);
    if (table == nullptr) {
      return absl::InternalError(absl::StrCat("table '", c.report.table, "' vanished"));
    }
    table->attrs.Set("value", c.rows);
    for (const std::string& name : c.report.lookups) {
      Node* lookup = result.FindMutableNode(name);
      if (lookup == nullptr) {
        return absl::InternalError(absl::StrCat("lookup '", name, "' vanished"));
      }
      if (lookup->op == kMultiLookupOp) {  // per-field attrs: this table's entries
        const size_t fields = lookup->inputs.size() / 2;
        const auto* old_dtypes = lookup->attrs.Get<std::vector<std::string>>("table_dtypes");
        const auto* old_dims = lookup->attrs.Get<std::vector<int64_t>>("table_dims");
        std::vector<std::string> dtypes =
            old_dtypes != nullptr ? *old_dtypes : std::vector<std::string>(fields, "fp32");
        std::vector<int64_t> dims(fields, 0);
        for (size_t f = 0; f < fields; ++f) {
          if (old_dims != nullptr && f < old_dims->size()) {
            dims[f] = (*old_dims)[f];
          } else if (const Node* t = result.ConstantBehind(lookup->inputs[2 * f])) {
            const Tensor* v = t->attrs.Get<Tensor>("value");
            if (v != nullptr && v->dims().size() == 2) dims[f] = v->dims()[1];
          }
          if (lookup->inputs[2 * f].node == c.report.table) {
            dtypes[f] = std::string(TableDTypeName(dtype));
            dims[f] = c.report.dim;
          }
        }
        lookup->attrs.Set("table_dtypes", std::move(dtypes));
        lookup->attrs.Set("table_dims", std::move(dims));
        continue;
      }
      lookup->attrs.Set(std::string(kEmbeddingTableDTypeAttr), std::string(TableDTypeName(dtype)));
      lookup->attrs.Set(std::string(kEmbeddingTableDimAttr), c.report.dim);
    }
  }
  return result;
}

// Why `reader` (reading the table at input `input`) keeps a table fp32; empty when it does not.
std::string BlockingReader(const Node& reader, int input) {
  if (IsEmbeddingOp(reader.op) && input == 0) return "";
  if (reader.op == kMultiLookupOp && input % 2 == 0) return "";
  if (IsGather(reader.op)) {
    return absl::StrCat("read by ", reader.op, " '", reader.name,
                        "' (a plain Gather serves fp32 tables only; -O 1 turns it into an "
                        "embedding lookup)");
  }
  return absl::StrCat("also read by ", reader.op, " '", reader.name, "' (input ", input,
                      "), which needs its fp32 values");
}

// Every table an embedding op or Gather reads, in graph order, with its readers checked.
std::vector<Candidate> FindCandidates(const Graph& in) {
  absl::flat_hash_map<std::string, std::vector<std::pair<const Node*, int>>> readers;
  for (const Node& node : in.nodes()) {
    for (size_t i = 0; i < node.inputs.size(); ++i) {
      if (!node.inputs[i].empty()) {
        readers[node.inputs[i].node].push_back({&node, static_cast<int>(i)});
      }
    }
  }
  std::vector<Candidate> candidates;
  absl::flat_hash_set<const Node*> seen;
  for (const Node& node : in.nodes()) {
    for (int table_input : TableInputs(node)) {
      const Node* table = in.ConstantBehind(node.inputs[table_input]);
      if (table == nullptr || !IsTableConst(*table) || !seen.insert(table).second) continue;
      Candidate c;
      GraphTableQuantization& r = c.report;
      r.table = table->name;
      r.rows = TableValue(*table).dims()[0];
      r.dim = TableValue(*table).dims()[1];
      r.bytes_fp32 = TableValue(*table).bytes().size();
      r.bytes_stored = r.bytes_fp32;
      std::vector<std::string> blockers;
      for (const auto& [reader, input] : readers[table->name]) {
        std::string why = BlockingReader(*reader, input);
        if (why.empty()) {
          r.lookups.push_back(reader->name);
        } else {
          blockers.push_back(std::move(why));
        }
      }
      for (const GraphOutput& output : in.outputs()) {
        if (output.ref.node == table->name) {
          blockers.push_back(absl::StrCat("is the graph output '", output.name, "'"));
        }
      }
      if (!blockers.empty()) {
        const size_t more = blockers.size() > 2 ? blockers.size() - 2 : 0;
        blockers.resize(std::min<size_t>(blockers.size(), 2));
        r.reason = absl::StrCat("stays fp32: ", absl::StrJoin(blockers, "; "),
                                more > 0 ? absl::StrCat("; and ", more, " more") : "");
      }
      candidates.push_back(std::move(c));
    }
  }
  return candidates;
}

// Quantizes an eligible table to `dtype`: figures and the uint8 rows, or the reason it cannot.
absl::Status QuantizeCandidate(const Node& table, TableDType dtype, Candidate* c) {
  const Tensor& value = TableValue(table);
  absl::StatusOr<EmbeddingTable> fp32 =
      EmbeddingTable::FromFloat32(table.name, c->report.rows, c->report.dim, value.values<float>());
  absl::StatusOr<QuantizedTable> q =
      fp32.ok() ? QuantizeWithReport(*fp32, dtype) : absl::StatusOr<QuantizedTable>(fp32.status());
  if (!q.ok()) {
    c->report.reason = absl::StrCat("stays fp32: cannot be stored as ", TableDTypeName(dtype), ": ",
                                    q.status().message());
    return absl::OkStatus();
  }
  c->report.figures = q->figures;
  const absl::Span<const uint8_t> bytes = q->table.bytes();
  RANKOPT_ASSIGN_OR_RETURN(
      c->rows, Tensor::FromBytes(
                   DType::kUInt8, {c->report.rows, static_cast<int64_t>(q->table.row_bytes())},
                   absl::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size())));
  c->quantized = true;
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<GraphQuantizationReport> QuantizeGraphTables(const Graph& in,
                                                            const TableQuantizationOptions& options,
                                                            Graph* out) {
  if (out == nullptr) return absl::InvalidArgumentError("QuantizeGraphTables: `out` is null");
  GraphQuantizationReport report;
  report.mode = options.mode;
  report.dtype = options.dtype;
  if (options.mode == TableQuantizationMode::kOff) {
    if (out != &in) *out = in;
    return report;
  }
  if (options.dtype != TableDType::kInt8RowWise && options.dtype != TableDType::kFloat16) {
    return absl::InvalidArgumentError(
        absl::StrCat("tables can be stored as int8 or fp16, not ", TableDTypeName(options.dtype)));
  }
  const bool gated = options.mode == TableQuantizationMode::kAuto;
  if (gated && options.samples.empty()) {
    return absl::InvalidArgumentError(
        "the accuracy gate needs a sample of requests to run on (rankopt run: --inputs or "
        "--requests; rankopt bench: --requests); force quantizes every table without one");
  }

  std::vector<Candidate> tables = FindCandidates(in);
  for (Candidate& c : tables) {
    if (!c.report.reason.empty()) continue;
    RANKOPT_RETURN_IF_ERROR(QuantizeCandidate(*in.FindNode(c.report.table), options.dtype, &c));
  }
  const absl::string_view dtype_name = TableDTypeName(options.dtype);

  std::vector<size_t> kept;
  if (!gated) {
    for (size_t i = 0; i < tables.size(); ++i) {
      if (!tables[i].quantized) continue;
      tables[i].report.reason = absl::StrCat("stored ", dtype_name, " (forced: no gate)");
      kept.push_back(i);
    }
  } else {
    std::vector<float> fp32;
    {
      absl::StatusOr<std::vector<float>> p =
          GatePredictions(in, options.samples, options.outputs, &report.outputs);
      if (!p.ok()) {
        return absl::Status(p.status().code(),
                            absl::StrCat("accuracy gate, fp32 model: ", p.status().message()));
      }
      fp32 = *std::move(p);
    }
    report.samples = static_cast<int64_t>(options.samples.size());
    report.predictions = static_cast<int64_t>(fp32.size());
    // The model with `chosen` quantized, judged against fp32.
    auto judge = [&](const std::vector<size_t>& chosen) -> absl::StatusOr<GateResult> {
      RANKOPT_ASSIGN_OR_RETURN(Graph trial, WithQuantizedTables(in, tables, chosen, options.dtype));
      RANKOPT_ASSIGN_OR_RETURN(std::vector<float> quant,
                               GatePredictions(trial, options.samples, options.outputs, nullptr));
      return EvaluateQuantizationGate(fp32, quant, options.labels, options.budgets);
    };
    for (size_t i = 0; i < tables.size(); ++i) {
      Candidate& c = tables[i];
      if (!c.quantized) continue;
      if (!(c.report.figures->nmse <= options.table_budgets.max_nmse)) {
        c.report.reason = absl::StrFormat("stays fp32: NMSE %.3g exceeds the table budget %.3g",
                                          c.report.figures->nmse, options.table_budgets.max_nmse);
        continue;
      }
      absl::StatusOr<GateResult> alone = judge({i});
      if (!alone.ok()) {
        return absl::Status(alone.status().code(),
                            absl::StrCat("accuracy gate, table '", c.report.table, "' as ",
                                         dtype_name, ": ", alone.status().message()));
      }
      c.report.gate = *alone;
      if (alone->passed) {
        kept.push_back(i);
      } else {
        c.report.reason = absl::StrCat("stays fp32: the gate fails with it alone: ", alone->reason);
      }
    }
    // Together: drop the worst alone until the set passes.
    while (!kept.empty()) {
      if (kept.size() == 1) {
        report.combined = tables[kept[0]].report.gate;
        break;
      }
      absl::StatusOr<GateResult> together = judge(kept);
      if (!together.ok()) {
        return absl::Status(together.status().code(),
                            absl::StrCat("accuracy gate, ", kept.size(), " tables as ", dtype_name,
                                         ": ", together.status().message()));
      }
      if (together->passed) {
        report.combined = *together;
        break;
      }
      auto worst = std::max_element(kept.begin(), kept.end(), [&](size_t a, size_t b) {
        const GateResult& ga = *tables[a].report.gate;
        const GateResult& gb = *tables[b].report.gate;
        const double sa = Severity(ga, options.budgets), sb = Severity(gb, options.budgets);
        return sa != sb ? sa < sb : ga.max_abs_diff < gb.max_abs_diff;
      });
      tables[*worst].report.reason = absl::StrCat(
          "stays fp32: passes alone, but ", kept.size(), " tables together fail the gate (",
          together->reason, ") and this one is the worst alone");
      kept.erase(worst);
    }
    for (size_t i : kept)
      tables[i].report.reason = absl::StrCat("stored ", dtype_name, ": passes the gate");
  }

  RANKOPT_ASSIGN_OR_RETURN(Graph result, WithQuantizedTables(in, tables, kept, options.dtype));
  for (size_t i : kept) {
    Candidate& c = tables[i];
    c.kept = true;
    c.report.stored = options.dtype;
    c.report.bytes_stored = c.rows.bytes().size();
  }
  for (Candidate& c : tables) {
    report.bytes_fp32 += c.report.bytes_fp32;
    report.bytes_stored += c.report.bytes_stored;
    report.kept += c.kept ? 1 : 0;
    report.tables.push_back(std::move(c.report));
  }
  *out = std::move(result);
  return report;
}

namespace {

std::string Bytes(size_t bytes) {
  const double b = static_cast<double>(bytes);
  if (b < 1024) return absl::StrCat(bytes, " B");
  if (b < 1024 * 1024) return absl::StrFormat("%.1f KiB", b / 1024);
  if (b < 1024.0 * 1024 * 1024) return absl::StrFormat("%.1f MiB", b / (1024 * 1024));
  return absl::StrFormat("%.2f GiB", b / (1024.0 * 1024 * 1024));
}

std::string GateText(const GateResult& gate) {
  std::string text =
      absl::StrFormat("max abs diff %.3g, mean %.3g", gate.max_abs_diff, gate.mean_abs_diff);
  if (gate.auc_delta.has_value())
    absl::StrAppend(&text, absl::StrFormat(", AUC delta %.3g", *gate.auc_delta));
  if (gate.logloss_delta.has_value()) {
    absl::StrAppend(&text, absl::StrFormat(", logloss delta %.3g", *gate.logloss_delta));
  }
  return text;
}

}  // namespace

std::string FormatGraphQuantizationReport(const GraphQuantizationReport& report) {
  const absl::string_view dtype = TableDTypeName(report.dtype);
  std::string text =
      absl::StrCat("embedding tables (", dtype, ", mode ", TableQuantizationModeName(report.mode),
                   "): ", report.kept, " of ", report.tables.size(), " stored ", dtype, "; ",
                   Bytes(report.bytes_fp32), " -> ", Bytes(report.bytes_stored));
  if (report.bytes_stored > 0 && report.bytes_stored < report.bytes_fp32) {
    absl::StrAppend(
        &text, absl::StrFormat(" (%.2fx smaller)", static_cast<double>(report.bytes_fp32) /
                                                       static_cast<double>(report.bytes_stored)));
  }
  absl::StrAppend(&text, "\n");
  if (report.mode == TableQuantizationMode::kAuto) {
    absl::StrAppend(&text, "  gate: ", report.predictions, " predictions (", report.outputs,
                    ") over ", report.samples, " sample request(s)\n");
  }
  if (report.tables.empty()) return text;
  absl::StrAppend(&text, absl::StrFormat("  %-28s %15s %-30s %9s %13s  %s\n", "[table]",
                                         "[rows x dim]", "[bytes fp32 -> stored]", "[NMSE]",
                                         "[max abs err]", "[gate alone: max abs diff]"));
  for (const GraphTableQuantization& t : report.tables) {
    const std::string shape = absl::StrCat(t.rows, " x ", t.dim);
    const std::string bytes = absl::StrCat(Bytes(t.bytes_fp32), " -> ", Bytes(t.bytes_stored), " ",
                                           TableDTypeName(t.stored));
    const std::string nmse = t.figures ? absl::StrFormat("%.3g", t.figures->nmse) : "-";
    const std::string max_err = t.figures ? absl::StrFormat("%.3g", t.figures->max_abs_error) : "-";
    const std::string gate =
        t.gate ? absl::StrFormat("%.3g %s", t.gate->max_abs_diff, t.gate->passed ? "ok" : "FAIL")
               : "-";
    absl::StrAppend(&text, absl::StrFormat("  %-28s %15s %-30s %9s %13s  %s\n", t.table, shape,
                                           bytes, nmse, max_err, gate));
    absl::StrAppend(&text, "      ", t.reason, "\n");
  }
  if (report.combined.has_value()) {
    absl::StrAppend(&text, "  gate, kept tables together: ", GateText(*report.combined), ": ",
                    report.combined->passed ? "passed" : "FAILED", "\n");
  }
  return text;
}

}  // namespace rankopt
