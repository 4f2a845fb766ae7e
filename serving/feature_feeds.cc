#include "serving/feature_feeds.h"

#include <cstring>
#include <limits>

#include "absl/strings/str_cat.h"

namespace rankopt {
namespace {

// Writes element `i` of the column (row `row`, column `k`) as T.
template <typename T>
absl::Status Fill(const FeatureColumn& column, int64_t rows, int64_t width, const std::string& name,
                  T* out) {
  const bool per_row = column.rows() != 1 || column.side == FeatureSide::kItem;
  for (int64_t row = 0; row < rows; ++row) {
    const int64_t source_row = per_row ? row : 0;
    for (int64_t k = 0; k < width; ++k) {
      const size_t at = static_cast<size_t>(source_row * width + k);
      if (column.dtype == DType::kInt64) {
        const int64_t id = column.ids[at];
        if constexpr (std::is_integral_v<T>) {
          if (id < std::numeric_limits<T>::min() || id > std::numeric_limits<T>::max()) {
            return absl::OutOfRangeError(absl::StrCat("graph input '", name, "': id ", id,
                                                      " does not fit its ", sizeof(T) * 8,
                                                      "-bit integer type"));
          }
        }
        out[row * width + k] = static_cast<T>(id);
      } else {
        out[row * width + k] = static_cast<T>(column.values[at]);
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status FeedsFromTransformedRequest(const TransformedRequest& request,
                                         absl::Span<const ExecutionPlan::Input> inputs,
                                         GraphFeeds* feeds, const FeedOptions& options) {
  feeds->buffers.resize(inputs.size());
  feeds->views.resize(inputs.size());
  for (size_t i = 0; i < inputs.size(); ++i) {
    const ExecutionPlan::Input& input = inputs[i];
    int64_t rows = request.num_candidates;
    for (const std::string& name : options.one_row_inputs) {
      if (name == input.name) rows = 1;
    }
    const FeatureColumn* column = request.FindColumn(input.name);
    if (column == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat(
          "graph input '", input.name,
          "' has no feature in the config; add a feature with `input: ", input.name, "`"));
    }
    if (rows == 1 && request.num_candidates != 1 && column->side == FeatureSide::kItem) {
      return absl::InvalidArgumentError(absl::StrCat(
          "graph input '", input.name,
          "' is fed with one row (FeedOptions::one_row_inputs) but item features make it"));
    }
    const int64_t width = column->width();
    const bool flat = column->dims.size() <= 1;
    if (input.shape.known_rank() && input.shape.rank() != (flat ? 1 : 2)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "graph input '", input.name, "' is ", input.shape.ToString(), " but its features make ",
          flat ? "one value" : absl::StrCat(width, " values"), " per candidate"));
    }
    if (!flat && input.shape.known_rank() && input.shape.dim(1) >= 0 &&
        input.shape.dim(1) != width) {
      return absl::InvalidArgumentError(absl::StrCat("graph input '", input.name, "' is ",
                                                     input.shape.ToString(), " but its features ",
                                                     "make ", width, " values per candidate"));
    }
    const bool ids = column->dtype == DType::kInt64;
    const DType dtype = input.dtype;
    const bool fits = ids ? (dtype == DType::kInt64 || dtype == DType::kInt32)
                          : (dtype == DType::kFloat32 || dtype == DType::kFloat64);
    if (!fits) {
      return absl::InvalidArgumentError(absl::StrCat("graph input '", input.name, "' is ",
                                                     DTypeName(dtype), " but its features make ",
                                                     ids ? "integer ids" : "float values"));
    }
    std::vector<char>& buffer = feeds->buffers[i];
    buffer.resize(static_cast<size_t>(rows * width) * DTypeSize(dtype));
    absl::Status filled;
    switch (dtype) {
      case DType::kInt64:
        filled = Fill(*column, rows, width, input.name, reinterpret_cast<int64_t*>(buffer.data()));
        break;
      case DType::kInt32:
        filled = Fill(*column, rows, width, input.name, reinterpret_cast<int32_t*>(buffer.data()));
        break;
      case DType::kFloat64:
        filled = Fill(*column, rows, width, input.name, reinterpret_cast<double*>(buffer.data()));
        break;
      default:
        filled = Fill(*column, rows, width, input.name, reinterpret_cast<float*>(buffer.data()));
        break;
    }
    if (!filled.ok()) return filled;
    NamedTensorView& view = feeds->views[i];
    view.name = input.name;
    view.view.dtype = dtype;
    view.view.dims = flat ? Dims{rows} : Dims{rows, width};
    view.view.data = buffer.data();
  }
  return absl::OkStatus();
}

}  // namespace rankopt
