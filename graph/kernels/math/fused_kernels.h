// Kernels for ops that rankopt's own passes create (graph/passes/): fused forms of op chains,
// registered in both op sets.
#ifndef RANKOPT_GRAPH_KERNELS_MATH_FUSED_KERNELS_H_
#define RANKOPT_GRAPH_KERNELS_MATH_FUSED_KERNELS_H_

#include "absl/status/status.h"
#include "graph/exec/op_kernel.h"

namespace rankopt {

// "_RankoptFusedMatMul" (graph/passes/fuse_matmul_bias_activation.h states its semantics):
// one deterministic GemmF32 with the bias in its epilogue, then the activation in place; the
// weight is packed at build when constant. Bitwise equal to MatMul -> Add -> activation.
// Attr `precision` "bf16" / "int8" (serving/dense_precision.h sets it) runs GemmBf16 / GemmInt8
// (gemm_lowp.h; bias and relu in their epilogue) on the constant weight packed at build: a
// float32 weight converted there, or one stored as bfloat16, or as int8 codes with the attr
// `weight_scales` (one float per output column). Attr `epilogue` (gemm_epilogue.h) runs after the
// activation at every precision.
// Also registers "_RankoptAttentionPooling" (graph/passes/fuse_attention_pooling.h).
absl::Status RegisterFusedKernels(KernelRegistry* registry);

// "_RankoptAttentionPooling": DIN's attention block around AttentionPooling
// (attention_pooling.h), built from constant weights. Called by RegisterFusedKernels.
absl::Status RegisterAttentionPoolingKernel(KernelRegistry* registry);

}  // namespace rankopt

#endif  // RANKOPT_GRAPH_KERNELS_MATH_FUSED_KERNELS_H_
