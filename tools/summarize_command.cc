// rankopt summarize MODEL [--json]
#include <iostream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "graph/analysis/graph_summary.h"
#include "graph/io/model_io.h"
#include "serving/optimize.h"
#include "tools/command_line.h"
#include "tools/commands.h"

namespace rankopt {
namespace {

const CommandSpec& Spec() {
  static const CommandSpec spec = {
      "summarize",
      "rankopt summarize MODEL [--json]",
      "Inputs (with SavedModel signatures), outputs, op types with counts, constants,\n"
      "parameters and bytes, variables, control edges, FLOPs per example and the op types\n"
      "rankopt cannot run yet. MODEL: .pb/.pbtxt GraphDef, SavedModel directory, .onnx.",
      {
          {"json", "", false, "", "print the summary as JSON instead of tables"},
      }};
  return spec;
}

}  // namespace

int RunSummarize(const std::vector<std::string>& args) {
  CommandLine line;
  int exit_code;
  if (!OpenCommand(Spec(), args, &line, &exit_code)) return exit_code;
  if (line.positional().size() != 1) {
    return UsageError(Spec(), absl::StrCat("got ", line.positional().size(), " model paths"));
  }
  const std::string& path = line.positional()[0];
  absl::StatusOr<Graph> graph = LoadModel(path);
  if (!graph.ok()) return ReportError("summarize", graph.status());
  absl::StatusOr<GraphSummaryProto> summary = SummarizeModel(*graph);
  if (!summary.ok()) return ReportError("summarize", summary.status());
  std::cout << (line.Has("json") ? FormatSummaryJson(*summary) : FormatSummaryText(*summary));
  return kExitOk;
}

}  // namespace rankopt
