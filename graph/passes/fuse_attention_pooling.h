// DIN's attention pooling, fused: the block
//
//   e      = Expand(Unsqueeze(q, 1), Shape(k))                      q [B,d], k [B,L,d]
//   h      = act(... act(Concat(e, k, e - k, e * k) @ W1 + b1) ... @ Wn + bn)
//   score  = Squeeze(h @ w_out + b_out, -1)                         [B,L]
//   pooled = Squeeze(MatMul(Unsqueeze(score * mask, 1), k), 1)      [B,d]
//
// (as PyTorch exports DIN to ONNX; the mask factor is optional) becomes one
// _RankoptAttentionPooling(q, k, mask, W1, b1, ..., Wn, bn, w_out, b_out) node (attr
// "activations": one of "sigmoid", "relu", "none" per hidden layer). Its kernel
// (graph/kernels/math/attention_pooling.h) splits W1 so the key-side term is computed once per
// request when k is request-level, skips masked positions and never materializes the [B,L,4d]
// tensor. The replaced nodes are left for the final prune.
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
