// Embedding-table quantization of a whole model: which constants are tables, the end-to-end
// accuracy gate that runs the model with fp32 and with quantized tables on a sample of requests,
// and the rewrite that stores the tables the gate accepts as int8 (or fp16) in the graph, where
// the embedding kernels serve them (graph/kernels/embedding/embedding_kernels.h). Used by
// `rankopt quantize`, and by `rankopt run` / `rankopt bench` (--int8).
#ifndef RANKOPT_SERVING_TABLE_QUANTIZATION_H_
#define RANKOPT_SERVING_TABLE_QUANTIZATION_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "embedding/storage/embedding_table.h"
#include "embedding/storage/quantization_report.h"
#include "embedding/storage/table_file.h"  // WriteTableFile: `rankopt quantize -o`
#include "graph/exec/execution_plan.h"
#include "graph/ir/graph.h"

namespace rankopt {

// The Const nodes holding embedding tables ([rows, dim] float32). `names` == {"all"}: every such
// constant a Gather/GatherV2/ResourceGather or an embedding lookup/bag (_RankoptEmbedding*, what
// -O 1 turns Gathers into) reads (through Identity chains), in graph order;
// otherwise the named nodes, in order. Errors name the model (`where`) and suggest close names.
absl::StatusOr<std::vector<const Node*>> FindEmbeddingTables(const Graph& graph,
                                                             const std::vector<std::string>& names,
                                                             absl::string_view where);

// The fp32 values of a table Const. REQUIRES: `node` came from FindEmbeddingTables.
const Tensor& TableValue(const Node& node);

// One request of the gate's sample: graph inputs by name.
using GateSample = std::vector<NamedTensorView>;

// What the accuracy gates compare: every output of `graph` (or `outputs_wanted`, when not empty)
// for every sample, sample by sample, outputs in plan order, as one float32 vector;
// `output_names` (may be null) receives the outputs' names, comma-joined. Errors name the sample
// or the output that is not float32.
absl::StatusOr<std::vector<float>> GatePredictions(const Graph& graph,
                                                   const std::vector<GateSample>& samples,
                                                   const std::vector<std::string>& outputs_wanted,
                                                   std::string* output_names);

struct TableGateReport {
  std::string outputs;      // the predictions compared: every output of the model, comma-joined
  int64_t predictions = 0;  // values compared over the sample
  GateResult result;
};

// Runs `graph` on every sample twice, as is and with each table in `quantized` (matched to its
// Const node by EmbeddingTable::name()) replaced by its dequantized values (dequant() of
// embedding/kernels/lookup.h: exactly what the embedding kernels serve), and judges the two
// prediction vectors (every output, sample by sample, outputs in plan order) with
// EvaluateQuantizationGate. `labels`, when non-empty, has one label per prediction value.
// Errors: a table name that is no table Const of the graph, a plan or run error.
absl::StatusOr<TableGateReport> EvaluateTableQuantization(
    const Graph& graph, const std::vector<const EmbeddingTable*>& quantized,
    const std::vector<GateSample>& samples, absl::Span<const float> labels,
    const GateBudgets& budgets);

// Whether QuantizeGraphTables stores tables quantized.
enum class TableQuantizationMode {
  kOff,    // every table stays fp32
  kAuto,   // the tables the end-to-end gate accepts, alone and together
  kForce,  // every table an embedding lookup alone reads; no gate
};
// "off", "auto", "force".
absl::string_view TableQuantizationModeName(TableQuantizationMode mode);
// The names above; the error lists them.
absl::StatusOr<TableQuantizationMode> ParseTableQuantizationMode(absl::string_view text);

struct TableQuantizationOptions {
  TableQuantizationMode mode = TableQuantizationMode::kOff;
  TableDType dtype = TableDType::kInt8RowWise;  // kInt8RowWise or kFloat16
  // kAuto: the gate's sample (views must outlive the call) and, optionally, one label (0 or 1)
  // per prediction value (every output of every sample, in order).
  std::vector<GateSample> samples;
  std::vector<float> labels;
  GateBudgets budgets;
  // kAuto: a table whose NMSE exceeds table_budgets.max_nmse is not tried in the model.
  TableBudgets table_budgets;
  // The predictions the gate compares (PlanOptions::outputs); empty: the model's outputs.
  std::vector<std::string> outputs;
};

// What became of one table.
struct GraphTableQuantization {
  std::string table;  // the Const node
  int64_t rows = 0;
  int64_t dim = 0;
  std::vector<std::string> lookups;          // the embedding nodes that read it
  TableDType stored = TableDType::kFloat32;  // in the rewritten graph
  size_t bytes_fp32 = 0;
  size_t bytes_stored = 0;
  // Error figures of the table at options.dtype, when it could be quantized and was considered.
  std::optional<TableQuantizationFigures> figures;
  // kAuto: the gate with this table alone quantized.
  std::optional<GateResult> gate;
  // Why it stays fp32 (read by another op, not representable, over a budget, dropped from the
  // combined set), or how it was accepted.
  std::string reason;
};

struct GraphQuantizationReport {
  TableQuantizationMode mode = TableQuantizationMode::kOff;
  TableDType dtype = TableDType::kInt8RowWise;
  std::vector<GraphTableQuantization> tables;  // every table an embedding op or Gather reads
  // kAuto: the predictions compared, and the gate of every kept table together (absent when
  // none is kept).
  std::string outputs;
  int64_t samples = 0;
  int64_t predictions = 0;
  std::optional<GateResult> combined;
  size_t bytes_fp32 = 0;  // summed over `tables`
  size_t bytes_stored = 0;
  int kept = 0;  // tables stored quantized
};

// Rewrites `in` (after the pass pipeline: tables read by _RankoptEmbeddingLookup/Bag nodes) so
// that the chosen tables are stored as options.dtype: the table Const's value becomes the uint8
// rows [rows, row_bytes] of embedding/'s layout and every lookup reading it gets the attrs
// table_dtype and table_dim. A table is eligible when embedding lookups/bags are its only
// readers; one also read by any other op (a plain Gather at -O 0, a MatMul, an Identity, a graph
// output) stays fp32 and the report says so.
//   kOff:   `out` = `in`; the report is empty.
//   kForce: every eligible table, no gate (a table that cannot be represented, e.g. fp16
//           overflow, stays fp32).
//   kAuto:  each eligible table within table_budgets is tried alone in the model on
//           options.samples against fp32 (the served kernels, not a simulation); those that pass
//           are tried together, and while that fails the worst of them (largest gate figure
//           alone, relative to its budget) goes back to fp32.
// `out` may be `&in` (untouched on error). Errors: kAuto without samples, bad options, a model
// that does not plan or run on the sample.
absl::StatusOr<GraphQuantizationReport> QuantizeGraphTables(const Graph& in,
                                                            const TableQuantizationOptions& options,
                                                            Graph* out);

// The report as a human table: one line per table (rows x dim, bytes fp32 -> stored, NMSE,
// max abs error, gate alone, kept or why not) and the combined gate.
std::string FormatGraphQuantizationReport(const GraphQuantizationReport& report);

}  // namespace rankopt

#endif  // RANKOPT_SERVING_TABLE_QUANTIZATION_H_
