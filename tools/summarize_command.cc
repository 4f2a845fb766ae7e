// rankopt summarize MODEL [--json]
#include <iostream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "graph/analysis/graph_summary.h"
#include "graph/io/model_io.h"
#include "graph/passes/pass_pipeline.h"
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

// The attention fusion's findings on the graph as O2 sees it (after O1's folding): fused blocks
// and near misses. A graph O1 cannot process gets one line saying so.
void AddFusionNotes(const Graph& graph, GraphSummaryProto* summary) {
  OptimizeOptions options;
  options.disabled_passes = {"split_first_dense", "request_level",    "fuse_matmul_bias_activation",
                             "embedding_bag",     "embedding_lookup", "final_prune"};
  options.after_pass = [summary](const PassReport& report, const Graph&) {
    if (report.pass != "fuse_attention_pooling") return absl::OkStatus();
    for (const std::string& note : report.notes) {
      if (absl::StartsWith(note, "not applicable: no target attention")) continue;
      summary->add_fusion_notes(absl::StrCat("fuse_attention_pooling: ", note));
    }
    return absl::OkStatus();
  };
  Graph optimized(graph.format());
  absl::StatusOr<std::vector<PassReport>> reports =
      OptimizeGraph(graph, OptLevel::kO2, options, &optimized);
  if (!reports.ok()) {
    summary->add_fusion_notes(
        absl::StrCat("(O2 fusions not checked: ", reports.status().message(), ")"));
  }
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
  absl::StatusOr<GraphSummaryProto> summary = SummarizeGraph(*graph);
  if (!summary.ok()) return ReportError("summarize", summary.status());
  AddFusionNotes(*graph, &*summary);
  std::cout << (line.Has("json") ? FormatSummaryJson(*summary) : FormatSummaryText(*summary));
  return kExitOk;
}

}  // namespace rankopt
