#include "embedding/storage/table_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "embedding/storage/table_memory.h"

namespace rankopt {
namespace {

constexpr size_t kMetadataChecksumOffset = offsetof(TableFileHeader, metadata_xxh64);

uint64_t AlignUp(uint64_t n) {
  return (n + kTableAlignment - 1) / kTableAlignment * kTableAlignment;
}

// XXH64 of [0, size) with the header's checksum field read as zero.
uint64_t MetadataChecksum(const uint8_t* data, size_t size) {
  XXH64_state_t* state = XXH64_createState();
  XXH64_reset(state, 0);
  XXH64_update(state, data, kMetadataChecksumOffset);
  const uint64_t zero = 0;
  XXH64_update(state, &zero, sizeof(zero));
  const size_t rest = kMetadataChecksumOffset + sizeof(zero);
  XXH64_update(state, data + rest, size - rest);
  const uint64_t hash = XXH64_digest(state);
  XXH64_freeState(state);
  return hash;
}

absl::Status ValidateName(absl::string_view name, absl::string_view where) {
  if (name.empty() || name.size() > kMaxTableNameBytes ||
      name.find('\0') != absl::string_view::npos) {
    return absl::InvalidArgumentError(absl::StrCat(
        where, ": table name '", name, "' (", name.size(), " bytes) is invalid, expected 1 to ",
        kMaxTableNameBytes, " bytes without NUL"));
  }
  return absl::OkStatus();
}

class FileCloser {
 public:
  explicit FileCloser(std::FILE* f) : f_(f) {}
  ~FileCloser() {
    if (f_ != nullptr) std::fclose(f_);
  }
  // Closes now and reports whether buffered writes reached the file.
  bool Close() {
    const bool ok = std::fclose(f_) == 0;
    f_ = nullptr;
    return ok;
  }

 private:
  std::FILE* f_;
};

// A read-only private mapping, unmapped when the last table from it is gone.
class Mapping {
 public:
  Mapping(void* addr, size_t size) : addr_(addr), size_(size) {}
  ~Mapping() { munmap(addr_, size_); }
  Mapping(const Mapping&) = delete;
  Mapping& operator=(const Mapping&) = delete;
  const uint8_t* data() const { return static_cast<const uint8_t*>(addr_); }

 private:
  void* addr_;
  size_t size_;
};

absl::Status Corrupt(absl::string_view source, absl::string_view what) {
  return absl::DataLossError(absl::StrCat(source, ": ", what));
}

}  // namespace

absl::Status WriteTableFile(const std::string& path,
                            absl::Span<const EmbeddingTable* const> tables) {
  if (tables.empty() || tables.size() > kMaxTablesPerFile) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": ", tables.size(), " tables, expected 1 to ", kMaxTablesPerFile));
  }
  absl::flat_hash_set<absl::string_view> names;
  uint64_t names_bytes = 0;
  for (const EmbeddingTable* table : tables) {
    if (absl::Status s = ValidateName(table->name(), path); !s.ok()) return s;
    if (!names.insert(table->name()).second) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ": two tables are named '", table->name(), "'; names must be unique"));
    }
    names_bytes += table->name().size();
  }
  const uint64_t entries_begin = sizeof(TableFileHeader);
  const uint64_t names_begin = entries_begin + tables.size() * sizeof(TableFileEntry);
  const uint64_t metadata_bytes = names_begin + names_bytes;

  std::string metadata(metadata_bytes, '\0');
  std::vector<TableFileEntry> entries(tables.size());
  uint64_t name_offset = names_begin;
  uint64_t blob_offset = AlignUp(metadata_bytes);
  for (size_t i = 0; i < tables.size(); ++i) {
    const EmbeddingTable& t = *tables[i];
    TableFileEntry& e = entries[i];
    std::memset(&e, 0, sizeof(e));
    e.name_offset = name_offset;
    e.name_bytes = static_cast<uint32_t>(t.name().size());
    e.dtype = static_cast<uint8_t>(t.dtype());
    e.rows = t.rows();
    e.dim = t.dim();
    e.row_bytes = t.row_bytes();
    e.offset = blob_offset;
    e.byte_size = t.byte_size();
    e.xxh64 = XXH64(t.bytes().data(), t.byte_size(), 0);
    std::memcpy(metadata.data() + name_offset, t.name().data(), t.name().size());
    name_offset += t.name().size();
    blob_offset = AlignUp(blob_offset + t.byte_size());
  }
  std::memcpy(metadata.data() + entries_begin, entries.data(),
              entries.size() * sizeof(TableFileEntry));
  TableFileHeader header;
  std::memset(&header, 0, sizeof(header));
  std::memcpy(header.magic, kTableFileMagic, sizeof(header.magic));
  header.version = kTableFileVersion;
  header.table_count = static_cast<uint32_t>(tables.size());
  header.file_bytes = blob_offset;
  header.metadata_bytes = metadata_bytes;
  std::memcpy(metadata.data(), &header, sizeof(header));
  header.metadata_xxh64 =
      MetadataChecksum(reinterpret_cast<const uint8_t*>(metadata.data()), metadata.size());
  std::memcpy(metadata.data(), &header, sizeof(header));

  const std::string tmp_path = path + ".tmp";
  std::FILE* f = std::fopen(tmp_path.c_str(), "wb");
  if (f == nullptr) {
    return absl::UnavailableError(
        absl::StrCat(tmp_path, ": cannot open for writing: ", std::strerror(errno)));
  }
  FileCloser closer(f);
  static constexpr char kZeros[kTableAlignment] = {};
  bool ok = std::fwrite(metadata.data(), 1, metadata.size(), f) == metadata.size();
  uint64_t written = metadata.size();
  for (size_t i = 0; ok && i < tables.size(); ++i) {
    ok = std::fwrite(kZeros, 1, entries[i].offset - written, f) == entries[i].offset - written &&
         std::fwrite(tables[i]->bytes().data(), 1, entries[i].byte_size, f) == entries[i].byte_size;
    written = entries[i].offset + entries[i].byte_size;
  }
  ok = ok && std::fwrite(kZeros, 1, header.file_bytes - written, f) == header.file_bytes - written;
  ok = closer.Close() && ok;
  if (!ok) {
    const std::string error = std::strerror(errno);
    std::remove(tmp_path.c_str());
    return absl::UnavailableError(absl::StrCat(tmp_path, ": write failed: ", error));
  }
  if (std::rename(tmp_path.c_str(), path.c_str()) != 0) {
    const std::string error = std::strerror(errno);
    std::remove(tmp_path.c_str());
    return absl::UnavailableError(
        absl::StrCat(path, ": cannot rename ", tmp_path, " onto it: ", error));
  }
  return absl::OkStatus();
}

absl::StatusOr<MappedTableFile> MappedTableFile::Open(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return errno == ENOENT ? absl::NotFoundError(absl::StrCat(path, ": no such file"))
                           : absl::UnavailableError(
                                 absl::StrCat(path, ": cannot open: ", std::strerror(errno)));
  }
  struct stat st;
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return absl::InvalidArgumentError(absl::StrCat(path, ": not a regular file"));
  }
  const size_t size = static_cast<size_t>(st.st_size);
  if (size < sizeof(TableFileHeader)) {
    ::close(fd);
    return Corrupt(path, absl::StrCat("truncated: ", size, " bytes, a table file starts with a ",
                                      sizeof(TableFileHeader), "-byte header"));
  }
  void* addr = MapFileReadOnly(fd, size);
  const int map_errno = errno;
  ::close(fd);
  if (addr == MAP_FAILED) {
    return absl::UnavailableError(absl::StrCat(path, ": mmap failed: ", std::strerror(map_errno)));
  }
  auto mapping = std::make_shared<const Mapping>(addr, size);
  // Before the checksum pass faults the pages in, so they can come as huge pages.
  AdviseHugePages(addr, size);
  const uint8_t* data = mapping->data();
  return FromMemory(data, size, std::move(mapping), path);
}

absl::StatusOr<MappedTableFile> MappedTableFile::FromMemory(const uint8_t* data, size_t size,
                                                            std::shared_ptr<const void> owner,
                                                            absl::string_view source) {
  if (reinterpret_cast<uintptr_t>(data) % kTableAlignment != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(source, ": table file image is not ", kTableAlignment, "-byte aligned"));
  }
  if (size < sizeof(TableFileHeader)) {
    return Corrupt(source, absl::StrCat("truncated: ", size, " bytes, a table file starts with a ",
                                        sizeof(TableFileHeader), "-byte header"));
  }
  TableFileHeader header;
  std::memcpy(&header, data, sizeof(header));
  if (std::memcmp(header.magic, kTableFileMagic, sizeof(header.magic)) != 0) {
    return Corrupt(source, "not a rankopt table file (magic is not \"RKEMB1\\0\\0\")");
  }
  if (header.version != kTableFileVersion) {
    return Corrupt(source, absl::StrCat("table file version ", header.version,
                                        ", this build reads version ", kTableFileVersion));
  }
  if (header.file_bytes != size) {
    return Corrupt(source,
                   absl::StrCat(size < header.file_bytes ? "truncated: " : "trailing data: ", size,
                                " bytes, the header says ", header.file_bytes));
  }
  if (header.table_count < 1 || header.table_count > kMaxTablesPerFile) {
    return Corrupt(source, absl::StrCat("table count ", header.table_count, ", expected 1 to ",
                                        kMaxTablesPerFile));
  }
  const uint64_t names_begin =
      sizeof(TableFileHeader) + uint64_t{header.table_count} * sizeof(TableFileEntry);
  if (header.metadata_bytes < names_begin || header.metadata_bytes > size) {
    return Corrupt(source, absl::StrCat("metadata size ", header.metadata_bytes, ", expected ",
                                        names_begin, " to the file size ", size));
  }
  const uint64_t checksum = MetadataChecksum(data, header.metadata_bytes);
  if (checksum != header.metadata_xxh64) {
    return Corrupt(source, absl::StrCat("header/directory checksum mismatch (xxh64 ", checksum,
                                        ", expected ", header.metadata_xxh64, ")"));
  }
  const uint64_t blobs_begin = AlignUp(header.metadata_bytes);

  MappedTableFile file;
  file.file_bytes_ = size;
  absl::flat_hash_set<std::string> names;
  std::vector<std::pair<uint64_t, uint64_t>> extents;  // [offset, end) of each blob
  std::vector<EmbeddingTable> tables;
  std::vector<uint64_t> checksums;
  for (uint32_t i = 0; i < header.table_count; ++i) {
    TableFileEntry e;
    std::memcpy(&e, data + sizeof(TableFileHeader) + uint64_t{i} * sizeof(TableFileEntry),
                sizeof(e));
    const std::string where = absl::StrCat("table #", i);
    if (e.name_bytes < 1 || e.name_bytes > kMaxTableNameBytes || e.name_offset < names_begin ||
        e.name_offset > header.metadata_bytes ||
        e.name_bytes > header.metadata_bytes - e.name_offset) {
      return Corrupt(source, absl::StrCat(where, ": name at [", e.name_offset, ", +", e.name_bytes,
                                          ") is outside the name area [", names_begin, ", ",
                                          header.metadata_bytes, ")"));
    }
    std::string name(reinterpret_cast<const char*>(data + e.name_offset), e.name_bytes);
    if (absl::Status s = ValidateName(name, absl::StrCat(source, ": ", where)); !s.ok()) {
      return Corrupt(source, s.message());
    }
    const std::string table_where = absl::StrCat("table '", name, "'");
    if (!names.insert(name).second) {
      return Corrupt(source, absl::StrCat(table_where, " appears twice; names must be unique"));
    }
    if (e.offset % kTableAlignment != 0 || e.offset < blobs_begin) {
      return Corrupt(source, absl::StrCat(table_where, ": blob offset ", e.offset,
                                          " is misaligned or inside the metadata, expected a "
                                          "multiple of ",
                                          kTableAlignment, " >= ", blobs_begin));
    }
    if (e.offset > size || e.byte_size > size - e.offset) {
      return Corrupt(source, absl::StrCat(table_where, ": blob [", e.offset, ", +", e.byte_size,
                                          ") runs past the end of the file (", size, " bytes)"));
    }
    // FromExternal checks dtype, rows, dim, row_bytes and rows * row_bytes == byte_size.
    absl::StatusOr<EmbeddingTable> table =
        EmbeddingTable::FromExternal(name, static_cast<TableDType>(e.dtype), e.rows, e.dim,
                                     e.row_bytes, data + e.offset, e.byte_size, owner);
    if (!table.ok()) return Corrupt(source, table.status().message());
    extents.emplace_back(e.offset, e.offset + e.byte_size);
    checksums.push_back(e.xxh64);
    tables.push_back(*std::move(table));
  }
  std::sort(extents.begin(), extents.end());
  for (size_t i = 1; i < extents.size(); ++i) {
    if (extents[i].first < extents[i - 1].second) {
      return Corrupt(
          source, absl::StrCat("blobs [", extents[i - 1].first, ", ", extents[i - 1].second,
                               ") and [", extents[i].first, ", ", extents[i].second, ") overlap"));
    }
  }
  // Last, because it reads every byte: the structure is known sound by now.
  for (size_t i = 0; i < tables.size(); ++i) {
    const absl::Span<const uint8_t> blob = tables[i].bytes();
    const uint64_t hash = XXH64(blob.data(), blob.size(), 0);
    if (hash != checksums[i]) {
      return Corrupt(
          source,
          absl::StrCat("table '", tables[i].name(), "': checksum mismatch (xxh64 ", hash,
                       ", expected ", checksums[i], "): its rows are corrupt; rewrite the file"));
    }
  }
  file.tables_.reserve(tables.size());
  for (EmbeddingTable& t : tables) {
    file.tables_.push_back(std::make_shared<const EmbeddingTable>(std::move(t)));
  }
  return file;
}

std::shared_ptr<const EmbeddingTable> MappedTableFile::Find(absl::string_view name) const {
  for (const auto& table : tables_) {
    if (table->name() == name) return table;
  }
  return nullptr;
}

}  // namespace rankopt
