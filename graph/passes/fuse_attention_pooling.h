// Target attention pooling (DIN and its variants), fused: the block
//
//   e      = Expand|Tile(Unsqueeze(q, 1), ...)                       q [B,d], k [B,L,d]
//   x      = Concat(terms..., axis -1), each term e, k, e - k, k - e or e * k (inside Sub/Mul the
//            bare Unsqueeze(q, 1) broadcasts too); any subset, order, repetition
//   h      = act(... act(x @ W1 + b1) ... @ Wn + bn)    MatMul [+ Add] per layer; act one of
//            none, Relu, Sigmoid, PRelu (one slope or one per channel), x * Sigmoid(x), Dice
//            (Transpose -> BatchNormalization -> Sigmoid p -> alpha * (1 - p) * x + p * x ->
//            Transpose, as DeepCTR-torch's Dice over [B, T, C] exports)
//   score  = Squeeze(h @ w_out + b_out, -1)                           [B,L]
//   w      = score | score * mask | Where(c, score, fill) | Where(c, fill, score) |
//            score + additive (Where(c, -inf, 0) becomes a where_not with fill -inf), then
//            optionally Softmax over L
//   pooled = Squeeze(MatMul(Unsqueeze(w, 1), k), 1)                   [B,d]
//            or ReduceSum(Unsqueeze(w, -1) * k, axes [1], keepdims 0)
//
// (as PyTorch exports DIN-style target attention to ONNX) becomes one
// _RankoptAttentionPooling(q, k, mask, W1, b1, ..., Wn, bn, activation parameters...) node
// (attributes and inputs: graph/kernels/math/attention_pooling_kernel.cc). Its kernel
// (graph/kernels/math/attention_pooling.h) folds W1 so the key-side term is computed once per
// request when k is request-level, skips masked history positions and never materializes the
// [B,L,terms*d] tensor. The replaced nodes are left for the final prune.
//
// Near misses: a pooling MatMul over keys weighted by something (the block's last three nodes)
// that does not fuse gets a note "near miss at node X (pooling Y): <condition>" naming the node
// where matching stopped and what was expected, which `rankopt optimize` and `summarize` print.
#ifndef RANKOPT_GRAPH_PASSES_FUSE_ATTENTION_POOLING_H_
#define RANKOPT_GRAPH_PASSES_FUSE_ATTENTION_POOLING_H_

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "graph/ir/graph.h"
#include "graph/passes/pass_options.h"
#include "graph/passes/pass_report.h"

namespace rankopt {

inline constexpr absl::string_view kAttentionPoolingOp = "_RankoptAttentionPooling";

absl::StatusOr<PassReport> FuseAttentionPooling(const Graph& in, const PassOptions& options,
                                                Graph* out);

}  // namespace rankopt

#endif  // RANKOPT_GRAPH_PASSES_FUSE_ATTENTION_POOLING_H_
