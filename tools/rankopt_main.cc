// rankopt: inspect, prune, optimize and benchmark recommendation ranking models.
#include <cstring>
#include <iostream>
#include <string>
#include <vector>

#include "tools/commands.h"

namespace rankopt {
namespace {

constexpr Command kCommands[] = {
    {"summarize", "inputs, outputs, op counts, parameters and FLOPs of a model", RunSummarize},
    {"prune", "keep only what the named outputs need; write the same format back", RunPrune},
    {"features", "show the ids and values a model sees for JSON-lines requests", RunFeatures},
    {"quantize", "embedding tables to int8/fp16 with error figures; write a table file",
     RunQuantize},
    {"optimize", "every pass timed, int8 tables, then a model package (.rkp) and its report",
     RunOptimize},
    {"run", "run a model or package on JSON inputs and print its outputs", RunRun},
    {"bench", "latency p50/p99, candidates/s and time by op type per candidate count", RunBench},
    {"serve", "serve a package over HTTP: predict, model status, Prometheus metrics, reload",
     RunServe},
    {"lift", "move a TF model's feature transforms into a feature config; cut the graph there",
     RunLift},
    {"tables", "embedding tables in a Redis Cluster: publish a package's, drop a version",
     RunTables},
};

void PrintUsage(std::ostream& out) {
  out << "usage: rankopt <command> [args] [--help]\n\n"
         "rankopt makes recommendation ranking models (DIN, ESMM, DSSM, DeepFM) fast on CPUs.\n"
         "Models: TensorFlow frozen GraphDef (.pb, .pbtxt), SavedModel directories, ONNX "
         "(.onnx);\nrun and bench also take the model packages (.rkp) optimize writes.\n\n"
         "commands:\n";
  for (const Command& command : kCommands) {
    out << "  " << command.name << std::string(12 - std::strlen(command.name), ' ')
        << command.summary << "\n";
  }
  out << "\nRun 'rankopt <command> --help' for a command's flags.\n";
}

int Main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty() || args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
    if (args.size() >= 2 && args[0] == "help") {
      for (const Command& command : kCommands) {
        if (args[1] == command.name) return command.run({"--help"});
      }
    }
    PrintUsage(args.empty() ? std::cerr : std::cout);
    return args.empty() ? kExitUsage : kExitOk;
  }
  if (args[0] == "--version") {
    std::cout << "rankopt " << RANKOPT_VERSION << "\n";
    return kExitOk;
  }
  for (const Command& command : kCommands) {
    if (args[0] == command.name) {
      return command.run(std::vector<std::string>(args.begin() + 1, args.end()));
    }
  }
  std::cerr << "rankopt: unknown command '" << args[0] << "'\n\n";
  PrintUsage(std::cerr);
  return kExitUsage;
}

}  // namespace
}  // namespace rankopt

int main(int argc, char** argv) { return rankopt::Main(argc, argv); }
