// O2: elementwise chains hanging off a dense layer fused into its GEMM epilogue.
//
// A ranking MLP's activation is often not one op: Dice (Keras DeepCTR / DeepCTR-torch) is
//   p = sigmoid(BatchNorm(y)); out = alpha * (1 - p) * y + p * y
// swish is y * sigmoid(y), and exporters leave scale/shift (Mul/Add by constants) and PReLU
// around. Each of those nodes costs a pass over [B, N] and its fixed per-node work. This pass
// takes the DAG of elementwise nodes reading a "_RankoptFusedMatMul" output (what
// fuse_matmul_bias_activation made of a Gemm/MatMul + Add), where every other operand is one
// value or one value per output column (a constant [N] / [1, N] / scalar, or a request-level
// [1, N] row) or a tensor of the layer's own shape (a residual), and writes it into the node's
// attr "epilogue" (graph/kernels/math/gemm_epilogue.h: one instruction per element op, run on the
// GEMM's rows in place).
//
// Recognised nodes (ONNX; TF names in parentheses): Add (AddV2), Sub, Mul, Div (RealDiv),
// Sigmoid, Tanh, Relu, Neg, PRelu (slope per column or scalar), LeakyRelu (prelu with its alpha),
// and inference BatchNormalization of a 2-D tensor (channels = columns; becomes mul + add with
// the kernel's own folded a, b).
// The fused part ends at one tensor (the sink): every other tensor of it, the layer's output
// included, is read only inside it and is no graph output. The node keeps the sink's name and
// output name. Bitwise equal to the unfused nodes (the epilogue repeats their float math).
//
// Near misses (an elementwise reader that did not fit, and which condition) go to the report as
// "near miss at node 'X' (layer 'L'): why", which `rankopt optimize` and `summarize` print.
//
// Example:
//   RANKOPT_ASSIGN_OR_RETURN(PassReport report, FuseGemmEpilogue(graph, options, &graph));
#ifndef RANKOPT_GRAPH_PASSES_FUSE_GEMM_EPILOGUE_H_
#define RANKOPT_GRAPH_PASSES_FUSE_GEMM_EPILOGUE_H_

#include "absl/status/statusor.h"
#include "graph/ir/graph.h"
#include "graph/passes/pass_options.h"
#include "graph/passes/pass_report.h"

namespace rankopt {

// Writes `in` with the epilogues fused to `out` (which may be `&in`). Layers with a
// "precision" attr (bf16/int8) or an epilogue already are left alone.
absl::StatusOr<PassReport> FuseGemmEpilogue(const Graph& in, const PassOptions& options,
                                            Graph* out);

}  // namespace rankopt

#endif  // RANKOPT_GRAPH_PASSES_FUSE_GEMM_EPILOGUE_H_
