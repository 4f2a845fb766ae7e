// rankopt quantize MODEL --tables NAMES|all [--dtype int8|fp16] [--max-nmse X]
//                  [--sample INPUTS.json [--max-abs-diff X]] [--json] [-o OUT.rkemb]
#include <cstdio>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "core/file_io.h"
#include "google/protobuf/util/json_util.h"
#include "core/proto_json.h"
#include "graph/io/model_io.h"
#include "rankopt/status_macros.h"
#include "serving/graph_inputs.h"
#include "serving/table_quantization.h"
#include "tools/command_line.h"
#include "tools/commands.h"
#include "tools/quantize_report.pb.h"

namespace rankopt {
namespace {

const CommandSpec& Spec() {
  static const CommandSpec spec = {
      "quantize",
      "rankopt quantize MODEL --tables NAMES|all [--dtype int8|fp16] [--max-nmse X] "
      "[--sample INPUTS.json [--max-abs-diff X]] [--json] [-o OUT]",
      "Quantizes embedding tables (2-D float32 constants) to int8 row-wise (dim codes then\n"
      "an fp32 scale and bias per row) or fp16, prints each table's error against fp32\n"
      "(NMSE, max abs error, worst row) and bytes before/after, and writes the tables to a\n"
      "mmap'able table file. A table whose NMSE breaks the budget is kept fp16 or fp32.\n"
      "With --sample, runs the model on those requests with fp32 and with the quantized\n"
      "tables and judges the predictions (max/mean abs diff) against the gate's budget;\n"
      "a failed gate exits 1 and writes nothing.",
      {
          {"tables", "", true, "NAMES",
           "comma-separated Const nodes holding 2-D float32 tables, or 'all' (every table read by a "
           "Gather)"},
          {"dtype", "", true, "int8|fp16", "storage type to quantize to (default int8)"},
          {"max-nmse", "", true, "X",
           "per-table NMSE budget (default 1e-3); a table over it stays fp16 or fp32"},
          {"sample", "", true, "INPUTS.json",
           "requests (the `rankopt run --inputs` format, one per line) to run the model on with fp32 "
           "and with the quantized tables: the end-to-end gate"},
          {"max-abs-diff", "", true, "X",
           "gate budget on |p_fp32 - p_quantized| over the sample (default 1e-2)"},
          {"json", "", false, "", "print the report as JSON"},
          {"output", "o", true, "OUT", "write the quantized tables to this table file (.rkemb)"},
      }};
  return spec;
}

// Requests in the `rankopt run --inputs` format: one JSON document, or one per line.
absl::StatusOr<std::vector<TensorJsonDocument>> ReadSample(const std::string& path) {
  RANKOPT_ASSIGN_OR_RETURN(std::string text, ReadFileToString(path));
  std::vector<TensorJsonDocument> docs;
  for (const TensorJsonRequest& request : SplitTensorJsonRequests(path, text)) {
    RANKOPT_ASSIGN_OR_RETURN(TensorJsonDocument doc, ParseTensorJson(request.text, request.where));
    docs.push_back(std::move(doc));
  }
  return docs;
}

std::string FormatBytes(int64_t bytes) {
  if (bytes >= (int64_t{1} << 20)) return absl::StrFormat("%.2f MiB", bytes / 1048576.0);
  if (bytes >= 1024) return absl::StrFormat("%.1f KiB", bytes / 1024.0);
  return absl::StrCat(bytes, " B");
}

std::string FormatText(const tools::QuantizeReport& report) {
  std::string out = absl::StrFormat(
      "%s: %d table(s) to %s (NMSE budget %.3g)\n\n%-28s %9s %5s %5s %11s %11s %9s %11s %11s\n",
      report.model(), report.tables_size(), report.requested_dtype(), report.max_nmse(), "table",
      "rows", "dim", "dtype", "NMSE", "max abs err", "worst row", "bytes fp32", "bytes now");
  for (const tools::QuantizedTableReport& t : report.tables()) {
    absl::StrAppend(
        &out, absl::StrFormat("%-28s %9d %5d %5s %11.3e %11.3e %9d %11s %11s\n", t.name(), t.rows(),
                              t.dim(), t.dtype(), t.nmse(), t.max_abs_error(), t.worst_row(),
                              FormatBytes(t.bytes_before()), FormatBytes(t.bytes_after())));
  }
  const double ratio = report.bytes_after() > 0
                           ? static_cast<double>(report.bytes_before()) / report.bytes_after()
                           : 0.0;
  absl::StrAppend(&out, absl::StrFormat("\ntotal: %s -> %s (%.2fx smaller)\n",
                                        FormatBytes(report.bytes_before()),
                                        FormatBytes(report.bytes_after()), ratio));
  for (const tools::QuantizedTableReport& t : report.tables()) {
    if (!t.fallback_reason().empty()) {
      absl::StrAppend(&out, "kept ", t.name(), " as ", t.dtype(), ": ", t.fallback_reason(), "\n");
    }
  }
  if (report.has_gate()) {
    const tools::QuantizeGateReport& g = report.gate();
    absl::StrAppend(&out,
                    absl::StrFormat("\nend-to-end gate on %s (%d requests, %d values of '%s'): "
                                    "max abs diff %.3e (budget %.3g), mean abs diff %.3e: %s\n",
                                    g.sample(), g.requests(), g.predictions(), g.output(),
                                    g.max_abs_diff(), g.max_abs_diff_budget(), g.mean_abs_diff(),
                                    g.passed() ? "PASSED" : "FAILED"));
    if (!g.passed()) absl::StrAppend(&out, "  ", g.reason(), "; nothing written\n");
  }
  if (!report.output().empty()) absl::StrAppend(&out, "wrote ", report.output(), "\n");
  return out;
}

}  // namespace

int RunQuantize(const std::vector<std::string>& args) {
  CommandLine line;
  int exit_code;
  if (!OpenCommand(Spec(), args, &line, &exit_code)) return exit_code;
  const std::vector<std::string> names = line.GetList("tables");
  if (line.positional().size() != 1 || names.empty()) {
    return UsageError(Spec(), "MODEL and --tables are required");
  }
  absl::StatusOr<TableDType> dtype = ParseTableDType(line.Get("dtype", "int8"));
  if (!dtype.ok()) {
    ReportError("quantize", dtype.status());
    return kExitUsage;
  }
  TableBudgets budgets;
  if (line.Has("max-nmse") &&
      (!absl::SimpleAtod(line.Get("max-nmse"), &budgets.max_nmse) || !(budgets.max_nmse >= 0))) {
    ReportError("quantize", absl::InvalidArgumentError(
                                absl::StrCat("--max-nmse '", line.Get("max-nmse"),
                                             "' is not a number >= 0, e.g. --max-nmse 1e-3")));
    return kExitUsage;
  }
  const std::string& model_path = line.positional()[0];
  const std::string out_path = line.Get("output");

  absl::StatusOr<Graph> graph = LoadModel(model_path);
  if (!graph.ok()) return ReportError("quantize", graph.status());
  absl::StatusOr<std::vector<const Node*>> selected =
      FindEmbeddingTables(*graph, names, model_path);
  if (!selected.ok()) return ReportError("quantize", selected.status());

  tools::QuantizeReport report;
  report.set_model(model_path);
  report.set_requested_dtype(std::string(TableDTypeName(*dtype)));
  report.set_max_nmse(budgets.max_nmse);
  std::vector<EmbeddingTable> quantized;
  for (const Node* node : *selected) {
    const Tensor& value = TableValue(*node);
    absl::StatusOr<EmbeddingTable> fp32 = EmbeddingTable::FromFloat32(
        node->name, value.dims()[0], value.dims()[1], value.values<float>());
    if (!fp32.ok()) return ReportError("quantize", fp32.status());
    absl::StatusOr<QuantizedTable> q = QuantizeWithinBudget(*fp32, *dtype, budgets);
    if (!q.ok()) return ReportError("quantize", q.status());
    const TableQuantizationFigures& f = q->figures;
    tools::QuantizedTableReport* t = report.add_tables();
    t->set_name(node->name);
    t->set_rows(f.rows);
    t->set_dim(f.dim);
    t->set_requested_dtype(std::string(TableDTypeName(*dtype)));
    t->set_dtype(std::string(TableDTypeName(f.dtype)));
    t->set_nmse(f.nmse);
    t->set_max_abs_error(f.max_abs_error);
    t->set_worst_row(f.worst_row);
    t->set_worst_row_max_abs_error(f.worst_row_max_abs_error);
    t->set_bytes_before(static_cast<int64_t>(f.bytes_before));
    t->set_bytes_after(static_cast<int64_t>(f.bytes_after));
    t->set_fallback_reason(q->fallback_reason);
    report.set_bytes_before(report.bytes_before() + t->bytes_before());
    report.set_bytes_after(report.bytes_after() + t->bytes_after());
    quantized.push_back(std::move(q->table));
  }
  std::vector<const EmbeddingTable*> tables;
  for (const EmbeddingTable& t : quantized) tables.push_back(&t);
  if (line.Has("sample")) {
    GateBudgets gate_budgets;
    if (line.Has("max-abs-diff") &&
        (!absl::SimpleAtod(line.Get("max-abs-diff"), &gate_budgets.max_abs_diff) ||
         !(gate_budgets.max_abs_diff >= 0))) {
      ReportError("quantize", absl::InvalidArgumentError(absl::StrCat(
                                  "--max-abs-diff '", line.Get("max-abs-diff"),
                                  "' is not a number >= 0, e.g. --max-abs-diff 1e-2")));
      return kExitUsage;
    }
    absl::StatusOr<std::vector<TensorJsonDocument>> sample = ReadSample(line.Get("sample"));
    if (!sample.ok()) return ReportError("quantize", sample.status());
    std::vector<GateSample> feeds;
    for (const TensorJsonDocument& doc : *sample) feeds.push_back(FeedsOf(doc.inputs));
    absl::StatusOr<TableGateReport> gate =
        EvaluateTableQuantization(*graph, tables, feeds, {}, gate_budgets);
    if (!gate.ok()) return ReportError("quantize", gate.status());
    tools::QuantizeGateReport* g = report.mutable_gate();
    g->set_sample(line.Get("sample"));
    g->set_requests(static_cast<int64_t>(feeds.size()));
    g->set_output(gate->outputs);
    g->set_predictions(gate->predictions);
    g->set_max_abs_diff(gate->result.max_abs_diff);
    g->set_mean_abs_diff(gate->result.mean_abs_diff);
    g->set_max_abs_diff_budget(gate_budgets.max_abs_diff);
    g->set_passed(gate->result.passed);
    g->set_reason(gate->result.reason);
  }
  const bool gate_failed = report.has_gate() && !report.gate().passed();
  if (!out_path.empty() && !gate_failed) {
    if (absl::Status s = WriteTableFile(out_path, tables); !s.ok()) {
      return ReportError("quantize", s);
    }
    report.set_output(out_path);
  }
  if (line.Has("json")) {
    google::protobuf::util::JsonPrintOptions options;
    options.add_whitespace = true;
    options.always_print_primitive_fields = true;
    std::cout << ProtoToJson(report, options);
  } else {
    std::cout << FormatText(report);
  }
  return gate_failed ? kExitError : kExitOk;
}

}  // namespace rankopt
