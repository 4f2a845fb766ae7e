#include "tools/optimize_spec.h"

namespace rankopt {

const CommandSpec& OptimizeCommandSpec() {
  static const CommandSpec spec = {
      "optimize",
      "rankopt optimize MODEL [--features CONFIG] -o OUT.rkp [--outputs NAMES] [-O 0|1|2] "
      "[--int8 auto|off|force] [--precision auto|fp32|bf16|int8] [--sample REQUESTS.jsonl] "
      "[--candidates N] [--name NAME] [--model-version V] [--threads T] [--time-s SECONDS] [--json] "
      "[--tables-remote all|TABLES --redis HOST:PORT,...]",
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
           "the feature config (YAML): transforms the sample requests, names the "
           "request-level (user/context) inputs for -O 2, and goes into the package. Without "
           "it a TF model's own feature transforms are lifted into one (as `rankopt lift`)"},
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
          {"precision", "", true, "auto|fp32|bf16|int8",
           "the dense layers (fused MatMuls with constant weights): auto (default) per layer the "
           "fastest precision this CPU has a kernel for (int8 VNNI, then bf16) whose predictions "
           "on the sample stay within the gate (every head: max abs diff 1e-3; AUC delta 1e-4 "
           "when candidates carry \"label\"), stepped up int8 -> bf16 -> fp32 while it fails; "
           "fp32; bf16 or int8 every layer, no gate. Weights are stored at their precision"},
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

}  // namespace rankopt
