// AttentionPooling with its MLP GEMMs at int8 / bf16 (gemm_lowp.h): every ISA against
// AttentionPooling::RunReference (int8 and fp32 layers bit for bit on every ISA; bf16 bit for bit
// where the kernel follows the reference's order, within fp32 rounding on AMX), chunk and sharing
// invariance, the distance to the fp32 unit, and the errors. No writes past out or scratch.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "graph/kernels/math/attention_pooling.h"
#include "gtest/gtest.h"

namespace rankopt {
namespace {

using ::testing::HasSubstr;
using Act = AttentionActivation;
using Term = AttentionTerm;
using P = DensePrecision;

constexpr float kSentinel = 12345.0f;
constexpr int64_t kPad = 37;

std::vector<float> Uniform(size_t n, float scale, std::mt19937* gen) {
  std::uniform_real_distribution<float> dist(-scale, scale);
  std::vector<float> v(n);
  for (float& x : v) x = dist(*gen);
  return v;
}

std::vector<float> Normal(size_t n, float stddev, std::mt19937* gen) {
  std::normal_distribution<float> dist(0.0f, stddev);
  std::vector<float> v(n);
  for (float& x : v) x = dist(*gen);
  return v;
}

// An MLP over `num_terms` * dim inputs: hidden widths with their activations, then the score.
std::vector<AttentionLayer> MakeLayers(int64_t dim, size_t num_terms,
                                       const std::vector<int64_t>& hidden,
                                       const std::vector<Act>& acts, uint32_t seed) {
  std::mt19937 gen(seed);
  std::vector<AttentionLayer> layers;
  int64_t in = static_cast<int64_t>(num_terms) * dim;
  for (size_t i = 0; i <= hidden.size(); ++i) {
    AttentionLayer layer;
    layer.in = in;
    layer.out = i < hidden.size() ? hidden[i] : 1;
    layer.act = i < hidden.size() ? acts[i] : Act::kNone;
    layer.weight = Uniform(layer.in * layer.out, 0.3f, &gen);
    layer.bias = Uniform(layer.out, 0.1f, &gen);
    if (layer.act == Act::kPRelu) {
      layer.slope = Uniform(layer.out, 0.25f, &gen);
      for (float& v : layer.slope) v += 0.25f;
    }
    if (layer.act == Act::kDice) {
      layer.dice_scale = Uniform(layer.out, 0.5f, &gen);
      for (float& v : layer.dice_scale) v += 1.0f;
      layer.dice_shift = Uniform(layer.out, 0.2f, &gen);
      layer.dice_alpha = Uniform(layer.out, 0.5f, &gen);
    }
    layers.push_back(layer);
    in = layer.out;
  }
  return layers;
}

// DIN's attention: [q, k, q-k, q*k] (dim 32) -> 80 sigmoid -> 40 sigmoid -> 1.
std::vector<AttentionLayer> DinLayers(uint32_t seed) {
  return MakeLayers(32, 4, {80, 40}, {Act::kSigmoid, Act::kSigmoid}, seed);
}

struct Inputs {
  int64_t batch = 0;
  int64_t dim = 0;
  int64_t seq_len = 0;
  std::vector<float> q;
  std::vector<float> keys;
  int64_t keys_batch = 1;
  std::vector<float> mask;  // empty: none
  int64_t mask_batch = 1;
  const float* mask_ptr() const { return mask.empty() ? nullptr : mask.data(); }
};

// Keys shared or per candidate; one length per mask row (none: no mask). Lengths cycle through
// 0, L, 1 and random values when `various`.
Inputs MakeInputs(int64_t batch, int64_t dim, int64_t seq_len, bool shared_keys, int mask_rows,
                  uint32_t seed) {
  std::mt19937 gen(seed);
  Inputs in;
  in.batch = batch;
  in.dim = dim;
  in.seq_len = seq_len;
  in.q = Normal(batch * dim, 0.5f, &gen);
  in.keys_batch = shared_keys ? 1 : batch;
  in.keys = Normal(in.keys_batch * seq_len * dim, 0.5f, &gen);
  if (mask_rows > 0) {
    in.mask_batch = mask_rows;
    in.mask.assign(mask_rows * seq_len, 0.0f);
    std::uniform_int_distribution<int64_t> dist(0, seq_len);
    for (int r = 0; r < mask_rows; ++r) {
      const int64_t len = mask_rows == 1 ? seq_len * 3 / 4
                          : r % 4 == 0   ? 0
                          : r % 4 == 1   ? seq_len
                          : r % 4 == 2   ? 1
                                         : dist(gen);
      for (int64_t t = 0; t < len; ++t) in.mask[r * seq_len + t] = 1.0f;
    }
  }
  return in;
}

// Run on candidates [begin, begin + count), checking for writes past out and scratch.
std::vector<float> RunFused(const AttentionPooling& attn, const Inputs& in, int64_t begin,
                            int64_t count, Isa isa) {
  const int64_t d = in.dim, l = in.seq_len;
  std::vector<float> out(count * d + kPad, kSentinel);
  const int64_t scratch_floats = attn.ScratchFloats(count, l);
  std::vector<float> scratch(scratch_floats + kPad, kSentinel);
  const float* keys = in.keys.data() + (in.keys_batch == 1 ? 0 : begin * l * d);
  const float* mask =
      in.mask.empty() ? nullptr : in.mask.data() + (in.mask_batch == 1 ? 0 : begin * l);
  const absl::Status s =
      attn.Run(count, in.q.data() + begin * d, keys, in.keys_batch == 1 ? 1 : count, l, mask,
               in.mask_batch == 1 ? 1 : count, out.data(), scratch.data(), isa);
  EXPECT_TRUE(s.ok()) << s;
  for (int64_t i = 0; i < kPad; ++i) {
    EXPECT_EQ(out[count * d + i], kSentinel) << "write past out at " << i;
    EXPECT_EQ(scratch[scratch_floats + i], kSentinel) << "write past scratch at " << i;
  }
  out.resize(count * d);
  return out;
}

std::vector<float> RunRef(const AttentionPooling& attn, const Inputs& in,
                          AttentionPooling::Bf16Order order) {
  std::vector<float> out(in.batch * in.dim + kPad, kSentinel);
  attn.RunReference(in.batch, in.q.data(), in.keys.data(), in.keys_batch, in.seq_len, in.mask_ptr(),
                    in.mask_batch, out.data(), order);
  for (int64_t i = 0; i < kPad; ++i) EXPECT_EQ(out[in.batch * in.dim + i], kSentinel);
  out.resize(in.batch * in.dim);
  return out;
}

bool BitsEqual(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

// The first differing element, for failure messages.
std::string FirstDifference(const std::vector<float>& a, const std::vector<float>& b) {
  for (size_t i = 0; i < std::min(a.size(), b.size()); ++i) {
    if (std::memcmp(&a[i], &b[i], sizeof(float)) != 0) {
      return absl::StrCat("element ", i, ": ", a[i], " vs ", b[i]);
    }
  }
  return a.size() == b.size() ? "none" : "sizes differ";
}

// max over rows of max_j |a - b| / max_j |b| (rows of width dim; all-zero rows compare absolute).
double MaxRowRelativeError(const std::vector<float>& a, const std::vector<float>& b, int64_t dim) {
  double worst = 0;
  for (size_t r = 0; r * dim < b.size(); ++r) {
    double scale = 0, diff = 0;
    for (int64_t j = 0; j < dim; ++j) {
      scale = std::max(scale, std::abs(static_cast<double>(b[r * dim + j])));
      diff = std::max(diff, std::abs(static_cast<double>(a[r * dim + j]) - b[r * dim + j]));
    }
    worst = std::max(worst, scale > 0 ? diff / scale : diff);
  }
  return worst;
}

std::vector<Isa> Isas() {
  std::vector<Isa> isas = {Isa::kScalar};
  if (CpuSupports(Isa::kAvx2)) isas.push_back(Isa::kAvx2);
  if (CpuSupports(Isa::kAvx512)) isas.push_back(Isa::kAvx512);
  return isas;
}

// The bf16 order of the kernel GemmBf16 runs at `isa`, or false when it has none (AMX: the
// hardware's own order).
bool Bf16OrderAt(Isa isa, AttentionPooling::Bf16Order* order) {
  const std::string kernel(DenseKernelName(P::kBf16, isa));
  if (kernel == "bf16-avx2") {
    *order = AttentionPooling::Bf16Order::kFma;
    return true;
  }
  *order = AttentionPooling::Bf16Order::kFlush;
  return kernel == "bf16-avx512bf16" || kernel == "bf16-scalar";
}

// Run at every ISA against RunReference: bitwise, except bf16 on AMX (within 1e-4 of the row's
// largest element: the tiles sum the same exact bf16 products in fp32 in another order, about
// 1e-6 relative per GEMM; bf16 against fp32 differs by ~1e-2, so a wrong path still fails).
void ExpectMatchesReference(const AttentionPooling& attn, const Inputs& in,
                            const std::string& what) {
  bool has_bf16 = false;
  for (int64_t l = 0; l < attn.num_layers(); ++l) has_bf16 |= attn.precision(l) == P::kBf16;
  std::vector<float> refs[2];  // per Bf16Order, computed once
  for (Isa isa : Isas()) {
    AttentionPooling::Bf16Order order;
    const bool ordered = Bf16OrderAt(isa, &order);
    const std::vector<float> got = RunFused(attn, in, 0, in.batch, isa);
    std::vector<float>& want = refs[static_cast<int>(order)];
    if (want.empty()) want = RunRef(attn, in, order);
    if (!has_bf16 || ordered) {
      EXPECT_TRUE(BitsEqual(got, want))
          << what << " at " << IsaName(isa) << " (" << attn.KernelName(isa)
          << "): " << FirstDifference(got, want);
    } else {
      EXPECT_LE(MaxRowRelativeError(got, want, in.dim), 1e-4)
          << what << " at " << IsaName(isa) << " (" << attn.KernelName(isa) << ")";
    }
  }
}

const std::vector<std::vector<P>>& PrecisionSets() {
  static const std::vector<std::vector<P>> sets = {
      {P::kInt8, P::kInt8, P::kFp32}, {P::kBf16, P::kBf16, P::kFp32},
      {P::kInt8, P::kBf16, P::kFp32}, {P::kBf16, P::kInt8, P::kFp32},
      {P::kFp32, P::kInt8, P::kFp32}, {P::kInt8, P::kFp32, P::kFp32}};
  return sets;
}

std::string Name(const std::vector<P>& precisions) {
  std::string s;
  for (P p : precisions) absl::StrAppend(&s, s.empty() ? "" : "_", DensePrecisionName(p));
  return s;
}

// ---- Against the reference -----------------------------------------------------------------

TEST(AttentionPoolingLowpTest, DinSizesEveryPrecisionMatchesReference) {
  for (const std::vector<P>& precisions : PrecisionSets()) {
    absl::StatusOr<AttentionPooling> attn =
        AttentionPooling::Create(32, DinLayers(3), AttentionOptions(), precisions);
    ASSERT_TRUE(attn.ok()) << attn.status();
    struct Case {
      int64_t batch;
      bool shared_keys;
      int mask_rows;  // 1: shared, batch: per candidate, 0: none
    };
    for (const Case& c : {Case{130, true, 1}, Case{61, false, 61}, Case{37, true, 37},
                          Case{5, false, 0}, Case{1, true, 1}}) {
      const Inputs in = MakeInputs(c.batch, 32, 50, c.shared_keys, c.mask_rows, 7 + c.batch);
      ExpectMatchesReference(*attn, in,
                             absl::StrCat(Name(precisions), " b", c.batch, " shared_keys ",
                                          c.shared_keys, " mask_rows ", c.mask_rows));
    }
  }
}

// Every activation (relu is fused into the low-precision epilogue), term list, mask mode and
// softmax, with odd widths (panel and K tails).
TEST(AttentionPoolingLowpTest, GeneralFormsMatchReference) {
  struct Form {
    std::vector<Term> terms;
    std::vector<int64_t> hidden;
    std::vector<Act> acts;
    AttentionMask mask;
    bool softmax;
    float fill;
  };
  const Form forms[] = {
      {{Term::kQuery, Term::kKey, Term::kQueryMinusKey, Term::kQueryTimesKey},
       {64, 32, 16},
       {Act::kPRelu, Act::kPRelu, Act::kPRelu},
       AttentionMask::kMultiply,
       false,
       0.0f},
      {{Term::kQuery, Term::kKey, Term::kQueryTimesKey},
       {33, 17},
       {Act::kDice, Act::kRelu},
       AttentionMask::kSelect,
       true,
       -1e9f},
      {{Term::kQueryTimesKey, Term::kKeyMinusQuery, Term::kKey},
       {24, 12},
       {Act::kSwish, Act::kRelu},
       AttentionMask::kMultiply,
       true,
       0.0f},
      {{Term::kQuery, Term::kKey}, {36}, {Act::kRelu}, AttentionMask::kSelect, false, 0.5f},
  };
  int f = 0;
  for (const Form& form : forms) {
    for (int64_t dim : {7, 18}) {
      std::vector<AttentionLayer> layers =
          MakeLayers(dim, form.terms.size(), form.hidden, form.acts, 40 + f);
      AttentionOptions options;
      options.terms = form.terms;
      options.mask = form.mask;
      options.softmax = form.softmax;
      options.fill = form.fill;
      for (P p : {P::kInt8, P::kBf16}) {
        std::vector<P> precisions(layers.size(), p);
        precisions.back() = P::kFp32;
        absl::StatusOr<AttentionPooling> attn =
            AttentionPooling::Create(dim, layers, options, precisions);
        ASSERT_TRUE(attn.ok()) << attn.status();
        for (bool shared : {true, false}) {
          const Inputs in = MakeInputs(23, dim, 19, shared, shared ? 1 : 23, 50 + f);
          ExpectMatchesReference(*attn, in,
                                 absl::StrCat("form ", f, " dim ", dim, " ", DensePrecisionName(p),
                                              " shared ", shared));
        }
      }
    }
    ++f;
  }
}

// A single layer (layer 0 is the score layer, out 1) may run reduced: its three GEMMs.
TEST(AttentionPoolingLowpTest, SingleLayerUnitAtInt8) {
  std::vector<AttentionLayer> layers = MakeLayers(16, 4, {}, {}, 9);
  absl::StatusOr<AttentionPooling> attn =
      AttentionPooling::Create(16, layers, AttentionOptions(), {P::kInt8});
  ASSERT_TRUE(attn.ok()) << attn.status();
  EXPECT_EQ(attn->KernelName(Isa::kScalar), "int8-scalar");
  ExpectMatchesReference(*attn, MakeInputs(40, 16, 30, false, 40, 10), "single layer");
}

// ---- Invariances ---------------------------------------------------------------------------

// Row b of a Run over the whole batch equals row b of Runs over chunks (1, 7, 64), and shared
// keys and mask give the same bits as the same rows repeated per candidate.
TEST(AttentionPoolingLowpTest, ChunksAndSharingAreBitwiseEqual) {
  const int64_t batch = 150;
  for (const std::vector<P>& precisions : PrecisionSets()) {
    absl::StatusOr<AttentionPooling> attn =
        AttentionPooling::Create(32, DinLayers(11), AttentionOptions(), precisions);
    ASSERT_TRUE(attn.ok()) << attn.status();
    const Inputs shared = MakeInputs(batch, 32, 50, true, 1, 12);
    const std::vector<float> full = RunFused(*attn, shared, 0, batch, BestIsa());
    for (int64_t chunk : {1, 7, 64}) {
      std::vector<float> pieces;
      for (int64_t b = 0; b < batch; b += chunk) {
        std::vector<float> part = RunFused(*attn, shared, b, std::min(chunk, batch - b), BestIsa());
        pieces.insert(pieces.end(), part.begin(), part.end());
      }
      EXPECT_TRUE(BitsEqual(full, pieces)) << Name(precisions) << " chunk " << chunk;
    }
    Inputs broadcast = shared;
    broadcast.keys_batch = batch;
    broadcast.mask_batch = batch;
    broadcast.keys.clear();
    broadcast.mask.clear();
    for (int64_t b = 0; b < batch; ++b) {
      broadcast.keys.insert(broadcast.keys.end(), shared.keys.begin(), shared.keys.end());
      broadcast.mask.insert(broadcast.mask.end(), shared.mask.begin(), shared.mask.end());
    }
    EXPECT_TRUE(BitsEqual(full, RunFused(*attn, broadcast, 0, batch, BestIsa())))
        << Name(precisions);
  }
}

// Every int8 kernel gives the same bits, so an int8 unit is ISA-independent.
TEST(AttentionPoolingLowpTest, Int8IsBitwiseEqualOnEveryIsa) {
  absl::StatusOr<AttentionPooling> attn = AttentionPooling::Create(
      32, DinLayers(13), AttentionOptions(), {P::kInt8, P::kInt8, P::kFp32});
  ASSERT_TRUE(attn.ok()) << attn.status();
  const Inputs in = MakeInputs(90, 32, 50, false, 90, 14);
  const std::vector<float> scalar = RunFused(*attn, in, 0, in.batch, Isa::kScalar);
  for (Isa isa : Isas()) {
    EXPECT_TRUE(BitsEqual(RunFused(*attn, in, 0, in.batch, isa), scalar)) << IsaName(isa);
  }
}

// ---- Accuracy against the fp32 unit ----------------------------------------------------------

// The reduced unit stays near the fp32 one (DIN sizes, inputs like trained embeddings): int8's
// per-row / per-column scales give ~1% of the row's largest pooled value, bf16's 8-bit mantissa
// ~0.5%. Bounds about 4x the values measured here (int8 1.1e-2, bf16 5.8e-3), so a wrong scale,
// a dropped bias or a mixed-up weight (errors of order 1) fails.
TEST(AttentionPoolingLowpTest, CloseToTheFp32Unit) {
  const std::vector<AttentionLayer> layers = DinLayers(15);
  absl::StatusOr<AttentionPooling> fp32 = AttentionPooling::Create(32, layers);
  ASSERT_TRUE(fp32.ok()) << fp32.status();
  const Inputs in = MakeInputs(200, 32, 50, true, 1, 16);
  const std::vector<float> want = RunFused(*fp32, in, 0, in.batch, BestIsa());
  const struct {
    P p;
    double bound;
  } cases[] = {{P::kInt8, 4e-2}, {P::kBf16, 2.4e-2}};
  for (const auto& c : cases) {
    absl::StatusOr<AttentionPooling> attn =
        AttentionPooling::Create(32, layers, AttentionOptions(), {c.p, c.p, P::kFp32});
    ASSERT_TRUE(attn.ok()) << attn.status();
    const double err = MaxRowRelativeError(RunFused(*attn, in, 0, in.batch, BestIsa()), want, 32);
    std::printf("%s: max row-relative error vs fp32 %.3g\n", DensePrecisionName(c.p).data(), err);
    EXPECT_LE(err, c.bound) << DensePrecisionName(c.p);
    EXPECT_GT(err, 0.0) << DensePrecisionName(c.p) << " ran at fp32?";
  }
}

// ---- Errors and names ------------------------------------------------------------------------

TEST(AttentionPoolingLowpTest, CreateRejectsBadPrecisions) {
  const std::vector<AttentionLayer> layers = DinLayers(17);
  absl::StatusOr<AttentionPooling> attn =
      AttentionPooling::Create(32, layers, AttentionOptions(), {P::kInt8, P::kFp32});
  ASSERT_FALSE(attn.ok());
  EXPECT_EQ(attn.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(attn.status().message(),
              HasSubstr("2 layer precisions for 3 layers; expected one per layer"));
  attn = AttentionPooling::Create(32, layers, AttentionOptions(), {P::kInt8, P::kInt8, P::kBf16});
  ASSERT_FALSE(attn.ok());
  EXPECT_THAT(attn.status().message(),
              HasSubstr("the score layer (layer 2) is a dot product kept fp32, but its precision "
                        "is bf16; expected fp32"));
}

TEST(AttentionPoolingLowpTest, KernelNamesPerGemmLayer) {
  absl::StatusOr<AttentionPooling> attn = AttentionPooling::Create(
      32, DinLayers(18), AttentionOptions(), {P::kInt8, P::kBf16, P::kFp32});
  ASSERT_TRUE(attn.ok()) << attn.status();
  EXPECT_EQ(attn->KernelName(Isa::kScalar), "int8-scalar,bf16-scalar");
  EXPECT_EQ(attn->precision(0), P::kInt8);
  EXPECT_EQ(attn->precision(1), P::kBf16);
  EXPECT_EQ(attn->precision(2), P::kFp32);
  absl::StatusOr<AttentionPooling> fp32 = AttentionPooling::Create(32, DinLayers(18));
  ASSERT_TRUE(fp32.ok());
  EXPECT_EQ(fp32->KernelName(Isa::kScalar), "fp32-scalar,fp32-scalar");
}

}  // namespace
}  // namespace rankopt
