// rankopt prune MODEL --outputs NAMES [--inputs NAMES] -o OUT
#include <filesystem>
#include <iostream>

#include "absl/strings/str_cat.h"
#include "graph/io/model_io.h"
#include "graph/passes/prune.h"
#include "tools/command_line.h"
#include "tools/commands.h"

namespace rankopt {
namespace {

const CommandSpec& Spec() {
  static const CommandSpec spec = {
      "prune",
      "rankopt prune MODEL --outputs NAMES [--inputs NAMES] -o OUT",
      "Keeps exactly what the named outputs need (data and control dependencies), cuts\n"
      "everything upstream of --inputs, rewires Identity chains and drops NoOp, Assert,\n"
      "CheckNumerics and save/restore/training nodes nothing needs. OUT has MODEL's\n"
      "format (a SavedModel is written as a directory with its variables frozen).",
      {
          {"outputs", "", true, "NAMES",
           "comma-separated tensors to keep: node, node:port, ONNX tensor or signature output key"},
          {"inputs", "", true, "NAMES", "comma-separated tensors that become graph inputs"},
          {"output", "o", true, "OUT", "where to write the pruned model (same format as MODEL)"},
      }};
  return spec;
}

// True when `a` and `b` name the same existing file or directory.
bool SamePath(const std::string& a, const std::string& b) {
  std::error_code ec;
  return std::filesystem::exists(b, ec) && std::filesystem::equivalent(a, b, ec);
}

}  // namespace

int RunPrune(const std::vector<std::string>& args) {
  CommandLine line;
  int exit_code;
  if (!OpenCommand(Spec(), args, &line, &exit_code)) return exit_code;
  PassOptions options;
  options.outputs = line.GetList("outputs");
  options.inputs = line.GetList("inputs");
  const std::string out_path = line.Get("output");
  if (line.positional().size() != 1 || options.outputs.empty() || out_path.empty()) {
    return UsageError(Spec(), "MODEL, --outputs and -o are required");
  }
  const std::string& in_path = line.positional()[0];
  if (SamePath(in_path, out_path)) {
    return ReportError("prune", absl::InvalidArgumentError(
                                    absl::StrCat(out_path,
                                                 ": refusing to overwrite the input model; pick "
                                                 "another -o")));
  }
  absl::StatusOr<Graph> graph = LoadModel(in_path);
  if (!graph.ok()) return ReportError("prune", graph.status());
  Graph pruned(graph->format());
  absl::StatusOr<PassReport> report = PruneGraph(*graph, options, &pruned);
  if (!report.ok()) {
    return ReportError("prune",
                       absl::Status(report.status().code(),
                                    absl::StrCat(in_path, ": ", report.status().message())));
  }
  if (absl::Status saved = SaveModel(pruned, out_path); !saved.ok()) {
    return ReportError("prune", saved);
  }
  std::cout << FormatPassReport(*report) << "wrote " << out_path << " ("
            << ModelFormatName(pruned.format()) << ")\n";
  return kExitOk;
}

}  // namespace rankopt
