// rankopt optimize MODEL --features CONFIG -o OUT.rkp [--outputs NAMES] [-O 0|1|2]
//                  [--int8 auto|off|force] [--sample REQUESTS.jsonl] [--candidates N]
//                  [--name NAME] [--model-version V] [--threads T] [--time-s S] [--json]
//
// Reads the flags into OptimizeModelOptions, runs OptimizeModel (serving/optimize.h) and prints
// its report as a table or as JSON.
#include <cstdint>
#include <filesystem>
#include <iostream>
#include <string>
#include <system_error>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "serving/optimize.h"
#include "serving/optimize_report_text.h"
#include "tools/command_line.h"
#include "tools/commands.h"

namespace rankopt {
namespace {

namespace fs = std::filesystem;

const CommandSpec& Spec() {
  static const CommandSpec spec = {
      "optimize",
      "rankopt optimize MODEL --features CONFIG -o OUT.rkp [--outputs NAMES] [-O 0|1|2] "
      "[--int8 auto|off|force] [--sample REQUESTS.jsonl] [--candidates N] [--name NAME] "
      "[--model-version V] [--threads T] [--time-s SECONDS] [--json]",
      "Runs the passes of the optimization level one by one on MODEL, then stores the\n"
      "embedding tables int8 where the accuracy gate allows, and writes a model package (.rkp:\n"
      "the optimized graph, its output heads and request-level inputs, the feature config,\n"
      "warm-up requests and this report) that `rankopt run`, `rankopt bench` and the serving\n"
      "library load. The report, like PAI-Blade's: the machine and build; per pass its status\n"
      "(effective / not applicable / skipped, and why), nodes, parameters and constant bytes\n"
      "before and after, and the latency of the graph it left (median on the sample's first\n"
      "request with --threads threads, timed alternating with the graph before it so that\n"
      "machine noise hits both alike; a pass that changed nothing reuses the previous figure);\n"
      "the int8 step (tables kept int8 or fp32 and why, the gate's prediction diffs); overall:\n"
      "the model as imported (O0, fp32) against the package, timed side by side too.\n"
      "Without --sample one request (one user, --candidates candidates) is synthesized from\n"
      "the config, every value valid for its feature's kind.",
      {
          {"features", "", true, "CONFIG",
           "the feature config (YAML; required): transforms the sample requests, names the "
           "request-level (user/context) inputs for -O 2, and goes into the package"},
          {"output", "o", true, "OUT.rkp", "where to write the model package (required)"},
          {"outputs", "", true, "NAMES",
           "comma-separated tensors the package computes, its output heads (default: the model's "
           "outputs)"},
          {"opt-level", "O", true, "LEVEL",
           "0 the graph as is; 1 folding, fusion, embedding lookups; 2 (default) also the "
           "request-level split (user side once per request, fused DIN attention)"},
          {"int8", "", true, "auto|off|force",
           "embedding tables read only by embedding lookups stored int8 row-wise: auto (default) "
           "each table whose predictions on the sample stay within the accuracy gate (max abs diff "
           "1e-2), alone and together; off; force every eligible table, no gate"},
          {"sample", "", true, "REQUESTS.jsonl",
           "JSON-lines requests ({\"user\", \"context\", \"candidates\"}): the accuracy gate's "
           "sample, the first one timed, up to 8 kept as the package's warm-up requests (default: "
           "one request synthesized from the config)"},
          {"candidates", "", true, "N",
           "candidates of the timed request: without --sample, of the synthesized request (default "
           "200); with --sample, the first request's candidates repeated to N (default: as sent)"},
          {"name", "", true, "NAME", "the package's model name (default: MODEL's file stem)"},
          {"model-version", "", true, "V", "the package's model version, free text (default 1)"},
          {"threads", "", true, "T", "threads every latency is measured with (default 1)"},
          {"time-s", "", true, "SECONDS",
           "per timed graph: >= 20 runs and >= this long, after a short warm-up (default 0.15)"},
          {"json", "", false, "", "the report as JSON instead of the table"},
          {"tables-remote", "", true, "all|TABLES",
           "name these embedding tables instead of carrying them: their rows are served from a "
           "Redis Cluster (publish them with `rankopt tables publish` from a package built "
           "without this flag)"},
          {"redis", "", true, "HOST:PORT,...",
           "with --tables-remote: the cluster serving uses unless told another"},
      }};
  return spec;
}

absl::StatusOr<int64_t> IntFlag(const CommandLine& line, const char* flag, int64_t fallback,
                                int64_t min, int64_t max) {
  if (!line.Has(flag)) return fallback;
  int64_t v = 0;
  if (!absl::SimpleAtoi(line.Get(flag), &v) || v < min || v > max) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--", flag, ": '", line.Get(flag), "' is not an integer in [", min, ", ", max, "]"));
  }
  return v;
}

bool SamePath(const std::string& a, const std::string& b) {
  std::error_code error;
  if (fs::equivalent(a, b, error)) return true;
  return fs::weakly_canonical(a, error) == fs::weakly_canonical(b, error) && !error;
}

// "din" for "models/din.onnx", "1593253204" for a SavedModel directory "…/1593253204/".
std::string ModelStem(const std::string& path) {
  fs::path p = fs::path(path).lexically_normal();
  if (p.filename().empty()) p = p.parent_path();
  std::string stem = p.stem().string();
  return stem.empty() ? "model" : stem;
}

}  // namespace

int RunOptimize(const std::vector<std::string>& args) {
  CommandLine line;
  int exit_code;
  if (!OpenCommand(Spec(), args, &line, &exit_code)) return exit_code;
  OptimizeModelOptions o;
  o.config_path = line.Get("features");
  o.out_path = line.Get("output");
  if (line.positional().size() != 1 || o.config_path.empty() || o.out_path.empty()) {
    return UsageError(Spec(), "MODEL, --features CONFIG and -o OUT.rkp are required");
  }
  o.model_path = line.positional()[0];
  o.outputs = line.GetList("outputs");
  o.sample_path = line.Get("sample");
  const bool json = line.Has("json");
  o.name = line.Get("name", ModelStem(o.model_path));
  o.version = line.Get("model-version", "1");
  absl::StatusOr<OptLevel> level = ParseOptLevel(line.Get("opt-level", "2"));
  absl::StatusOr<TableQuantizationMode> int8 = ParseTableQuantizationMode(line.Get("int8", "auto"));
  absl::StatusOr<int64_t> candidates = IntFlag(line, "candidates", 0, 1, int64_t{1} << 20);
  absl::StatusOr<int64_t> threads = IntFlag(line, "threads", 1, 1, 1024);
  absl::Status time_s_status = absl::OkStatus();
  if (line.Has("time-s") &&
      (!absl::SimpleAtod(line.Get("time-s"), &o.time_s) || !(o.time_s >= 0) || o.time_s > 600)) {
    time_s_status = absl::InvalidArgumentError(absl::StrCat(
        "--time-s: '", line.Get("time-s"), "' is not a number of seconds in [0, 600]"));
  }
  for (absl::Status s :
       {level.status(),
        int8.ok() ? int8.status()
                  : absl::InvalidArgumentError(absl::StrCat("--int8: ", int8.status().message())),
        candidates.status(), threads.status(), time_s_status}) {
    if (!s.ok()) {
      ReportError("optimize", s);
      return kExitUsage;
    }
  }
  if (o.name.empty() || o.version.empty()) {
    ReportError("optimize", absl::InvalidArgumentError("--name and --model-version must not be "
                                                       "empty"));
    return kExitUsage;
  }
  o.level = *level;
  o.int8 = *int8;
  o.candidates = *candidates;
  o.threads = static_cast<int>(*threads);
  o.tables_remote = line.GetList("tables-remote");
  o.tables_remote_redis = line.Get("redis");
  if (SamePath(o.model_path, o.out_path)) {
    return ReportError(
        "optimize", absl::InvalidArgumentError(absl::StrCat(
                        o.out_path, ": refusing to overwrite the input model; pick another -o")));
  }
  for (const std::string& w : OptimizeBuildWarnings()) std::cerr << "WARNING: " << w << "\n";

  absl::StatusOr<OptimizeResult> result = OptimizeModel(o);
  if (!result.ok()) return ReportError("optimize", result.status());
  for (const std::string& note : result->remote_tables) std::cerr << note << "\n";
  if (!json) {
    std::cout << FormatOptimizeReport(result->report, result->int8_text);
    return kExitOk;
  }
  const std::string text = OptimizeReportToJson(result->report, /*pretty=*/true);
  if (text.empty()) {
    return ReportError("optimize", absl::InternalError("cannot print the JSON report"));
  }
  std::cout << text << "\n";
  return kExitOk;
}

}  // namespace rankopt
