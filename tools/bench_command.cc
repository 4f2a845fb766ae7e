// rankopt bench MODEL|PACKAGE [--candidates 1,16,200,512] [--threads 1,2] [--chunk C] [-O LEVEL]
//                    [--config CONFIG | --request-inputs LIST] [--requests INPUTS.json] [--warmup-s 0.3] [--min-s 1] [--json]
//                    [--int8 off|auto|force]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "google/protobuf/util/json_util.h"
#include "core/proto_json.h"
#include "graph/analysis/graph_summary.h"
#include "graph/passes/pass_pipeline.h"
#include "rankopt/model.h"
#include "rankopt/status_macros.h"
#include "serving/graph_inputs.h"
#include "serving/int8_report.h"
#include "serving/limits.h"
#include "serving/model_source.h"
#include "tools/remote_flags.h"
#include "serving/scorer.h"
#include "serving/synthetic_requests.h"
#include "serving/table_quantization.h"
#include "tools/bench_report.pb.h"
#include "tools/command_line.h"
#include "tools/commands.h"
#include "tools/optimize_flags.h"

namespace rankopt {
namespace {

const CommandSpec& Spec() {
  static const CommandSpec spec = [] {
    CommandSpec spec;
    spec.name = "bench";
    spec.usage =
        "rankopt bench MODEL|PACKAGE [--candidates 1,16,200,512] [--threads 1,2] [--chunk ROWS] "
        "[-O LEVEL] [--config CONFIG | --request-inputs LIST] [--requests INPUTS] [--warmup-s 0.3] "
        "[--min-s 1] [--no-profile] [--int8 off|auto|force] [--json] [--redis HOST:PORT,...]";
    spec.description =
        "Times the model per request of N candidates (one user x N candidate rows), each\n"
        "request on its own: latency p50/p99, candidates/s and achieved GFLOP/s per candidate\n"
        "count and thread count; candidates run in chunks, chunks in parallel (TBB). Then a\n"
        "profiling pass at the largest candidate count and the first thread count gives kernel\n"
        "time by op type (count, avg ms, %, cdf %, calls per run), like TF benchmark_model.\n"
        "Synthesized inputs: every id is a small in-range integer (1..9), every float 0.5.\n"
        "--int8 auto runs the accuracy gate on the --requests template's rows.\n"
        "PACKAGE: a model package from `rankopt optimize` (.rkp), run as packaged (its passes,\n"
        "int8 tables, output heads and request-level inputs; -O, --int8, --config and\n"
        "--request-inputs do not apply); its requests are synthesized from its feature config\n"
        "(one user, N candidates, valid values per feature kind) unless --requests is given;\n"
        "so are a model's with --config. A package with remote tables reads its rows\n"
        "from the Redis Cluster (--redis) behind the row cache (--remote-cache-mb), as\n"
        "`rankopt serve` does: the times include the fetch.";
    spec.flags = {
      {"candidates", "", true, "LIST", "candidate counts per request (default 1,16,200,512)"},
      {"threads", "", true, "LIST", "thread counts (default 1,2)"},
      {"chunk", "", true, "ROWS",
       "candidate rows per chunk (default: automatic: up to 1024 rows whose tensors fit 4 MiB, at least 64, a multiple of threads chunks)"},
      {"requests", "", true, "INPUTS",
       "a `rankopt run` inputs file; its first request's rows are tiled to each candidate "
       "count (default: synthesized inputs)"},
      {"warmup-s", "", true, "SECONDS", "warm-up per cell: >= 10 runs and >= this (default 0.3)"},
      {"min-s", "", true, "SECONDS",
       "timed per cell: >= 200 runs and >= this (default 1; >= 50 runs and >= 3 s when a run "
       "takes over 10 ms)"},
      {"no-profile", "", false, "", "skip the per-op-type profiling pass"},
      {"user-cache-mb", "", true, "MB",
       "PACKAGE only: also time Model::Score with the user-side result cache of MB MiB against "
       "it off (one synthesized user: every cached call hits; text report only)"},
      {"item-cache-mb", "", true, "MB",
       "PACKAGE only: also time Model::Score with the item cache of MB MiB against it off (one "
       "synthesized request: every cached call hits; text report only)"},
      {"json", "", false, "", "the report as JSON"},
      {"help", "h", false, "", "show this help"},
    };
    for (FlagSpec& f : OptimizeFlagSpecs("0", /*with_config=*/true)) {
      spec.flags.push_back(std::move(f));
    }
    for (FlagSpec& f : RemoteTableFlagSpecs()) spec.flags.push_back(std::move(f));
    return spec;
  }();
  return spec;
}

std::vector<std::string> BuildWarnings() {
  std::vector<std::string> warnings;
#ifndef __OPTIMIZE__
  warnings.push_back("built without optimization: these numbers are not representative");
#endif
#ifndef NDEBUG
  warnings.push_back(
      "assertions are on (NDEBUG not defined): these numbers are slower than a "
      "release build");
#endif
  return warnings;
}

absl::StatusOr<std::vector<int64_t>> ParseIntList(const CommandLine& line, const char* flag,
                                                  std::vector<int64_t> fallback, int64_t min) {
  std::vector<std::string> items = line.GetList(flag);
  if (items.empty()) return fallback;
  std::vector<int64_t> out;
  for (const std::string& item : items) {
    int64_t v = 0;
    if (!absl::SimpleAtoi(item, &v) || v < min || v > (int64_t{1} << 24)) {
      return absl::InvalidArgumentError(absl::StrCat("--", flag, ": '", item,
                                                     "' is not an integer in [", min,
                                                     ", 16777216]; e.g. --", flag, " 1,16,200"));
    }
    out.push_back(v);
  }
  return out;
}

absl::StatusOr<double> ParseSeconds(const CommandLine& line, const char* flag, double fallback) {
  if (!line.Has(flag)) return fallback;
  double v = 0;
  if (!absl::SimpleAtod(line.Get(flag), &v) || !(v >= 0) || v > 3600) {
    return absl::InvalidArgumentError(absl::StrCat("--", flag, ": '", line.Get(flag),
                                                   "' is not a number of seconds in [0, 3600]"));
  }
  return v;
}

using Clock = std::chrono::steady_clock;

double SecondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

struct Timing {
  std::vector<double> us;  // sorted
};

double Percentile(const std::vector<double>& sorted, double p) {
  if (sorted.empty()) return 0;
  const size_t i = static_cast<size_t>(p * static_cast<double>(sorted.size() - 1) + 0.5);
  return sorted[std::min(i, sorted.size() - 1)];
}

// Warm-up (>= 10 runs and >= warmup_s), then >= 200 runs and >= min_s (>= 50 runs and >= 3 s
// when the warm-up's median run exceeds 10 ms), each run timed on its own.
absl::StatusOr<Timing> TimeRequests(const Scorer& scorer,
                                    const std::vector<NamedTensorView>& feeds, double warmup_s,
                                    double min_s) {
  ChunkedOutputs outputs;  // kept across runs, as a serving thread keeps its context
  std::vector<double> warm;
  const Clock::time_point warm_start = Clock::now();
  while (warm.size() < 10 || SecondsSince(warm_start) < warmup_s) {
    const Clock::time_point t0 = Clock::now();
    RANKOPT_RETURN_IF_ERROR(scorer.Run(feeds, &outputs));
    warm.push_back(SecondsSince(t0));
  }
  std::sort(warm.begin(), warm.end());
  size_t min_runs = 200;
  if (Percentile(warm, 0.5) > 0.010) {
    min_runs = 50;
    min_s = std::max(min_s, 3.0);
  }
  Timing timing;
  timing.us.reserve(min_runs * 2);
  const Clock::time_point start = Clock::now();
  while (timing.us.size() < min_runs || SecondsSince(start) < min_s) {
    const Clock::time_point t0 = Clock::now();
    RANKOPT_RETURN_IF_ERROR(scorer.Run(feeds, &outputs));
    timing.us.push_back(SecondsSince(t0) * 1e6);
  }
  std::sort(timing.us.begin(), timing.us.end());
  return timing;
}

std::string Duration(double us) {
  if (us < 1000) return absl::StrFormat("%.1f us", us);
  if (us < 1e6) return absl::StrFormat("%.3f ms", us / 1000);
  return absl::StrFormat("%.3f s", us / 1e6);
}

std::string SeparabilityText(SeparabilityState s) {
  switch (s) {
    case SeparabilityState::kSeparable:
      return "separable (verified bitwise on the first chunked request)";
    case SeparabilityState::kNotSeparable:
      return "not separable: every request ran unchunked";
    case SeparabilityState::kUnknown:
      break;
  }
  return "unknown (no request was split)";
}

struct BenchConfig {
  std::vector<int64_t> candidates;
  std::vector<int64_t> threads;
  int64_t chunk = 0;
  double warmup_s = 0.3;
  double min_s = 1;
  // A package's request-level inputs (ChunkedRunnerOptions::request_level_inputs).
  std::vector<std::string> request_level_inputs;
};

// Where each request comes from: the --requests template, else a feature config (the scorer's),
// else the plan's declared inputs.
struct RequestSource {
  std::optional<RequestTemplate> tiled;
  // The feature config's table rows, when requests are synthesized from it.
  std::optional<absl::flat_hash_map<std::string, int64_t>> table_rows;
};

absl::StatusOr<std::vector<NamedTensor>> RequestFor(const RequestSource& source,
                                                    const Scorer& scorer, int64_t n) {
  if (source.tiled.has_value()) return TileRequest(*source.tiled, scorer.plan(), n);
  if (source.table_rows.has_value()) return SynthesizeScorerInputs(scorer, *source.table_rows, n);
  return SynthesizeGraphInputs(scorer.plan().inputs(), n);
}

// The scorer Model::Score would build for this model (a package's outputs and request-level
// inputs, the feature config's one-row inputs) at `threads` threads.
absl::StatusOr<std::unique_ptr<Scorer>> MakeScorer(const Graph& graph,
                                                   const std::optional<FeatureConfig>& config,
                                                   const ScorerOptions& base, int64_t threads,
                                                   bool profile) {
  ScorerOptions options = base;
  options.threads = static_cast<int>(threads);
  options.profile = profile;
  return Scorer::Create(&graph, config, std::move(options));
}

// The per-op-type table: a scorer whose kernels are timed, run at one cell.
absl::Status Profile(const Graph& graph, const std::optional<FeatureConfig>& feature_config,
                     const ScorerOptions& base, const RequestSource& t, const BenchConfig& config,
                     tools::BenchReport* report) {
  const int64_t n = *std::max_element(config.candidates.begin(), config.candidates.end());
  const int64_t threads = config.threads.front();
  RANKOPT_ASSIGN_OR_RETURN(std::unique_ptr<Scorer> scorer,
                           MakeScorer(graph, feature_config, base, threads, /*profile=*/true));
  RANKOPT_ASSIGN_OR_RETURN(std::vector<NamedTensor> request, RequestFor(t, *scorer, n));
  const std::vector<NamedTensorView> feeds = FeedsOf(request);
  ChunkedOutputs outputs;
  for (int i = 0; i < 10; ++i) RANKOPT_RETURN_IF_ERROR(scorer->Run(feeds, &outputs));
  scorer->ResetProfile();
  int64_t runs = 0;
  const Clock::time_point start = Clock::now();
  while (runs < 100 || SecondsSince(start) < config.min_s / 2) {
    RANKOPT_RETURN_IF_ERROR(scorer->Run(feeds, &outputs));
    ++runs;
  }
  const double wall_s = SecondsSince(start);
  report->set_profile_candidates(n);
  report->set_profile_threads(static_cast<int32_t>(threads));
  report->set_profile_runs(runs);
  report->set_profile_wall_ms(wall_s * 1e3 / static_cast<double>(runs));
  const std::vector<OpTypeProfile> rows = scorer->ProfileByOpType();
  int64_t total_ns = 0;
  for (const OpTypeProfile& row : rows) total_ns += row.total_ns;
  double cdf = 0;
  for (const OpTypeProfile& row : rows) {
    if (row.nodes == 0) continue;
    tools::BenchOpType* op = report->add_op_types();
    op->set_op(row.op);
    op->set_count(row.nodes);
    op->set_avg_ms(static_cast<double>(row.total_ns) / 1e6 / static_cast<double>(runs));
    const double percent =
        total_ns > 0 ? 100.0 * static_cast<double>(row.total_ns) / static_cast<double>(total_ns)
                     : 0;
    cdf += percent;
    op->set_percent(percent);
    op->set_cdf_percent(cdf);
    op->set_calls(static_cast<double>(row.calls) / static_cast<double>(runs));
  }
  for (const NodeKernelProfile& row : scorer->ProfileByNode()) {
    tools::BenchNodeKernel* node = report->add_node_kernels();
    node->set_node(row.node);
    node->set_op(row.op);
    node->set_kernel(row.kernel);
    node->set_avg_us(static_cast<double>(row.total_ns) / 1e3 / static_cast<double>(runs));
    node->set_calls(static_cast<double>(row.calls) / static_cast<double>(runs));
  }
  return absl::OkStatus();
}

// report.int8 from QuantizeGraphTables' report.
// `int8_text`: FormatGraphQuantizationReport's table, empty with --int8 off.
void PrintText(const tools::BenchReport& report, const std::string& int8_text) {
  std::cout << "model: " << report.model() << "  -O " << report.opt_level()
            << "  inputs: " << report.inputs() << "\n";
  if (report.passes_size() > 0) {
    std::cout << "passes:";
    for (const tools::BenchPass& p : report.passes()) {
      std::cout << " " << p.pass() << (p.changed() ? "" : " (no change)") << ";";
    }
    std::cout << " nodes " << report.passes(0).nodes_before() << " -> "
              << report.passes(report.passes_size() - 1).nodes_after() << "\n";
  }
  std::cout << int8_text;
  std::cout << "FLOPs per candidate: " << report.flops_per_candidate()
            << (report.flops_complete() ? "" : " (lower bound: some ops are not modelled)")
            << "\nrow separability: " << report.separability() << "\n\n";
  std::cout << absl::StrFormat("%10s %7s %6s %7s %12s %12s %14s %9s\n", "candidates", "threads",
                               "chunk", "runs", "p50", "p99", "candidates/s", "GFLOP/s");
  for (const tools::BenchCell& c : report.cells()) {
    std::cout << absl::StrFormat("%10d %7d %6d %7d %12s %12s %14.0f %9.2f\n", c.candidates(),
                                 c.threads(), c.chunk_rows(), c.runs(), Duration(c.p50_us()),
                                 Duration(c.p99_us()), c.candidates_per_s(), c.gflops_per_s());
  }
  if (report.profile_runs() == 0) return;  // --no-profile
  std::cout << absl::StrFormat(
      "\nSummary by op type (%d candidates, %d thread%s, %d runs; %.3f ms wall per run; kernel "
      "time summed over threads):\n",
      report.profile_candidates(), report.profile_threads(),
      report.profile_threads() == 1 ? "" : "s", report.profile_runs(), report.profile_wall_ms());
  std::cout << absl::StrFormat("%-24s %6s %10s %8s %8s %8s\n", "[op type]", "[count]", "[avg ms]",
                               "[%]", "[cdf %]", "[calls]");
  for (const tools::BenchOpType& op : report.op_types()) {
    std::cout << absl::StrFormat("%-24s %6d %10.4f %7.2f%% %7.2f%% %8.0f\n", op.op(), op.count(),
                                 op.avg_ms(), op.percent(), op.cdf_percent(), op.calls());
  }
  if (report.node_kernels_size() == 0) return;
  std::cout << "\nKernel per dense layer:\n"
            << absl::StrFormat("%-48s %-18s %10s %8s\n", "[node]", "[kernel]", "[avg us]",
                               "[calls]");
  for (const tools::BenchNodeKernel& n : report.node_kernels()) {
    std::cout << absl::StrFormat("%-48s %-18s %10.1f %8.0f\n", n.node(), n.kernel(), n.avg_us(),
                                 n.calls());
  }
}

}  // namespace


// --user-cache-mb / --item-cache-mb (`kind` "user" / "item"): Model::Score of a synthesized
// request with that cache off and on, at every candidate count and the first thread count; the
// text lines to print.
absl::StatusOr<std::string> BenchCache(const CommandLine& line, const std::string& kind,
                                       const std::string& model_path, const ModelSource& source,
                                       const BenchConfig& config) {
  const std::string flag = absl::StrCat(kind, "-cache-mb");
  const bool item = kind == "item";
  int64_t mb = 0;
  if (!absl::SimpleAtoi(line.Get(flag), &mb) || mb < 1 || mb > (int64_t{1} << 20)) {
    return absl::InvalidArgumentError(absl::StrCat("--", flag, ": '", line.Get(flag),
                                                   "' is not an integer in [1, 1048576]"));
  }
  if (!source.package.has_value() || !source.feature_config.has_value()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--", flag, " times Model::Score, which needs a model package (rankopt optimize -o)"));
  }
  const int64_t threads = config.threads.front();
  std::string out = absl::StrFormat(
      "\nModel::Score with the %s cache (%d MiB; one synthesized request: every cached call "
      "hits), %d thread%s:\n%10s %14s %14s %9s\n",
      item ? "item" : "user", mb, threads, threads == 1 ? "" : "s", "candidates", "off p50",
      "on p50", "speedup");
  for (int64_t n : config.candidates) {
    const Request request = SynthesizeFeatureRequest(
        *source.feature_config, TableRowsOf(*source.feature_config, source.graph), n);
    double p50[2] = {0, 0};
    for (int on = 0; on < 2; ++on) {
      ModelOptions options;
      options.threads = static_cast<int>(threads);
      CacheOptions& cache = item ? options.item_cache : options.user_cache;
      cache.capacity_bytes = on ? static_cast<size_t>(mb) << 20 : 0;
      RANKOPT_ASSIGN_OR_RETURN(std::shared_ptr<const Model> model,
                               Model::Load(model_path, options));
      if (on && !item && !model->user_cache_enabled()) {
        return absl::StrCat(out, "  not applicable: the package has no request-level part\n");
      }
      if (on && item && !model->item_cache_enabled()) {
        return absl::StrCat(out, "  not applicable: the package has no item-level work\n");
      }
      Scores scores;
      std::vector<double> us;
      const auto begin = std::chrono::steady_clock::now();
      for (int i = 0; i < 10 || std::chrono::duration<double>(std::chrono::steady_clock::now() -
                                                               begin).count() < config.min_s;
           ++i) {
        const auto s = std::chrono::steady_clock::now();
        RANKOPT_RETURN_IF_ERROR(model->ScoreInto(request, {}, &scores));
        if (i >= 3) {
          us.push_back(
              std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - s)
                  .count());
        }
      }
      std::sort(us.begin(), us.end());
      p50[on] = us[us.size() / 2];
    }
    absl::StrAppend(&out, absl::StrFormat("%10d %14s %14s %8.2fx\n", n, Duration(p50[0]),
                                          Duration(p50[1]), p50[0] / p50[1]));
  }
  return out;
}

int RunBench(const std::vector<std::string>& args) {
  CommandLine line;
  int exit_code;
  if (!OpenCommand(Spec(), args, &line, &exit_code)) return exit_code;
  if (line.positional().size() != 1) return UsageError(Spec(), "one MODEL is required");
  BenchConfig config;
  absl::StatusOr<std::vector<int64_t>> candidates =
      ParseIntList(line, "candidates", {1, 16, 200, 512}, 1);
  absl::StatusOr<std::vector<int64_t>> threads = ParseIntList(line, "threads", {1, 2}, 1);
  absl::StatusOr<std::vector<int64_t>> chunk = ParseIntList(line, "chunk", {0}, 1);
  absl::StatusOr<double> warmup_s = ParseSeconds(line, "warmup-s", 0.3);
  absl::StatusOr<double> min_s = ParseSeconds(line, "min-s", 1);
  for (const absl::Status& s :
       {candidates.status(), threads.status(), chunk.status(), warmup_s.status(), min_s.status()}) {
    if (!s.ok()) {
      ReportError("bench", s);
      return kExitUsage;
    }
  }
  // The serving library's limits (rankopt/model.h), as Model::Score applies them.
  const ModelOptions limits;
  for (int64_t n : *candidates) {
    if (absl::Status s = CheckCandidateCount(n, limits, "--candidates"); !s.ok()) {
      ReportError("bench", s);
      return kExitUsage;
    }
  }
  config.candidates = *candidates;
  config.threads = *threads;
  config.chunk = chunk->back();
  config.warmup_s = *warmup_s;
  config.min_s = *min_s;
  absl::StatusOr<OptimizeFlags> optimize = ReadOptimizeFlags(line, "0");
  if (!optimize.ok()) {
    ReportError("bench", optimize.status());
    return kExitUsage;
  }
  const std::string& model_path = line.positional()[0];
  const bool json = line.Has("json");
  absl::StatusOr<ModelSource> source = LoadModelSource(model_path, limits);
  if (!source.ok()) return ReportError("bench", source.status());
  if (absl::Status s = CheckNoFlagsForPackage(
          *source, line, {"opt-level", "int8", "config", "request-inputs"});
      !s.ok()) {
    ReportError("bench", s);
    return kExitUsage;
  }
  const bool package = source->package.has_value();
  OptLevel package_level = OptLevel::kO0;
  if (package) {
    package_level = ParseOptLevel(source->package->opt_level).value_or(OptLevel::kO0);
    config.request_level_inputs = source->request_level_inputs;
  }
  // A package's passes already ran: its level is reported, nothing runs again.
  const OptLevel* level = package ? &package_level : &optimize->level;

  tools::BenchReport report;
  report.set_model(source->Describe());
  report.set_opt_level(static_cast<int>(*level));
  for (const std::string& w : BuildWarnings()) {
    report.add_warnings(w);
    std::cerr << "WARNING: " << w << "\n";
    if (!json) std::cout << "WARNING: " << w << "\n";
  }

  Graph* const graph = &source->graph;
  // FLOPs of the model as imported (the passes' fused ops have no FLOPs model; the work is the
  // same).
  absl::StatusOr<GraphSummaryProto> summary = SummarizeGraph(*graph);
  if (summary.ok()) {
    report.set_flops_per_candidate(summary->flops_per_example());
    report.set_flops_complete(summary->flops_complete());
  }
  if (*level != OptLevel::kO0 && !package) {
    OptimizeOptions options;
    options.request_inputs = optimize->request_inputs;
    absl::StatusOr<std::vector<PassReport>> passes =
        OptimizeGraph(*graph, *level, options, &*graph);
    if (!passes.ok()) {
      return ReportError("bench",
                         absl::Status(passes.status().code(),
                                      absl::StrCat(model_path, ": ", passes.status().message())));
    }
    for (const PassReport& pass : *passes) {
      tools::BenchPass* p = report.add_passes();
      p->set_pass(pass.pass);
      p->set_changed(pass.changed);
      p->set_nodes_before(pass.nodes_before);
      p->set_nodes_after(pass.nodes_after);
      for (const std::string& note : pass.notes) p->add_notes(note);
    }
  }
  // Every scorer below is the one Model::Score builds for this model (at each thread count).
  ScorerOptions base;
  base.outputs = source->outputs;
  base.chunk_rows = config.chunk;
  base.request_level_inputs = config.request_level_inputs;
  base.request_inputs = optimize->request_inputs;
  base.memory_cap_bytes = limits.max_request_bytes;
  // A package with remote tables: every scorer reads through one RemoteTables (cluster, cache).
  absl::StatusOr<RemoteTableOptions> remote_options = ReadRemoteTableFlags(line);
  if (!remote_options.ok()) {
    ReportError("bench", remote_options.status());
    return kExitUsage;
  }
  absl::StatusOr<std::shared_ptr<const RemoteTables>> remote_tables =
      OpenRemoteTables(*graph, *remote_options);
  if (!remote_tables.ok()) {
    return ReportError("bench", absl::Status(remote_tables.status().code(),
                                             absl::StrCat(model_path, ": ",
                                                          remote_tables.status().message())));
  }
  base.remote_tables = *std::move(remote_tables);
  RequestSource requests;
  std::optional<RequestTemplate>& request_template = requests.tiled;
  // The feature config requests are synthesized from (a package's, or --config).
  std::optional<FeatureConfig> feature_config;
  if (!line.Has("requests") &&
      (source->feature_config.has_value() || line.Has("config"))) {
    // One user per request, as -O 2's request-level inputs require.
    if (!source->feature_config.has_value()) {
      absl::StatusOr<FeatureConfig> config = LoadFeatureConfig(line.Get("config"));
      if (!config.ok()) return ReportError("bench", config.status());
      source->feature_config = *std::move(config);
    }
    feature_config = source->feature_config;
    requests.table_rows = TableRowsOf(*source->feature_config, *graph);
  }
  absl::StatusOr<std::unique_ptr<Scorer>> scorer =
      MakeScorer(*graph, feature_config, base, config.threads.front(), /*profile=*/false);
  if (!scorer.ok()) {
    return ReportError("bench",
                       absl::Status(scorer.status().code(),
                                    absl::StrCat(model_path, ": ", scorer.status().message())));
  }
  if (line.Has("requests")) {
    absl::StatusOr<RequestTemplate> t = LoadRequestTemplate(line.Get("requests"), (*scorer)->plan());
    if (!t.ok()) return ReportError("bench", t.status());
    request_template = std::move(*t);
    report.set_inputs(absl::StrCat(line.Get("requests"), " (first request's ",
                                   request_template->rows, " rows tiled)"));
  } else if (feature_config.has_value()) {
    report.set_inputs(absl::StrCat(
        "synthesized from ", package ? "the package's feature config" : line.Get("config"),
        " (one user; valid values per feature kind)"));
  } else {
    report.set_inputs("synthesized (ids 1..9, floats 0.5)");
  }
  std::string int8_text;
  if (optimize->int8 != TableQuantizationMode::kOff) {
    scorer->reset();  // its plan views the tables about to be replaced
    TableQuantizationOptions quantization;
    quantization.mode = optimize->int8;
    std::vector<NamedTensorView> sample;
    std::string sample_text;
    if (optimize->int8 == TableQuantizationMode::kAuto && request_template.has_value()) {
      sample = FeedsOf(request_template->tensors);
      quantization.samples = {sample};
      sample_text = absl::StrCat(line.Get("requests"), " (first request, ",
                                 request_template->rows, " rows)");
    }
    absl::StatusOr<GraphQuantizationReport> tables =
        QuantizeGraphTables(*graph, quantization, &*graph);
    if (!tables.ok()) {
      return ReportError("bench",
                         absl::Status(tables.status().code(),
                                      absl::StrCat(model_path, ": --int8 ",
                                                   TableQuantizationModeName(optimize->int8), ": ",
                                                   tables.status().message())));
    }
    FillInt8Report(*tables, report.mutable_int8());
    report.mutable_int8()->set_sample(sample_text);
    int8_text = FormatGraphQuantizationReport(*tables);
    scorer = MakeScorer(*graph, feature_config, base, config.threads.front(), /*profile=*/false);
    if (!scorer.ok()) {
      return ReportError("bench",
                         absl::Status(scorer.status().code(),
                                      absl::StrCat(model_path, ": ", scorer.status().message())));
    }
  }

  SeparabilityState separability = SeparabilityState::kUnknown;
  for (int64_t n : config.candidates) {
    absl::StatusOr<std::vector<NamedTensor>> request = RequestFor(requests, **scorer, n);
    if (!request.ok()) return ReportError("bench", request.status());
    const std::vector<NamedTensorView> feeds = FeedsOf(*request);
    for (int64_t t : config.threads) {
      absl::StatusOr<std::unique_ptr<Scorer>> cell_scorer =
          MakeScorer(*graph, feature_config, base, t, /*profile=*/false);
      if (!cell_scorer.ok()) return ReportError("bench", cell_scorer.status());
      absl::StatusOr<Timing> timing =
          TimeRequests(**cell_scorer, feeds, config.warmup_s, config.min_s);
      if (!timing.ok()) {
        return ReportError("bench",
                           absl::Status(timing.status().code(),
                                        absl::StrCat(model_path, " at ", n, " candidates, ", t,
                                                     " threads: ", timing.status().message())));
      }
      const SeparabilityState s = (*cell_scorer)->runner().separability();
      if (s != SeparabilityState::kUnknown) separability = s;
      tools::BenchCell* cell = report.add_cells();
      cell->set_candidates(n);
      cell->set_threads(static_cast<int32_t>(t));
      cell->set_chunk_rows(
          s == SeparabilityState::kSeparable ? std::min(n, (*cell_scorer)->runner().ChunkRowsFor(n)) : n);
      cell->set_runs(static_cast<int64_t>(timing->us.size()));
      const double p50 = Percentile(timing->us, 0.5);
      cell->set_p50_us(p50);
      cell->set_p99_us(Percentile(timing->us, 0.99));
      double sum = 0;
      for (double us : timing->us) sum += us;
      cell->set_mean_us(sum / static_cast<double>(timing->us.size()));
      cell->set_min_us(timing->us.front());
      cell->set_candidates_per_s(static_cast<double>(n) / (p50 * 1e-6));
      cell->set_gflops_per_s(static_cast<double>(report.flops_per_candidate()) *
                             static_cast<double>(n) / (p50 * 1e-6) / 1e9);
    }
  }
  report.set_separability(SeparabilityText(separability));
  std::string cache_text;
  for (const std::string kind : {"user", "item"}) {
    if (!line.Has(absl::StrCat(kind, "-cache-mb"))) continue;
    absl::StatusOr<std::string> text = BenchCache(line, kind, model_path, *source, config);
    if (!text.ok()) return ReportError("bench", text.status());
    absl::StrAppend(&cache_text, *text);
  }
  if (!line.Has("no-profile")) {
    if (absl::Status s = Profile(*graph, feature_config, base, requests, config, &report);
        !s.ok()) {
      return ReportError("bench", s);
    }
  }

  if (!json) {
    PrintText(report, int8_text);
    std::cout << cache_text;
    return kExitOk;
  }
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  options.add_whitespace = true;
  std::cout << ProtoToJson(report, options) << "\n";
  return kExitOk;
}

}  // namespace rankopt
