// _RankoptEmbeddingBagOffsets (embedding_kernels.h): PyTorch's nn.EmbeddingBag with offsets, as
// the TorchScript ONNX exporter's Loop computes it (graph/onnx/onnx_embedding_bag.h rewrites the
// Loop into this op at import).
#include <algorithm>
#include <cstdint>
#include <limits>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "embedding/kernels/lookup.h"
#include "embedding/table_view.h"
#include "graph/kernels/embedding/embedding_kernels.h"
#include "graph/ops/op_info.h"
#include "rankopt/status_macros.h"

namespace rankopt {
namespace {

absl::Status NodeError(const Node& node, absl::string_view what) {
  return absl::InvalidArgumentError(
      absl::StrCat(kOffsetsEmbeddingBagOp, " node '", node.name, "': ", what));
}

int64_t IntAt(const TensorView& t, int64_t i) {
  return t.dtype == DType::kInt64 ? t.data_as<int64_t>()[i]
                                  : static_cast<int64_t>(t.data_as<int32_t>()[i]);
}

bool IsIndexType(DType d) { return d == DType::kInt64 || d == DType::kInt32; }

class OffsetsBagKernel : public OpKernel {
 public:
  OffsetsBagKernel(OffsetsBagMode mode, bool empty_is_zero)
      : mode_(mode), empty_is_zero_(empty_is_zero) {}

  absl::Status Compute(KernelContext* ctx) const override {
    const Node& node = ctx->node();
    if (ctx->num_inputs() != 3 && ctx->num_inputs() != 4) {
      return NodeError(node, absl::StrCat("has ", ctx->num_inputs(),
                                          " inputs; expected (weight, indices, offsets"
                                          "[, per_sample_weights])"));
    }
    const TensorView& weight = ctx->input(0);
    const TensorView& indices = ctx->input(1);
    const TensorView& offsets = ctx->input(2);
    const TensorView* scale = nullptr;
    if (ctx->num_inputs() == 4 && ctx->input(3).present()) scale = &ctx->input(3);
    if (weight.dtype != DType::kFloat32 || weight.rank() != 2) {
      return NodeError(node, absl::StrCat("weight (input 0) is ", DescribeTensor(weight),
                                          "; expected a [rows, dim] float32 table"));
    }
    if (!IsIndexType(indices.dtype) || indices.rank() != 1) {
      return NodeError(node, absl::StrCat("indices (input 1) are ", DescribeTensor(indices),
                                          "; expected a 1-D int32/int64 tensor (every bag's ids, "
                                          "concatenated)"));
    }
    if (!IsIndexType(offsets.dtype) || offsets.rank() != 1) {
      return NodeError(node, absl::StrCat("offsets (input 2) are ", DescribeTensor(offsets),
                                          "; expected a 1-D int32/int64 tensor of bags + 1 "
                                          "entries (bag b is indices[offsets[b]:offsets[b+1]])"));
    }
    const int64_t n = indices.dims[0];
    if (scale != nullptr &&
        (scale->dtype != DType::kFloat32 || scale->rank() != 1 || scale->dims[0] != n)) {
      return NodeError(node,
                       absl::StrCat("per_sample_weights (input 3) are ", DescribeTensor(*scale),
                                    "; expected float32 [", n, "], one weight per index"));
    }
    const int64_t rows = weight.dims[0], dim = weight.dims[1];
    const int64_t bags = std::max<int64_t>(offsets.dims[0] - 1, 0);
    // Validation first, once: the pooling loop below reads only checked offsets and ids.
    for (int64_t b = 0; b <= bags && b < offsets.dims[0]; ++b) {
      const int64_t at = IntAt(offsets, b);
      const int64_t prev = b == 0 ? 0 : IntAt(offsets, b - 1);
      if (at < 0 || at > n) {
        return absl::OutOfRangeError(absl::StrCat(kOffsetsEmbeddingBagOp, " node '", node.name,
                                                  "': offsets[", b, "] = ", at, " is outside [0, ",
                                                  n, "] (the indices hold ", n, " ids)"));
      }
      if (b > 0 && at < prev) {
        return absl::InvalidArgumentError(
            absl::StrCat(kOffsetsEmbeddingBagOp, " node '", node.name,
                         "': offsets decrease at position ", b, " (offsets[", b - 1, "] = ", prev,
                         ", offsets[", b, "] = ", at, "); expected non-decreasing offsets"));
      }
    }
    const int64_t first = offsets.dims[0] > 0 ? IntAt(offsets, 0) : 0;
    const int64_t last = offsets.dims[0] > 0 ? IntAt(offsets, bags) : 0;
    bool negative = false;
    for (int64_t t = first; t < last; ++t) {
      const int64_t id = IntAt(indices, t);
      negative |= id < 0;
      if (id < -rows || id >= rows) {
        return absl::OutOfRangeError(
            absl::StrCat(kOffsetsEmbeddingBagOp, " node '", node.name, "': id ", id,
                         " at indices position ", t, " is outside the table's rows [0, ", rows,
                         ") (ids in [-", rows, ", 0) count from the end, as ONNX Gather's)"));
      }
    }
    const int64_t out_dims[2] = {bags, dim};
    RANKOPT_ASSIGN_OR_RETURN(TensorView out, ctx->AllocateOutput(0, DType::kFloat32, out_dims));
    const float* w = weight.data_as<float>();
    const float* s = scale == nullptr ? nullptr : scale->data_as<float>();
    float* y = out.data_as<float>();
    // Sum and mean of int64 ids in range: embedding/'s vectorized in-order Bag (the same sums,
    // bit for bit); mean then divides, as ReduceMean does.
    if (s == nullptr && mode_ != OffsetsBagMode::kMax && indices.dtype == DType::kInt64 &&
        !negative && bags > 0 && last - first <= std::numeric_limits<int32_t>::max()) {
      RANKOPT_ASSIGN_OR_RETURN(void* scratch,
                               ctx->AllocateScratch(static_cast<size_t>(bags) * sizeof(int32_t)));
      int32_t* lengths = static_cast<int32_t*>(scratch);
      for (int64_t b = 0; b < bags; ++b) {
        lengths[b] = static_cast<int32_t>(IntAt(offsets, b + 1) - IntAt(offsets, b));
      }
      TableView view;
      view.dtype = TableDType::kFloat32;
      view.rows = rows;
      view.dim = dim;
      view.row_bytes = RowBytes(TableDType::kFloat32, dim);
      view.data = static_cast<const uint8_t*>(weight.data);
      const absl::Span<const int64_t> ids(indices.data_as<int64_t>() + first,
                                          static_cast<size_t>(last - first));
      if (!Bag(view, ids, absl::Span<const int32_t>(lengths, static_cast<size_t>(bags)), nullptr,
               Pooling::kSum, y)) {
        return absl::InternalError(absl::StrCat(kOffsetsEmbeddingBagOp, " node '", node.name,
                                                "': the pooling kernel refused checked inputs"));
      }
      if (mode_ == OffsetsBagMode::kMean) {
        for (int64_t b = 0; b < bags; ++b) {
          if (lengths[b] == 0) continue;
          const float count = static_cast<float>(lengths[b]);
          for (int64_t d = 0; d < dim; ++d) y[b * dim + d] /= count;
        }
      }
      return absl::OkStatus();
    }
    for (int64_t b = 0; b < bags; ++b) {
      const int64_t begin = IntAt(offsets, b), end = IntAt(offsets, b + 1);
      float* dst = y + b * dim;
      const float init =
          mode_ == OffsetsBagMode::kMax ? -std::numeric_limits<float>::infinity() : 0.0f;
      std::fill(dst, dst + dim, init);
      for (int64_t t = begin; t < end; ++t) {
        int64_t id = IntAt(indices, t);
        if (id < 0) id += rows;
        const float* row = w + id * dim;
        if (mode_ == OffsetsBagMode::kMax) {
          if (s == nullptr) {
            for (int64_t d = 0; d < dim; ++d) dst[d] = std::max(dst[d], row[d]);
          } else {
            for (int64_t d = 0; d < dim; ++d) dst[d] = std::max(dst[d], row[d] * s[t]);
          }
        } else if (s == nullptr) {
          for (int64_t d = 0; d < dim; ++d) dst[d] += row[d];
        } else {
          for (int64_t d = 0; d < dim; ++d) dst[d] += row[d] * s[t];
        }
      }
      if (mode_ == OffsetsBagMode::kMax && end == begin && empty_is_zero_) {
        std::fill(dst, dst + dim, 0.0f);
      }
      if (mode_ == OffsetsBagMode::kMean && end > begin) {
        const float count = static_cast<float>(end - begin);
        for (int64_t d = 0; d < dim; ++d) dst[d] /= count;
      }
    }
    return absl::OkStatus();
  }

 private:
  OffsetsBagMode mode_;
  bool empty_is_zero_;  // attr empty_is_zero: an empty max bag is zeros, not -inf
};

absl::StatusOr<std::unique_ptr<OpKernel>> MakeOffsetsBag(const KernelBuildContext& build) {
  const Node& node = *build.node;
  const std::string* mode = node.attrs.Get<std::string>("mode");
  if (mode == nullptr) return NodeError(node, "attr 'mode' (sum, mean or max) is missing");
  RANKOPT_ASSIGN_OR_RETURN(OffsetsBagMode parsed, ParseOffsetsBagMode(*mode));
  const int64_t* empty_is_zero = node.attrs.Get<int64_t>("empty_is_zero");
  return std::unique_ptr<OpKernel>(
      std::make_unique<OffsetsBagKernel>(parsed, empty_is_zero != nullptr && *empty_is_zero != 0));
}

// weight [rows, dim], offsets [k] -> [k - 1, dim].
void OffsetsBagShape(const Node& n, ShapeContext* ctx) {
  const InferredTensor weight = ctx->In(n, 0);
  const Shape offsets = ctx->In(n, 2).shape;
  int64_t bags = Shape::kUnknownDim;
  if (offsets.known_rank() && offsets.rank() == 1 && offsets.dim(0) >= 0) {
    bags = std::max<int64_t>(offsets.dim(0) - 1, 0);
  }
  const int64_t dim = weight.shape.known_rank() && weight.shape.rank() == 2 ? weight.shape.dim(1)
                                                                            : Shape::kUnknownDim;
  ctx->Set(n, 0, DType::kFloat32, Shape({bags, dim}));
}

// One add (or max) per pooled value, one multiply more with per_sample_weights, one divide per
// output value for mean.
NodeFlops OffsetsBagFlops(const Node& n, const ShapeMap& shapes) {
  const Shape& weight = flops::InputShape(n, 0, shapes);
  const Shape& indices = flops::InputShape(n, 1, shapes);
  if (!weight.known_rank() || weight.rank() != 2 || weight.dim(1) < 0 || !indices.known_rank() ||
      indices.rank() != 1 || indices.dim(0) < 0) {
    return flops::Counted(std::nullopt);
  }
  std::optional<int64_t> pooled = flops::Mul(indices.dim(0), weight.dim(1));
  std::optional<int64_t> total = pooled;
  if (n.inputs.size() > 3 && !n.inputs[3].empty()) total = flops::Add(total, pooled);
  const std::string* mode = n.attrs.Get<std::string>("mode");
  if (mode != nullptr && *mode == "mean") {
    total = flops::Add(total, flops::OutputElements(n, shapes));
  }
  return flops::Counted(total);
}

}  // namespace

absl::StatusOr<OffsetsBagMode> ParseOffsetsBagMode(absl::string_view mode) {
  if (mode == "sum") return OffsetsBagMode::kSum;
  if (mode == "mean") return OffsetsBagMode::kMean;
  if (mode == "max") return OffsetsBagMode::kMax;
  return absl::InvalidArgumentError(absl::StrCat(kOffsetsEmbeddingBagOp, " attr 'mode' is '", mode,
                                                 "'; expected sum, mean or max"));
}

absl::Status RegisterOffsetsBagKernel(KernelRegistry* registry) {
  RANKOPT_RETURN_IF_ERROR(registry->RegisterOpInfo(std::string(kOffsetsEmbeddingBagOp),
                                                   {OffsetsBagShape, OffsetsBagFlops}));
  for (OpSet set : {OpSet::kOnnx, OpSet::kTensorFlow}) {
    RANKOPT_RETURN_IF_ERROR(
        registry->Register(set, std::string(kOffsetsEmbeddingBagOp), MakeOffsetsBag));
  }
  return absl::OkStatus();
}

}  // namespace rankopt
