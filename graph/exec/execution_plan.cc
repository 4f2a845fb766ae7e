#include "graph/exec/execution_plan.h"

#include <algorithm>
#include <deque>
#include <limits>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/edit_distance.h"
#include "core/shape.h"
#include "graph/exec/arena.h"
#include "graph/exec/default_kernels.h"
#include "graph/exec/executor_stats.h"
#include "rankopt/status_macros.h"

namespace rankopt {
namespace {

// TF control-flow ops whose dead-branch semantics the executor does not implement yet.
constexpr absl::string_view kControlFlowOps[] = {
    "Switch", "RefSwitch", "Merge",         "RefMerge",         "Enter",   "RefEnter",
    "Exit",   "RefExit",   "NextIteration", "RefNextIteration", "LoopCond"};

// Ops that never produce a value a user would want as a default output.
constexpr absl::string_view kNotOutputOps[] = {
    "NoOp",       "Assert",      "SaveV2",     "RestoreV2",  "MergeV2Checkpoints",
    "Save",       "Restore",     "SaveSlices", "Assign",     "AssignVariableOp",
    "VariableV2", "VarHandleOp", "Const",      "Placeholder"};

bool Contains(absl::Span<const absl::string_view> list, absl::string_view op) {
  return std::find(list.begin(), list.end(), op) != list.end();
}

std::string NodeLabel(const Node& node) {
  return absl::StrCat("node '", node.name, "' (", node.op, ")");
}

absl::Status AtNode(const Node& node, const absl::Status& status) {
  return absl::Status(status.code(), absl::StrCat(NodeLabel(node), ": ", status.message()));
}

// "op 'X' (node 'n') has no rankopt kernel; ..." with the closest supported op names.
std::string MissingKernelMessage(const KernelRegistry& registry, OpSet set, const Node& node) {
  std::vector<std::string> ops = registry.Ops(set);
  std::string message = absl::StrCat("op '", node.op, "' (node '", node.name, "') has no rankopt ",
                                     OpSetName(set), " kernel");
  if (ops.empty()) return absl::StrCat(message, "; no kernels are registered");
  std::vector<std::pair<size_t, std::string>> scored;
  for (std::string& op : ops) {
    size_t d = EditDistance(node.op, op, /*ignore_case=*/true);
    // A shared prefix ("Sparse...", "Reduce...") makes a name relevant too.
    if (op.size() >= 4 && node.op.size() >= 4 && op.compare(0, 4, node.op, 0, 4) == 0) {
      d = std::min<size_t>(d, 2);
    }
    scored.emplace_back(d, std::move(op));
  }
  std::sort(scored.begin(), scored.end());
  std::vector<std::string> close;
  for (const auto& [distance, op] : scored) {
    if (close.size() == 5 || distance > std::max<size_t>(3, node.op.size() / 2)) break;
    close.push_back(op);
  }
  absl::StrAppend(&message, "; ", scored.size(), " ops are supported",
                  close.empty() ? "" : absl::StrCat(", the closest: ", absl::StrJoin(close, ", ")));
  return message;
}

// One node with a kernel, in execution order.
struct Step {
  const Node* node = nullptr;  // the plan's copy
  std::unique_ptr<OpKernel> kernel;
  std::vector<int> inputs;     // value slot per input; -1 for an omitted optional input
  std::vector<int> outputs;    // value slot per output port
  std::vector<bool> required;  // ports the kernel must set
  std::vector<int> release;    // slots whose last reader is this step
};

// A run's arena block; values (and aliases made by ForwardInput) hold references.
struct Block {
  char* data = nullptr;
  size_t size = 0;
  int refs = 0;
};

// Everything one Run mutates. Each thread keeps one (thread_local), so after warm-up a run
// reuses its memory and vectors instead of asking the heap.
struct RunState {
  Arena arena;
  std::vector<TensorView> values;
  std::vector<int> value_block;
  std::vector<Block> blocks;
  std::vector<int> free_blocks;
  std::vector<int> scratch_blocks;
  std::vector<TensorView> outputs;  // the requested values, once the steps have run
  size_t memory_cap = 0;
  size_t last_run_bytes = 0;
  bool busy = false;

  void Begin(int num_slots, size_t cap) {
    arena.Reset();
    values.assign(static_cast<size_t>(num_slots), TensorView{});
    value_block.assign(static_cast<size_t>(num_slots), -1);
    blocks.clear();
    free_blocks.clear();
    scratch_blocks.clear();
    memory_cap = cap;
  }

  // A block of at least `bytes`: the smallest free one that fits, else fresh arena bytes.
  absl::StatusOr<int> AllocateBlock(size_t bytes) {
    RANKOPT_ASSIGN_OR_RETURN(const size_t need, Arena::RoundedSize(bytes));
    int best = -1;
    for (size_t k = 0; k < free_blocks.size(); ++k) {
      const Block& b = blocks[free_blocks[k]];
      if (b.size >= need && (best < 0 || b.size < blocks[free_blocks[best]].size)) {
        best = static_cast<int>(k);
      }
    }
    if (best >= 0) {
      const int id = free_blocks[best];
      free_blocks[best] = free_blocks.back();
      free_blocks.pop_back();
      blocks[id].refs = 1;
      return id;
    }
    if (memory_cap != 0 && (need > memory_cap || arena.used() > memory_cap - need)) {
      return absl::ResourceExhaustedError(
          absl::StrCat("allocating ", bytes, " bytes exceeds the run's memory cap of ", memory_cap,
                       " bytes (", arena.used(),
                       " in use); raise PlanOptions.memory_cap_bytes or send "
                       "fewer candidates per request"));
    }
    RANKOPT_ASSIGN_OR_RETURN(void* data, arena.Allocate(need));
    blocks.push_back(Block{static_cast<char*>(data), need, 1});
    return static_cast<int>(blocks.size()) - 1;
  }

  void Unref(int block) {
    if (block < 0) return;
    if (--blocks[block].refs == 0) free_blocks.push_back(block);
  }

  void Release(int slot) {
    Unref(value_block[slot]);
    value_block[slot] = -1;
  }
};

RunState& ThreadRunState() {
  thread_local RunState state;
  return state;
}

const TensorView& OmittedView() {
  static const TensorView* const omitted = new TensorView();
  return *omitted;
}

class RunContext final : public KernelContext {
 public:
  RunContext(RunState* state, const Step* step) : state_(state), step_(step) {}

  int num_inputs() const override { return static_cast<int>(step_->inputs.size()); }

  const TensorView& input(int i) const override {
    if (i < 0 || i >= num_inputs() || step_->inputs[i] < 0) return OmittedView();
    return state_->values[step_->inputs[i]];
  }

  absl::StatusOr<TensorView> AllocateOutput(int i, DType dtype,
                                            absl::Span<const int64_t> dims) override {
    const bool unread = IsUnreadOutput(i);
    if (!unread) RANKOPT_RETURN_IF_ERROR(CheckOutputIndex(i));
    if (ExecElementSize(dtype) == 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("output ", i, ": cannot allocate a tensor of dtype ", DTypeName(dtype)));
    }
    absl::StatusOr<int64_t> n = CheckedNumElements(dims);
    if (!n.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("output ", i, ": ", n.status().message()));
    }
    const size_t element = ExecElementSize(dtype);
    if (static_cast<uint64_t>(*n) > std::numeric_limits<size_t>::max() / 2 / element) {
      return absl::ResourceExhaustedError(
          absl::StrCat("output ", i, ": ", *n, " elements of ", DTypeName(dtype), " are too many"));
    }
    RANKOPT_ASSIGN_OR_RETURN(const int block,
                             state_->AllocateBlock(static_cast<size_t>(*n) * element));
    TensorView view{dtype, Dims(dims.begin(), dims.end()), state_->blocks[block].data};
    if (unread) {
      state_->scratch_blocks.push_back(block);  // computed, then dropped with the scratch
    } else {
      SetOutput(i, view, block);
    }
    return view;
  }

  absl::Status ForwardInput(int input, int output, absl::Span<const int64_t> dims) override {
    if (IsUnreadOutput(output)) return absl::OkStatus();
    RANKOPT_RETURN_IF_ERROR(CheckOutputIndex(output));
    if (input < 0 || input >= num_inputs() || step_->inputs[input] < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("cannot forward input ", input, ": the node has no such input"));
    }
    const int slot = step_->inputs[input];
    const TensorView& in = state_->values[slot];
    absl::StatusOr<int64_t> n = CheckedNumElements(dims);
    if (!n.ok()) return n.status();
    if (*n != in.NumElements()) {
      return absl::InvalidArgumentError(
          absl::StrCat("cannot forward input ", input, " ", DescribeTensor(in), " as [",
                       absl::StrJoin(dims, ","), "]: the element counts differ"));
    }
    const int block = state_->value_block[slot];
    if (block >= 0) ++state_->blocks[block].refs;
    SetOutput(output, TensorView{in.dtype, Dims(dims.begin(), dims.end()), in.data}, block);
    return absl::OkStatus();
  }

  absl::StatusOr<char*> AllocateStringBytes(size_t bytes) override {
    const size_t cap = state_->memory_cap;
    if (cap != 0 && (bytes > cap || state_->arena.used() > cap - bytes)) {
      return absl::ResourceExhaustedError(absl::StrCat(
          "allocating ", bytes, " bytes of strings exceeds the run's memory cap of ", cap,
          " bytes; raise PlanOptions.memory_cap_bytes or send fewer candidates per request"));
    }
    RANKOPT_ASSIGN_OR_RETURN(void* data, state_->arena.Allocate(bytes));
    return static_cast<char*>(data);
  }

  absl::StatusOr<void*> AllocateScratch(size_t bytes) override {
    RANKOPT_ASSIGN_OR_RETURN(const int block, state_->AllocateBlock(bytes));
    state_->scratch_blocks.push_back(block);
    return static_cast<void*>(state_->blocks[block].data);
  }

  const Node& node() const override { return *step_->node; }

 private:
  // A TF node's ports past the highest one the plan reads have no slot (a TF NodeDef does not
  // declare its output count): kernels may still write them, and the value is dropped.
  bool IsUnreadOutput(int i) const {
    return i >= static_cast<int>(step_->outputs.size()) && i < kMaxUnreadPort &&
           step_->node->output_names.empty();
  }
  static constexpr int kMaxUnreadPort = 1024;

  absl::Status CheckOutputIndex(int i) const {
    if (i < 0 || i >= static_cast<int>(step_->outputs.size())) {
      return absl::InvalidArgumentError(
          absl::StrCat("output index ", i, " is out of range: the node has ", step_->outputs.size(),
                       " output", step_->outputs.size() == 1 ? "" : "s"));
    }
    return absl::OkStatus();
  }

  // `block` carries one reference for the output slot.
  void SetOutput(int i, TensorView view, int block) {
    const int slot = step_->outputs[i];
    state_->Release(slot);  // an output set twice drops its first value
    state_->values[slot] = std::move(view);
    state_->value_block[slot] = block;
  }

  RunState* state_;
  const Step* step_;
};

class Plan final : public ExecutionPlan {
 public:
  const std::vector<Input>& inputs() const override { return inputs_; }
  const std::vector<std::string>& outputs() const override { return output_names_; }

  absl::Status Run(absl::Span<const NamedTensorView> feeds,
                   std::vector<Tensor>* outputs) const override {
    if (outputs == nullptr) return absl::InvalidArgumentError("Run: outputs is null");
    return RunWithSink(feeds, [outputs](absl::Span<const TensorView> views) -> absl::Status {
      outputs->clear();
      outputs->reserve(views.size());
      for (const TensorView& v : views) {
        if (v.dtype == DType::kString) {
          std::vector<std::string> strings;
          strings.reserve(static_cast<size_t>(v.NumElements()));
          for (absl::string_view s : v.strings()) strings.emplace_back(s);
          RANKOPT_ASSIGN_OR_RETURN(
              Tensor t, Tensor::FromStrings(std::vector<int64_t>(v.dims.begin(), v.dims.end()),
                                            std::move(strings)));
          outputs->push_back(std::move(t));
          continue;
        }
        RANKOPT_ASSIGN_OR_RETURN(
            Tensor t,
            Tensor::FromBytes(v.dtype, std::vector<int64_t>(v.dims.begin(), v.dims.end()),
                              absl::string_view(static_cast<const char*>(v.data), v.ByteSize())));
        outputs->push_back(std::move(t));
      }
      return absl::OkStatus();
    });
  }

  absl::Status RunWithSink(absl::Span<const NamedTensorView> feeds,
                           OutputSink sink) const override {
    RunState& thread_state = ThreadRunState();
    // A Run nested in another on the same thread (a kernel running a plan) gets its own state.
    std::unique_ptr<RunState> nested;
    RunState* state = &thread_state;
    if (thread_state.busy) {
      nested = std::make_unique<RunState>();
      state = nested.get();
    }
    state->busy = true;
    absl::Status status = RunWith(feeds, state);
    state->last_run_bytes = state->arena.used();
    if (status.ok()) status = sink(state->outputs);
    state->busy = false;
    return status;
  }

 private:
  friend absl::StatusOr<std::unique_ptr<const ExecutionPlan>> BuildPlan(const Graph&,
                                                                        const PlanOptions&,
                                                                        const KernelRegistry&);
  friend struct PlanStages;

  std::string ExpectedInputs() const {
    std::vector<std::string> parts;
    for (const Input& in : inputs_) {
      parts.push_back(
          absl::StrCat("'", in.name, "' ", in.shape.ToString(), " ", DTypeName(in.dtype)));
    }
    return parts.empty() ? std::string("none") : absl::StrJoin(parts, ", ");
  }

  absl::Status BindFeeds(absl::Span<const NamedTensorView> feeds, RunState* state) const {
    for (const NamedTensorView& feed : feeds) {
      auto it = input_index_.find(feed.name);
      if (it == input_index_.end()) {
        return absl::InvalidArgumentError(absl::StrCat(
            "unknown input '", feed.name, "'; the plan's inputs are: ", ExpectedInputs()));
      }
      const Input& in = inputs_[it->second];
      const int slot = input_slots_[it->second];
      if (state->values[slot].present()) {
        return absl::InvalidArgumentError(
            absl::StrCat("input '", in.name, "' is fed more than once"));
      }
      const TensorView& v = feed.view;
      if (v.dtype != in.dtype) {
        return absl::InvalidArgumentError(absl::StrCat(
            "input '", in.name, "': expected ", DTypeName(in.dtype), ", got ", DTypeName(v.dtype)));
      }
      absl::StatusOr<int64_t> n = CheckedNumElements(v.dims);
      if (!n.ok()) {
        return absl::InvalidArgumentError(
            absl::StrCat("input '", in.name, "': ", n.status().message()));
      }
      if (*n > 0 && v.data == nullptr) {
        return absl::InvalidArgumentError(
            absl::StrCat("input '", in.name, "': ", DescribeTensor(v), " has no data"));
      }
      if (in.shape.known_rank()) {
        bool match = v.rank() == in.shape.rank();
        for (int d = 0; match && d < v.rank(); ++d) {
          match = in.shape.dim(d) == Shape::kUnknownDim || in.shape.dim(d) == v.dims[d];
        }
        if (!match) {
          return absl::InvalidArgumentError(
              absl::StrCat("input '", in.name, "': expected shape ", in.shape.ToString(),
                           " (? = any size), got [", absl::StrJoin(v.dims, ","), "]"));
        }
      }
      state->values[slot] = v;
    }
    for (size_t i = 0; i < inputs_.size(); ++i) {
      if (!state->values[input_slots_[i]].present()) {
        return absl::InvalidArgumentError(absl::StrCat(
            "missing input '", inputs_[i].name, "' (", inputs_[i].shape.ToString(), " ",
            DTypeName(inputs_[i].dtype), "); feed every input: ", ExpectedInputs()));
      }
    }
    return absl::OkStatus();
  }

  // Runs the steps; state->outputs views the results.
  absl::Status RunWith(absl::Span<const NamedTensorView> feeds, RunState* state) const {
    state->Begin(num_slots_, memory_cap_);
    RANKOPT_RETURN_IF_ERROR(BindFeeds(feeds, state));
    for (const auto& [slot, view] : constants_) state->values[slot] = view;

    for (const Step& step : steps_) {
      for (int slot : step.outputs) {
        TensorView& v = state->values[slot];
        v.dtype = DType::kInvalid;
        v.dims.clear();
        v.data = nullptr;
      }
      RunContext ctx(state, &step);
      absl::Status status = step.kernel->Compute(&ctx);
      for (int block : state->scratch_blocks) state->Unref(block);
      state->scratch_blocks.clear();
      if (!status.ok()) return AtNode(*step.node, status);
      for (size_t port = 0; port < step.outputs.size(); ++port) {
        if (step.required[port] && !state->values[step.outputs[port]].present()) {
          return absl::InternalError(
              absl::StrCat(NodeLabel(*step.node), ": the kernel did not produce output ", port));
        }
      }
      for (int slot : step.release) state->Release(slot);
    }

    state->outputs.clear();
    for (size_t i = 0; i < output_slots_.size(); ++i) {
      const TensorView& v = state->values[output_slots_[i]];
      if (!IsFixedWidth(v.dtype) && v.dtype != DType::kString) {
        return absl::UnimplementedError(
            absl::StrCat("output '", output_names_[i], "' is ", DescribeTensor(v),
                         "; only numeric and string outputs can be returned"));
      }
      state->outputs.push_back(v);
    }
    return absl::OkStatus();
  }

  std::vector<Input> inputs_;
  std::vector<int> input_slots_;
  absl::flat_hash_map<std::string, int> input_index_;
  std::vector<std::string> output_names_;
  std::vector<int> output_slots_;
  std::deque<Node> nodes_;      // stable addresses: kernels and contexts point here
  std::deque<Tensor> tensors_;  // constants, shared with the graph's storage
  std::deque<std::vector<absl::string_view>> string_constants_;  // elements of string constants
  std::vector<std::pair<int, TensorView>> constants_;
  std::vector<Step> steps_;
  int num_slots_ = 0;
  size_t memory_cap_ = 0;
};

struct RequestedOutput {
  std::string name;
  TensorRef ref;
};

absl::StatusOr<std::vector<RequestedOutput>> ResolveOutputs(const Graph& graph,
                                                            const PlanOptions& options) {
  std::vector<RequestedOutput> out;
  if (!options.outputs.empty()) {
    for (const std::string& name : options.outputs) {
      RANKOPT_ASSIGN_OR_RETURN(TensorRef ref, graph.ResolveTensor(name));
      out.push_back({name, std::move(ref)});
    }
  } else if (!graph.outputs().empty()) {
    for (const GraphOutput& o : graph.outputs()) out.push_back({o.name, o.ref});
  } else if (!graph.signatures().empty() && !graph.signatures()[0].outputs.empty()) {
    for (const SignatureTensor& o : graph.signatures()[0].outputs) out.push_back({o.key, o.ref});
  } else {
    absl::flat_hash_set<absl::string_view> consumed;
    for (const Node& node : graph.nodes()) {
      for (const TensorRef& in : node.inputs) consumed.insert(in.node);
      for (const std::string& c : node.control_inputs) consumed.insert(c);
    }
    for (const Node& node : graph.nodes()) {
      if (consumed.contains(node.name) || Contains(kNotOutputOps, node.op)) continue;
      if (graph.format() == ModelFormat::kOnnx && node.output_names.empty()) continue;
      out.push_back({node.name, TensorRef{node.name, 0}});
    }
    if (out.empty()) {
      return absl::InvalidArgumentError(
          "the graph declares no outputs and has no node that produces an unused value; name "
          "the outputs to compute (PlanOptions.outputs, --outputs)");
    }
  }
  for (const RequestedOutput& o : out) {
    if (graph.FindNode(o.ref.node) == nullptr || o.ref.port < 0) {
      return absl::InvalidArgumentError(absl::StrCat("output '", o.name, "' refers to '",
                                                     o.ref.ToString(),
                                                     "', which is not a tensor of the graph"));
    }
  }
  return out;
}

// The nodes the outputs need (data edges only; control edges only order side effects, and the
// executor runs nothing for its side effects), with the highest port read of each.
struct NeededNodes {
  std::vector<int> max_port;  // per node, -1: none read
  std::vector<char> needed;
};

// Where each needed node's output ports live in the run's value slots.
struct SlotLayout {
  std::vector<int> first_slot;  // per node, -1: not needed
  std::vector<int> num_ports;
  int num_slots = 0;

  int SlotOf(const Graph& graph, const TensorRef& ref) const {
    return first_slot[graph.NodeIndex(ref.node)] + ref.port;
  }
};

constexpr int kForever = std::numeric_limits<int>::max();

absl::StatusOr<NeededNodes> MarkNeeded(const Graph& graph,
                                       const std::vector<RequestedOutput>& requested) {
  const std::vector<Node>& nodes = graph.nodes();
  NeededNodes result;
  std::vector<int>& max_port = result.max_port;
  std::vector<char>& needed = result.needed;
  max_port.assign(nodes.size(), -1);
  needed.assign(nodes.size(), 0);
  std::vector<int> stack;
  auto need = [&](const TensorRef& ref, const Node* consumer, size_t input) -> absl::Status {
    const int index = graph.NodeIndex(ref.node);
    if (index < 0 || ref.port < 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          consumer ? NodeLabel(*consumer) : std::string("the outputs"), ": input ", input,
          " refers to '", ref.ToString(), "', which is not a tensor of the graph"));
    }
    max_port[index] = std::max(max_port[index], ref.port);
    if (!needed[index]) {
      needed[index] = 1;
      stack.push_back(index);
    }
    return absl::OkStatus();
  };
  for (size_t i = 0; i < requested.size(); ++i) {
    RANKOPT_RETURN_IF_ERROR(need(requested[i].ref, nullptr, i));
  }
  while (!stack.empty()) {
    const Node& node = nodes[stack.back()];
    stack.pop_back();
    if (Contains(kControlFlowOps, node.op)) {
      return absl::UnimplementedError(absl::StrCat(
          NodeLabel(node),
          ": TensorFlow control flow (Switch/Merge/Enter/Exit/NextIteration) is not supported "
          "by the executor; constant-fold the cond first (rankopt optimize, coming)"));
    }
    for (size_t i = 0; i < node.inputs.size(); ++i) {
      if (node.inputs[i].empty()) continue;
      RANKOPT_RETURN_IF_ERROR(need(node.inputs[i], &node, i));
    }
  }
  return result;
}

// Execution order: depth-first post-order over data edges, roots in graph order.
absl::StatusOr<std::vector<int>> ExecutionOrder(const Graph& graph,
                                                const std::vector<char>& needed) {
  const std::vector<Node>& nodes = graph.nodes();
  std::vector<int> order;
  std::vector<char> mark(nodes.size(), 0);  // 1: on the DFS path, 2: done
  for (size_t root = 0; root < nodes.size(); ++root) {
    if (!needed[root] || mark[root]) continue;
    std::vector<std::pair<int, size_t>> path = {{static_cast<int>(root), 0}};
    mark[root] = 1;
    while (!path.empty()) {
      auto& [index, next] = path.back();
      const Node& node = nodes[index];
      if (next < node.inputs.size()) {
        const TensorRef& in = node.inputs[next++];
        if (in.empty()) continue;
        const int producer = graph.NodeIndex(in.node);
        if (mark[producer] == 1) {
          return absl::InvalidArgumentError(absl::StrCat(NodeLabel(node), ": its input '",
                                                         in.ToString(),
                                                         "' depends on the node itself (a cycle)"));
        }
        if (mark[producer] == 0) {
          mark[producer] = 1;
          path.emplace_back(producer, 0);
        }
        continue;
      }
      mark[index] = 2;
      order.push_back(index);
      path.pop_back();
    }
  }
  return order;
}

// One value slot per output port of each needed node.
absl::StatusOr<SlotLayout> AssignSlots(const Graph& graph, const std::vector<int>& order,
                                       const std::vector<int>& max_port) {
  const bool onnx = graph.format() == ModelFormat::kOnnx;
  const std::vector<Node>& nodes = graph.nodes();
  SlotLayout layout;
  layout.first_slot.assign(nodes.size(), -1);
  layout.num_ports.assign(nodes.size(), 0);
  for (int index : order) {
    const Node& node = nodes[index];
    int ports = onnx ? static_cast<int>(node.output_names.size()) : max_port[index] + 1;
    ports = std::max(ports, 1);
    if (max_port[index] >= ports) {
      return absl::InvalidArgumentError(absl::StrCat(NodeLabel(node), " has ", ports, " output",
                                                     ports == 1 ? "" : "s", ", but output ",
                                                     max_port[index], " is read"));
    }
    if ((node.op == kPlaceholderOp || node.op == kConstOp) && max_port[index] > 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          NodeLabel(node), " has one output, but output ", max_port[index], " is read"));
    }
    layout.first_slot[index] = layout.num_slots;
    layout.num_ports[index] = ports;
    layout.num_slots += ports;
  }
  return layout;
}

// The stages of BuildPlan that fill in a Plan's private parts.
struct PlanStages {
  // Inputs in graph order; constants bound in place. `constant_of`: each node's constant value.
  static absl::Status BindInputsAndConstants(const Graph& graph, const std::vector<char>& needed,
                                             const SlotLayout& slots, Plan* plan,
                                             std::vector<const Tensor*>* constant_of) {
    const bool onnx = graph.format() == ModelFormat::kOnnx;
    const std::vector<Node>& nodes = graph.nodes();
    constant_of->assign(nodes.size(), nullptr);
    for (size_t index = 0; index < nodes.size(); ++index) {
      if (!needed[index]) continue;
      const Node& node = nodes[index];
      if (node.op == kPlaceholderOp) {
        ExecutionPlan::Input in;
        in.name = onnx && !node.output_names.empty() && !node.output_names[0].empty()
                      ? node.output_names[0]
                      : node.name;
        const DType* dtype = node.attrs.Get<DType>("dtype");
        if (dtype == nullptr || (!IsFixedWidth(*dtype) && *dtype != DType::kString)) {
          return absl::UnimplementedError(absl::StrCat(
              NodeLabel(node), ": graph input '", in.name, "' has ",
              dtype ? absl::StrCat("dtype ", DTypeName(*dtype)) : std::string("no dtype"),
              "; the executor takes numeric and string inputs only"));
        }
        in.dtype = *dtype;
        if (const Shape* shape = node.attrs.Get<Shape>("shape")) in.shape = *shape;
        plan->input_index_[in.name] = static_cast<int>(plan->inputs_.size());
        plan->inputs_.push_back(std::move(in));
        plan->input_slots_.push_back(slots.first_slot[index]);
      } else if (node.op == kConstOp) {
        const Tensor* value = node.attrs.Get<Tensor>("value");
        if (value == nullptr) {
          return absl::InvalidArgumentError(
              absl::StrCat(NodeLabel(node), ": the constant has no 'value' tensor"));
        }
        const Tensor& kept = plan->tensors_.emplace_back(*value);
        (*constant_of)[index] = &kept;
        TensorView view;
        view.dtype = kept.dtype();
        view.dims.assign(kept.dims().begin(), kept.dims().end());
        // Kernels only read inputs; the view needs a mutable pointer by its type alone.
        if (kept.dtype() == DType::kString) {
          std::vector<absl::string_view>& views = plan->string_constants_.emplace_back();
          for (const std::string& s : kept.strings()) views.emplace_back(s);
          view.data = views.data();
        } else {
          view.data = IsFixedWidth(kept.dtype()) ? const_cast<char*>(kept.bytes().data()) : nullptr;
        }
        plan->constants_.emplace_back(slots.first_slot[index], std::move(view));
      }
    }
    return absl::OkStatus();
  }

  // One step per computed node in `order`, its kernel made; `last_use` grows to each slot's
  // last reader. Every missing op is collected so that one error lists them all.
  static absl::Status MakeSteps(const Graph& graph, const KernelRegistry& registry,
                                const std::vector<int>& order, const SlotLayout& slots,
                                const std::vector<const Tensor*>& constant_of, Plan* plan,
                                std::vector<int>* last_use) {
    const OpSet op_set = OpSetOf(graph.format());
    std::vector<std::string> missing;
    std::string first_missing;
    for (int index : order) {
      const Node& node = graph.nodes()[index];
      if (node.op == kPlaceholderOp || node.op == kConstOp) continue;
      const KernelFactory* factory = registry.Find(op_set, node.op);
      if (factory == nullptr) {
        if (first_missing.empty()) {
          first_missing = MissingKernelMessage(registry, op_set, node);
        } else if (missing.size() < 10) {
          missing.push_back(absl::StrCat(node.op, " (node '", node.name, "')"));
        }
        continue;
      }
      if (!first_missing.empty()) continue;
      RANKOPT_ASSIGN_OR_RETURN(Step step,
                               MakeStep(graph, node, index, *factory, slots, constant_of, plan));
      const int step_index = static_cast<int>(plan->steps_.size());
      for (int slot : step.inputs) {
        if (slot >= 0 && (*last_use)[slot] != kForever)
          (*last_use)[slot] = std::max((*last_use)[slot], step_index);
      }
      plan->steps_.push_back(std::move(step));
    }
    if (!first_missing.empty()) {
      if (!missing.empty()) {
        absl::StrAppend(&first_missing,
                        "; other ops without a kernel: ", absl::StrJoin(missing, ", "));
      }
      return absl::UnimplementedError(first_missing);
    }
    return absl::OkStatus();
  }

  // The step of `node` (graph index `index`): its slots and its kernel.
  static absl::StatusOr<Step> MakeStep(const Graph& graph, const Node& node, int index,
                                       const KernelFactory& factory, const SlotLayout& slots,
                                       const std::vector<const Tensor*>& constant_of, Plan* plan) {
    const bool onnx = graph.format() == ModelFormat::kOnnx;
    Step step;
    step.node = &plan->nodes_.emplace_back(node);
    KernelBuildContext build;
    build.node = step.node;
    build.format = graph.format();
    build.onnx_opset = graph.onnx_opset();
    for (const TensorRef& in : node.inputs) {
      if (in.empty()) {
        step.inputs.push_back(-1);
        build.constant_inputs.push_back(nullptr);
        continue;
      }
      const int producer = graph.NodeIndex(in.node);
      step.inputs.push_back(slots.first_slot[producer] + in.port);
      build.constant_inputs.push_back(constant_of[producer]);
    }
    for (int port = 0; port < slots.num_ports[index]; ++port) {
      step.outputs.push_back(slots.first_slot[index] + port);
      step.required.push_back(!onnx || (port < static_cast<int>(node.output_names.size()) &&
                                        !node.output_names[port].empty()));
    }
    absl::StatusOr<std::unique_ptr<OpKernel>> kernel = factory(build);
    if (!kernel.ok()) return AtNode(node, kernel.status());
    if (*kernel == nullptr) {
      return absl::InternalError(
          absl::StrCat(NodeLabel(node), ": the kernel factory made no kernel"));
    }
    step.kernel = *std::move(kernel);
    return step;
  }

  // Free each step's outputs after their last reader (right away when nothing reads them).
  static void ScheduleReleases(const std::vector<int>& last_use, Plan* plan) {
    for (size_t s = 0; s < plan->steps_.size(); ++s) {
      for (int slot : plan->steps_[s].outputs) {
        const int last = last_use[slot] < 0 ? static_cast<int>(s) : last_use[slot];
        if (last != kForever) plan->steps_[last].release.push_back(slot);
      }
    }
  }
};

absl::StatusOr<std::unique_ptr<const ExecutionPlan>> BuildPlan(const Graph& graph,
                                                               const PlanOptions& options,
                                                               const KernelRegistry& registry) {
  RANKOPT_ASSIGN_OR_RETURN(std::vector<RequestedOutput> requested, ResolveOutputs(graph, options));
  RANKOPT_ASSIGN_OR_RETURN(const NeededNodes needed, MarkNeeded(graph, requested));
  RANKOPT_ASSIGN_OR_RETURN(const std::vector<int> order, ExecutionOrder(graph, needed.needed));
  RANKOPT_ASSIGN_OR_RETURN(const SlotLayout slots, AssignSlots(graph, order, needed.max_port));

  auto plan = std::make_unique<Plan>();
  plan->memory_cap_ = options.memory_cap_bytes;
  plan->num_slots_ = slots.num_slots;
  std::vector<const Tensor*> constant_of;
  RANKOPT_RETURN_IF_ERROR(
      PlanStages::BindInputsAndConstants(graph, needed.needed, slots, plan.get(), &constant_of));

  // Last reader of each slot; requested outputs live to the end.
  std::vector<int> last_use(static_cast<size_t>(slots.num_slots), -1);
  for (const RequestedOutput& o : requested) last_use[slots.SlotOf(graph, o.ref)] = kForever;
  RANKOPT_RETURN_IF_ERROR(
      PlanStages::MakeSteps(graph, registry, order, slots, constant_of, plan.get(), &last_use));
  PlanStages::ScheduleReleases(last_use, plan.get());

  for (RequestedOutput& o : requested) {
    plan->output_slots_.push_back(slots.SlotOf(graph, o.ref));
    plan->output_names_.push_back(std::move(o.name));
  }
  return std::unique_ptr<const ExecutionPlan>(std::move(plan));
}

}  // namespace

absl::StatusOr<std::unique_ptr<const ExecutionPlan>> ExecutionPlan::Create(
    const Graph& graph, const PlanOptions& options) {
  const KernelRegistry* registry = options.registry;
  if (registry == nullptr) {
    RANKOPT_RETURN_IF_ERROR(DefaultKernelsStatus());
    registry = &KernelRegistry::Default();
  }
  return BuildPlan(graph, options, *registry);
}

ThreadArenaStats CurrentThreadArenaStats() {
  const RunState& state = ThreadRunState();
  return ThreadArenaStats{state.arena.capacity(), state.arena.system_allocations(),
                          state.last_run_bytes};
}

}  // namespace rankopt
