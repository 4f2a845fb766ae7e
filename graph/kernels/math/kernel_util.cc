#include "graph/kernels/math/kernel_util.h"

#include <algorithm>

#include "absl/strings/str_join.h"

namespace rankopt {
namespace math_internal {

int64_t AttrInt(const Node& node, absl::string_view name, int64_t fallback) {
  if (const int64_t* v = node.attrs.Get<int64_t>(name)) return *v;
  if (const bool* v = node.attrs.Get<bool>(name)) return *v ? 1 : 0;
  return fallback;
}

float AttrFloat(const Node& node, absl::string_view name, float fallback) {
  if (const float* v = node.attrs.Get<float>(name)) return *v;
  if (const int64_t* v = node.attrs.Get<int64_t>(name)) return static_cast<float>(*v);
  return fallback;
}

bool AttrBool(const Node& node, absl::string_view name, bool fallback) {
  if (const bool* v = node.attrs.Get<bool>(name)) return *v;
  if (const int64_t* v = node.attrs.Get<int64_t>(name)) return *v != 0;
  return fallback;
}

std::string AttrString(const Node& node, absl::string_view name, absl::string_view fallback) {
  if (const std::string* v = node.attrs.Get<std::string>(name)) return *v;
  return std::string(fallback);
}

namespace {

absl::Status CountError(const Node& node, int found, int min, int max) {
  if (min == max) {
    return NodeError(node, "has ", found, " inputs, expected ", min);
  }
  return NodeError(node, "has ", found, " inputs, expected ", min, " to ", max);
}

}  // namespace

absl::Status CheckInputCount(const KernelContext& ctx, int min, int max) {
  const int n = ctx.num_inputs();
  if (n < min || n > max) return CountError(ctx.node(), n, min, max);
  for (int i = 0; i < min; ++i) {
    if (!ctx.input(i).present()) {
      return NodeError(ctx.node(), "required input ", i, " is omitted");
    }
  }
  return absl::OkStatus();
}

absl::Status CheckInputCount(const KernelBuildContext& build, int min, int max) {
  const int n = static_cast<int>(build.constant_inputs.size());
  if (n < min || n > max) return CountError(*build.node, n, min, max);
  return absl::OkStatus();
}

absl::Status DTypeError(const Node& node, int i, const TensorView& t, absl::string_view accepted) {
  return NodeError(node, "input ", i, " is ", DescribeTensor(t), ", expected dtype ", accepted);
}

absl::StatusOr<int> NormalizeAxis(const Node& node, int64_t axis, int rank) {
  if (axis < -rank || axis >= rank) {
    return NodeError(node, "axis ", axis, " is out of range for rank ", rank, " (expected [", -rank,
                     ", ", rank, "))");
  }
  return static_cast<int>(axis < 0 ? axis + rank : axis);
}

absl::StatusOr<Dims> ReadIntTensor(const Node& node, const TensorView& t, absl::string_view what) {
  if (t.rank() > 1) {
    return NodeError(node, what, " must be a scalar or 1-D, got ", DescribeTensor(t));
  }
  Dims out;
  if (t.dtype == DType::kInt64) {
    for (int64_t v : t.values<int64_t>()) out.push_back(v);
  } else if (t.dtype == DType::kInt32) {
    for (int32_t v : t.values<int32_t>()) out.push_back(v);
  } else {
    return NodeError(node, what, " is ", DescribeTensor(t), ", expected int32 or int64");
  }
  return out;
}

Dims RowMajorStrides(absl::Span<const int64_t> dims) {
  Dims strides(dims.size());
  int64_t s = 1;
  for (size_t i = dims.size(); i-- > 0;) {
    strides[i] = s;
    s *= dims[i];
  }
  return strides;
}

BroadcastPlan MakeBroadcastPlan(absl::Span<const int64_t> out,
                                absl::Span<const absl::Span<const int64_t>> inputs) {
  const size_t rank = out.size();
  const size_t n = inputs.size();
  // Per operand strides aligned to `out`.
  absl::InlinedVector<Dims, BroadcastPlan::kMaxInlineOperands> full(n, Dims(rank, 0));
  for (size_t k = 0; k < n; ++k) {
    const absl::Span<const int64_t> in = inputs[k];
    const size_t pad = rank - in.size();
    int64_t s = 1;
    for (size_t i = in.size(); i-- > 0;) {
      full[k][pad + i] = (in[i] == 1 && out[pad + i] != 1) ? 0 : s;
      s *= in[i];
    }
  }
  BroadcastPlan plan;
  plan.strides.assign(n, Dims());
  for (size_t i = 0; i < rank; ++i) {
    if (out[i] == 1) continue;  // contributes nothing to the iteration
    if (!plan.dims.empty()) {
      bool mergeable = true;
      for (size_t k = 0; k < n && mergeable; ++k) {
        const int64_t prev = plan.strides[k].back();
        const int64_t cur = full[k][i];
        mergeable = (prev == 0 && cur == 0) || (cur != 0 && prev == cur * out[i]);
      }
      if (mergeable) {
        plan.dims.back() *= out[i];
        for (size_t k = 0; k < n; ++k) plan.strides[k].back() = full[k][i];
        continue;
      }
    }
    plan.dims.push_back(out[i]);
    for (size_t k = 0; k < n; ++k) plan.strides[k].push_back(full[k][i]);
  }
  if (plan.dims.empty()) {
    plan.dims.push_back(1);
    for (size_t k = 0; k < n; ++k) plan.strides[k].push_back(0);
  }
  return plan;
}

}  // namespace math_internal
}  // namespace rankopt
