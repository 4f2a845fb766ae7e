#include "graph/passes/embedding_bag.h"

#include <cmath>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "graph/analysis/shape_inference.h"
#include "graph/kernels/embedding/embedding_kernels.h"
#include "graph/passes/pass_util.h"
#include "rankopt/status_macros.h"

namespace rankopt {
namespace {

constexpr absl::string_view kPassName = "embedding_bag";

bool IsIndexType(DType dtype) { return dtype == DType::kInt32 || dtype == DType::kInt64; }

// The value of a one-element integer tensor, as inference knows it.
std::optional<int64_t> ScalarValue(const ShapeMap& shapes, const TensorRef& ref) {
  const InferredTensor& t = LookupInferred(shapes, ref);
  if (!t.value.has_value() || t.value->num_elements() != 1) return std::nullopt;
  std::optional<std::vector<int64_t>> v = pass_util::TensorInts(*t.value);
  if (!v.has_value()) return std::nullopt;
  return (*v)[0];
}

// The node producing output 0 that `ref` reads, looking through Identity chains, or nullptr.
const Node* ProducerThroughIdentities(const Graph& graph, TensorRef ref) {
  for (size_t hops = 0; hops <= graph.num_nodes(); ++hops) {  // bounded: Identity cycles
    const Node* node = graph.FindNode(ref.node);
    if (node == nullptr || ref.port != 0 || !node->control_inputs.empty()) return nullptr;
    if (node->op != "Identity" || node->inputs.size() != 1) return node;
    ref = node->inputs[0];
  }
  return nullptr;
}

// `ref`'s producer when it is a data-only `op` of `arity` inputs read at port 0, else nullptr.
const Node* ProducerOp(const Graph& graph, const TensorRef& ref, absl::string_view op,
                       size_t arity) {
  const Node* node = ref.port == 0 ? graph.FindNode(ref.node) : nullptr;
  if (node == nullptr || node->op != op || node->inputs.size() != arity ||
      !node->control_inputs.empty()) {
    return nullptr;
  }
  return node;
}

bool FiniteTable(const Tensor& table) {
  for (float v : table.values<float>()) {
    if (!std::isfinite(v)) return false;
  }
  return true;
}

// What a rewrite needs from the gathered side.
struct Gathered {
  const Node* table = nullptr;
  TensorRef ids;
  int64_t max_len = 0;  // L
};

class Matcher {
 public:
  Matcher(const Graph& graph, const ShapeMap& shapes) : graph_(graph), shapes_(shapes) {}

  // The table and ids when `ref` gathers rows of a constant finite float32 table with [B, L]
  // ids of static L (GatherV2 axis 0, no batch dims; Gather; an unwrapped lookup).
  std::optional<Gathered> MatchGather(const TensorRef& ref) {
    const Node* gather = ProducerThroughIdentities(graph_, ref);
    if (gather == nullptr) return std::nullopt;
    if (gather->op == "GatherV2") {
      if (gather->inputs.size() != 3 || ScalarValue(shapes_, gather->inputs[2]) != 0) {
        return std::nullopt;
      }
      const int64_t* batch_dims = gather->attrs.Get<int64_t>("batch_dims");
      if (batch_dims != nullptr && *batch_dims != 0) return std::nullopt;
    } else if (gather->op == kEmbeddingLookupOp) {
      const bool* wrap = gather->attrs.Get<bool>("wrap_negative_ids");
      if (gather->inputs.size() != 2 || (wrap != nullptr && *wrap)) return std::nullopt;
    } else if (gather->op != "Gather" || gather->inputs.size() != 2) {
      return std::nullopt;
    }
    const Node* table = graph_.ConstantBehind(gather->inputs[0]);
    const Tensor* value = table == nullptr ? nullptr : table->attrs.Get<Tensor>("value");
    if (value == nullptr || value->dtype() != DType::kFloat32 || value->dims().size() != 2) {
      return std::nullopt;
    }
    // A masked term is x * 0: zero only for a finite x.
    auto [it, inserted] = finite_.try_emplace(table->name, false);
    if (inserted) it->second = FiniteTable(*value);
    if (!it->second) return std::nullopt;
    const InferredTensor& ids = LookupInferred(shapes_, gather->inputs[1]);
    if (!IsIndexType(ids.dtype) || !ids.shape.known_rank() || ids.shape.rank() != 2 ||
        ids.shape.dim(1) < 0) {
      return std::nullopt;
    }
    return Gathered{table, gather->inputs[1], ids.shape.dim(1)};
  }

  // The [n, 1] lengths column when `ref` is Cast<float>(ExpandDims(Less(iota, lens), -1)) with
  // iota = [0, 1, ..., max_len - 1].
  std::optional<TensorRef> MatchMask(const TensorRef& ref, int64_t max_len) {
    const Node* cast = ProducerOp(graph_, ref, "Cast", 1);
    if (cast == nullptr || DTypeOf(ref, *cast, "DstT") != DType::kFloat32) return std::nullopt;
    const Node* expand = ProducerOp(graph_, cast->inputs[0], "ExpandDims", 2);
    if (expand == nullptr) return std::nullopt;
    const Node* less = ProducerOp(graph_, expand->inputs[0], "Less", 2);
    if (less == nullptr || !IsIota(less->inputs[0], max_len)) return std::nullopt;
    const InferredTensor& lens = LookupInferred(shapes_, less->inputs[1]);
    if (!IsIndexType(lens.dtype) || !lens.shape.known_rank() || lens.shape.rank() != 2 ||
        lens.shape.dim(1) != 1) {
      return std::nullopt;
    }
    // Less([L], [n, 1]) is [n, L] (bool); the mask must become [n, L, 1].
    const std::optional<int64_t> axis = ScalarValue(shapes_, expand->inputs[1]);
    if (axis != -1 && axis != 2) return std::nullopt;
    return less->inputs[1];
  }

  // The lengths the bag reads for the lens column `col` [n, 1]: the [n] tensor sequence_mask
  // expanded when every step is exact, else `col` itself. Sets *constant for a constant column.
  TensorRef PeelLengths(const TensorRef& col, const Tensor** constant) {
    *constant = nullptr;
    if (const Node* c = graph_.ConstantBehind(col)) {
      *constant = c->attrs.Get<Tensor>("value");
      if (*constant != nullptr && IsIndexType((*constant)->dtype())) return col;
      *constant = nullptr;
    }
    TensorRef ref = col;
    if (const Node* cast = ProducerOp(graph_, ref, "Cast", 1)) {
      const DType from = LookupInferred(shapes_, cast->inputs[0]).dtype;
      const DType to = LookupInferred(shapes_, ref).dtype;
      // int32 -> int64 and same-type casts keep every value; a narrowing one stays in the graph.
      if (!IsIndexType(from) || (from != to && to != DType::kInt64)) return col;
      ref = cast->inputs[0];
    }
    if (const Node* expand = ProducerOp(graph_, ref, "ExpandDims", 2)) {
      const InferredTensor& x = LookupInferred(shapes_, expand->inputs[0]);
      if (IsIndexType(x.dtype) && x.shape.known_rank() && x.shape.rank() == 1 &&
          IsLastAxis(expand->inputs[1], expand->inputs[0])) {
        return expand->inputs[0];
      }
    }
    return ref;
  }

 private:
  // True when `axis` is a constant that appends one axis to `x`: -1 or rank(x).
  bool IsLastAxis(const TensorRef& axis, const TensorRef& x) const {
    const std::optional<int64_t> a = ScalarValue(shapes_, axis);
    const Shape& s = LookupInferred(shapes_, x).shape;
    return a == -1 || (a.has_value() && s.known_rank() && *a == s.rank());
  }

  // The dtype of `ref` (output 0 of `node`), inferred or from attr `attr`.
  DType DTypeOf(const TensorRef& ref, const Node& node, absl::string_view attr) const {
    const DType inferred = LookupInferred(shapes_, ref).dtype;
    if (inferred != DType::kInvalid) return inferred;
    const DType* d = node.attrs.Get<DType>(attr);
    return d == nullptr ? DType::kInvalid : *d;
  }

  // True when `ref` is [0, 1, ..., len - 1]: a constant, or Range(0, limit, 1) with limit == len.
  bool IsIota(const TensorRef& ref, int64_t len) const {
    if (const Node* c = graph_.ConstantBehind(ref)) {
      const Tensor* t = c->attrs.Get<Tensor>("value");
      if (t == nullptr || t->dims().size() != 1) return false;
      std::optional<std::vector<int64_t>> v = pass_util::TensorInts(*t);
      if (!v.has_value() || static_cast<int64_t>(v->size()) != len) return false;
      for (int64_t i = 0; i < len; ++i) {
        if ((*v)[i] != i) return false;
      }
      return true;
    }
    const Node* range = ProducerOp(graph_, ref, "Range", 3);
    // Known integer values make an integer range.
    return range != nullptr && ScalarValue(shapes_, range->inputs[0]) == 0 &&
           ScalarValue(shapes_, range->inputs[1]) == len &&
           ScalarValue(shapes_, range->inputs[2]) == 1;
  }

  const Graph& graph_;
  const ShapeMap& shapes_;
  absl::flat_hash_map<std::string, bool> finite_;  // table node -> all values finite
};

// A constant [n, 1] (or [n]) lengths column as an [n] tensor.
absl::StatusOr<Tensor> FlattenLengths(const Tensor& col) {
  const int64_t n = col.num_elements();
  return Tensor::FromBytes(col.dtype(), {n}, col.bytes());
}

}  // namespace

absl::StatusOr<PassReport> EmbeddingBagPass(const Graph& in, const PassOptions& /*options*/,
                                            Graph* out) {
  if (out == nullptr) return absl::InvalidArgumentError("EmbeddingBagPass: `out` is null");
  PassReport report;
  report.pass = std::string(kPassName);
  if (in.format() == ModelFormat::kOnnx) {
    report.notes.push_back("ONNX graph: masked pooling is recognised in TF graphs only");
    RecordNodeCounts(in, in, &report);
    if (out != &in) *out = in;
    return report;
  }
  RANKOPT_ASSIGN_OR_RETURN(ShapeMap shapes, InferShapes(in));
  Matcher matcher(in, shapes);
  absl::flat_hash_set<std::string> names = pass_util::NodeNames(in);
  absl::flat_hash_map<std::string, int> readers;  // node -> data inputs reading it
  for (const Node& node : in.nodes()) {
    for (const TensorRef& ref : node.inputs) {
      if (!ref.empty()) ++readers[ref.node];
    }
  }

  std::vector<Node> nodes;
  nodes.reserve(in.num_nodes());
  int64_t rewritten = 0, shared_mul = 0;
  for (const Node& sum : in.nodes()) {
    // Guard ladder: each `continue` names a condition the rewrite needs.
    nodes.push_back(sum);
    if (sum.op != "Sum" || sum.inputs.size() != 2 || !sum.control_inputs.empty()) continue;
    const bool* keep_dims = sum.attrs.Get<bool>("keep_dims");
    if (keep_dims != nullptr && *keep_dims) continue;
    const std::optional<int64_t> axis = ScalarValue(shapes, sum.inputs[1]);
    if (axis != 1 && axis != -2) continue;
    const Node* mul = ProducerOp(in, sum.inputs[0], "Mul", 2);
    if (mul == nullptr) continue;
    std::optional<Gathered> gathered;
    std::optional<TensorRef> lens;
    for (int side : {0, 1}) {
      gathered = matcher.MatchGather(mul->inputs[side]);
      if (gathered.has_value()) lens = matcher.MatchMask(mul->inputs[1 - side], gathered->max_len);
      if (lens.has_value()) break;
    }
    if (!lens.has_value()) continue;

    const Tensor* constant = nullptr;
    TensorRef lengths = matcher.PeelLengths(*lens, &constant);
    if (constant != nullptr) {
      RANKOPT_ASSIGN_OR_RETURN(Tensor flat, FlattenLengths(*constant));
      Node c = pass_util::MakeConst(in, pass_util::UniqueName(sum.name + "/lengths", &names),
                                    std::move(flat));
      c.device = sum.device;
      lengths = TensorRef{c.name, 0};
      nodes.insert(nodes.end() - 1, std::move(c));
    }
    Node bag;
    bag.name = sum.name;
    bag.op = std::string(kEmbeddingBagOp);
    bag.device = sum.device;
    bag.inputs = {TensorRef{gathered->table->name, 0}, gathered->ids, lengths};
    bag.attrs.Set("mode", std::string("sum"));
    nodes.back() = std::move(bag);
    ++rewritten;
    if (readers[mul->name] > 1) ++shared_mul;
  }
  if (rewritten == 0) {
    report.notes.push_back("no masked sum over a gathered sequence");
    RecordNodeCounts(in, in, &report);
    if (out != &in) *out = in;
    return report;
  }
  Graph result = in;
  RANKOPT_RETURN_IF_ERROR(result.SetNodes(std::move(nodes)));
  RANKOPT_RETURN_IF_ERROR(result.Validate());
  report.changed = true;
  report.notes.push_back(absl::StrCat(
      "rewrote ", rewritten, " masked Sum(s) over gathered sequences into embedding bags"));
  if (shared_mul > 0) {
    report.notes.push_back(
        absl::StrCat(shared_mul, " masked product(s) stay: other nodes read them"));
  }
  RecordNodeCounts(in, result, &report);
  *out = std::move(result);
  return report;
}

}  // namespace rankopt
