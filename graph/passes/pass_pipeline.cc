#include "graph/passes/pass_pipeline.h"

#include <algorithm>
#include <functional>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "graph/passes/constant_folding.h"
#include "graph/passes/embedding_bag.h"
#include "graph/passes/embedding_lookup.h"
#include "graph/passes/fold_batch_norm.h"
#include "graph/passes/gru_batch_first.h"
#include "graph/passes/fuse_attention_pooling.h"
#include "graph/passes/fuse_gemm_epilogue.h"
#include "graph/passes/fuse_matmul_bias_activation.h"
#include "graph/passes/fuse_multi_lookup.h"
#include "graph/passes/prune.h"
#include "graph/passes/request_level.h"
#include "graph/passes/split_field_concat.h"
#include "graph/passes/split_first_dense.h"
#include "rankopt/status_macros.h"

namespace rankopt {
namespace {

using PassFn = std::function<absl::StatusOr<PassReport>(const Graph&, const PassOptions&, Graph*)>;

struct PassEntry {
  std::string name;
  PassFn run;
};

std::vector<PassEntry> Passes(OptLevel level) {
  std::vector<PassEntry> passes;
  if (level == OptLevel::kO0) return passes;
  passes.push_back({"prune", PruneGraph});
  passes.push_back({"constant_folding", FoldConstants});
  passes.push_back({"fold_batch_norm", FoldBatchNorm});
  if (level == OptLevel::kO2) {
    // Fusion first (it matches the attention block as exported), then the split (it reads the
    // request-level analysis of the unmarked graph), then the marking that makes it run once.
    passes.push_back({"gru_batch_first", GruBatchFirst});
    passes.push_back({"fuse_attention_pooling", FuseAttentionPooling});
    passes.push_back({"split_field_concat", SplitFieldConcat});
    passes.push_back({"split_first_dense", SplitFirstDense});
    passes.push_back({"request_level", MarkRequestLevel});
  }
  passes.push_back({"fuse_matmul_bias_activation", FuseMatMulBiasActivation});
  if (level == OptLevel::kO2) passes.push_back({"fuse_gemm_epilogue", FuseGemmEpilogue});
  // Bags before lookups: a Gather a bag leaves to other readers then becomes a lookup too.
  passes.push_back({"embedding_bag", EmbeddingBagPass});
  passes.push_back({"embedding_lookup", EmbeddingLookupPass});
  if (level == OptLevel::kO2) passes.push_back({"fuse_multi_lookup", FuseMultiLookup});
  passes.push_back({"final_prune", PruneGraph});
  return passes;
}

// What the optimized graph must compute, as names that resolve in every intermediate graph.
std::vector<std::string> DefaultOutputs(const Graph& graph) {
  std::vector<std::string> names;
  absl::flat_hash_set<TensorRef> seen;
  auto add = [&](std::string name, const TensorRef& ref) {
    if (seen.insert(ref).second) names.push_back(std::move(name));
  };
  for (const GraphOutput& o : graph.outputs()) add(o.name, o.ref);
  if (!names.empty()) return names;
  for (const Signature& s : graph.signatures()) {
    for (const SignatureTensor& o : s.outputs) add(o.key, o.ref);
  }
  if (!names.empty()) return names;
  static const auto* const kNotOutputs = new absl::flat_hash_set<std::string>{
      "NoOp",       "Assert",      "SaveV2",     "RestoreV2",  "MergeV2Checkpoints",
      "Save",       "Restore",     "SaveSlices", "Assign",     "AssignVariableOp",
      "VariableV2", "VarHandleOp", "Const",      "Placeholder"};
  absl::flat_hash_set<std::string> consumed;
  for (const Node& node : graph.nodes()) {
    for (const TensorRef& ref : node.inputs) consumed.insert(ref.node);
    for (const std::string& c : node.control_inputs) consumed.insert(c);
  }
  for (const Node& node : graph.nodes()) {
    if (consumed.contains(node.name) || kNotOutputs->contains(node.op)) continue;
    if (graph.format() == ModelFormat::kOnnx) {
      if (!node.output_names.empty()) add(node.output_names[0], TensorRef{node.name, 0});
    } else {
      add(node.name, TensorRef{node.name, 0});
    }
  }
  return names;
}

}  // namespace

absl::string_view OptLevelName(OptLevel level) {
  switch (level) {
    case OptLevel::kO0:
      return "O0";
    case OptLevel::kO1:
      return "O1";
    case OptLevel::kO2:
      return "O2";
  }
  return "O?";
}

absl::StatusOr<OptLevel> ParseOptLevel(absl::string_view text) {
  const std::string t = absl::AsciiStrToUpper(text);
  if (t == "0" || t == "O0") return OptLevel::kO0;
  if (t == "1" || t == "O1") return OptLevel::kO1;
  if (t == "2" || t == "O2") return OptLevel::kO2;
  return absl::InvalidArgumentError(
      absl::StrCat("unknown optimization level '", text, "'; expected O0, O1 or O2"));
}

std::vector<std::string> PassNames(OptLevel level) {
  std::vector<std::string> names;
  for (const PassEntry& p : Passes(level)) names.push_back(p.name);
  return names;
}

absl::StatusOr<std::vector<PassReport>> OptimizeGraph(const Graph& in, OptLevel level,
                                                      const OptimizeOptions& options, Graph* out) {
  if (out == nullptr) {
    return absl::InvalidArgumentError("OptimizeGraph: `out` is null; pass a Graph to write into");
  }
  const std::vector<PassEntry> passes = Passes(level);
  for (const std::string& name : options.disabled_passes) {
    const bool known = std::any_of(passes.begin(), passes.end(),
                                   [&](const PassEntry& p) { return p.name == name; });
    if (!known) {
      return absl::InvalidArgumentError(absl::StrCat(
          "cannot disable pass '", name, "': ", OptLevelName(level), " runs ",
          passes.empty() ? std::string("no passes")
                         : absl::StrCat("only ", absl::StrJoin(PassNames(level), ", "))));
    }
  }
  PassOptions pass_options;
  pass_options.outputs = options.outputs.empty() ? DefaultOutputs(in) : options.outputs;
  pass_options.max_constant_bytes = options.max_constant_bytes;
  pass_options.registry = options.registry;
  pass_options.request_inputs = options.request_inputs;
  for (const std::string& name : pass_options.outputs) {
    absl::StatusOr<TensorRef> ref = in.ResolveTensor(name);
    if (!ref.ok()) {
      return absl::Status(ref.status().code(),
                          absl::StrCat("optimize output '", name, "': ", ref.status().message()));
    }
  }

  auto disabled = [&](absl::string_view name) {
    return std::find(options.disabled_passes.begin(), options.disabled_passes.end(), name) !=
           options.disabled_passes.end();
  };
  std::vector<PassReport> reports;
  Graph graph = in;
  for (const PassEntry& pass : passes) {
    if (disabled(pass.name)) continue;
    if ((pass.name == "split_first_dense" || pass.name == "split_field_concat") &&
        disabled("request_level")) {
      // The split's request-level term has one row per request only once the graph is marked.
      PassReport skipped;
      skipped.pass = pass.name;
      skipped.notes.push_back("skipped: needs request_level, which is disabled");
      RecordNodeCounts(graph, graph, &skipped);
      reports.push_back(std::move(skipped));
    } else {
      absl::StatusOr<PassReport> report = pass.run(graph, pass_options, &graph);
      if (!report.ok()) {
        return absl::Status(report.status().code(),
                            absl::StrCat(pass.name, ": ", report.status().message()));
      }
      report->pass = pass.name;
      reports.push_back(*std::move(report));
    }
    if (options.after_pass) {
      if (absl::Status s = options.after_pass(reports.back(), graph); !s.ok()) {
        return absl::Status(s.code(), absl::StrCat(pass.name, ": ", s.message()));
      }
    }
  }
  *out = std::move(graph);
  return reports;
}

}  // namespace rankopt
