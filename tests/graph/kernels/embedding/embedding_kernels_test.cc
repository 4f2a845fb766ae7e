// _RankoptEmbeddingLookup / _RankoptEmbeddingBag over quantized tables: int8 row-wise and fp16
// tables give bitwise the results of the same node over the dequantized fp32 table, and a table
// that does not match its attrs is a clear error when the kernel is built.
#include "graph/kernels/embedding/embedding_kernels.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "absl/strings/str_cat.h"
#include "embedding/kernels/lookup.h"
#include "embedding/storage/embedding_table.h"
#include "tests/graph/kernels/kernel_test_harness.h"

namespace rankopt {
namespace {

using ::testing::HasSubstr;

const KernelRegistry& Registry() { return RegistryOf<RegisterEmbeddingKernels>(); }

// A table stored both ways: the quantized rows as the graph holds them (uint8 [rows, row_bytes]
// plus attrs) and the dequantized fp32 values as embedding/'s kernels define them.
struct StoredTable {
  TableDType dtype = TableDType::kFloat32;
  int64_t rows = 0;
  int64_t dim = 0;
  Tensor rows_u8;    // [rows, row_bytes] uint8
  Tensor dequant32;  // [rows, dim] float32: dequant(t, r) for every row
};

StoredTable MakeTable(TableDType dtype, int64_t rows, int64_t dim, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 0.3f);
  std::vector<float> values(static_cast<size_t>(rows * dim));
  for (float& v : values) v = normal(rng);
  absl::StatusOr<EmbeddingTable> fp32 = EmbeddingTable::FromFloat32("t", rows, dim, values);
  EXPECT_TRUE(fp32.ok()) << fp32.status();
  absl::StatusOr<EmbeddingTable> q = EmbeddingTable::Quantize(*fp32, dtype);
  EXPECT_TRUE(q.ok()) << q.status();
  StoredTable t;
  t.dtype = dtype;
  t.rows = rows;
  t.dim = dim;
  const absl::Span<const uint8_t> bytes = q->bytes();
  t.rows_u8 = *Tensor::FromBytes(
      DType::kUInt8, {rows, static_cast<int64_t>(q->row_bytes())},
      absl::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
  // The scalar reference's rows: what the lookup kernels promise to return.
  std::vector<int64_t> all(static_cast<size_t>(rows));
  for (int64_t r = 0; r < rows; ++r) all[static_cast<size_t>(r)] = r;
  std::vector<float> dequant(static_cast<size_t>(rows * dim));
  EXPECT_TRUE(GatherRef(q->view(), all, dequant.data()));
  t.dequant32 = *Tensor::FromValues<float>({rows, dim}, dequant);
  return t;
}

const char* DTypeAttr(TableDType dtype) {
  return dtype == TableDType::kInt8RowWise ? "int8" : "fp16";
}

Node LookupNode(const StoredTable* quantized) {
  Node node;
  node.name = "lookup";
  node.op = std::string(kEmbeddingLookupOp);
  node.attrs.Set("wrap_negative_ids", true);
  if (quantized != nullptr) {
    node.attrs.Set(std::string(kEmbeddingTableDTypeAttr), std::string(DTypeAttr(quantized->dtype)));
    node.attrs.Set(std::string(kEmbeddingTableDimAttr), quantized->dim);
  }
  return node;
}

Node BagNode(const StoredTable* quantized, const char* mode) {
  Node node;
  node.name = "bag";
  node.op = std::string(kEmbeddingBagOp);
  node.attrs.Set("mode", std::string(mode));
  if (quantized != nullptr) {
    node.attrs.Set(std::string(kEmbeddingTableDTypeAttr), std::string(DTypeAttr(quantized->dtype)));
    node.attrs.Set(std::string(kEmbeddingTableDimAttr), quantized->dim);
  }
  return node;
}

Tensor Int64s(std::vector<int64_t> dims, std::vector<int64_t> values) {
  return *Tensor::FromValues<int64_t>(std::move(dims), values);
}

absl::StatusOr<std::vector<Tensor>> RunNode(const Node& node, const std::vector<Tensor>& inputs) {
  std::vector<std::optional<Tensor>> in(inputs.begin(), inputs.end());
  std::vector<bool> constant(inputs.size(), false);
  constant[0] = true;
  return RunKernel(Registry(), node, ModelFormat::kOnnx, in, constant);
}

class QuantizedTableTest
    : public ::testing::TestWithParam<std::tuple<TableDType, int64_t /*dim*/>> {};

TEST_P(QuantizedTableTest, LookupsEqualTheDequantizedTableBitwise) {
  const auto [dtype, dim] = GetParam();
  const StoredTable table = MakeTable(dtype, 37, dim, 7 + static_cast<uint32_t>(dim));
  // int64 and int32 ids, a negative id that wraps (ONNX Gather), repeats, every edge row.
  const std::vector<int64_t> ids64 = {0, 36, 5, 5, -1, 17, 36, 0, 12, -37, 3, 29};
  const std::vector<int32_t> ids32(ids64.begin(), ids64.end());
  for (const Tensor& ids :
       {*Tensor::FromValues<int64_t>({3, 4}, ids64), *Tensor::FromValues<int32_t>({12}, ids32)}) {
    absl::StatusOr<std::vector<Tensor>> quantized =
        RunNode(LookupNode(&table), {table.rows_u8, ids});
    absl::StatusOr<std::vector<Tensor>> fp32 = RunNode(LookupNode(nullptr), {table.dequant32, ids});
    ASSERT_TRUE(quantized.ok()) << quantized.status();
    ASSERT_TRUE(fp32.ok()) << fp32.status();
    ASSERT_EQ(quantized->size(), 1u);
    EXPECT_EQ((*quantized)[0].dtype(), DType::kFloat32);
    std::vector<int64_t> want_dims = ids.dims();
    want_dims.push_back(dim);
    EXPECT_EQ((*quantized)[0].dims(), want_dims);
    EXPECT_EQ((*quantized)[0], (*fp32)[0]);  // dtype, dims and bytes
  }
}

TEST_P(QuantizedTableTest, BagsEqualTheDequantizedTableBitwise) {
  const auto [dtype, dim] = GetParam();
  const StoredTable table = MakeTable(dtype, 41, dim, 100 + static_cast<uint32_t>(dim));
  std::mt19937 rng(3);
  std::uniform_int_distribution<int64_t> row(0, 40);
  std::vector<int64_t> ids(5 * 20);
  for (int64_t& id : ids) id = row(rng);
  // Full, partial, empty, clamped (> L) and negative (empty) bags.
  const std::vector<int64_t> lengths = {20, 7, 0, 25, -3};
  const Tensor ids_t = *Tensor::FromValues<int64_t>({5, 20}, ids);
  const Tensor lengths_t = *Tensor::FromValues<int64_t>({5, 1}, lengths);
  for (const char* mode : {"sum", "mean"}) {
    absl::StatusOr<std::vector<Tensor>> quantized =
        RunNode(BagNode(&table, mode), {table.rows_u8, ids_t, lengths_t});
    absl::StatusOr<std::vector<Tensor>> fp32 =
        RunNode(BagNode(nullptr, mode), {table.dequant32, ids_t, lengths_t});
    ASSERT_TRUE(quantized.ok()) << quantized.status();
    ASSERT_TRUE(fp32.ok()) << fp32.status();
    EXPECT_EQ((*quantized)[0].dims(), (std::vector<int64_t>{5, dim}));
    EXPECT_EQ((*quantized)[0], (*fp32)[0]) << mode;
  }
}

TEST_P(QuantizedTableTest, OutOfRangeIdsAreErrorsNotReads) {
  const auto [dtype, dim] = GetParam();
  const StoredTable table = MakeTable(dtype, 9, dim, 1);
  absl::StatusOr<std::vector<Tensor>> lookup =
      RunNode(LookupNode(&table), {table.rows_u8, Int64s({2}, {1, 9})});
  ASSERT_FALSE(lookup.ok());
  EXPECT_THAT(lookup.status().message(), HasSubstr("id 9 at position 1"));
  absl::StatusOr<std::vector<Tensor>> bag =
      RunNode(BagNode(&table, "sum"), {table.rows_u8, Int64s({1, 2}, {1, 10}), Int64s({1}, {1})});
  ASSERT_FALSE(bag.ok());
  EXPECT_THAT(bag.status().message(), HasSubstr("id 10"));
}

INSTANTIATE_TEST_SUITE_P(
    DTypesAndDims, QuantizedTableTest,
    ::testing::Combine(::testing::Values(TableDType::kInt8RowWise, TableDType::kFloat16),
                       ::testing::Values(int64_t{1}, int64_t{4}, int64_t{12}, int64_t{16},
                                         int64_t{33}, int64_t{64})),
    [](const ::testing::TestParamInfo<QuantizedTableTest::ParamType>& info) {
      return absl::StrCat(DTypeAttr(std::get<0>(info.param)), "_dim", std::get<1>(info.param));
    });

// Builds the lookup kernel over `table` with the given attrs and returns the build error.
absl::Status BuildError(const Tensor& table, const char* dtype, std::optional<int64_t> dim) {
  Node node = LookupNode(nullptr);
  if (dtype != nullptr) node.attrs.Set(std::string(kEmbeddingTableDTypeAttr), std::string(dtype));
  if (dim.has_value()) node.attrs.Set(std::string(kEmbeddingTableDimAttr), *dim);
  return RunNode(node, {table, Int64s({1}, {0})}).status();
}

TEST(QuantizedTableErrorsTest, MismatchedStorageIsAClearErrorAtBuild) {
  const StoredTable int8 = MakeTable(TableDType::kInt8RowWise, 10, 16, 5);  // rows of 24 bytes
  const StoredTable fp16 = MakeTable(TableDType::kFloat16, 10, 16, 5);      // rows of 32 bytes
  ASSERT_TRUE(BuildError(int8.rows_u8, "int8", 16).ok());
  ASSERT_TRUE(BuildError(fp16.rows_u8, "fp16", 16).ok());

  absl::Status s = BuildError(int8.rows_u8, "int8", 8);
  EXPECT_THAT(s.message(), HasSubstr("has 24-byte rows but attr 'table_dim' = 8 needs 16"));
  s = BuildError(int8.rows_u8, "fp16", 16);
  EXPECT_THAT(s.message(), HasSubstr("has 24-byte rows but attr 'table_dim' = 16 needs 32"));
  s = BuildError(fp16.rows_u8, "int8", 16);
  EXPECT_THAT(s.message(), HasSubstr("has 32-byte rows but attr 'table_dim' = 16 needs 24"));
  // A dim that cannot fit (and whose byte count would overflow) is caught before any arithmetic.
  s = BuildError(int8.rows_u8, "fp16", int64_t{1} << 62);
  EXPECT_THAT(s.message(), HasSubstr("needs more than 24"));
  s = BuildError(int8.rows_u8, "int8", std::nullopt);
  EXPECT_THAT(s.message(), HasSubstr("attr 'table_dim' is missing"));
  s = BuildError(int8.rows_u8, "int8", 0);
  EXPECT_THAT(s.message(), HasSubstr("attr 'table_dim' is 0"));
  s = BuildError(int8.rows_u8, "int4", 16);
  EXPECT_THAT(s.message(), HasSubstr("attr 'table_dtype' is 'int4'; expected \"int8\""));
  // uint8 rows without the attrs, and float32 values labelled int8.
  s = BuildError(int8.rows_u8, nullptr, std::nullopt);
  EXPECT_THAT(s.message(), HasSubstr("needs attrs 'table_dtype'"));
  s = BuildError(int8.dequant32, "int8", 16);
  EXPECT_THAT(s.message(), HasSubstr("input 0 must be a constant [rows, row_bytes] uint8"));
  EXPECT_THAT(s.message(), HasSubstr("[10,16] float32"));
  s = BuildError(int8.dequant32, nullptr, 15);
  EXPECT_THAT(s.message(), HasSubstr("attr 'table_dim' is 15 but the float32 table is [10,16]"));
  // The bag kernel shares the checks.
  Node bag = BagNode(nullptr, "sum");
  bag.attrs.Set(std::string(kEmbeddingTableDTypeAttr), std::string("int8"));
  bag.attrs.Set(std::string(kEmbeddingTableDimAttr), int64_t{20});
  s = RunNode(bag, {int8.rows_u8, Int64s({1, 1}, {0}), Int64s({1}, {1})}).status();
  EXPECT_THAT(s.message(), HasSubstr("needs 28"));
}

}  // namespace
}  // namespace rankopt
