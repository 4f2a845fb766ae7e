#include "graph/ops/shape_context.h"

#include <algorithm>
#include <limits>
#include <string>
#include <utility>
#include <vector>

namespace rankopt {
namespace shape_fn {

std::optional<int64_t> CheckedMul(int64_t a, int64_t b) {
  int64_t r;
  if (__builtin_mul_overflow(a, b, &r)) return std::nullopt;
  return r;
}
std::optional<int64_t> CheckedAdd(int64_t a, int64_t b) {
  int64_t r;
  if (__builtin_add_overflow(a, b, &r)) return std::nullopt;
  return r;
}
std::optional<int64_t> CheckedSub(int64_t a, int64_t b) {
  int64_t r;
  if (__builtin_sub_overflow(a, b, &r)) return std::nullopt;
  return r;
}

// Dimension arithmetic where unknown (negative) operands or overflow give an unknown dim.
int64_t MulDims(int64_t a, int64_t b) {
  if (a < 0 || b < 0) return kUnknownDim;
  return CheckedMul(a, b).value_or(kUnknownDim);
}
int64_t AddDims(int64_t a, int64_t b) {
  if (a < 0 || b < 0) return kUnknownDim;
  return CheckedAdd(a, b).value_or(kUnknownDim);
}

// Axis in [-rank, rank) -> [0, rank); nullopt when out of range.
std::optional<int> NormalizeAxis(int64_t axis, int64_t rank) {
  if (rank < 0 || axis < -rank || axis >= rank) return std::nullopt;
  return static_cast<int>(axis < 0 ? axis + rank : axis);
}

bool IsIntType(DType t) { return t == DType::kInt32 || t == DType::kInt64; }

// Negative dims become kUnknownDim; absurd ranks become unknown rank.
Shape Sanitize(const Shape& s) {
  if (!s.known_rank()) return s;
  if (s.rank() > kMaxRank) return Shape();
  Dims dims = s.dims();
  for (int64_t& d : dims) {
    if (d < 0) d = kUnknownDim;
  }
  return Shape(std::move(dims));
}

// Numpy broadcasting; unknown rank when either side is unknown or the shapes are incompatible.
Shape Broadcast(const Shape& a, const Shape& b) {
  if (!a.known_rank() || !b.known_rank()) return Shape();
  const int ra = a.rank(), rb = b.rank();
  const int r = std::max(ra, rb);
  Dims out(r);
  for (int i = 0; i < r; ++i) {
    const int64_t da = i < r - ra ? 1 : a.dim(i - (r - ra));
    const int64_t db = i < r - rb ? 1 : b.dim(i - (r - rb));
    if (da == 1) {
      out[i] = db;
    } else if (db == 1) {
      out[i] = da;
    } else if (da == kUnknownDim) {
      out[i] = db;  // db is known and != 1, so da must equal it (or be 1, which we cannot tell)
      if (db == kUnknownDim) out[i] = kUnknownDim;
    } else if (db == kUnknownDim || da == db) {
      out[i] = da;
    } else {
      return Shape();
    }
  }
  // "unknown vs known N" could be 1 vs N (-> N) or N vs N (-> N): N either way, as above.
  return Shape(std::move(out));
}

// Two views of one tensor: same rank, dims known from either; nullopt on a conflict.
std::optional<Shape> MergeShapes(const Shape& a, const Shape& b) {
  if (!a.known_rank()) return b;
  if (!b.known_rank()) return a;
  if (a.rank() != b.rank()) return std::nullopt;
  Dims out = a.dims();
  for (int i = 0; i < a.rank(); ++i) {
    if (out[i] == kUnknownDim) {
      out[i] = b.dim(i);
    } else if (b.dim(i) != kUnknownDim && b.dim(i) != out[i]) {
      return std::nullopt;
    }
  }
  return Shape(std::move(out));
}

std::optional<Dims> TensorInts(const Tensor& t, int64_t max_elements) {
  if (t.num_elements() > max_elements) return std::nullopt;
  Dims out;
  if (t.dtype() == DType::kInt64) {
    for (int64_t v : t.values<int64_t>()) out.push_back(v);
  } else if (t.dtype() == DType::kInt32) {
    for (int32_t v : t.values<int32_t>()) out.push_back(v);
  } else {
    return std::nullopt;
  }
  return out;
}

std::optional<int64_t> AttrInt(const Node& n, absl::string_view name) {
  const AttrValue* v = n.attrs.Find(name);
  if (v == nullptr) return std::nullopt;
  if (const auto* i = std::get_if<int64_t>(v)) return *i;
  if (const auto* b = std::get_if<bool>(v)) return *b ? 1 : 0;
  return std::nullopt;
}

bool AttrBool(const Node& n, absl::string_view name, bool default_value) {
  std::optional<int64_t> v = AttrInt(n, name);
  return v ? *v != 0 : default_value;
}

std::optional<Dims> AttrInts(const Node& n, absl::string_view name) {
  const AttrValue* v = n.attrs.Find(name);
  if (v == nullptr) return std::nullopt;
  if (const auto* l = std::get_if<std::vector<int64_t>>(v)) return *l;
  if (const auto* i = std::get_if<int64_t>(v)) return Dims{*i};
  if (const auto* t = std::get_if<Tensor>(v)) return TensorInts(*t, 1 << 16);
  return std::nullopt;
}

std::string AttrString(const Node& n, absl::string_view name) {
  const std::string* s = n.attrs.Get<std::string>(name);
  return s ? *s : std::string();
}

DType AttrDType(const Node& n, absl::string_view name) {
  const AttrValue* v = n.attrs.Find(name);
  if (v == nullptr) return DType::kInvalid;
  if (const auto* d = std::get_if<DType>(v)) return *d;
  if (const auto* i = std::get_if<int64_t>(v)) return DTypeFromOnnxEnum(*i);
  return DType::kInvalid;
}

bool OneOf(absl::string_view op, std::initializer_list<absl::string_view> ops) {
  return std::find(ops.begin(), ops.end(), op) != ops.end();
}

}  // namespace shape_fn

using shape_fn::IsIntType;
using shape_fn::kMaxRank;
using shape_fn::kUnknownDim;
using shape_fn::kUnknownElem;
using shape_fn::TensorInts;

const InferredTensor& LookupInferred(const ShapeMap& shapes, const TensorRef& ref) {
  static const InferredTensor* const kUnknown = new InferredTensor();
  auto it = shapes.find(ref);
  return it == shapes.end() ? *kUnknown : it->second;
}

Shape ShapeContext::ShapeFromValue(const Node& n, size_t i) const {
  if (const IntValue* v = InInt(n, i)) {
    if (v->dims.size() > 1 || static_cast<int64_t>(v->elems.size()) > kMaxRank) return Shape();
    Dims dims;
    for (int64_t e : v->elems) dims.push_back(e < 0 ? kUnknownDim : e);
    return Shape(std::move(dims));
  }
  // The value is unknown but its length tells the rank.
  const Shape s = In(n, i).shape;
  if (s.known_rank() && s.rank() == 1 && s.dim(0) >= 0 && s.dim(0) <= kMaxRank) {
    return Shape(Dims(s.dim(0), kUnknownDim));
  }
  return Shape();
}

void ShapeContext::SetInt(const Node& n, int port, DType dtype, IntValue v) {
  InferredTensor t;
  t.dtype = dtype;
  t.shape = Shape(v.dims);
  if (v.FullyKnown() && static_cast<int64_t>(v.elems.size()) <= kMaxInferredValueElements) {
    absl::StatusOr<Tensor> tensor;
    if (dtype == DType::kInt32) {
      std::vector<int32_t> narrow;
      bool fits = true;
      for (int64_t e : v.elems) {
        fits = fits && e >= std::numeric_limits<int32_t>::min() &&
               e <= std::numeric_limits<int32_t>::max();
        narrow.push_back(static_cast<int32_t>(e));
      }
      if (fits) tensor = Tensor::FromValues<int32_t>(v.dims, narrow);
    } else if (dtype == DType::kInt64) {
      tensor = Tensor::FromValues<int64_t>(v.dims, v.elems);
    }
    if (tensor.ok()) t.value = *std::move(tensor);
  }
  map_[TensorRef{n.name, port}] = std::move(t);
  ints_[TensorRef{n.name, port}] = std::move(v);
}

void ShapeContext::SetConst(const Node& n, int port, const Tensor& t) {
  if (IsIntType(t.dtype())) {
    if (std::optional<Dims> elems = TensorInts(t, kMaxInferredValueElements)) {
      SetInt(n, port, t.dtype(), IntValue{t.dims(), *std::move(elems)});
      return;
    }
  }
  InferredTensor out;
  out.dtype = t.dtype();
  out.shape = Shape(t.dims());
  if (t.num_elements() <= kMaxInferredValueElements) out.value = t;
  SetTensor(n, port, std::move(out));
}

namespace shape_fn {

void UnaryShape(const Node& n, ShapeContext* ctx) {
  ctx->Set(n, 0, ctx->InDType(n, 0), ctx->In(n, 0).shape);
}

void ElementwiseShape(const Node& n, ShapeContext* ctx, DType out_dtype) {
  Shape shape = ctx->In(n, 0).shape;
  DType dtype = DType::kInvalid;
  bool first = true;
  for (size_t i = 0; i < n.inputs.size(); ++i) {
    if (n.inputs[i].empty()) continue;
    shape = first ? ctx->In(n, i).shape : Broadcast(shape, ctx->In(n, i).shape);
    first = false;
    if (dtype == DType::kInvalid) dtype = ctx->In(n, i).dtype;
  }
  if (dtype == DType::kInvalid) dtype = AttrDType(n, "T");
  ctx->Set(n, 0, out_dtype != DType::kInvalid ? out_dtype : dtype, shape);
}

}  // namespace shape_fn
}  // namespace rankopt
