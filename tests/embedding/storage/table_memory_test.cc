#include "embedding/storage/table_memory.h"

#include <cstdint>
#include <cstring>
#include <memory>
#include <vector>

#include "embedding/storage/embedding_table.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace rankopt {
namespace {

bool AllZero(const uint8_t* p, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    if (p[i] != 0) return false;
  }
  return true;
}

TEST(TableMemoryTest, SmallRegionsAre64ByteAlignedAndZeroed) {
  for (size_t bytes : {size_t{1}, size_t{63}, size_t{64}, size_t{1000}, kHugePageBytes - 1}) {
    absl::StatusOr<std::shared_ptr<uint8_t>> p = AllocateTableMemory("t", bytes);
    ASSERT_TRUE(p.ok()) << p.status();
    EXPECT_EQ(reinterpret_cast<uintptr_t>(p->get()) % 64, 0u) << bytes;
    // Zeroed up to the next multiple of 64 (what EmbeddingTable promises).
    EXPECT_TRUE(AllZero(p->get(), (bytes + 63) / 64 * 64)) << bytes;
  }
}

TEST(TableMemoryTest, LargeRegionsAreHugePageAlignedZeroedAndWritable) {
  for (size_t bytes : {kHugePageBytes, kHugePageBytes + 24, 3 * kHugePageBytes - 64}) {
    absl::StatusOr<std::shared_ptr<uint8_t>> p = AllocateTableMemory("t", bytes);
    ASSERT_TRUE(p.ok()) << p.status();
    EXPECT_EQ(reinterpret_cast<uintptr_t>(p->get()) % kHugePageBytes, 0u) << bytes;
    const size_t rounded = (bytes + 63) / 64 * 64;
    EXPECT_TRUE(AllZero(p->get(), rounded)) << bytes;
    std::memset(p->get(), 0xab, rounded);
    EXPECT_EQ(p->get()[rounded - 1], 0xab);
  }
}

TEST(TableMemoryTest, HugeAllocationErrorNamesTheTable) {
  absl::StatusOr<std::shared_ptr<uint8_t>> p = AllocateTableMemory("item_emb", SIZE_MAX - 10);
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(p.status().message(), ::testing::HasSubstr("'item_emb'"));
}

TEST(TableMemoryTest, AdviceNeedsAWholeHugePage) {
  absl::StatusOr<std::shared_ptr<uint8_t>> p = AllocateTableMemory("t", 2 * kHugePageBytes);
  ASSERT_TRUE(p.ok());
  EXPECT_FALSE(AdviseHugePages(p->get(), kHugePageBytes - 1));
  // [base + 1, base + 2 MiB + 1) holds no whole aligned huge page.
  EXPECT_FALSE(AdviseHugePages(p->get() + 1, kHugePageBytes));
  // Advice is only a hint: kernels without THP refuse it (EINVAL), which is not an error.
  const bool advised = AdviseHugePages(p->get(), 2 * kHugePageBytes);
  if (TransparentHugePageMode() != "unavailable") {
    EXPECT_TRUE(advised);
  }
}

TEST(TableMemoryTest, ModeIsOneOfTheKernelChoices) {
  EXPECT_THAT(TransparentHugePageMode(),
              ::testing::AnyOf("always", "madvise", "never", "unavailable"));
}

TEST(TableMemoryTest, OwnedTablesUseIt) {
  // 2^17 rows of dim 16: 8 MiB as fp32, 3 MiB as int8; both huge-page tables.
  constexpr int64_t kRows = 1 << 17;
  std::vector<float> values(kRows * 16, 0.5f);
  absl::StatusOr<EmbeddingTable> t = EmbeddingTable::FromFloat32("big", kRows, 16, values);
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(reinterpret_cast<uintptr_t>(t->view().data) % kHugePageBytes, 0u);
  absl::StatusOr<EmbeddingTable> q = EmbeddingTable::Quantize(*t, TableDType::kInt8RowWise);
  ASSERT_TRUE(q.ok()) << q.status();
  EXPECT_EQ(q->byte_size(), static_cast<size_t>(kRows) * 24);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(q->view().data) % kHugePageBytes, 0u);
  float row[16];
  ASSERT_TRUE(q->DequantizeRow(kRows - 1, row));
  EXPECT_EQ(row[15], 0.5f);
}

}  // namespace
}  // namespace rankopt
