#include "graph/ops/op_info.h"

namespace rankopt {
namespace flops {

std::optional<int64_t> Mul(std::optional<int64_t> a, std::optional<int64_t> b) {
  int64_t r;
  if (!a || !b || __builtin_mul_overflow(*a, *b, &r)) return std::nullopt;
  return r;
}
std::optional<int64_t> Add(std::optional<int64_t> a, std::optional<int64_t> b) {
  int64_t r;
  if (!a || !b || __builtin_add_overflow(*a, *b, &r)) return std::nullopt;
  return r;
}

const Shape& InputShape(const Node& n, size_t i, const ShapeMap& shapes) {
  static const Shape* const kUnknown = new Shape();
  if (i >= n.inputs.size() || n.inputs[i].empty()) return *kUnknown;
  return LookupInferred(shapes, n.inputs[i]).shape;
}

std::optional<int64_t> OutputElements(const Node& n, const ShapeMap& shapes) {
  return LookupInferred(shapes, TensorRef{n.name, 0}).shape.NumElements();
}

bool AttrTrue(const Node& n, absl::string_view name) {
  const AttrValue* v = n.attrs.Find(name);
  if (v == nullptr) return false;
  if (const auto* b = std::get_if<bool>(v)) return *b;
  if (const auto* i = std::get_if<int64_t>(v)) return *i != 0;
  return false;
}

std::optional<int64_t> ContractingDim(const Shape& a, bool transposed) {
  if (!a.known_rank() || a.rank() == 0) return std::nullopt;
  int64_t k = a.rank() == 1 ? a.dim(0) : (transposed ? a.dim(a.rank() - 2) : a.dim(a.rank() - 1));
  if (k < 0) return std::nullopt;
  return k;
}

NodeFlops Counted(std::optional<int64_t> flops) {
  if (!flops) return NodeFlops{FlopsKind::kUncounted, 0};
  return NodeFlops{FlopsKind::kCounted, *flops};
}

NodeFlops DataMovement(const Node&, const ShapeMap&) {
  return NodeFlops{FlopsKind::kDataMovement, 0};
}

NodeFlops Elementwise(const Node& n, const ShapeMap& shapes) {
  return Counted(OutputElements(n, shapes));
}

NodeFlops Reduction(const Node& n, const ShapeMap& shapes) {
  return Counted(InputShape(n, 0, shapes).NumElements());
}

}  // namespace flops
}  // namespace rankopt
