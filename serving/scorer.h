// The one assembly of "graph + feature config -> something that scores requests": the feature
// transformer, the graph feeds (with the one-row rule for request-level inputs), the execution
// plan and the chunked runner. Model, `rankopt run`, `rankopt bench` and `rankopt optimize` build
// their runners here, so a benchmark measures the path Model::Score runs.
//
// Example:
//   RANKOPT_ASSIGN_OR_RETURN(std::unique_ptr<Scorer> scorer,
//                            Scorer::Create(&graph, std::move(config), {.threads = 2}));
//   ScorerContext context;  // one per thread, kept across requests
//   RANKOPT_RETURN_IF_ERROR(scorer->Score(request, &context));
//   absl::Span<const TensorView> outputs = context.outputs.views();
#ifndef RANKOPT_SERVING_SCORER_H_
#define RANKOPT_SERVING_SCORER_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "core/tensor.h"
#include "features/config/feature_config.h"
#include "features/pipeline/feature_transformer.h"
#include "graph/exec/chunked_runner.h"
#include "graph/exec/execution_plan.h"
#include "graph/exec/profiler.h"
#include "graph/ir/graph.h"
#include "graph/passes/pass_options.h"
#include "rankopt/request.h"
#include "serving/feature_feeds.h"

namespace rankopt {

class RemoteTables;  // serving/remote/remote_tables.h
struct RemoteTableOptions;  // rankopt/model.h

// The remote tables `graph` reads (a package made with --tables-remote), opened with `options`
// and checked to be published with the package's rows, for ScorerOptions::remote_tables; null
// when the graph has none. Errors as RemoteTables::Open's (no cluster named, none answers, a
// table not fully published).
absl::StatusOr<std::shared_ptr<const RemoteTables>> OpenRemoteTables(
    const Graph& graph, const RemoteTableOptions& options);

// The one rule for which inputs are fed with one row (FeedOptions::one_row_inputs) and passed
// whole to every chunk: the whole request-level inputs of `request_inputs` (no `columns`) whose
// Placeholder `graph` reads, only through _RankoptRequestRow without `columns` (row 0), and does
// not return as a graph output. An O2 graph reads its request-level inputs so; any other graph
// gets none, and every input keeps one row per candidate.
std::vector<std::string> OneRowInputs(const Graph& graph,
                                      const std::vector<RequestLevelInput>& request_inputs);

// One policy for out-of-range ids, wherever they come from: an identity id its embedding table
// has no row for is replaced by the feature's default and counted (FeatureStats::out_of_range),
// whether it lies past num_buckets or only past the table's rows (a config that serves a full
// and a mini model: num_buckets of the full one). Lowers each identity feature's num_buckets to
// its table's rows (TableRowsOf) where those are fewer. Scorer::Create applies it.
void BoundIdentityIdsByTableRows(const Graph& graph, FeatureConfig* config);

struct ScorerOptions {
  // Tensors to compute (PlanOptions::outputs); empty: the graph's outputs.
  std::vector<std::string> outputs;
  // Threads that score the candidate chunks of one request (the caller's thread included).
  int threads = 1;
  // Candidate rows per chunk; 0 = automatic (ChunkedRunner::ChunkRowsFor).
  int64_t chunk_rows = 0;
  // kNever runs every request whole on the calling thread (the plan as is).
  Separability separability = Separability::kVerifyOnFirstRun;
  // Bytes one run may use for intermediate tensors; 0 = no cap (PlanOptions::memory_cap_bytes).
  size_t memory_cap_bytes = 0;
  // Inputs never split into chunks besides the one-row inputs (a package's request-level inputs).
  std::vector<std::string> request_level_inputs;
  // The request-level inputs for the one-row rule when there is no feature config (with one,
  // they are the config's user/context features: RequestLevelInputsOf).
  std::vector<RequestLevelInput> request_inputs;
  // Time every kernel by op type (ProfileByOpType); off on a serving path.
  bool profile = false;
  // The graph's remote tables (serving/remote/remote_tables.h), null when it has none: Run
  // fetches each request's rows first (in one batch) and feeds them with the request's feeds.
  std::shared_ptr<const RemoteTables> remote_tables;
};

// What one scoring call works in: reused across calls, so a warm context allocates nothing.
// Not thread-safe: one per concurrent caller.
struct ScorerContext {
  TransformedRequest transformed;
  GraphFeeds feeds;
  ChunkedOutputs outputs;
};

// Immutable after Create; Feed, Run and Score are safe for concurrent use (one ScorerContext or
// ChunkedOutputs per caller).
class Scorer {
 public:
  // Builds the transformer (when `config` is set), the plan of `*graph` and its runner. Errors:
  // a config the transformer rejects, a graph that does not plan, bad threads or chunk rows.
  // REQUIRES: `graph` outlives the Scorer and is not modified while it lives.
  static absl::StatusOr<std::unique_ptr<Scorer>> Create(const Graph* graph,
                                                        std::optional<FeatureConfig> config,
                                                        ScorerOptions options);
  ~Scorer();
  Scorer(const Scorer&) = delete;
  Scorer& operator=(const Scorer&) = delete;

  // The graph inputs of `request` in context->feeds (one-row inputs with one row; remote tables'
  // rows are fetched by Run, not fed here). Errors: no
  // feature config, and those of the transformer and FeedsFromTransformedRequest.
  absl::Status Feed(const Request& request, ScorerContext* context) const;
  // Runs graph-level feeds (one tensor per plan input) chunked into `outputs`.
  absl::Status Run(absl::Span<const NamedTensorView> feeds, ChunkedOutputs* outputs) const;
  // Run, into owned Tensors in plan().outputs() order (allocates them). Under
  // Separability::kNever the plan runs as is on the calling thread.
  absl::Status Run(absl::Span<const NamedTensorView> feeds, std::vector<Tensor>* outputs) const;
  // Feed, then Run into context->outputs.
  absl::Status Score(const Request& request, ScorerContext* context) const;

  const ExecutionPlan& plan() const { return *plan_; }
  const ChunkedRunner& runner() const { return *runner_; }
  // The output names, in order.
  const std::vector<std::string>& outputs() const { return plan_->outputs(); }
  // nullptr without a feature config.
  const FeatureTransformer* transformer() const {
    return transformer_.has_value() ? &*transformer_ : nullptr;
  }
  // The request-level inputs the one-row rule used.
  const std::vector<RequestLevelInput>& request_inputs() const { return request_inputs_; }
  const FeedOptions& feed_options() const { return feed_options_; }
  const ChunkedRunnerOptions& runner_options() const { return runner_->options(); }
  const ScorerOptions& options() const { return options_; }

  // Kernel time by op type since Create or ResetProfile. REQUIRES: options().profile.
  std::vector<OpTypeProfile> ProfileByOpType() const;
  // Kernel time of the nodes whose kernel names itself (the dense layers), same period.
  std::vector<NodeKernelProfile> ProfileByNode() const;
  void ResetProfile() const;

 private:
  Scorer() = default;

  ScorerOptions options_;
  std::optional<FeatureTransformer> transformer_;
  std::vector<RequestLevelInput> request_inputs_;
  FeedOptions feed_options_;
  std::unique_ptr<OpProfiler> profiler_;  // outlives plan_, whose kernels it times
  std::unique_ptr<const ExecutionPlan> plan_;
  std::unique_ptr<ChunkedRunner> runner_;
  std::vector<ExecutionPlan::Input> feed_inputs_;  // the plan's inputs less the remote feeds
};

}  // namespace rankopt

#endif  // RANKOPT_SERVING_SCORER_H_
