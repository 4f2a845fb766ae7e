// An elementwise program run in place on a dense layer's output rows: the epilogue of
// "_RankoptFusedMatMul" (attr "epilogue"), written by graph/passes/fuse_gemm_epilogue.h.
//
// Semantics (the scalar meaning; Run computes exactly these float operations):
//   Registers r0, r1, ... are [m, n] float32 tensors; r0 is the layer's output (GEMM + bias +
//   activation). Instruction k (k = 0, 1, ...) is "OP rD A [B]" with D = k + 1: it defines rD from
//   operands A and B, each a register rI (I < D) or an epilogue operand cJ (the node's J-th
//   epilogue input: 1 value or n values, one per column j, broadcast over the rows; or a whole
//   [m, n] tensor, read element by element):
//     add | sub | mul | div   rD[i,j] = A[i,j] op B[i,j]          (one rounding: the Add/Sub/Mul/
//                                                                  Div kernels' float math)
//     sigmoid                 rD = SigmoidF32(A)                   (vector_math.h, the Sigmoid
//                                                                  kernel's)
//     tanh                    rD = std::tanh(A)                    (the Tanh kernel's)
//     relu                    rD = A > 0 ? A : 0                   (the Relu kernel's)
//     neg                     rD = -A
//     prelu                   rD = A < 0 ? B * A : A               (the PRelu kernel's)
//   Unary ops read a register. The layer's output is the last register.
// So a fused chain is bitwise equal to its nodes run one after the other.
//
// Example (swish, then a per-column scale):
//   {"sigmoid r1 r0", "mul r2 r0 r1", "mul r3 r2 c0"}
// Thread-safe after Parse: Run keeps no state.
#ifndef RANKOPT_GRAPH_KERNELS_MATH_GEMM_EPILOGUE_H_
#define RANKOPT_GRAPH_KERNELS_MATH_GEMM_EPILOGUE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace rankopt {

class GemmEpilogue {
 public:
  enum class Op { kAdd, kSub, kMul, kDiv, kSigmoid, kTanh, kRelu, kNeg, kPRelu };
  // An operand: register `index` (>= 0) or epilogue operand `index` (is_operand).
  struct Arg {
    bool is_operand = false;
    int index = 0;
  };
  struct Instruction {
    Op op = Op::kAdd;
    Arg a;
    Arg b;  // binary ops and prelu only
  };

  GemmEpilogue() = default;

  // Parses `program` (see above) reading at most `num_operands` epilogue operands. Errors name
  // the instruction and what was expected.
  static absl::StatusOr<GemmEpilogue> Parse(absl::Span<const std::string> program,
                                            int num_operands);

  bool empty() const { return code_.empty(); }
  const std::vector<Instruction>& instructions() const { return code_; }

  // Floats of scratch Run needs for rows of n columns with `num_operands` operands.
  int64_t ScratchFloats(int64_t n, int num_operands) const;

  // Runs the program on y [m, n] (r0) in place. operands[j] holds sizes[j] floats: 1, n, or m * n
  // (a whole tensor; when m > 1).
  // REQUIRES: scratch holds ScratchFloats(n, num_operands) floats; sizes checked by the caller.
  void Run(float* y, int64_t m, int64_t n, const float* const* operands, const int64_t* sizes,
           int num_operands, float* scratch) const;

  // The scalar reference: the same semantics element by element (tests compare Run to it).
  void RunRef(float* y, int64_t m, int64_t n, const float* const* operands,
              const int64_t* sizes) const;

  // "add", "sigmoid", ...
  static const char* OpName(Op op);

 private:
  int64_t RowsPerBlock(int64_t n) const;

  std::vector<Instruction> code_;
};

}  // namespace rankopt

#endif  // RANKOPT_GRAPH_KERNELS_MATH_GEMM_EPILOGUE_H_
