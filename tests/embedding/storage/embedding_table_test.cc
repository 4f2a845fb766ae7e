#include "embedding/storage/embedding_table.h"

#include <immintrin.h>

#include <bit>
#include <cmath>
#include <cstring>
#include <limits>
#include <memory>
#include <random>
#include <vector>

#include "core/cpu_features.h"
#include "embedding/storage/half.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace rankopt {
namespace {

using ::testing::HasSubstr;

// Expected bits from numpy: np.array(v, np.float32).astype(np.float16).view(np.uint16).
struct HalfCase {
  float value;
  uint16_t bits;
};
constexpr HalfCase kNumpyHalfCases[] = {
    {1.e-01f, 0x2e66},        {3.3333334e-01f, 0x3555}, {6.5504e+04f, 0x7bff},
    {6.551999e+04f, 0x7bff},  {6.552e+04f, 0x7c00},     {1.e-08f, 0x0000},
    {5.9604645e-08f, 0x0001}, {2.9802322e-08f, 0x0000}, {8.940697e-08f, 0x0002},
    {1.0009766e+00f, 0x3c01}, {1.0004883e+00f, 0x3c00}, {1.0014648e+00f, 0x3c02},
    {-2.5e+00f, 0xc100},      {6.1035156e-05f, 0x0400}, {6.097555e-05f, 0x03ff},
    {-0.0f, 0x8000},          {3.e-05f, 0x01f7},        {1.234567e+03f, 0x64d3},
};

TEST(HalfTest, MatchesNumpy) {
  for (const HalfCase& c : kNumpyHalfCases) {
    EXPECT_EQ(FloatToHalfBits(c.value), c.bits) << c.value;
  }
  EXPECT_EQ(FloatToHalfBits(std::numeric_limits<float>::infinity()), 0x7c00);
  EXPECT_EQ(FloatToHalfBits(-std::numeric_limits<float>::infinity()), 0xfc00);
  EXPECT_EQ(FloatToHalfBits(std::nanf("")) & 0x7e00, 0x7e00);
  EXPECT_EQ(HalfBitsToFloat(0x0001), 0x1p-24f);
  EXPECT_EQ(HalfBitsToFloat(0x7bff), 65504.0f);
  EXPECT_EQ(HalfBitsToFloat(0xc100), -2.5f);
  EXPECT_TRUE(std::signbit(HalfBitsToFloat(0x8000)));
}

TEST(HalfTest, EveryHalfRoundTrips) {
  for (uint32_t h = 0; h < 0x10000; ++h) {
    const bool nan = (h & 0x7c00) == 0x7c00 && (h & 0x3ff) != 0;
    if (nan) {
      EXPECT_TRUE(std::isnan(HalfBitsToFloat(static_cast<uint16_t>(h))));
      continue;
    }
    ASSERT_EQ(FloatToHalfBits(HalfBitsToFloat(static_cast<uint16_t>(h))), h) << std::hex << h;
  }
}

__attribute__((target("f16c"))) uint16_t F16cConvert(float v) {
  return static_cast<uint16_t>(_cvtss_sh(v, _MM_FROUND_TO_NEAREST_INT));
}
__attribute__((target("f16c"))) float F16cToFloat(uint16_t h) { return _cvtsh_ss(h); }

// The hardware converter is an independent reference; skipped on CPUs without F16C.
TEST(HalfTest, MatchesF16cOnRandomFloats) {
  if (!GetCpuFeatures().f16c) GTEST_SKIP() << "no F16C on this CPU";
  std::mt19937 rng(7);
  for (int i = 0; i < 500000; ++i) {
    const float v = std::bit_cast<float>(static_cast<uint32_t>(rng()));
    if (std::isnan(v)) continue;
    ASSERT_EQ(FloatToHalfBits(v), F16cConvert(v)) << v;
  }
  // Dense around the subnormal / normal boundary and the overflow edge.
  for (float v = 0x1p-26f; v < 0x1p-13f; v = std::nextafter(v, 1.0f)) {
    ASSERT_EQ(FloatToHalfBits(v), F16cConvert(v)) << v;
  }
  for (float v = 65000.0f; v < 66000.0f; v = std::nextafter(v, 1e9f)) {
    ASSERT_EQ(FloatToHalfBits(v), F16cConvert(v)) << v;
  }
  for (uint32_t h = 0; h < 0x10000; ++h) {
    if ((h & 0x7c00) == 0x7c00 && (h & 0x3ff) != 0) continue;
    ASSERT_EQ(HalfBitsToFloat(static_cast<uint16_t>(h)), F16cToFloat(static_cast<uint16_t>(h)));
  }
}

TEST(EmbeddingTableTest, FromFloat32CopiesIntoAlignedStorage) {
  std::vector<float> values = {1, 2, 3, 4, 5, 6};
  absl::StatusOr<EmbeddingTable> t = EmbeddingTable::FromFloat32("t", 2, 3, values);
  ASSERT_TRUE(t.ok()) << t.status();
  values[0] = 99;  // the table holds a copy
  TableView v = t->view();
  EXPECT_EQ(v.dtype, TableDType::kFloat32);
  EXPECT_EQ(v.rows, 2);
  EXPECT_EQ(v.dim, 3);
  EXPECT_EQ(v.row_bytes, 12u);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(v.data) % 64, 0u);
  EXPECT_EQ(t->byte_size(), 24u);
  float row[3];
  ASSERT_TRUE(t->DequantizeRow(1, row));
  EXPECT_THAT(row, ::testing::ElementsAre(4, 5, 6));
  ASSERT_TRUE(t->DequantizeRow(0, row));
  EXPECT_EQ(row[0], 1);
  EXPECT_FALSE(t->DequantizeRow(2, row));
  EXPECT_FALSE(t->DequantizeRow(-1, row));
}

TEST(EmbeddingTableTest, FromFloat32RejectsBadShapes) {
  std::vector<float> values(6);
  EXPECT_THAT(EmbeddingTable::FromFloat32("t", 2, 4, values).status().message(),
              HasSubstr("6 values, expected rows * dim = 2 * 4 = 8"));
  EXPECT_FALSE(EmbeddingTable::FromFloat32("t", 0, 6, {}).ok());
  EXPECT_FALSE(EmbeddingTable::FromFloat32("t", 6, 0, {}).ok());
  EXPECT_FALSE(EmbeddingTable::FromFloat32("t", 1, kMaxTableDim + 1, values).ok());
}

// Rows, codes, scales and dequantized values from numpy (see quantization rule in the header):
//   scale = float32((hi - lo) / 255), q = clip(rint((x - lo) / scale), 0, 255),
//   x' = float32(scale * q + lo).
TEST(EmbeddingTableTest, Int8RowWiseMatchesNumpy) {
  const std::vector<float> values = {-1.0f, 0.0f,   0.5f,   1.55f,  0.3f,    0.3f,  0.3f, 0.3f,
                                     0.01f, -0.02f, 0.037f, 0.011f, 1000.0f, -1e3f, 0.0f, 0.1f};
  absl::StatusOr<EmbeddingTable> fp32 = EmbeddingTable::FromFloat32("t", 4, 4, values);
  ASSERT_TRUE(fp32.ok());
  absl::StatusOr<EmbeddingTable> q = EmbeddingTable::Quantize(*fp32, TableDType::kInt8RowWise);
  ASSERT_TRUE(q.ok()) << q.status();
  EXPECT_EQ(q->row_bytes(), 12u);
  EXPECT_EQ(q->byte_size(), 48u);
  const uint8_t codes[4][4] = {
      {0, 100, 150, 255}, {0, 0, 0, 0}, {134, 0, 255, 139}, {255, 0, 127, 128}};
  const uint32_t scale_bits[4] = {0x3c23d70a, 0x0, 0x396a6338, 0x40fafafb};
  const float bias[4] = {-1.0f, 0.3f, -0.02f, -1000.0f};
  const float dequantized[4][4] = {
      {-1.0f, 0.0f, 0.5f, 1.5499999523162842f},
      {0.30000001192092896f, 0.30000001192092896f, 0.30000001192092896f, 0.30000001192092896f},
      {0.009952941909432411f, -0.019999999552965164f, 0.03700000047683716f, 0.01107058860361576f},
      {1000.0f, -1000.0f, -3.92156982421875f, 3.92156982421875f}};
  for (int r = 0; r < 4; ++r) {
    const uint8_t* row = q->view().Row(r);
    for (int j = 0; j < 4; ++j) EXPECT_EQ(row[j], codes[r][j]) << r << "," << j;
    Int8RowTail tail;
    std::memcpy(&tail, row + 4, sizeof(tail));
    EXPECT_EQ(std::bit_cast<uint32_t>(tail.scale), scale_bits[r]) << r;
    EXPECT_EQ(tail.bias, bias[r]) << r;
    float out[4];
    ASSERT_TRUE(q->DequantizeRow(r, out));
    for (int j = 0; j < 4; ++j) EXPECT_EQ(out[j], dequantized[r][j]) << r << "," << j;
  }
}

TEST(EmbeddingTableTest, Int8OddDimPutsTailRightAfterCodes) {
  // dim 3: rows of 11 bytes, the tail unaligned; row 1 is constant.
  const std::vector<float> values = {0.0f, 2.55f, 1.0f, -7.0f, -7.0f, -7.0f};
  absl::StatusOr<EmbeddingTable> fp32 = EmbeddingTable::FromFloat32("t", 2, 3, values);
  ASSERT_TRUE(fp32.ok());
  absl::StatusOr<EmbeddingTable> q = EmbeddingTable::Quantize(*fp32, TableDType::kInt8RowWise);
  ASSERT_TRUE(q.ok());
  ASSERT_EQ(q->row_bytes(), 11u);
  const uint8_t* bytes = q->bytes().data();
  EXPECT_EQ(bytes[0], 0);
  EXPECT_EQ(bytes[1], 255);
  EXPECT_EQ(bytes[2], 100);  // 1.0 / 0.01
  Int8RowTail tail;
  std::memcpy(&tail, bytes + 3, sizeof(tail));
  EXPECT_FLOAT_EQ(tail.scale, 0.01f);
  EXPECT_EQ(tail.bias, 0.0f);
  std::memcpy(&tail, bytes + 11 + 3, sizeof(tail));
  EXPECT_EQ(tail.scale, 0.0f);
  EXPECT_EQ(tail.bias, -7.0f);
  float out[3];
  ASSERT_TRUE(q->DequantizeRow(1, out));
  EXPECT_THAT(out, ::testing::ElementsAre(-7.0f, -7.0f, -7.0f));
}

TEST(EmbeddingTableTest, Int8ExtremeRangesStayFinite) {
  const float big = std::numeric_limits<float>::max();
  const float tiny = std::numeric_limits<float>::denorm_min();
  const std::vector<float> values = {-big / 4, big / 4, 0.0f, 1.0f, 0.0f, tiny, tiny, 0.0f};
  absl::StatusOr<EmbeddingTable> fp32 = EmbeddingTable::FromFloat32("t", 2, 4, values);
  ASSERT_TRUE(fp32.ok());
  absl::StatusOr<EmbeddingTable> q = EmbeddingTable::Quantize(*fp32, TableDType::kInt8RowWise);
  ASSERT_TRUE(q.ok()) << q.status();
  for (int r = 0; r < 2; ++r) {
    float out[4];
    ASSERT_TRUE(q->DequantizeRow(r, out));
    for (float v : out) EXPECT_TRUE(std::isfinite(v)) << r;
  }
  float out[4];
  q->DequantizeRow(0, out);
  EXPECT_EQ(out[0], -big / 4);
  EXPECT_FLOAT_EQ(out[1], big / 4);
  // Row 1's range is subnormal: scale 0, every value becomes the minimum (0).
  q->DequantizeRow(1, out);
  EXPECT_THAT(out, ::testing::Each(0.0f));

  const std::vector<float> too_wide = {-big, big};
  fp32 = EmbeddingTable::FromFloat32("wide", 1, 2, too_wide);
  ASSERT_TRUE(fp32.ok());
  EXPECT_THAT(EmbeddingTable::Quantize(*fp32, TableDType::kInt8RowWise).status().message(),
              HasSubstr("too wide for int8"));
}

TEST(EmbeddingTableTest, Fp16StoresNearestHalf) {
  const std::vector<float> values = {0.1f, 1.0f / 3, -2.5f, 1234.567f};
  absl::StatusOr<EmbeddingTable> fp32 = EmbeddingTable::FromFloat32("t", 2, 2, values);
  ASSERT_TRUE(fp32.ok());
  absl::StatusOr<EmbeddingTable> q = EmbeddingTable::Quantize(*fp32, TableDType::kFloat16);
  ASSERT_TRUE(q.ok());
  EXPECT_EQ(q->row_bytes(), 4u);
  const uint16_t expected[4] = {0x2e66, 0x3555, 0xc100, 0x64d3};  // numpy
  EXPECT_EQ(std::memcmp(q->bytes().data(), expected, sizeof(expected)), 0);
  float out[2];
  ASSERT_TRUE(q->DequantizeRow(1, out));
  EXPECT_EQ(out[0], -2.5f);
  EXPECT_EQ(out[1], 1235.0f);  // 0x64d3; halves are 1 apart here
}

TEST(EmbeddingTableTest, QuantizeRejectsNonFiniteAndOverflow) {
  std::vector<float> values = {0, 1, 2, 3};
  values[3] = std::nanf("");
  absl::StatusOr<EmbeddingTable> fp32 = EmbeddingTable::FromFloat32("emb", 2, 2, values);
  ASSERT_TRUE(fp32.ok());
  absl::Status s = EmbeddingTable::Quantize(*fp32, TableDType::kInt8RowWise).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("'emb'"));
  EXPECT_THAT(s.message(), HasSubstr("row 1, column 1"));
  // fp32 -> fp32 copies whatever is there.
  EXPECT_TRUE(EmbeddingTable::Quantize(*fp32, TableDType::kFloat32).ok());

  values = {0, 70000.0f};
  fp32 = EmbeddingTable::FromFloat32("emb", 1, 2, values);
  ASSERT_TRUE(fp32.ok());
  s = EmbeddingTable::Quantize(*fp32, TableDType::kFloat16).status();
  EXPECT_THAT(s.message(), HasSubstr("overflows fp16"));
  EXPECT_TRUE(EmbeddingTable::Quantize(*fp32, TableDType::kInt8RowWise).ok());

  absl::StatusOr<EmbeddingTable> half = EmbeddingTable::Quantize(
      *EmbeddingTable::FromFloat32("h", 1, 2, std::vector<float>{1, 2}), TableDType::kFloat16);
  ASSERT_TRUE(half.ok());
  EXPECT_THAT(EmbeddingTable::Quantize(*half, TableDType::kInt8RowWise).status().message(),
              HasSubstr("needs an fp32 source"));
}

// Random tables: the int8 error of each value is at most half a step (plus float rounding).
TEST(EmbeddingTableTest, Int8ErrorWithinHalfStep) {
  std::mt19937 rng(3);
  std::normal_distribution<float> normal(0.0f, 0.05f);
  for (int64_t dim : {1, 4, 8, 12, 16, 24, 32, 64, 100}) {
    const int64_t rows = 37;
    std::vector<float> values(rows * dim);
    for (float& v : values) v = normal(rng);
    absl::StatusOr<EmbeddingTable> fp32 = EmbeddingTable::FromFloat32("t", rows, dim, values);
    ASSERT_TRUE(fp32.ok());
    absl::StatusOr<EmbeddingTable> q = EmbeddingTable::Quantize(*fp32, TableDType::kInt8RowWise);
    ASSERT_TRUE(q.ok());
    ASSERT_EQ(q->row_bytes(), static_cast<size_t>(dim) + 8);
    std::vector<float> out(dim);
    for (int64_t r = 0; r < rows; ++r) {
      ASSERT_TRUE(q->DequantizeRow(r, out.data()));
      Int8RowTail tail;
      std::memcpy(&tail, q->view().Row(r) + dim, sizeof(tail));
      for (int64_t j = 0; j < dim; ++j) {
        ASSERT_LE(std::abs(out[j] - values[r * dim + j]), tail.scale * 0.5f + 1e-6f)
            << "dim " << dim << " row " << r;
      }
    }
  }
}

TEST(EmbeddingTableTest, FromExternalChecksEverything) {
  alignas(64) static uint8_t buffer[256] = {};
  auto owner = std::make_shared<int>(0);
  EXPECT_TRUE(
      EmbeddingTable::FromExternal("t", TableDType::kInt8RowWise, 4, 8, 16, buffer, 64, owner)
          .ok());
  EXPECT_THAT(
      EmbeddingTable::FromExternal("t", TableDType::kInt8RowWise, 4, 8, 15, buffer, 60, owner)
          .status()
          .message(),
      HasSubstr("row_bytes = 15"));
  EXPECT_THAT(EmbeddingTable::FromExternal("t", TableDType::kFloat32, 4, 8, 32, buffer, 100, owner)
                  .status()
                  .message(),
              HasSubstr("100 bytes, expected rows * row_bytes = 4 * 32 = 128"));
  EXPECT_THAT(
      EmbeddingTable::FromExternal("t", TableDType::kFloat32, 1, 8, 32, buffer + 4, 32, owner)
          .status()
          .message(),
      HasSubstr("aligned"));
  EXPECT_THAT(
      EmbeddingTable::FromExternal("t", static_cast<TableDType>(7), 1, 8, 32, buffer, 32, owner)
          .status()
          .message(),
      HasSubstr("dtype code 7"));
  EXPECT_FALSE(EmbeddingTable::FromExternal("t", TableDType::kFloat32, kMaxTableRows + 1, 8, 32,
                                            buffer, 32, owner)
                   .ok());
  EXPECT_FALSE(
      EmbeddingTable::FromExternal("t", TableDType::kFloat16, 1, 8, 17, buffer, 17, owner).ok());
}

TEST(EmbeddingTableTest, DTypeNames) {
  EXPECT_EQ(*ParseTableDType("int8"), TableDType::kInt8RowWise);
  EXPECT_EQ(*ParseTableDType("FP16"), TableDType::kFloat16);
  EXPECT_EQ(TableDTypeName(TableDType::kFloat32), "fp32");
  EXPECT_THAT(ParseTableDType("int4").status().message(), HasSubstr("expected int8, fp16 or fp32"));
}

}  // namespace
}  // namespace rankopt
