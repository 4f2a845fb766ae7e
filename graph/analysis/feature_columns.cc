#include "graph/analysis/feature_columns.h"

#include <algorithm>
#include <deque>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "graph/ir/table_attrs.h"

namespace rankopt {
namespace {

constexpr int kMaxWalk = 200;  // nodes visited per column when looking for its inputs

// Graph inputs (signature keys where a signature names the tensor, else Placeholder names)
// upstream of `start`, nearest first.
std::vector<std::string> InputsOf(const Graph& graph, const Node& start,
                                  const absl::flat_hash_map<TensorRef, std::string>& keys) {
  std::vector<std::string> found;
  absl::flat_hash_set<std::string> seen;
  std::deque<TensorRef> queue(start.inputs.begin(), start.inputs.end());
  int visited = 0;
  while (!queue.empty() && visited++ < kMaxWalk) {
    const TensorRef ref = queue.front();
    queue.pop_front();
    if (ref.empty()) continue;
    if (auto it = keys.find(ref); it != keys.end()) {
      if (std::find(found.begin(), found.end(), it->second) == found.end()) {
        found.push_back(it->second);
      }
      continue;
    }
    if (!seen.insert(ref.node).second) continue;
    const Node* node = graph.FindNode(ref.node);
    if (node == nullptr || node->op == kConstOp) continue;
    if (node->op == kPlaceholderOp) {
      if (std::find(found.begin(), found.end(), node->name) == found.end()) {
        found.push_back(node->name);
      }
      continue;
    }
    if (node->op == "HashTableV2" || node->op == "MutableHashTableV2") continue;
    for (const TensorRef& in : node->inputs) queue.push_back(in);
  }
  return found;
}

const Node* TableBehind(const Graph& graph, TensorRef ref) {
  for (int hops = 0; hops < 64; ++hops) {
    const Node* node = graph.FindNode(ref.node);
    if (node == nullptr) return nullptr;
    if (node->op != "Identity" || node->inputs.empty()) return node;
    ref = node->inputs[0];
  }
  return nullptr;
}

}  // namespace

std::vector<FeatureColumnInfo> FindFeatureColumns(const Graph& graph) {
  absl::flat_hash_map<TensorRef, std::string> keys;
  for (const Signature& s : graph.signatures()) {
    for (const SignatureTensor& t : s.inputs) keys.emplace(t.ref, t.key);
  }
  std::vector<FeatureColumnInfo> columns;
  for (const Node& node : graph.nodes()) {
    FeatureColumnInfo c;
    if (node.op == "StringToHashBucketFast" || node.op == "StringToHashBucketStrong" ||
        node.op == "StringToHashBucket") {
      c.kind = "hashed";
      if (const int64_t* b = node.attrs.Get<int64_t>("num_buckets")) c.buckets = *b;
    } else if (node.op == "LookupTableFindV2") {
      c.kind = "vocabulary";
      const Node* table = node.inputs.empty() ? nullptr : TableBehind(graph, node.inputs[0]);
      if (table != nullptr) {
        if (const Tensor* k = table->attrs.Get<Tensor>(kTableKeysAttr))
          c.buckets = k->num_elements();
        if (const std::string* src = table->attrs.Get<std::string>(kTableSourceAttr))
          c.detail = *src;
      }
    } else if (node.op == "Bucketize") {
      c.kind = "bucketized";
      if (const auto* b = node.attrs.Get<std::vector<float>>("boundaries")) {
        c.buckets = static_cast<int64_t>(b->size()) + 1;
      }
    } else if (node.op == "BoostedTreesBucketize") {
      c.kind = "bucketized";
      if (const int64_t* n = node.attrs.Get<int64_t>("num_features")) {
        c.detail = absl::StrCat(*n, " feature", *n == 1 ? "" : "s", ", quantile boundaries");
      }
    } else if (node.op == "SparseCross" || node.op == "SparseCrossHashed" ||
               node.op == "SparseCrossV2") {
      c.kind = "crossed";
      if (const int64_t* b = node.attrs.Get<int64_t>("num_buckets"); b != nullptr && *b > 0) {
        c.buckets = *b;
      }
    } else if (node.op == "ParseExample" || node.op == "ParseExampleV2" ||
               node.op == "ParseSingleExample") {
      c.kind = "tf.Example parse";
      const auto* dense = node.attrs.Get<std::vector<DType>>("Tdense");
      const auto* sparse = node.attrs.Get<std::vector<DType>>("sparse_types");
      c.detail = absl::StrCat(dense ? dense->size() : 0, " dense, ", sparse ? sparse->size() : 0,
                              " sparse features");
    } else {
      continue;
    }
    c.node = node.name;
    c.op = node.op;
    c.inputs = InputsOf(graph, node, keys);
    columns.push_back(std::move(c));
  }
  return columns;
}

}  // namespace rankopt
