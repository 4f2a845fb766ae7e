// String ops, per TensorFlow's kernels:
//   AsString(x; precision, scientific, shortest, width, fill): printf of each element with the
//     format TF builds ("%" [fill width] [.precision] d|lld|f|e|g); bool -> "true"/"false";
//     strings pass through.
//   StringJoin(inputs...; separator): element-wise join; scalar inputs broadcast.
//   Substr(input, pos, len; unit BYTE): bytes [pos, pos+len) clipped to the string; a negative
//     pos counts from the end; pos outside [-size, size] is an error naming the element.
//   StringToHashBucketFast(input; num_buckets): Fingerprint64(s) % num_buckets (farmhash, the
//     same function features/transforms/hashing uses).
#include <cinttypes>
#include <cstdio>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "features/transforms/hashing.h"
#include "graph/kernels/array/array_util.h"
#include "graph/kernels/features/feature_kernels.h"
#include "rankopt/status_macros.h"

namespace rankopt {
namespace feature_internal {
namespace {

using array_internal::Add;
using array_internal::AttrDType;
using array_internal::AttrInt;
using array_internal::CheckNumInputs;
using array_internal::IntAt;
using array_internal::IsIntegerDType;
using array_internal::MakeKernel;
using array_internal::RequiredInput;
using Factory = absl::StatusOr<std::unique_ptr<OpKernel>>;

std::string AttrStr(const Node& node, absl::string_view name, absl::string_view fallback) {
  const std::string* v = node.attrs.Get<std::string>(name);
  return v != nullptr ? *v : std::string(fallback);
}

absl::Status RequireString(const Node& node, const TensorView& t, absl::string_view what) {
  if (t.dtype != DType::kString) {
    return NodeError(node, what, " is ", DescribeTensor(t), "; expected a string tensor");
  }
  return absl::OkStatus();
}

template <typename T>
std::string Format(const std::string& format, T v) {
  char buf[512];
  const int n = std::snprintf(buf, sizeof(buf), format.c_str(), v);
  if (n < 0) return std::string();
  if (static_cast<size_t>(n) < sizeof(buf)) return std::string(buf, static_cast<size_t>(n));
  std::string big(static_cast<size_t>(n) + 1, '\0');
  std::snprintf(big.data(), big.size(), format.c_str(), v);
  big.resize(static_cast<size_t>(n));
  return big;
}

Factory AsStringFactory(const KernelBuildContext& b) {
  const Node& node = *b.node;
  const int64_t precision = AttrInt(node, "precision", -1);
  const bool scientific = AttrInt(node, "scientific", 0) != 0;
  const bool shortest = AttrInt(node, "shortest", 0) != 0;
  const int64_t width = AttrInt(node, "width", -1);
  const std::string fill = AttrStr(node, "fill", "");
  if (scientific && shortest) {
    return NodeError(node, "cannot set both scientific and shortest");
  }
  if (fill.size() > 1) return NodeError(node, "fill '", fill, "' is more than one character");
  if (!fill.empty() && fill != " " && fill != "0" && fill != "-" && fill != "+" && fill != "#") {
    return NodeError(node, "fill '", fill, "' is not one of ' ', '0', '-', '+', '#'");
  }
  if (width > 1000 || precision > 1000) {
    return NodeError(node, "width ", width, " or precision ", precision, " is too large");
  }
  std::string prefix = "%";
  if (width > -1) absl::StrAppend(&prefix, fill, width);
  if (precision > -1) absl::StrAppend(&prefix, ".", precision);
  const std::string int_format = prefix + "d";
  const std::string int64_format = prefix + PRId64;
  const std::string uint64_format = prefix + PRIu64;
  const std::string float_format = prefix + (shortest ? "g" : scientific ? "e" : "f");
  return MakeKernel([=](KernelContext* ctx) -> absl::Status {
    RANKOPT_RETURN_IF_ERROR(CheckNumInputs(*ctx, 1, 1));
    RANKOPT_ASSIGN_OR_RETURN(const TensorView* x, RequiredInput(*ctx, 0));
    const int64_t n = x->NumElements();
    std::vector<std::string> out(static_cast<size_t>(n));
    switch (x->dtype) {
      case DType::kString:
        for (int64_t i = 0; i < n; ++i) out[i] = std::string(x->strings()[i]);
        break;
      case DType::kBool:
        for (int64_t i = 0; i < n; ++i) out[i] = x->values<bool>()[i] ? "true" : "false";
        break;
      case DType::kFloat32:
        for (int64_t i = 0; i < n; ++i) {
          out[i] = Format(float_format, static_cast<double>(x->values<float>()[i]));
        }
        break;
      case DType::kFloat64:
        for (int64_t i = 0; i < n; ++i) out[i] = Format(float_format, x->values<double>()[i]);
        break;
      case DType::kInt64:
        for (int64_t i = 0; i < n; ++i) out[i] = Format(int64_format, x->values<int64_t>()[i]);
        break;
      case DType::kUInt64:
        for (int64_t i = 0; i < n; ++i) out[i] = Format(uint64_format, x->values<uint64_t>()[i]);
        break;
      default:
        if (!IsIntegerDType(x->dtype)) {
          return NodeError(ctx->node(), "input is ", DescribeTensor(*x),
                           "; expected a number, bool or string tensor");
        }
        for (int64_t i = 0; i < n; ++i) {
          out[i] = Format(int_format, static_cast<int>(IntAt(*x, i)));
        }
    }
    return OutputStrings(ctx, 0, x->dims, out);
  });
}

Factory StringJoinFactory(const KernelBuildContext& b) {
  const std::string separator = AttrStr(*b.node, "separator", "");
  return MakeKernel([separator](KernelContext* ctx) -> absl::Status {
    const Node& node = ctx->node();
    RANKOPT_RETURN_IF_ERROR(CheckNumInputs(*ctx, 1, -1));
    const TensorView* shaped = nullptr;
    for (int i = 0; i < ctx->num_inputs(); ++i) {
      RANKOPT_ASSIGN_OR_RETURN(const TensorView* in, RequiredInput(*ctx, i));
      RANKOPT_RETURN_IF_ERROR(RequireString(node, *in, absl::StrCat("input ", i)));
      if (in->rank() == 0) continue;
      if (shaped != nullptr && shaped->dims != in->dims) {
        return NodeError(node, "input ", i, " is ", DescribeTensor(*in), " but an earlier one is ",
                         DescribeTensor(*shaped), "; inputs must be scalars or of one shape");
      }
      shaped = in;
    }
    const Dims dims = shaped != nullptr ? shaped->dims : Dims{};
    const int64_t n = shaped != nullptr ? shaped->NumElements() : 1;
    std::vector<std::string> out(static_cast<size_t>(n));
    for (int64_t e = 0; e < n; ++e) {
      for (int i = 0; i < ctx->num_inputs(); ++i) {
        const TensorView& in = ctx->input(i);
        if (i > 0) out[e] += separator;
        absl::StrAppend(&out[e], in.strings()[in.rank() == 0 ? 0 : e]);
      }
    }
    return OutputStrings(ctx, 0, dims, out);
  });
}

Factory SubstrFactory(const KernelBuildContext& b) {
  const std::string unit = AttrStr(*b.node, "unit", "BYTE");
  if (unit != "BYTE") {
    return NodeError(*b.node, "unit '", unit, "' is not supported; only BYTE is");
  }
  return MakeKernel([](KernelContext* ctx) -> absl::Status {
    const Node& node = ctx->node();
    RANKOPT_RETURN_IF_ERROR(CheckNumInputs(*ctx, 3, 3));
    RANKOPT_ASSIGN_OR_RETURN(const TensorView* in, RequiredInput(*ctx, 0));
    RANKOPT_ASSIGN_OR_RETURN(const TensorView* pos, RequiredInput(*ctx, 1));
    RANKOPT_ASSIGN_OR_RETURN(const TensorView* len, RequiredInput(*ctx, 2));
    RANKOPT_RETURN_IF_ERROR(RequireString(node, *in, "input"));
    if (!IsIntegerDType(pos->dtype) || !IsIntegerDType(len->dtype)) {
      return NodeError(node, "pos ", DescribeTensor(*pos), " and len ", DescribeTensor(*len),
                       " must be integer tensors");
    }
    const int64_t n = in->NumElements();
    for (const TensorView* t : {pos, len}) {
      if (t->NumElements() != 1 && t->dims != in->dims) {
        return NodeError(node, "pos/len ", DescribeTensor(*t), " must be a scalar or match input ",
                         DescribeTensor(*in));
      }
    }
    std::vector<std::string> out(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) {
      const absl::string_view s = in->strings()[i];
      const int64_t size = static_cast<int64_t>(s.size());
      int64_t p = IntAt(*pos, pos->NumElements() == 1 ? 0 : i);
      const int64_t l = IntAt(*len, len->NumElements() == 1 ? 0 : i);
      if (p > size || p < -size) {
        return NodeError(node, "pos ", p, " is out of range for string '",
                         absl::CHexEscape(s.substr(0, 64)), "' (", size, " bytes) at index ", i);
      }
      if (l < 0) return NodeError(node, "len ", l, " at index ", i, " is negative");
      if (p < 0) p += size;
      out[i] = std::string(s.substr(static_cast<size_t>(p), static_cast<size_t>(l)));
    }
    return OutputStrings(ctx, 0, in->dims, out);
  });
}

Factory HashBucketFactory(const KernelBuildContext& b) {
  const int64_t buckets = AttrInt(*b.node, "num_buckets", 0);
  if (buckets < 1) return NodeError(*b.node, "num_buckets ", buckets, " must be at least 1");
  return MakeKernel([buckets](KernelContext* ctx) -> absl::Status {
    RANKOPT_RETURN_IF_ERROR(CheckNumInputs(*ctx, 1, 1));
    RANKOPT_ASSIGN_OR_RETURN(const TensorView* in, RequiredInput(*ctx, 0));
    RANKOPT_RETURN_IF_ERROR(RequireString(ctx->node(), *in, "input"));
    RANKOPT_ASSIGN_OR_RETURN(TensorView out, ctx->AllocateOutput(0, DType::kInt64, in->dims));
    int64_t* dst = out.data_as<int64_t>();
    const absl::Span<const absl::string_view> src = in->strings();
    for (size_t i = 0; i < src.size(); ++i) dst[i] = StringToHashBucketFast(src[i], buckets);
    return absl::OkStatus();
  });
}

void StringOfInputShape(const Node& n, ShapeContext* ctx) {
  ctx->Set(n, 0, DType::kString, ctx->In(n, 0).shape);
}
void Int64OfInputShape(const Node& n, ShapeContext* ctx) {
  ctx->Set(n, 0, DType::kInt64, ctx->In(n, 0).shape);
}

}  // namespace

absl::Status RegisterStringKernels(KernelRegistry* r) {
  constexpr OpSet kTf = OpSet::kTensorFlow;
  RANKOPT_RETURN_IF_ERROR(Add(r, kTf, "AsString", AsStringFactory));
  RANKOPT_RETURN_IF_ERROR(Add(r, kTf, "StringJoin", StringJoinFactory));
  RANKOPT_RETURN_IF_ERROR(Add(r, kTf, "Substr", SubstrFactory));
  RANKOPT_RETURN_IF_ERROR(Add(r, kTf, "StringToHashBucketFast", HashBucketFactory));
  for (const char* op : {"AsString", "Substr"}) {
    RANKOPT_RETURN_IF_ERROR(r->RegisterOpInfo(op, {StringOfInputShape, flops::DataMovement}));
  }
  RANKOPT_RETURN_IF_ERROR(
      r->RegisterOpInfo("StringToHashBucketFast", {Int64OfInputShape, flops::Elementwise}));
  RANKOPT_RETURN_IF_ERROR(r->RegisterOpInfo("StringJoin", {nullptr, flops::DataMovement}));
  return absl::OkStatus();
}

}  // namespace feature_internal
}  // namespace rankopt
