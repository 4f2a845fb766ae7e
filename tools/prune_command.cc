// rankopt prune MODEL --outputs NAMES [--inputs NAMES] -o OUT
#include <iostream>

#include "graph/passes/pass_report.h"
#include "serving/prune_model.h"
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
  absl::StatusOr<PruneModelResult> result = PruneModelFile(in_path, options, out_path);
  if (!result.ok()) return ReportError("prune", result.status());
  std::cout << FormatPassReport(result->report) << "wrote " << out_path << " ("
            << ModelFormatName(result->format) << ")\n";
  return kExitOk;
}

}  // namespace rankopt
