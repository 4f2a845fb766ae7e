#include "graph/kernels/math/gemm_epilogue.h"

#include <algorithm>
#include <cmath>

#include "absl/container/inlined_vector.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "graph/kernels/math/vector_math.h"

namespace rankopt {
namespace {

// Elements per register block: rows of the output processed through the whole program while
// they are in L1/L2.
constexpr int64_t kBlockElements = 2048;

struct OpInfo {
  const char* name;
  GemmEpilogue::Op op;
  int arity;
};
constexpr OpInfo kOps[] = {
    {"add", GemmEpilogue::Op::kAdd, 2},         {"sub", GemmEpilogue::Op::kSub, 2},
    {"mul", GemmEpilogue::Op::kMul, 2},         {"div", GemmEpilogue::Op::kDiv, 2},
    {"sigmoid", GemmEpilogue::Op::kSigmoid, 1}, {"tanh", GemmEpilogue::Op::kTanh, 1},
    {"relu", GemmEpilogue::Op::kRelu, 1},       {"neg", GemmEpilogue::Op::kNeg, 1},
    {"prelu", GemmEpilogue::Op::kPRelu, 2},
};

// A register (stride n per row) or an operand row (stride 0).
struct Src {
  const float* data;
  int64_t row_stride;
};

template <GemmEpilogue::Op kOp>
inline float Binary(float a, float b) {
  if constexpr (kOp == GemmEpilogue::Op::kAdd) return a + b;
  if constexpr (kOp == GemmEpilogue::Op::kSub) return a - b;
  if constexpr (kOp == GemmEpilogue::Op::kMul) return a * b;
  if constexpr (kOp == GemmEpilogue::Op::kDiv) return a / b;
  if constexpr (kOp == GemmEpilogue::Op::kPRelu) return a < 0 ? b * a : a;
  return 0.0f;
}

template <GemmEpilogue::Op kOp>
void BinaryRows(Src a, Src b, float* d, int64_t rows, int64_t n) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* pa = a.data + r * a.row_stride;
    const float* pb = b.data + r * b.row_stride;
    float* pd = d + r * n;
    for (int64_t j = 0; j < n; ++j) pd[j] = Binary<kOp>(pa[j], pb[j]);
  }
}

float ScalarOp(GemmEpilogue::Op op, float a, float b) {
  switch (op) {
    case GemmEpilogue::Op::kAdd:
      return a + b;
    case GemmEpilogue::Op::kSub:
      return a - b;
    case GemmEpilogue::Op::kMul:
      return a * b;
    case GemmEpilogue::Op::kDiv:
      return a / b;
    case GemmEpilogue::Op::kPRelu:
      return a < 0 ? b * a : a;
    case GemmEpilogue::Op::kSigmoid: {
      float y;
      SigmoidF32(&a, &y, 1, Isa::kScalar);
      return y;
    }
    case GemmEpilogue::Op::kTanh:
      return std::tanh(a);
    case GemmEpilogue::Op::kRelu:
      return a > 0.0f ? a : 0.0f;
    case GemmEpilogue::Op::kNeg:
      return -a;
  }
  return 0.0f;
}

absl::StatusOr<GemmEpilogue::Arg> ParseArg(absl::string_view text, int defined, int num_operands,
                                           size_t k) {
  GemmEpilogue::Arg arg;
  int index = -1;
  if (text.size() >= 2 && (text[0] == 'r' || text[0] == 'c') &&
      absl::SimpleAtoi(text.substr(1), &index) && index >= 0) {
    arg.is_operand = text[0] == 'c';
    arg.index = index;
    if (arg.is_operand ? index < num_operands : index < defined) return arg;
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "epilogue instruction ", k, ": operand '", text, "' is not a register r0..r", defined - 1,
      num_operands > 0 ? absl::StrCat(" or an operand c0..c", num_operands - 1)
                       : std::string(" (the node has no epilogue operands)")));
}

}  // namespace

const char* GemmEpilogue::OpName(Op op) {
  for (const OpInfo& info : kOps) {
    if (info.op == op) return info.name;
  }
  return "?";
}

absl::StatusOr<GemmEpilogue> GemmEpilogue::Parse(absl::Span<const std::string> program,
                                                 int num_operands) {
  GemmEpilogue e;
  for (size_t k = 0; k < program.size(); ++k) {
    const std::vector<absl::string_view> words = absl::StrSplit(program[k], ' ', absl::SkipEmpty());
    const OpInfo* info = nullptr;
    if (!words.empty()) {
      for (const OpInfo& candidate : kOps) {
        if (words[0] == candidate.name) info = &candidate;
      }
    }
    if (info == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat(
          "epilogue instruction ", k, " '", program[k],
          "': unknown op; expected add, sub, mul, div, sigmoid, tanh, relu, neg or prelu"));
    }
    if (static_cast<int>(words.size()) != 2 + info->arity) {
      return absl::InvalidArgumentError(absl::StrCat("epilogue instruction ", k, " '", program[k],
                                                     "': expected '", info->name, " r", k + 1,
                                                     info->arity == 1 ? " A'" : " A B'"));
    }
    if (words[1] != absl::StrCat("r", k + 1)) {
      return absl::InvalidArgumentError(
          absl::StrCat("epilogue instruction ", k, " '", program[k], "' must define r", k + 1));
    }
    Instruction ins;
    ins.op = info->op;
    const int defined = static_cast<int>(k) + 1;
    absl::StatusOr<Arg> a = ParseArg(words[2], defined, num_operands, k);
    if (!a.ok()) return a.status();
    ins.a = *a;
    if (info->arity == 2) {
      absl::StatusOr<Arg> b = ParseArg(words[3], defined, num_operands, k);
      if (!b.ok()) return b.status();
      ins.b = *b;
    } else if (ins.a.is_operand) {
      return absl::InvalidArgumentError(absl::StrCat("epilogue instruction ", k, " '", program[k],
                                                     "': a unary op reads a register"));
    }
    e.code_.push_back(ins);
  }
  return e;
}

int64_t GemmEpilogue::RowsPerBlock(int64_t n) const {
  return std::max<int64_t>(1, kBlockElements / std::max<int64_t>(n, 1));
}

int64_t GemmEpilogue::ScratchFloats(int64_t n, int num_operands) const {
  // Operand rows, then one block per register r1..r(K-1) (the last writes y).
  const int64_t regs = code_.empty() ? 0 : static_cast<int64_t>(code_.size()) - 1;
  return (num_operands + regs * RowsPerBlock(n)) * n;
}

void GemmEpilogue::Run(float* y, int64_t m, int64_t n, const float* const* operands,
                       const int64_t* sizes, int num_operands, float* scratch) const {
  if (code_.empty() || m == 0 || n == 0) return;
  // Every operand as rows: a whole [m, n] tensor (stride n), or one row of n values (stride 0;
  // a single value broadcast into scratch).
  absl::InlinedVector<Src, 8> rows(static_cast<size_t>(num_operands));
  float* next = scratch;
  for (int j = 0; j < num_operands; ++j) {
    if (m > 1 && sizes[j] == m * n) {
      rows[j] = Src{operands[j], n};
    } else if (sizes[j] == n) {
      rows[j] = Src{operands[j], 0};
    } else {
      std::fill(next, next + n, operands[j][0]);
      rows[j] = Src{next, 0};
    }
    next += n;
  }
  const int64_t block = RowsPerBlock(n);
  const size_t regs = code_.size() + 1;
  absl::InlinedVector<float*, 16> reg(regs);
  for (size_t k = 1; k + 1 < regs; ++k) reg[k] = next + (k - 1) * block * n;
  for (int64_t r0 = 0; r0 < m; r0 += block) {
    const int64_t rows_here = std::min(block, m - r0);
    float* y_block = y + r0 * n;
    reg[0] = y_block;
    reg[regs - 1] = y_block;  // the last instruction writes the output (elementwise: in place)
    auto src = [&](const Arg& arg) {
      if (!arg.is_operand) return Src{reg[arg.index], n};
      const Src& o = rows[arg.index];
      return Src{o.data + r0 * o.row_stride, o.row_stride};
    };
    for (size_t k = 0; k < code_.size(); ++k) {
      const Instruction& ins = code_[k];
      float* d = reg[k + 1];
      const int64_t count = rows_here * n;
      switch (ins.op) {
        case Op::kAdd:
          BinaryRows<Op::kAdd>(src(ins.a), src(ins.b), d, rows_here, n);
          break;
        case Op::kSub:
          BinaryRows<Op::kSub>(src(ins.a), src(ins.b), d, rows_here, n);
          break;
        case Op::kMul:
          BinaryRows<Op::kMul>(src(ins.a), src(ins.b), d, rows_here, n);
          break;
        case Op::kDiv:
          BinaryRows<Op::kDiv>(src(ins.a), src(ins.b), d, rows_here, n);
          break;
        case Op::kPRelu:
          BinaryRows<Op::kPRelu>(src(ins.a), src(ins.b), d, rows_here, n);
          break;
        case Op::kSigmoid:
          SigmoidF32(reg[ins.a.index], d, count);
          break;
        case Op::kTanh: {
          const float* a = reg[ins.a.index];
          for (int64_t i = 0; i < count; ++i) d[i] = std::tanh(a[i]);
          break;
        }
        case Op::kRelu: {
          const float* a = reg[ins.a.index];
          for (int64_t i = 0; i < count; ++i) d[i] = a[i] > 0.0f ? a[i] : 0.0f;
          break;
        }
        case Op::kNeg: {
          const float* a = reg[ins.a.index];
          for (int64_t i = 0; i < count; ++i) d[i] = -a[i];
          break;
        }
      }
    }
  }
}

void GemmEpilogue::RunRef(float* y, int64_t m, int64_t n, const float* const* operands,
                          const int64_t* sizes) const {
  if (code_.empty()) return;
  std::vector<float> regs(code_.size() + 1);
  for (int64_t i = 0; i < m; ++i) {
    for (int64_t j = 0; j < n; ++j) {
      regs[0] = y[i * n + j];
      auto get = [&](const Arg& arg) {
        if (!arg.is_operand) return regs[arg.index];
        const int64_t size = sizes[arg.index];
        if (m > 1 && size == m * n) return operands[arg.index][i * n + j];
        return operands[arg.index][size == n ? j : 0];
      };
      for (size_t k = 0; k < code_.size(); ++k) {
        const Instruction& ins = code_[k];
        const bool binary = ins.op == Op::kAdd || ins.op == Op::kSub || ins.op == Op::kMul ||
                            ins.op == Op::kDiv || ins.op == Op::kPRelu;
        regs[k + 1] = ScalarOp(ins.op, get(ins.a), binary ? get(ins.b) : 0.0f);
      }
      y[i * n + j] = regs.back();
    }
  }
}

}  // namespace rankopt
