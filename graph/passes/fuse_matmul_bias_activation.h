// MatMul + bias + activation fusion: a dense layer becomes one "_RankoptFusedMatMul" node that a
// kernel runs as one GEMM with the bias added in its epilogue and the activation applied in
// place, with the weight packed once at load. Like ORT's matmul_add_fusion / gemm_activation.
#ifndef RANKOPT_GRAPH_PASSES_FUSE_MATMUL_BIAS_ACTIVATION_H_
#define RANKOPT_GRAPH_PASSES_FUSE_MATMUL_BIAS_ACTIVATION_H_

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "graph/ir/graph.h"
#include "graph/passes/pass_options.h"
#include "graph/passes/pass_report.h"

namespace rankopt {

// The fused op, in both op sets (domain ""). Inputs: x [..., K], w ([K,N], or [N,K] with
// transpose_b), bias [N] (optional: an empty input), prelu slope (1 or N values, only with
// activation "prelu"). Attributes: "transpose_b" (bool), "activation" ("none", "relu",
// "sigmoid", "tanh", "prelu"). Output [..., N]:
//   y[r, j] = act(sum_k x[r, k] * w[k, j] + bias[j])
// bitwise equal to the MatMul, Add/BiasAdd and activation kernels run one after the other.
// At O2, attr "epilogue" (fuse_gemm_epilogue.h) adds an elementwise program after the activation,
// its operands inputs 4.. (bias and slope then present, possibly empty).
inline constexpr absl::string_view kFusedMatMulOp = "_RankoptFusedMatMul";

// Writes to `out` the graph `in` where each chain
//   MatMul(x, W) | Gemm(x, W[, C])     W a constant float32 matrix; TF MatMul: transpose_a
//                                      false; ONNX Gemm: transA 0, alpha 1, beta 1, C [N]/[1,N];
//                                      ONNX MatMul: x of known rank >= 2 (rows flattened)
//   [-> Add/AddV2/BiasAdd(., b)]       b a constant float32 [N] (or 1 x ... x 1 x N, no higher
//                                      rank than the product)
//   [-> Relu | Sigmoid | Tanh | PRelu(., slope)]   slope a constant of 1 or N values (ONNX)
// becomes one kFusedMatMulOp node named like the last node of the chain (ONNX: same output
// name), when every intermediate is read only by the next node of the chain and is no output.
// A MatMul with neither bias nor activation is left alone. `out` may be `&in`.
absl::StatusOr<PassReport> FuseMatMulBiasActivation(const Graph& in, const PassOptions& options,
                                                    Graph* out);

}  // namespace rankopt

#endif  // RANKOPT_GRAPH_PASSES_FUSE_MATMUL_BIAS_ACTIVATION_H_
