#include "embedding/storage/quantization_report.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "rankopt/status_macros.h"

namespace rankopt {

absl::StatusOr<TableQuantizationFigures> ComputeQuantizationFigures(
    const EmbeddingTable& source, const EmbeddingTable& quantized) {
  if (source.dtype() != TableDType::kFloat32) {
    return absl::InvalidArgumentError(absl::StrCat("embedding table '", source.name(),
                                                   "': the reference must be fp32, it is ",
                                                   TableDTypeName(source.dtype())));
  }
  if (source.rows() != quantized.rows() || source.dim() != quantized.dim()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "embedding table '", source.name(), "': quantized table is ", quantized.rows(), " x ",
        quantized.dim(), ", expected the source's ", source.rows(), " x ", source.dim()));
  }
  TableQuantizationFigures f;
  f.table = source.name();
  f.dtype = quantized.dtype();
  f.rows = source.rows();
  f.dim = source.dim();
  f.bytes_before = source.byte_size();
  f.bytes_after = quantized.byte_size();
  std::vector<float> x(static_cast<size_t>(f.dim)), y(static_cast<size_t>(f.dim));
  double signal = 0.0, noise = 0.0;
  for (int64_t r = 0; r < f.rows; ++r) {
    source.DequantizeRow(r, x.data());
    quantized.DequantizeRow(r, y.data());
    double row_max = 0.0;
    for (int64_t j = 0; j < f.dim; ++j) {
      const double err = static_cast<double>(x[j]) - y[j];
      signal += static_cast<double>(x[j]) * x[j];
      noise += err * err;
      row_max = std::max(row_max, std::abs(err));
    }
    if (row_max > f.max_abs_error) {
      f.max_abs_error = row_max;
      f.worst_row = r;
    }
  }
  f.worst_row_max_abs_error = f.max_abs_error;
  if (signal > 0.0) {
    f.nmse = noise / signal;
  } else {
    f.nmse = noise > 0.0 ? std::numeric_limits<double>::infinity() : 0.0;
  }
  return f;
}

absl::StatusOr<QuantizedTable> QuantizeWithReport(const EmbeddingTable& fp32, TableDType target) {
  RANKOPT_ASSIGN_OR_RETURN(EmbeddingTable table, EmbeddingTable::Quantize(fp32, target));
  RANKOPT_ASSIGN_OR_RETURN(TableQuantizationFigures figures,
                           ComputeQuantizationFigures(fp32, table));
  return QuantizedTable{std::move(table), std::move(figures), ""};
}

absl::StatusOr<QuantizedTable> QuantizeWithinBudget(const EmbeddingTable& fp32, TableDType target,
                                                    const TableBudgets& budgets) {
  if (fp32.dtype() != TableDType::kFloat32) {
    return absl::InvalidArgumentError(absl::StrCat("embedding table '", fp32.name(), "': is ",
                                                   TableDTypeName(fp32.dtype()),
                                                   ", quantization needs an fp32 source"));
  }
  // Narrowest first; fp32 is exact and ends the ladder.
  std::vector<TableDType> ladder;
  if (target == TableDType::kInt8RowWise) ladder.push_back(TableDType::kInt8RowWise);
  if (target != TableDType::kFloat32) ladder.push_back(TableDType::kFloat16);
  ladder.push_back(TableDType::kFloat32);
  std::string reason;
  for (TableDType dtype : ladder) {
    absl::StatusOr<QuantizedTable> q = QuantizeWithReport(fp32, dtype);
    if (!q.ok()) {
      if (dtype == TableDType::kFloat32) return q.status();
      absl::StrAppend(&reason, reason.empty() ? "" : "; ", TableDTypeName(dtype), ": ",
                      q.status().message());
      continue;
    }
    if (dtype != TableDType::kFloat32 && !(q->figures.nmse <= budgets.max_nmse)) {
      absl::StrAppend(
          &reason, reason.empty() ? "" : "; ", TableDTypeName(dtype),
          absl::StrFormat(" NMSE %.3g exceeds the budget %.3g", q->figures.nmse, budgets.max_nmse));
      continue;
    }
    q->fallback_reason = std::move(reason);
    return q;
  }
  return absl::InternalError("unreachable: fp32 ends the ladder");
}

std::optional<double> ComputeAuc(absl::Span<const float> scores, absl::Span<const float> labels) {
  const size_t n = std::min(scores.size(), labels.size());
  std::vector<size_t> order(n);
  std::iota(order.begin(), order.end(), size_t{0});
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return scores[a] < scores[b]; });
  double positive_rank_sum = 0.0;
  double positives = 0.0;
  for (size_t i = 0; i < n;) {
    size_t j = i;
    while (j < n && scores[order[j]] == scores[order[i]]) ++j;
    // Ranks i+1 .. j (1-based) tie: each gets their mean.
    const double rank = (static_cast<double>(i + 1) + static_cast<double>(j)) / 2.0;
    for (size_t k = i; k < j; ++k) {
      if (labels[order[k]] > 0.5f) {
        positive_rank_sum += rank;
        positives += 1.0;
      }
    }
    i = j;
  }
  const double negatives = static_cast<double>(n) - positives;
  if (positives == 0.0 || negatives == 0.0) return std::nullopt;
  return (positive_rank_sum - positives * (positives + 1.0) / 2.0) / (positives * negatives);
}

double ComputeLogLoss(absl::Span<const float> probabilities, absl::Span<const float> labels) {
  constexpr double kEps = 1e-7;
  const size_t n = std::min(probabilities.size(), labels.size());
  if (n == 0) return 0.0;
  double sum = 0.0;
  for (size_t i = 0; i < n; ++i) {
    const double p = std::clamp(static_cast<double>(probabilities[i]), kEps, 1.0 - kEps);
    sum -= labels[i] > 0.5f ? std::log(p) : std::log(1.0 - p);
  }
  return sum / static_cast<double>(n);
}

absl::StatusOr<GateResult> EvaluateQuantizationGate(absl::Span<const float> fp32_predictions,
                                                    absl::Span<const float> quantized_predictions,
                                                    absl::Span<const float> labels,
                                                    const GateBudgets& budgets) {
  const size_t n = fp32_predictions.size();
  if (n == 0 || quantized_predictions.size() != n || (!labels.empty() && labels.size() != n)) {
    return absl::InvalidArgumentError(
        absl::StrCat("quantization gate: ", n, " fp32 predictions, ", quantized_predictions.size(),
                     " quantized predictions and ", labels.size(),
                     " labels; expected the same non-zero count (labels may be empty)"));
  }
  GateResult result;
  double sum_abs = 0.0;
  for (size_t i = 0; i < n; ++i) {
    const float a = fp32_predictions[i], b = quantized_predictions[i];
    if (!std::isfinite(a) || !std::isfinite(b)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "quantization gate: prediction ", i, " is not finite (fp32 ", a, ", quantized ", b, ")"));
    }
    if (!labels.empty() && labels[i] != 0.0f && labels[i] != 1.0f) {
      return absl::InvalidArgumentError(
          absl::StrCat("quantization gate: label ", i, " is ", labels[i], ", expected 0 or 1"));
    }
    const double diff = std::abs(static_cast<double>(a) - b);
    result.max_abs_diff = std::max(result.max_abs_diff, diff);
    sum_abs += diff;
  }
  result.mean_abs_diff = sum_abs / static_cast<double>(n);

  std::vector<std::string> failures;
  if (!(result.max_abs_diff <= budgets.max_abs_diff)) {
    failures.push_back(absl::StrFormat("max abs diff of predictions %.3g exceeds the budget %.3g",
                                       result.max_abs_diff, budgets.max_abs_diff));
  }
  std::string note;
  if (!labels.empty()) {
    result.logloss_fp32 = ComputeLogLoss(fp32_predictions, labels);
    result.logloss_quant = ComputeLogLoss(quantized_predictions, labels);
    result.logloss_delta = *result.logloss_quant - *result.logloss_fp32;
    result.auc_fp32 = ComputeAuc(fp32_predictions, labels);
    result.auc_quant = ComputeAuc(quantized_predictions, labels);
    if (result.auc_fp32.has_value() && result.auc_quant.has_value()) {
      result.auc_delta = *result.auc_quant - *result.auc_fp32;
      if (!(std::abs(*result.auc_delta) <= budgets.auc_delta)) {
        failures.push_back(absl::StrFormat(
            "AUC delta %.3g (fp32 %.6f, quantized %.6f) exceeds "
            "the budget %.3g",
            *result.auc_delta, *result.auc_fp32, *result.auc_quant, budgets.auc_delta));
      }
    } else {
      note = "; AUC not judged: the labels hold one class only";
    }
  }
  result.passed = failures.empty();
  if (result.passed) {
    result.reason = absl::StrFormat("within budgets (max abs diff %.3g <= %.3g",
                                    result.max_abs_diff, budgets.max_abs_diff);
    if (result.auc_delta.has_value()) {
      absl::StrAppend(&result.reason,
                      absl::StrFormat(", |AUC delta| %.3g <= %.3g", std::abs(*result.auc_delta),
                                      budgets.auc_delta));
    }
    absl::StrAppend(&result.reason, ")", note);
  } else {
    result.reason = absl::StrCat(absl::StrJoin(failures, "; "), note);
  }
  return result;
}

}  // namespace rankopt
