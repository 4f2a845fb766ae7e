// rankopt optimize MODEL [--features CONFIG] -o OUT.rkp [--outputs NAMES] [-O 0|1|2]
//                  [--int8 auto|off|force] [--sample REQUESTS.jsonl] [--candidates N]
//                  [--name NAME] [--model-version V] [--threads T] [--time-s S] [--json]
//
// Reads the flags into OptimizeModelOptions, runs OptimizeModel (serving/optimize.h) and prints
// its report as a table or as JSON.
#include <cstdint>
#include <iostream>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "serving/optimize.h"
#include "serving/optimize_report_text.h"
#include "tools/command_line.h"
#include "tools/commands.h"
#include "tools/optimize_spec.h"

namespace rankopt {

int RunOptimize(const std::vector<std::string>& args) {
  CommandLine line;
  int exit_code;
  if (!OpenCommand(OptimizeCommandSpec(), args, &line, &exit_code)) return exit_code;
  OptimizeModelOptions o;
  o.config_path = line.Get("features");
  o.out_path = line.Get("output");
  if (line.positional().size() != 1 || o.out_path.empty()) {
    return UsageError(OptimizeCommandSpec(), "MODEL and -o OUT.rkp are required");
  }
  o.model_path = line.positional()[0];
  o.outputs = line.GetList("outputs");
  o.sample_path = line.Get("sample");
  const bool json = line.Has("json");
  o.name = line.Get("name", DefaultModelName(o.model_path));
  o.version = line.Get("model-version", "1");
  absl::StatusOr<OptLevel> level = ParseOptLevel(line.Get("opt-level", "2"));
  absl::StatusOr<TableQuantizationMode> int8 = ParseTableQuantizationMode(line.Get("int8", "auto"));
  absl::StatusOr<PrecisionMode> precision = ParsePrecisionMode(line.Get("precision", "auto"));
  absl::StatusOr<int64_t> candidates = line.GetInt("candidates", 0, 1, int64_t{1} << 20);
  absl::StatusOr<int64_t> threads = line.GetInt("threads", 1, 1, 1024);
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
        precision.status(), candidates.status(), threads.status(), time_s_status}) {
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
  o.precision = *precision;
  o.candidates = *candidates;
  o.threads = static_cast<int>(*threads);
  o.tables_remote = line.GetList("tables-remote");
  o.tables_remote_redis = line.Get("redis");
  if (absl::Status s = CheckOptimizeOutPath(o.model_path, o.out_path); !s.ok()) {
    return ReportError("optimize", s);
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
