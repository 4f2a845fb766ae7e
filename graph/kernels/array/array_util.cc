#include "graph/kernels/array/array_util.h"

#include <algorithm>
#include <cstring>
#include <limits>

#include "absl/strings/str_join.h"
#include "rankopt/status_macros.h"

namespace rankopt {
namespace array_internal {
namespace {

class FnKernel : public OpKernel {
 public:
  explicit FnKernel(ComputeFn fn) : fn_(std::move(fn)) {}
  absl::Status Compute(KernelContext* ctx) const override { return fn_(ctx); }

 private:
  ComputeFn fn_;
};

template <size_t kSize>
void CopyElements(const char* src, const int64_t* index, int64_t stride, int64_t n, char* dst,
                  const char* fill) {
  for (int64_t o = 0; o < n; ++o) {
    const char* from = index[o] < 0 ? fill : src + index[o] * stride;
    std::memcpy(dst + o * kSize, from, kSize);
  }
}

void CopyRow(const char* src, const int64_t* index, int64_t stride, int64_t n, char* dst,
             size_t esize, const char* fill) {
  switch (esize) {
    case 1:
      return CopyElements<1>(src, index, stride, n, dst, fill);
    case 2:
      return CopyElements<2>(src, index, stride, n, dst, fill);
    case 4:
      return CopyElements<4>(src, index, stride, n, dst, fill);
    case 8:
      return CopyElements<8>(src, index, stride, n, dst, fill);
    default:  // fill may be nullptr: zeros
      for (int64_t o = 0; o < n; ++o) {
        if (index[o] < 0 && fill == nullptr) {
          std::memset(dst + o * esize, 0, esize);
        } else {
          std::memcpy(dst + o * esize, index[o] < 0 ? fill : src + index[o] * stride, esize);
        }
      }
  }
}

// fill == nullptr: zeros.
void FillRow(char* dst, int64_t n, size_t esize, const char* fill) {
  if (fill == nullptr) {
    std::memset(dst, 0, static_cast<size_t>(n) * esize);
    return;
  }
  for (int64_t o = 0; o < n; ++o) std::memcpy(dst + o * esize, fill, esize);
}

}  // namespace

absl::StatusOr<std::unique_ptr<OpKernel>> MakeKernel(ComputeFn fn) {
  return std::unique_ptr<OpKernel>(new FnKernel(std::move(fn)));
}

absl::Status Add(KernelRegistry* registry, OpSet set, const char* op, KernelFactory factory) {
  return registry->Register(set, op, std::move(factory));
}

absl::Status CheckNumInputs(const KernelContext& ctx, int min, int max) {
  const int n = ctx.num_inputs();
  if (n < min || (max >= 0 && n > max)) {
    if (min == max) return NodeError(ctx.node(), "has ", n, " inputs; expected ", min);
    if (max < 0) return NodeError(ctx.node(), "has ", n, " inputs; expected at least ", min);
    return NodeError(ctx.node(), "has ", n, " inputs; expected ", min, " to ", max);
  }
  return absl::OkStatus();
}

absl::StatusOr<const TensorView*> RequiredInput(const KernelContext& ctx, int i) {
  if (i >= ctx.num_inputs() || !ctx.input(i).present()) {
    return NodeError(ctx.node(), "input ", i, " is missing");
  }
  const TensorView& t = ctx.input(i);
  if (ExecElementSize(t.dtype) == 0) {
    return NodeError(ctx.node(), "input ", i, " is ", DescribeTensor(t),
                     "; expected a numeric, bool or string tensor");
  }
  return &t;
}

bool HasInput(const KernelContext& ctx, int i) {
  return i < ctx.num_inputs() && ctx.input(i).present();
}

bool IsIntegerDType(DType dtype) {
  switch (dtype) {
    case DType::kInt8:
    case DType::kUInt8:
    case DType::kInt16:
    case DType::kUInt16:
    case DType::kInt32:
    case DType::kUInt32:
    case DType::kInt64:
    case DType::kUInt64:
      return true;
    default:
      return false;
  }
}

bool IsFloatDType(DType dtype) {
  return dtype == DType::kFloat32 || dtype == DType::kFloat64 || dtype == DType::kFloat16 ||
         dtype == DType::kBFloat16;
}

int64_t IntAt(const TensorView& t, int64_t i) {
  const char* p = static_cast<const char*>(t.data);
  switch (t.dtype) {
    case DType::kInt32: {
      int32_t v;
      std::memcpy(&v, p + i * 4, 4);
      return v;
    }
    case DType::kInt64: {
      int64_t v;
      std::memcpy(&v, p + i * 8, 8);
      return v;
    }
    default:
      return ValueAt<int64_t>(t, i);
  }
}

absl::Status ReadIntVector(const KernelContext& ctx, int i, absl::string_view what, Dims* out) {
  RANKOPT_ASSIGN_OR_RETURN(const TensorView* t, RequiredInput(ctx, i));
  if (!IsIntegerDType(t->dtype) || t->rank() > 1) {
    return NodeError(ctx.node(), what, " (input ", i, ") is ", DescribeTensor(*t),
                     "; expected a 1-D int32 or int64 tensor");
  }
  const int64_t n = t->NumElements();
  out->resize(static_cast<size_t>(n));
  for (int64_t k = 0; k < n; ++k) (*out)[k] = IntAt(*t, k);
  return absl::OkStatus();
}

absl::StatusOr<int64_t> ReadIntScalar(const KernelContext& ctx, int i, absl::string_view what) {
  RANKOPT_ASSIGN_OR_RETURN(const TensorView* t, RequiredInput(ctx, i));
  if (!IsIntegerDType(t->dtype) || t->NumElements() != 1) {
    return NodeError(ctx.node(), what, " (input ", i, ") is ", DescribeTensor(*t),
                     "; expected an int32 or int64 scalar");
  }
  return IntAt(*t, 0);
}

int64_t AttrInt(const Node& node, absl::string_view name, int64_t fallback) {
  if (const int64_t* v = node.attrs.Get<int64_t>(name)) return *v;
  if (const bool* b = node.attrs.Get<bool>(name)) return *b ? 1 : 0;
  return fallback;
}

std::optional<std::vector<int64_t>> AttrInts(const Node& node, absl::string_view name) {
  if (const auto* v = node.attrs.Get<std::vector<int64_t>>(name)) return *v;
  if (const int64_t* v = node.attrs.Get<int64_t>(name)) return std::vector<int64_t>{*v};
  return std::nullopt;
}

std::optional<DType> AttrDType(const Node& node, absl::string_view name) {
  if (const DType* v = node.attrs.Get<DType>(name)) return *v;
  return std::nullopt;
}

absl::StatusOr<int64_t> NormalizeAxis(const Node& node, int64_t axis, int64_t rank,
                                      absl::string_view what) {
  if (axis < -rank || axis >= rank) {
    return NodeError(node, what, " ", axis, " is out of range for rank ", rank, "; expected [",
                     -rank, ", ", rank, ")");
  }
  return axis < 0 ? axis + rank : axis;
}

Dims ElementStrides(absl::Span<const int64_t> dims) {
  Dims strides(dims.size(), 1);
  for (int a = static_cast<int>(dims.size()) - 2; a >= 0; --a) {
    strides[a] = strides[a + 1] * dims[a + 1];
  }
  return strides;
}

int64_t Product(absl::Span<const int64_t> dims, size_t begin, size_t end) {
  int64_t p = 1;
  for (size_t i = begin; i < end && i < dims.size(); ++i) p *= dims[i];
  return p;
}

absl::StatusOr<AxisMaps> AllocateAxisMaps(KernelContext* ctx, absl::Span<const int64_t> out_dims) {
  size_t total = 0;
  for (int64_t d : out_dims) total += static_cast<size_t>(d);
  RANKOPT_ASSIGN_OR_RETURN(void* scratch, ctx->AllocateScratch(total * sizeof(int64_t)));
  int64_t* next = static_cast<int64_t*>(scratch);
  AxisMaps maps(out_dims.size());
  for (size_t a = 0; a < out_dims.size(); ++a) {
    maps[a].index = absl::Span<int64_t>(next, static_cast<size_t>(out_dims[a]));
    next += out_dims[a];
  }
  return maps;
}

void FillIota(absl::Span<int64_t> index, int64_t start, int64_t step) {
  for (size_t i = 0; i < index.size(); ++i) index[i] = start + static_cast<int64_t>(i) * step;
}

void CopyByAxisMaps(absl::Span<const AxisMap> maps, const char* src, char* dst, size_t esize,
                    const char* fill) {
  // The default fill; wider elements keep fill == nullptr, which CopyRow and FillRow zero.
  alignas(16) static constexpr char kZeros[16] = {};
  if (fill == nullptr && esize <= sizeof(kZeros)) fill = kZeros;
  const size_t rank = maps.size();
  if (rank == 0) {
    std::memcpy(dst, src, esize);
    return;
  }
  for (const AxisMap& m : maps) {
    if (m.index.empty()) return;
  }
  const AxisMap& inner = maps[rank - 1];
  const int64_t n_inner = static_cast<int64_t>(inner.index.size());
  bool contiguous = inner.src_stride == static_cast<int64_t>(esize) && inner.index[0] >= 0;
  for (int64_t o = 1; contiguous && o < n_inner; ++o) {
    contiguous = inner.index[o] == inner.index[0] + o;
  }
  Dims counter(rank - 1, 0);
  const size_t row_bytes = static_cast<size_t>(n_inner) * esize;
  while (true) {
    bool filled = false;
    int64_t offset = 0;
    for (size_t a = 0; a + 1 < rank; ++a) {
      const int64_t idx = maps[a].index[counter[a]];
      if (idx < 0) {
        filled = true;
        break;
      }
      offset += idx * maps[a].src_stride;
    }
    if (filled) {
      FillRow(dst, n_inner, esize, fill);
    } else if (contiguous) {
      std::memcpy(dst, src + offset + inner.index[0] * inner.src_stride, row_bytes);
    } else {
      CopyRow(src + offset, inner.index.data(), inner.src_stride, n_inner, dst, esize, fill);
    }
    dst += row_bytes;
    // Advance the odometer over the outer axes.
    int a = static_cast<int>(rank) - 2;
    for (; a >= 0; --a) {
      if (++counter[a] < static_cast<int64_t>(maps[a].index.size())) break;
      counter[a] = 0;
    }
    if (a < 0) break;
  }
}

float HalfToFloat(uint16_t h) {
  const uint32_t sign = (h & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1f;
  uint32_t mant = h & 0x3ffu;
  uint32_t bits;
  if (exp == 0x1f) {
    bits = sign | 0x7f800000u | (mant << 13);
  } else if (exp != 0) {
    bits = sign | ((exp + 112) << 23) | (mant << 13);
  } else if (mant == 0) {
    bits = sign;
  } else {  // subnormal: normalize
    exp = 113;
    while ((mant & 0x400u) == 0) {
      mant <<= 1;
      --exp;
    }
    bits = sign | (exp << 23) | ((mant & 0x3ffu) << 13);
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

uint16_t FloatToHalf(float f) {
  uint32_t bits;
  std::memcpy(&bits, &f, 4);
  const uint16_t sign = static_cast<uint16_t>((bits >> 16) & 0x8000u);
  const uint32_t abs = bits & 0x7fffffffu;
  if (abs >= 0x7f800000u) {  // inf or NaN
    return sign | 0x7c00u | (abs > 0x7f800000u ? 0x200u : 0);
  }
  if (abs >= 0x477ff000u) return sign | 0x7c00u;  // rounds to >= 65520: overflow to inf
  if (abs < 0x38800000u) {                        // below the smallest normal half
    if (abs < 0x33000000u) return sign;           // rounds to zero
    const uint32_t exp = abs >> 23;
    const uint32_t mant = (abs & 0x7fffffu) | 0x800000u;
    const uint32_t shift = 126 - exp;  // 14..24
    uint32_t half = mant >> shift;
    const uint32_t rem = mant & ((1u << shift) - 1);
    const uint32_t halfway = 1u << (shift - 1);
    if (rem > halfway || (rem == halfway && (half & 1u))) ++half;
    return sign | static_cast<uint16_t>(half);
  }
  uint32_t half = ((abs >> 13) - (112u << 10));
  const uint32_t rem = abs & 0x1fffu;
  if (rem > 0x1000u || (rem == 0x1000u && (half & 1u))) ++half;
  return sign | static_cast<uint16_t>(half);
}

float BFloat16ToFloat(uint16_t b) {
  const uint32_t bits = static_cast<uint32_t>(b) << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

uint16_t FloatToBFloat16(float f) {
  uint32_t bits;
  std::memcpy(&bits, &f, 4);
  if ((bits & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((bits >> 16) | 0x40u);
  const uint32_t rounding = 0x7fffu + ((bits >> 16) & 1u);
  return static_cast<uint16_t>((bits + rounding) >> 16);
}

}  // namespace array_internal
}  // namespace rankopt
