#include "embedding/storage/table_file.h"

#include <unistd.h>
#include <xxhash.h>

#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "core/file_io.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace rankopt {
namespace {

using ::testing::HasSubstr;

std::string TempPath(const std::string& name) {
  const char* dir = std::getenv("TEST_TMPDIR");
  return std::string(dir != nullptr ? dir : "/tmp") + "/rankopt_table_file_test_" +
         std::to_string(::getpid()) + "_" + name;
}

EmbeddingTable MakeFp32(const std::string& name, int64_t rows, int64_t dim, float base) {
  std::vector<float> values(rows * dim);
  for (size_t i = 0; i < values.size(); ++i) values[i] = base + 0.01f * static_cast<float>(i);
  return *EmbeddingTable::FromFloat32(name, rows, dim, values);
}

// Three tables, one of each dtype, with dims that leave blobs unaligned at their ends.
struct Fixture {
  EmbeddingTable a = MakeFp32("item_emb.weight", 5, 3, 0.0f);
  EmbeddingTable b_src = MakeFp32("cate_emb.weight", 7, 16, -1.0f);
  EmbeddingTable b = *EmbeddingTable::Quantize(b_src, TableDType::kInt8RowWise);
  EmbeddingTable c = *EmbeddingTable::Quantize(MakeFp32("user", 3, 5, 2.0f), TableDType::kFloat16);
  std::vector<const EmbeddingTable*> all() const { return {&a, &b, &c}; }
};

// A 64-byte aligned copy of a file image (what mmap gives).
struct AlignedImage {
  explicit AlignedImage(const std::string& bytes) : size(bytes.size()) {
    data = static_cast<uint8_t*>(std::aligned_alloc(64, (bytes.size() + 63) / 64 * 64 + 64));
    std::memcpy(data, bytes.data(), bytes.size());
  }
  ~AlignedImage() { std::free(data); }
  uint8_t* data;
  size_t size;
};

absl::StatusOr<MappedTableFile> ParseImage(const std::string& bytes) {
  auto image = std::make_shared<AlignedImage>(bytes);
  return MappedTableFile::FromMemory(image->data, image->size, image, "image");
}

std::string WrittenImage(const Fixture& f) {
  const std::string path = TempPath("image.rkemb");
  EXPECT_TRUE(WriteTableFile(path, f.all()).ok());
  std::string bytes = *ReadFileToString(path);
  std::remove(path.c_str());
  return bytes;
}

TableFileHeader Header(const std::string& bytes) {
  TableFileHeader h;
  std::memcpy(&h, bytes.data(), sizeof(h));
  return h;
}
TableFileEntry Entry(const std::string& bytes, int i) {
  TableFileEntry e;
  std::memcpy(&e, bytes.data() + 64 + 64 * i, sizeof(e));
  return e;
}
void PutEntry(std::string* bytes, int i, const TableFileEntry& e) {
  std::memcpy(bytes->data() + 64 + 64 * i, &e, sizeof(e));
}
// Recomputes the metadata checksum, so a test reaches the checks behind it. Independent of the
// library: XXH64 over the metadata with the checksum field zeroed.
void Reseal(std::string* bytes) {
  if (bytes->size() < sizeof(TableFileHeader)) return;
  TableFileHeader h = Header(*bytes);
  if (h.metadata_bytes < sizeof(TableFileHeader) || h.metadata_bytes > bytes->size()) return;
  h.metadata_xxh64 = 0;
  std::memcpy(bytes->data(), &h, sizeof(h));
  h.metadata_xxh64 = XXH64(bytes->data(), h.metadata_bytes, 0);
  std::memcpy(bytes->data(), &h, sizeof(h));
}

TEST(TableFileTest, RoundTripMapsEveryTableBitExactly) {
  Fixture f;
  const std::string path = TempPath("roundtrip.rkemb");
  ASSERT_TRUE(WriteTableFile(path, f.all()).ok());
  std::shared_ptr<const EmbeddingTable> kept;
  {
    absl::StatusOr<MappedTableFile> file = MappedTableFile::Open(path);
    ASSERT_TRUE(file.ok()) << file.status();
    ASSERT_EQ(file->tables().size(), 3u);
    EXPECT_EQ(file->file_bytes() % 64, 0u);
    for (const EmbeddingTable* want : f.all()) {
      std::shared_ptr<const EmbeddingTable> got = file->Find(want->name());
      ASSERT_NE(got, nullptr) << want->name();
      EXPECT_EQ(got->dtype(), want->dtype());
      EXPECT_EQ(got->rows(), want->rows());
      EXPECT_EQ(got->dim(), want->dim());
      EXPECT_EQ(got->row_bytes(), want->row_bytes());
      ASSERT_EQ(got->byte_size(), want->byte_size());
      EXPECT_EQ(std::memcmp(got->bytes().data(), want->bytes().data(), want->byte_size()), 0);
      EXPECT_EQ(reinterpret_cast<uintptr_t>(got->view().data) % 64, 0u);
    }
    EXPECT_EQ(file->tables()[1]->name(), "cate_emb.weight");  // file order
    EXPECT_EQ(file->Find("missing"), nullptr);
    kept = file->Find("cate_emb.weight");
  }
  // The mapping outlives the MappedTableFile through the table.
  std::vector<float> row(16), want(16);
  ASSERT_TRUE(kept->DequantizeRow(6, row.data()));
  ASSERT_TRUE(f.b.DequantizeRow(6, want.data()));
  EXPECT_EQ(row, want);
  std::remove(path.c_str());
}

// A file of 2 MiB or more is mapped 2 MiB aligned (huge pages need file offset == address mod
// 2 MiB), and still round-trips.
TEST(TableFileTest, LargeFileMapsHugePageAligned) {
  std::vector<float> values(size_t{3} << 18);  // 3 MiB of fp32
  for (size_t i = 0; i < values.size(); ++i) values[i] = static_cast<float>(i % 1000);
  const EmbeddingTable big = *EmbeddingTable::FromFloat32("big", values.size() / 16, 16, values);
  const EmbeddingTable small = MakeFp32("small", 3, 5, 1.0f);
  const std::string path = TempPath("large.rkemb");
  ASSERT_TRUE(WriteTableFile(path, {&small, &big}).ok());
  const std::string bytes = *ReadFileToString(path);
  absl::StatusOr<MappedTableFile> file = MappedTableFile::Open(path);
  std::remove(path.c_str());
  ASSERT_TRUE(file.ok()) << file.status();
  std::shared_ptr<const EmbeddingTable> got = file->Find("big");
  ASSERT_NE(got, nullptr);
  ASSERT_EQ(got->byte_size(), big.byte_size());
  EXPECT_EQ(std::memcmp(got->bytes().data(), big.bytes().data(), big.byte_size()), 0);
  const uintptr_t file_start =
      reinterpret_cast<uintptr_t>(got->view().data) - Entry(bytes, 1).offset;
  EXPECT_EQ(file_start % (size_t{2} << 20), 0u);
  EXPECT_EQ(std::memcmp(reinterpret_cast<const void*>(file_start), bytes.data(), bytes.size()), 0);
}

TEST(TableFileTest, HeaderFieldsAreAsDocumented) {
  Fixture f;
  const std::string bytes = WrittenImage(f);
  const TableFileHeader h = Header(bytes);
  EXPECT_EQ(std::string(h.magic, 8), std::string("RKEMB1\0\0", 8));
  EXPECT_EQ(h.version, 1u);
  EXPECT_EQ(h.table_count, 3u);
  EXPECT_EQ(h.file_bytes, bytes.size());
  // header + 3 entries + names
  EXPECT_EQ(h.metadata_bytes, 64u + 3 * 64 + 15 + 15 + 4);
  const TableFileEntry b = Entry(bytes, 1);
  EXPECT_EQ(b.dtype, static_cast<uint8_t>(TableDType::kInt8RowWise));
  EXPECT_EQ(b.rows, 7);
  EXPECT_EQ(b.dim, 16);
  EXPECT_EQ(b.row_bytes, 24u);
  EXPECT_EQ(b.byte_size, 7u * 24);
  EXPECT_EQ(b.offset % 64, 0u);
  EXPECT_EQ(b.xxh64, XXH64(f.b.bytes().data(), f.b.byte_size(), 0));
  EXPECT_EQ(bytes.substr(b.name_offset, b.name_bytes), "cate_emb.weight");
}

TEST(TableFileTest, WriterRejectsBadNames) {
  Fixture f;
  EXPECT_THAT(WriteTableFile(TempPath("dup.rkemb"), {&f.a, &f.a}).message(),
              HasSubstr("two tables are named 'item_emb.weight'"));
  EmbeddingTable unnamed = MakeFp32("", 1, 1, 0.0f);
  EXPECT_THAT(WriteTableFile(TempPath("unnamed.rkemb"), {&unnamed}).message(),
              HasSubstr("table name ''"));
  EXPECT_FALSE(WriteTableFile(TempPath("none.rkemb"), {}).ok());
  EXPECT_THAT(WriteTableFile("/nonexistent-dir/x.rkemb", {&f.a}).message(),
              HasSubstr("/nonexistent-dir/x.rkemb.tmp"));
}

TEST(TableFileTest, OpenErrorsNameThePath) {
  EXPECT_EQ(MappedTableFile::Open(TempPath("absent.rkemb")).status().code(),
            absl::StatusCode::kNotFound);
  const std::string path = TempPath("short.rkemb");
  ASSERT_TRUE(WriteStringToFile(path, "RKEMB1").ok());
  absl::Status s = MappedTableFile::Open(path).status();
  EXPECT_THAT(s.message(), HasSubstr(path));
  EXPECT_THAT(s.message(), HasSubstr("truncated: 6 bytes"));
  std::remove(path.c_str());
}

TEST(TableFileTest, Corruptions) {
  Fixture f;
  const std::string good = WrittenImage(f);
  ASSERT_TRUE(ParseImage(good).ok());
  auto expect_error = [](const std::string& bytes, const std::string& needle) {
    absl::Status s = ParseImage(bytes).status();
    EXPECT_FALSE(s.ok()) << needle;
    EXPECT_THAT(std::string(s.message()), HasSubstr(needle));
  };

  expect_error(good.substr(0, good.size() - 64), "truncated");
  expect_error(good.substr(0, 100), "truncated");
  expect_error(good + std::string(64, '\0'), "trailing data");

  std::string bad = good;
  bad[0] = 'X';
  expect_error(bad, "not a rankopt table file");

  bad = good;
  TableFileHeader h = Header(bad);
  h.version = 2;
  std::memcpy(bad.data(), &h, sizeof(h));
  expect_error(bad, "table file version 2, this build reads version 1");

  bad = good;
  bad[64 + 64 + 20] ^= 1;  // a directory byte, checksum not updated
  expect_error(bad, "header/directory checksum mismatch");

  bad = good;
  h = Header(bad);
  h.table_count = 1000;
  std::memcpy(bad.data(), &h, sizeof(h));
  Reseal(&bad);
  expect_error(bad, "metadata size");

  bad = good;
  TableFileEntry e = Entry(bad, 2);
  e.offset = good.size() + 64;
  PutEntry(&bad, 2, e);
  Reseal(&bad);
  expect_error(bad, "table 'user': blob [");
  expect_error(bad, "runs past the end of the file");

  bad = good;
  e = Entry(bad, 2);
  e.byte_size = good.size();  // huge: offset + size overflows the file
  PutEntry(&bad, 2, e);
  Reseal(&bad);
  expect_error(bad, "runs past the end");

  bad = good;
  e = Entry(bad, 1);
  e.offset += 8;
  PutEntry(&bad, 1, e);
  Reseal(&bad);
  expect_error(bad, "table 'cate_emb.weight': blob offset");
  expect_error(bad, "misaligned");

  bad = good;
  e = Entry(bad, 0);
  e.offset = 0;
  PutEntry(&bad, 0, e);
  Reseal(&bad);
  expect_error(bad, "inside the metadata");

  bad = good;
  e = Entry(bad, 2);
  e.offset = Entry(bad, 1).offset;  // overlaps table 1
  e.xxh64 = Entry(bad, 1).xxh64;
  PutEntry(&bad, 2, e);
  Reseal(&bad);
  expect_error(bad, "overlap");

  bad = good;
  e = Entry(bad, 1);
  e.rows = 8;  // 8 * 24 != byte_size
  PutEntry(&bad, 1, e);
  Reseal(&bad);
  expect_error(bad, "expected rows * row_bytes = 8 * 24 = 192");

  bad = good;
  e = Entry(bad, 1);
  e.rows = int64_t{1} << 62;  // rows * row_bytes would overflow
  PutEntry(&bad, 1, e);
  Reseal(&bad);
  expect_error(bad, "rows = 4611686018427387904");

  bad = good;
  e = Entry(bad, 0);
  e.dim = -3;
  PutEntry(&bad, 0, e);
  Reseal(&bad);
  expect_error(bad, "dim = -3");

  bad = good;
  e = Entry(bad, 0);
  e.dtype = 9;
  PutEntry(&bad, 0, e);
  Reseal(&bad);
  expect_error(bad, "dtype code 9");

  bad = good;
  e = Entry(bad, 2);
  e.name_offset = Entry(bad, 0).name_offset;
  e.name_bytes = Entry(bad, 0).name_bytes;
  PutEntry(&bad, 2, e);
  Reseal(&bad);
  expect_error(bad, "table 'item_emb.weight' appears twice");

  bad = good;
  e = Entry(bad, 0);
  e.name_bytes = 1u << 30;
  PutEntry(&bad, 0, e);
  Reseal(&bad);
  expect_error(bad, "outside the name area");

  // A flipped byte inside a blob: the checksum names the table.
  bad = good;
  bad[Entry(good, 1).offset + 30] ^= 0x10;
  expect_error(bad, "table 'cate_emb.weight': checksum mismatch");

  // An unaligned image is refused before anything is read.
  auto image = std::make_shared<AlignedImage>(" " + good);
  EXPECT_THAT(
      std::string(
          MappedTableFile::FromMemory(image->data + 1, good.size(), image, "x").status().message()),
      HasSubstr("aligned"));
}

// Random byte flips and truncations: never a crash; whatever loads is fully readable.
TEST(TableFileTest, RandomCorruptionsNeverCrash) {
  Fixture f;
  const std::string good = WrittenImage(f);
  std::mt19937 rng(11);
  int loaded = 0;
  for (int iter = 0; iter < 20000; ++iter) {
    std::string bad = good;
    const int flips = 1 + static_cast<int>(rng() % 4);
    // Bias toward the metadata, where the interesting checks are.
    const size_t span = (iter % 2 == 0) ? Header(good).metadata_bytes : good.size();
    for (int k = 0; k < flips; ++k) bad[rng() % span] ^= static_cast<char>(1 + rng() % 255);
    if (iter % 5 == 0) {
      bad.resize(rng() % (good.size() + 1));
    } else if (iter % 3 == 0) {
      Reseal(&bad);  // get past the metadata checksum so the structural checks are exercised
    }
    absl::StatusOr<MappedTableFile> file = ParseImage(bad);
    if (!file.ok()) continue;
    ++loaded;
    for (const auto& table : file->tables()) {
      std::vector<float> row(table->dim());
      for (int64_t r = 0; r < table->rows(); ++r) ASSERT_TRUE(table->DequantizeRow(r, row.data()));
    }
  }
  // Flips in padding or name bytes (after a reseal) may still load; most must not.
  EXPECT_LT(loaded, 20000 / 2);
}

}  // namespace
}  // namespace rankopt
