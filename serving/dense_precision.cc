#include "serving/dense_precision.h"

#include <algorithm>
#include <map>
#include <chrono>
#include <cmath>
#include <limits>
#include <memory>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "graph/exec/execution_plan.h"
#include "graph/exec/profiler.h"
#include "graph/kernels/math/gemm.h"
#include "graph/kernels/math/gemm_lowp.h"
#include "rankopt/status_macros.h"

namespace rankopt {
namespace {

constexpr absl::string_view kFusedMatMulOp = "_RankoptFusedMatMul";
constexpr absl::string_view kAttentionOp = "_RankoptAttentionPooling";
constexpr int kAttentionFirstWeight = 3;  // q, keys, mask, then (weight, bias) per layer

struct Layer {
  std::string node;
  std::string weight;  // the Const node
  int64_t k = 0;
  int64_t n = 0;
  bool transpose_b = false;
  bool owns_weight = false;  // the only reader of a Const it reads directly: storage may change
  // A GEMM layer of a _RankoptAttentionPooling node: its index and the node's layer count
  // (weights stay fp32 in the graph: the kernel folds layer 0's blocks before converting).
  int attention_layer = -1;
  int attention_layers = 0;
  // The K its kernel's per-row GEMM runs at: k, except attention layer 0, whose [terms x d, h1]
  // weight the kernel splits into d-row blocks (q*k's GEMM per row, the others per request or
  // candidate): d.
  int64_t gemm_k = 0;
};

// The GEMM layers of a _RankoptAttentionPooling whose weights are all float32 constant matrices
// (every layer but the score layer, a dot product; a one-layer unit's layer 0), or none.
std::vector<Layer> AttentionLayers(const Graph& graph, const Node& node) {
  const auto* activations = node.attrs.Get<std::vector<std::string>>("activations");
  if (activations == nullptr) return {};
  const int count = static_cast<int>(activations->size()) + 1;
  if (static_cast<int>(node.inputs.size()) < kAttentionFirstWeight + 2 * count) return {};
  std::vector<Layer> layers;
  for (int l = 0; l < std::max(count - 1, 1); ++l) {
    const Node* weight = graph.ConstantBehind(node.inputs[kAttentionFirstWeight + 2 * l]);
    const Tensor* value = weight == nullptr ? nullptr : weight->attrs.Get<Tensor>("value");
    if (value == nullptr || value->dtype() != DType::kFloat32 || value->dims().size() != 2 ||
        value->dims()[0] > kGemmInt8MaxK) {
      return {};
    }
    Layer layer;
    layer.node = node.name;
    layer.weight = weight->name;
    layer.k = value->dims()[0];
    layer.n = value->dims()[1];
    layer.attention_layer = l;
    layer.attention_layers = count;
    layer.gemm_k = layer.k;
    if (l == 0) {
      const auto* terms = node.attrs.Get<std::vector<std::string>>("terms");
      const int64_t n_terms = terms == nullptr ? 4 : static_cast<int64_t>(terms->size());
      if (n_terms > 0 && layer.k % n_terms == 0) layer.gemm_k = layer.k / n_terms;
    }
    layers.push_back(std::move(layer));
  }
  return layers;
}

// Every _RankoptFusedMatMul whose weight is a constant float32 matrix and every GEMM layer of a
// _RankoptAttentionPooling, in graph order.
std::vector<Layer> FindLayers(const Graph& graph) {
  absl::flat_hash_map<std::string, int> readers;
  for (const Node& node : graph.nodes()) {
    for (const TensorRef& ref : node.inputs) ++readers[ref.node];
  }
  for (const GraphOutput& output : graph.outputs()) ++readers[output.ref.node];
  std::vector<Layer> layers;
  for (const Node& node : graph.nodes()) {
    if (node.op == kAttentionOp) {
      for (Layer& layer : AttentionLayers(graph, node)) layers.push_back(std::move(layer));
      continue;
    }
    if (node.op != kFusedMatMulOp || node.inputs.size() < 2) continue;
    const Node* weight = graph.ConstantBehind(node.inputs[1]);
    if (weight == nullptr) continue;
    const Tensor* value = weight->attrs.Get<Tensor>("value");
    if (value == nullptr || value->dtype() != DType::kFloat32 || value->dims().size() != 2) {
      continue;
    }
    Layer layer;
    layer.node = node.name;
    layer.weight = weight->name;
    const bool* t = node.attrs.Get<bool>("transpose_b");
    layer.transpose_b = t != nullptr && *t;
    layer.k = value->dims()[layer.transpose_b ? 1 : 0];
    layer.n = value->dims()[layer.transpose_b ? 0 : 1];
    if (layer.k > kGemmInt8MaxK) continue;
    layer.gemm_k = layer.k;
    layer.owns_weight = node.inputs[1].node == weight->name && readers[weight->name] == 1;
    layers.push_back(std::move(layer));
  }
  return layers;
}

int64_t StoredBytes(const Layer& layer, DensePrecision p, bool store) {
  const int64_t values = layer.k * layer.n;
  if (!store || !layer.owns_weight) return values * 4;
  switch (p) {
    case DensePrecision::kInt8:
      return values + layer.n * 4;  // codes + scales
    case DensePrecision::kBf16:
      return values * 2;
    case DensePrecision::kFp32:
      break;
  }
  return values * 4;
}

// `in` with layer i at precisions[i]; with `store`, weights a layer owns stored at it.
absl::StatusOr<Graph> WithPrecisions(const Graph& in, const std::vector<Layer>& layers,
                                     const std::vector<DensePrecision>& precisions, bool store) {
  Graph result = in;  // cheap: constants share storage
  // Attention nodes: one `precisions` entry per layer (the score layer fp32), or none.
  absl::flat_hash_map<std::string, std::vector<std::string>> attention;
  for (size_t i = 0; i < layers.size(); ++i) {
    const Layer& layer = layers[i];
    if (layer.attention_layer < 0) continue;
    std::vector<std::string>& names = attention[layer.node];
    names.resize(layer.attention_layers, std::string(DensePrecisionName(DensePrecision::kFp32)));
    names[layer.attention_layer] = std::string(DensePrecisionName(precisions[i]));
  }
  for (auto& [name, names] : attention) {
    Node* node = result.FindMutableNode(name);
    if (node == nullptr) return absl::InternalError(absl::StrCat("'", name, "' vanished"));
    if (std::all_of(names.begin(), names.end(), [](const std::string& p) {
          return p == DensePrecisionName(DensePrecision::kFp32);
        })) {
      node->attrs.Erase("precisions");
    } else {
      node->attrs.Set("precisions", names);
    }
  }
  for (size_t i = 0; i < layers.size(); ++i) {
    const Layer& layer = layers[i];
    if (layer.attention_layer >= 0) continue;
    Node* node = result.FindMutableNode(layer.node);
    if (node == nullptr) return absl::InternalError(absl::StrCat("'", layer.node, "' vanished"));
    const DensePrecision p = precisions[i];
    if (p == DensePrecision::kFp32) {
      node->attrs.Erase("precision");
      continue;
    }
    node->attrs.Set("precision", std::string(DensePrecisionName(p)));
    if (!store || !layer.owns_weight) continue;
    Node* weight = result.FindMutableNode(layer.weight);
    const Tensor value = *weight->attrs.Get<Tensor>("value");
    const std::vector<int64_t> dims = value.dims();
    absl::Span<const float> w = value.values<float>();
    Tensor stored;
    if (p == DensePrecision::kInt8) {
      std::vector<int8_t> q(w.size());
      std::vector<float> scales(static_cast<size_t>(layer.n));
      const int64_t cols = dims[1];
      QuantizeWeightsInt8(w.data(), layer.k, layer.n, layer.transpose_b ? 1 : cols,
                          layer.transpose_b ? cols : 1, q.data(), scales.data());
      RANKOPT_ASSIGN_OR_RETURN(stored, Tensor::FromValues<int8_t>(dims, q));
      node->attrs.Set("weight_scales", std::move(scales));
    } else {
      std::vector<uint16_t> bits(w.size());
      for (size_t j = 0; j < w.size(); ++j) bits[j] = FloatToBf16(w[j]);
      RANKOPT_ASSIGN_OR_RETURN(
          stored, Tensor::FromBytes(DType::kBFloat16, dims,
                                    absl::string_view(reinterpret_cast<const char*>(bits.data()),
                                                      bits.size() * sizeof(uint16_t))));
    }
    if (weight->attrs.Find("dtype") != nullptr) weight->attrs.Set("dtype", stored.dtype());
    weight->attrs.Set("value", std::move(stored));
  }
  return result;
}

// Kernel time per run of each named dense node, on `sample`, for >= time_s.
absl::StatusOr<absl::flat_hash_map<std::string, double>> TimeLayers(
    const Graph& graph, const GateSample& sample, const std::vector<std::string>& outputs,
    double time_s) {
  RANKOPT_ASSIGN_OR_RETURN(std::unique_ptr<OpProfiler> profiler, OpProfiler::Create());
  PlanOptions plan_options;
  plan_options.outputs = outputs;
  plan_options.registry = &profiler->registry();
  RANKOPT_ASSIGN_OR_RETURN(std::unique_ptr<const ExecutionPlan> plan,
                           ExecutionPlan::Create(graph, plan_options));
  std::vector<Tensor> out;
  for (int i = 0; i < 3; ++i) RANKOPT_RETURN_IF_ERROR(plan->Run(sample, &out));
  profiler->Reset();
  int64_t runs = 0;
  const auto start = std::chrono::steady_clock::now();
  while (runs < 5 ||
         std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() < time_s) {
    RANKOPT_RETURN_IF_ERROR(plan->Run(sample, &out));
    ++runs;
  }
  absl::flat_hash_map<std::string, double> us;
  for (const NodeKernelProfile& p : profiler->ByNode()) {
    us[p.node] = static_cast<double>(p.total_ns) / 1e3 / static_cast<double>(runs);
  }
  return us;
}

// How far a gate result is into its budgets (the largest figure / budget).
double Severity(const GateResult& gate, const GateBudgets& budgets) {
  auto ratio = [](double figure, double budget) {
    if (budget > 0) return figure / budget;
    return figure > 0 ? std::numeric_limits<double>::infinity() : 0.0;
  };
  double severity = ratio(gate.max_abs_diff, budgets.max_abs_diff);
  if (gate.auc_delta.has_value()) {
    severity = std::max(severity, ratio(std::abs(*gate.auc_delta), budgets.auc_delta));
  }
  return severity;
}

// The reduced precisions with a vector kernel on this CPU that beat fp32 by at least 10% on one
// layer's shape, fastest first: the three GEMMs (activation quantization or rounding included)
// timed at that layer's K x N over 256 rows (a block of attention rows, a chunk of candidates),
// alternating, the best of 5 short runs each. Which wins depends on the shape as well as the CPU:
// on AMD Zen 4 int8 (VNNI) leads at DIN's and ESMM's shapes; with AMX the GEMMs are so fast that
// the per-row work around them decides, and at small K bf16's one-instruction rounding can beat
// int8's per-row scale and quantization. On AVX2-only CPUs bf16 is no faster than fp32 (the same
// fma count) and is left out, so no layer loses accuracy for nothing.
std::vector<DensePrecision> FastestFirst(int64_t k, int64_t n) {
  std::vector<DensePrecision> fast;
  for (DensePrecision p : {DensePrecision::kInt8, DensePrecision::kBf16}) {
    if (DensePrecisionIsFast(p)) fast.push_back(p);
  }
  if (fast.empty() || k <= 0 || n <= 0 || k > kGemmInt8MaxK) return fast;
  // Past 1024 the kernels' relative speed no longer changes with K or N: a very large layer is
  // timed at 1024 (its weight copies stay a few MB).
  k = std::min<int64_t>(k, 1024);
  n = std::min<int64_t>(n, 1024);
  constexpr int64_t m = 256;
  // About 2M multiply-adds per timed run.
  const int64_t reps = std::clamp<int64_t>((int64_t{1} << 21) / (m * k * n), 1, 64);
  std::vector<float> a(m * k), w(k * n), c(m * n);
  for (size_t i = 0; i < a.size(); ++i) a[i] = static_cast<float>(i % 17) - 8.0f;
  for (size_t i = 0; i < w.size(); ++i) w[i] = static_cast<float>(i % 13) * 0.01f - 0.06f;
  std::vector<int8_t> q(w.size());
  std::vector<float> scales(n);
  QuantizeWeightsInt8(w.data(), k, n, n, 1, q.data(), scales.data());
  absl::StatusOr<PackedBInt8> int8 = PackGemmBInt8(q.data(), scales.data(), k, n, n, 1);
  std::vector<uint16_t> bits(w.size());
  for (size_t i = 0; i < w.size(); ++i) bits[i] = FloatToBf16(w[i]);
  const PackedBBf16 bf16 = PackGemmBBf16(bits.data(), k, n, n, 1);
  if (!int8.ok()) return fast;
  const PackedB fp32 = PackGemmB(w.data(), k, n, n, 1);
  std::vector<unsigned char> scratch(
      static_cast<size_t>(std::max(GemmInt8ScratchBytes(k), GemmBf16ScratchBytes(k))) + 64);
  double best[3] = {1e30, 1e30, 1e30};  // int8, bf16, fp32
  for (int round = 0; round < 5; ++round) {
    for (int which = 0; which < 3; ++which) {
      const auto start = std::chrono::steady_clock::now();
      for (int64_t rep = 0; rep < reps; ++rep) {
        if (which == 0) {
          GemmInt8(m, a.data(), k, *int8, nullptr, false, c.data(), n, scratch.data());
        } else if (which == 1) {
          GemmBf16(m, a.data(), k, bf16, nullptr, false, c.data(), n, scratch.data());
        } else {
          GemmF32(m, n, k, a.data(), k, 1, GemmBFromPacked(fp32), nullptr, c.data(), n);
        }
      }
      best[which] =
          std::min(best[which],
                   std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    }
  }
  auto time_of = [&](DensePrecision p) { return best[p == DensePrecision::kInt8 ? 0 : 1]; };
  fast.erase(std::remove_if(fast.begin(), fast.end(),
                            [&](DensePrecision p) { return time_of(p) > 0.9 * best[2]; }),
             fast.end());
  std::sort(fast.begin(), fast.end(),
            [&](DensePrecision x, DensePrecision y) { return time_of(x) < time_of(y); });
  return fast;
}

}  // namespace

absl::string_view PrecisionModeName(PrecisionMode mode) {
  switch (mode) {
    case PrecisionMode::kAuto:
      return "auto";
    case PrecisionMode::kFp32:
      return "fp32";
    case PrecisionMode::kBf16:
      return "bf16";
    case PrecisionMode::kInt8:
      return "int8";
  }
  return "unknown";
}

absl::StatusOr<PrecisionMode> ParsePrecisionMode(absl::string_view text) {
  for (PrecisionMode m :
       {PrecisionMode::kAuto, PrecisionMode::kFp32, PrecisionMode::kBf16, PrecisionMode::kInt8}) {
    if (text == PrecisionModeName(m)) return m;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("--precision '", text, "' is not one of auto, fp32, bf16, int8"));
}

GateBudgets DefaultDenseGateBudgets() {
  GateBudgets budgets;
  budgets.max_abs_diff = 1e-3;
  budgets.auc_delta = 1e-4;
  return budgets;
}

absl::StatusOr<DensePrecisionReport> ChooseDensePrecisions(const Graph& in,
                                                           const DensePrecisionOptions& options,
                                                           Graph* out) {
  DensePrecisionReport report;
  report.mode = options.mode;
  report.samples = static_cast<int64_t>(options.samples.size());
  const std::vector<Layer> layers = FindLayers(in);
  if (options.mode == PrecisionMode::kAuto && options.samples.empty()) {
    return absl::InvalidArgumentError("--precision auto needs a sample of requests for its gate");
  }
  // Each layer's ladder: options.ladder, or its shape's fastest-first order (timed once per
  // shape), then fp32.
  std::vector<std::vector<DensePrecision>> ladders(layers.size(), options.ladder);
  std::map<std::pair<int64_t, int64_t>, std::vector<DensePrecision>> by_shape;
  for (size_t i = 0; i < layers.size(); ++i) {
    std::vector<DensePrecision>& ladder = ladders[i];
    if (ladder.empty() && options.mode == PrecisionMode::kAuto) {
      const std::pair<int64_t, int64_t> shape{layers[i].gemm_k, layers[i].n};
      auto it = by_shape.find(shape);
      if (it == by_shape.end()) {
        it = by_shape.emplace(shape, FastestFirst(shape.first, shape.second)).first;
      }
      ladder = it->second;
    }
    if (ladder.empty() || ladder.back() != DensePrecision::kFp32) {
      ladder.push_back(DensePrecision::kFp32);
    }
  }

  std::vector<float> fp32;
  if (!options.samples.empty()) {
    RANKOPT_ASSIGN_OR_RETURN(
        fp32, GatePredictions(in, options.samples, options.outputs, &report.outputs));
    report.predictions = static_cast<int64_t>(fp32.size());
  }
  report.labels_note = options.labels.empty() ? "no labels in the sample: predictions compared only"
                                              : "labels in the sample: AUC and logloss judged too";
  const std::vector<DensePrecision> all_fp32(layers.size(), DensePrecision::kFp32);
  // The gate on the graph with `precisions` against fp32.
  auto judge = [&](const std::vector<DensePrecision>& precisions) -> absl::StatusOr<GateResult> {
    RANKOPT_ASSIGN_OR_RETURN(Graph g, WithPrecisions(in, layers, precisions, /*store=*/false));
    RANKOPT_ASSIGN_OR_RETURN(std::vector<float> quant,
                             GatePredictions(g, options.samples, options.outputs, nullptr));
    return EvaluateQuantizationGate(fp32, quant, options.labels, options.budgets);
  };
  auto judge_alone = [&](size_t i, DensePrecision p) -> absl::StatusOr<GateResult> {
    std::vector<DensePrecision> precisions = all_fp32;
    precisions[i] = p;
    return judge(precisions);
  };

  std::vector<DensePrecision> chosen(layers.size(), DensePrecision::kFp32);
  report.layers.resize(layers.size());
  for (size_t i = 0; i < layers.size(); ++i) {
    DenseLayerReport& r = report.layers[i];
    r.node = layers[i].node;
    r.attention_layer = layers[i].attention_layer;
    r.k = layers[i].k;
    r.n = layers[i].n;
  }
  switch (options.mode) {
    case PrecisionMode::kFp32:
      for (DenseLayerReport& r : report.layers) r.reason = "--precision fp32";
      break;
    case PrecisionMode::kBf16:
    case PrecisionMode::kInt8: {
      const DensePrecision p =
          options.mode == PrecisionMode::kInt8 ? DensePrecision::kInt8 : DensePrecision::kBf16;
      for (size_t i = 0; i < layers.size(); ++i) {
        chosen[i] = p;
        report.layers[i].reason =
            absl::StrCat("--precision ", PrecisionModeName(options.mode), " (no gate)");
        if (!fp32.empty()) {
          RANKOPT_ASSIGN_OR_RETURN(report.layers[i].alone, judge_alone(i, p));
        }
      }
      break;
    }
    case PrecisionMode::kAuto: {
      // Start each layer at the fastest precision; step a layer that fails alone up at once.
      std::vector<size_t> level(layers.size(), 0);
      std::vector<std::optional<GateResult>> alone(layers.size());
      auto settle_alone = [&](size_t i) -> absl::Status {
        while (ladders[i][level[i]] != DensePrecision::kFp32) {
          report.layers[i].tried.push_back(std::string(DensePrecisionName(ladders[i][level[i]])));
          RANKOPT_ASSIGN_OR_RETURN(GateResult g, judge_alone(i, ladders[i][level[i]]));
          alone[i] = g;
          if (g.passed) return absl::OkStatus();
          report.layers[i].reason = absl::StrCat(DensePrecisionName(ladders[i][level[i]]),
                                                 " fails the gate alone (", g.reason, ")");
          ++level[i];
        }
        alone[i].reset();
        return absl::OkStatus();
      };
      for (size_t i = 0; i < layers.size(); ++i) RANKOPT_RETURN_IF_ERROR(settle_alone(i));
      // Then, while the layers together fail, the one with the largest error alone steps up.
      while (true) {
        for (size_t i = 0; i < layers.size(); ++i) chosen[i] = ladders[i][level[i]];
        if (std::all_of(chosen.begin(), chosen.end(),
                        [](DensePrecision p) { return p == DensePrecision::kFp32; })) {
          break;
        }
        RANKOPT_ASSIGN_OR_RETURN(GateResult together, judge(chosen));
        if (together.passed) break;
        size_t worst = layers.size();
        double worst_severity = -1;
        for (size_t i = 0; i < layers.size(); ++i) {
          if (!alone[i].has_value()) continue;
          const double s = Severity(*alone[i], options.budgets);
          if (s > worst_severity) {
            worst_severity = s;
            worst = i;
          }
        }
        if (worst == layers.size()) break;  // unreachable: some layer is below fp32
        report.layers[worst].reason =
            absl::StrCat(DensePrecisionName(ladders[worst][level[worst]]),
                         " stepped up: the layers together failed the gate (", together.reason,
                         ") and this one had the largest error alone");
        ++level[worst];
        RANKOPT_RETURN_IF_ERROR(settle_alone(worst));
      }
      for (size_t i = 0; i < layers.size(); ++i) {
        report.layers[i].alone = alone[i];
        if (report.layers[i].reason.empty()) {
          report.layers[i].reason = chosen[i] == DensePrecision::kFp32
                                        ? "no faster precision on this CPU"
                                        : "within the gate, alone and together";
        }
      }
      break;
    }
  }

  if (!fp32.empty()) {
    RANKOPT_ASSIGN_OR_RETURN(report.combined, judge(chosen));
  }
  RANKOPT_ASSIGN_OR_RETURN(Graph result, WithPrecisions(in, layers, chosen, /*store=*/true));
  if (!options.samples.empty() && options.time_s > 0 && !layers.empty()) {
    RANKOPT_ASSIGN_OR_RETURN(
        auto base_us, TimeLayers(in, options.samples.front(), options.outputs, options.time_s));
    RANKOPT_ASSIGN_OR_RETURN(auto chosen_us, TimeLayers(result, options.samples.front(),
                                                        options.outputs, options.time_s));
    for (DenseLayerReport& r : report.layers) {
      r.time_us_fp32 = base_us[r.node];
      r.time_us = chosen_us[r.node];
    }
  }
  for (size_t i = 0; i < layers.size(); ++i) {
    DenseLayerReport& r = report.layers[i];
    r.precision = chosen[i];
    r.kernel = std::string(DenseKernelName(chosen[i]));
    r.bytes_fp32 = layers[i].k * layers[i].n * 4;
    r.bytes_stored = StoredBytes(layers[i], chosen[i], /*store=*/true);
    report.bytes_fp32 += r.bytes_fp32;
    report.bytes_stored += r.bytes_stored;
    if (chosen[i] != DensePrecision::kFp32) ++report.reduced;
  }
  *out = std::move(result);
  return report;
}

std::string DenseLayerLabel(absl::string_view node, int attention_layer) {
  if (attention_layer < 0) return std::string(node);
  return absl::StrCat(node, " [attention layer ", attention_layer, "]");
}

std::string FormatDensePrecisionReport(const DensePrecisionReport& report) {
  std::string text =
      absl::StrCat("dense layers (--precision ", PrecisionModeName(report.mode),
                   "): ", report.reduced, " of ", report.layers.size(), " below fp32, weights ",
                   report.bytes_fp32, " -> ", report.bytes_stored, " bytes\n");
  if (report.layers.empty()) return text;
  absl::StrAppend(
      &text, absl::StrFormat("  %-44s %11s %5s %-16s %10s %10s %9s %9s  %s\n", "layer", "K x N",
                             "prec", "kernel", "max diff", "mean diff", "fp32 us", "us", "why"));
  for (const DenseLayerReport& r : report.layers) {
    std::string max_diff = "-", mean_diff = "-";
    if (r.alone.has_value()) {
      max_diff = absl::StrFormat("%.2e", r.alone->max_abs_diff);
      mean_diff = absl::StrFormat("%.2e", r.alone->mean_abs_diff);
    }
    absl::StrAppend(
        &text, absl::StrFormat("  %-44s %11s %5s %-16s %10s %10s %9.1f %9.1f  %s\n",
                               DenseLayerLabel(r.node, r.attention_layer),
                               absl::StrCat(r.k, "x", r.n), DensePrecisionName(r.precision),
                               r.kernel, max_diff, mean_diff, r.time_us_fp32, r.time_us, r.reason));
  }
  if (report.combined.has_value()) {
    const GateResult& g = *report.combined;
    absl::StrAppend(&text, "  gate (every head, ", report.samples, " requests, ",
                    report.predictions, " predictions; ", report.labels_note,
                    "): ", g.passed ? "passed" : "FAILED", ": max abs diff ",
                    absl::StrFormat("%.3g", g.max_abs_diff), ", mean abs diff ",
                    absl::StrFormat("%.3g", g.mean_abs_diff));
    if (g.auc_delta.has_value()) {
      absl::StrAppend(&text, ", AUC delta ", absl::StrFormat("%.3g", *g.auc_delta));
    }
    if (g.logloss_delta.has_value()) {
      absl::StrAppend(&text, ", logloss delta ", absl::StrFormat("%.3g", *g.logloss_delta));
    }
    absl::StrAppend(&text, "\n");
  }
  return text;
}

}  // namespace rankopt
