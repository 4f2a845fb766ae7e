// One embedding table: a name, a storage type (fp32, fp16, int8 row-wise), rows x dim values, and
// the bytes, either owned or borrowed from a mapping (a table file, a model package).
//
// Layout: rows are packed back to back at RowBytes(dtype, dim) (no per-row padding: an int8 row
// of dim 16 is 24 bytes, padding it to 64 would cost 2.7x the memory); the buffer starts 64-byte
// aligned. Owned buffers are zero-padded to a multiple of 64 bytes, but readers must not rely on
// bytes past rows * row_bytes; owned buffers of 2 MiB or more sit on transparent huge pages
// (embedding/storage/table_memory.h). Int8 rows end in an Int8RowTail that is not 4-byte aligned when dim
// is not a multiple of 4: read it with memcpy.
//
// Sharing: one table may serve many features (shared embeddings). Share it by pointer,
// std::shared_ptr<const EmbeddingTable>, so the weights exist once; the class is move-only so a
// copy of the weights never happens by accident.
//
// Thread-safety: immutable after construction; safe for concurrent reads.
#ifndef RANKOPT_EMBEDDING_STORAGE_EMBEDDING_TABLE_H_
#define RANKOPT_EMBEDDING_STORAGE_EMBEDDING_TABLE_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "embedding/table_view.h"

namespace rankopt {

inline constexpr size_t kTableAlignment = 64;
// Sanity limits for untrusted sizes (table files, graph constants).
inline constexpr int64_t kMaxTableDim = 1 << 16;
inline constexpr int64_t kMaxTableRows = int64_t{1} << 40;

// "fp32", "fp16", "int8" (the names the CLI and reports use).
absl::string_view TableDTypeName(TableDType dtype);
// Parses the names above ("int8rowwise" and "float16"/"float32" too); errors list the choices.
absl::StatusOr<TableDType> ParseTableDType(absl::string_view name);

class EmbeddingTable {
 public:
  // Copies `values` (row-major, rows * dim floats) into new 64-byte aligned storage.
  // Errors: rows < 1, dim outside [1, kMaxTableDim], values.size() != rows * dim.
  static absl::StatusOr<EmbeddingTable> FromFloat32(std::string name, int64_t rows, int64_t dim,
                                                    absl::Span<const float> values);

  // A table over memory it does not own; `owner` keeps that memory alive (a file mapping).
  // Checks: data 64-byte aligned, sane rows/dim, row_bytes >= RowBytes(dtype, dim) and a multiple
  // of the element size, rows * row_bytes == byte_size without overflow. Does not read the bytes.
  static absl::StatusOr<EmbeddingTable> FromExternal(std::string name, TableDType dtype,
                                                     int64_t rows, int64_t dim, size_t row_bytes,
                                                     const uint8_t* data, size_t byte_size,
                                                     std::shared_ptr<const void> owner);

  // `source` (fp32) stored as `target`:
  //   fp32: a copy;  fp16: each value rounded to the nearest half, ties to even;
  //   int8 row-wise (FBGEMM fused 8-bit): bias = row min, scale = (max - min) / 255,
  //     q = clamp(round_half_even((x - bias) / scale), 0, 255), value' = scale * q + bias.
  //     A row whose scale would be 0 or subnormal (constant rows, ranges < 255 * FLT_MIN) gets
  //     scale = 0, q = 0, bias = min: no division by a zero or tiny scale, error <= the range.
  // Errors: source not fp32; a NaN/Inf value (row and column named); fp16 overflow (|x| >= 65520).
  static absl::StatusOr<EmbeddingTable> Quantize(const EmbeddingTable& source, TableDType target);

  EmbeddingTable(EmbeddingTable&&) = default;
  EmbeddingTable& operator=(EmbeddingTable&&) = default;
  EmbeddingTable(const EmbeddingTable&) = delete;
  EmbeddingTable& operator=(const EmbeddingTable&) = delete;

  const std::string& name() const { return name_; }
  TableDType dtype() const { return dtype_; }
  int64_t rows() const { return rows_; }
  int64_t dim() const { return dim_; }
  size_t row_bytes() const { return row_bytes_; }
  // rows * row_bytes: the bytes that hold rows.
  size_t byte_size() const { return byte_size_; }
  // The rows' bytes (byte_size() of them, 64-byte aligned).
  absl::Span<const uint8_t> bytes() const { return {data_, byte_size_}; }
  // What the lookup kernels take. Valid while this table lives.
  TableView view() const { return TableView{dtype_, rows_, dim_, row_bytes_, data_}; }

  // Scalar reference: writes row `row` as dim() floats to `out`. False (nothing written) when
  // row is outside [0, rows()). int8 values are computed as scale * q + bias in float.
  bool DequantizeRow(int64_t row, float* out) const;

 private:
  EmbeddingTable() = default;

  std::string name_;
  TableDType dtype_ = TableDType::kFloat32;
  int64_t rows_ = 0;
  int64_t dim_ = 0;
  size_t row_bytes_ = 0;
  size_t byte_size_ = 0;
  const uint8_t* data_ = nullptr;
  std::shared_ptr<const void> owner_;  // keeps data_ alive: an owned buffer or a mapping
};

}  // namespace rankopt

#endif  // RANKOPT_EMBEDDING_STORAGE_EMBEDDING_TABLE_H_
