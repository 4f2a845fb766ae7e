// Fused DIN attention pooling: for each candidate b with query q_b [d] and behaviour keys
// K [L, d] (shared by all candidates of a request, or one per candidate), mask m [L]:
//
//   for t in 0..L-1:
//     x_t  = [q_b, k_t, q_b - k_t, q_b * k_t]                      (4d)
//     h_t  = act_0(x_t @ W_0 + b_0)                                 (layers[0])
//     h_t  = act_i(h_t @ W_i + b_i)   for i = 1..n-1                (the last: out 1, kNone)
//     a_t  = h_t[0]                                                 (the attention score)
//   pooled_b = sum_t a_t * m_t * k_t                                (no mask: m_t = 1)
//
// The fast path never builds x_t. Since x_t @ W_0 = q @ (Wq + Wd) + k_t @ (Wk - Wd) +
// (q * k_t) @ Wp (W_0's row blocks Wq, Wk, Wd, Wp of d rows each), it folds the blocks once at
// Create, computes KW_t = k_t @ (Wk - Wd) + b_0 once per request when the keys are shared and
// qW_b = q_b @ (Wq + Wd) once per candidate, and runs the remaining per-position work for the
// active positions (m_t != 0; the others contribute nothing and are skipped) of several
// candidates as one GemmF32 per layer (M ~ 256 rows).
//
// Determinism: output row b depends only on candidate b's inputs, never on the batch size or
// on which candidates share a block, so a request split into chunks scores bitwise
// identically; results are also bitwise identical for every Isa (GemmF32 and SigmoidF32 are,
// and the remaining steps perform the same IEEE operations on every level), and shared keys or
// masks give the same bits as the same rows repeated per candidate. Per active row, exactly:
//   z   = ((q_b * k_t) @ Wp + qW_b) + KW_t          (GemmF32; KW_t = GemmF32 with bias b_0)
//   h   = act_0(z); h = act_i(GemmF32(h, W_i, b_i))  (sigmoid = SigmoidF32, relu = h > 0 ? h : 0)
//   a_t = Dot16(h, w_score) + b_score, Dot16 = 16 lane sums s[k % 16] = fma(h[k], w[k], .)
//         over k ascending, then s[l] += s[l + 8], += s[l + 4], += s[l + 2], s[0] + s[1]
//   pooled = 0; for active t ascending: pooled[j] = fma(a_t * m_t, k_t[j], pooled[j])
//         (a_t * m_t is a_t when there is no mask).
// The split and the score's lane sums round differently from the unsplit formula: agreement
// with AttentionPoolingReference is about 1e-6 relative to the row's largest element.
//
// Generalized (AttentionOptions; the defaults are the form above):
//   x_t   = Concat(term(q_b, k_t) for term in options.terms), each term one of q, k, q-k, k-q,
//           q*k (any subset, order, repetition; d each). Folding: Wq = sum of the q blocks + the
//           q-k blocks - the k-q blocks, Wk = sum of the k blocks - q-k + k-q, Wp = sum of the
//           q*k blocks (block sums in term order, starting from 0); no q*k term: z = (0 + qW_b)
//           + KW_t without the (q*k) GEMM.
//   act   kPRelu:  h < 0 ? slope[c] * h : h             (slope per channel c, scalar broadcast)
//         kDice:   p = SigmoidF32(h * scale[c] + shift[c]) (BatchNorm in eval mode, folded);
//                  h = (alpha[c] * (1 - p)) * h + p * h
//         kSwish:  h * SigmoidF32(h)
//         (plain per-element float operations, in this order, on every ISA).
//   s_t   = the masked score (options.mask):
//         kMultiply: a_t * m_t;  kAdd: a_t + m_t;  kSelect: m_t != 0 ? a_t : fill;
//         kSelectNot: m_t != 0 ? fill : a_t;  no mask: a_t.
//         A position is active (its MLP runs) unless its score does not depend on a_t:
//         m_t == 0 for kMultiply (s_t = 0, assuming a finite a_t), m_t == -inf for kAdd
//         (s_t = -inf), the fill side of kSelect/kSelectNot.
//   w_t   = s_t, or with options.softmax: e_t = x_t < -87 ? 0 : ExpF32(x_t) for x_t = s_t -
//           max_t s_t; w_t = e_t / sum_t e_t (sum ascending).
//   pooled_b = sum over t with w_t != 0, ascending, of fma(w_t, k_t[j], pooled[j]).
// The default form's w_t = a_t * m_t, as before.
//
// Reduced precision (Create's `precisions`, one per layer; default all fp32): a layer at int8 or
// bf16 runs its GEMMs through gemm_lowp.h instead of GemmF32, with the same split and the same
// element steps. Layer 0 at precision p runs all three of its GEMMs at p (KW_t = Lowp(k_t, Wk - Wd)
// + b_0, qW_b = Lowp(q_b, Wq + Wd), Lowp(q_b * k_t, Wp): each weight folded in fp32 first, then
// quantized per column or rounded to bf16 once at Create); a hidden layer runs Lowp(h, W_i) + b_i
// (relu fused into the GEMM's epilogue, the same bits). The score layer is a per-row dot
// product and stays fp32 (its precision must be fp32 when there are >= 2 layers). int8 GEMM rows
// depend only on their own A row (per-row dynamic scales), so chunk, sharing and thread
// invariance hold at every precision; ISA invariance holds for int8 (every int8 kernel gives the
// same bits) and not across bf16 kernels (AVX512-BF16 flushes denormals, AVX2 fma does not, AMX
// sums in its own order: gemm_lowp.h). AttentionPooling::RunReference is the scalar reference of
// the whole unit at the planned precisions.
#ifndef RANKOPT_GRAPH_KERNELS_MATH_ATTENTION_POOLING_H_
#define RANKOPT_GRAPH_KERNELS_MATH_ATTENTION_POOLING_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "core/cpu_features.h"
#include "graph/kernels/math/gemm.h"
#include "graph/kernels/math/gemm_lowp.h"

namespace rankopt {

enum class AttentionActivation { kNone, kRelu, kSigmoid, kPRelu, kDice, kSwish };

// One dense layer y = act(x @ weight + bias).
struct AttentionLayer {
  std::vector<float> weight;  // [in, out], row-major.
  std::vector<float> bias;    // [out].
  int64_t in = 0;
  int64_t out = 0;
  AttentionActivation act = AttentionActivation::kNone;
  // kPRelu: the negative slope, [out] or [1] (one for every channel).
  std::vector<float> slope;
  // kDice: p = sigmoid(h * dice_scale + dice_shift), h = alpha * (1 - p) * h + p * h; [out] each.
  std::vector<float> dice_scale;
  std::vector<float> dice_shift;
  std::vector<float> dice_alpha;
};

// One width-d term of the first layer's input.
enum class AttentionTerm { kQuery, kKey, kQueryMinusKey, kKeyMinusQuery, kQueryTimesKey };

// How the mask combines with the score a_t (see the header comment).
enum class AttentionMask { kMultiply, kAdd, kSelect, kSelectNot };

// The form of the unit around the MLP; the defaults are DIN's [q, k, q-k, q*k], score * mask,
// no softmax.
struct AttentionOptions {
  std::vector<AttentionTerm> terms = {AttentionTerm::kQuery, AttentionTerm::kKey,
                                      AttentionTerm::kQueryMinusKey, AttentionTerm::kQueryTimesKey};
  AttentionMask mask = AttentionMask::kMultiply;
  float fill = 0.0f;     // kSelect / kSelectNot: the score of a masked position
  bool softmax = false;  // softmax over the sequence of the masked scores
};

// "q", "k", "q-k", "k-q", "q*k" and back (Parse: false for any other text).
const char* AttentionTermName(AttentionTerm term);
bool ParseAttentionTerm(const std::string& text, AttentionTerm* term);

// The planned attention unit: weights folded and packed once. Immutable after Create; Run is
// safe for concurrent use (all per-call state lives in the caller's scratch).
//
// Example:
//   RANKOPT_ASSIGN_OR_RETURN(AttentionPooling attn, AttentionPooling::Create(32, layers));
//   std::vector<float> scratch(attn.ScratchFloats(batch, seq_len));  // one per thread
//   RANKOPT_RETURN_IF_ERROR(attn.Run(batch, q, keys, /*keys_batch=*/1, seq_len, mask,
//                                    /*mask_batch=*/1, out, scratch.data()));
class AttentionPooling {
 public:
  // `layers[0]` maps 4 * dim -> h1; each next layer's in is the previous out; the last layer
  // has out 1 and act kNone (it may be layers[0] itself). Every weight and bias size is checked;
  // errors are InvalidArgument and name the layer, what was found and what was expected.
  static absl::StatusOr<AttentionPooling> Create(int64_t dim, std::vector<AttentionLayer> layers);
  // The generalized unit: `layers[0]` maps terms.size() * dim -> h1; activation parameters
  // (slope, dice_*) are checked too.
  static absl::StatusOr<AttentionPooling> Create(int64_t dim, std::vector<AttentionLayer> layers,
                                                 AttentionOptions options);
  // With a precision per layer (empty: every layer fp32; otherwise layers.size() entries, the
  // score layer's fp32 when there are >= 2 layers). InvalidArgument names a wrong count, a
  // reduced score layer or an int8 layer wider than kGemmInt8MaxK.
  static absl::StatusOr<AttentionPooling> Create(int64_t dim, std::vector<AttentionLayer> layers,
                                                 AttentionOptions options,
                                                 std::vector<DensePrecision> precisions);

  int64_t dim() const { return dim_; }
  int64_t num_layers() const { return static_cast<int64_t>(widths_.size()); }
  // The precision layer `layer` runs at (the score layer of >= 2 layers: fp32).
  DensePrecision precision(int64_t layer) const { return precisions_[layer]; }
  // The GEMM kernel of each GEMM layer at `isa` on this CPU, comma-joined, e.g.
  // "int8-avx512vnni,bf16-avx512bf16" (DenseKernelName per layer; the score dot product is not
  // listed).
  std::string KernelName(Isa isa = BestIsa()) const;

  // Floats of scratch Run needs for this batch and seq_len (any keys/mask sharing).
  int64_t ScratchFloats(int64_t batch, int64_t seq_len) const;

  // out[b, :] = pooled_b for b < batch.
  //   q     [batch, dim];
  //   keys  [keys_batch, seq_len, dim], keys_batch 1 (shared by every candidate) or batch;
  //   mask  null (every position counts, weight 1) or [mask_batch, seq_len], mask_batch 1 or
  //         batch; usually 1.0 / 0.0 from a sequence length, other values weigh the position;
  //   out   [batch, dim]; scratch: ScratchFloats(batch, seq_len) floats (any float alignment
  //         works; 64 bytes is fastest). Writes nothing else. `isa` is capped at what the CPU
  //         supports; every level gives the same bits.
  // Returns InvalidArgument for inconsistent sizes or missing pointers (checked once per call).
  absl::Status Run(int64_t batch, const float* q, const float* keys, int64_t keys_batch,
                   int64_t seq_len, const float* mask, int64_t mask_batch, float* out,
                   float* scratch, Isa isa = BestIsa()) const;

  // Which bf16 GEMM order RunReference follows (gemm_lowp.h): kFlush is GemmBf16Reference (the
  // AVX512-BF16 and scalar kernels' bits), kFma is GemmBf16Avx2Reference (the AVX2 kernel's).
  enum class Bf16Order { kFlush, kFma };

  // The scalar reference of Run at the planned precisions, written one (candidate, position) row
  // at a time: no blocks, no shared KW, every GEMM a one-row call of the scalar reference
  // (GemmF32 at Isa::kScalar, GemmInt8Reference, GemmBf16Reference or GemmBf16Avx2Reference),
  // the element steps at Isa::kScalar. Run gives the same bits at int8 and fp32 on every ISA,
  // and at bf16 where the kernel follows `order` (no denormal products or sums). Arguments as
  // Run's; REQUIRES: the same checks pass.
  void RunReference(int64_t batch, const float* q, const float* keys, int64_t keys_batch,
                    int64_t seq_len, const float* mask, int64_t mask_batch, float* out,
                    Bf16Order order = Bf16Order::kFlush) const;

  // Per-activation parameters of one layer, expanded to its width (kPRelu: slope; kDice: scale,
  // shift, alpha).
  struct ActParams {
    std::vector<float> slope, scale, shift, alpha;
  };

  // One GEMM weight [k, n], packed once for its precision's kernel.
  struct Weight {
    DensePrecision precision = DensePrecision::kFp32;
    int64_t k = 0;
    int64_t n = 0;
    PackedB f32;
    PackedBInt8 int8;
    PackedBBf16 bf16;
  };

 private:
  AttentionPooling() = default;

  int64_t dim_ = 0;
  std::vector<int64_t> widths_;             // out of each layer; widths_.back() == 1.
  std::vector<AttentionActivation> acts_;   // act of each layer.
  std::vector<DensePrecision> precisions_;  // per layer
  Weight wq_;                               // Wq + Wd  [d, h1]
  Weight wk_;                               // Wk - Wd  [d, h1]
  Weight wp_;                               // Wp       [d, h1]
  std::vector<float> bias0_;                // [h1]
  std::vector<Weight> weights_;             // hidden layers 1..n-2
  int64_t lowp_scratch_bytes_ = 0;          // the largest GemmInt8/Bf16ScratchBytes
  std::vector<std::vector<float>> biases_;  // hidden layers 1..n-2
  std::vector<float> score_weight_;         // layer n-1 (n > 1): [h_last]
  float score_bias_ = 0.0f;
  int64_t max_width_ = 0;  // max over widths_
  AttentionOptions options_;
  bool has_product_ = true;            // some term is q*k
  std::vector<ActParams> act_params_;  // per layer
};

// The same math written the obvious way, for tests and benchmarks: x_t materialized, plain
// loops, float sums in increasing index order, sigmoid as 1 / (1 + std::exp(-x)), relu as
// x > 0 ? x : 0. Arguments as for AttentionPooling::Run; REQUIRES: shapes consistent.
void AttentionPoolingReference(int64_t dim, const std::vector<AttentionLayer>& layers,
                               int64_t batch, const float* q, const float* keys, int64_t keys_batch,
                               int64_t seq_len, const float* mask, int64_t mask_batch, float* out);
// The generalized form (x_t built from options.terms; masks, softmax as the header says, with
// std::exp and no flushing). REQUIRES: shapes consistent.
void AttentionPoolingReference(int64_t dim, const std::vector<AttentionLayer>& layers,
                               const AttentionOptions& options, int64_t batch, const float* q,
                               const float* keys, int64_t keys_batch, int64_t seq_len,
                               const float* mask, int64_t mask_batch, float* out);

}  // namespace rankopt

#endif  // RANKOPT_GRAPH_KERNELS_MATH_ATTENTION_POOLING_H_
