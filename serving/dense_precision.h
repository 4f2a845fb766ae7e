// Reduced-precision dense layers behind the accuracy gate (`rankopt optimize --precision`): which
// _RankoptFusedMatMul layers, and which GEMM layers of the fused DIN attention
// (_RankoptAttentionPooling, its `precisions` attr), run int8 or bf16
// (graph/kernels/math/gemm_lowp.h), chosen per layer on a sample of requests against the fp32
// model, and the rewrite that stores each chosen fused MatMul's weight at its precision (int8
// codes + per-column scales, or bf16) so the package shrinks. The embedding tables keep their own
// gate (table_quantization.h).
#ifndef RANKOPT_SERVING_DENSE_PRECISION_H_
#define RANKOPT_SERVING_DENSE_PRECISION_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "embedding/storage/quantization_report.h"
#include "graph/ir/graph.h"
#include "graph/kernels/math/gemm_lowp.h"
#include "serving/table_quantization.h"

namespace rankopt {

// What `--precision` asks for.
enum class PrecisionMode {
  kAuto,  // per layer the fastest precision the gate accepts, stepping up towards fp32
  kFp32,  // every layer fp32 (no change)
  kBf16,  // every layer bf16, no gate (its figures are still reported)
  kInt8,  // every layer int8, no gate
};
// "auto", "fp32", "bf16", "int8".
absl::string_view PrecisionModeName(PrecisionMode mode);
// The names above; the error lists them.
absl::StatusOr<PrecisionMode> ParsePrecisionMode(absl::string_view text);

// The gate's default budgets: max abs diff of every output head 1e-3, AUC delta 1e-4.
GateBudgets DefaultDenseGateBudgets();

struct DensePrecisionOptions {
  PrecisionMode mode = PrecisionMode::kAuto;
  // The gate's sample (views must outlive the call) and, optionally, one label (0 or 1) per
  // prediction value (every output of every sample, in order). kAuto needs samples.
  std::vector<GateSample> samples;
  std::vector<float> labels;
  GateBudgets budgets = DefaultDenseGateBudgets();
  std::vector<std::string> outputs;  // the heads compared; empty: the model's outputs
  // Per-layer kernel time is measured on samples[0] for at least this long per graph (0: not
  // measured).
  double time_s = 0.05;
  // kAuto: the precisions tried, fastest first, for every layer; empty: per layer, those with a
  // vector kernel on this CPU (DensePrecisionIsFast) that beat fp32, ordered by a short timing of
  // the kernels at the layer's own K x N (activation quantization included), then fp32.
  std::vector<DensePrecision> ladder;
};

// One dense layer (a _RankoptFusedMatMul with a constant weight, or one GEMM layer of a
// _RankoptAttentionPooling: its weights stay fp32 in the graph, and its times are the whole
// attention node's).
struct DenseLayerReport {
  std::string node;
  int attention_layer = -1;  // the layer within an attention node; -1: a fused MatMul
  int64_t k = 0;
  int64_t n = 0;
  DensePrecision precision = DensePrecision::kFp32;
  std::string kernel;              // DenseKernelName of its precision on this CPU
  std::vector<std::string> tried;  // precisions tried, in order (kAuto)
  // The gate with only this layer at its precision (every other layer fp32): its error
  // contribution. Absent for fp32 layers that never left fp32 and when there is no sample.
  std::optional<GateResult> alone;
  double time_us_fp32 = 0;   // kernel time per run on samples[0] at fp32 (0: not measured)
  double time_us = 0;        // ... at the chosen precision
  int64_t bytes_fp32 = 0;    // weight bytes as fp32
  int64_t bytes_stored = 0;  // weight bytes as stored in the graph
  std::string reason;        // why this precision
};

struct DensePrecisionReport {
  PrecisionMode mode = PrecisionMode::kAuto;
  std::vector<DenseLayerReport> layers;
  std::string outputs;  // the heads compared, comma-joined
  int64_t samples = 0;
  int64_t predictions = 0;
  std::optional<GateResult> combined;  // every layer at its chosen precision
  std::string labels_note;             // whether AUC/logloss were judged
  int64_t bytes_fp32 = 0;              // dense weights, summed
  int64_t bytes_stored = 0;
  int reduced = 0;  // layers not at fp32
};

// Chooses each dense layer's precision (see PrecisionMode) and writes `out`: `in` with the
// `precision` attr on every reduced layer and, where the layer is the only reader of its weight
// Const, the weight stored as int8 (+ attr weight_scales) or bf16. `out` may be `&in`.
// Errors: kAuto without samples, a model that does not plan or run on the sample.
absl::StatusOr<DensePrecisionReport> ChooseDensePrecisions(const Graph& in,
                                                           const DensePrecisionOptions& options,
                                                           Graph* out);

// The report's name for a layer: the node, with " [attention layer L]" for attention layers.
std::string DenseLayerLabel(absl::string_view node, int attention_layer);

// The report as a human table: one line per layer (K x N, precision, kernel, error alone, time
// fp32 -> chosen, bytes) and the combined gate.
std::string FormatDensePrecisionReport(const DensePrecisionReport& report);

}  // namespace rankopt

#endif  // RANKOPT_SERVING_DENSE_PRECISION_H_
