#include "graph/tf/saved_model_io.h"

#include <algorithm>
#include <filesystem>
#include <optional>
#include <system_error>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "core/file_io.h"
#include "google/protobuf/stubs/logging.h"
#include "google/protobuf/text_format.h"
#include "google/protobuf/unknown_field_set.h"
#include "graph/tf/checkpoint_reader.h"
#include "graph/tf/table_init.h"
#include "graph/tf/tf_convert.h"
#include "rankopt/status_macros.h"

namespace rankopt {
namespace {

// Signature whose only job is running initializers; it does not make variables "needed".
constexpr absl::string_view kInitOpSignature = "__saved_model_init_op";
// Bounds inlining of (mutually) recursive functions.
constexpr int kMaxInlinedCalls = 100000;
// MetaGraphDef.object_graph_def: TF2's object graph, meaningless once variables are frozen.
constexpr int kObjectGraphDefField = 7;

const tf::AttrValue* FindTfAttr(const tf::NodeDef& node, absl::string_view name) {
  for (const tf::AttrEntry& entry : node.attr()) {
    if (entry.key() == name) return &entry.value();
  }
  return nullptr;
}

// Output args of multi-output ops, for MetaGraphDefs whose stripped_op_list lacks them: name and
// the attribute holding its tensor count ("" = one tensor).
std::optional<std::vector<std::pair<std::string, int>>> KnownOutputArgs(
    const tf::NodeDef& node_def) {
  struct Arg {
    const char* name;
    const char* count_attr;
  };
  static const auto* const kKnown = new absl::flat_hash_map<std::string, std::vector<Arg>>{
      {"Unique", {{"y", ""}, {"idx", ""}}},
      {"UniqueV2", {{"y", ""}, {"idx", ""}}},
      {"TopKV2", {{"values", ""}, {"indices", ""}}},
      {"SparseFillEmptyRows",
       {{"output_indices", ""},
        {"output_values", ""},
        {"empty_row_indicator", ""},
        {"reverse_index_map", ""}}},
      {"SparseReshape", {{"output_indices", ""}, {"output_shape", ""}}},
      {"SparseCross", {{"output_indices", ""}, {"output_values", ""}, {"output_shape", ""}}},
      {"SparseCrossV2", {{"output_indices", ""}, {"output_values", ""}, {"output_shape", ""}}},
      {"SparseCrossHashed", {{"output_indices", ""}, {"output_values", ""}, {"output_shape", ""}}},
      {"Unpack", {{"output", "num"}}},
      {"Split", {{"output", "num_split"}}},
      {"SplitV", {{"output", "num_split"}}},
      {"BoostedTreesBucketize", {{"buckets", "num_features"}}},
  };
  auto it = kKnown->find(node_def.op());
  if (it == kKnown->end()) return std::nullopt;
  std::vector<std::pair<std::string, int>> args;
  for (const Arg& arg : it->second) {
    int count = 1;
    if (*arg.count_attr != '\0') {
      const tf::AttrValue* n = FindTfAttr(node_def, arg.count_attr);
      if (n == nullptr || !n->has_i() || n->i() < 0 || n->i() > (1 << 20)) return std::nullopt;
      count = static_cast<int>(n->i());
    }
    args.emplace_back(arg.name, count);
  }
  return args;
}

// Function library and op registry of one MetaGraphDef.
class FunctionInliner {
 public:
  FunctionInliner(const tf::MetaGraphDef& meta, std::string origin) : origin_(std::move(origin)) {
    for (const tf::FunctionDef& f : meta.graph_def().library().function()) {
      functions_.emplace(f.signature().name(), &f);
    }
    for (const tf::OpDef& op : meta.meta_info_def().stripped_op_list().op()) {
      ops_.emplace(op.name(), &op);
    }
  }

  // Inlines every call until none is left.
  absl::Status InlineAll(Graph* graph) {
    for (int inlined = 0;; ++inlined) {
      int call = -1;
      const tf::FunctionDef* function = nullptr;
      for (size_t i = 0; i < graph->num_nodes() && call < 0; ++i) {
        RANKOPT_ASSIGN_OR_RETURN(function, CalledFunction(graph->nodes()[i]));
        if (function != nullptr) call = static_cast<int>(i);
      }
      if (call < 0) return absl::OkStatus();
      if (inlined >= kMaxInlinedCalls) {
        return absl::InvalidArgumentError(absl::StrCat(
            origin_, ": more than ", kMaxInlinedCalls, " function calls to inline; is function '",
            function->signature().name(), "' recursive?"));
      }
      RANKOPT_RETURN_IF_ERROR(InlineOne(graph, call, *function));
    }
  }

 private:
  // The library function `node` calls, or nullptr when it is not a call.
  absl::StatusOr<const tf::FunctionDef*> CalledFunction(const Node& node) const {
    if (node.op == "PartitionedCall" || node.op == "StatefulPartitionedCall") {
      const OpaqueAttr* f = node.attrs.Get<OpaqueAttr>("f");
      tf::AttrValue value;
      if (f == nullptr || !value.ParseFromString(f->bytes) || !value.has_func()) {
        return absl::InvalidArgumentError(absl::StrCat(
            origin_, ": node '", node.name, "' (", node.op,
            ") has no function attribute 'f'; expected the name of a library function"));
      }
      auto it = functions_.find(value.func().name());
      if (it == functions_.end()) {
        return absl::NotFoundError(absl::StrCat(origin_, ": node '", node.name,
                                                "' calls function '", value.func().name(),
                                                "', which is not in the graph's library"));
      }
      return it->second;
    }
    auto it = functions_.find(node.op);
    return it == functions_.end() ? nullptr : it->second;
  }

  // Number of tensors each output arg of `node_def` produces.
  absl::StatusOr<std::vector<std::pair<std::string, int>>> OutputArgs(
      const tf::NodeDef& node_def, absl::string_view function) const {
    std::vector<std::pair<std::string, int>> args;
    auto lib = functions_.find(node_def.op());
    if (lib != functions_.end()) {
      for (const tf::OpDef::ArgDef& arg : lib->second->signature().output_arg()) {
        args.emplace_back(arg.name(), 1);
      }
      return args;
    }
    if (node_def.op() == "PartitionedCall" || node_def.op() == "StatefulPartitionedCall") {
      // Its one list output "output" has as many tensors as the called function returns.
      const tf::AttrValue* f = FindTfAttr(node_def, "f");
      auto called =
          f != nullptr && f->has_func() ? functions_.find(f->func().name()) : functions_.end();
      if (called != functions_.end()) {
        args.emplace_back("output", called->second->signature().output_arg_size());
        return args;
      }
    }
    auto it = ops_.find(node_def.op());
    if (it == ops_.end()) {
      // TF2 exports often strip the op list; the common multi-output ops are known here, and
      // any other op is taken to have one output arg (so "node:arg:i" is port i).
      if (std::optional<std::vector<std::pair<std::string, int>>> known =
              KnownOutputArgs(node_def)) {
        return *known;
      }
      return absl::NotFoundError(absl::StrCat(
          origin_, ": function '", function, "' node '", node_def.name(), "' uses op '",
          node_def.op(),
          "', which has no OpDef in meta_info_def.stripped_op_list; cannot map its outputs"));
    }
    const tf::OpDef& op = *it->second;
    auto attr = [&](const std::string& name) -> const tf::AttrValue* {
      if (const tf::AttrValue* v = FindTfAttr(node_def, name)) return v;
      for (const tf::OpDef::AttrDef& def : op.attr()) {
        if (def.name() == name && def.has_default_value()) return &def.default_value();
      }
      return nullptr;
    };
    for (const tf::OpDef::ArgDef& arg : op.output_arg()) {
      int count = 1;
      if (!arg.number_attr().empty()) {
        const tf::AttrValue* n = attr(arg.number_attr());
        if (n == nullptr || !n->has_i() || n->i() < 0 || n->i() > (1 << 20)) {
          return absl::InvalidArgumentError(
              absl::StrCat(origin_, ": function '", function, "' node '", node_def.name(),
                           "' needs a non-negative int attribute '", arg.number_attr(), "'"));
        }
        count = static_cast<int>(n->i());
      } else if (!arg.type_list_attr().empty()) {
        const tf::AttrValue* list = attr(arg.type_list_attr());
        if (list == nullptr || !list->has_list()) {
          return absl::InvalidArgumentError(
              absl::StrCat(origin_, ": function '", function, "' node '", node_def.name(),
                           "' needs a type list attribute '", arg.type_list_attr(), "'"));
        }
        count = list->list().type_size();
      }
      args.emplace_back(arg.name(), count);
    }
    return args;
  }

  absl::Status InlineOne(Graph* graph, int call_index, const tf::FunctionDef& function) {
    const Node call = graph->nodes()[call_index];
    const std::string& fname = function.signature().name();
    const std::string prefix = call.name + "/";
    auto error = [&](absl::string_view what) {
      return absl::InvalidArgumentError(absl::StrCat(origin_, ": inlining function '", fname,
                                                     "' at node '", call.name, "': ", what));
    };
    for (const tf::OpDef::ArgDef& arg : function.signature().input_arg()) {
      if (!arg.number_attr().empty() || !arg.type_list_attr().empty()) {
        return error(absl::StrCat("list argument '", arg.name(), "' is not supported"));
      }
    }
    if (call.inputs.size() != static_cast<size_t>(function.signature().input_arg_size())) {
      return error(absl::StrCat("the call has ", call.inputs.size(), " inputs, the function ",
                                function.signature().input_arg_size(), " arguments"));
    }
    absl::flat_hash_map<std::string, TensorRef> args;
    for (int i = 0; i < function.signature().input_arg_size(); ++i) {
      args.emplace(function.signature().input_arg(i).name(), call.inputs[i]);
    }
    absl::flat_hash_map<std::string, const tf::NodeDef*> body;
    for (const tf::NodeDef& node_def : function.node_def()) {
      if (!body.emplace(node_def.name(), &node_def).second) {
        return error(absl::StrCat("duplicate body node '", node_def.name(), "'"));
      }
    }
    // "arg", "node:out_arg:index" (or "node:port") inside the body -> a tensor of the graph.
    auto resolve = [&](const std::string& name) -> absl::StatusOr<TensorRef> {
      std::vector<std::string> parts = absl::StrSplit(name, ':');
      if (parts.size() == 1) {
        if (auto it = args.find(name); it != args.end()) return it->second;
        if (body.contains(name)) return TensorRef{prefix + name, 0};
      } else if (auto it = body.find(parts[0]); it != body.end()) {
        int index = 0;
        if (!absl::SimpleAtoi(parts.back(), &index) || index < 0 || parts.size() > 3) {
          return error(absl::StrCat("bad tensor name '", name, "'"));
        }
        if (parts.size() == 2) return TensorRef{prefix + parts[0], index};
        absl::StatusOr<std::vector<std::pair<std::string, int>>> outputs =
            OutputArgs(*it->second, fname);
        if (absl::IsNotFound(outputs.status())) {
          return TensorRef{prefix + parts[0], index};  // a single-output op without an OpDef
        }
        if (!outputs.ok()) return outputs.status();
        int port = 0;
        for (const auto& [arg_name, count] : *outputs) {
          if (arg_name == parts[1]) {
            if (index >= count) break;
            return TensorRef{prefix + parts[0], port + index};
          }
          port += count;
        }
        return error(absl::StrCat("'", name, "' names no output of op '", it->second->op(), "'"));
      }
      return error(absl::StrCat("'", name, "' is neither an argument nor a body node"));
    };

    std::vector<Node> inlined;
    inlined.reserve(function.node_def_size());
    for (const tf::NodeDef& node_def : function.node_def()) {
      tf::NodeDef copy = node_def;
      copy.clear_input();
      absl::StatusOr<Node> node = NodeFromTf(copy, -1);
      if (!node.ok()) return error(node.status().message());
      node->name = prefix + node_def.name();
      if (node->device.empty()) node->device = call.device;
      for (const std::string& input : node_def.input()) {
        if (!input.empty() && input[0] == '^') {
          const std::string target = input.substr(1);
          if (auto it = args.find(target); it != args.end()) {
            node->control_inputs.push_back(it->second.node);
          } else if (body.contains(target)) {
            node->control_inputs.push_back(prefix + target);
          } else {
            return error(absl::StrCat("control input '", input, "' of '", node_def.name(),
                                      "' names no body node"));
          }
          continue;
        }
        RANKOPT_ASSIGN_OR_RETURN(TensorRef ref, resolve(input));
        node->inputs.push_back(std::move(ref));
      }
      if (node->inputs.empty() && node->control_inputs.empty()) {
        node->control_inputs = call.control_inputs;
      }
      inlined.push_back(*std::move(node));
    }

    std::vector<TensorRef> outputs;
    for (const tf::OpDef::ArgDef& arg : function.signature().output_arg()) {
      if (!arg.number_attr().empty() || !arg.type_list_attr().empty()) {
        return error(absl::StrCat("list output '", arg.name(), "' is not supported"));
      }
      const tf::StringEntry* ret = nullptr;
      for (const tf::StringEntry& entry : function.ret()) {
        if (entry.key() == arg.name()) ret = &entry;
      }
      if (ret == nullptr) return error(absl::StrCat("no ret for output '", arg.name(), "'"));
      RANKOPT_ASSIGN_OR_RETURN(TensorRef ref, resolve(ret->value()));
      outputs.push_back(std::move(ref));
    }
    // Whatever waited on the call now waits on the function's results and control rets.
    std::vector<std::string> done;
    for (const TensorRef& ref : outputs) done.push_back(ref.node);
    for (const tf::StringEntry& entry : function.control_ret()) {
      if (body.contains(entry.value())) done.push_back(prefix + entry.value());
    }

    auto remap = [&](TensorRef* ref) -> absl::Status {
      if (ref->node != call.name) return absl::OkStatus();
      if (ref->port < 0 || ref->port >= static_cast<int>(outputs.size())) {
        return error(absl::StrCat("output ", ref->port, " is read but the function has ",
                                  outputs.size(), " outputs"));
      }
      *ref = outputs[ref->port];
      return absl::OkStatus();
    };
    std::vector<Node> nodes;
    nodes.reserve(graph->num_nodes() + inlined.size());
    for (size_t i = 0; i < graph->num_nodes(); ++i) {
      if (static_cast<int>(i) == call_index) {
        for (Node& node : inlined) nodes.push_back(std::move(node));
        continue;
      }
      Node node = graph->nodes()[i];
      for (TensorRef& ref : node.inputs) RANKOPT_RETURN_IF_ERROR(remap(&ref));
      std::vector<std::string> controls;
      for (const std::string& control : node.control_inputs) {
        if (control != call.name) {
          controls.push_back(control);
          continue;
        }
        for (const std::string& d : done) {
          if (std::find(controls.begin(), controls.end(), d) == controls.end()) {
            controls.push_back(d);
          }
        }
      }
      node.control_inputs = std::move(controls);
      nodes.push_back(std::move(node));
    }
    absl::Status set = graph->SetNodes(std::move(nodes));
    if (!set.ok()) return error(set.message());
    for (Signature& signature : *graph->mutable_signatures()) {
      for (SignatureTensor& t : signature.inputs) RANKOPT_RETURN_IF_ERROR(remap(&t.ref));
      for (SignatureTensor& t : signature.outputs) RANKOPT_RETURN_IF_ERROR(remap(&t.ref));
    }
    for (GraphOutput& output : *graph->mutable_outputs()) {
      RANKOPT_RETURN_IF_ERROR(remap(&output.ref));
    }
    return absl::OkStatus();
  }

  std::string origin_;
  absl::flat_hash_map<std::string, const tf::FunctionDef*> functions_;
  absl::flat_hash_map<std::string, const tf::OpDef*> ops_;
};

// The full tensor name a checkpoint slice key encodes (TF's EncodeTensorNameSlice: OrderedCode
// NumIncreasing(0), then the name as an OrderedCode string, then the extents), or nullopt.
std::optional<std::string> SliceKeyName(absl::string_view key) {
  if (key.size() < 3 || key[0] != '\0') return std::nullopt;
  std::string name;
  for (size_t i = 1; i + 1 < key.size(); ++i) {
    const char c = key[i];
    if (c == '\0') {
      if (key[i + 1] == '\x01') return name;
      if (key[i + 1] != '\xff') return std::nullopt;
      name.push_back('\0');
      ++i;
    } else if (c == '\xff') {
      if (key[i + 1] != '\0') return std::nullopt;
      name.push_back('\xff');
      ++i;
    } else {
      name.push_back(c);
    }
  }
  return std::nullopt;
}

// For "<name>/part_<k>": the checkpoint key of its value: <name> itself when saved whole (one
// partition), else slice k of <name> (slices sort by their start, so part k is the k-th).
std::optional<std::string> PartitionSliceKey(const CheckpointReader& reader,
                                             absl::string_view variable) {
  const size_t at = variable.rfind("/part_");
  int part = 0;
  if (at == absl::string_view::npos || !absl::SimpleAtoi(variable.substr(at + 6), &part) ||
      part < 0) {
    return std::nullopt;
  }
  const absl::string_view full = variable.substr(0, at);
  // One partition covering the whole variable is saved as the variable itself.
  if (const tf::BundleEntryProto* whole = reader.FindEntry(full);
      whole != nullptr && whole->slices_size() == 0) {
    return part == 0 ? std::optional<std::string>(std::string(full)) : std::nullopt;
  }
  std::vector<std::string> slices;
  for (const std::string& key : reader.Keys()) {
    std::optional<std::string> name = SliceKeyName(key);
    if (name.has_value() && *name == full) slices.push_back(key);
  }
  std::sort(slices.begin(), slices.end());
  if (static_cast<size_t>(part) >= slices.size()) return std::nullopt;
  return slices[part];
}

bool IsVariableOp(absl::string_view op) {
  return op == "VariableV2" || op == "Variable" || op == "VarHandleOp";
}

// Nodes the (non-init) signatures need; every node when there is no such signature.
absl::flat_hash_set<std::string> NeededNodes(const Graph& graph) {
  absl::flat_hash_set<std::string> needed;
  std::vector<std::string> stack;
  for (const Signature& signature : graph.signatures()) {
    if (signature.key == kInitOpSignature) continue;
    for (const SignatureTensor& t : signature.outputs) stack.push_back(t.ref.node);
  }
  if (stack.empty()) {
    for (const Node& node : graph.nodes()) needed.insert(node.name);
    return needed;
  }
  while (!stack.empty()) {
    std::string name = std::move(stack.back());
    stack.pop_back();
    if (!needed.insert(name).second) continue;
    const Node* node = graph.FindNode(name);
    if (node == nullptr) continue;
    for (const TensorRef& ref : node->inputs) stack.push_back(ref.node);
    for (const std::string& control : node->control_inputs) stack.push_back(control);
  }
  return needed;
}

// Attributes TF keeps for itself ("_output_shapes", "_class", ...) survive an op rewrite.
void CopyInternalAttrs(const Node& from, AttrMap* to) {
  for (const auto& [key, value] : from.attrs.entries()) {
    if (!key.empty() && key[0] == '_') to->Set(key, value);
  }
}

absl::Status FreezeVariables(Graph* graph, const std::string& dir) {
  std::vector<int> variables;
  for (size_t i = 0; i < graph->num_nodes(); ++i) {
    if (IsVariableOp(graph->nodes()[i].op)) variables.push_back(static_cast<int>(i));
  }
  if (variables.empty()) return absl::OkStatus();

  const absl::flat_hash_set<std::string> needed = NeededNodes(*graph);
  const std::string prefix = dir + "/variables/variables";
  absl::StatusOr<CheckpointReader> reader = CheckpointReader::Open(prefix);
  if (!reader.ok()) {
    for (int index : variables) {
      const Node& var = graph->nodes()[index];
      if (!needed.contains(var.name)) continue;
      return absl::Status(reader.status().code(),
                          absl::StrCat(dir, ": variable '", var.name,
                                       "' needs a value but the checkpoint cannot be read: ",
                                       reader.status().message()));
    }
    return absl::OkStatus();  // only init-time variables, which stay as they are
  }
  RANKOPT_ASSIGN_OR_RETURN(auto keys_by_name, reader->VariableKeysByName());

  std::vector<Node> nodes = graph->nodes();
  absl::flat_hash_map<std::string, DType> frozen;  // variable node -> dtype
  for (int index : variables) {
    Node& var = nodes[index];
    std::vector<std::string> candidates;
    const std::string* shared_name = var.attrs.Get<std::string>("shared_name");
    if (shared_name != nullptr && !shared_name->empty()) candidates.push_back(*shared_name);
    candidates.push_back(var.name);
    for (size_t i = 0, n = candidates.size(); i < n; ++i) {
      if (auto it = keys_by_name.find(candidates[i]); it != keys_by_name.end()) {
        candidates.push_back(it->second);
      }
    }
    const std::string* key = nullptr;
    for (const std::string& candidate : candidates) {
      if (reader->Contains(candidate)) {
        key = &candidate;
        break;
      }
    }
    // A partitioned variable "<name>/part_<k>": its value is slice k of <name>.
    std::string slice_key;
    if (key == nullptr) {
      for (const std::string& candidate : candidates) {
        if (std::optional<std::string> k = PartitionSliceKey(*reader, candidate)) {
          slice_key = *std::move(k);
          key = &slice_key;
          break;
        }
      }
    }
    if (key == nullptr) {
      // Init-only variables (asset paths, say) may stay unfrozen; the prune pass drops them.
      if (!needed.contains(var.name)) continue;
      return absl::NotFoundError(absl::StrCat(
          dir, ": variable '", var.name, "' (", var.op, ") has no entry in the checkpoint ", prefix,
          ".index (looked for '", absl::StrJoin(candidates, "', '"), "')"));
    }
    absl::StatusOr<Tensor> value = reader->Read(*key);
    if (!value.ok()) {
      return absl::Status(value.status().code(),
                          absl::StrCat("variable '", var.name, "': ", value.status().message()));
    }
    const DType* declared = var.attrs.Get<DType>("dtype");
    if (declared != nullptr && *declared != value->dtype()) {
      return absl::InvalidArgumentError(
          absl::StrCat(dir, ": variable '", var.name, "' is declared ", DTypeName(*declared),
                       " but its checkpoint value '", *key, "' is ", DTypeName(value->dtype())));
    }
    Node constant;
    constant.name = var.name;
    constant.op = std::string(kConstOp);
    constant.device = var.device;
    constant.control_inputs = var.control_inputs;
    constant.attrs.Set("value", *value);
    constant.attrs.Set("dtype", value->dtype());
    CopyInternalAttrs(var, &constant.attrs);
    frozen.emplace(var.name, value->dtype());
    var = std::move(constant);
    graph->mutable_frozen_variables()->push_back(var.name);
  }

  absl::flat_hash_set<std::string> names;
  for (const Node& node : nodes) names.insert(node.name);
  std::vector<Node> out;
  out.reserve(nodes.size());
  for (Node& node : nodes) {
    auto it = node.inputs.empty() ? frozen.end() : frozen.find(node.inputs[0].node);
    if (it == frozen.end()) {
      out.push_back(std::move(node));
      continue;
    }
    const DType dtype = it->second;
    if (node.op == "ReadVariableOp") {
      AttrMap attrs;
      attrs.Set("T", dtype);
      CopyInternalAttrs(node, &attrs);
      node.op = "Identity";
      node.attrs = std::move(attrs);
    } else if (node.op == "ResourceGather") {
      const int64_t* batch_dims = node.attrs.Get<int64_t>("batch_dims");
      if (batch_dims != nullptr && *batch_dims != 0) {
        return absl::UnimplementedError(absl::StrCat(dir, ": ResourceGather '", node.name,
                                                     "' has batch_dims ", *batch_dims,
                                                     "; only 0 can be frozen into GatherV2"));
      }
      std::string axis_name = node.name + "/axis";
      for (int n = 1; names.contains(axis_name); ++n) {
        axis_name = absl::StrCat(node.name, "/axis_", n);
      }
      names.insert(axis_name);
      Node axis;
      axis.name = axis_name;
      axis.op = std::string(kConstOp);
      axis.device = node.device;
      const int32_t zero = 0;
      RANKOPT_ASSIGN_OR_RETURN(Tensor axis_value,
                               Tensor::FromValues<int32_t>({}, absl::MakeConstSpan(&zero, 1)));
      axis.attrs.Set("value", axis_value);
      axis.attrs.Set("dtype", DType::kInt32);
      AttrMap attrs;
      attrs.Set("batch_dims", int64_t{0});
      attrs.Set("Tparams", dtype);
      const DType* tindices = node.attrs.Get<DType>("Tindices");
      attrs.Set("Tindices", tindices != nullptr ? *tindices : DType::kInt32);
      attrs.Set("Taxis", DType::kInt32);
      CopyInternalAttrs(node, &attrs);
      node.op = "GatherV2";
      node.attrs = std::move(attrs);
      node.inputs.resize(std::min<size_t>(node.inputs.size(), 2));
      node.inputs.push_back(TensorRef{axis_name, 0});
      out.push_back(std::move(axis));
    }
    out.push_back(std::move(node));
  }
  return graph->SetNodes(std::move(out));
}

absl::StatusOr<SignatureTensor> SignatureTensorFromTf(const tf::TensorInfoEntry& entry) {
  SignatureTensor t;
  t.key = entry.key();
  const tf::TensorInfo& info = entry.value();
  const std::string& name =
      info.has_coo_sparse() ? info.coo_sparse().values_tensor_name() : info.name();
  RANKOPT_ASSIGN_OR_RETURN(t.ref, ParseTensorName(name));
  t.dtype = DTypeFromTf(info.dtype()).value_or(DType::kInvalid);
  absl::StatusOr<Shape> shape = ShapeFromTf(info.tensor_shape());
  t.shape = shape.ok() ? *shape : Shape::UnknownRank();
  return t;
}

tf::TensorInfoEntry SignatureTensorToTf(const SignatureTensor& t) {
  tf::TensorInfoEntry entry;
  entry.set_key(t.key);
  entry.mutable_value()->set_name(absl::StrCat(t.ref.node, ":", t.ref.port));
  entry.mutable_value()->set_dtype(DTypeToTf(t.dtype));
  *entry.mutable_value()->mutable_tensor_shape() = ShapeToTf(t.shape);
  return entry;
}

std::string TagsString(const tf::MetaGraphDef& meta) {
  return absl::StrCat("[", absl::StrJoin(meta.meta_info_def().tags(), ","), "]");
}

}  // namespace

absl::StatusOr<Graph> ImportSavedModel(const std::string& dir, const SavedModelOptions& options) {
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec)) {
    return absl::NotFoundError(
        absl::StrCat(dir, ": not a directory; expected a SavedModel directory"));
  }
  google::protobuf::LogSilencer silence_protobuf;  // parse failures are reported as Status
  tf::SavedModel saved_model;
  const std::string binary_path = dir + "/saved_model.pb";
  const std::string text_path = dir + "/saved_model.pbtxt";
  if (std::filesystem::exists(binary_path, ec)) {
    RANKOPT_ASSIGN_OR_RETURN(std::string bytes, ReadFileToString(binary_path));
    if (bytes.empty() || !saved_model.ParseFromString(bytes)) {
      return absl::InvalidArgumentError(
          absl::StrCat(binary_path, ": not a TensorFlow SavedModel (protobuf parse failed)"));
    }
  } else if (std::filesystem::exists(text_path, ec)) {
    RANKOPT_ASSIGN_OR_RETURN(std::string text, ReadFileToString(text_path));
    if (!google::protobuf::TextFormat::ParseFromString(text, &saved_model)) {
      return absl::InvalidArgumentError(
          absl::StrCat(text_path, ": not a TensorFlow SavedModel in text format"));
    }
  } else {
    return absl::NotFoundError(absl::StrCat(
        dir, ": no saved_model.pb or saved_model.pbtxt; expected a SavedModel directory"));
  }

  std::vector<std::string> wanted = absl::StrSplit(options.tags, ',', absl::SkipWhitespace());
  int chosen = -1;
  std::vector<std::string> available;
  for (int i = 0; i < saved_model.meta_graphs_size() && chosen < 0; ++i) {
    const auto& tags = saved_model.meta_graphs(i).meta_info_def().tags();
    bool all = true;
    for (const std::string& tag : wanted) {
      all = all && std::find(tags.begin(), tags.end(), tag) != tags.end();
    }
    if (all) chosen = i;
    available.push_back(TagsString(saved_model.meta_graphs(i)));
  }
  // The default tags find the one MetaGraphDef of a SavedModel exported under other tags
  // (tf.Transform's transform_fn is tagged "transform").
  if (chosen < 0 && options.tags == SavedModelOptions().tags &&
      saved_model.meta_graphs_size() == 1) {
    chosen = 0;
  }
  if (chosen < 0) {
    return absl::NotFoundError(absl::StrCat(
        dir, ": no MetaGraphDef with tags '", options.tags,
        "'; available tag sets: ", available.empty() ? "none" : absl::StrJoin(available, " ")));
  }
  const tf::MetaGraphDef& meta = saved_model.meta_graphs(chosen);
  RANKOPT_ASSIGN_OR_RETURN(
      Graph graph, GraphFromGraphDef(meta.graph_def(), ModelFormat::kTfSavedModel, binary_path));

  for (const tf::SignatureDefEntry& entry : meta.signature_def()) {
    Signature signature;
    signature.key = entry.key();
    signature.method_name = entry.value().method_name();
    for (const tf::TensorInfoEntry& t : entry.value().inputs()) {
      absl::StatusOr<SignatureTensor> tensor = SignatureTensorFromTf(t);
      if (!tensor.ok()) {
        return absl::InvalidArgumentError(absl::StrCat(dir, ": signature '", entry.key(),
                                                       "' input '", t.key(),
                                                       "': ", tensor.status().message()));
      }
      signature.inputs.push_back(*std::move(tensor));
    }
    for (const tf::TensorInfoEntry& t : entry.value().outputs()) {
      absl::StatusOr<SignatureTensor> tensor = SignatureTensorFromTf(t);
      if (!tensor.ok()) {
        return absl::InvalidArgumentError(absl::StrCat(dir, ": signature '", entry.key(),
                                                       "' output '", t.key(),
                                                       "': ", tensor.status().message()));
      }
      signature.outputs.push_back(*std::move(tensor));
    }
    graph.mutable_signatures()->push_back(std::move(signature));
  }

  FunctionInliner inliner(meta, dir);
  RANKOPT_RETURN_IF_ERROR(inliner.InlineAll(&graph));
  RANKOPT_RETURN_IF_ERROR(FreezeVariables(&graph, dir));
  RANKOPT_RETURN_IF_ERROR(FillTables(&graph, dir));

  graph.set_source(std::make_shared<TfSavedModelSource>(std::move(saved_model), chosen, dir));
  absl::Status valid = graph.Validate();
  if (!valid.ok()) return absl::InvalidArgumentError(absl::StrCat(dir, ": ", valid.message()));
  for (const Signature& signature : graph.signatures()) {
    for (const auto* list : {&signature.inputs, &signature.outputs}) {
      for (const SignatureTensor& t : *list) {
        if (graph.FindNode(t.ref.node) == nullptr) {
          return absl::InvalidArgumentError(absl::StrCat(
              dir, ": signature '", signature.key, "' tensor '", t.key, "' refers to '",
              t.ref.ToString(), "', which is not a node in the graph"));
        }
      }
    }
  }
  return graph;
}

absl::Status ExportSavedModel(const Graph& graph, const std::string& dir) {
  const auto* source = dynamic_cast<const TfSavedModelSource*>(graph.source().get());
  std::error_code ec;
  if (source != nullptr && std::filesystem::exists(dir, ec) &&
      std::filesystem::equivalent(dir, source->dir(), ec)) {
    return absl::InvalidArgumentError(absl::StrCat(
        dir, ": is the directory the model was imported from; write to a new directory"));
  }
  std::filesystem::create_directories(dir, ec);
  if (ec || !std::filesystem::is_directory(dir, ec)) {
    return absl::PermissionDeniedError(absl::StrCat(dir, ": cannot create directory"));
  }

  tf::SavedModel out;
  tf::MetaGraphDef* meta = out.add_meta_graphs();
  if (source != nullptr) {
    out.set_saved_model_schema_version(source->saved_model().saved_model_schema_version());
    *meta = source->meta_graph();
  } else {
    out.set_saved_model_schema_version(1);
    meta->mutable_meta_info_def()->add_tags("serve");
  }
  RANKOPT_ASSIGN_OR_RETURN(*meta->mutable_graph_def(), GraphDefFromGraph(graph));
  meta->clear_saver_def();
  meta->GetReflection()->MutableUnknownFields(meta)->DeleteByNumber(kObjectGraphDefField);
  meta->clear_signature_def();
  for (const Signature& signature : graph.signatures()) {
    tf::SignatureDefEntry entry;
    entry.set_key(signature.key);
    entry.mutable_value()->set_method_name(signature.method_name);
    for (const SignatureTensor& t : signature.inputs) {
      if (graph.FindNode(t.ref.node) != nullptr) {
        *entry.mutable_value()->add_inputs() = SignatureTensorToTf(t);
      }
    }
    for (const SignatureTensor& t : signature.outputs) {
      if (graph.FindNode(t.ref.node) != nullptr) {
        *entry.mutable_value()->add_outputs() = SignatureTensorToTf(t);
      }
    }
    if (entry.value().outputs_size() == 0) continue;  // nothing left to compute
    *meta->add_signature_def() = std::move(entry);
  }
  std::string bytes;
  if (!out.SerializeToString(&bytes)) {
    return absl::InvalidArgumentError(
        absl::StrCat(dir, ": SavedModel serialization failed (over protobuf's 2 GiB limit?)"));
  }
  return WriteStringToFile(dir + "/saved_model.pb", bytes);
}

}  // namespace rankopt
