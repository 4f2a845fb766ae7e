#include "graph/passes/constant_folding.h"

#include <algorithm>
#include <cstdint>
#include <limits>
#include <memory>
#include <optional>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "graph/analysis/shape_inference.h"
#include "graph/exec/execution_plan.h"
#include "graph/exec/op_kernel.h"
#include "graph/passes/pass_util.h"
#include "rankopt/status_macros.h"

namespace rankopt {
namespace {

constexpr absl::string_view kPassName = "constant_folding";
constexpr size_t kMaxNotes = 8;

enum class State : uint8_t { kLive, kConst, kDead };

bool IsSwitch(const Node& node) { return node.op == "Switch" || node.op == "RefSwitch"; }
bool IsMerge(const Node& node) { return node.op == "Merge" || node.op == "RefMerge"; }
bool IsLoopOp(const Node& node) {
  return node.op == "Enter" || node.op == "RefEnter" || node.op == "Exit" || node.op == "RefExit" ||
         node.op == "NextIteration" || node.op == "RefNextIteration" || node.op == "LoopCond";
}

// Ops that are never evaluated at optimization time: inputs, state, randomness, side effects
// and control flow.
bool IsNeverFolded(const Node& node) {
  static const auto* const kOps =
      new absl::flat_hash_set<std::string>{"Placeholder",
                                           "PlaceholderWithDefault",
                                           "PlaceholderV2",
                                           "Switch",
                                           "RefSwitch",
                                           "Merge",
                                           "RefMerge",
                                           "Enter",
                                           "RefEnter",
                                           "Exit",
                                           "RefExit",
                                           "NextIteration",
                                           "RefNextIteration",
                                           "LoopCond",
                                           "ControlTrigger",
                                           "NoOp",
                                           "Assert",
                                           "Print",
                                           "PrintV2",
                                           "VarHandleOp",
                                           "ReadVariableOp",
                                           "VarIsInitializedOp",
                                           "IsVariableInitialized",
                                           "Multinomial",
                                           "TruncatedNormal",
                                           "ParameterizedTruncatedNormal",
                                           "Bernoulli",
                                           "Dropout",
                                           "_Arg",
                                           "_Retval",
                                           "_Recv",
                                           "_Send",
                                           "HashTable",
                                           "HashTableV2",
                                           "MutableHashTable",
                                           "MutableHashTableV2"};
  if (kOps->contains(node.op)) return true;
  for (absl::string_view part : {"Random", "Variable", "Assign", "Save", "Restore", "LookupTable",
                                 "Summary", "Queue", "Iterator", "Dataset"}) {
    if (absl::StrContains(node.op, part)) return true;
  }
  return false;
}

// The value of Shape/Size/Rank when shape inference knows the dims it reads, else nullopt.
std::optional<Tensor> StaticShapeValue(const Node& node, const ShapeMap& shapes, bool onnx) {
  const bool is_shape = node.op == "Shape", is_size = node.op == "Size";
  const bool is_rank = node.op == "Rank" && !onnx;
  if (!(is_shape || is_size || is_rank) || node.inputs.size() != 1 || node.inputs[0].empty()) {
    return std::nullopt;
  }
  const Shape& shape = LookupInferred(shapes, node.inputs[0]).shape;
  if (!shape.known_rank()) return std::nullopt;
  const int64_t rank = shape.rank();
  std::vector<int64_t> values;
  std::vector<int64_t> dims;  // of the result
  if (is_rank) {
    values = {rank};
  } else if (is_size) {
    std::optional<int64_t> count = shape.NumElements();
    if (!count.has_value()) return std::nullopt;
    values = {*count};
  } else {
    int64_t start = 0, end = rank;
    if (onnx) {  // opset 15: start/end select a slice of the dims
      if (const int64_t* s = node.attrs.Get<int64_t>("start")) start = *s;
      if (const int64_t* e = node.attrs.Get<int64_t>("end")) end = *e;
      if (start < 0) start += rank;
      if (end < 0) end += rank;
      start = std::clamp<int64_t>(start, 0, rank);
      end = std::clamp<int64_t>(end, 0, rank);
      if (end < start) end = start;
    }
    for (int64_t d = start; d < end; ++d) {
      if (shape.dim(static_cast<int>(d)) < 0) return std::nullopt;
      values.push_back(shape.dim(static_cast<int>(d)));
    }
    dims = {static_cast<int64_t>(values.size())};
  }
  DType dtype = onnx ? DType::kInt64 : DType::kInt32;
  if (!onnx && !is_rank) {
    if (const DType* t = node.attrs.Get<DType>("out_type")) dtype = *t;
  }
  if (dtype == DType::kInt64) {
    absl::StatusOr<Tensor> t = Tensor::FromValues<int64_t>(dims, values);
    return t.ok() ? std::optional<Tensor>(*std::move(t)) : std::nullopt;
  }
  if (dtype != DType::kInt32) return std::nullopt;
  std::vector<int32_t> narrow;
  for (int64_t v : values) {
    if (v > std::numeric_limits<int32_t>::max()) return std::nullopt;
    narrow.push_back(static_cast<int32_t>(v));
  }
  absl::StatusOr<Tensor> t = Tensor::FromValues<int32_t>(dims, narrow);
  return t.ok() ? std::optional<Tensor>(*std::move(t)) : std::nullopt;
}

// Turns a resolved Switch/Merge into an Identity of `input` (TF attr "T" kept).
void MakeIdentity(Node* node, TensorRef input) {
  node->op = "Identity";
  node->inputs = {std::move(input)};
  AttrMap attrs;
  if (const AttrValue* t = node->attrs.Find("T")) attrs.Set("T", *t);
  node->attrs = std::move(attrs);
  node->source_index = -1;
}

class Folder {
 public:
  Folder(const Graph& in, const PassOptions& options)
      : in_(in),
        options_(options),
        onnx_(in.format() == ModelFormat::kOnnx),
        registry_(options.registry != nullptr ? *options.registry : KernelRegistry::Default()),
        op_set_(OpSetOf(in.format())) {}

  // The stages, in order: prepare, classify each node (topologically), remap what must survive,
  // evaluate the constant frontier, rewrite, report.
  absl::StatusOr<PassReport> Run(Graph* out) {
    RANKOPT_ASSIGN_OR_RETURN(std::vector<int> order, Prepare());
    for (int i : order) RANKOPT_RETURN_IF_ERROR(Classify(i));
    RANKOPT_RETURN_IF_ERROR(RemapProtected());
    FoldTargets(FrontierTargets());
    RANKOPT_ASSIGN_OR_RETURN(Graph result, Rewrite());
    PassReport report = Report(result);
    *out = std::move(result);
    return report;
  }

 private:
  // The working copy of the nodes and its per-node state; returns the topological order.
  absl::StatusOr<std::vector<int>> Prepare() {
    RANKOPT_ASSIGN_OR_RETURN(std::vector<int> order, in_.TopologicalOrder());
    RANKOPT_ASSIGN_OR_RETURN(shapes_, InferShapes(in_));
    RANKOPT_ASSIGN_OR_RETURN(consumers_, pass_util::CountConsumers(in_, options_));
    nodes_ = in_.nodes();
    for (size_t i = 0; i < nodes_.size(); ++i) index_[nodes_[i].name] = static_cast<int>(i);
    state_.assign(nodes_.size(), State::kLive);
    precomputed_.assign(nodes_.size(), std::nullopt);
    switch_taken_.assign(nodes_.size(), -1);
    merge_value_.assign(nodes_.size(), -1);
    has_loops_ = std::any_of(nodes_.begin(), nodes_.end(), IsLoopOp);
    return order;
  }

  PassReport Report(const Graph& result) {
    PassReport report;
    report.pass = std::string(kPassName);
    RecordNodeCounts(in_, result, &report);
    if (folded_nodes_ > 0) {
      report.notes.push_back(absl::StrCat(
          "folded ", folded_nodes_, " nodes into ", folded_tensors_, " constants (", folded_bytes_,
          " bytes); ", removed_constants_, " constant nodes no longer read were removed"));
    }
    if (precomputed_count_ > 0) {
      report.notes.push_back(
          absl::StrCat(precomputed_count_, " Shape/Size/Rank nodes read static shapes"));
    }
    if (switches_ + merges_ + dead_ > 0) {
      report.notes.push_back(absl::StrCat("constant predicates: ", switches_, " Switch and ",
                                          merges_, " Merge resolved, ", dead_,
                                          " dead nodes removed"));
    }
    for (std::string& note : skipped_) report.notes.push_back(std::move(note));
    report.changed = folded_nodes_ > 0 || switches_ > 0 || merges_ > 0 || dead_ > 0 ||
                     removed_constants_ > 0 || stripped_controls_ > 0;
    return report;
  }

  int IndexOf(absl::string_view name) const {
    auto it = index_.find(name);
    return it == index_.end() ? -1 : it->second;
  }

  // `ref` as it reads after Switch/Merge resolution; nullopt when it is dead.
  std::optional<TensorRef> Remap(const TensorRef& ref) const {
    const int j = IndexOf(ref.node);
    if (j < 0) return ref;
    if (state_[j] == State::kDead) return std::nullopt;
    if (switch_taken_[j] >= 0) {
      if (ref.port != switch_taken_[j]) return std::nullopt;
      return TensorRef{ref.node, 0};
    }
    if (merge_value_[j] >= 0 && ref.port == 1) return TensorRef{nodes_[merge_value_[j]].name, 0};
    return ref;
  }

  absl::Status Classify(int i) {
    Node& node = nodes_[i];
    const bool merge = IsMerge(node) && !has_loops_;
    bool dead = false;
    bool controls_const = true;
    std::vector<std::string> controls;
    for (std::string& control : node.control_inputs) {
      const int j = IndexOf(control);
      if (j >= 0 && state_[j] == State::kDead) {
        if (!merge) dead = true;
        continue;
      }
      if (j < 0 || state_[j] != State::kConst) controls_const = false;
      controls.push_back(std::move(control));
    }
    node.control_inputs = std::move(controls);
    std::vector<int> live;  // Merge: inputs that are not dead
    for (size_t k = 0; k < node.inputs.size(); ++k) {
      TensorRef& ref = node.inputs[k];
      if (ref.empty()) continue;
      std::optional<TensorRef> remapped = Remap(ref);
      if (!remapped.has_value()) {
        dead = dead || !merge;
        continue;
      }
      ref = *remapped;
      live.push_back(static_cast<int>(k));
    }
    if (dead) {
      state_[i] = State::kDead;
      ++dead_;
      return absl::OkStatus();
    }
    if (merge && live.size() < node.inputs.size()) ResolveMerge(i, live);
    if (state_[i] == State::kDead) return absl::OkStatus();
    if (IsSwitch(node) && !has_loops_ && node.inputs.size() == 2) {
      RANKOPT_RETURN_IF_ERROR(ResolveSwitch(i));
    }

    if (node.op == kPlaceholderOp) return absl::OkStatus();
    if (node.op == kConstOp) {
      if (node.attrs.Get<Tensor>("value") != nullptr) state_[i] = State::kConst;
      return absl::OkStatus();
    }
    if (!controls_const) return absl::OkStatus();
    if (std::optional<Tensor> value = StaticShapeValue(node, shapes_, onnx_)) {
      precomputed_[i] = std::move(value);
      state_[i] = State::kConst;
      ++precomputed_count_;
      return absl::OkStatus();
    }
    if (IsNeverFolded(node) || registry_.Find(op_set_, node.op) == nullptr) {
      return absl::OkStatus();
    }
    if (!node.domain.empty() && node.domain != "ai.onnx") return absl::OkStatus();
    for (const TensorRef& ref : node.inputs) {
      if (ref.empty()) continue;
      const int j = IndexOf(ref.node);
      if (j < 0 || state_[j] != State::kConst) return absl::OkStatus();
    }
    state_[i] = State::kConst;
    return absl::OkStatus();
  }

  // A Merge some of whose inputs are dead: none live -> dead; one -> Identity of it.
  void ResolveMerge(int i, const std::vector<int>& live) {
    Node& node = nodes_[i];
    if (live.empty()) {
      state_[i] = State::kDead;
      ++dead_;
      return;
    }
    const bool reads_index = consumers_.TensorReaders(TensorRef{node.name, 1}) > 0 ||
                             consumers_.protected_tensors.contains(TensorRef{node.name, 1});
    if (live.size() == 1) {
      if (reads_index) {
        absl::StatusOr<Tensor> index = Tensor::FromValues<int32_t>({}, {live[0]});
        if (index.ok()) {
          Node value = pass_util::MakeConst(
              in_, UniqueName(absl::StrCat(node.name, "/value_index")), *index);
          merge_value_[i] = AppendNode(std::move(value), State::kConst);
        }
      }
      MakeIdentity(&nodes_[i], nodes_[i].inputs[live[0]]);
      ++merges_;
      return;
    }
    // Several live inputs: keep them (value_index then counts among the live ones only).
    std::vector<TensorRef> inputs;
    for (int k : live) inputs.push_back(node.inputs[k]);
    node.inputs = std::move(inputs);
    node.attrs.Set("N", static_cast<int64_t>(node.inputs.size()));
    node.source_index = -1;
    if (reads_index) {
      skipped_.push_back(
          absl::StrCat("Merge '", node.name, "' lost dead inputs while its value_index is read"));
    }
  }

  absl::Status ResolveSwitch(int i) {
    Node& node = nodes_[i];
    const TensorRef pred = node.inputs[1];
    const int j = IndexOf(pred.node);
    if (j < 0 || state_[j] != State::kConst) return absl::OkStatus();
    std::vector<Tensor> values;
    absl::Status status = Evaluate({pred}, &values);
    if (!status.ok() || values.size() != 1 || values[0].dtype() != DType::kBool ||
        values[0].num_elements() != 1) {
      Skip(absl::StrCat("Switch '", node.name, "': its constant predicate could not be read",
                        status.ok() ? "" : absl::StrCat(": ", status.message())));
      return absl::OkStatus();
    }
    switch_taken_[i] = values[0].bytes()[0] != 0 ? 1 : 0;
    MakeIdentity(&node, node.inputs[0]);
    ++switches_;
    return absl::OkStatus();
  }

  std::string UniqueName(absl::string_view base) {
    std::string name(base);
    for (int k = 1; index_.contains(name) || in_.FindNode(name) != nullptr; ++k) {
      name = absl::StrCat(base, "_", k);
    }
    return name;
  }

  int AppendNode(Node node, State state) {
    const int i = static_cast<int>(nodes_.size());
    index_[node.name] = i;
    nodes_.push_back(std::move(node));
    state_.push_back(state);
    precomputed_.push_back(std::nullopt);
    switch_taken_.push_back(-1);
    merge_value_.push_back(-1);
    return i;
  }

  void Skip(std::string note) {
    if (skipped_.size() < kMaxNotes) {
      skipped_.push_back(std::move(note));
    } else if (skipped_.size() == kMaxNotes) {
      skipped_.push_back("(more not folded)");
    }
  }

  // Runs the constant subgraph behind `targets` with the executor.
  absl::Status Evaluate(const std::vector<TensorRef>& targets, std::vector<Tensor>* values) {
    std::vector<char> needed(nodes_.size(), 0);
    std::vector<int> stack;
    for (const TensorRef& t : targets) {
      const int j = IndexOf(t.node);
      if (j < 0) return absl::InternalError(absl::StrCat("no node '", t.node, "'"));
      if (!needed[j]) stack.push_back(j);
      needed[j] = 1;
    }
    while (!stack.empty()) {
      const int j = stack.back();
      stack.pop_back();
      if (precomputed_[j].has_value()) continue;
      for (const TensorRef& ref : nodes_[j].inputs) {
        if (ref.empty()) continue;
        const int p = IndexOf(ref.node);
        if (p < 0 || state_[p] != State::kConst) {
          return absl::InternalError(absl::StrCat("'", ref.ToString(), "' is not constant"));
        }
        if (!needed[p]) stack.push_back(p);
        needed[p] = 1;
      }
    }
    std::vector<Node> sub_nodes;
    for (size_t j = 0; j < nodes_.size(); ++j) {
      if (!needed[j]) continue;
      if (precomputed_[j].has_value()) {
        Node value = pass_util::MakeConst(in_, nodes_[j].name, *precomputed_[j]);
        value.output_names = nodes_[j].output_names;
        sub_nodes.push_back(std::move(value));
      } else {
        sub_nodes.push_back(nodes_[j]);
        sub_nodes.back().control_inputs.clear();
      }
    }
    Graph sub(in_.format());
    sub.set_onnx_opset(in_.onnx_opset());  // kernels read op semantics from it
    RANKOPT_RETURN_IF_ERROR(sub.SetNodes(std::move(sub_nodes)));
    for (size_t k = 0; k < targets.size(); ++k) {
      sub.mutable_outputs()->push_back({absl::StrCat("fold_", k), targets[k]});
    }
    PlanOptions plan_options;
    plan_options.registry = &registry_;
    plan_options.memory_cap_bytes =
        std::max<size_t>(size_t{256} << 20, 4 * static_cast<size_t>(options_.max_constant_bytes));
    RANKOPT_ASSIGN_OR_RETURN(std::unique_ptr<const ExecutionPlan> plan,
                             ExecutionPlan::Create(sub, plan_options));
    return plan->Run({}, values);
  }

  absl::Status RemapProtected() {
    auto remap = [&](TensorRef* ref, absl::string_view what) -> absl::Status {
      std::optional<TensorRef> r = Remap(*ref);
      if (!r.has_value()) {
        return absl::FailedPreconditionError(absl::StrCat(
            "constant folding: ", what, " '", ref->ToString(),
            "' is on the branch a constant predicate never takes (a dead tensor); request an "
            "output the graph computes"));
      }
      *ref = *r;
      return absl::OkStatus();
    };
    outputs_ = in_.outputs();
    for (GraphOutput& o : outputs_) RANKOPT_RETURN_IF_ERROR(remap(&o.ref, "graph output"));
    signatures_ = in_.signatures();
    for (Signature& s : signatures_) {
      for (SignatureTensor& o : s.outputs) {
        RANKOPT_RETURN_IF_ERROR(remap(&o.ref, "signature output"));
      }
      for (SignatureTensor& o : s.inputs) {
        std::optional<TensorRef> r = Remap(o.ref);
        if (r.has_value()) o.ref = *r;
      }
    }
    for (const TensorRef& ref : consumers_.protected_tensors) {
      TensorRef copy = ref;
      RANKOPT_RETURN_IF_ERROR(remap(&copy, "output"));
      protected_.push_back(copy);
    }
    return absl::OkStatus();
  }

  // Constant tensors that something live reads (the ones to turn into Consts), less those that
  // cannot or should not become a constant.
  std::vector<TensorRef> FrontierTargets() {
    absl::flat_hash_set<TensorRef> seen;
    std::vector<TensorRef> frontier;
    auto consider = [&](const TensorRef& ref) {
      const int j = IndexOf(ref.node);
      if (j < 0 || state_[j] != State::kConst || nodes_[j].op == kConstOp) return;
      if (seen.insert(ref).second) frontier.push_back(ref);
    };
    for (size_t i = 0; i < nodes_.size(); ++i) {
      if (state_[i] != State::kLive) continue;
      for (const TensorRef& ref : nodes_[i].inputs) {
        if (!ref.empty()) consider(ref);
      }
    }
    for (const TensorRef& ref : protected_) consider(ref);

    std::vector<TensorRef> targets;
    for (const TensorRef& ref : frontier) {
      const InferredTensor& t = LookupInferred(shapes_, ref);
      if (t.dtype == DType::kString) {
        Skip(absl::StrCat("'", ref.ToString(), "': a string tensor stays computed"));
        continue;
      }
      std::optional<int64_t> count = t.shape.NumElements();
      if (count.has_value() && t.dtype != DType::kInvalid &&
          *count > options_.max_constant_bytes / std::max<int64_t>(1, DTypeSize(t.dtype))) {
        Skip(absl::StrCat("'", ref.ToString(), "': ", t.shape.ToString(), " ", DTypeName(t.dtype),
                          " is over the ", options_.max_constant_bytes, "-byte cap"));
        continue;
      }
      targets.push_back(ref);
    }
    return targets;
  }

  // Evaluates `targets` and keeps their values in folded_; a node folds as a whole or not at all.
  void FoldTargets(const std::vector<TensorRef>& targets) {
    if (targets.empty()) return;
    std::vector<Tensor> values;
    if (Evaluate(targets, &values).ok() && values.size() == targets.size()) {
      for (size_t k = 0; k < targets.size(); ++k) Accept(targets[k], std::move(values[k]));
    } else {
      // One failing node must not stop the rest: evaluate each tensor on its own.
      for (const TensorRef& ref : targets) {
        std::vector<Tensor> one;
        absl::Status status = Evaluate({ref}, &one);
        if (!status.ok() || one.size() != 1) {
          Skip(absl::StrCat("'", ref.ToString(), "' (", nodes_[IndexOf(ref.node)].op,
                            "): ", status.ok() ? "no value" : status.message()));
          failed_nodes_.insert(ref.node);
          continue;
        }
        Accept(ref, std::move(one[0]));
      }
    }
    // A node folds as a whole: every port something reads, or none.
    for (const std::string& node : failed_nodes_) {
      for (auto it = folded_.begin(); it != folded_.end();) {
        if (it->first.node == node) {
          folded_.erase(it++);
        } else {
          ++it;
        }
      }
    }
  }

  void Accept(const TensorRef& ref, Tensor value) {
    if (static_cast<int64_t>(value.ByteSize()) > options_.max_constant_bytes) {
      Skip(absl::StrCat("'", ref.ToString(), "': ", value.ByteSize(), " bytes is over the ",
                        options_.max_constant_bytes, "-byte cap"));
      failed_nodes_.insert(ref.node);
      return;
    }
    folded_.emplace(ref, std::move(value));
  }

  // Rewrites the graph: Consts for the folded tensors, readers rewired to them, constants nothing
  // reads any more dropped.
  absl::StatusOr<Graph> Rewrite() {
    absl::flat_hash_map<TensorRef, TensorRef> rewire;
    std::vector<char> removable;  // constant nodes that may go once nothing reads them
    std::vector<Node> result = ReplaceFolded(&rewire, &removable);
    RewireReaders(rewire, &result);
    return Assemble(DropUnreadConstants(std::move(result), removable, rewire));
  }

  static TensorRef Rewired(const absl::flat_hash_map<TensorRef, TensorRef>& rewire,
                           const TensorRef& ref) {
    auto it = rewire.find(ref);
    return it == rewire.end() ? ref : it->second;
  }

  // The live and constant nodes, each folded one replaced by a Const per folded port (`rewire`:
  // where its readers now read); `removable` marks, per result node, constants that may go.
  std::vector<Node> ReplaceFolded(absl::flat_hash_map<TensorRef, TensorRef>* rewire,
                                  std::vector<char>* removable_out) {
    std::vector<char>& removable = *removable_out;
    absl::flat_hash_map<std::string, std::vector<std::pair<int, Tensor*>>> by_node;
    for (auto& [ref, value] : folded_) by_node[ref.node].emplace_back(ref.port, &value);
    std::vector<Node> result;
    for (size_t i = 0; i < nodes_.size(); ++i) {
      Node& node = nodes_[i];
      if (state_[i] == State::kDead) continue;
      auto folded = by_node.find(node.name);
      if (folded != by_node.end()) {
        std::sort(folded->second.begin(), folded->second.end(),
                  [](const auto& a, const auto& b) { return a.first < b.first; });
        ++folded_nodes_;
        for (auto& [port, value] : folded->second) {
          std::string name =
              port == 0 ? node.name : UniqueName(absl::StrCat(node.name, "/port_", port));
          index_[name] = static_cast<int>(i);
          std::string tensor_name =
              port < static_cast<int>(node.output_names.size()) ? node.output_names[port] : "";
          ++folded_tensors_;
          folded_bytes_ += static_cast<int64_t>(value->ByteSize());
          (*rewire)[TensorRef{node.name, port}] = TensorRef{name, 0};
          result.push_back(pass_util::MakeConst(in_, name, std::move(*value), tensor_name));
          removable.push_back(0);
        }
        continue;
      }
      if (state_[i] == State::kLive) {
        // Ordering after a constant computation means nothing: it has no side effects.
        const size_t before = node.control_inputs.size();
        node.control_inputs.erase(
            std::remove_if(node.control_inputs.begin(), node.control_inputs.end(),
                           [&](const std::string& c) {
                             const int j = IndexOf(c);
                             return j >= 0 && state_[j] == State::kConst;
                           }),
            node.control_inputs.end());
        stripped_controls_ += static_cast<int64_t>(before - node.control_inputs.size());
      }
      const bool was_read = consumers_.node_readers.contains(node.name) ||
                            consumers_.control_readers.contains(node.name) || i >= in_.num_nodes();
      removable.push_back(state_[i] == State::kConst && was_read ? 1 : 0);
      result.push_back(std::move(node));
    }
    return result;
  }

  // Points the readers of folded tensors (nodes, outputs, signatures) at their Consts.
  void RewireReaders(const absl::flat_hash_map<TensorRef, TensorRef>& rewire,
                     std::vector<Node>* result) {
    for (Node& node : *result) {
      for (TensorRef& ref : node.inputs) {
        if (!ref.empty()) ref = Rewired(rewire, ref);
      }
    }
    for (GraphOutput& o : outputs_) o.ref = Rewired(rewire, o.ref);
    for (Signature& s : signatures_) {
      for (SignatureTensor& o : s.outputs) o.ref = Rewired(rewire, o.ref);
      for (SignatureTensor& o : s.inputs) o.ref = Rewired(rewire, o.ref);
    }
  }

  // `result` less the `removable` constants nothing reads any more, transitively.
  std::vector<Node> DropUnreadConstants(std::vector<Node> result,
                                        const std::vector<char>& removable,
                                        const absl::flat_hash_map<TensorRef, TensorRef>& rewire) {
    absl::flat_hash_map<std::string, int> position;
    for (size_t i = 0; i < result.size(); ++i) position[result[i].name] = static_cast<int>(i);
    std::vector<int> readers(result.size(), 0);
    auto add_reader = [&](absl::string_view name, int delta) {
      auto it = position.find(name);
      if (it != position.end()) readers[it->second] += delta;
    };
    for (const Node& node : result) {
      for (const TensorRef& ref : node.inputs) add_reader(ref.node, 1);
      for (const std::string& c : node.control_inputs) add_reader(c, 1);
    }
    for (const GraphOutput& o : outputs_) add_reader(o.ref.node, 1);
    for (const Signature& s : signatures_) {
      for (const SignatureTensor& o : s.outputs) add_reader(o.ref.node, 1);
    }
    for (const TensorRef& ref : protected_) add_reader(Rewired(rewire, ref).node, 1);
    std::vector<char> removed(result.size(), 0);
    std::vector<int> stack;
    for (size_t i = 0; i < result.size(); ++i) {
      if (removable[i] && readers[i] == 0) stack.push_back(static_cast<int>(i));
    }
    while (!stack.empty()) {
      const int i = stack.back();
      stack.pop_back();
      if (removed[i]) continue;
      removed[i] = 1;
      ++removed_constants_;
      auto release = [&](absl::string_view name) {
        auto it = position.find(name);
        if (it == position.end()) return;
        if (--readers[it->second] == 0 && removable[it->second]) stack.push_back(it->second);
      };
      for (const TensorRef& ref : result[i].inputs) release(ref.node);
      for (const std::string& c : result[i].control_inputs) release(c);
    }
    std::vector<Node> kept;
    kept.reserve(result.size());
    for (size_t i = 0; i < result.size(); ++i) {
      if (!removed[i]) kept.push_back(std::move(result[i]));
    }
    return kept;
  }

  // The output graph: `kept` with the remapped outputs and signatures, validated.
  absl::StatusOr<Graph> Assemble(std::vector<Node> kept) {
    Graph graph = in_;
    RANKOPT_RETURN_IF_ERROR(graph.SetNodes(std::move(kept)));
    *graph.mutable_outputs() = std::move(outputs_);
    *graph.mutable_signatures() = std::move(signatures_);
    pass_util::TrimFrozenVariables(&graph);
    absl::Status valid = graph.Validate();
    if (!valid.ok()) {
      return absl::InternalError(absl::StrCat(
          "constant folding produced an invalid graph (a bug; run without it): ", valid.message()));
    }
    return graph;
  }

  const Graph& in_;
  const PassOptions& options_;
  const bool onnx_;
  const KernelRegistry& registry_;
  const OpSet op_set_;
  ShapeMap shapes_;
  pass_util::Consumers consumers_;
  std::vector<Node> nodes_;
  absl::flat_hash_map<std::string, int> index_;
  std::vector<State> state_;
  std::vector<std::optional<Tensor>> precomputed_;
  std::vector<int> switch_taken_;  // resolved Switch: the port it forwards, read as port 0
  std::vector<int> merge_value_;   // resolved Merge: the Const node of its value_index
  bool has_loops_ = false;
  std::vector<GraphOutput> outputs_;
  std::vector<Signature> signatures_;
  std::vector<TensorRef> protected_;
  absl::flat_hash_map<TensorRef, Tensor> folded_;
  absl::flat_hash_set<std::string> failed_nodes_;
  std::vector<std::string> skipped_;
  int64_t folded_nodes_ = 0, folded_tensors_ = 0, folded_bytes_ = 0, removed_constants_ = 0;
  int64_t precomputed_count_ = 0, switches_ = 0, merges_ = 0, dead_ = 0, stripped_controls_ = 0;
};

}  // namespace

absl::StatusOr<PassReport> FoldConstants(const Graph& in, const PassOptions& options, Graph* out) {
  if (out == nullptr) {
    return absl::InvalidArgumentError("FoldConstants: `out` is null; pass a Graph to write into");
  }
  Folder folder(in, options);
  return folder.Run(out);
}

}  // namespace rankopt
