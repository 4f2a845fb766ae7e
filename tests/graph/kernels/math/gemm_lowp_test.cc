// GemmInt8 / GemmBf16: the vector kernels bitwise equal to their scalar references, and both
// equal to a naive computation of the header's formulas from the unpacked weights (so packing,
// the zero-point compensation and the pair order are checked too); no writes outside C; rows
// independent of M; close to the fp32 product. The AVX2 kernels (RANKOPT_ISA=avx2's) run here too;
// the AMX ones only where AmxUsable() (Sapphire Rapids+), and those tests skip elsewhere.
#include "graph/kernels/math/gemm_lowp.h"

#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "graph/kernels/math/gemm.h"
#include "gtest/gtest.h"

namespace rankopt {
namespace {

std::vector<float> Random(size_t n, uint32_t seed, float scale = 1.0f) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<float> dist(-scale, scale);
  std::vector<float> v(n);
  for (float& x : v) x = dist(gen);
  return v;
}

constexpr float kSentinel = 12345.0f;

struct Scratch {
  explicit Scratch(int64_t bytes) : bytes(static_cast<size_t>(bytes) + 64) {}
  void* get() { return bytes.data(); }
  std::vector<unsigned char> bytes;
};

// Runs `gemm` into a C with ldc = n + 3 whose padding and tail hold sentinels, checks them.
template <typename F>
std::vector<float> RunChecked(int64_t m, int64_t n, F gemm) {
  const int64_t ldc = n + 3;
  std::vector<float> c(static_cast<size_t>(m * ldc + 5), kSentinel);
  gemm(c.data(), ldc);
  for (int64_t i = 0; i < m; ++i) {
    for (int64_t j = n; j < ldc; ++j) EXPECT_EQ(c[i * ldc + j], kSentinel) << i << "," << j;
  }
  for (size_t i = static_cast<size_t>(m * ldc); i < c.size(); ++i) EXPECT_EQ(c[i], kSentinel);
  return c;
}

// The int8 formula of gemm_lowp.h from unpacked codes, products summed in int64.
std::vector<float> NaiveInt8(int64_t m, int64_t n, int64_t k, const std::vector<float>& a,
                             const std::vector<int8_t>& q, const std::vector<float>& sw,
                             const float* bias, bool relu) {
  const int64_t ldc = n + 3;
  std::vector<float> c(static_cast<size_t>(m * ldc + 5), kSentinel);
  for (int64_t i = 0; i < m; ++i) {
    float amax = 0;
    for (int64_t kk = 0; kk < k; ++kk) amax = std::max(amax, std::fabs(a[i * k + kk]));
    const float inv = amax > 0 ? 127.0f / amax : 0.0f;
    std::vector<int64_t> qa(static_cast<size_t>(k));
    for (int64_t kk = 0; kk < k; ++kk) {
      const float x = std::min(std::max(a[i * k + kk] * inv, -127.0f), 127.0f);
      qa[kk] = static_cast<int64_t>(std::nearbyint(x));
    }
    for (int64_t j = 0; j < n; ++j) {
      int64_t sum = 0;
      for (int64_t kk = 0; kk < k; ++kk) sum += qa[kk] * q[kk * n + j];
      const float f = static_cast<float>(sum);
      const float scale = (amax / 127.0f) * sw[j];
      float y = f * scale;
      if (bias) y = y + bias[j];
      if (relu) y = std::max(y, 0.0f);
      c[i * ldc + j] = y;
    }
  }
  return c;
}

TEST(GemmInt8Test, VectorKernelReferenceAndNaiveFormulaAgreeBitwise) {
  for (int64_t m : {1, 5, 12, 13, 47, 48, 49, 100}) {
    for (int64_t n : {1, 15, 16, 17, 32, 33, 80}) {
      for (int64_t k : {0, 1, 3, 4, 5, 64, 129, 200}) {
        std::vector<float> a = Random(m * k, 1 + m * n * k, 3.0f);
        if (m > 2 && k > 0) {
          for (int64_t kk = 0; kk < k; ++kk) a[1 * k + kk] = 0.0f;  // an all-zero row
        }
        std::vector<float> w = Random(k * n, 2 + m + n + k, 0.5f);
        if (k > 0) {
          for (int64_t kk = 0; kk < k; ++kk) w[kk * n + 0] = 0.0f;  // an all-zero column
        }
        std::vector<int8_t> q(w.size());
        std::vector<float> sw(static_cast<size_t>(n));
        QuantizeWeightsInt8(w.data(), k, n, n, 1, q.data(), sw.data());
        absl::StatusOr<PackedBInt8> packed = PackGemmBInt8(q.data(), sw.data(), k, n, n, 1);
        ASSERT_TRUE(packed.ok()) << packed.status();
        std::vector<float> bias = Random(n, 3);
        Scratch scratch(GemmInt8ScratchBytes(k));
        for (bool with_bias : {false, true}) {
          for (bool relu : {false, true}) {
            const float* bp = with_bias ? bias.data() : nullptr;
            std::vector<float> naive = NaiveInt8(m, n, k, a, q, sw, bp, relu);
            std::vector<float> ref = RunChecked(m, n, [&](float* c, int64_t ldc) {
              GemmInt8Reference(m, a.data(), k, *packed, bp, relu, c, ldc);
            });
            ASSERT_EQ(0, std::memcmp(naive.data(), ref.data(), ref.size() * sizeof(float)))
                << "m=" << m << " n=" << n << " k=" << k;
            for (Isa isa : {Isa::kScalar, Isa::kAvx2, Isa::kAvx512}) {
              for (bool amx : {false, true}) {
                std::vector<float> c = RunChecked(m, n, [&](float* c, int64_t ldc) {
                  GemmInt8(m, a.data(), k, *packed, bp, relu, c, ldc, scratch.get(), isa, amx);
                });
                ASSERT_EQ(0, std::memcmp(c.data(), ref.data(), c.size() * sizeof(float)))
                    << "m=" << m << " n=" << n << " k=" << k << " isa=" << IsaName(isa)
                    << " kernel=" << DenseKernelName(DensePrecision::kInt8, isa, amx);
              }
            }
          }
        }
      }
    }
  }
}

TEST(GemmInt8Test, CloseToTheFp32Product) {
  const int64_t m = 64, n = 48, k = 195;
  std::vector<float> a = Random(m * k, 7), w = Random(k * n, 8, 0.1f);
  std::vector<int8_t> q(w.size());
  std::vector<float> sw(n);
  QuantizeWeightsInt8(w.data(), k, n, n, 1, q.data(), sw.data());
  absl::StatusOr<PackedBInt8> packed = PackGemmBInt8(q.data(), sw.data(), k, n, n, 1);
  ASSERT_TRUE(packed.ok());
  std::vector<float> c(m * n), ref(m * n);
  Scratch scratch(GemmInt8ScratchBytes(k));
  GemmInt8(m, a.data(), k, *packed, nullptr, false, c.data(), n, scratch.get());
  GemmF32(m, n, k, a.data(), k, 1, GemmBFromRowMajor(w.data(), n), nullptr, ref.data(), n);
  double max_ref = 0, max_err = 0;
  for (int64_t i = 0; i < m * n; ++i) {
    max_ref = std::max(max_ref, std::fabs(double{ref[i]}));
    max_err = std::max(max_err, std::fabs(double{c[i]} - ref[i]));
  }
  EXPECT_LT(max_err, 0.02 * max_ref);  // two 8-bit roundings over K = 195
  EXPECT_GT(max_err, 0.0);             // it did quantize
}

TEST(GemmInt8Test, NonFiniteRowsGiveTheSameBitsOnEveryPath) {
  const int64_t m = 4, n = 20, k = 33;
  std::vector<float> a = Random(m * k, 11);
  a[0 * k + 5] = std::numeric_limits<float>::infinity();
  a[1 * k + 7] = std::numeric_limits<float>::quiet_NaN();
  a[2 * k + 32] = -std::numeric_limits<float>::infinity();
  std::vector<float> w = Random(k * n, 12);
  std::vector<int8_t> q(w.size());
  std::vector<float> sw(n);
  QuantizeWeightsInt8(w.data(), k, n, n, 1, q.data(), sw.data());
  absl::StatusOr<PackedBInt8> packed = PackGemmBInt8(q.data(), sw.data(), k, n, n, 1);
  ASSERT_TRUE(packed.ok());
  Scratch scratch(GemmInt8ScratchBytes(k));
  std::vector<float> ref(m * n), c(m * n);
  GemmInt8Reference(m, a.data(), k, *packed, nullptr, false, ref.data(), n);
  for (Isa isa : {Isa::kAvx2, Isa::kAvx512}) {
    for (bool amx : {false, true}) {
      GemmInt8(m, a.data(), k, *packed, nullptr, false, c.data(), n, scratch.get(), isa, amx);
      EXPECT_EQ(0, std::memcmp(c.data(), ref.data(), c.size() * sizeof(float)))
          << DenseKernelName(DensePrecision::kInt8, isa, amx);
    }
  }
}

TEST(GemmInt8Test, PackRejectsWhatItCannotRun) {
  std::vector<int8_t> q(4, 1);
  float bad_scale = -1.0f;
  EXPECT_FALSE(PackGemmBInt8(q.data(), &bad_scale, 4, 1, 1, 1).ok());
  float nan_scale = std::numeric_limits<float>::quiet_NaN();
  EXPECT_FALSE(PackGemmBInt8(q.data(), &nan_scale, 4, 1, 1, 1).ok());
  float scale = 1.0f;
  absl::StatusOr<PackedBInt8> big = PackGemmBInt8(q.data(), &scale, kGemmInt8MaxK + 1, 1, 0, 1);
  ASSERT_FALSE(big.ok());
  EXPECT_NE(big.status().message().find("K = 65537"), std::string::npos) << big.status();
}

TEST(GemmInt8Test, TransposedWeightsPackLikeRowMajor) {
  const int64_t k = 9, n = 21;
  std::vector<float> w = Random(k * n, 5), wt(k * n);
  for (int64_t kk = 0; kk < k; ++kk) {
    for (int64_t j = 0; j < n; ++j) wt[j * k + kk] = w[kk * n + j];
  }
  std::vector<int8_t> q(w.size()), qt(w.size());
  std::vector<float> s(n), st(n);
  QuantizeWeightsInt8(w.data(), k, n, n, 1, q.data(), s.data());
  QuantizeWeightsInt8(wt.data(), k, n, 1, k, qt.data(), st.data());
  absl::StatusOr<PackedBInt8> p = PackGemmBInt8(q.data(), s.data(), k, n, n, 1);
  absl::StatusOr<PackedBInt8> pt = PackGemmBInt8(qt.data(), st.data(), k, n, 1, k);
  ASSERT_TRUE(p.ok() && pt.ok());
  EXPECT_EQ(p->data, pt->data);
  EXPECT_EQ(p->scales, pt->scales);
  EXPECT_EQ(p->compensation, pt->compensation);
}

float Ftz(float x) { return std::fpclassify(x) == FP_SUBNORMAL ? std::copysign(0.0f, x) : x; }

// The bf16 formula of gemm_lowp.h from unpacked bf16 weights.
std::vector<float> NaiveBf16(int64_t m, int64_t n, int64_t k, const std::vector<float>& a,
                             const std::vector<uint16_t>& b, const float* bias, bool relu) {
  const int64_t ldc = n + 3;
  std::vector<float> c(static_cast<size_t>(m * ldc + 5), kSentinel);
  for (int64_t i = 0; i < m; ++i) {
    for (int64_t j = 0; j < n; ++j) {
      auto av = [&](int64_t kk) {
        return kk < k ? Bf16ToFloat(FloatToBf16(a[i * k + kk])) : 0.0f;
      };
      auto bv = [&](int64_t kk) { return kk < k ? Bf16ToFloat(b[kk * n + j]) : 0.0f; };
      float acc = 0;
      for (int64_t t = 0; 2 * t < k; ++t) {
        acc = Ftz(acc + Ftz(av(2 * t + 1) * bv(2 * t + 1)));
        acc = Ftz(acc + Ftz(av(2 * t) * bv(2 * t)));
      }
      float y = bias ? acc + bias[j] : acc;
      if (relu) y = y > 0 ? y : 0;
      c[i * ldc + j] = y;
    }
  }
  return c;
}

TEST(GemmBf16Test, VectorKernelReferenceAndNaiveFormulaAgreeBitwise) {
  for (int64_t m : {1, 5, 12, 13, 48, 49, 100}) {
    for (int64_t n : {1, 15, 16, 17, 32, 33, 80}) {
      for (int64_t k : {0, 1, 2, 3, 64, 129}) {
        std::vector<float> a = Random(m * k, 1 + m * n * k, 3.0f);
        if (m > 3 && k > 1) {  // products and sums in the denormal range: flushed
          a[2 * k + 0] = 1e-20f;
          a[2 * k + 1] = -3e-19f;
        }
        std::vector<float> w = Random(k * n, 2 + m + n + k, 0.5f);
        if (k > 1) w[0] = 1e-20f;
        std::vector<uint16_t> wb(w.size());
        for (size_t i = 0; i < w.size(); ++i) wb[i] = FloatToBf16(w[i]);
        PackedBBf16 packed = PackGemmBBf16(wb.data(), k, n, n, 1);
        std::vector<float> bias = Random(n, 3);
        Scratch scratch(GemmBf16ScratchBytes(k));
        for (bool with_bias : {false, true}) {
          for (bool relu : {false, true}) {
            const float* bp = with_bias ? bias.data() : nullptr;
            std::vector<float> naive = NaiveBf16(m, n, k, a, wb, bp, relu);
            std::vector<float> ref = RunChecked(m, n, [&](float* c, int64_t ldc) {
              GemmBf16Reference(m, a.data(), k, packed, bp, relu, c, ldc);
            });
            ASSERT_EQ(0, std::memcmp(naive.data(), ref.data(), ref.size() * sizeof(float)))
                << "m=" << m << " n=" << n << " k=" << k;
            // The AVX2 kernel has its own reference (fma, denormals kept): equal to it.
            std::vector<float> ref_avx2 = RunChecked(m, n, [&](float* c, int64_t ldc) {
              GemmBf16Avx2Reference(m, a.data(), k, packed, bp, relu, c, ldc);
            });
            for (Isa isa : {Isa::kScalar, Isa::kAvx2, Isa::kAvx512}) {
              std::vector<float> c = RunChecked(m, n, [&](float* c, int64_t ldc) {
                GemmBf16(m, a.data(), k, packed, bp, relu, c, ldc, scratch.get(), isa,
                         /*use_amx=*/false);
              });
              const bool avx2 = DenseKernelName(DensePrecision::kBf16, isa, false) == "bf16-avx2";
              const std::vector<float>& want = avx2 ? ref_avx2 : ref;
              ASSERT_EQ(0, std::memcmp(c.data(), want.data(), c.size() * sizeof(float)))
                  << "m=" << m << " n=" << n << " k=" << k << " isa=" << IsaName(isa)
                  << " kernel=" << DenseKernelName(DensePrecision::kBf16, isa, false);
            }
          }
        }
      }
    }
  }
}

TEST(GemmBf16Test, RoundingOfSpecialValuesMatchesTheHardware) {
  // Through the kernel with B = identity: y[j] = bf16(a[j]) exactly (one product, added to 0).
  const int64_t k = 16, n = 16;
  std::vector<uint16_t> eye(k * n, 0);
  for (int64_t j = 0; j < n; ++j) eye[j * n + j] = FloatToBf16(1.0f);
  PackedBBf16 packed = PackGemmBBf16(eye.data(), k, n, n, 1);
  const uint32_t bits[] = {0x00000001u, 0x007fffffu, 0x80000001u, 0x7f800001u, 0x3f808000u,
                           0x3f818000u, 0x7f7fffffu, 0x00800000u, 0x0080ffffu, 0xff800000u,
                           0x3f7fffffu, 0xbf808001u, 0x00000000u, 0x80000000u, 0x7fc00000u,
                           0x47800000u};
  std::vector<float> a(k);
  std::memcpy(a.data(), bits, sizeof(bits));
  std::vector<float> ref(n), c(n);
  Scratch scratch(GemmBf16ScratchBytes(k));
  GemmBf16Reference(1, a.data(), k, packed, nullptr, false, ref.data(), n);
  for (Isa isa : {Isa::kAvx2, Isa::kAvx512}) {
    GemmBf16(1, a.data(), k, packed, nullptr, false, c.data(), n, scratch.get(), isa, false);
    EXPECT_EQ(0, std::memcmp(c.data(), ref.data(), c.size() * sizeof(float))) << IsaName(isa);
  }
  EXPECT_EQ(FloatToBf16(1.00390625f), 0x3f80);  // ties to even
  EXPECT_EQ(FloatToBf16(1.01171875f), 0x3f82);
}

TEST(GemmBf16Test, Avx2OrderEqualsTheVdpbf16psOrderInTheNormalRange) {
  if (!CpuSupports(Isa::kAvx2)) GTEST_SKIP() << "no AVX2 on this CPU";
  const int64_t m = 37, n = 50, k = 195;
  std::vector<float> a = Random(m * k, 21, 4.0f), w = Random(k * n, 22, 0.3f);
  std::vector<uint16_t> wb(w.size());
  for (size_t i = 0; i < w.size(); ++i) wb[i] = FloatToBf16(w[i]);
  PackedBBf16 packed = PackGemmBBf16(wb.data(), k, n, n, 1);
  std::vector<float> bias = Random(n, 23);
  std::vector<float> ref(m * n), ref_avx2(m * n), c(m * n);
  Scratch scratch(GemmBf16ScratchBytes(k));
  GemmBf16Reference(m, a.data(), k, packed, bias.data(), true, ref.data(), n);
  GemmBf16Avx2Reference(m, a.data(), k, packed, bias.data(), true, ref_avx2.data(), n);
  GemmBf16(m, a.data(), k, packed, bias.data(), true, c.data(), n, scratch.get(), Isa::kAvx2);
  EXPECT_EQ(DenseKernelName(DensePrecision::kBf16, Isa::kAvx2), "bf16-avx2");
  EXPECT_EQ(0, std::memcmp(ref_avx2.data(), ref.data(), ref.size() * sizeof(float)));
  EXPECT_EQ(0, std::memcmp(c.data(), ref.data(), c.size() * sizeof(float)));
}

TEST(GemmBf16Test, Avx2KeepsADenormalProductTheHardwareFlushes) {
  // The one documented difference: 2^-70 * 2^-70 = 2^-140 is denormal; vdpbf16ps flushes it.
  const float tiny = std::ldexp(1.0f, -70);
  std::vector<float> a = {tiny, 0.0f};
  std::vector<uint16_t> wb = {FloatToBf16(tiny), 0};
  PackedBBf16 packed = PackGemmBBf16(wb.data(), 2, 1, 1, 1);
  float ref = 1, ref_avx2 = 0;
  GemmBf16Reference(1, a.data(), 2, packed, nullptr, false, &ref, 1);
  GemmBf16Avx2Reference(1, a.data(), 2, packed, nullptr, false, &ref_avx2, 1);
  EXPECT_EQ(ref, 0.0f);
  EXPECT_EQ(ref_avx2, std::ldexp(1.0f, -140));
  if (CpuSupports(Isa::kAvx2)) {
    float c = 0;
    Scratch scratch(GemmBf16ScratchBytes(2));
    GemmBf16(1, a.data(), 2, packed, nullptr, false, &c, 1, scratch.get(), Isa::kAvx2);
    EXPECT_EQ(c, ref_avx2);
  }
}

TEST(GemmBf16Test, DenormalWeightBitsPackAsSignedZeros) {
  const std::vector<uint16_t> wb = {0x0001, 0x8001, 0x007f, 0x0080};
  PackedBBf16 packed = PackGemmBBf16(wb.data(), 4, 1, 1, 1);
  EXPECT_EQ(packed.data[0], 0x0000);  // pair 0 of column 0
  EXPECT_EQ(packed.data[1], 0x8000);
  EXPECT_EQ(packed.data[32], 0x0000);  // pair 1
  EXPECT_EQ(packed.data[33], 0x0080);  // the smallest normal stays
}

TEST(DensePrecisionTest, Avx2KernelsAreFast) {
  if (!CpuSupports(Isa::kAvx2)) GTEST_SKIP() << "no AVX2 on this CPU";
  EXPECT_EQ(DenseKernelName(DensePrecision::kInt8, Isa::kAvx2), "int8-avx2");
  EXPECT_TRUE(DensePrecisionIsFast(DensePrecision::kInt8, Isa::kAvx2));
  EXPECT_TRUE(DensePrecisionIsFast(DensePrecision::kBf16, Isa::kAvx2));
  EXPECT_FALSE(DensePrecisionIsFast(DensePrecision::kInt8, Isa::kScalar));
}

// ---- AMX (Sapphire Rapids and later; skipped elsewhere) -----------------------------------------

#define SKIP_WITHOUT_AMX()                                                                       \
  if (!AmxUsable()) {                                                                            \
    GTEST_SKIP() << "AMX not usable here (needs amx-tile/amx-int8/amx-bf16 in CPUID, AVX-512, " \
                    "Linux tile permission, RANKOPT_ISA unset or amx); cpu has amx: "            \
                 << GetCpuFeatures().amx;                                                        \
  }

TEST(GemmAmxTest, Int8TilesEqualVnniAndTheReferenceBitwise) {
  SKIP_WITHOUT_AMX();
  EXPECT_EQ(DenseKernelName(DensePrecision::kInt8, Isa::kAvx512), "int8-amx");
  for (int64_t m : {1, 15, 16, 17, 31, 32, 33, 48, 49, 100, 200}) {
    for (int64_t n : {1, 16, 31, 32, 33, 48, 64, 80, 256}) {
      for (int64_t k : {1, 4, 63, 64, 65, 128, 195, 256, 300}) {
        std::vector<float> a = Random(m * k, 31 + m + n * k, 2.0f), w = Random(k * n, 32 + k);
        std::vector<int8_t> q(w.size());
        std::vector<float> sw(n);
        QuantizeWeightsInt8(w.data(), k, n, n, 1, q.data(), sw.data());
        absl::StatusOr<PackedBInt8> packed = PackGemmBInt8(q.data(), sw.data(), k, n, n, 1);
        ASSERT_TRUE(packed.ok());
        std::vector<float> bias = Random(n, 33);
        Scratch scratch(GemmInt8ScratchBytes(k));
        std::vector<float> ref = RunChecked(m, n, [&](float* c, int64_t ldc) {
          GemmInt8Reference(m, a.data(), k, *packed, bias.data(), true, c, ldc);
        });
        std::vector<float> vnni = RunChecked(m, n, [&](float* c, int64_t ldc) {
          GemmInt8(m, a.data(), k, *packed, bias.data(), true, c, ldc, scratch.get(),
                   Isa::kAvx512, false);
        });
        std::vector<float> amx = RunChecked(m, n, [&](float* c, int64_t ldc) {
          GemmInt8(m, a.data(), k, *packed, bias.data(), true, c, ldc, scratch.get(),
                   Isa::kAvx512, true);
        });
        ASSERT_EQ(0, std::memcmp(amx.data(), ref.data(), ref.size() * sizeof(float)))
            << "m=" << m << " n=" << n << " k=" << k;
        ASSERT_EQ(0, std::memcmp(amx.data(), vnni.data(), ref.size() * sizeof(float)))
            << "m=" << m << " n=" << n << " k=" << k;
      }
    }
  }
}

TEST(GemmAmxTest, Bf16TilesWithinFp32AccumulationRoundingOfTheExactSum) {
  SKIP_WITHOUT_AMX();
  EXPECT_EQ(DenseKernelName(DensePrecision::kBf16, Isa::kAvx512), "bf16-amx");
  for (int64_t m : {1, 16, 17, 33, 49, 200}) {
    for (int64_t n : {1, 17, 32, 80}) {
      for (int64_t k : {1, 2, 31, 32, 33, 195, 300}) {
        std::vector<float> a = Random(m * k, 41 + m + n * k, 3.0f), w = Random(k * n, 42 + k);
        std::vector<uint16_t> wb(w.size());
        for (size_t i = 0; i < w.size(); ++i) wb[i] = FloatToBf16(w[i]);
        PackedBBf16 packed = PackGemmBBf16(wb.data(), k, n, n, 1);
        std::vector<float> bias = Random(n, 43);
        Scratch scratch(GemmBf16ScratchBytes(k));
        const int64_t ldc_amx = n + 3;  // RunChecked's
        std::vector<float> amx = RunChecked(m, n, [&](float* c, int64_t ldc) {
          GemmBf16(m, a.data(), k, packed, bias.data(), false, c, ldc, scratch.get(),
                   Isa::kAvx512, true);
        });
        for (int64_t i = 0; i < m; ++i) {
          for (int64_t j = 0; j < n; ++j) {
            double exact = 0, magnitude = 0;  // bf16 products summed in double: exact here
            for (int64_t kk = 0; kk < k; ++kk) {
              const double p = double{Bf16ToFloat(FloatToBf16(a[i * k + kk]))} *
                               double{Bf16ToFloat(wb[kk * n + j])};
              exact += p;
              magnitude += std::fabs(p);
            }
            const double want = exact + bias[j];
            const double bound = (k + 2) * std::ldexp(magnitude + std::fabs(bias[j]), -24);
            ASSERT_LE(std::fabs(amx[i * ldc_amx + j] - want), bound)
                << "m=" << m << " n=" << n << " k=" << k << " at " << i << "," << j;
          }
        }
      }
    }
  }
}

TEST(DensePrecisionTest, NamesParseBack) {
  for (DensePrecision p : {DensePrecision::kFp32, DensePrecision::kBf16, DensePrecision::kInt8}) {
    absl::StatusOr<DensePrecision> back = ParseDensePrecision(DensePrecisionName(p));
    ASSERT_TRUE(back.ok());
    EXPECT_EQ(*back, p);
  }
  EXPECT_FALSE(ParseDensePrecision("fp16").ok());
  EXPECT_EQ(DenseKernelName(DensePrecision::kInt8, Isa::kScalar), "int8-scalar");
}

}  // namespace
}  // namespace rankopt
