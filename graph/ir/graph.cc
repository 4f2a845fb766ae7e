#include "graph/ir/graph.h"

#include <algorithm>
#include <charconv>
#include <queue>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/edit_distance.h"
#include "rankopt/status_macros.h"

namespace rankopt {
namespace {

// TF while loops feed NextIteration back into Merge: the one legal cycle in a GraphDef.
bool IsLoopBackEdge(const Node& producer) { return producer.op == "NextIteration"; }

}  // namespace

absl::string_view ModelFormatName(ModelFormat format) {
  switch (format) {
    case ModelFormat::kTfGraphDef:
      return "tf-graphdef";
    case ModelFormat::kTfGraphDefText:
      return "tf-graphdef-text";
    case ModelFormat::kTfSavedModel:
      return "tf-savedmodel";
    case ModelFormat::kOnnx:
      return "onnx";
  }
  return "unknown";
}

std::string TensorRef::ToString() const { return port == 0 ? node : absl::StrCat(node, ":", port); }

absl::StatusOr<TensorRef> ParseTensorName(absl::string_view name) {
  if (name.empty()) return absl::InvalidArgumentError("empty tensor name");
  if (name[0] == '^') {
    return absl::InvalidArgumentError(
        absl::StrCat("'", name, "' is a control input, expected a tensor name like 'node:0'"));
  }
  TensorRef ref{std::string(name), 0};
  size_t colon = name.rfind(':');
  if (colon == absl::string_view::npos || colon + 1 == name.size()) return ref;
  absl::string_view digits = name.substr(colon + 1);
  int port = 0;
  auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), port);
  if (ec != std::errc() || end != digits.data() + digits.size()) return ref;  // ':' in a name
  if (colon == 0) {
    return absl::InvalidArgumentError(absl::StrCat("tensor name '", name, "' has no node name"));
  }
  ref.node = std::string(name.substr(0, colon));
  ref.port = port;
  return ref;
}

const Node* Graph::FindNode(absl::string_view name) const {
  int i = NodeIndex(name);
  return i < 0 ? nullptr : &nodes_[i];
}

Node* Graph::FindMutableNode(absl::string_view name) {
  int i = NodeIndex(name);
  return i < 0 ? nullptr : &nodes_[i];
}

int Graph::NodeIndex(absl::string_view name) const {
  auto it = index_.find(name);
  return it == index_.end() ? -1 : it->second;
}

absl::Status Graph::AddNode(Node node) {
  if (node.name.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("a node of op '", node.op, "' has an empty name; every node needs a name"));
  }
  if (index_.contains(node.name)) {
    return absl::InvalidArgumentError(
        absl::StrCat("duplicate node name '", node.name, "'; node names must be unique"));
  }
  index_.emplace(node.name, static_cast<int>(nodes_.size()));
  nodes_.push_back(std::move(node));
  return absl::OkStatus();
}

absl::Status Graph::SetNodes(std::vector<Node> nodes) {
  nodes_ = std::move(nodes);
  return RebuildIndex();
}

absl::Status Graph::RebuildIndex() {
  index_.clear();
  index_.reserve(nodes_.size());
  for (size_t i = 0; i < nodes_.size(); ++i) {
    const Node& node = nodes_[i];
    if (node.name.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "node #", i, " (op '", node.op, "') has an empty name; every node needs a name"));
    }
    if (!index_.emplace(node.name, static_cast<int>(i)).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("duplicate node name '", node.name, "'; node names must be unique"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<TensorRef> Graph::ResolveTensor(absl::string_view name) const {
  if (FindNode(name) != nullptr) return TensorRef{std::string(name), 0};
  for (const GraphOutput& output : outputs_) {
    if (output.name == name) return output.ref;
  }
  for (const Node& node : nodes_) {
    for (size_t port = 0; port < node.output_names.size(); ++port) {
      if (node.output_names[port] == name) return TensorRef{node.name, static_cast<int>(port)};
    }
  }
  for (const Signature& signature : signatures_) {
    for (const SignatureTensor& output : signature.outputs) {
      if (output.key == name) return output.ref;
    }
  }
  absl::StatusOr<TensorRef> parsed = ParseTensorName(name);
  if (parsed.ok() && FindNode(parsed->node) != nullptr) return *parsed;

  std::vector<std::string> close = ClosestNames(name);
  return absl::NotFoundError(absl::StrCat(
      "no node or tensor named '", name, "' in the graph",
      close.empty() ? "" : absl::StrCat("; did you mean ", absl::StrJoin(close, ", "), "?")));
}

const Node* Graph::ConstantBehind(TensorRef ref) const {
  // Bounded: a malformed graph may hold an Identity cycle.
  for (size_t hops = 0; hops <= nodes_.size(); ++hops) {
    const Node* node = FindNode(ref.node);
    if (node == nullptr || ref.port != 0) return nullptr;
    if (node->op == kConstOp) return node;
    if (node->op != "Identity" || node->inputs.size() != 1) return nullptr;
    ref = node->inputs[0];
  }
  return nullptr;
}

std::vector<std::string> Graph::ClosestNames(absl::string_view name, int limit) const {
  std::vector<std::pair<size_t, std::string>> scored;
  absl::flat_hash_set<std::string> seen;
  auto consider = [&](const std::string& candidate) {
    if (!seen.insert(candidate).second) return;
    scored.emplace_back(EditDistance(name, candidate), candidate);
  };
  for (const Node& node : nodes_) {
    consider(node.name);
    for (const std::string& tensor : node.output_names) consider(tensor);
  }
  for (const GraphOutput& output : outputs_) consider(output.name);
  for (const Signature& signature : signatures_) {
    for (const SignatureTensor& output : signature.outputs) consider(output.key);
  }
  std::sort(scored.begin(), scored.end());
  std::vector<std::string> best;
  for (const auto& [distance, candidate] : scored) {
    if (static_cast<int>(best.size()) == limit) break;
    // Only suggest names that are plausibly typos of each other.
    if (distance > std::max<size_t>(3, name.size() / 2)) break;
    best.push_back("'" + candidate + "'");
  }
  return best;
}

absl::Status Graph::Validate() const {
  for (const Node& node : nodes_) {
    for (size_t i = 0; i < node.inputs.size(); ++i) {
      const TensorRef& input = node.inputs[i];
      if (input.empty()) continue;
      const Node* producer = FindNode(input.node);
      if (producer == nullptr) {
        return absl::InvalidArgumentError(
            absl::StrCat("node '", node.name, "' (", node.op, ") input ", i, " refers to '",
                         input.ToString(), "', which is not a node in the graph"));
      }
      if (input.port < 0 || (!producer->output_names.empty() &&
                             input.port >= static_cast<int>(producer->output_names.size()))) {
        return absl::InvalidArgumentError(absl::StrCat(
            "node '", node.name, "' input ", i, " reads output ", input.port, " of '",
            producer->name, "', which has ", producer->output_names.size(), " outputs"));
      }
    }
    for (const std::string& control : node.control_inputs) {
      if (FindNode(control) == nullptr) {
        return absl::InvalidArgumentError(absl::StrCat("node '", node.name,
                                                       "' has a control input on '", control,
                                                       "', which is not a node in the graph"));
      }
    }
  }
  for (const GraphOutput& output : outputs_) {
    if (FindNode(output.ref.node) == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat(
          "graph output '", output.name, "' refers to missing node '", output.ref.node, "'"));
    }
  }
  return TopologicalOrder().status();
}

absl::StatusOr<std::vector<int>> Graph::TopologicalOrder() const {
  const int n = static_cast<int>(nodes_.size());
  std::vector<int> pending(n, 0);
  std::vector<std::vector<int>> consumers(n);
  auto add_edge = [&](int from, int to) {
    ++pending[to];
    consumers[from].push_back(to);
  };
  for (int i = 0; i < n; ++i) {
    for (const TensorRef& input : nodes_[i].inputs) {
      if (input.empty()) continue;
      int producer = NodeIndex(input.node);
      if (producer < 0) {
        return absl::InvalidArgumentError(
            absl::StrCat("node '", nodes_[i].name, "' reads missing node '", input.node, "'"));
      }
      if (!IsLoopBackEdge(nodes_[producer])) add_edge(producer, i);
    }
    for (const std::string& control : nodes_[i].control_inputs) {
      int producer = NodeIndex(control);
      if (producer < 0) {
        return absl::InvalidArgumentError(absl::StrCat(
            "node '", nodes_[i].name, "' has a control input on missing node '", control, "'"));
      }
      add_edge(producer, i);
    }
  }
  // Smallest index first: the order is deterministic and close to the source order.
  std::priority_queue<int, std::vector<int>, std::greater<int>> ready;
  for (int i = 0; i < n; ++i) {
    if (pending[i] == 0) ready.push(i);
  }
  std::vector<int> order;
  order.reserve(n);
  while (!ready.empty()) {
    int i = ready.top();
    ready.pop();
    order.push_back(i);
    for (int c : consumers[i]) {
      if (--pending[c] == 0) ready.push(c);
    }
  }
  if (static_cast<int>(order.size()) != n) {
    for (int i = 0; i < n; ++i) {
      if (pending[i] > 0) {
        return absl::InvalidArgumentError(absl::StrCat("the graph has a cycle through node '",
                                                       nodes_[i].name, "' (", nodes_[i].op,
                                                       "); a model graph must be acyclic"));
      }
    }
  }
  return order;
}

}  // namespace rankopt
