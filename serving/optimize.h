// The pipeline behind `rankopt optimize`: load a model and its feature config, run the passes of
// the level one by one (each timed side by side with the graph before it), store the embedding
// tables int8 where the accuracy gate allows, time the result against the model as imported, and
// write a model package (serving/package/model_package.h) with the report inside. The report is
// shaped like PAI-Blade's: the machine, each step (status, before/after, speedup), the overall
// gain.
//   OptimizeModelOptions options;
//   options.model_path = "din.onnx";
//   options.config_path = "configs/din.yaml";
//   options.out_path = "din.rkp";
//   options.name = "din";
//   absl::StatusOr<OptimizeResult> result = OptimizeModel(options);
//   if (result.ok()) std::cout << FormatOptimizeReport(result->report, result->int8_text);
#ifndef RANKOPT_SERVING_OPTIMIZE_H_
#define RANKOPT_SERVING_OPTIMIZE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "graph/analysis/graph_summary.h"
#include "graph/passes/pass_pipeline.h"
#include "serving/dense_precision.h"
#include "serving/optimize_report.pb.h"
#include "serving/table_quantization.h"

namespace rankopt {

// Every timed graph runs at least this often.
inline constexpr int64_t kOptimizeMinTimedRuns = 20;
// Candidates of the synthesized timing request when OptimizeModelOptions::candidates is 0.
inline constexpr int64_t kOptimizeDefaultCandidates = 200;
// OptimizeModelOptions::time_s unless set.
inline constexpr double kOptimizeDefaultTimeS = 0.15;

// What `rankopt optimize`'s flags give.
struct OptimizeModelOptions {
  std::string model_path;            // MODEL: a TF GraphDef, SavedModel or ONNX file
  std::string config_path;           // the feature config (YAML)
  std::string out_path;              // where the package is written
  std::vector<std::string> outputs;  // the package's output heads; empty: the model's outputs
  OptLevel level = OptLevel::kO2;
  TableQuantizationMode int8 = TableQuantizationMode::kAuto;
  // The dense layers' precisions (after the int8 tables): auto picks per layer behind the gate.
  PrecisionMode precision = PrecisionMode::kAuto;
  // JSON-lines requests: the gate's sample, the first one timed, up to 8 kept as warm-up
  // requests. Empty: one request synthesized from the config.
  std::string sample_path;
  // Candidates of the timed request: without a sample, of the synthesized one (0:
  // kOptimizeDefaultCandidates); with one, its first request's candidates repeated to this many
  // (0: as sent).
  int64_t candidates = 0;
  std::string name;     // the package's model name; REQUIRES: not empty
  std::string version;  // the package's model version, free text; REQUIRES: not empty
  int threads = 1;      // threads every latency is measured with
  // Per timed graph: >= kOptimizeMinTimedRuns runs and >= this long, after a short warm-up.
  double time_s = kOptimizeDefaultTimeS;
  // Embedding tables the package names instead of carrying (serving/remote/remote_graph.h):
  // {"all"} or table names; empty: none. Their rows go to a Redis Cluster with `rankopt tables
  // publish` (from the package optimize writes without this). tables_remote_redis: the cluster
  // ("HOST:PORT,..."), recorded as the default for serving.
  std::vector<std::string> tables_remote;
  std::string tables_remote_redis;
};

struct OptimizeResult {
  serving::OptimizeReport report;
  // FormatGraphQuantizationReport's table of the int8 step; empty when it did not run.
  std::string int8_text;
  // One line per table made remote, and per table kept in the package and why.
  std::vector<std::string> remote_tables;
};

// Runs the pipeline and writes the package to options.out_path. Errors name the model, the
// sample request or the flag at fault; nothing is written on error before the package step.
// Takes seconds: every graph is timed, with options.threads threads. Calls with distinct
// out_paths may run concurrently, but then skew each other's latencies.
absl::StatusOr<OptimizeResult> OptimizeModel(const OptimizeModelOptions& options);

// What `rankopt summarize` reports on `graph`: SummarizeGraph, plus as fusion_notes what the O2
// attention fusion finds on the graph after O1's folding (fused blocks and near misses); a graph
// O1 cannot process gets one note saying so. A TF graph with feature columns also gets `lift`:
// per raw input, what LiftFeatureTransforms would lift and what stays in the graph and why.
absl::StatusOr<GraphSummaryProto> SummarizeModel(const Graph& graph);

// The default package name for `model_path`: its file stem ("din" for "models/din.onnx",
// "1593253204" for a SavedModel directory ".../1593253204/"), "model" when it has none.
std::string DefaultModelName(const std::string& model_path);

// Errors (InvalidArgument, naming out_path) when `out_path` names the model itself, which
// OptimizeModel would overwrite. OptimizeModel checks this first; a front end may call it earlier.
absl::Status CheckOptimizeOutPath(const std::string& model_path, const std::string& out_path);

// Why this build's latencies are not representative (no optimization, assertions on); empty in
// a release build.
std::vector<std::string> OptimizeBuildWarnings();

}  // namespace rankopt

#endif  // RANKOPT_SERVING_OPTIMIZE_H_
