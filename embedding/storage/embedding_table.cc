#include "embedding/storage/embedding_table.h"

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "embedding/storage/half.h"
#include "embedding/storage/table_memory.h"

namespace rankopt {
namespace {

// Element size a row's bytes must be a multiple of (for aligned-enough element reads).
size_t ElementAlignment(TableDType dtype) {
  switch (dtype) {
    case TableDType::kFloat32:
      return 4;
    case TableDType::kFloat16:
      return 2;
    case TableDType::kInt8RowWise:
      return 1;
  }
  return 1;
}

bool KnownDType(TableDType dtype) {
  return dtype == TableDType::kFloat32 || dtype == TableDType::kFloat16 ||
         dtype == TableDType::kInt8RowWise;
}

absl::Status CheckShape(absl::string_view name, int64_t rows, int64_t dim) {
  if (rows < 1 || rows > kMaxTableRows) {
    return absl::InvalidArgumentError(absl::StrCat("embedding table '", name, "': rows = ", rows,
                                                   ", expected 1 to ", kMaxTableRows));
  }
  if (dim < 1 || dim > kMaxTableDim) {
    return absl::InvalidArgumentError(absl::StrCat("embedding table '", name, "': dim = ", dim,
                                                   ", expected 1 to ", kMaxTableDim));
  }
  return absl::OkStatus();
}

absl::Status NonFiniteError(absl::string_view name, int64_t row, int64_t col, float value) {
  return absl::InvalidArgumentError(absl::StrCat(
      "embedding table '", name, "': value ", value, " at row ", row, ", column ", col,
      " is not finite; quantization needs finite values (fix or drop the row in the model)"));
}

// False when the row's range is too wide for scale * 255 + bias to stay finite in float.
bool QuantizeRowInt8(const float* in, int64_t dim, uint8_t* out) {
  float lo = in[0], hi = in[0];
  for (int64_t j = 1; j < dim; ++j) {
    lo = std::min(lo, in[j]);
    hi = std::max(hi, in[j]);
  }
  // Double so that hi - lo cannot overflow (hi = FLT_MAX, lo = -FLT_MAX).
  const double range = static_cast<double>(hi) - lo;
  if (range > FLT_MAX / 2) return false;
  float scale = static_cast<float>(range / 255.0);
  if (!(scale >= FLT_MIN)) scale = 0.0f;  // constant or nearly constant row
  for (int64_t j = 0; j < dim; ++j) {
    double q = 0.0;
    if (scale > 0.0f) {
      q = std::nearbyint((static_cast<double>(in[j]) - lo) / scale);
      q = std::clamp(q, 0.0, 255.0);
    }
    out[j] = static_cast<uint8_t>(q);
  }
  const Int8RowTail tail{scale, lo};
  std::memcpy(out + dim, &tail, sizeof(tail));
  return true;
}

}  // namespace

absl::string_view TableDTypeName(TableDType dtype) {
  switch (dtype) {
    case TableDType::kFloat32:
      return "fp32";
    case TableDType::kFloat16:
      return "fp16";
    case TableDType::kInt8RowWise:
      return "int8";
  }
  return "unknown";
}

absl::StatusOr<TableDType> ParseTableDType(absl::string_view name) {
  const std::string lower = absl::AsciiStrToLower(name);
  if (lower == "fp32" || lower == "float32") return TableDType::kFloat32;
  if (lower == "fp16" || lower == "float16") return TableDType::kFloat16;
  if (lower == "int8" || lower == "int8rowwise") return TableDType::kInt8RowWise;
  return absl::InvalidArgumentError(
      absl::StrCat("unknown table dtype '", name, "', expected int8, fp16 or fp32"));
}

absl::StatusOr<EmbeddingTable> EmbeddingTable::FromFloat32(std::string name, int64_t rows,
                                                           int64_t dim,
                                                           absl::Span<const float> values) {
  if (absl::Status s = CheckShape(name, rows, dim); !s.ok()) return s;
  // rows <= 2^40 and dim <= 2^16: the product fits in 64 bits.
  const uint64_t count = static_cast<uint64_t>(rows) * static_cast<uint64_t>(dim);
  if (values.size() != count) {
    return absl::InvalidArgumentError(absl::StrCat("embedding table '", name, "': ", values.size(),
                                                   " values, expected rows * dim = ", rows, " * ",
                                                   dim, " = ", count));
  }
  const size_t bytes = count * sizeof(float);
  absl::StatusOr<std::shared_ptr<uint8_t>> buffer = AllocateTableMemory(name, bytes);
  if (!buffer.ok()) return buffer.status();
  std::memcpy(buffer->get(), values.data(), bytes);
  EmbeddingTable table;
  table.name_ = std::move(name);
  table.dtype_ = TableDType::kFloat32;
  table.rows_ = rows;
  table.dim_ = dim;
  table.row_bytes_ = RowBytes(TableDType::kFloat32, dim);
  table.byte_size_ = bytes;
  table.data_ = buffer->get();
  table.owner_ = std::move(*buffer);
  return table;
}

absl::StatusOr<EmbeddingTable> EmbeddingTable::FromExternal(std::string name, TableDType dtype,
                                                            int64_t rows, int64_t dim,
                                                            size_t row_bytes, const uint8_t* data,
                                                            size_t byte_size,
                                                            std::shared_ptr<const void> owner) {
  if (!KnownDType(dtype)) {
    return absl::InvalidArgumentError(absl::StrCat("embedding table '", name, "': dtype code ",
                                                   static_cast<int>(dtype),
                                                   " unknown, expected 0 (fp32), 1 (fp16) or 2 "
                                                   "(int8 row-wise)"));
  }
  if (absl::Status s = CheckShape(name, rows, dim); !s.ok()) return s;
  const size_t min_row = RowBytes(dtype, dim);
  // The upper bound only keeps rows * row_bytes from overflowing; real rows carry no padding.
  if (row_bytes < min_row || row_bytes > min_row + 4 * kTableAlignment ||
      row_bytes % ElementAlignment(dtype) != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("embedding table '", name, "': row_bytes = ", row_bytes, ", expected ",
                     min_row, " (", TableDTypeName(dtype), ", dim ", dim,
                     ") or a little more, a multiple of ", ElementAlignment(dtype)));
  }
  // rows <= 2^40, row_bytes < 2^19: no overflow.
  const uint64_t expected = static_cast<uint64_t>(rows) * row_bytes;
  if (expected != byte_size) {
    return absl::InvalidArgumentError(absl::StrCat("embedding table '", name, "': ", byte_size,
                                                   " bytes, expected rows * row_bytes = ", rows,
                                                   " * ", row_bytes, " = ", expected));
  }
  if (data == nullptr || reinterpret_cast<uintptr_t>(data) % kTableAlignment != 0) {
    return absl::InvalidArgumentError(absl::StrCat("embedding table '", name, "': data is not ",
                                                   kTableAlignment, "-byte aligned"));
  }
  EmbeddingTable table;
  table.name_ = std::move(name);
  table.dtype_ = dtype;
  table.rows_ = rows;
  table.dim_ = dim;
  table.row_bytes_ = row_bytes;
  table.byte_size_ = byte_size;
  table.data_ = data;
  table.owner_ = std::move(owner);
  return table;
}

absl::StatusOr<EmbeddingTable> EmbeddingTable::Quantize(const EmbeddingTable& source,
                                                        TableDType target) {
  if (source.dtype() != TableDType::kFloat32) {
    return absl::InvalidArgumentError(absl::StrCat("embedding table '", source.name(), "': is ",
                                                   TableDTypeName(source.dtype()),
                                                   ", quantization needs an fp32 source"));
  }
  if (!KnownDType(target)) {
    return absl::InvalidArgumentError(absl::StrCat("embedding table '", source.name(),
                                                   "': unknown target dtype code ",
                                                   static_cast<int>(target)));
  }
  const int64_t rows = source.rows(), dim = source.dim();
  const size_t row_bytes = RowBytes(target, dim);
  const size_t bytes = static_cast<size_t>(rows) * row_bytes;
  absl::StatusOr<std::shared_ptr<uint8_t>> buffer = AllocateTableMemory(source.name(), bytes);
  if (!buffer.ok()) return buffer.status();
  uint8_t* out = buffer->get();
  std::vector<float> row(static_cast<size_t>(dim));
  for (int64_t r = 0; r < rows; ++r) {
    // memcpy: source rows may come from a mapping whose rows are only 4-byte aligned.
    std::memcpy(row.data(), source.view().Row(r), static_cast<size_t>(dim) * sizeof(float));
    if (target != TableDType::kFloat32) {
      for (int64_t j = 0; j < dim; ++j) {
        if (!std::isfinite(row[j])) return NonFiniteError(source.name(), r, j, row[j]);
      }
    }
    uint8_t* dst = out + static_cast<size_t>(r) * row_bytes;
    switch (target) {
      case TableDType::kFloat32:
        std::memcpy(dst, row.data(), row_bytes);
        break;
      case TableDType::kFloat16:
        for (int64_t j = 0; j < dim; ++j) {
          const uint16_t h = FloatToHalfBits(row[j]);
          if ((h & 0x7c00u) == 0x7c00u) {
            return absl::InvalidArgumentError(absl::StrCat(
                "embedding table '", source.name(), "': value ", row[j], " at row ", r, ", column ",
                j, " overflows fp16 (|x| must be < 65520); keep this table fp32"));
          }
          std::memcpy(dst + 2 * j, &h, sizeof(h));
        }
        break;
      case TableDType::kInt8RowWise:
        if (!QuantizeRowInt8(row.data(), dim, dst)) {
          return absl::InvalidArgumentError(absl::StrCat(
              "embedding table '", source.name(), "': row ", r,
              " spans more than FLT_MAX / 2, too wide for int8 row-wise; keep this table fp32"));
        }
        break;
    }
  }
  EmbeddingTable table;
  table.name_ = source.name();
  table.dtype_ = target;
  table.rows_ = rows;
  table.dim_ = dim;
  table.row_bytes_ = row_bytes;
  table.byte_size_ = bytes;
  table.data_ = out;
  table.owner_ = std::move(*buffer);
  return table;
}

bool EmbeddingTable::DequantizeRow(int64_t row, float* out) const {
  if (row < 0 || row >= rows_) return false;
  const uint8_t* src = view().Row(row);
  switch (dtype_) {
    case TableDType::kFloat32:
      std::memcpy(out, src, static_cast<size_t>(dim_) * sizeof(float));
      return true;
    case TableDType::kFloat16:
      for (int64_t j = 0; j < dim_; ++j) {
        uint16_t h;
        std::memcpy(&h, src + 2 * j, sizeof(h));
        out[j] = HalfBitsToFloat(h);
      }
      return true;
    case TableDType::kInt8RowWise: {
      Int8RowTail tail;
      std::memcpy(&tail, src + dim_, sizeof(tail));
      for (int64_t j = 0; j < dim_; ++j)
        out[j] = tail.scale * static_cast<float>(src[j]) + tail.bias;
      return true;
    }
  }
  return false;
}

}  // namespace rankopt
