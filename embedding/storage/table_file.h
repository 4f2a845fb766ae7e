// A flat file of embedding tables (".rkemb") that is mmap'ed back with no copy and no parsing:
// a fixed header, a directory of fixed entries, the names, then each table's rows as a 64-byte
// aligned blob, exactly as EmbeddingTable lays them out in memory.
//
// Layout (little-endian; all offsets absolute from the file start):
//   [0, 64)            TableFileHeader: magic "RKEMB1\0\0", version, table count, file size,
//                      metadata size, xxh64 of the metadata
//   [64, 64 + 64 * n)  n TableFileEntry: name (offset, length), dtype, rows, dim, row_bytes,
//                      blob offset, blob size, xxh64 of the blob
//   [.., metadata)     the names, back to back (no terminators)
//   then               the blobs, each starting at a multiple of 64, zero padding between them
//                      and after the last one up to a multiple of 64
// metadata_xxh64 = XXH64(seed 0) of bytes [0, metadata_bytes) with the metadata_xxh64 field read
// as zero; blob xxh64 = XXH64(seed 0) of its byte_size bytes.
//
// Loading never trusts the file: magic, version, sizes, metadata checksum, every entry (dtype,
// rows, dim, row_bytes, bounds, alignment, overlap, unique names) and every blob's checksum are
// checked before a table is handed out, so no row is read unverified.
#ifndef RANKOPT_EMBEDDING_STORAGE_TABLE_FILE_H_
#define RANKOPT_EMBEDDING_STORAGE_TABLE_FILE_H_

#include <bit>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "embedding/storage/embedding_table.h"

namespace rankopt {

static_assert(std::endian::native == std::endian::little,
              "table files are little-endian and mapped as they are");

inline constexpr char kTableFileMagic[8] = {'R', 'K', 'E', 'M', 'B', '1', '\0', '\0'};
inline constexpr uint32_t kTableFileVersion = 1;
inline constexpr uint32_t kMaxTablesPerFile = 1 << 16;
inline constexpr uint32_t kMaxTableNameBytes = 1024;

struct TableFileHeader {
  char magic[8];
  uint32_t version;
  uint32_t table_count;
  uint64_t file_bytes;      // the file's exact size
  uint64_t metadata_bytes;  // header + entries + names
  uint64_t metadata_xxh64;
  uint8_t reserved[24];  // zero
};
static_assert(sizeof(TableFileHeader) == 64, "the header is one cache line");

struct TableFileEntry {
  uint64_t name_offset;
  uint32_t name_bytes;
  uint8_t dtype;  // TableDType
  uint8_t reserved[3];
  int64_t rows;
  int64_t dim;
  uint64_t row_bytes;
  uint64_t offset;     // of the blob; a multiple of 64
  uint64_t byte_size;  // rows * row_bytes
  uint64_t xxh64;      // of the blob
};
static_assert(sizeof(TableFileEntry) == 64, "a directory entry is one cache line");

// Writes `tables` to `path` (through `path`.tmp and a rename, so readers never see half a file).
// Errors: no tables, empty / duplicate / over-long names or names with NUL bytes, I/O errors
// (the path named).
absl::Status WriteTableFile(const std::string& path,
                            absl::Span<const EmbeddingTable* const> tables);

// The tables of one table file, read-only and mapped. Tables are views into the mapping; the
// mapping lives as long as any table taken from it (each holds a shared reference), so a
// MappedTableFile may be dropped while its tables are still in use.
// Thread-safety: immutable; safe for concurrent reads.
class MappedTableFile {
 public:
  // Maps and validates the file at `path`. Errors name the path, the table and the field. A file of
  // 2 MiB or more is mapped 2 MiB aligned and advised onto transparent huge pages before any row
  // is read (see embedding/storage/table_memory.h).
  // Example:
  //   RANKOPT_ASSIGN_OR_RETURN(MappedTableFile file, MappedTableFile::Open("din.rkemb"));
  //   std::shared_ptr<const EmbeddingTable> items = file.Find("item_emb.weight");
  static absl::StatusOr<MappedTableFile> Open(const std::string& path);

  // Validates a table-file image already in memory (a model package's embedded blob); `owner`
  // keeps it alive. REQUIRES: data is 64-byte aligned (else an error). `source` names it in errors.
  static absl::StatusOr<MappedTableFile> FromMemory(const uint8_t* data, size_t size,
                                                    std::shared_ptr<const void> owner,
                                                    absl::string_view source);

  // In file order.
  const std::vector<std::shared_ptr<const EmbeddingTable>>& tables() const { return tables_; }
  // The table named `name`, or nullptr.
  std::shared_ptr<const EmbeddingTable> Find(absl::string_view name) const;
  size_t file_bytes() const { return file_bytes_; }

 private:
  std::vector<std::shared_ptr<const EmbeddingTable>> tables_;
  size_t file_bytes_ = 0;
};

}  // namespace rankopt

#endif  // RANKOPT_EMBEDDING_STORAGE_TABLE_FILE_H_
