// ONNX Einsum (opset 12+): torch.einsum's exports ("bnd,bd->bn", "bij,bjk->bik", "ii->i",
// "...d,...d->..."), as numpy.einsum computes them: any number of operands, explicit ("->") or
// implicit output (the labels seen once, in ASCII order, after the ellipsis dims), repeated
// labels (diagonals), and "..." dims broadcast as numpy broadcasts (size 1 stretches). Every
// output element sums, over the labels the output leaves out, the product of the operands'
// elements; floats accumulate in double, integers wrap. One plain loop nest: a model whose
// einsum is a hot matmul is better served by MatMul (a pass could rewrite the two-operand
// forms); this is the reference for the rest.
#include <algorithm>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "graph/kernels/math/kernel_util.h"
#include "graph/kernels/math/math_internal.h"
#include "graph/ops/op_info.h"
#include "rankopt/status_macros.h"

namespace rankopt {
namespace math_internal {
namespace {

constexpr int kLetters = 52;  // a-z then A-Z; ellipsis dims take labels from kLetters on

int LetterLabel(char c) {
  if (c >= 'a' && c <= 'z') return c - 'a';
  if (c >= 'A' && c <= 'Z') return 26 + (c - 'A');
  return -1;
}

// ASCII order of a letter label (uppercase before lowercase), for the implicit output.
int AsciiOrder(int label) { return label < 26 ? 'a' + label : 'A' + (label - 26); }

// One operand's or the output's term: per dim, a label; `ellipsis` where "..." stood (-1: none).
struct Term {
  std::vector<int> letters;  // in order, the ellipsis left out
  int ellipsis = -1;         // index into letters where "..." goes
};

absl::StatusOr<Term> ParseTerm(absl::string_view s, absl::string_view equation) {
  Term t;
  for (size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (c == ' ') continue;
    if (c == '.') {
      if (t.ellipsis >= 0 || s.substr(i, 3) != "...") {
        return absl::InvalidArgumentError(absl::StrCat(
            "equation '", equation, "': a term has a stray '.' or more than one '...'"));
      }
      t.ellipsis = static_cast<int>(t.letters.size());
      i += 2;
      continue;
    }
    const int label = LetterLabel(c);
    if (label < 0) {
      return absl::InvalidArgumentError(absl::StrCat("equation '", equation, "': '",
                                                     std::string(1, c),
                                                     "' is not a letter, '...', ',' or '->'"));
    }
    t.letters.push_back(label);
  }
  return t;
}

// The equation resolved against the operands' ranks: labels per operand dim and output dim.
struct Plan {
  std::vector<std::vector<int>> operands;  // per operand, per dim: its label
  std::vector<int> output;                 // per output dim: its label
  int num_labels = kLetters;               // letters plus the ellipsis dims
};

absl::StatusOr<Plan> MakePlan(absl::string_view equation, const std::vector<int64_t>& ranks) {
  const size_t arrow = equation.find("->");
  const absl::string_view lhs = equation.substr(0, arrow);
  std::vector<Term> terms;
  for (size_t start = 0;;) {
    const size_t comma = lhs.find(',', start);
    RANKOPT_ASSIGN_OR_RETURN(Term t, ParseTerm(lhs.substr(start, comma - start), equation));
    terms.push_back(std::move(t));
    if (comma == absl::string_view::npos) break;
    start = comma + 1;
  }
  if (terms.size() != ranks.size()) {
    return absl::InvalidArgumentError(absl::StrCat("equation '", equation, "' has ", terms.size(),
                                                   " operand terms for ", ranks.size(), " inputs"));
  }
  Plan plan;
  int64_t ellipsis_dims = 0;
  for (size_t k = 0; k < terms.size(); ++k) {
    const int64_t letters = static_cast<int64_t>(terms[k].letters.size());
    if (terms[k].ellipsis < 0 ? ranks[k] != letters : ranks[k] < letters) {
      return absl::InvalidArgumentError(absl::StrCat(
          "equation '", equation, "': term ", k, " names ", letters, " dims",
          terms[k].ellipsis < 0 ? "" : " besides '...'", " but input ", k, " has rank ", ranks[k]));
    }
    if (terms[k].ellipsis >= 0) ellipsis_dims = std::max(ellipsis_dims, ranks[k] - letters);
  }
  plan.num_labels = kLetters + static_cast<int>(ellipsis_dims);
  // An operand's e ellipsis dims align right with the broadcast ones.
  auto expand = [&](const Term& t, int64_t e) {
    std::vector<int> labels;
    for (size_t i = 0; i <= t.letters.size(); ++i) {
      if (static_cast<int>(i) == t.ellipsis) {
        for (int64_t d = ellipsis_dims - e; d < ellipsis_dims; ++d) {
          labels.push_back(kLetters + static_cast<int>(d));
        }
      }
      if (i < t.letters.size()) labels.push_back(t.letters[i]);
    }
    return labels;
  };
  std::vector<int> count(kLetters, 0);
  for (size_t k = 0; k < terms.size(); ++k) {
    const int64_t e =
        terms[k].ellipsis < 0 ? 0 : ranks[k] - static_cast<int64_t>(terms[k].letters.size());
    plan.operands.push_back(expand(terms[k], e));
    for (int label : terms[k].letters) ++count[label];
  }
  if (arrow != absl::string_view::npos) {
    RANKOPT_ASSIGN_OR_RETURN(Term out, ParseTerm(equation.substr(arrow + 2), equation));
    std::vector<bool> seen(kLetters, false);
    for (int label : out.letters) {
      if (count[label] == 0 || seen[label]) {
        return absl::InvalidArgumentError(absl::StrCat(
            "equation '", equation, "': output label '", std::string(1, AsciiOrder(label)),
            count[label] == 0 ? "' is in no operand" : "' repeats"));
      }
      seen[label] = true;
    }
    if (out.ellipsis < 0 && ellipsis_dims > 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "equation '", equation, "': the operands' '...' dims are missing from the output"));
    }
    plan.output = expand(out, out.ellipsis < 0 ? 0 : ellipsis_dims);
  } else {
    for (int64_t d = 0; d < ellipsis_dims; ++d)
      plan.output.push_back(kLetters + static_cast<int>(d));
    std::vector<int> once;
    for (int label = 0; label < kLetters; ++label) {
      if (count[label] == 1) once.push_back(label);
    }
    std::sort(once.begin(), once.end(), [](int a, int b) { return AsciiOrder(a) < AsciiOrder(b); });
    plan.output.insert(plan.output.end(), once.begin(), once.end());
  }
  return plan;
}

// Each label's size from the operands' dims (-1 where unknown); ellipsis dims broadcast.
absl::StatusOr<std::vector<int64_t>> LabelSizes(const Plan& plan, const std::vector<Dims>& dims,
                                                absl::string_view equation) {
  std::vector<int64_t> size(plan.num_labels, -2);  // -2: not seen
  for (size_t k = 0; k < dims.size(); ++k) {
    for (size_t d = 0; d < dims[k].size(); ++d) {
      const int label = plan.operands[k][d];
      const int64_t n = dims[k][d];
      int64_t& s = size[label];
      if (s == -2 || s == n) {
        s = n;
      } else if (label >= kLetters && (s == 1 || n == 1)) {
        s = s == 1 ? n : s;  // broadcast
      } else if (n >= 0 && s >= 0) {
        return absl::InvalidArgumentError(absl::StrCat(
            "equation '", equation, "': label ",
            label < kLetters ? absl::StrCat("'", std::string(1, AsciiOrder(label)), "'")
                             : std::string("'...'"),
            " is ", s, " in one place and ", n, " in another (input ", k, " dim ", d, ")"));
      } else {
        s = -1;
      }
    }
  }
  return size;
}

class EinsumKernel : public OpKernel {
 public:
  explicit EinsumKernel(std::string equation) : equation_(std::move(equation)) {}

  absl::Status Compute(KernelContext* ctx) const override {
    const Node& node = ctx->node();
    RANKOPT_RETURN_IF_ERROR(CheckInputCount(*ctx, 1, 64));
    const int n = ctx->num_inputs();
    const DType dtype = ctx->input(0).dtype;
    std::vector<int64_t> ranks;
    std::vector<Dims> dims;
    for (int k = 0; k < n; ++k) {
      const TensorView& t = ctx->input(k);
      if (t.dtype != dtype) return DTypeError(node, k, t, DTypeName(dtype));
      ranks.push_back(t.rank());
      dims.emplace_back(t.dims.begin(), t.dims.end());
    }
    if (dtype != DType::kFloat32 && dtype != DType::kFloat64 && dtype != DType::kInt32 &&
        dtype != DType::kInt64) {
      return DTypeError(node, 0, ctx->input(0), "float32/float64/int32/int64");
    }
    absl::StatusOr<Plan> plan = MakePlan(equation_, ranks);
    if (!plan.ok()) return NodeError(node, plan.status().message());
    absl::StatusOr<std::vector<int64_t>> size = LabelSizes(*plan, dims, equation_);
    if (!size.ok()) return NodeError(node, size.status().message());
    Dims out_dims;
    for (int label : plan->output) out_dims.push_back((*size)[label]);
    RANKOPT_ASSIGN_OR_RETURN(TensorView out, ctx->AllocateOutput(0, dtype, out_dims));

    // Per label, each operand's element stride (0 where the operand lacks it or broadcasts).
    std::vector<std::vector<int64_t>> stride(n, std::vector<int64_t>(plan->num_labels, 0));
    for (int k = 0; k < n; ++k) {
      int64_t s = 1;
      for (int d = static_cast<int>(dims[k].size()) - 1; d >= 0; --d) {
        const int label = plan->operands[k][d];
        if (!(dims[k][d] == 1 && (*size)[label] != 1)) stride[k][label] += s;
        s *= dims[k][d];
      }
    }
    std::vector<bool> in_output(plan->num_labels, false);
    for (int label : plan->output) in_output[label] = true;
    std::vector<int> summed;
    for (int label = 0; label < plan->num_labels; ++label) {
      if ((*size)[label] >= 0 && !in_output[label]) summed.push_back(label);
    }
    // The loop nest's multiply-adds, checked: the summed labels' sizes multiply (0 when one is
    // empty), and a product past kMaxSteps is refused rather than run for hours.
    constexpr int64_t kMaxSteps = int64_t{1} << 36;
    int64_t inner = 1;
    bool too_many = false;
    for (int label : summed) {
      too_many |= __builtin_mul_overflow(inner, (*size)[label], &inner);
    }
    int64_t steps = 0;
    too_many |= __builtin_mul_overflow(inner, std::max<int64_t>(out.NumElements(), 1), &steps) ||
                __builtin_mul_overflow(steps, int64_t{n}, &steps) || steps > kMaxSteps;
    if (too_many) {
      return NodeError(node, "equation '", equation_, "' on these operands needs over ", kMaxSteps,
                       " multiply-adds; rankopt's Einsum is a plain loop nest (rewrite "
                       "it as MatMul)");
    }

    switch (dtype) {
      case DType::kFloat32:
        Run<float, double>(*ctx, *plan, *size, stride, summed, inner, out);
        break;
      case DType::kFloat64:
        Run<double, double>(*ctx, *plan, *size, stride, summed, inner, out);
        break;
      case DType::kInt32:
        Run<int32_t, uint32_t>(*ctx, *plan, *size, stride, summed, inner, out);
        break;
      default:
        Run<int64_t, uint64_t>(*ctx, *plan, *size, stride, summed, inner, out);
        break;
    }
    return absl::OkStatus();
  }

 private:
  template <typename T, typename Acc>
  static void Run(const KernelContext& ctx, const Plan& plan, const std::vector<int64_t>& size,
                  const std::vector<std::vector<int64_t>>& stride, const std::vector<int>& summed,
                  int64_t inner, const TensorView& out) {
    const int n = ctx.num_inputs();
    const int64_t total = out.NumElements();
    T* o = out.data_as<T>();
    std::vector<int64_t> base(n), at(n), index(summed.size());
    std::vector<int64_t> out_index(plan.output.size(), 0);
    for (int64_t e = 0; e < total; ++e) {
      for (int k = 0; k < n; ++k) {
        base[k] = 0;
        for (size_t d = 0; d < plan.output.size(); ++d) {
          base[k] += out_index[d] * stride[k][plan.output[d]];
        }
      }
      Acc sum = 0;
      std::fill(index.begin(), index.end(), 0);
      for (int64_t i = 0; i < inner; ++i) {
        Acc product = 1;
        for (int k = 0; k < n; ++k) {
          int64_t offset = base[k];
          for (size_t s = 0; s < summed.size(); ++s) offset += index[s] * stride[k][summed[s]];
          product = product * static_cast<Acc>(ctx.input(k).data_as<T>()[offset]);
        }
        sum = sum + product;
        for (size_t s = summed.size(); s-- > 0;) {  // the next summed index, last fastest
          if (++index[s] < size[summed[s]]) break;
          index[s] = 0;
        }
      }
      o[e] = static_cast<T>(sum);
      for (size_t d = plan.output.size(); d-- > 0;) {
        if (++out_index[d] < size[plan.output[d]]) break;
        out_index[d] = 0;
      }
    }
  }

  std::string equation_;
};

absl::StatusOr<std::unique_ptr<OpKernel>> MakeEinsum(const KernelBuildContext& b) {
  const std::string equation = AttrString(*b.node, "equation", "");
  if (equation.empty()) return NodeError(*b.node, "attribute equation is missing or empty");
  return std::unique_ptr<OpKernel>(new EinsumKernel(equation));
}

// The output's dtype and, when every operand's rank is known, its dims.
void EinsumShape(const Node& n, ShapeContext* ctx) {
  const std::string equation = AttrString(n, "equation", "");
  std::vector<int64_t> ranks;
  std::vector<Dims> dims;
  for (size_t k = 0; k < n.inputs.size(); ++k) {
    const Shape s = ctx->In(n, static_cast<int>(k)).shape;
    if (!s.known_rank()) {
      ctx->Set(n, 0, ctx->InDType(n, 0), Shape());
      return;
    }
    ranks.push_back(s.rank());
    Dims d;
    for (int i = 0; i < s.rank(); ++i) d.push_back(s.dim(i));
    dims.push_back(std::move(d));
  }
  absl::StatusOr<Plan> plan = MakePlan(equation, ranks);
  absl::StatusOr<std::vector<int64_t>> size =
      plan.ok() ? LabelSizes(*plan, dims, equation) : plan.status();
  if (!size.ok()) {
    ctx->Set(n, 0, ctx->InDType(n, 0), Shape());
    return;
  }
  std::vector<int64_t> out;
  for (int label : plan->output)
    out.push_back((*size)[label] < 0 ? Shape::kUnknownDim : (*size)[label]);
  ctx->Set(n, 0, ctx->InDType(n, 0), Shape(out));
}

}  // namespace

absl::Status RegisterEinsumKernels(KernelRegistry* r) {
  RANKOPT_RETURN_IF_ERROR(r->RegisterOpInfo("Einsum", {EinsumShape, nullptr}));
  return r->Register(OpSet::kOnnx, "Einsum", MakeEinsum);
}

}  // namespace math_internal
}  // namespace rankopt
