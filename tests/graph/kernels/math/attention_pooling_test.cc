// AttentionPooling (the fused DIN attention unit) against AttentionPoolingReference over DIN's
// sizes and corner cases; bitwise chunk, ISA and sharing invariance; shape errors; no writes
// past out or scratch.
#include "graph/kernels/math/attention_pooling.h"

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
#include "gtest/gtest.h"

namespace rankopt {
namespace {

using ::testing::HasSubstr;

constexpr float kSentinel = 12345.0f;
constexpr int64_t kPad = 37;  // sentinel floats past out and past scratch
// Agreement budget with the reference, relative to the row's largest |element|: pooled values
// are sums of terms of both signs, so elements near zero carry the rounding of the row's large
// terms (the split reorders the first layer's sums). Measured: <= 1e-6 at DIN's sizes (4e-6 at
// dim 1); per element, 5e-6 for elements >= 10% of the row max.
constexpr double kTolerance = 1e-5;

using Act = AttentionActivation;

struct Mlp {
  std::vector<int64_t> hidden;  // outs of layers[0..] before the score layer
  Act act0 = Act::kSigmoid;
  Act act_hidden = Act::kSigmoid;
};

// DIN's attention MLP: 4d -> 80 -> 40 -> 1, sigmoid.
const Mlp kDin{{80, 40}, Act::kSigmoid, Act::kSigmoid};

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

std::vector<AttentionLayer> MakeLayers(int64_t dim, const Mlp& mlp, uint32_t seed) {
  std::mt19937 gen(seed);
  std::vector<AttentionLayer> layers;
  int64_t in = 4 * dim;
  for (size_t i = 0; i <= mlp.hidden.size(); ++i) {
    AttentionLayer layer;
    layer.in = in;
    layer.out = i < mlp.hidden.size() ? mlp.hidden[i] : 1;
    layer.act = i == mlp.hidden.size() ? Act::kNone : i == 0 ? mlp.act0 : mlp.act_hidden;
    layer.weight = Uniform(layer.in * layer.out, 0.1f, &gen);
    layer.bias = Uniform(layer.out, 0.1f, &gen);
    layers.push_back(layer);
    in = layer.out;
  }
  return layers;
}

// Rows of 1.0 for t < length, 0.0 after.
std::vector<float> LengthMask(const std::vector<int64_t>& lengths, int64_t seq_len) {
  std::vector<float> m(lengths.size() * seq_len, 0.0f);
  for (size_t b = 0; b < lengths.size(); ++b) {
    for (int64_t t = 0; t < lengths[b] && t < seq_len; ++t) m[b * seq_len + t] = 1.0f;
  }
  return m;
}

// One request's inputs. keys_batch / mask_batch as AttentionPooling::Run takes them; an empty
// mask means none.
struct Inputs {
  int64_t batch = 0;
  int64_t dim = 0;
  int64_t seq_len = 0;
  std::vector<float> q;
  std::vector<float> keys;
  int64_t keys_batch = 1;
  std::vector<float> mask;
  int64_t mask_batch = 1;

  const float* mask_ptr() const { return mask.empty() ? nullptr : mask.data(); }
};

Inputs MakeInputs(int64_t batch, int64_t dim, int64_t seq_len, bool shared_keys,
                  std::vector<int64_t> lengths, uint32_t seed) {
  std::mt19937 gen(seed);
  Inputs in;
  in.batch = batch;
  in.dim = dim;
  in.seq_len = seq_len;
  in.q = Normal(batch * dim, 0.05f, &gen);
  in.keys_batch = shared_keys ? 1 : batch;
  in.keys = Normal(in.keys_batch * seq_len * dim, 0.05f, &gen);
  if (!lengths.empty()) {
    in.mask_batch = static_cast<int64_t>(lengths.size());
    in.mask = LengthMask(lengths, seq_len);
  }
  return in;
}

// Per-candidate lengths cycling through 0, L, 1, L-1 and random values.
std::vector<int64_t> VariousLengths(int64_t batch, int64_t seq_len, uint32_t seed) {
  std::mt19937 gen(seed);
  std::uniform_int_distribution<int64_t> dist(0, seq_len);
  std::vector<int64_t> lengths(batch);
  for (int64_t b = 0; b < batch; ++b) {
    switch (b % 6) {
      case 0:
        lengths[b] = 0;
        break;
      case 1:
        lengths[b] = seq_len;
        break;
      case 2:
        lengths[b] = 1;
        break;
      case 3:
        lengths[b] = std::max<int64_t>(seq_len - 1, 0);
        break;
      default:
        lengths[b] = dist(gen);
    }
  }
  return lengths;
}

// Runs the fused kernel on candidates [begin, begin + count) of `in`, with sentinels past out
// and past the scratch (checked here), scratch 64-byte aligned.
std::vector<float> RunFused(const AttentionPooling& attn, const Inputs& in, int64_t begin,
                            int64_t count, Isa isa = BestIsa()) {
  const int64_t d = in.dim, l = in.seq_len;
  std::vector<float> out(count * d + kPad, kSentinel);
  const int64_t scratch_floats = attn.ScratchFloats(count, l);
  std::vector<float> scratch_store(scratch_floats + kPad + 16, kSentinel);
  float* scratch = scratch_store.data();
  while (reinterpret_cast<uintptr_t>(scratch) % 64 != 0) ++scratch;
  const float* keys = in.keys.data() + (in.keys_batch == 1 ? 0 : begin * l * d);
  const float* mask =
      in.mask.empty() ? nullptr : in.mask.data() + (in.mask_batch == 1 ? 0 : begin * l);
  const int64_t keys_batch = in.keys_batch == 1 ? 1 : count;
  const int64_t mask_batch = in.mask_batch == 1 ? 1 : count;
  absl::Status s = attn.Run(count, in.q.data() + begin * d, keys, keys_batch, l, mask, mask_batch,
                            out.data(), scratch, isa);
  EXPECT_TRUE(s.ok()) << s;
  for (int64_t i = count * d; i < count * d + kPad; ++i) {
    EXPECT_EQ(out[i], kSentinel) << "write past out at " << i - count * d;
  }
  for (int64_t i = scratch_floats; i < scratch_floats + kPad; ++i) {
    EXPECT_EQ(scratch[i], kSentinel) << "write past scratch at " << i - scratch_floats;
  }
  out.resize(count * d);
  return out;
}

std::vector<float> RunReference(const std::vector<AttentionLayer>& layers, const Inputs& in) {
  std::vector<float> out(in.batch * in.dim, kSentinel);
  AttentionPoolingReference(in.dim, layers, in.batch, in.q.data(), in.keys.data(), in.keys_batch,
                            in.seq_len, in.mask_ptr(), in.mask_batch, out.data());
  return out;
}

// Largest error of `got` against `want`, each element relative to its row's largest |want|.
double MaxRelativeError(const std::vector<float>& got, const std::vector<float>& want,
                        int64_t dim) {
  double worst = 0.0;
  for (size_t r = 0; r * dim < want.size(); ++r) {
    double row_max = 0.0;
    for (int64_t j = 0; j < dim; ++j)
      row_max = std::max(row_max, std::fabs(double{want[r * dim + j]}));
    for (int64_t j = 0; j < dim; ++j) {
      const double w = want[r * dim + j], g = got[r * dim + j];
      const double scale = row_max;  // >= |w|
      if (scale == 0.0) {
        if (g != 0.0) worst = std::max(worst, 1.0);  // all-zero rows must be exactly zero
        continue;
      }
      worst = std::max(worst, std::fabs(g - w) / scale);
    }
  }
  return worst;
}

void ExpectMatchesReference(int64_t dim, const Mlp& mlp, const Inputs& in,
                            const std::string& what) {
  std::vector<AttentionLayer> layers = MakeLayers(dim, mlp, 7 + dim);
  absl::StatusOr<AttentionPooling> attn = AttentionPooling::Create(dim, layers);
  ASSERT_TRUE(attn.ok()) << attn.status();
  const std::vector<float> want = RunReference(layers, in);
  const std::vector<float> got = RunFused(*attn, in, 0, in.batch);
  const double err = MaxRelativeError(got, want, dim);
  EXPECT_LE(err, kTolerance) << what;
  ::testing::Test::RecordProperty(what, std::to_string(err));
  std::printf("%-40s max error %.3g\n", what.c_str(), err);
}

bool RowsEqual(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

// ---- Against the reference ----------------------------------------------------------------

TEST(AttentionPoolingTest, DinSizesSharedKeysSharedMask) {
  for (int64_t batch : {1, 7, 200, 513}) {
    Inputs in = MakeInputs(batch, 32, 50, /*shared_keys=*/true, {37}, 100 + batch);
    ExpectMatchesReference(32, kDin, in, "shared_keys_mask37_b" + std::to_string(batch));
  }
}

TEST(AttentionPoolingTest, DinSizesPerCandidateKeysAndMasks) {
  for (int64_t batch : {1, 7, 200, 513}) {
    Inputs in = MakeInputs(batch, 32, 50, /*shared_keys=*/false, VariousLengths(batch, 50, batch),
                           200 + batch);
    ExpectMatchesReference(32, kDin, in, "per_candidate_b" + std::to_string(batch));
  }
}

TEST(AttentionPoolingTest, SharedKeysPerCandidateMasks) {
  for (int64_t batch : {1, 7, 200, 513}) {
    Inputs in =
        MakeInputs(batch, 32, 50, /*shared_keys=*/true, VariousLengths(batch, 50, 3), 300 + batch);
    ExpectMatchesReference(32, kDin, in,
                           "shared_keys_mask_per_candidate_b" + std::to_string(batch));
  }
}

TEST(AttentionPoolingTest, PerCandidateKeysSharedMask) {
  for (int64_t batch : {1, 7, 200}) {
    Inputs in = MakeInputs(batch, 32, 50, /*shared_keys=*/false, {37}, 400 + batch);
    ExpectMatchesReference(32, kDin, in, "per_candidate_keys_mask37_b" + std::to_string(batch));
  }
}

TEST(AttentionPoolingTest, NoMask) {
  for (bool shared : {true, false}) {
    for (int64_t batch : {1, 7, 200}) {
      Inputs in = MakeInputs(batch, 32, 50, shared, {}, 500 + batch);
      ExpectMatchesReference(32, kDin, in, absl::StrCat("no_mask_shared", shared, "_b", batch));
    }
  }
}

TEST(AttentionPoolingTest, SharedMaskFullAndEmptyLength) {
  for (int64_t length : {50, 1, 0}) {
    Inputs in = MakeInputs(9, 32, 50, /*shared_keys=*/true, {length}, 600 + length);
    ExpectMatchesReference(32, kDin, in, "shared_mask_length" + std::to_string(length));
  }
  Inputs empty = MakeInputs(9, 32, 50, /*shared_keys=*/true, {0}, 601);
  std::vector<AttentionLayer> layers = MakeLayers(32, kDin, 1);
  absl::StatusOr<AttentionPooling> attn = AttentionPooling::Create(32, layers);
  ASSERT_TRUE(attn.ok()) << attn.status();
  for (float v : RunFused(*attn, empty, 0, 9)) ASSERT_EQ(v, 0.0f);
}

TEST(AttentionPoolingTest, ZeroLengthCandidatesGiveZeroRows) {
  const int64_t batch = 13;
  Inputs in = MakeInputs(batch, 32, 50, /*shared_keys=*/false, VariousLengths(batch, 50, 5), 7);
  std::vector<AttentionLayer> layers = MakeLayers(32, kDin, 1);
  absl::StatusOr<AttentionPooling> attn = AttentionPooling::Create(32, layers);
  ASSERT_TRUE(attn.ok()) << attn.status();
  const std::vector<float> out = RunFused(*attn, in, 0, batch);
  for (int64_t b = 0; b < batch; b += 6) {  // VariousLengths puts length 0 at b % 6 == 0
    for (int64_t j = 0; j < 32; ++j) ASSERT_EQ(out[b * 32 + j], 0.0f) << b;
  }
}

TEST(AttentionPoolingTest, FractionalMaskWeights) {
  Inputs in = MakeInputs(11, 32, 50, /*shared_keys=*/true, {}, 8);
  std::mt19937 gen(9);
  std::uniform_real_distribution<float> dist(0.0f, 1.0f);
  in.mask.resize(11 * 50);
  in.mask_batch = 11;
  for (float& m : in.mask) {
    const float u = dist(gen);
    m = u < 0.3f ? 0.0f : u;
  }
  ExpectMatchesReference(32, kDin, in, "fractional_mask");
}

TEST(AttentionPoolingTest, ReluAndNoneActivations) {
  const Mlp relu{{80, 40}, Act::kRelu, Act::kRelu};
  const Mlp none{{80, 40}, Act::kNone, Act::kNone};
  const Mlp mixed{{80, 40}, Act::kRelu, Act::kSigmoid};
  for (bool shared : {true, false}) {
    Inputs in = MakeInputs(70, 32, 50, shared, VariousLengths(70, 50, 11), 12);
    ExpectMatchesReference(32, relu, in, absl::StrCat("relu_shared", shared));
    ExpectMatchesReference(32, none, in, absl::StrCat("none_shared", shared));
    ExpectMatchesReference(32, mixed, in, absl::StrCat("relu_sigmoid_shared", shared));
  }
}

TEST(AttentionPoolingTest, LayerCounts) {
  const Mlp one_layer{{}, Act::kNone, Act::kNone};           // 4d -> 1
  const Mlp one_hidden{{64}, Act::kSigmoid, Act::kSigmoid};  // 4d -> 64 -> 1
  const Mlp three_hidden{{80, 40, 24}, Act::kSigmoid, Act::kRelu};
  for (bool shared : {true, false}) {
    Inputs in = MakeInputs(70, 32, 50, shared, {37}, 13);
    ExpectMatchesReference(32, one_layer, in, absl::StrCat("one_layer_shared", shared));
    ExpectMatchesReference(32, one_hidden, in, absl::StrCat("one_hidden_shared", shared));
    ExpectMatchesReference(32, three_hidden, in, absl::StrCat("three_hidden_shared", shared));
  }
}

TEST(AttentionPoolingTest, DimsNotAMultipleOf16) {
  for (int64_t dim : {1, 12, 20, 33}) {
    for (bool shared : {true, false}) {
      Inputs in = MakeInputs(41, dim, 23, shared, VariousLengths(41, 23, dim), 14 + dim);
      ExpectMatchesReference(dim, {{20, 12}, Act::kSigmoid, Act::kSigmoid}, in,
                             absl::StrCat("dim", dim, "_shared", shared));
    }
  }
}

TEST(AttentionPoolingTest, LongSequenceLongerThanABlock) {
  Inputs in = MakeInputs(5, 32, 300, /*shared_keys=*/false, {300, 0, 299, 1, 257}, 15);
  ExpectMatchesReference(32, kDin, in, "seq300");
}

TEST(AttentionPoolingTest, EmptyBatchAndSequence) {
  std::vector<AttentionLayer> layers = MakeLayers(32, kDin, 1);
  absl::StatusOr<AttentionPooling> attn = AttentionPooling::Create(32, layers);
  ASSERT_TRUE(attn.ok()) << attn.status();
  EXPECT_TRUE(attn->Run(0, nullptr, nullptr, 1, 50, nullptr, 1, nullptr, nullptr).ok());
  Inputs in = MakeInputs(4, 32, 0, /*shared_keys=*/true, {}, 16);
  for (float v : RunFused(*attn, in, 0, 4)) ASSERT_EQ(v, 0.0f);
}

// ---- Bitwise invariances -------------------------------------------------------------------

// Row b of a Run over the whole batch equals row b of Runs over chunks of 1, 7 and 64.
TEST(AttentionPoolingTest, ChunkedRunsAreBitwiseEqual) {
  const int64_t batch = 200;
  struct Case {
    bool shared_keys;
    std::vector<int64_t> lengths;
  };
  const Case cases[] = {{true, {37}},
                        {false, {37}},
                        {true, VariousLengths(batch, 50, 17)},
                        {false, VariousLengths(batch, 50, 18)},
                        {true, {}},
                        {false, {}}};
  std::vector<AttentionLayer> layers = MakeLayers(32, kDin, 19);
  absl::StatusOr<AttentionPooling> attn = AttentionPooling::Create(32, layers);
  ASSERT_TRUE(attn.ok()) << attn.status();
  int c = 0;
  for (const Case& cs : cases) {
    Inputs in = MakeInputs(batch, 32, 50, cs.shared_keys, cs.lengths, 20 + c++);
    const std::vector<float> full = RunFused(*attn, in, 0, batch);
    for (int64_t chunk : {1, 7, 64}) {
      std::vector<float> pieces;
      for (int64_t b = 0; b < batch; b += chunk) {
        std::vector<float> part = RunFused(*attn, in, b, std::min(chunk, batch - b));
        pieces.insert(pieces.end(), part.begin(), part.end());
      }
      EXPECT_TRUE(RowsEqual(full, pieces)) << "chunk " << chunk << " shared_keys " << cs.shared_keys
                                           << " masks " << cs.lengths.size();
    }
  }
}

// GemmF32 and SigmoidF32 give the same bits on every ISA (their tests check it), and the fused
// kernel's own steps are exact adds, max and explicit fmas, so Run is bitwise ISA-independent.
TEST(AttentionPoolingTest, EveryIsaIsBitwiseEqual) {
  std::vector<AttentionLayer> layers = MakeLayers(20, {{80, 40}, Act::kSigmoid, Act::kRelu}, 21);
  absl::StatusOr<AttentionPooling> attn = AttentionPooling::Create(20, layers);
  ASSERT_TRUE(attn.ok()) << attn.status();
  Inputs in = MakeInputs(75, 20, 50, /*shared_keys=*/false, VariousLengths(75, 50, 22), 23);
  Inputs shared = MakeInputs(75, 20, 50, /*shared_keys=*/true, {37}, 24);
  const std::vector<float> ref = RunFused(*attn, in, 0, 75, Isa::kScalar);
  const std::vector<float> ref_shared = RunFused(*attn, shared, 0, 75, Isa::kScalar);
  for (Isa isa : {Isa::kAvx2, Isa::kAvx512}) {
    if (static_cast<int>(isa) > static_cast<int>(BestIsa())) continue;
    EXPECT_TRUE(RowsEqual(RunFused(*attn, in, 0, 75, isa), ref)) << IsaName(isa);
    EXPECT_TRUE(RowsEqual(RunFused(*attn, shared, 0, 75, isa), ref_shared)) << IsaName(isa);
  }
}

// Shared keys and a shared mask give the same bits as the same rows repeated per candidate, so
// the request-level split changes no score.
TEST(AttentionPoolingTest, SharedInputsEqualBroadcastInputsBitwise) {
  const int64_t batch = 30;
  std::vector<AttentionLayer> layers = MakeLayers(32, kDin, 25);
  absl::StatusOr<AttentionPooling> attn = AttentionPooling::Create(32, layers);
  ASSERT_TRUE(attn.ok()) << attn.status();
  Inputs shared = MakeInputs(batch, 32, 50, /*shared_keys=*/true, {37}, 26);
  Inputs broadcast = shared;
  broadcast.keys_batch = batch;
  broadcast.keys.clear();
  broadcast.mask_batch = batch;
  broadcast.mask.clear();
  for (int64_t b = 0; b < batch; ++b) {
    broadcast.keys.insert(broadcast.keys.end(), shared.keys.begin(), shared.keys.end());
    broadcast.mask.insert(broadcast.mask.end(), shared.mask.begin(), shared.mask.end());
  }
  EXPECT_TRUE(RowsEqual(RunFused(*attn, shared, 0, batch), RunFused(*attn, broadcast, 0, batch)));
}

// ---- Errors --------------------------------------------------------------------------------

std::string CreateError(int64_t dim, std::vector<AttentionLayer> layers) {
  absl::StatusOr<AttentionPooling> attn = AttentionPooling::Create(dim, std::move(layers));
  EXPECT_FALSE(attn.ok());
  if (attn.ok()) return "";
  EXPECT_EQ(attn.status().code(), absl::StatusCode::kInvalidArgument);
  return std::string(attn.status().message());
}

std::string CreateError(int64_t dim, std::vector<AttentionLayer> layers,
                        const AttentionOptions& options) {
  absl::StatusOr<AttentionPooling> attn = AttentionPooling::Create(dim, std::move(layers), options);
  EXPECT_FALSE(attn.ok());
  if (attn.ok()) return "";
  EXPECT_EQ(attn.status().code(), absl::StatusCode::kInvalidArgument);
  return std::string(attn.status().message());
}

TEST(AttentionPoolingTest, CreateRejectsBadShapes) {
  const std::vector<AttentionLayer> good = MakeLayers(32, kDin, 27);
  ASSERT_TRUE(AttentionPooling::Create(32, good).ok());

  EXPECT_THAT(CreateError(0, good), HasSubstr("dim is 0"));
  EXPECT_THAT(CreateError(32, {}), HasSubstr("no layers"));
  EXPECT_THAT(CreateError(16, good), HasSubstr("layer 0 of 3 (the [q, k, q-k, q*k] layer): in is "
                                               "128, expected 64 (4 * dim)"));
  std::vector<AttentionLayer> layers = good;
  layers[0].weight.pop_back();
  EXPECT_THAT(CreateError(32, layers),
              HasSubstr("layer 0 of 3 (the [q, k, q-k, q*k] layer): weight has 10239 floats, "
                        "expected [in, out] = [128, 80]"));
  layers = good;
  layers[1].bias.push_back(0.0f);
  EXPECT_THAT(CreateError(32, layers),
              HasSubstr("layer 1 of 3: bias has 41 floats, expected [out] = [40]"));
  layers = good;
  layers[1].in = 81;
  EXPECT_THAT(CreateError(32, layers),
              HasSubstr("layer 1 of 3: in is 81, expected 80 (the out of layer 0)"));
  layers = good;
  layers[2].out = 2;
  layers[2].weight.resize(80);
  layers[2].bias.resize(2);
  EXPECT_THAT(CreateError(32, layers),
              HasSubstr("layer 2 of 3 (the score layer): out is 2, expected 1"));
  layers = good;
  layers[2].act = Act::kSigmoid;
  EXPECT_THAT(CreateError(32, layers),
              HasSubstr("layer 2 of 3 (the score layer): act is kSigmoid, expected kNone"));
  layers = good;
  layers[1].out = 0;
  EXPECT_THAT(CreateError(32, layers), HasSubstr("layer 1 of 3: out is 0, expected a positive"));
}

TEST(AttentionPoolingTest, RunRejectsInconsistentBatches) {
  std::vector<AttentionLayer> layers = MakeLayers(32, kDin, 28);
  absl::StatusOr<AttentionPooling> attn = AttentionPooling::Create(32, layers);
  ASSERT_TRUE(attn.ok()) << attn.status();
  Inputs in = MakeInputs(4, 32, 50, /*shared_keys=*/false, {37}, 29);
  std::vector<float> out(4 * 32), scratch(attn->ScratchFloats(4, 50));
  absl::Status s =
      attn->Run(4, in.q.data(), in.keys.data(), 3, 50, nullptr, 1, out.data(), scratch.data());
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("keys_batch is 3, expected 1"));
  s = attn->Run(4, in.q.data(), in.keys.data(), 4, 50, in.mask.data(), 2, out.data(),
                scratch.data());
  EXPECT_THAT(s.message(), HasSubstr("mask_batch is 2, expected 1"));
  s = attn->Run(4, in.q.data(), in.keys.data(), 4, 50, nullptr, 1, out.data(), nullptr);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  s = attn->Run(-1, in.q.data(), in.keys.data(), 1, 50, nullptr, 1, out.data(), scratch.data());
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
}

// ---- The generalized forms (terms, activations, masks, softmax) ------------------------------

using Term = AttentionTerm;

// An MLP over `terms` with one activation per hidden layer; activation parameters drawn like a
// trained model's (PReLU slopes 0..0.5, BatchNorm-folded Dice scale/shift, alpha -0.5..0.5).
std::vector<AttentionLayer> MakeGeneralLayers(int64_t dim, size_t num_terms,
                                              const std::vector<int64_t>& hidden,
                                              const std::vector<Act>& acts, bool scalar_slope,
                                              uint32_t seed) {
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
      layer.slope = Uniform(scalar_slope ? 1 : layer.out, 0.25f, &gen);
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

struct Form {
  std::string name;
  std::vector<Term> terms;
  std::vector<int64_t> hidden;
  std::vector<Act> acts;
  bool scalar_slope = false;
};

const std::vector<Form>& Forms() {
  static const std::vector<Form> forms = {
      {"prelu3_qk_qmk_qtk",
       {Term::kQuery, Term::kKey, Term::kQueryMinusKey, Term::kQueryTimesKey},
       {64, 32, 16},
       {Act::kPRelu, Act::kPRelu, Act::kPRelu},
       true},
      {"dice2_q_k_qtk",
       {Term::kQuery, Term::kKey, Term::kQueryTimesKey},
       {32, 16},
       {Act::kDice, Act::kDice}},
      {"sigmoid1_q_k", {Term::kQuery, Term::kKey}, {36}, {Act::kSigmoid}},
      {"prelu_channel2_q_k_qtk",
       {Term::kQuery, Term::kKey, Term::kQueryTimesKey},
       {80, 40},
       {Act::kPRelu, Act::kPRelu}},
      {"swish_relu_permuted",
       {Term::kQueryTimesKey, Term::kKeyMinusQuery, Term::kKey, Term::kQuery},
       {24, 12},
       {Act::kSwish, Act::kRelu}},
      {"repeated_terms",
       {Term::kQuery, Term::kQuery, Term::kKey, Term::kQueryMinusKey},
       {20},
       {Act::kDice}},
      {"keys_only_product", {Term::kQueryTimesKey}, {16}, {Act::kNone}},
  };
  return forms;
}

struct MaskCase {
  std::string name;
  AttentionMask mode;
  float fill;
  bool softmax;
};

const std::vector<MaskCase>& MaskCases() {
  static const std::vector<MaskCase> cases = {
      {"mul", AttentionMask::kMultiply, 0.0f, false},
      {"mul_softmax", AttentionMask::kMultiply, 0.0f, true},
      {"add_inf_softmax", AttentionMask::kAdd, 0.0f, true},
      {"add_1e9_softmax", AttentionMask::kAdd, 0.0f, true},
      {"where0", AttentionMask::kSelect, 0.0f, false},
      {"where_big_negative_softmax", AttentionMask::kSelect, -4294967295.0f, true},
      {"where_not_inf_softmax", AttentionMask::kSelectNot, -std::numeric_limits<float>::infinity(),
       true},
      {"where_fill_half", AttentionMask::kSelect, 0.5f, false},
  };
  return cases;
}

// The mask rows of `lengths` in the encoding `mc` expects (valid positions t < length).
std::vector<float> EncodeMask(const MaskCase& mc, const std::vector<int64_t>& lengths,
                              int64_t seq_len) {
  std::vector<float> m = LengthMask(lengths, seq_len);
  for (float& v : m) {
    const bool valid = v != 0.0f;
    if (mc.mode == AttentionMask::kAdd) {
      v = valid ? 0.0f
                : (mc.name == "add_1e9_softmax" ? -1e9f : -std::numeric_limits<float>::infinity());
    } else if (mc.mode == AttentionMask::kSelectNot) {
      v = valid ? 0.0f : 1.0f;
    }
  }
  return m;
}

void ExpectGeneralMatchesReference(const Form& form, const MaskCase& mc, const Inputs& in,
                                   const std::string& what) {
  const int64_t dim = in.dim;
  std::vector<AttentionLayer> layers =
      MakeGeneralLayers(dim, form.terms.size(), form.hidden, form.acts, form.scalar_slope, 31);
  AttentionOptions options;
  options.terms = form.terms;
  options.mask = mc.mode;
  options.fill = mc.fill;
  options.softmax = mc.softmax;
  absl::StatusOr<AttentionPooling> attn = AttentionPooling::Create(dim, layers, options);
  ASSERT_TRUE(attn.ok()) << attn.status();
  std::vector<float> want(in.batch * dim, kSentinel);
  AttentionPoolingReference(dim, layers, options, in.batch, in.q.data(), in.keys.data(),
                            in.keys_batch, in.seq_len, in.mask_ptr(), in.mask_batch, want.data());
  const std::vector<float> got = RunFused(*attn, in, 0, in.batch);
  const double err = MaxRelativeError(got, want, dim);
  EXPECT_LE(err, kTolerance) << what;
}

// Every form x mask encoding x softmax x key sharing, against the reference; lengths include
// 0 (every position masked) and the full sequence.
TEST(AttentionPoolingGeneralTest, EveryFormAndMaskMatchesReference) {
  const int64_t batch = 37, dim = 16, seq_len = 20;
  for (const Form& form : Forms()) {
    for (const MaskCase& mc : MaskCases()) {
      for (bool shared : {true, false}) {
        Inputs in = MakeInputs(batch, dim, seq_len, shared, {}, 40);
        const std::vector<int64_t> lengths =
            shared ? std::vector<int64_t>{13} : VariousLengths(batch, seq_len, 41);
        const bool inf_fill = mc.name == "add_inf_softmax" || mc.name == "where_not_inf_softmax";
        if (inf_fill && !shared) {
          // softmax over only -inf is NaN (as in PyTorch): keep a valid position per row.
          std::vector<int64_t> nonzero = lengths;
          for (int64_t& l : nonzero) l = std::max<int64_t>(l, 1);
          in.mask = EncodeMask(mc, nonzero, seq_len);
        } else {
          in.mask = EncodeMask(mc, lengths, seq_len);
        }
        in.mask_batch = static_cast<int64_t>(lengths.size());
        ExpectGeneralMatchesReference(form, mc, in,
                                      absl::StrCat(form.name, "_", mc.name, "_shared", shared));
      }
    }
    Inputs unmasked = MakeInputs(batch, dim, seq_len, false, {}, 42);
    ExpectGeneralMatchesReference(form, {"none_softmax", AttentionMask::kMultiply, 0.0f, true},
                                  unmasked, form.name + "_no_mask_softmax");
    ExpectGeneralMatchesReference(form, {"none", AttentionMask::kAdd, 0.0f, false}, unmasked,
                                  form.name + "_no_mask");
  }
}

// Where with a big negative fill and softmax over an all-masked row: every position weighs
// 1 / T, keys included (what the graph computes), not a zero row.
TEST(AttentionPoolingGeneralTest, AllMaskedSoftmaxRowIsTheMeanOfTheKeys) {
  const Form& form = Forms()[1];
  const MaskCase mc = MaskCases()[5];  // where_big_negative_softmax
  std::vector<AttentionLayer> layers =
      MakeGeneralLayers(8, form.terms.size(), form.hidden, form.acts, false, 5);
  AttentionOptions options;
  options.terms = form.terms;
  options.mask = mc.mode;
  options.fill = mc.fill;
  options.softmax = true;
  absl::StatusOr<AttentionPooling> attn = AttentionPooling::Create(8, layers, options);
  ASSERT_TRUE(attn.ok()) << attn.status();
  Inputs in = MakeInputs(3, 8, 4, /*shared_keys=*/true, {0}, 6);
  const std::vector<float> got = RunFused(*attn, in, 0, 3);
  for (int64_t b = 0; b < 3; ++b) {
    for (int64_t j = 0; j < 8; ++j) {
      float mean = 0.0f;
      for (int64_t t = 0; t < 4; ++t) mean += in.keys[t * 8 + j];
      EXPECT_NEAR(got[b * 8 + j], mean / 4, 1e-6) << b << " " << j;
    }
  }
}

// Chunking, ISA and key/mask sharing leave the generalized forms bitwise unchanged too.
TEST(AttentionPoolingGeneralTest, ChunksIsasAndSharingAreBitwiseEqual) {
  const int64_t batch = 90, dim = 12, seq_len = 30;
  for (const Form& form : {Forms()[0], Forms()[1], Forms()[4]}) {
    for (const MaskCase& mc : {MaskCases()[3], MaskCases()[5], MaskCases()[6]}) {
      std::vector<AttentionLayer> layers =
          MakeGeneralLayers(dim, form.terms.size(), form.hidden, form.acts, false, 50);
      AttentionOptions options;
      options.terms = form.terms;
      options.mask = mc.mode;
      options.fill = mc.fill;
      options.softmax = mc.softmax;
      absl::StatusOr<AttentionPooling> attn = AttentionPooling::Create(dim, layers, options);
      ASSERT_TRUE(attn.ok()) << attn.status();
      Inputs in = MakeInputs(batch, dim, seq_len, /*shared_keys=*/true, {}, 51);
      in.mask = EncodeMask(mc, {17}, seq_len);
      in.mask_batch = 1;
      const std::string what = form.name + "_" + mc.name;
      const std::vector<float> full = RunFused(*attn, in, 0, batch, Isa::kScalar);
      for (int64_t chunk : {1, 7, 64}) {
        std::vector<float> pieces;
        for (int64_t b = 0; b < batch; b += chunk) {
          std::vector<float> part = RunFused(*attn, in, b, std::min(chunk, batch - b));
          pieces.insert(pieces.end(), part.begin(), part.end());
        }
        EXPECT_TRUE(RowsEqual(full, pieces)) << what << " chunk " << chunk;
      }
      for (Isa isa : {Isa::kAvx2, Isa::kAvx512}) {
        if (static_cast<int>(isa) > static_cast<int>(BestIsa())) continue;
        EXPECT_TRUE(RowsEqual(RunFused(*attn, in, 0, batch, isa), full)) << what << IsaName(isa);
      }
      Inputs broadcast = in;
      broadcast.keys_batch = batch;
      broadcast.mask_batch = batch;
      broadcast.keys.clear();
      broadcast.mask.clear();
      for (int64_t b = 0; b < batch; ++b) {
        broadcast.keys.insert(broadcast.keys.end(), in.keys.begin(), in.keys.end());
        broadcast.mask.insert(broadcast.mask.end(), in.mask.begin(), in.mask.end());
      }
      EXPECT_TRUE(RowsEqual(RunFused(*attn, broadcast, 0, batch), full)) << what;
    }
  }
}

TEST(AttentionPoolingGeneralTest, CreateRejectsBadParameters) {
  const Form& form = Forms()[3];
  std::vector<AttentionLayer> good =
      MakeGeneralLayers(8, form.terms.size(), form.hidden, form.acts, false, 60);
  AttentionOptions options;
  options.terms = form.terms;
  ASSERT_TRUE(AttentionPooling::Create(8, good, options).ok());
  std::vector<AttentionLayer> layers = good;
  layers[1].slope.resize(3);
  EXPECT_THAT(CreateError(8, layers, options),
              HasSubstr("layer 1 of 3: PReLU slope has 3 floats, expected [out] = [40] or one "
                        "for every channel"));
  EXPECT_THAT(CreateError(16, good, options),
              HasSubstr("layer 0 of 3 (the [q, k, q*k] layer): in is 24, expected 48 (3 * dim)"));
  options.terms.clear();
  EXPECT_THAT(CreateError(8, good, options), HasSubstr("no first-layer terms"));
  const Form& dice = Forms()[1];
  layers = MakeGeneralLayers(8, dice.terms.size(), dice.hidden, dice.acts, false, 61);
  layers[0].dice_alpha.pop_back();
  options.terms = dice.terms;
  EXPECT_THAT(CreateError(8, layers, options),
              HasSubstr("Dice alpha has 31 floats, expected [out] = [32]"));
}

}  // namespace
}  // namespace rankopt
