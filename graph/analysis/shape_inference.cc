#include "graph/analysis/shape_inference.h"

#include <algorithm>
#include <cstring>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/string_view.h"
#include "core/status_macros.h"

namespace rankopt {
namespace {

using Dims = std::vector<int64_t>;
constexpr int64_t kUnknownDim = Shape::kUnknownDim;
// Marks an unknown element of a partially known integer value.
constexpr int64_t kUnknownElem = std::numeric_limits<int64_t>::min();
// Ranks beyond this are treated as garbage from an untrusted file.
constexpr int64_t kMaxRank = 64;

// An integer tensor whose dims are known and whose elements may be partly unknown, so that
// Shape([?,50]) -> StridedSlice -> Pack(., 50) still yields the Reshape target [?,50].
struct IntValue {
  Dims dims;
  std::vector<int64_t> elems;

  bool FullyKnown() const {
    return std::none_of(elems.begin(), elems.end(), [](int64_t e) { return e == kUnknownElem; });
  }
};

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

// ---- attributes (TF and ONNX spell the same idea with different value types) ----

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

// ---- the inference walk ----

class Inferencer {
 public:
  explicit Inferencer(int64_t batch_size) : batch_size_(batch_size) {}

  void Infer(const Node& n);
  ShapeMap TakeMap() { return std::move(map_); }

 private:
  // A copy: map_ rehashes as outputs are added, so references into it would dangle.
  InferredTensor In(const Node& n, size_t i) const {
    if (i >= n.inputs.size() || n.inputs[i].empty()) return InferredTensor();
    return LookupInferred(map_, n.inputs[i]);
  }
  bool HasInput(const Node& n, size_t i) const {
    return i < n.inputs.size() && !n.inputs[i].empty();
  }
  const IntValue* InInt(const Node& n, size_t i) const {
    if (i >= n.inputs.size() || n.inputs[i].empty()) return nullptr;
    auto it = ints_.find(n.inputs[i]);
    return it == ints_.end() ? nullptr : &it->second;
  }
  // Fully known integer elements of input i (a scalar or a vector of axes, say).
  std::optional<Dims> InInts(const Node& n, size_t i) const {
    const IntValue* v = InInt(n, i);
    if (v == nullptr || !v->FullyKnown()) return std::nullopt;
    return v->elems;
  }
  // Integer list from attribute `attr` or, when absent, from the value of input `input`.
  std::optional<Dims> AttrOrInput(const Node& n, absl::string_view attr, size_t input) const {
    if (n.attrs.Find(attr) != nullptr) return AttrInts(n, attr);
    return InInts(n, input);
  }
  // A shape read from the (partially known) value of a shape-vector input.
  Shape ShapeFromValue(const Node& n, size_t i) const;
  DType InDType(const Node& n, size_t i) const {
    DType d = In(n, i).dtype;
    return d != DType::kInvalid ? d : AttrDType(n, "T");
  }

  void Set(const Node& n, int port, DType dtype, Shape shape) {
    InferredTensor& t = map_[TensorRef{n.name, port}];
    t.dtype = dtype;
    t.shape = Sanitize(shape);
  }
  void SetTensor(const Node& n, int port, InferredTensor t) {
    t.shape = Sanitize(t.shape);
    map_[TensorRef{n.name, port}] = std::move(t);
  }
  // Records an integer value (and the public Tensor value when fully known and representable).
  void SetInt(const Node& n, int port, DType dtype, IntValue v);
  void SetConst(const Node& n, int port, const Tensor& t);
  void PassThrough(const Node& n, int port, size_t input) {
    SetTensor(n, port, In(n, input));
    // Copied before the insertion: ints_ may rehash, and `v` points into it.
    if (const IntValue* v = InInt(n, input)) {
      IntValue value = *v;
      ints_[TensorRef{n.name, port}] = std::move(value);
    }
  }

  void Placeholder(const Node& n);
  void Elementwise(const Node& n, DType out_dtype);
  void MatMul(const Node& n, bool ta, bool tb);
  void Gemm(const Node& n);
  void Concat(const Node& n, size_t first, size_t count, std::optional<int64_t> axis);
  void Reshape(const Node& n, bool onnx);
  void Squeeze(const Node& n, std::optional<Dims> axes);
  void Unsqueeze(const Node& n, std::optional<Dims> axes);
  void Gather(const Node& n, const Shape& params, DType dtype, std::optional<int64_t> axis,
              int64_t batch_dims);
  void Transpose(const Node& n, std::optional<Dims> perm);
  void ShapeOp(const Node& n, DType out_type);
  void Reduce(const Node& n, std::optional<Dims> axes, bool axes_known, bool keep,
              bool empty_means_all);
  void Split(const Node& n, size_t value_input, std::optional<int64_t> axis,
             std::optional<Dims> sizes, int num_outputs, bool allow_uneven);
  void Pack(const Node& n);
  void Unpack(const Node& n);
  void Tile(const Node& n);
  void OneHot(const Node& n, DType dtype);
  void Flatten(const Node& n);
  void Conv2D(const Node& n);
  void StridedSlice(const Node& n);
  void Slice(const Node& n, std::optional<Dims> starts, std::optional<Dims> ends,
             std::optional<Dims> axes, std::optional<Dims> steps, bool size_form);
  void BinaryIntValue(const Node& n, DType dtype);
  void Range(const Node& n);
  void FusedMatMul(const Node& n);
  void EmbeddingLookup(const Node& n);
  void EmbeddingBag(const Node& n);
  void RequestRows(const Node& n);
  void AttentionPooling(const Node& n);

  int64_t batch_size_;
  ShapeMap map_;
  absl::flat_hash_map<TensorRef, IntValue> ints_;
  absl::flat_hash_map<TensorRef, Shape> resource_shapes_;  // VarHandleOp -> variable shape
};

Shape Inferencer::ShapeFromValue(const Node& n, size_t i) const {
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

void Inferencer::SetInt(const Node& n, int port, DType dtype, IntValue v) {
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

void Inferencer::SetConst(const Node& n, int port, const Tensor& t) {
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

void Inferencer::Placeholder(const Node& n) {
  Shape shape;
  if (const Shape* s = n.attrs.Get<Shape>("shape")) shape = Sanitize(*s);
  if (batch_size_ >= 0 && shape.known_rank()) {
    Dims dims = shape.dims();
    for (int64_t& d : dims) {
      if (d == kUnknownDim) d = batch_size_;
    }
    shape = Shape(std::move(dims));
  }
  Set(n, 0, AttrDType(n, "dtype"), shape);
}

void Inferencer::Elementwise(const Node& n, DType out_dtype) {
  Shape shape = In(n, 0).shape;
  DType dtype = DType::kInvalid;
  bool first = true;
  for (size_t i = 0; i < n.inputs.size(); ++i) {
    if (n.inputs[i].empty()) continue;
    shape = first ? In(n, i).shape : Broadcast(shape, In(n, i).shape);
    first = false;
    if (dtype == DType::kInvalid) dtype = In(n, i).dtype;
  }
  if (dtype == DType::kInvalid) dtype = AttrDType(n, "T");
  Set(n, 0, out_dtype != DType::kInvalid ? out_dtype : dtype, shape);
}

void Inferencer::BinaryIntValue(const Node& n, DType dtype) {
  const IntValue* a = InInt(n, 0);
  const IntValue* b = InInt(n, 1);
  if (a == nullptr || b == nullptr || n.inputs.size() != 2) return;
  Shape out_shape = Broadcast(Shape(a->dims), Shape(b->dims));
  if (!out_shape.IsFullyDefined()) return;
  std::optional<int64_t> count = out_shape.NumElements();
  if (!count || *count > kMaxInferredValueElements) return;
  const int r = out_shape.rank();
  auto index_into = [&](const IntValue& v, int64_t linear) {
    // Walk the output index from the last axis, mapping broadcast axes of v to 0.
    int64_t idx = 0, stride = 1;
    const int rv = static_cast<int>(v.dims.size());
    for (int axis = r - 1; axis >= 0; --axis) {
      const int64_t coord = linear % out_shape.dim(axis);
      linear /= out_shape.dim(axis);
      const int va = axis - (r - rv);
      if (va < 0) continue;
      if (v.dims[va] != 1) idx += coord * stride;
      stride *= v.dims[va];
    }
    return idx;
  };
  IntValue out{out_shape.dims(), {}};
  for (int64_t i = 0; i < *count; ++i) {
    const int64_t x = a->elems[index_into(*a, i)];
    const int64_t y = b->elems[index_into(*b, i)];
    std::optional<int64_t> r2;
    if (x != kUnknownElem && y != kUnknownElem) {
      if (n.op == "Add" || n.op == "AddV2") {
        r2 = CheckedAdd(x, y);
      } else if (n.op == "Sub") {
        r2 = CheckedSub(x, y);
      } else if (n.op == "Mul") {
        r2 = CheckedMul(x, y);
      } else if (n.op == "FloorDiv" && y != 0) {  // x != INT64_MIN (that is kUnknownElem)
        int64_t q = x / y;
        if ((x % y != 0) && ((x < 0) != (y < 0))) --q;
        r2 = q;
      }
    }
    out.elems.push_back(r2.value_or(kUnknownElem));
  }
  SetInt(n, 0, dtype, std::move(out));
}

void Inferencer::MatMul(const Node& n, bool ta, bool tb) {
  const Shape a = In(n, 0).shape;
  const Shape b = In(n, 1).shape;
  DType dtype = n.op == "BatchMatMulV3" ? AttrDType(n, "Tout") : DType::kInvalid;
  if (dtype == DType::kInvalid) dtype = InDType(n, 0);
  if (!a.known_rank() || !b.known_rank() || a.rank() == 0 || b.rank() == 0) {
    Set(n, 0, dtype, Shape());
    return;
  }
  Dims ad = a.dims(), bd = b.dims();
  const bool drop_m = ad.size() == 1, drop_n = bd.size() == 1;
  if (drop_m) ad.insert(ad.begin(), 1);
  if (drop_n) bd.push_back(1);
  const size_t ra = ad.size(), rb = bd.size();
  const int64_t m = ta ? ad[ra - 1] : ad[ra - 2];
  const int64_t ka = ta ? ad[ra - 2] : ad[ra - 1];
  const int64_t kb = tb ? bd[rb - 1] : bd[rb - 2];
  const int64_t nn = tb ? bd[rb - 2] : bd[rb - 1];
  if (ka >= 0 && kb >= 0 && ka != kb) {
    Set(n, 0, dtype, Shape());
    return;
  }
  Shape batch =
      Broadcast(Shape(Dims(ad.begin(), ad.end() - 2)), Shape(Dims(bd.begin(), bd.end() - 2)));
  if (!batch.known_rank()) {
    Set(n, 0, dtype, Shape());
    return;
  }
  Dims out = batch.dims();
  if (!drop_m) out.push_back(m);
  if (!drop_n) out.push_back(nn);
  Set(n, 0, dtype, Shape(std::move(out)));
}

void Inferencer::Gemm(const Node& n) {
  const Shape a = In(n, 0).shape;
  const Shape b = In(n, 1).shape;
  const DType dtype = InDType(n, 0);
  if (!a.known_rank() || !b.known_rank() || a.rank() != 2 || b.rank() != 2) {
    Set(n, 0, dtype, Shape());
    return;
  }
  const bool ta = AttrBool(n, "transA", false), tb = AttrBool(n, "transB", false);
  const int64_t ka = ta ? a.dim(0) : a.dim(1);
  const int64_t kb = tb ? b.dim(1) : b.dim(0);
  if (ka >= 0 && kb >= 0 && ka != kb) {
    Set(n, 0, dtype, Shape());
    return;
  }
  Set(n, 0, dtype, Shape({ta ? a.dim(1) : a.dim(0), tb ? b.dim(0) : b.dim(1)}));
}

void Inferencer::Concat(const Node& n, size_t first, size_t count, std::optional<int64_t> axis) {
  DType dtype = DType::kInvalid;
  int rank = -1;
  for (size_t i = first; i < first + count; ++i) {
    if (dtype == DType::kInvalid) dtype = In(n, i).dtype;
    const Shape s = In(n, i).shape;
    if (!s.known_rank()) continue;
    if (rank >= 0 && rank != s.rank()) {
      Set(n, 0, dtype, Shape());
      return;
    }
    rank = s.rank();
  }
  std::optional<int> ax = axis ? NormalizeAxis(*axis, rank) : std::nullopt;
  if (rank < 0 || (axis && !ax) || count == 0) {  // an out-of-range axis: an invalid graph
    Set(n, 0, dtype, Shape());
    return;
  }
  if (!ax) {  // the axis is computed at run time: only the rank is known
    Set(n, 0, dtype, Shape(Dims(rank, kUnknownDim)));
    return;
  }
  Dims out(rank, kUnknownDim);
  int64_t along = 0;
  for (size_t i = first; i < first + count; ++i) {
    const Shape s = In(n, i).shape;
    if (!s.known_rank()) {
      along = kUnknownDim;
      continue;
    }
    for (int d = 0; d < rank; ++d) {
      if (d == *ax) continue;
      if (out[d] == kUnknownDim) out[d] = s.dim(d);
    }
    along = AddDims(along, s.dim(*ax));
  }
  out[*ax] = along;
  // Values: rank-1 integer vectors (shape arithmetic).
  if (rank == 1 && IsIntType(dtype)) {
    IntValue v{{0}, {}};
    for (size_t i = first; i < first + count; ++i) {
      const IntValue* part = InInt(n, i);
      if (part == nullptr || part->dims.size() != 1) {
        Set(n, 0, dtype, Shape(out));
        return;
      }
      v.elems.insert(v.elems.end(), part->elems.begin(), part->elems.end());
    }
    v.dims[0] = static_cast<int64_t>(v.elems.size());
    if (v.dims[0] <= kMaxInferredValueElements) {
      SetInt(n, 0, dtype, std::move(v));
      return;
    }
  }
  Set(n, 0, dtype, Shape(std::move(out)));
}

void Inferencer::Reshape(const Node& n, bool onnx) {
  const InferredTensor in = In(n, 0);
  Shape target = ShapeFromValue(n, 1);
  const IntValue* tv = InInt(n, 1);
  if (target.known_rank() && tv != nullptr) {
    // Re-read the raw elements: -1 means "infer", ONNX 0 means "copy the input dim".
    Dims dims;
    int infer_at = -1;
    const bool allow_zero = AttrBool(n, "allowzero", false);
    for (size_t i = 0; i < tv->elems.size(); ++i) {
      int64_t e = tv->elems[i];
      if (e == kUnknownElem) {
        dims.push_back(kUnknownDim);
      } else if (e == -1) {
        if (infer_at >= 0) {
          Set(n, 0, in.dtype, Shape(Dims(tv->elems.size(), kUnknownDim)));
          return;
        }
        infer_at = static_cast<int>(i);
        dims.push_back(kUnknownDim);
      } else if (e == 0 && onnx && !allow_zero) {
        const bool have = in.shape.known_rank() && static_cast<int>(i) < in.shape.rank();
        dims.push_back(have ? in.shape.dim(static_cast<int>(i)) : kUnknownDim);
      } else {
        dims.push_back(e < 0 ? kUnknownDim : e);
      }
    }
    if (infer_at >= 0) {
      std::optional<int64_t> total = in.shape.NumElements();
      int64_t known = 1;
      bool all_known = true;
      for (size_t i = 0; i < dims.size(); ++i) {
        if (static_cast<int>(i) == infer_at) continue;
        if (dims[i] < 0) {
          all_known = false;
          break;
        }
        known = MulDims(known, dims[i]);
      }
      if (total && all_known && known > 0 && *total % known == 0) dims[infer_at] = *total / known;
    }
    target = Shape(std::move(dims));
  }
  const IntValue* v = InInt(n, 0);
  if (v != nullptr && target.IsFullyDefined() &&
      target.NumElements() == static_cast<int64_t>(v->elems.size())) {
    SetInt(n, 0, in.dtype, IntValue{target.dims(), v->elems});
    return;
  }
  Set(n, 0, in.dtype, target);
}

void Inferencer::Squeeze(const Node& n, std::optional<Dims> axes) {
  const InferredTensor in = In(n, 0);
  const Shape& s = in.shape;
  if (!s.known_rank()) {
    Set(n, 0, in.dtype, Shape());
    return;
  }
  std::vector<bool> drop(s.rank(), false);
  if (!axes || axes->empty()) {
    for (int i = 0; i < s.rank(); ++i) {
      if (s.dim(i) == kUnknownDim) {
        Set(n, 0, in.dtype, Shape());  // cannot tell whether it is 1
        return;
      }
      drop[i] = s.dim(i) == 1;
    }
  } else {
    for (int64_t a : *axes) {
      std::optional<int> ax = NormalizeAxis(a, s.rank());
      if (!ax || (s.dim(*ax) != 1 && s.dim(*ax) != kUnknownDim)) {
        Set(n, 0, in.dtype, Shape());
        return;
      }
      drop[*ax] = true;
    }
  }
  Dims out;
  for (int i = 0; i < s.rank(); ++i) {
    if (!drop[i]) out.push_back(s.dim(i));
  }
  if (const IntValue* v = InInt(n, 0)) {
    SetInt(n, 0, in.dtype, IntValue{out, v->elems});
    return;
  }
  Set(n, 0, in.dtype, Shape(std::move(out)));
}

void Inferencer::Unsqueeze(const Node& n, std::optional<Dims> axes) {
  const InferredTensor in = In(n, 0);
  if (!in.shape.known_rank() || !axes || axes->size() > static_cast<size_t>(kMaxRank)) {
    Set(n, 0, in.dtype, Shape());
    return;
  }
  const int64_t out_rank = in.shape.rank() + static_cast<int64_t>(axes->size());
  std::vector<bool> inserted(out_rank, false);
  for (int64_t a : *axes) {
    std::optional<int> ax = NormalizeAxis(a, out_rank);
    if (!ax || inserted[*ax]) {
      Set(n, 0, in.dtype, Shape());
      return;
    }
    inserted[*ax] = true;
  }
  Dims out;
  int src = 0;
  for (int64_t i = 0; i < out_rank; ++i) out.push_back(inserted[i] ? 1 : in.shape.dim(src++));
  if (const IntValue* v = InInt(n, 0)) {
    SetInt(n, 0, in.dtype, IntValue{out, v->elems});
    return;
  }
  Set(n, 0, in.dtype, Shape(std::move(out)));
}

void Inferencer::Gather(const Node& n, const Shape& params, DType dtype,
                        std::optional<int64_t> axis, int64_t batch_dims) {
  const Shape indices = In(n, 1).shape;
  if (!params.known_rank() || !indices.known_rank() || !axis || batch_dims != 0) {
    Set(n, 0, dtype, Shape());
    return;
  }
  std::optional<int> ax = NormalizeAxis(*axis, params.rank());
  if (!ax) {
    Set(n, 0, dtype, Shape());
    return;
  }
  Dims out(params.dims().begin(), params.dims().begin() + *ax);
  out.insert(out.end(), indices.dims().begin(), indices.dims().end());
  out.insert(out.end(), params.dims().begin() + *ax + 1, params.dims().end());
  const IntValue* pv = InInt(n, 0);
  const IntValue* iv = InInt(n, 1);
  if (pv != nullptr && iv != nullptr && pv->dims.size() == 1 && iv->FullyKnown()) {
    IntValue v{out, {}};
    const int64_t size = pv->dims[0];
    for (int64_t idx : iv->elems) {
      if (idx < -size || idx >= size) {
        Set(n, 0, dtype, Shape(std::move(out)));
        return;
      }
      v.elems.push_back(pv->elems[idx < 0 ? idx + size : idx]);
    }
    SetInt(n, 0, dtype, std::move(v));
    return;
  }
  Set(n, 0, dtype, Shape(std::move(out)));
}

void Inferencer::Transpose(const Node& n, std::optional<Dims> perm) {
  const InferredTensor in = In(n, 0);
  const Shape& s = in.shape;
  if (!s.known_rank()) {
    Set(n, 0, in.dtype, Shape());
    return;
  }
  if (!perm) {
    Set(n, 0, in.dtype, Shape(Dims(s.rank(), kUnknownDim)));
    return;
  }
  if (static_cast<int>(perm->size()) != s.rank()) {
    Set(n, 0, in.dtype, Shape());
    return;
  }
  std::vector<bool> seen(s.rank(), false);
  Dims out;
  for (int64_t p : *perm) {
    std::optional<int> ax = NormalizeAxis(p, s.rank());
    if (!ax || seen[*ax]) {
      Set(n, 0, in.dtype, Shape());
      return;
    }
    seen[*ax] = true;
    out.push_back(s.dim(*ax));
  }
  Set(n, 0, in.dtype, Shape(std::move(out)));
}

void Inferencer::ShapeOp(const Node& n, DType out_type) {
  const Shape s = In(n, 0).shape;
  if (!s.known_rank()) {
    Set(n, 0, out_type, Shape({kUnknownDim}));
    return;
  }
  // ONNX Shape-15 start/end select a range of dims (clamped, negative counts from the end).
  int64_t r = s.rank();
  int64_t start = AttrInt(n, "start").value_or(0);
  int64_t end = AttrInt(n, "end").value_or(r);
  if (start < 0) start = std::max<int64_t>(start + r, 0);
  if (end < 0) end = std::max<int64_t>(end + r, 0);
  start = std::min(start, r);
  end = std::min(end, r);
  IntValue v{{0}, {}};
  for (int64_t i = start; i < end; ++i) {
    const int64_t d = s.dim(static_cast<int>(i));
    v.elems.push_back(d < 0 ? kUnknownElem : d);
  }
  v.dims[0] = static_cast<int64_t>(v.elems.size());
  SetInt(n, 0, out_type, std::move(v));
}

void Inferencer::Reduce(const Node& n, std::optional<Dims> axes, bool axes_known, bool keep,
                        bool empty_means_all) {
  const InferredTensor in = In(n, 0);
  const Shape& s = in.shape;
  if (!s.known_rank()) {
    Set(n, 0, in.dtype, Shape());
    return;
  }
  if (!axes_known || !axes) {
    Set(n, 0, in.dtype, keep ? Shape(Dims(s.rank(), kUnknownDim)) : Shape());
    return;
  }
  std::vector<bool> reduced(s.rank(), false);
  if (axes->empty()) {
    if (!empty_means_all) {
      Set(n, 0, in.dtype, s);
      return;
    }
    reduced.assign(s.rank(), true);
  }
  for (int64_t a : *axes) {
    std::optional<int> ax = NormalizeAxis(a, s.rank());
    if (!ax) {
      Set(n, 0, in.dtype, Shape());
      return;
    }
    reduced[*ax] = true;
  }
  Dims out;
  for (int i = 0; i < s.rank(); ++i) {
    if (!reduced[i]) {
      out.push_back(s.dim(i));
    } else if (keep) {
      out.push_back(1);
    }
  }
  Set(n, 0, in.dtype, Shape(std::move(out)));
}

void Inferencer::Split(const Node& n, size_t value_input, std::optional<int64_t> axis,
                       std::optional<Dims> sizes, int num_outputs, bool allow_uneven) {
  const InferredTensor in = In(n, value_input);
  if (num_outputs <= 0 || num_outputs > (1 << 16)) return;
  auto all_unknown = [&](Shape shape) {
    for (int p = 0; p < num_outputs; ++p) Set(n, p, in.dtype, shape);
  };
  const Shape& s = in.shape;
  std::optional<int> ax = (axis && s.known_rank()) ? NormalizeAxis(*axis, s.rank()) : std::nullopt;
  if (!ax) {
    all_unknown(s.known_rank() ? Shape(Dims(s.rank(), kUnknownDim)) : Shape());
    return;
  }
  const int64_t dim = s.dim(*ax);
  Dims parts(num_outputs, kUnknownDim);
  if (sizes) {
    if (static_cast<int>(sizes->size()) == num_outputs) {
      int infer_at = -1;
      int64_t known = 0;
      bool ok = true;
      for (int i = 0; i < num_outputs; ++i) {
        const int64_t z = (*sizes)[i];
        if (z == -1 && infer_at < 0) {
          infer_at = i;
        } else if (z < 0) {
          ok = false;
        } else {
          parts[i] = z;
          known = AddDims(known, z);
        }
      }
      if (ok && infer_at >= 0 && dim >= 0 && known >= 0 && known <= dim) {
        parts[infer_at] = dim - known;
      }
      if (!ok) parts.assign(num_outputs, kUnknownDim);
    }
  } else if (dim >= 0) {
    if (dim % num_outputs == 0) {
      parts.assign(num_outputs, dim / num_outputs);
    } else if (allow_uneven) {
      const int64_t chunk = dim / num_outputs + 1;  // ONNX: ceil, the last part smaller
      if (chunk * (num_outputs - 1) < dim) {
        parts.assign(num_outputs, chunk);
        parts.back() = dim - chunk * (num_outputs - 1);
      }
    }
  }
  for (int p = 0; p < num_outputs; ++p) {
    Dims d = s.dims();
    d[*ax] = parts[p];
    Set(n, p, in.dtype, Shape(std::move(d)));
  }
}

void Inferencer::Pack(const Node& n) {
  Shape merged;
  DType dtype = AttrDType(n, "T");
  bool conflict = false;
  for (size_t i = 0; i < n.inputs.size(); ++i) {
    if (dtype == DType::kInvalid) dtype = In(n, i).dtype;
    std::optional<Shape> m = MergeShapes(merged, In(n, i).shape);
    if (!m) conflict = true;
    if (m) merged = *m;
  }
  const int64_t count = static_cast<int64_t>(n.inputs.size());
  std::optional<int> ax = merged.known_rank()
                              ? NormalizeAxis(AttrInt(n, "axis").value_or(0), merged.rank() + 1)
                              : std::nullopt;
  if (conflict || !ax) {
    Set(n, 0, dtype, Shape());
    return;
  }
  Dims out = merged.dims();
  out.insert(out.begin() + *ax, count);
  if (*ax == 0 && IsIntType(dtype) && count <= kMaxInferredValueElements) {
    IntValue v{out, {}};
    bool all = true;
    for (size_t i = 0; i < n.inputs.size() && all; ++i) {
      const IntValue* part = InInt(n, i);
      all = part != nullptr && Shape(part->dims) == merged;
      if (all) v.elems.insert(v.elems.end(), part->elems.begin(), part->elems.end());
    }
    if (all && static_cast<int64_t>(v.elems.size()) <= kMaxInferredValueElements) {
      SetInt(n, 0, dtype, std::move(v));
      return;
    }
  }
  Set(n, 0, dtype, Shape(std::move(out)));
}

void Inferencer::Unpack(const Node& n) {
  const InferredTensor in = In(n, 0);
  const Shape& s = in.shape;
  std::optional<int> ax =
      s.known_rank() ? NormalizeAxis(AttrInt(n, "axis").value_or(0), s.rank()) : std::nullopt;
  int64_t num = AttrInt(n, "num").value_or(ax ? s.dim(*ax) : -1);
  if (num <= 0 || num > (1 << 16)) return;
  for (int p = 0; p < num; ++p) {
    if (!ax) {
      Set(n, p, in.dtype, Shape());
      continue;
    }
    Dims d = s.dims();
    d.erase(d.begin() + *ax);
    const IntValue* v = InInt(n, 0);
    if (v != nullptr && v->dims.size() == 1 && static_cast<int64_t>(v->elems.size()) == num) {
      SetInt(n, p, in.dtype, IntValue{{}, {v->elems[p]}});
    } else {
      Set(n, p, in.dtype, Shape(std::move(d)));
    }
  }
}

void Inferencer::Tile(const Node& n) {
  const InferredTensor in = In(n, 0);
  Shape mult = ShapeFromValue(n, 1);
  if (!in.shape.known_rank() || !mult.known_rank() || mult.rank() != in.shape.rank()) {
    Set(n, 0, in.dtype,
        in.shape.known_rank() ? Shape(Dims(in.shape.rank(), kUnknownDim)) : Shape());
    return;
  }
  Dims out;
  for (int i = 0; i < mult.rank(); ++i) out.push_back(MulDims(in.shape.dim(i), mult.dim(i)));
  Set(n, 0, in.dtype, Shape(std::move(out)));
}

void Inferencer::OneHot(const Node& n, DType dtype) {
  const Shape s = In(n, 0).shape;
  std::optional<Dims> depth = InInts(n, 1);
  int64_t d = depth && depth->size() == 1 && (*depth)[0] >= 0 ? (*depth)[0] : kUnknownDim;
  std::optional<int> ax =
      s.known_rank() ? NormalizeAxis(AttrInt(n, "axis").value_or(-1), s.rank() + 1) : std::nullopt;
  if (!ax) {
    Set(n, 0, dtype, Shape());
    return;
  }
  Dims out = s.dims();
  out.insert(out.begin() + *ax, d);
  Set(n, 0, dtype, Shape(std::move(out)));
}

void Inferencer::Flatten(const Node& n) {
  const InferredTensor in = In(n, 0);
  const Shape& s = in.shape;
  int64_t axis = AttrInt(n, "axis").value_or(1);
  if (!s.known_rank() || axis < -s.rank() || axis > s.rank()) {
    Set(n, 0, in.dtype, Shape({kUnknownDim, kUnknownDim}));
    return;
  }
  if (axis < 0) axis += s.rank();
  int64_t outer = 1, inner = 1;
  for (int i = 0; i < s.rank(); ++i) {
    if (i < axis) {
      outer = MulDims(outer, s.dim(i));
    } else {
      inner = MulDims(inner, s.dim(i));
    }
  }
  Set(n, 0, in.dtype, Shape({outer, inner}));
}

// Output length of a window over `in` (TF Conv2D padding rules); unknown when it cannot tell.
int64_t ConvOutDim(int64_t in, int64_t k, int64_t stride, int64_t dilation, bool same) {
  if (in < 0 || stride <= 0 || dilation <= 0 || k < 1) return kUnknownDim;
  if (same) return in / stride + (in % stride != 0 ? 1 : 0);
  std::optional<int64_t> span = CheckedMul(k - 1, dilation);
  if (!span || *span >= in) return kUnknownDim;  // window larger than the input: not a valid graph
  return (in - *span - 1) / stride + 1;
}

void Inferencer::Conv2D(const Node& n) {
  const InferredTensor in = In(n, 0);
  const Shape& x = in.shape;
  const Shape f = In(n, 1).shape;
  const std::string padding = AttrString(n, "padding");
  const bool nchw = AttrString(n, "data_format") == "NCHW";
  const bool depthwise = n.op == "DepthwiseConv2dNative";
  if (!x.known_rank() || !f.known_rank() || x.rank() != 4 || f.rank() != 4 ||
      (padding != "SAME" && padding != "VALID")) {
    Set(n, 0, in.dtype, x.known_rank() ? Shape(Dims(4, kUnknownDim)) : Shape());
    return;
  }
  Dims strides = AttrInts(n, "strides").value_or(Dims{1, 1, 1, 1});
  Dims dil = AttrInts(n, "dilations").value_or(Dims{1, 1, 1, 1});
  if (strides.size() != 4 || dil.size() != 4) {
    Set(n, 0, in.dtype, Shape(Dims(4, kUnknownDim)));
    return;
  }
  const int h = nchw ? 2 : 1, w = nchw ? 3 : 2, c = nchw ? 1 : 3;
  const bool same = padding == "SAME";
  const int64_t oh = ConvOutDim(x.dim(h), f.dim(0), strides[h], dil[h], same);
  const int64_t ow = ConvOutDim(x.dim(w), f.dim(1), strides[w], dil[w], same);
  const int64_t oc = depthwise ? MulDims(f.dim(2), f.dim(3)) : f.dim(3);
  Dims out(4);
  out[0] = x.dim(0);
  out[h] = oh;
  out[w] = ow;
  out[c] = oc;
  Set(n, 0, in.dtype, Shape(std::move(out)));
}

// One axis of a numpy-style slice over a known dim: the selected indices' count and first index.
// nullopt when the step is zero or unusable.
struct SliceRange {
  int64_t start;
  int64_t step;
  int64_t length;
};
std::optional<SliceRange> SliceAxis(int64_t dim, int64_t begin, int64_t end, int64_t step,
                                    bool begin_all, bool end_all) {
  if (step == 0 || step == std::numeric_limits<int64_t>::min() || dim < 0) return std::nullopt;
  int64_t start, stop;
  if (step > 0) {
    start = begin_all ? 0 : (begin < 0 ? std::max<int64_t>(begin + dim, 0) : std::min(begin, dim));
    stop = end_all ? dim : (end < 0 ? std::max<int64_t>(end + dim, 0) : std::min(end, dim));
    const int64_t len = stop > start ? (stop - start - 1) / step + 1 : 0;
    return SliceRange{start, step, len};
  }
  start = begin_all ? dim - 1
                    : (begin < 0 ? std::max<int64_t>(begin + dim, -1) : std::min(begin, dim - 1));
  stop = end_all ? -1 : (end < 0 ? std::max<int64_t>(end + dim, -1) : std::min(end, dim - 1));
  const int64_t len = start > stop ? (start - stop - 1) / (-step) + 1 : 0;
  return SliceRange{start, step, len};
}

void Inferencer::StridedSlice(const Node& n) {
  const InferredTensor in = In(n, 0);
  const Shape& s = in.shape;
  std::optional<Dims> begin = InInts(n, 1), end = InInts(n, 2), strides = InInts(n, 3);
  const int64_t begin_mask = AttrInt(n, "begin_mask").value_or(0);
  const int64_t end_mask = AttrInt(n, "end_mask").value_or(0);
  const int64_t shrink = AttrInt(n, "shrink_axis_mask").value_or(0);
  const int64_t ellipsis = AttrInt(n, "ellipsis_mask").value_or(0);
  const int64_t new_axis = AttrInt(n, "new_axis_mask").value_or(0);
  if (!s.known_rank() || !begin || !end || !strides || ellipsis != 0 || new_axis != 0 ||
      begin->size() != end->size() || begin->size() != strides->size() ||
      static_cast<int>(begin->size()) > s.rank() || begin->size() > 63) {
    Set(n, 0, in.dtype, Shape());
    return;
  }
  for (int64_t step : *strides) {
    if (step == 0 || step == std::numeric_limits<int64_t>::min()) {
      Set(n, 0, in.dtype, Shape());
      return;
    }
  }
  Dims out;
  std::optional<SliceRange> first_axis;
  for (int i = 0; i < s.rank(); ++i) {
    if (i >= static_cast<int>(begin->size())) {
      out.push_back(s.dim(i));
      continue;
    }
    const bool shrink_i = (shrink >> i) & 1;
    const int64_t d = s.dim(i);
    if (shrink_i) {
      const int64_t b = (*begin)[i];
      if (d >= 0 && (b < -d || b >= d)) {
        Set(n, 0, in.dtype, Shape());
        return;
      }
      if (i == 0 && d >= 0) first_axis = SliceRange{b < 0 ? b + d : b, 1, 1};
      continue;
    }
    std::optional<SliceRange> r = SliceAxis(d, (*begin)[i], (*end)[i], (*strides)[i],
                                            (begin_mask >> i) & 1, (end_mask >> i) & 1);
    if (d >= 0 && !r) {
      Set(n, 0, in.dtype, Shape());
      return;
    }
    if (i == 0) first_axis = r;
    out.push_back(r ? r->length : kUnknownDim);
  }
  const IntValue* v = InInt(n, 0);
  if (v != nullptr && v->dims.size() == 1 && first_axis) {
    IntValue result{out, {}};
    for (int64_t k = 0; k < first_axis->length; ++k) {
      result.elems.push_back(v->elems[first_axis->start + k * first_axis->step]);
    }
    SetInt(n, 0, in.dtype, std::move(result));
    return;
  }
  Set(n, 0, in.dtype, Shape(std::move(out)));
}

void Inferencer::Slice(const Node& n, std::optional<Dims> starts, std::optional<Dims> ends,
                       std::optional<Dims> axes, std::optional<Dims> steps, bool size_form) {
  const InferredTensor in = In(n, 0);
  const Shape& s = in.shape;
  if (!s.known_rank() || !starts || !ends || starts->size() != ends->size()) {
    Set(n, 0, in.dtype, s.known_rank() ? Shape(Dims(s.rank(), kUnknownDim)) : Shape());
    return;
  }
  const size_t k = starts->size();
  if (!axes) {
    axes = Dims();
    for (size_t i = 0; i < k; ++i) axes->push_back(static_cast<int64_t>(i));
  }
  if (!steps) steps = Dims(k, 1);
  if (axes->size() != k || steps->size() != k) {
    Set(n, 0, in.dtype, Shape(Dims(s.rank(), kUnknownDim)));
    return;
  }
  for (int64_t step : *steps) {
    if (step == 0 || step == std::numeric_limits<int64_t>::min()) {
      Set(n, 0, in.dtype, Shape());
      return;
    }
  }
  Dims out = s.dims();
  std::optional<SliceRange> first_axis = SliceRange{0, 1, s.rank() > 0 ? s.dim(0) : 0};
  for (size_t i = 0; i < k; ++i) {
    std::optional<int> ax = NormalizeAxis((*axes)[i], s.rank());
    if (!ax) {
      Set(n, 0, in.dtype, Shape());
      return;
    }
    const int64_t d = s.dim(*ax);
    std::optional<SliceRange> r;
    if (size_form) {  // TF Slice(begin, size): size -1 = to the end.
      const int64_t b = (*starts)[i], z = (*ends)[i];
      if (d >= 0 && b >= 0 && b <= d && (z == -1 || (z >= 0 && z <= d - b))) {
        r = SliceRange{b, 1, z == -1 ? d - b : z};
      }
    } else {
      r = SliceAxis(d, (*starts)[i], (*ends)[i], (*steps)[i], false, false);
    }
    out[*ax] = r ? r->length : kUnknownDim;
    if (*ax == 0) first_axis = r;
  }
  const IntValue* v = InInt(n, 0);
  if (v != nullptr && v->dims.size() == 1 && first_axis && first_axis->length >= 0) {
    IntValue result{out, {}};
    for (int64_t j = 0; j < first_axis->length; ++j) {
      result.elems.push_back(v->elems[first_axis->start + j * first_axis->step]);
    }
    SetInt(n, 0, in.dtype, std::move(result));
    return;
  }
  Set(n, 0, in.dtype, Shape(std::move(out)));
}

// Range(start, limit, delta) (TF and ONNX): ceil((limit - start) / delta) elements, or none.
void Inferencer::Range(const Node& n) {
  DType dtype = In(n, 0).dtype;
  if (dtype == DType::kInvalid) dtype = AttrDType(n, "Tidx");
  const std::optional<Dims> start = InInts(n, 0), limit = InInts(n, 1), delta = InInts(n, 2);
  if (!start || !limit || !delta || start->size() != 1 || limit->size() != 1 ||
      delta->size() != 1 || (*delta)[0] == 0) {
    Set(n, 0, dtype, Shape({kUnknownDim}));
    return;
  }
  const int64_t s = (*start)[0], d = (*delta)[0];
  const std::optional<int64_t> diff = CheckedSub((*limit)[0], s);
  if (!diff) {
    Set(n, 0, dtype, Shape({kUnknownDim}));
    return;
  }
  // Same signs: truncating division rounds toward zero, so add one for a remainder.
  const int64_t count = (*diff != 0 && (*diff > 0) == (d > 0)) ? *diff / d + (*diff % d != 0) : 0;
  if (count <= kMaxInferredValueElements && IsIntType(dtype)) {
    IntValue v{{count}, {}};
    for (int64_t i = 0; i < count; ++i) v.elems.push_back(s + i * d);
    SetInt(n, 0, dtype, std::move(v));
    return;
  }
  Set(n, 0, dtype, Shape({count}));
}

// rankopt's own ops, which passes create (their contracts: _RankoptFusedMatMul in
// graph/passes/fuse_matmul_bias_activation.h, the embedding ops in
// graph/kernels/embedding/embedding_kernels.h).

// x [..., K] times w ([K, N], or [N, K] with transpose_b) -> [..., N].
void Inferencer::FusedMatMul(const Node& n) {
  const Shape x = In(n, 0).shape;
  const Shape w = In(n, 1).shape;
  const DType dtype = InDType(n, 0);
  if (!x.known_rank() || x.rank() < 2 || !w.known_rank() || w.rank() != 2) {
    Set(n, 0, dtype, Shape());
    return;
  }
  Dims out = x.dims();
  out.back() = w.dim(AttrBool(n, "transpose_b", false) ? 0 : 1);
  Set(n, 0, dtype, Shape(std::move(out)));
}

// A quantized table (attrs table_dtype / table_dim, graph/kernels/embedding/embedding_kernels.h)
// is a uint8 [rows, row_bytes] constant that the lookups read as float32 [rows, table_dim].
InferredTensor TableAsServed(const Node& n, InferredTensor table) {
  const std::string* stored = n.attrs.Get<std::string>("table_dtype");
  const int64_t* dim = n.attrs.Get<int64_t>("table_dim");
  if (stored == nullptr || *stored == "fp32") return table;
  table.dtype = DType::kFloat32;
  table.value.reset();
  if (table.shape.known_rank() && table.shape.rank() == 2) {
    table.shape = Shape({table.shape.dim(0), dim != nullptr ? *dim : kUnknownDim});
  }
  return table;
}

// table [rows, dim], ids [...] -> [..., dim].
void Inferencer::EmbeddingLookup(const Node& n) {
  const InferredTensor table = TableAsServed(n, In(n, 0));
  const Shape ids = In(n, 1).shape;
  if (!table.shape.known_rank() || table.shape.rank() != 2 || !ids.known_rank()) {
    Set(n, 0, table.dtype, Shape());
    return;
  }
  Dims out = ids.dims();
  out.push_back(table.shape.dim(1));
  Set(n, 0, table.dtype, Shape(std::move(out)));
}

// table [rows, dim], ids [B, L], lengths [n] / [n, 1] / scalar -> [B and n broadcast, dim].
void Inferencer::EmbeddingBag(const Node& n) {
  const InferredTensor table = TableAsServed(n, In(n, 0));
  const Shape ids = In(n, 1).shape;
  const Shape lengths = In(n, 2).shape;
  if (!table.shape.known_rank() || table.shape.rank() != 2 || !ids.known_rank() ||
      ids.rank() != 2) {
    Set(n, 0, table.dtype, Shape());
    return;
  }
  int64_t count = kUnknownDim;
  if (lengths.known_rank() && lengths.rank() == 0) count = 1;
  if (lengths.known_rank() && (lengths.rank() == 1 || lengths.rank() == 2)) count = lengths.dim(0);
  const Shape rows = Broadcast(Shape({ids.dim(0)}), Shape({count}));
  Set(n, 0, table.dtype,
      Shape({rows.known_rank() ? rows.dim(0) : kUnknownDim, table.shape.dim(1)}));
}

// The request-level boundary ops (graph/passes/request_level.h): _RankoptRequestRow x [N, ...]
// -> [1, ...] (with `columns`: [1, |columns|]); _RankoptBroadcastRows r [1, ...], like [M, ...]
// -> [M, ...]; _RankoptSelectColumns x [N, C] -> [N, |columns|].
void Inferencer::RequestRows(const Node& n) {
  const InferredTensor x = In(n, 0);
  const auto* columns = n.attrs.Get<std::vector<int64_t>>("columns");
  if (!x.shape.known_rank() || x.shape.rank() < 1 || (columns != nullptr && x.shape.rank() != 2)) {
    Set(n, 0, x.dtype, Shape());
    return;
  }
  Dims out = x.shape.dims();
  if (columns != nullptr) out[1] = static_cast<int64_t>(columns->size());
  if (n.op == "_RankoptRequestRow") {
    out[0] = x.shape.dim(0) == 0 ? 0 : 1;
  } else if (n.op == "_RankoptBroadcastRows") {
    const Shape like = In(n, 1).shape;
    out[0] = like.known_rank() && like.rank() >= 1 ? like.dim(0) : kUnknownDim;
  }
  Set(n, 0, x.dtype, Shape(std::move(out)));
}

// _RankoptAttentionPooling (graph/passes/fuse_attention_pooling.h): q [B, d] -> pooled [B, d].
void Inferencer::AttentionPooling(const Node& n) {
  const InferredTensor q = In(n, 0);
  Set(n, 0, q.dtype, q.shape.known_rank() && q.shape.rank() == 2 ? q.shape : Shape());
}

bool IsUnaryOp(absl::string_view op) {
  static const auto* const kOps =
      new absl::flat_hash_set<absl::string_view>{"Relu",        "Relu6",      "Elu",
                                                 "Selu",        "Sigmoid",    "Tanh",
                                                 "Exp",         "Log",        "Sqrt",
                                                 "Rsqrt",       "Neg",        "Abs",
                                                 "Square",      "LeakyRelu",  "Softplus",
                                                 "Softsign",    "Floor",      "Ceil",
                                                 "Round",       "Erf",        "Clip",
                                                 "Reciprocal",  "Sign",       "Sin",
                                                 "Cos",         "Log1p",      "Expm1",
                                                 "HardSigmoid", "Gelu",       "Softmax",
                                                 "LogSoftmax",  "Not",        "LogicalNot",
                                                 "Inv",         "Reciprocal", "ClipByValue",
                                                 "HardSwish",   "Mish",       "ThresholdedRelu",
                                                 "Shrink",      "Celu",       "Sinh",
                                                 "Cosh",        "IsNan",      "IsInf",
                                                 "IsFinite"};
  return kOps->contains(op);
}

bool IsBinaryOp(absl::string_view op) {
  static const auto* const kOps = new absl::flat_hash_set<absl::string_view>{
      "Add",       "AddV2",     "Sub",     "Mul",         "RealDiv",
      "Div",       "Maximum",   "Minimum", "Pow",         "SquaredDifference",
      "FloorDiv",  "FloorMod",  "Mod",     "TruncateDiv", "PRelu",
      "DivNoNan",  "MulNoNan",  "AddN",    "BitShift",    "BitwiseAnd",
      "BitwiseOr", "BitwiseXor"};
  return kOps->contains(op);
}

bool IsComparisonOp(absl::string_view op) {
  static const auto* const kOps = new absl::flat_hash_set<absl::string_view>{
      "Less",       "Greater",   "Equal", "LessEqual", "GreaterEqual", "NotEqual",
      "LogicalAnd", "LogicalOr", "And",   "Or",        "Xor",          "ApproximateEqual"};
  return kOps->contains(op);
}

void Inferencer::Infer(const Node& n) {
  const std::string& op = n.op;
  const bool onnx = !n.output_names.empty();
  const int declared_outputs = static_cast<int>(n.output_names.size());
  // Ops from custom ONNX domains (com.microsoft, ...) reuse names with other meanings.
  const bool default_domain = n.domain.empty() || n.domain == "ai.onnx";

  if (!default_domain) {
    // Left unknown below.
  } else if (op == kPlaceholderOp || op == "PlaceholderWithDefault") {
    Placeholder(n);
  } else if (op == kConstOp || op == "Constant") {
    if (const Tensor* t = n.attrs.Get<Tensor>("value")) {
      SetConst(n, 0, *t);
    } else if (std::optional<int64_t> i = AttrInt(n, "value_int")) {
      SetInt(n, 0, DType::kInt64, IntValue{{}, {*i}});
    } else if (const auto* l = n.attrs.Get<std::vector<int64_t>>("value_ints")) {
      if (static_cast<int64_t>(l->size()) <= kMaxInferredValueElements) {
        SetInt(n, 0, DType::kInt64, IntValue{{static_cast<int64_t>(l->size())}, *l});
      } else {
        Set(n, 0, DType::kInt64, Shape({static_cast<int64_t>(l->size())}));
      }
    } else if (n.attrs.Find("value_float") != nullptr) {
      Set(n, 0, DType::kFloat32, Shape::Scalar());
    } else if (const auto* f = n.attrs.Get<std::vector<float>>("value_floats")) {
      Set(n, 0, DType::kFloat32, Shape({static_cast<int64_t>(f->size())}));
    }
  } else if (OneOf(op, {"Identity", "StopGradient", "CheckNumerics", "Snapshot", "PreventGradient",
                        "Dropout"})) {
    PassThrough(n, 0, 0);
  } else if (op == "IdentityN") {
    for (size_t i = 0; i < n.inputs.size(); ++i) PassThrough(n, static_cast<int>(i), i);
  } else if (op == "EnsureShape") {
    const InferredTensor in = In(n, 0);
    const Shape* s = n.attrs.Get<Shape>("shape");
    std::optional<Shape> m = s ? MergeShapes(in.shape, Sanitize(*s)) : in.shape;
    Set(n, 0, in.dtype, m.value_or(Shape()));
  } else if (op == "BiasAdd" || op == "BiasAddV1") {
    Set(n, 0, InDType(n, 0), In(n, 0).shape);
  } else if (IsUnaryOp(op)) {
    Set(n, 0, InDType(n, 0), In(n, 0).shape);
  } else if (IsBinaryOp(op) || (onnx && OneOf(op, {"Sum", "Max", "Min", "Mean"}))) {
    Elementwise(n, DType::kInvalid);
    const DType dtype = LookupInferred(map_, TensorRef{n.name, 0}).dtype;
    if (IsIntType(dtype) && OneOf(op, {"Add", "AddV2", "Sub", "Mul", "FloorDiv"})) {
      BinaryIntValue(n, dtype);
    }
  } else if (IsComparisonOp(op)) {
    Elementwise(n, DType::kBool);
  } else if (op == "Where" && !onnx && n.inputs.size() == 1) {
    const Shape s = In(n, 0).shape;
    Set(n, 0, DType::kInt64, s.known_rank() ? Shape({kUnknownDim, s.rank()}) : Shape());
  } else if (op == "Where" || op == "SelectV2") {
    Shape s = Broadcast(Broadcast(In(n, 0).shape, In(n, 1).shape), In(n, 2).shape);
    Set(n, 0, InDType(n, 1), s);
  } else if (op == "Select") {
    Set(n, 0, InDType(n, 1), Broadcast(In(n, 1).shape, In(n, 2).shape));
  } else if (op == "Cast") {
    DType to = onnx || n.attrs.Find("to") != nullptr ? AttrDType(n, "to") : AttrDType(n, "DstT");
    const IntValue* v = InInt(n, 0);
    if (v != nullptr && IsIntType(to)) {
      SetInt(n, 0, to, *v);
    } else {
      Set(n, 0, to, In(n, 0).shape);
    }
  } else if (op == "MatMul") {
    MatMul(n, AttrBool(n, "transpose_a", false), AttrBool(n, "transpose_b", false));
  } else if (OneOf(op, {"BatchMatMul", "BatchMatMulV2", "BatchMatMulV3"})) {
    MatMul(n, AttrBool(n, "adj_x", false), AttrBool(n, "adj_y", false));
  } else if (op == "Gemm") {
    Gemm(n);
  } else if (op == "ConcatV2") {
    if (n.inputs.empty()) return;
    std::optional<Dims> axis = InInts(n, n.inputs.size() - 1);
    Concat(n, 0, n.inputs.size() - 1,
           axis && axis->size() == 1 ? std::optional<int64_t>((*axis)[0]) : std::nullopt);
  } else if (op == "Concat") {
    if (n.attrs.Find("axis") != nullptr || onnx) {
      Concat(n, 0, n.inputs.size(), AttrInt(n, "axis"));
    } else if (!n.inputs.empty()) {  // TF v1 Concat: the axis comes first
      std::optional<Dims> axis = InInts(n, 0);
      Concat(n, 1, n.inputs.size() - 1,
             axis && axis->size() == 1 ? std::optional<int64_t>((*axis)[0]) : std::nullopt);
    }
  } else if (op == "Reshape") {
    Reshape(n, onnx);
  } else if (op == "Squeeze") {
    std::optional<Dims> axes;
    if (n.attrs.Find("squeeze_dims") != nullptr) {
      axes = AttrInts(n, "squeeze_dims");
    } else if (n.attrs.Find("axis") != nullptr) {
      axes = AttrInts(n, "axis");
    } else if (n.attrs.Find("axes") != nullptr) {
      axes = AttrInts(n, "axes");
    } else if (HasInput(n, 1)) {
      axes = InInts(n, 1);
      if (!axes) {
        Set(n, 0, In(n, 0).dtype, Shape());
        return;
      }
    }
    Squeeze(n, axes);
  } else if (op == "Unsqueeze") {
    Unsqueeze(n, AttrOrInput(n, "axes", 1));
  } else if (op == "ExpandDims") {
    std::optional<Dims> axis = InInts(n, 1);
    Unsqueeze(n, axis && axis->size() == 1 ? axis : std::nullopt);
  } else if (op == "Gather") {  // ONNX: axis attr (default 0); TF v1: always axis 0
    const InferredTensor params = In(n, 0);
    Gather(n, params.shape, params.dtype, AttrInt(n, "axis").value_or(0), 0);
  } else if (op == "GatherV2") {
    std::optional<Dims> axis = InInts(n, 2);
    Gather(n, In(n, 0).shape,
           InDType(n, 0) == DType::kInvalid ? AttrDType(n, "Tparams") : InDType(n, 0),
           axis && axis->size() == 1 ? std::optional<int64_t>((*axis)[0]) : std::nullopt,
           AttrInt(n, "batch_dims").value_or(0));
  } else if (op == "ResourceGather") {
    Shape params;
    if (HasInput(n, 0)) {
      auto it = resource_shapes_.find(n.inputs[0]);
      if (it != resource_shapes_.end()) params = it->second;
    }
    Gather(n, params, AttrDType(n, "dtype"), 0, AttrInt(n, "batch_dims").value_or(0));
  } else if (op == "Transpose") {
    std::optional<Dims> perm;
    if (n.attrs.Find("perm") != nullptr) {
      perm = AttrInts(n, "perm");
    } else if (onnx && In(n, 0).shape.known_rank()) {  // ONNX default: reverse the axes
      perm = Dims();
      for (int i = In(n, 0).shape.rank() - 1; i >= 0; --i) perm->push_back(i);
    } else if (!onnx) {
      perm = InInts(n, 1);
    }
    Transpose(n, perm);
  } else if (op == "Shape") {
    DType out = onnx ? DType::kInt64 : AttrDType(n, "out_type");
    ShapeOp(n, out == DType::kInvalid ? DType::kInt32 : out);
  } else if (op == "Size" || op == "Rank") {
    DType out = onnx ? DType::kInt64 : AttrDType(n, "out_type");
    if (out == DType::kInvalid) out = DType::kInt32;
    const Shape s = In(n, 0).shape;
    std::optional<int64_t> value;
    if (op == "Size") value = s.NumElements();
    if (op == "Rank" && s.known_rank()) value = s.rank();
    if (value) {
      SetInt(n, 0, out, IntValue{{}, {*value}});
    } else {
      Set(n, 0, out, Shape::Scalar());
    }
  } else if (OneOf(op, {"Mean", "Sum", "Max", "Min", "Prod", "All", "Any"})) {
    std::optional<Dims> axes = InInts(n, 1);
    Reduce(n, axes, axes.has_value(), AttrBool(n, "keep_dims", false), false);
  } else if (OneOf(op,
                   {"ReduceSum", "ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1",
                    "ReduceL2", "ReduceLogSumExp", "ReduceSumSquare", "ReduceLogSum"})) {
    const bool keep = AttrBool(n, "keepdims", true);
    const bool noop = AttrBool(n, "noop_with_empty_axes", false);
    if (n.attrs.Find("axes") != nullptr) {
      std::optional<Dims> axes = AttrInts(n, "axes");
      Reduce(n, axes, axes.has_value(), keep, true);
    } else if (HasInput(n, 1)) {
      std::optional<Dims> axes = InInts(n, 1);
      Reduce(n, axes, axes.has_value(), keep, !noop);
    } else {
      Reduce(n, Dims{}, true, keep, !noop);
    }
  } else if (op == "Split" && onnx) {
    std::optional<Dims> sizes;
    if (n.attrs.Find("split") != nullptr) {
      sizes = AttrInts(n, "split");
    } else if (HasInput(n, 1)) {
      sizes = InInts(n, 1);
      if (!sizes) sizes = Dims(declared_outputs, -2);  // known to exist, values unknown
    }
    Split(n, 0, AttrInt(n, "axis").value_or(0), sizes, declared_outputs, true);
  } else if (op == "Split") {
    std::optional<Dims> axis = InInts(n, 0);
    Split(n, 1, axis && axis->size() == 1 ? std::optional<int64_t>((*axis)[0]) : std::nullopt,
          std::nullopt, static_cast<int>(AttrInt(n, "num_split").value_or(0)), false);
  } else if (op == "SplitV") {
    std::optional<Dims> axis = InInts(n, 2);
    const int num = static_cast<int>(AttrInt(n, "num_split").value_or(0));
    Split(n, 0, axis && axis->size() == 1 ? std::optional<int64_t>((*axis)[0]) : std::nullopt,
          InInts(n, 1).value_or(Dims(std::max(num, 0), -2)), num, false);
  } else if (op == "Pack") {
    Pack(n);
  } else if (op == "Unpack") {
    Unpack(n);
  } else if (op == "Expand" || op == "BroadcastTo") {
    Set(n, 0, In(n, 0).dtype, Broadcast(In(n, 0).shape, ShapeFromValue(n, 1)));
  } else if (op == "Tile") {
    Tile(n);
  } else if (op == "Fill") {
    Set(n, 0, In(n, 1).dtype, ShapeFromValue(n, 0));
  } else if (op == "ConstantOfShape") {
    const Tensor* t = n.attrs.Get<Tensor>("value");
    Set(n, 0, t ? t->dtype() : DType::kFloat32, ShapeFromValue(n, 0));
  } else if (op == "OneHot") {
    DType dtype = In(n, 2).dtype;
    if (dtype == DType::kInvalid) dtype = AttrDType(n, "T");
    OneHot(n, dtype);
  } else if (op == "Flatten") {
    Flatten(n);
  } else if (OneOf(op, {"FusedBatchNorm", "FusedBatchNormV2", "FusedBatchNormV3"})) {
    const InferredTensor x = In(n, 0);
    Set(n, 0, x.dtype, x.shape);
    int64_t c = kUnknownDim;
    if (x.shape.known_rank() && x.shape.rank() == 4) {
      c = x.shape.dim(AttrString(n, "data_format") == "NCHW" ? 1 : 3);
    }
    const int extra = op == "FusedBatchNormV3" ? 5 : 4;
    for (int p = 1; p <= extra; ++p) Set(n, p, DType::kFloat32, Shape({c}));
  } else if (op == "BatchNormalization" || op == "LayerNormalization" ||
             op == "InstanceNormalization" || op == "LRN") {
    PassThrough(n, 0, 0);
    map_[TensorRef{n.name, 0}].value.reset();
    ints_.erase(TensorRef{n.name, 0});
  } else if (op == "Conv2D" || op == "DepthwiseConv2dNative") {
    Conv2D(n);
  } else if (op == "StridedSlice") {
    StridedSlice(n);
  } else if (op == "Slice" && onnx) {
    if (n.attrs.Find("starts") != nullptr) {  // opset < 10
      Slice(n, AttrInts(n, "starts"), AttrInts(n, "ends"),
            n.attrs.Find("axes") ? AttrInts(n, "axes") : std::nullopt, std::nullopt, false);
    } else {
      Slice(n, InInts(n, 1), InInts(n, 2), HasInput(n, 3) ? InInts(n, 3) : std::nullopt,
            HasInput(n, 4) ? InInts(n, 4) : std::nullopt, false);
      if (HasInput(n, 3) && !InInts(n, 3)) Set(n, 0, In(n, 0).dtype, Shape());
    }
  } else if (op == "Slice") {
    Slice(n, InInts(n, 1), InInts(n, 2), std::nullopt, std::nullopt, true);
  } else if (op == "Range") {
    Range(n);
  } else if (op == "_RankoptFusedMatMul") {
    FusedMatMul(n);
  } else if (op == "_RankoptEmbeddingLookup") {
    EmbeddingLookup(n);
  } else if (op == "_RankoptEmbeddingBag") {
    EmbeddingBag(n);
  } else if (op == "_RankoptRequestRow" || op == "_RankoptBroadcastRows" ||
             op == "_RankoptSelectColumns") {
    RequestRows(n);
  } else if (op == "_RankoptAttentionPooling") {
    AttentionPooling(n);
  } else if (op == "VariableV2" || op == "Variable") {
    const Shape* s = n.attrs.Get<Shape>("shape");
    Set(n, 0, AttrDType(n, "dtype"), s ? *s : Shape());
  } else if (op == "VarHandleOp") {
    Set(n, 0, DType::kResource, Shape::Scalar());
    if (const Shape* s = n.attrs.Get<Shape>("shape")) {
      resource_shapes_[TensorRef{n.name, 0}] = Sanitize(*s);
    }
  } else if (op == "ReadVariableOp") {
    Shape s;
    if (HasInput(n, 0)) {
      auto it = resource_shapes_.find(n.inputs[0]);
      if (it != resource_shapes_.end()) s = it->second;
    }
    Set(n, 0, AttrDType(n, "dtype"), s);
  }

  // Every declared output gets an entry; an op left unmodelled gets unknown port 0.
  const int ports = std::max(declared_outputs, 1);
  for (int p = 0; p < ports; ++p) map_.try_emplace(TensorRef{n.name, p});
}

}  // namespace

const InferredTensor& LookupInferred(const ShapeMap& shapes, const TensorRef& ref) {
  static const InferredTensor* const kUnknown = new InferredTensor();
  auto it = shapes.find(ref);
  return it == shapes.end() ? *kUnknown : it->second;
}

absl::StatusOr<ShapeMap> InferShapes(const Graph& graph, int64_t batch_size) {
  RANKOPT_ASSIGN_OR_RETURN(std::vector<int> order, graph.TopologicalOrder());
  Inferencer inferencer(batch_size);
  for (int index : order) inferencer.Infer(graph.nodes()[index]);
  return inferencer.TakeMap();
}

}  // namespace rankopt
