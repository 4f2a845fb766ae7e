#include "serving/scorer.h"

#include "absl/strings/str_cat.h"
#include "graph/kernels/embedding/embedding_kernels.h"
#include "serving/remote/remote_tables.h"

#include <algorithm>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "graph/analysis/shape_inference.h"
#include "graph/passes/pass_util.h"
#include "graph/passes/request_level.h"
#include "rankopt/status_macros.h"
#include "serving/request_level_inputs.h"
#include "serving/synthetic_requests.h"

namespace rankopt {

std::vector<std::string> OneRowInputs(const Graph& graph,
                                      const std::vector<RequestLevelInput>& request_inputs) {
  absl::flat_hash_set<std::string> whole;
  for (const RequestLevelInput& in : request_inputs) {
    if (in.columns.empty()) whole.insert(in.name);
  }
  std::vector<std::string> out;
  for (const Node& node : graph.nodes()) {
    if (node.op != kPlaceholderOp) continue;
    const std::string feed = pass_util::FeedName(graph, node);
    if (!whole.contains(feed)) continue;
    bool read = false, only_rows = true;
    for (const Node& reader : graph.nodes()) {
      for (const TensorRef& ref : reader.inputs) {
        if (ref.node != node.name) continue;
        read = true;
        only_rows &= reader.op == kRequestRowOp && reader.attrs.Find("columns") == nullptr;
      }
    }
    for (const GraphOutput& o : graph.outputs()) only_rows &= o.ref.node != node.name;
    if (read && only_rows) out.push_back(feed);
  }
  return out;
}

void BoundIdentityIdsByTableRows(const Graph& graph, FeatureConfig* config) {
  const absl::flat_hash_map<std::string, int64_t> rows = TableRowsOf(*config, graph);
  for (FeatureSpec& feature : config->features) {
    if ((feature.kind != FeatureKind::kCategorical && feature.kind != FeatureKind::kSequence) ||
        feature.categorical.source != CategoricalSpec::Source::kIdentity ||
        !feature.embedding.has_value()) {
      continue;
    }
    auto it = rows.find(feature.embedding->table);
    if (it != rows.end() && it->second > 0 && it->second < feature.categorical.num_buckets) {
      feature.categorical.num_buckets = it->second;
    }
  }
}

namespace {

// Bytes of every computed tensor per candidate row: the inferred sizes at batch 2 less those at
// batch 1 (tensors that do not grow with the batch, request-level ones and constants, count 0);
// -1 when shape inference fails or leaves a growing tensor's size unknown.
int64_t PerRowBytes(const Graph& graph) {
  absl::StatusOr<ShapeMap> one = InferShapes(graph, 1);
  absl::StatusOr<ShapeMap> two = InferShapes(graph, 2);
  if (!one.ok() || !two.ok()) return -1;
  int64_t total = 0;
  for (const auto& [ref, t2] : *two) {
    const InferredTensor& t1 = LookupInferred(*one, ref);
    const size_t element = DTypeSize(t2.dtype);
    const std::optional<int64_t> n2 = t2.shape.NumElements();
    const std::optional<int64_t> n1 = t1.shape.NumElements();
    if (element == 0) continue;  // strings, resources: not activations
    if (!n2.has_value() || !n1.has_value()) return -1;
    if (*n2 > *n1) total += (*n2 - *n1) * static_cast<int64_t>(element);
  }
  return total;
}

// The most rows of an automatic chunk. Every chunk pays every node's fixed cost (a few hundred
// ns to a microsecond), so fewer, larger chunks win until a chunk's tensors no longer stay in the
// core's cache: the cap is what keeps the chunk's per-row tensors (their sum: an upper bound of
// what is live) within kChunkBytes, between 64 and 1024 rows. Measured at 512 candidates, one
// thread (Zen 4, 1 MiB L2): WDL, MMoE and ESMM-v2 (a few KB a row) ran 1.65-1.95x faster in one
// chunk than in chunks of 64; BST's transformer (hundreds of KB a row) 1.6x slower. Graphs of many
// small ops (a lifted TF export's sparse feature-column plumbing: ~500 nodes, ~25 KFLOPs a row)
// also get at least half their computing node count.
int64_t AutoChunkRowsCap(const Graph& graph) {
  constexpr int64_t kChunkBytes = int64_t{4} << 20;
  int64_t computing = 0;
  for (const Node& node : graph.nodes()) {
    computing += node.op != "Const" && node.op != "Placeholder" && node.op != "NoOp";
  }
  int64_t cap = 64;
  const int64_t per_row = PerRowBytes(graph);
  if (per_row > 0) cap = std::clamp<int64_t>(kChunkBytes / per_row, 64, 1024);
  return std::max<int64_t>(cap, computing / 2);
}

}  // namespace

absl::StatusOr<std::unique_ptr<Scorer>> Scorer::Create(const Graph* graph,
                                                       std::optional<FeatureConfig> config,
                                                       ScorerOptions options) {
  std::unique_ptr<Scorer> scorer(new Scorer());
  scorer->request_inputs_ =
      config.has_value() ? RequestLevelInputsOf(*config) : options.request_inputs;
  if (config.has_value()) {
    BoundIdentityIdsByTableRows(*graph, &*config);
    RANKOPT_ASSIGN_OR_RETURN(FeatureTransformer transformer,
                             FeatureTransformer::Create(*std::move(config)));
    scorer->transformer_.emplace(std::move(transformer));
  }
  PlanOptions plan_options;
  plan_options.outputs = options.outputs;
  plan_options.memory_cap_bytes = options.memory_cap_bytes;
  if (options.profile) {
    RANKOPT_ASSIGN_OR_RETURN(scorer->profiler_, OpProfiler::Create());
    plan_options.registry = &scorer->profiler_->registry();
  }
  RANKOPT_ASSIGN_OR_RETURN(scorer->plan_, ExecutionPlan::Create(*graph, plan_options));
  scorer->feed_options_.one_row_inputs = OneRowInputs(*graph, scorer->request_inputs_);
  ChunkedRunnerOptions runner_options;
  runner_options.threads = options.threads;
  runner_options.chunk_rows = options.chunk_rows;
  runner_options.max_auto_chunk_rows = AutoChunkRowsCap(*graph);
  runner_options.separability = options.separability;
  runner_options.request_level_inputs = options.request_level_inputs;
  // Remote tables: their rows and ids are fed per request (whole to every chunk), not from the
  // request's features.
  scorer->feed_inputs_ = scorer->plan_->inputs();
  if (options.remote_tables == nullptr) {
    for (const Node& node : graph->nodes()) {
      if (node.op == kRemoteEmbeddingLookupOp || node.op == kRemoteEmbeddingBagOp) {
        return absl::FailedPreconditionError(absl::StrCat(
            "the graph reads remote embedding tables (node '", node.name,
            "'), whose rows live in a Redis Cluster: score it through Model::Load with "
            "ModelOptions::remote_tables (`rankopt serve --redis`), or use the package with "
            "local tables"));
      }
    }
  } else {
    for (const std::string& name : options.remote_tables->InputNames()) {
      runner_options.request_level_inputs.push_back(name);
      scorer->feed_inputs_.erase(
          std::remove_if(scorer->feed_inputs_.begin(), scorer->feed_inputs_.end(),
                         [&](const ExecutionPlan::Input& in) { return in.name == name; }),
          scorer->feed_inputs_.end());
    }
  }
  for (const std::string& name : scorer->feed_options_.one_row_inputs) {
    if (std::find(runner_options.request_level_inputs.begin(),
                  runner_options.request_level_inputs.end(),
                  name) == runner_options.request_level_inputs.end()) {
      runner_options.request_level_inputs.push_back(name);
    }
  }
  RANKOPT_ASSIGN_OR_RETURN(scorer->runner_,
                           ChunkedRunner::Create(scorer->plan_.get(), runner_options));
  scorer->options_ = std::move(options);
  return scorer;
}

Scorer::~Scorer() = default;

absl::StatusOr<std::shared_ptr<const RemoteTables>> OpenRemoteTables(
    const Graph& graph, const RemoteTableOptions& options) {
  RANKOPT_ASSIGN_OR_RETURN(std::vector<RemoteTableDesc> tables, DescribeRemoteTables(graph));
  if (tables.empty()) return std::shared_ptr<const RemoteTables>();
  RANKOPT_ASSIGN_OR_RETURN(std::unique_ptr<RemoteTables> opened,
                           RemoteTables::Open(std::move(tables), options));
  return std::shared_ptr<const RemoteTables>(std::move(opened));
}

absl::Status Scorer::Feed(const Request& request, ScorerContext* context) const {
  if (!transformer_.has_value()) {
    return absl::FailedPreconditionError(
        "the scorer has no feature config, so it cannot transform a feature request; feed "
        "graph inputs (Scorer::Run) or create it with a config");
  }
  RANKOPT_RETURN_IF_ERROR(transformer_->Transform(request, &context->transformed));
  return FeedsFromTransformedRequest(context->transformed, feed_inputs_, &context->feeds,
                                     feed_options_);
}

namespace {
// The remote rows of the calling thread's current request (views stay valid during its run).
RemoteFetchScratch& ThreadRemoteScratch() {
  thread_local RemoteFetchScratch scratch;
  return scratch;
}
}  // namespace

absl::Status Scorer::Run(absl::Span<const NamedTensorView> feeds, ChunkedOutputs* outputs) const {
  if (options_.remote_tables != nullptr) {
    RemoteFetchScratch& scratch = ThreadRemoteScratch();
    RANKOPT_RETURN_IF_ERROR(options_.remote_tables->Fetch(feeds, &scratch));
    return runner_->RunInto(scratch.feeds, outputs);
  }
  return runner_->RunInto(feeds, outputs);
}

absl::Status Scorer::Run(absl::Span<const NamedTensorView> feeds,
                         std::vector<Tensor>* outputs) const {
  if (options_.remote_tables != nullptr) {
    RemoteFetchScratch& scratch = ThreadRemoteScratch();
    RANKOPT_RETURN_IF_ERROR(options_.remote_tables->Fetch(feeds, &scratch));
    feeds = scratch.feeds;
  }
  if (options_.separability == Separability::kNever) return plan_->Run(feeds, outputs);
  return runner_->Run(feeds, outputs);
}

absl::Status Scorer::Score(const Request& request, ScorerContext* context) const {
  RANKOPT_RETURN_IF_ERROR(Feed(request, context));
  return Run(context->feeds.views, &context->outputs);
}

std::vector<OpTypeProfile> Scorer::ProfileByOpType() const {
  return profiler_ != nullptr ? profiler_->ByOpType() : std::vector<OpTypeProfile>();
}

std::vector<NodeKernelProfile> Scorer::ProfileByNode() const {
  return profiler_ != nullptr ? profiler_->ByNode() : std::vector<NodeKernelProfile>();
}

void Scorer::ResetProfile() const {
  if (profiler_ != nullptr) profiler_->Reset();
}

}  // namespace rankopt
