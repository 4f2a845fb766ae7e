// Floating-point operation estimates per node, from inferred shapes (TF benchmark_model's
// "FLOPs" column and ONNX Runtime's profiler in spirit). Each op's count is registered with its
// kernels (KernelRegistry::RegisterOpInfo); this is the lookup.
#ifndef RANKOPT_GRAPH_ANALYSIS_FLOPS_H_
#define RANKOPT_GRAPH_ANALYSIS_FLOPS_H_

#include <cstdint>

#include "graph/analysis/shape_inference.h"
#include "graph/ir/graph.h"
#include "graph/ops/op_info.h"

namespace rankopt {

// FlopsKind and NodeFlops: graph/ops/op_info.h.

// The model: 2*M*K*N for MatMul/BatchMatMul/Gemm (plus M*N when Gemm has C); 2*K per output
// element of Conv2D (K = kh*kw*cin; depthwise kh*kw); 1 per output element of elementwise and
// activation ops (incl. BiasAdd, PRelu, Select/Where, comparisons; AddN: N-1); 5 per element of
// Softmax/LogSoftmax (max, sub, exp, sum, div); 1 per input element of reductions; 2 per element
// of batch normalization (inference: scale and shift); 0 for data movement. Ops without a
// registered count, and overflow of int64, count as uncounted.
NodeFlops EstimateNodeFlops(const Node& node, const ShapeMap& shapes);

}  // namespace rankopt

#endif  // RANKOPT_GRAPH_ANALYSIS_FLOPS_H_
