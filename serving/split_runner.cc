#include "serving/split_runner.h"

#include <algorithm>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "cache/sharded_cache.h"
#include "graph/exec/execution_plan.h"
#include "graph/split/boundary.h"
#include "graph/split/split_item_graph.h"
#include "graph/split/split_request_graph.h"
#include "rankopt/request_json.h"
#include "rankopt/status_macros.h"
#include "serving/remote/remote_tables.h"

namespace rankopt {

// The user part's outputs (the request-level boundary tensors) of one user, as one cached value:
// the tensors 64-byte aligned in one buffer, with their views.
class BoundaryValue : public CacheValue {
 public:
  // `buffer` holds the tensors at `offsets` from its first 64-byte aligned byte (see Make).
  BoundaryValue(std::string buffer, std::vector<TensorView> views, std::vector<size_t> offsets)
      : CacheValue(std::move(buffer), views.capacity() * sizeof(TensorView)),
        views_(std::move(views)) {
    char* base = AlignedBase(bytes().data());
    for (size_t i = 0; i < views_.size(); ++i) views_[i].data = base + offsets[i];
  }

  // Copies `tensors` (the user plan's outputs).
  static std::shared_ptr<const BoundaryValue> Make(absl::Span<const TensorView> tensors) {
    std::vector<size_t> offsets;
    size_t total = 0;
    for (const TensorView& t : tensors) {
      offsets.push_back(total);
      total += (t.ByteSize() + kAlign - 1) / kAlign * kAlign;
    }
    // Heap-allocated (longer than any small-string buffer), so moving it keeps its address.
    std::string buffer(total + kAlign, '\0');
    char* base = AlignedBase(buffer.data());
    std::vector<TensorView> views(tensors.begin(), tensors.end());
    for (size_t i = 0; i < tensors.size(); ++i) {
      if (tensors[i].ByteSize() > 0) {
        std::memcpy(base + offsets[i], tensors[i].data, tensors[i].ByteSize());
      }
    }
    return std::make_shared<const BoundaryValue>(std::move(buffer), std::move(views),
                                                 std::move(offsets));
  }

  absl::Span<const TensorView> views() const { return views_; }

 private:
  static constexpr size_t kAlign = 64;
  static char* AlignedBase(const char* p) {
    const uintptr_t a = reinterpret_cast<uintptr_t>(p);
    return reinterpret_cast<char*>((a + kAlign - 1) / kAlign * kAlign);
  }
  std::vector<TensorView> views_;
};

// The user-side result cache of a model whose graph splits (graph/split/split_request_graph.h).
struct UserCache {
  std::unique_ptr<ShardedCache> cache;
  uint64_t identity = 0;  // the model's identity: every key's seed
  std::unique_ptr<const ExecutionPlan> user_plan;
  std::unique_ptr<const ExecutionPlan> candidate_plan;
  std::unique_ptr<ChunkedRunner> candidate_runner;
  // The key's inputs: a feed (index into the whole plan's inputs) and its columns (empty: row 0
  // whole).
  struct KeyInput {
    size_t feed = 0;
    std::vector<int64_t> columns;
  };
  std::vector<KeyInput> key_inputs;
  std::vector<size_t> user_feed;  // user plan input i -> feed index
  std::vector<bool> user_whole;   // user plan input i is fed whole (a remote table's), not row 0
  // Candidate plan input i: a feed index, or (boundary) an index into the boundary tensors.
  struct CandidateFeed {
    bool boundary = false;
    size_t index = 0;
  };
  std::vector<CandidateFeed> candidate_feed;
};

// The item cache of a model whose graph splits (graph/split/split_item_graph.h). Feeds of the
// parts that follow it (the cross part, or the user cache's parts of it) are indexed in an
// extended space: [0, model inputs) the model's feeds, then the item boundary tensors.
struct ItemCache {
  std::unique_ptr<ShardedCache> cache;
  uint64_t identity = 0;  // every key's seed
  std::unique_ptr<const ExecutionPlan> item_plan;
  // The cross part, when the user cache is off (else the user cache runs its split of it).
  std::unique_ptr<const ExecutionPlan> cross_plan;
  std::unique_ptr<ChunkedRunner> cross_runner;
  std::vector<size_t> cross_feed;  // cross plan input i -> extended feed index
  // The key's inputs: a feed index and its columns (empty: the whole row).
  std::vector<UserCache::KeyInput> key_inputs;
  std::vector<size_t> item_feed;  // item plan input i -> feed index
  std::vector<bool> item_whole;   // item plan input i is fed whole (a remote table's), not gathered
  // Boundary tensor b: its dtype, row dims (without the leading candidate axis), bytes per row and
  // offset in a cached value (one value per item row: every boundary tensor's row, concatenated).
  struct Boundary {
    std::string feed_name;
    DType dtype = DType::kInvalid;
    Dims row_dims;
    size_t row_bytes = 0;
    size_t offset = 0;
  };
  std::vector<Boundary> boundary;
  size_t value_bytes = 0;
};

namespace {

// The feeds in the plan's input order: the request's, or with remote tables the request's and
// the fetched rows (SplitRunner::PrepareFeeds).
const std::vector<NamedTensorView>& ModelFeeds(const ScoreContext& context) {
  return context.remote_fed ? context.remote_feeds : context.feeds.views;
}

int FindInput(const std::vector<ExecutionPlan::Input>& inputs, const std::string& name) {
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (inputs[i].name == name) return static_cast<int>(i);
  }
  return -1;
}

CacheCounters CountersOf(const ShardedCache& cache) {
  const CacheStats s = cache.Stats();
  CacheCounters c;
  c.hits = s.hits;
  c.misses = s.misses;
  c.inserts = s.inserts;
  c.evictions = s.evictions;
  c.expirations = s.expirations;
  c.rejections = s.rejections;
  c.bytes = s.bytes;
  c.entries = s.entries;
  c.capacity_bytes = s.capacity_bytes;
  return c;
}

absl::StatusOr<std::unique_ptr<ShardedCache>> MakeCache(const CacheOptions& co) {
  ShardedCacheOptions cache_options;
  cache_options.capacity_bytes = co.capacity_bytes;
  cache_options.ttl = co.ttl;
  cache_options.eviction =
      co.eviction == CacheOptions::Eviction::kClock ? EvictionPolicy::kClock : EvictionPolicy::kLru;
  return ShardedCache::Create(cache_options);
}

}  // namespace

SplitRunner::SplitRunner(const Scorer* scorer, const Graph* graph, std::vector<std::string> outputs,
                         const ModelOptions& options, std::string identity, ModelStats* stats)
    : scorer_(scorer),
      plan_(&scorer->plan()),
      graph_(graph),
      outputs_(std::move(outputs)),
      options_(options),
      identity_(std::move(identity)),
      stats_(stats) {}

SplitRunner::~SplitRunner() = default;

absl::StatusOr<std::unique_ptr<SplitRunner>> SplitRunner::Create(
    const Scorer* scorer, const Graph* graph, const std::vector<std::string>& outputs,
    const ModelOptions& options, std::string identity,
    const std::vector<std::string>& warmup_requests, FeedFunction feed, ModelStats* stats) {
  std::unique_ptr<SplitRunner> runner(
      new SplitRunner(scorer, graph, outputs, options, std::move(identity), stats));
  // Remote tables' rows and ids are request-wide: never item-level, never keyed on (a lookup
  // into one is as request- or item-level as its ids: IsRemoteTableInput).
  std::vector<RequestLevelInput> request_inputs = scorer->request_inputs();
  std::vector<std::string> remote_inputs;
  if (scorer->options().remote_tables != nullptr) {
    remote_inputs = scorer->options().remote_tables->InputNames();
    for (const std::string& name : remote_inputs) request_inputs.push_back({name, {}});
  }
  std::optional<Graph> cross;  // the item cache's cross part
  std::vector<std::string> item_feeds;
  if (options.item_cache.capacity_bytes > 0) {
    RANKOPT_RETURN_IF_ERROR(runner->SetUpItemCache(request_inputs, &cross));
    if (runner->item_cache_ != nullptr) {
      for (const ItemCache::Boundary& b : runner->item_cache_->boundary) {
        item_feeds.push_back(b.feed_name);
      }
      std::vector<std::string> hot = options.item_cache.prefill_requests;
      if (options.item_cache.prefill_from_warmup_requests) {
        hot.insert(hot.end(), warmup_requests.begin(), warmup_requests.end());
      }
      RANKOPT_RETURN_IF_ERROR(runner->PrefillItemCache(hot, feed));
    }
  }
  if (options.user_cache.capacity_bytes > 0) {
    const Graph& user_graph = cross.has_value() ? *cross : *graph;
    std::vector<RequestLevelInput> user_inputs;
    for (const RequestLevelInput& in : request_inputs) {
      if (std::find(remote_inputs.begin(), remote_inputs.end(), in.name) == remote_inputs.end() ||
          graph_split::CheckRequestInputs(user_graph, {in}, "").ok()) {
        user_inputs.push_back(in);
      }
    }
    RANKOPT_RETURN_IF_ERROR(runner->SetUpUserCache(user_graph, user_inputs, item_feeds));
    if (runner->user_cache_ != nullptr) {
      std::vector<std::string> hot = options.user_cache.prefill_requests;
      if (options.user_cache.prefill_from_warmup_requests) {
        hot.insert(hot.end(), warmup_requests.begin(), warmup_requests.end());
      }
      RANKOPT_RETURN_IF_ERROR(runner->PrefillUserCache(hot, feed));
    }
  }
  return runner;
}

absl::Status SplitRunner::PrepareFeeds(ScoreContext* context) const {
  context->cache_results = true;
  context->remote_fed = false;
  const RemoteTables* remote = scorer_->options().remote_tables.get();
  if (remote == nullptr) return absl::OkStatus();
  if (context->remote == nullptr) context->remote = std::make_shared<RemoteFetchScratch>();
  RANKOPT_RETURN_IF_ERROR(remote->Fetch(context->feeds.views, context->remote.get()));
  context->cache_results = context->remote->defaulted_rows == 0;
  const std::vector<ExecutionPlan::Input>& inputs = plan_->inputs();
  const std::vector<NamedTensorView>& fed = context->remote->feeds;
  context->remote_feeds.resize(inputs.size());
  for (size_t i = 0; i < inputs.size(); ++i) {
    const NamedTensorView* found = nullptr;
    for (const NamedTensorView& f : fed) {
      if (f.name == inputs[i].name) found = &f;
    }
    if (found == nullptr) {
      return absl::InternalError(absl::StrCat("remote tables: graph input '", inputs[i].name,
                                              "' was neither fed nor fetched"));
    }
    context->remote_feeds[i] = *found;
  }
  context->remote_fed = true;
  return absl::OkStatus();
}

bool SplitRunner::IsRemoteInput(const std::string& name) const {
  if (scorer_->options().remote_tables == nullptr) return false;
  const std::vector<std::string> names = scorer_->options().remote_tables->InputNames();
  return std::find(names.begin(), names.end(), name) != names.end();
}

absl::Status SplitRunner::Run(ScoreContext* context, int64_t candidates) const {
  RANKOPT_RETURN_IF_ERROR(PrepareFeeds(context));
  if (item_cache_ != nullptr) {
    RANKOPT_RETURN_IF_ERROR(RunItemPart(context, candidates));
    if (user_cache_ != nullptr) return RunCached(context);
    const ItemCache& ic = *item_cache_;
    const std::vector<ExecutionPlan::Input>& inputs = ic.cross_plan->inputs();
    context->cross_feeds.resize(inputs.size());
    for (size_t i = 0; i < inputs.size(); ++i) {
      NamedTensorView& feed = context->cross_feeds[i];
      if (feed.name != inputs[i].name) feed.name = inputs[i].name;
      feed.view = FeedView(*context, ic.cross_feed[i]);
    }
    return ic.cross_runner->RunInto(context->cross_feeds, &context->outputs);
  }
  return RunCached(context);
}

const TensorView& SplitRunner::FeedView(const ScoreContext& context, size_t index) const {
  const size_t model_feeds = plan_->inputs().size();
  return index < model_feeds ? ModelFeeds(context)[index].view
                             : context.item_boundary[index - model_feeds];
}

absl::StatusOr<CacheKey> SplitRunner::UserKey(ScoreContext* context) const {
  std::string& bytes = context->key_bytes;
  bytes.clear();
  for (const UserCache::KeyInput& in : user_cache_->key_inputs) {
    const TensorView& v = ModelFeeds(*context)[in.feed].view;
    if (v.rank() < 1 || v.dims[0] < 1) {
      return absl::InternalError(absl::StrCat("user cache: graph input '",
                                              ModelFeeds(*context)[in.feed].name,
                                              "' has no row to key on"));
    }
    const size_t row_bytes = v.ByteSize() / static_cast<size_t>(v.dims[0]);
    const char* row = static_cast<const char*>(v.data);
    if (in.columns.empty()) {
      const uint64_t length = row_bytes;
      bytes.append(reinterpret_cast<const char*>(&length), sizeof(length));
      bytes.append(row, row_bytes);
      continue;
    }
    const size_t esize = DTypeSize(v.dtype);
    const int64_t width = v.rank() == 2 ? v.dims[1] : 0;
    for (int64_t c : in.columns) {
      if (c < 0 || c >= width) {
        return absl::InternalError(absl::StrCat("user cache: column ", c, " of graph input '",
                                                ModelFeeds(*context)[in.feed].name,
                                                "' is out of range for its ", width, " columns"));
      }
      bytes.append(row + static_cast<size_t>(c) * esize, esize);
    }
  }
  return MakeCacheKey(user_cache_->identity, bytes);
}

absl::StatusOr<std::shared_ptr<const BoundaryValue>> SplitRunner::RunUserPart(
    ScoreContext* context) const {
  const UserCache& uc = *user_cache_;
  const std::vector<ExecutionPlan::Input>& inputs = uc.user_plan->inputs();
  context->user_feeds.resize(inputs.size());
  for (size_t i = 0; i < inputs.size(); ++i) {
    NamedTensorView& feed = context->user_feeds[i];
    const NamedTensorView& source = ModelFeeds(*context)[uc.user_feed[i]];
    if (feed.name != source.name) feed.name = source.name;
    feed.view = source.view;
    // The user part reads row 0 only (through _RankoptRequestRow): feed that row. A remote
    // table's fetched rows and ids are read whole.
    if (!uc.user_whole[i] && feed.view.rank() >= 1 && feed.view.dims[0] > 1) feed.view.dims[0] = 1;
  }
  std::shared_ptr<const BoundaryValue> value;
  RANKOPT_RETURN_IF_ERROR(uc.user_plan->RunWithSink(
      context->user_feeds, [&](absl::Span<const TensorView> outs) -> absl::Status {
        for (size_t i = 0; i < outs.size(); ++i) {
          if (outs[i].rank() >= 1 && outs[i].dims[0] != 1) {
            return absl::InternalError(absl::StrCat("user cache: the user part's output '",
                                                    uc.user_plan->outputs()[i], "' has ",
                                                    outs[i].dims[0], " rows; expected 1"));
          }
        }
        value = BoundaryValue::Make(outs);
        return absl::OkStatus();
      }));
  return value;
}

absl::Status SplitRunner::RunCached(ScoreContext* context) const {
  const UserCache& uc = *user_cache_;
  RANKOPT_ASSIGN_OR_RETURN(const CacheKey key, UserKey(context));
  std::shared_ptr<const CacheValue> cached = uc.cache->Lookup(key);
  std::shared_ptr<const BoundaryValue> value =
      std::static_pointer_cast<const BoundaryValue>(std::move(cached));
  if (value == nullptr) {
    RANKOPT_ASSIGN_OR_RETURN(value, RunUserPart(context));
    if (context->cache_results) uc.cache->Insert(key, value);
  }
  const absl::Span<const TensorView> boundary = value->views();
  const std::vector<ExecutionPlan::Input>& inputs = uc.candidate_plan->inputs();
  context->candidate_feeds.resize(inputs.size());
  for (size_t i = 0; i < inputs.size(); ++i) {
    NamedTensorView& feed = context->candidate_feeds[i];
    if (feed.name != inputs[i].name) feed.name = inputs[i].name;
    const UserCache::CandidateFeed& source = uc.candidate_feed[i];
    feed.view = source.boundary ? boundary[source.index] : FeedView(*context, source.index);
  }
  // `value` outlives the run: the candidate part reads the cached tensors in place.
  return uc.candidate_runner->RunInto(context->candidate_feeds, &context->outputs);
}

absl::Status SplitRunner::SetUpUserCache(const Graph& graph,
                                         const std::vector<RequestLevelInput>& request_inputs,
                                         const std::vector<std::string>& item_feeds) {
  const CacheOptions& co = options_.user_cache;
  RANKOPT_ASSIGN_OR_RETURN(RequestGraphSplit split,
                           SplitRequestGraph(graph, request_inputs, outputs_));
  if (!split.applicable) return absl::OkStatus();  // nothing request-level: the cache stays off
  UserCache uc;
  uc.identity = MakeCacheKey(0, identity_).lo;
  PlanOptions user_options;
  user_options.memory_cap_bytes = options_.max_request_bytes;
  RANKOPT_ASSIGN_OR_RETURN(uc.user_plan, ExecutionPlan::Create(split.user, user_options));
  PlanOptions candidate_options;
  candidate_options.outputs = outputs_;
  candidate_options.memory_cap_bytes = options_.max_request_bytes;
  RANKOPT_ASSIGN_OR_RETURN(uc.candidate_plan,
                           ExecutionPlan::Create(split.candidate, candidate_options));
  if (uc.candidate_plan->outputs() != plan_->outputs()) {
    return absl::InternalError("user cache: the candidate part's outputs differ from the model's");
  }
  const std::vector<ExecutionPlan::Input>& feeds = plan_->inputs();
  auto feed_index = [&](const std::string& name) -> absl::StatusOr<size_t> {
    const int i = FindInput(feeds, name);
    for (size_t b = 0; i < 0 && b < item_feeds.size(); ++b) {
      if (item_feeds[b] == name) return feeds.size() + b;
    }
    if (i < 0) {
      return absl::InternalError(absl::StrCat("user cache: graph input '", name,
                                              "' of a split part is not an input of the model"));
    }
    return static_cast<size_t>(i);
  };
  for (const RequestLevelInput& in : split.user_inputs) {
    if (FindInput(uc.user_plan->inputs(), in.name) < 0) continue;  // not needed by the outputs
    if (IsRemoteInput(in.name)) return absl::OkStatus();  // it differs per request: stays off
    RANKOPT_ASSIGN_OR_RETURN(const size_t index, feed_index(in.name));
    uc.key_inputs.push_back({index, in.columns});
  }
  for (const ExecutionPlan::Input& in : uc.user_plan->inputs()) {
    RANKOPT_ASSIGN_OR_RETURN(const size_t index, feed_index(in.name));
    uc.user_feed.push_back(index);
    uc.user_whole.push_back(IsRemoteInput(in.name));
  }
  if (uc.user_plan->outputs().size() != split.boundary.size()) {
    return absl::InternalError("user cache: the user part's outputs are not the boundary");
  }
  ChunkedRunnerOptions runner_options;
  runner_options.threads = options_.threads;
  runner_options.chunk_rows = options_.chunk_rows;
  runner_options.request_level_inputs = scorer_->feed_options().one_row_inputs;
  if (scorer_->options().remote_tables != nullptr) {
    for (const std::string& name : scorer_->options().remote_tables->InputNames()) {
      if (FindInput(uc.candidate_plan->inputs(), name) >= 0) {
        runner_options.request_level_inputs.push_back(name);  // whole to every chunk
      }
    }
  }
  for (const ExecutionPlan::Input& in : uc.candidate_plan->inputs()) {
    UserCache::CandidateFeed source;
    for (size_t b = 0; b < split.boundary.size(); ++b) {
      if (split.boundary[b].feed_name != in.name) continue;
      source.boundary = true;
      source.index = b;
      runner_options.request_level_inputs.push_back(in.name);
    }
    if (!source.boundary) {
      RANKOPT_ASSIGN_OR_RETURN(source.index, feed_index(in.name));
    }
    uc.candidate_feed.push_back(source);
  }
  RANKOPT_ASSIGN_OR_RETURN(uc.candidate_runner,
                           ChunkedRunner::Create(uc.candidate_plan.get(), runner_options));
  RANKOPT_ASSIGN_OR_RETURN(uc.cache, MakeCache(co));
  user_cache_ = std::make_unique<UserCache>(std::move(uc));
  stats_->AddCache("user", [cache = user_cache_->cache.get()] { return CountersOf(*cache); });
  return absl::OkStatus();
}

absl::Status SplitRunner::PrefillUserCache(const std::vector<std::string>& requests,
                                           FeedFunction feed) {
  RequestJsonParser parser;
  ScoreContext context;
  Request request;
  for (size_t i = 0; i < requests.size(); ++i) {
    absl::Status status = parser.Parse(requests[i], &request);
    if (status.ok() && request.candidates.empty()) continue;  // nothing to key on
    if (status.ok()) status = feed(request, &context);
    if (status.ok()) status = PrepareFeeds(&context);
    if (status.ok() && !context.cache_results) continue;  // a defaulted row: nothing to cache
    absl::StatusOr<CacheKey> key = status.ok() ? UserKey(&context) : status;
    if (key.ok()) {
      status = user_cache_->cache
                   ->Prefill({*key},
                             [&](size_t) -> absl::StatusOr<std::shared_ptr<const CacheValue>> {
                               RANKOPT_ASSIGN_OR_RETURN(std::shared_ptr<const BoundaryValue> v,
                                                        RunUserPart(&context));
                               return std::shared_ptr<const CacheValue>(std::move(v));
                             })
                   .status();
    } else {
      status = key.status();
    }
    if (!status.ok()) {
      return absl::Status(status.code(),
                          absl::StrCat("user cache prefill: request ", i, ": ", status.message()));
    }
  }
  return absl::OkStatus();
}

absl::Status SplitRunner::SetUpItemCache(const std::vector<RequestLevelInput>& request_inputs,
                                         std::optional<Graph>* cross) {
  RANKOPT_ASSIGN_OR_RETURN(ItemGraphSplit split, SplitItemGraph(*graph_, request_inputs, outputs_));
  if (!split.applicable) return absl::OkStatus();  // no item-level work: the cache stays off
  ItemCache ic;
  ic.identity = MakeCacheKey(0, absl::StrCat(identity_, "\nitem")).lo;
  PlanOptions item_options;
  item_options.memory_cap_bytes = options_.max_request_bytes;
  RANKOPT_ASSIGN_OR_RETURN(ic.item_plan, ExecutionPlan::Create(split.item, item_options));
  if (ic.item_plan->outputs().size() != split.boundary.size()) {
    return absl::InternalError("item cache: the item part's outputs are not the boundary");
  }
  PlanOptions cross_options;
  cross_options.outputs = outputs_;
  cross_options.memory_cap_bytes = options_.max_request_bytes;
  RANKOPT_ASSIGN_OR_RETURN(ic.cross_plan, ExecutionPlan::Create(split.cross, cross_options));
  if (ic.cross_plan->outputs() != plan_->outputs()) {
    return absl::InternalError("item cache: the cross part's outputs differ from the model's");
  }
  const std::vector<ExecutionPlan::Input>& feeds = plan_->inputs();
  auto feed_index = [&](const std::string& name) -> absl::StatusOr<size_t> {
    const int i = FindInput(feeds, name);
    if (i < 0) {
      return absl::InternalError(absl::StrCat("item cache: graph input '", name,
                                              "' of a split part is not an input of the model"));
    }
    return static_cast<size_t>(i);
  };
  for (const ExecutionPlan::Input& in : ic.item_plan->inputs()) {
    RANKOPT_ASSIGN_OR_RETURN(const size_t index, feed_index(in.name));
    ic.item_feed.push_back(index);
    ic.item_whole.push_back(IsRemoteInput(in.name));
  }
  for (const RequestLevelInput& in : split.item_inputs) {
    if (FindInput(ic.item_plan->inputs(), in.name) < 0) continue;  // not needed by the boundary
    if (IsRemoteInput(in.name)) return absl::OkStatus();  // it differs per request: stays off
    RANKOPT_ASSIGN_OR_RETURN(const size_t index, feed_index(in.name));
    ic.key_inputs.push_back({index, in.columns});
  }
  for (const ItemBoundary& b : split.boundary) {
    ItemCache::Boundary out;
    out.feed_name = b.feed_name;
    out.dtype = b.dtype;
    size_t elements = 1;
    for (int d = 1; d < b.shape.rank(); ++d) {
      out.row_dims.push_back(b.shape.dim(d));
      elements *= static_cast<size_t>(b.shape.dim(d));
    }
    if (!IsFixedWidth(b.dtype)) return absl::OkStatus();  // not applicable: stays off
    out.row_bytes = elements * DTypeSize(b.dtype);
    out.offset = ic.value_bytes;
    ic.value_bytes += out.row_bytes;
    ic.boundary.push_back(std::move(out));
  }
  for (const ExecutionPlan::Input& in : ic.cross_plan->inputs()) {
    size_t index = 0;
    bool boundary = false;
    for (size_t b = 0; b < ic.boundary.size() && !boundary; ++b) {
      if (ic.boundary[b].feed_name != in.name) continue;
      boundary = true;
      index = feeds.size() + b;
    }
    if (!boundary) {
      RANKOPT_ASSIGN_OR_RETURN(index, feed_index(in.name));
    }
    ic.cross_feed.push_back(index);
  }
  RANKOPT_ASSIGN_OR_RETURN(ic.cross_runner,
                           ChunkedRunner::Create(ic.cross_plan.get(), scorer_->runner_options()));
  RANKOPT_ASSIGN_OR_RETURN(ic.cache, MakeCache(options_.item_cache));
  *cross = std::move(split.cross);
  item_cache_ = std::make_unique<ItemCache>(std::move(ic));
  stats_->AddCache("item", [cache = item_cache_->cache.get()] { return CountersOf(*cache); });
  return absl::OkStatus();
}

absl::Status SplitRunner::RunItemPart(ScoreContext* context, int64_t candidates) const {
  const ItemCache& ic = *item_cache_;
  const size_t n = static_cast<size_t>(candidates);
  // Keys: per row, each item-part input's bytes of that row, length-prefixed.
  std::string& bytes = context->key_bytes;
  context->item_keys.resize(n);
  for (const UserCache::KeyInput& in : ic.key_inputs) {
    const TensorView& v = ModelFeeds(*context)[in.feed].view;
    if (v.rank() < 1 || v.dims[0] != candidates) {
      return absl::InternalError(
          absl::StrCat("item cache: graph input '", ModelFeeds(*context)[in.feed].name, "' has ",
                       v.rank() < 1 ? 0 : v.dims[0], " rows for ", candidates, " candidates"));
    }
    const int64_t width = v.rank() == 2 ? v.dims[1] : 0;
    for (int64_t c : in.columns) {
      if (c < 0 || c >= width) {
        return absl::InternalError(absl::StrCat("item cache: column ", c, " of graph input '",
                                                ModelFeeds(*context)[in.feed].name,
                                                "' is out of range for its ", width, " columns"));
      }
    }
  }
  for (size_t r = 0; r < n; ++r) {
    bytes.clear();
    for (const UserCache::KeyInput& in : ic.key_inputs) {
      const TensorView& v = ModelFeeds(*context)[in.feed].view;
      const size_t row_bytes = v.ByteSize() / n;
      const char* row = static_cast<const char*>(v.data) + r * row_bytes;
      const size_t esize = DTypeSize(v.dtype);
      const uint64_t length = in.columns.empty() ? row_bytes : in.columns.size() * esize;
      bytes.append(reinterpret_cast<const char*>(&length), sizeof(length));
      if (in.columns.empty()) {
        bytes.append(row, row_bytes);
      } else {
        for (int64_t c : in.columns) bytes.append(row + static_cast<size_t>(c) * esize, esize);
      }
    }
    context->item_keys[r] = MakeCacheKey(ic.identity, bytes);
  }
  context->item_values.resize(n);
  ic.cache->LookupBatch(context->item_keys, absl::MakeSpan(context->item_values));

  // The missed rows, each distinct key once.
  context->item_missed.clear();
  context->item_source.assign(n, -1);
  context->item_dedup.clear();
  for (size_t r = 0; r < n; ++r) {
    if (context->item_values[r] != nullptr) continue;
    auto [it, inserted] = context->item_dedup.try_emplace(
        context->item_keys[r], static_cast<int64_t>(context->item_missed.size()));
    if (inserted) context->item_missed.push_back(static_cast<int64_t>(r));
    context->item_source[r] = it->second;
  }
  const size_t missed = context->item_missed.size();
  context->item_fresh.resize(missed);
  if (missed > 0) {
    // One run of the item part on the missed rows, gathered.
    const std::vector<ExecutionPlan::Input>& inputs = ic.item_plan->inputs();
    context->item_feeds.resize(inputs.size());
    context->item_feed_buffers.resize(inputs.size());
    for (size_t i = 0; i < inputs.size(); ++i) {
      const NamedTensorView& source = ModelFeeds(*context)[ic.item_feed[i]];
      NamedTensorView& feed = context->item_feeds[i];
      if (ic.item_whole[i]) {  // a remote table's fetched rows or ids: every row reads them whole
        if (feed.name != source.name) feed.name = source.name;
        feed.view = source.view;
        continue;
      }
      if (source.view.rank() < 1 || source.view.dims[0] != candidates) {
        return absl::InternalError(absl::StrCat("item cache: graph input '", source.name,
                                                "' does not have one row per candidate"));
      }
      const size_t row_bytes = source.view.ByteSize() / n;
      std::vector<char>& buffer = context->item_feed_buffers[i];
      buffer.resize(std::max<size_t>(1, missed * row_bytes));
      for (size_t j = 0; j < missed; ++j) {
        std::memcpy(buffer.data() + j * row_bytes,
                    static_cast<const char*>(source.view.data) +
                        static_cast<size_t>(context->item_missed[j]) * row_bytes,
                    row_bytes);
      }
      if (feed.name != source.name) feed.name = source.name;
      feed.view = source.view;
      feed.view.dims[0] = static_cast<int64_t>(missed);
      feed.view.data = buffer.data();
    }
    RANKOPT_RETURN_IF_ERROR(ic.item_plan->RunWithSink(
        context->item_feeds, [&](absl::Span<const TensorView> outs) -> absl::Status {
          if (outs.size() != ic.boundary.size()) {
            return absl::InternalError("item cache: the item part's outputs are not the boundary");
          }
          for (size_t b = 0; b < outs.size(); ++b) {
            if (outs[b].dtype != ic.boundary[b].dtype || outs[b].rank() < 1 ||
                outs[b].dims[0] != static_cast<int64_t>(missed) ||
                outs[b].ByteSize() != missed * ic.boundary[b].row_bytes) {
              return absl::InternalError(
                  absl::StrCat("item cache: the item part's output '", ic.item_plan->outputs()[b],
                               "' is ", DescribeTensor(outs[b]), "; expected ", missed, " rows of ",
                               ic.boundary[b].row_bytes, " bytes"));
            }
          }
          for (size_t j = 0; j < missed; ++j) {
            std::string value(ic.value_bytes, '\0');
            for (size_t b = 0; b < outs.size(); ++b) {
              const size_t row_bytes = ic.boundary[b].row_bytes;
              std::memcpy(value.data() + ic.boundary[b].offset,
                          static_cast<const char*>(outs[b].data) + j * row_bytes, row_bytes);
            }
            context->item_fresh[j] = std::make_shared<const CacheValue>(std::move(value));
          }
          return absl::OkStatus();
        }));
    for (size_t j = 0; j < missed && context->cache_results; ++j) {
      ic.cache->Insert(context->item_keys[static_cast<size_t>(context->item_missed[j])],
                       context->item_fresh[j]);
    }
  }

  // Every row's boundary, gathered into the context's buffers: row-major (each value's bytes are
  // read once, in order), the value `kAhead` rows on prefetched (they are mostly in DRAM).
  const size_t boundaries = ic.boundary.size();
  context->item_boundary.resize(boundaries);
  context->item_boundary_buffers.resize(boundaries);
  for (size_t b = 0; b < boundaries; ++b) {
    context->item_boundary_buffers[b].resize(std::max<size_t>(1, n * ic.boundary[b].row_bytes));
  }
  auto value_of = [&](size_t r) -> const CacheValue* {
    return context->item_values[r] != nullptr
               ? context->item_values[r].get()
               : context->item_fresh[static_cast<size_t>(context->item_source[r])].get();
  };
  constexpr size_t kAhead = 4;
  for (size_t r = 0; r < n; ++r) {
    if (r + kAhead < n) {
      const char* ahead = value_of(r + kAhead)->bytes().data();
      for (size_t line = 0; line < ic.value_bytes; line += 64) __builtin_prefetch(ahead + line);
    }
    const char* value = value_of(r)->bytes().data();
    for (size_t b = 0; b < boundaries; ++b) {
      const ItemCache::Boundary& boundary = ic.boundary[b];
      std::memcpy(context->item_boundary_buffers[b].data() + r * boundary.row_bytes,
                  value + boundary.offset, boundary.row_bytes);
    }
  }
  for (size_t b = 0; b < boundaries; ++b) {
    const ItemCache::Boundary& boundary = ic.boundary[b];
    TensorView& view = context->item_boundary[b];
    view.dtype = boundary.dtype;
    view.dims.clear();
    view.dims.push_back(candidates);
    view.dims.insert(view.dims.end(), boundary.row_dims.begin(), boundary.row_dims.end());
    view.data = context->item_boundary_buffers[b].data();
  }
  // Drop the references: the cache may free evicted values now.
  for (std::shared_ptr<const CacheValue>& v : context->item_values) v.reset();
  for (std::shared_ptr<const CacheValue>& v : context->item_fresh) v.reset();
  return absl::OkStatus();
}

absl::Status SplitRunner::PrefillItemCache(const std::vector<std::string>& requests,
                                           FeedFunction feed) {
  RequestJsonParser parser;
  ScoreContext context;
  Request request;
  for (size_t i = 0; i < requests.size(); ++i) {
    absl::Status status = parser.Parse(requests[i], &request);
    if (status.ok() && request.candidates.empty()) continue;  // nothing to cache
    if (status.ok()) status = feed(request, &context);
    if (status.ok()) status = PrepareFeeds(&context);
    if (status.ok() && context.cache_results) {
      status = RunItemPart(&context, static_cast<int64_t>(request.candidates.size()));
    }
    if (!status.ok()) {
      return absl::Status(status.code(),
                          absl::StrCat("item cache prefill: request ", i, ": ", status.message()));
    }
  }
  return absl::OkStatus();
}

}  // namespace rankopt
