#include "serving/model.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <mutex>
#include <optional>
#include <type_traits>
#include <utility>
#include <variant>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "cache/cache_key.h"
#include "cache/cache_value.h"
#include "cache/sharded_cache.h"
#include "core/status_macros.h"
#include "features/config/feature_config.h"
#include "features/pipeline/feature_transformer.h"
#include "features/request/request_json.h"
#include "graph/exec/chunked_runner.h"
#include "graph/exec/execution_plan.h"
#include "graph/passes/request_level.h"
#include "graph/split/split_item_graph.h"
#include "graph/split/split_request_graph.h"
#include "graph/passes/pass_util.h"
#include "serving/feature_feeds.h"
#include "serving/package/mapping_guard.h"
#include "serving/package/model_package.h"
#include "serving/request_level_inputs.h"

namespace rankopt {

// What one Score call works in: reused across calls, so a warm context allocates nothing.
struct ScoreContext {
  TransformedRequest transformed;
  GraphFeeds feeds;
  ChunkedOutputs outputs;
  // User cache: the key's bytes, and the feeds of the user and candidate parts (views).
  std::string key_bytes;
  std::vector<NamedTensorView> user_feeds;
  std::vector<NamedTensorView> candidate_feeds;
  // Item cache: per candidate its key and cached value; the distinct missed rows (item_missed) and
  // each row's index among them (item_source, -1: a hit) with their fresh values; the item
  // part's gathered feeds; the boundary of every row (item_boundary views item_boundary_buffers);
  // the cross part's feeds.
  std::vector<CacheKey> item_keys;
  std::vector<std::shared_ptr<const CacheValue>> item_values;
  std::vector<std::shared_ptr<const CacheValue>> item_fresh;
  std::vector<int64_t> item_missed;
  std::vector<int64_t> item_source;
  absl::flat_hash_map<CacheKey, int64_t, CacheKeyHash> item_dedup;
  std::vector<std::vector<char>> item_feed_buffers;
  std::vector<NamedTensorView> item_feeds;
  std::vector<std::vector<char>> item_boundary_buffers;
  std::vector<TensorView> item_boundary;
  std::vector<NamedTensorView> cross_feeds;
};

namespace {

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

}  // namespace

// The user-side result cache of a model whose graph splits (graph/passes/split_request_graph.h).
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
  // Candidate plan input i: a feed index, or (boundary) an index into the boundary tensors.
  struct CandidateFeed {
    bool boundary = false;
    size_t index = 0;
  };
  std::vector<CandidateFeed> candidate_feed;
};

// The item cache of a model whose graph splits (graph/passes/split_item_graph.h). Feeds of the
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

struct Model::State {
  ModelPackage package;  // owns the graph whose constants view the mapped file
  std::string path;
  ModelOptions options;
  std::optional<FeatureTransformer> transformer;
  std::unique_ptr<const ExecutionPlan> plan;
  std::unique_ptr<ChunkedRunner> runner;
  std::vector<std::string> heads;
  std::unique_ptr<ModelStats> stats;
  // Whole request-level inputs fed with one row (FeedOptions::one_row_inputs).
  FeedOptions feed_options;
  // The whole model's runner options (the parts' runners start from them).
  ChunkedRunnerOptions runner_options;
  std::optional<UserCache> user_cache;  // engaged when ModelOptions::user_cache is on
  std::optional<ItemCache> item_cache;  // engaged when ModelOptions::item_cache is on

  // std::mutex, not Abseil's: Debian's Abseil is not built for TSan, which could not see it.
  std::mutex pool_mu;
  std::vector<std::unique_ptr<ScoreContext>> pool;  // guarded by pool_mu

  std::unique_ptr<ScoreContext> Acquire() {
    {
      std::lock_guard<std::mutex> lock(pool_mu);
      if (!pool.empty()) {
        std::unique_ptr<ScoreContext> context = std::move(pool.back());
        pool.pop_back();
        return context;
      }
    }
    return std::make_unique<ScoreContext>();
  }
  void Release(std::unique_ptr<ScoreContext> context) {
    std::lock_guard<std::mutex> lock(pool_mu);
    pool.push_back(std::move(context));
  }

  // The model's identity (name, version, source, options, file): cache keys' seed.
  std::string Identity() const {
    return absl::StrCat(package.model_name, "\n", package.model_version, "\n",
                        package.source_hash, "\n", package.opt_level, "\n", package.int8_mode,
                        "\n", path);
  }
  std::string Where() const {
    return absl::StrCat("model '", package.model_name, "' version ", package.model_version);
  }
  absl::Status Run(const Request& request, const ScoreOptions& options, ScoreContext* context,
                   Scores* scores) const;
  // The transformed request's feeds in context->feeds.
  absl::Status Feed(const Request& request, ScoreContext* context) const;
  // The user cache's key of the request in context->feeds.
  absl::StatusOr<CacheKey> UserKey(ScoreContext* context) const;
  // Runs the user part on row 0 of context->feeds.
  absl::StatusOr<std::shared_ptr<const BoundaryValue>> RunUserPart(ScoreContext* context) const;
  // The candidate part on context->feeds, the user part's results from the cache or computed.
  absl::Status RunCached(ScoreContext* context) const;
  // `graph`: the model's graph, or the item cache's cross part (whose inputs beyond the model's
  // are `item_feeds`, at extended feed indices).
  absl::Status SetUpUserCache(const Graph& graph,
                              const std::vector<RequestLevelInput>& request_inputs,
                              const std::vector<std::string>& item_feeds);
  absl::Status PrefillUserCache(const std::vector<std::string>& requests);
  // The view of extended feed `index` (see ItemCache).
  const TensorView& FeedView(const ScoreContext& context, size_t index) const {
    const size_t model_feeds = plan->inputs().size();
    return index < model_feeds ? context.feeds.views[index].view
                               : context.item_boundary[index - model_feeds];
  }
  // Item cache: context->item_boundary for every candidate of context->feeds, from the cache or
  // (the missed rows, once per distinct key, in one batch) computed and inserted.
  absl::Status RunItemPart(ScoreContext* context, int64_t candidates) const;
  // Sets up the item cache; `cross` receives its cross part (unchanged when not applicable).
  absl::Status SetUpItemCache(const std::vector<RequestLevelInput>& request_inputs,
                              std::optional<Graph>* cross);
  absl::Status PrefillItemCache(const std::vector<std::string>& requests);
};

const std::vector<float>* Scores::Find(std::string_view head) const {
  for (size_t i = 0; i < heads.size(); ++i) {
    if (heads[i] == head) return &values[i];
  }
  return nullptr;
}

namespace {

size_t FeedBytes(const GraphFeeds& feeds) {
  size_t bytes = 0;
  for (const std::vector<char>& buffer : feeds.buffers) bytes += buffer.size();
  return bytes;
}

// Copies one output head (dims [N] or [N, 1]) into `out` as float.
absl::Status CopyHead(const TensorView& view, int64_t candidates, const std::string& head,
                      std::vector<float>* out) {
  if (view.NumElements() != candidates) {
    return absl::InternalError(absl::StrCat("output '", head, "' has ", view.NumElements(),
                                            " values for ", candidates,
                                            " candidates; expected one score per candidate"));
  }
  out->resize(static_cast<size_t>(candidates));
  switch (view.dtype) {
    case DType::kFloat32: {
      const absl::Span<const float> v = view.values<float>();
      std::memcpy(out->data(), v.data(), v.size() * sizeof(float));
      return absl::OkStatus();
    }
    case DType::kFloat64: {
      const absl::Span<const double> v = view.values<double>();
      for (size_t i = 0; i < v.size(); ++i) (*out)[i] = static_cast<float>(v[i]);
      return absl::OkStatus();
    }
    default:
      return absl::InternalError(absl::StrCat("output '", head, "' is ", DTypeName(view.dtype),
                                              "; scores must be float32 or float64"));
  }
}

}  // namespace

absl::Status Model::State::Run(const Request& request, const ScoreOptions& options,
                               ScoreContext* context, Scores* scores) const {
  const int64_t candidates = static_cast<int64_t>(request.candidates.size());
  if (candidates > this->options.max_candidates) {
    return absl::InvalidArgumentError(
        absl::StrCat("the request has ", candidates, " candidates; at most ",
                     this->options.max_candidates, " are allowed (ModelOptions::max_candidates)"));
  }
  RANKOPT_RETURN_IF_ERROR(Feed(request, context));
  for (size_t f = 0; f < context->transformed.stats.size(); ++f) {
    const FeatureStats& s = context->transformed.stats[f];
    stats->RecordFeature(f, s.defaults_applied, s.out_of_range);
  }
  const size_t feed_bytes = FeedBytes(context->feeds);
  if (this->options.max_request_bytes != 0 && feed_bytes > this->options.max_request_bytes) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "the request's model inputs take ", feed_bytes, " bytes, over the per-request cap of ",
        this->options.max_request_bytes, " (ModelOptions::max_request_bytes)"));
  }
  if (candidates == 0) {
    // Nothing to score: every requested head is empty.
  } else if (item_cache.has_value()) {
    RANKOPT_RETURN_IF_ERROR(RunItemPart(context, candidates));
    if (user_cache.has_value()) {
      RANKOPT_RETURN_IF_ERROR(RunCached(context));
    } else {
      const ItemCache& ic = *item_cache;
      const std::vector<ExecutionPlan::Input>& inputs = ic.cross_plan->inputs();
      context->cross_feeds.resize(inputs.size());
      for (size_t i = 0; i < inputs.size(); ++i) {
        NamedTensorView& feed = context->cross_feeds[i];
        if (feed.name != inputs[i].name) feed.name = inputs[i].name;
        feed.view = FeedView(*context, ic.cross_feed[i]);
      }
      RANKOPT_RETURN_IF_ERROR(ic.cross_runner->RunInto(context->cross_feeds, &context->outputs));
    }
  } else if (user_cache.has_value()) {
    RANKOPT_RETURN_IF_ERROR(RunCached(context));
  } else {
    RANKOPT_RETURN_IF_ERROR(runner->RunInto(context->feeds.views, &context->outputs));
  }
  const absl::Span<const TensorView> views = context->outputs.views();
  const size_t count = options.heads.empty() ? heads.size() : options.heads.size();
  scores->heads.resize(count);
  scores->values.resize(count);
  for (size_t k = 0; k < count; ++k) {
    size_t index = k;
    if (!options.heads.empty()) {
      index = heads.size();
      for (size_t h = 0; h < heads.size(); ++h) {
        if (heads[h] == options.heads[k]) index = h;
      }
      if (index == heads.size()) {
        return absl::InvalidArgumentError(
            absl::StrCat("unknown output head '", options.heads[k],
                         "'; the model's heads are: ", absl::StrJoin(heads, ", ")));
      }
    }
    scores->heads[k].assign(heads[index]);
    if (candidates == 0) {
      scores->values[k].clear();
      continue;
    }
    RANKOPT_RETURN_IF_ERROR(CopyHead(views[index], candidates, heads[index], &scores->values[k]));
  }
  return absl::OkStatus();
}

namespace {

// The longest list value of `row`.
int64_t LongestList(const FeatureRow& row) {
  int64_t longest = 0;
  for (const FeatureRow::Entry& entry : row.entries()) {
    const int64_t n = std::visit(
        [](const auto& v) -> int64_t {
          using T = std::decay_t<decltype(v)>;
          if constexpr (std::is_same_v<T, std::vector<int64_t>> ||
                        std::is_same_v<T, std::vector<double>> ||
                        std::is_same_v<T, std::vector<std::string>>) {
            return static_cast<int64_t>(v.size());
          } else {
            return 0;
          }
        },
        entry.second);
    longest = std::max(longest, n);
  }
  return longest;
}

absl::Status CheckSequenceLengths(const Request& request, int64_t limit) {
  auto check = [limit](const FeatureRow& row, absl::string_view where) -> absl::Status {
    if (LongestList(row) <= limit) return absl::OkStatus();
    for (const FeatureRow::Entry& entry : row.entries()) {
      const auto* ids = std::get_if<std::vector<int64_t>>(&entry.second);
      const auto* floats = std::get_if<std::vector<double>>(&entry.second);
      const auto* strings = std::get_if<std::vector<std::string>>(&entry.second);
      const size_t n = ids ? ids->size() : floats ? floats->size() : strings ? strings->size() : 0;
      if (static_cast<int64_t>(n) > limit) {
        return absl::InvalidArgumentError(
            absl::StrCat(where, ".", entry.first, " has ", n, " elements; at most ", limit,
                         " are allowed (ModelOptions::max_sequence_length)"));
      }
    }
    return absl::OkStatus();
  };
  RANKOPT_RETURN_IF_ERROR(check(request.user, "user"));
  RANKOPT_RETURN_IF_ERROR(check(request.context, "context"));
  for (size_t i = 0; i < request.candidates.size(); ++i) {
    RANKOPT_RETURN_IF_ERROR(check(request.candidates[i], absl::StrCat("candidates[", i, "]")));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status Model::State::Feed(const Request& request, ScoreContext* context) const {
  RANKOPT_RETURN_IF_ERROR(CheckSequenceLengths(request, options.max_sequence_length));
  RANKOPT_RETURN_IF_ERROR(transformer->Transform(request, &context->transformed));
  return FeedsFromTransformedRequest(context->transformed, plan->inputs(), &context->feeds,
                                     feed_options);
}

absl::StatusOr<CacheKey> Model::State::UserKey(ScoreContext* context) const {
  std::string& bytes = context->key_bytes;
  bytes.clear();
  for (const UserCache::KeyInput& in : user_cache->key_inputs) {
    const TensorView& v = context->feeds.views[in.feed].view;
    if (v.rank() < 1 || v.dims[0] < 1) {
      return absl::InternalError(absl::StrCat("user cache: graph input '",
                                              context->feeds.views[in.feed].name,
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
        return absl::InternalError(absl::StrCat(
            "user cache: column ", c, " of graph input '", context->feeds.views[in.feed].name,
            "' is out of range for its ", width, " columns"));
      }
      bytes.append(row + static_cast<size_t>(c) * esize, esize);
    }
  }
  return MakeCacheKey(user_cache->identity, bytes);
}

absl::StatusOr<std::shared_ptr<const BoundaryValue>> Model::State::RunUserPart(
    ScoreContext* context) const {
  const UserCache& uc = *user_cache;
  const std::vector<ExecutionPlan::Input>& inputs = uc.user_plan->inputs();
  context->user_feeds.resize(inputs.size());
  for (size_t i = 0; i < inputs.size(); ++i) {
    NamedTensorView& feed = context->user_feeds[i];
    const NamedTensorView& source = context->feeds.views[uc.user_feed[i]];
    if (feed.name != source.name) feed.name = source.name;
    feed.view = source.view;
    // The user part reads row 0 only (through _RankoptRequestRow): feed that row.
    if (feed.view.rank() >= 1 && feed.view.dims[0] > 1) feed.view.dims[0] = 1;
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

absl::Status Model::State::RunCached(ScoreContext* context) const {
  const UserCache& uc = *user_cache;
  RANKOPT_ASSIGN_OR_RETURN(const CacheKey key, UserKey(context));
  std::shared_ptr<const CacheValue> cached = uc.cache->Lookup(key);
  std::shared_ptr<const BoundaryValue> value =
      std::static_pointer_cast<const BoundaryValue>(std::move(cached));
  if (value == nullptr) {
    RANKOPT_ASSIGN_OR_RETURN(value, RunUserPart(context));
    uc.cache->Insert(key, value);
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

namespace {

// The whole request-level inputs of `request_inputs` that `graph` reads only through _RankoptRequestRow
// without `columns` (row 0): they can be fed with one row.
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

int FindInput(const std::vector<ExecutionPlan::Input>& inputs, const std::string& name) {
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (inputs[i].name == name) return static_cast<int>(i);
  }
  return -1;
}

}  // namespace

namespace {

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
  cache_options.eviction = co.eviction == CacheOptions::Eviction::kClock ? EvictionPolicy::kClock
                                                                         : EvictionPolicy::kLru;
  return ShardedCache::Create(cache_options);
}

}  // namespace

absl::Status Model::State::SetUpUserCache(const Graph& graph,
                                          const std::vector<RequestLevelInput>& request_inputs,
                                          const std::vector<std::string>& item_feeds) {
  const CacheOptions& co = options.user_cache;
  RANKOPT_ASSIGN_OR_RETURN(RequestGraphSplit split,
                           SplitRequestGraph(graph, request_inputs, package.outputs));
  if (!split.applicable) return absl::OkStatus();  // nothing request-level: the cache stays off
  UserCache uc;
  uc.identity = MakeCacheKey(0, Identity()).lo;
  PlanOptions user_options;
  user_options.memory_cap_bytes = options.max_request_bytes;
  RANKOPT_ASSIGN_OR_RETURN(uc.user_plan, ExecutionPlan::Create(split.user, user_options));
  PlanOptions candidate_options;
  candidate_options.outputs = package.outputs;
  candidate_options.memory_cap_bytes = options.max_request_bytes;
  RANKOPT_ASSIGN_OR_RETURN(uc.candidate_plan,
                           ExecutionPlan::Create(split.candidate, candidate_options));
  if (uc.candidate_plan->outputs() != plan->outputs()) {
    return absl::InternalError("user cache: the candidate part's outputs differ from the model's");
  }
  const std::vector<ExecutionPlan::Input>& feeds = plan->inputs();
  auto feed_index = [&](const std::string& name) -> absl::StatusOr<size_t> {
    const int i = FindInput(feeds, name);
    for (size_t b = 0; i < 0 && b < item_feeds.size(); ++b) {
      if (item_feeds[b] == name) return feeds.size() + b;
    }
    if (i < 0) {
      return absl::InternalError(absl::StrCat(
          "user cache: graph input '", name, "' of a split part is not an input of the model"));
    }
    return static_cast<size_t>(i);
  };
  for (const RequestLevelInput& in : split.user_inputs) {
    if (FindInput(uc.user_plan->inputs(), in.name) < 0) continue;  // not needed by the outputs
    RANKOPT_ASSIGN_OR_RETURN(const size_t index, feed_index(in.name));
    uc.key_inputs.push_back({index, in.columns});
  }
  for (const ExecutionPlan::Input& in : uc.user_plan->inputs()) {
    RANKOPT_ASSIGN_OR_RETURN(const size_t index, feed_index(in.name));
    uc.user_feed.push_back(index);
  }
  if (uc.user_plan->outputs().size() != split.boundary.size()) {
    return absl::InternalError("user cache: the user part's outputs are not the boundary");
  }
  ChunkedRunnerOptions runner_options;
  runner_options.threads = options.threads;
  runner_options.chunk_rows = options.chunk_rows;
  runner_options.request_level_inputs = feed_options.one_row_inputs;
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
  user_cache.emplace(std::move(uc));
  stats->AddCache("user", [cache = user_cache->cache.get()] { return CountersOf(*cache); });
  return absl::OkStatus();
}

absl::Status Model::State::PrefillUserCache(const std::vector<std::string>& requests) {
  RequestJsonParser parser;
  ScoreContext context;
  Request request;
  for (size_t i = 0; i < requests.size(); ++i) {
    absl::Status status = parser.Parse(requests[i], &request);
    if (status.ok() && request.candidates.empty()) continue;  // nothing to key on
    if (status.ok()) status = Feed(request, &context);
    absl::StatusOr<CacheKey> key = status.ok() ? UserKey(&context) : status;
    if (key.ok()) {
      status = user_cache->cache
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
      return absl::Status(status.code(), absl::StrCat("user cache prefill: request ", i, ": ",
                                                      status.message()));
    }
  }
  return absl::OkStatus();
}

absl::Status Model::State::SetUpItemCache(const std::vector<RequestLevelInput>& request_inputs,
                                          std::optional<Graph>* cross) {
  RANKOPT_ASSIGN_OR_RETURN(ItemGraphSplit split,
                           SplitItemGraph(package.graph, request_inputs, package.outputs));
  if (!split.applicable) return absl::OkStatus();  // no item-level work: the cache stays off
  ItemCache ic;
  ic.identity = MakeCacheKey(0, absl::StrCat(Identity(), "\nitem")).lo;
  PlanOptions item_options;
  item_options.memory_cap_bytes = options.max_request_bytes;
  RANKOPT_ASSIGN_OR_RETURN(ic.item_plan, ExecutionPlan::Create(split.item, item_options));
  if (ic.item_plan->outputs().size() != split.boundary.size()) {
    return absl::InternalError("item cache: the item part's outputs are not the boundary");
  }
  PlanOptions cross_options;
  cross_options.outputs = package.outputs;
  cross_options.memory_cap_bytes = options.max_request_bytes;
  RANKOPT_ASSIGN_OR_RETURN(ic.cross_plan, ExecutionPlan::Create(split.cross, cross_options));
  if (ic.cross_plan->outputs() != plan->outputs()) {
    return absl::InternalError("item cache: the cross part's outputs differ from the model's");
  }
  const std::vector<ExecutionPlan::Input>& feeds = plan->inputs();
  auto feed_index = [&](const std::string& name) -> absl::StatusOr<size_t> {
    const int i = FindInput(feeds, name);
    if (i < 0) {
      return absl::InternalError(absl::StrCat(
          "item cache: graph input '", name, "' of a split part is not an input of the model"));
    }
    return static_cast<size_t>(i);
  };
  for (const ExecutionPlan::Input& in : ic.item_plan->inputs()) {
    RANKOPT_ASSIGN_OR_RETURN(const size_t index, feed_index(in.name));
    ic.item_feed.push_back(index);
  }
  for (const RequestLevelInput& in : split.item_inputs) {
    if (FindInput(ic.item_plan->inputs(), in.name) < 0) continue;  // not needed by the boundary
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
                           ChunkedRunner::Create(ic.cross_plan.get(), runner_options));
  RANKOPT_ASSIGN_OR_RETURN(ic.cache, MakeCache(options.item_cache));
  *cross = std::move(split.cross);
  item_cache.emplace(std::move(ic));
  stats->AddCache("item", [cache = item_cache->cache.get()] { return CountersOf(*cache); });
  return absl::OkStatus();
}

absl::Status Model::State::RunItemPart(ScoreContext* context, int64_t candidates) const {
  const ItemCache& ic = *item_cache;
  const size_t n = static_cast<size_t>(candidates);
  // Keys: per row, each item-part input's bytes of that row, length-prefixed.
  std::string& bytes = context->key_bytes;
  context->item_keys.resize(n);
  for (const UserCache::KeyInput& in : ic.key_inputs) {
    const TensorView& v = context->feeds.views[in.feed].view;
    if (v.rank() < 1 || v.dims[0] != candidates) {
      return absl::InternalError(absl::StrCat("item cache: graph input '",
                                              context->feeds.views[in.feed].name, "' has ",
                                              v.rank() < 1 ? 0 : v.dims[0], " rows for ",
                                              candidates, " candidates"));
    }
    const int64_t width = v.rank() == 2 ? v.dims[1] : 0;
    for (int64_t c : in.columns) {
      if (c < 0 || c >= width) {
        return absl::InternalError(absl::StrCat(
            "item cache: column ", c, " of graph input '", context->feeds.views[in.feed].name,
            "' is out of range for its ", width, " columns"));
      }
    }
  }
  for (size_t r = 0; r < n; ++r) {
    bytes.clear();
    for (const UserCache::KeyInput& in : ic.key_inputs) {
      const TensorView& v = context->feeds.views[in.feed].view;
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
      const NamedTensorView& source = context->feeds.views[ic.item_feed[i]];
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
      NamedTensorView& feed = context->item_feeds[i];
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
              return absl::InternalError(absl::StrCat(
                  "item cache: the item part's output '", ic.item_plan->outputs()[b], "' is ",
                  DescribeTensor(outs[b]), "; expected ", missed, " rows of ",
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
    for (size_t j = 0; j < missed; ++j) {
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

absl::Status Model::State::PrefillItemCache(const std::vector<std::string>& requests) {
  RequestJsonParser parser;
  ScoreContext context;
  Request request;
  for (size_t i = 0; i < requests.size(); ++i) {
    absl::Status status = parser.Parse(requests[i], &request);
    if (status.ok() && request.candidates.empty()) continue;  // nothing to cache
    if (status.ok()) status = Feed(request, &context);
    if (status.ok()) {
      status = RunItemPart(&context, static_cast<int64_t>(request.candidates.size()));
    }
    if (!status.ok()) {
      return absl::Status(status.code(), absl::StrCat("item cache prefill: request ", i, ": ",
                                                      status.message()));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::shared_ptr<const Model>> Model::Load(const std::string& path,
                                                         const ModelOptions& options) {
  if (options.threads < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("ModelOptions::threads is ", options.threads, "; expected >= 1"));
  }
  auto state = std::make_unique<State>();
  state->path = path;
  state->options = options;
  ReadPackageOptions read;
  read.verify_checksums = options.verify_checksums;
  read.max_file_bytes = options.max_package_bytes;
  read.max_graph_nodes = options.max_graph_nodes;
  read.max_tensor_bytes = options.max_tensor_bytes;
  RANKOPT_ASSIGN_OR_RETURN(state->package, ReadModelPackage(path, read));
  const ModelPackage& package = state->package;

  absl::StatusOr<FeatureConfig> config = ParseFeatureConfig(
      package.feature_config_yaml, absl::StrCat(path, ": feature config"));
  if (!config.ok()) return config.status();
  std::vector<std::string> features;
  for (const FeatureSpec& f : config->features) features.push_back(f.name);
  const std::vector<RequestLevelInput> request_inputs = RequestLevelInputsOf(*config);
  absl::StatusOr<FeatureTransformer> transformer = FeatureTransformer::Create(*std::move(config));
  if (!transformer.ok()) {
    return absl::Status(transformer.status().code(),
                        absl::StrCat(path, ": ", transformer.status().message()));
  }
  state->transformer.emplace(*std::move(transformer));

  PlanOptions plan_options;
  plan_options.outputs = package.outputs;
  plan_options.memory_cap_bytes = options.max_request_bytes;
  absl::StatusOr<std::unique_ptr<const ExecutionPlan>> plan =
      ExecutionPlan::Create(package.graph, plan_options);
  if (!plan.ok()) {
    return absl::Status(plan.status().code(), absl::StrCat(path, ": ", plan.status().message()));
  }
  state->plan = *std::move(plan);
  state->feed_options.one_row_inputs = OneRowInputs(package.graph, request_inputs);
  ChunkedRunnerOptions runner_options;
  runner_options.threads = options.threads;
  runner_options.chunk_rows = options.chunk_rows;
  runner_options.request_level_inputs = package.request_level_inputs;
  for (const std::string& name : state->feed_options.one_row_inputs) {
    if (std::find(runner_options.request_level_inputs.begin(),
                  runner_options.request_level_inputs.end(),
                  name) == runner_options.request_level_inputs.end()) {
      runner_options.request_level_inputs.push_back(name);
    }
  }
  state->runner_options = runner_options;
  RANKOPT_ASSIGN_OR_RETURN(state->runner,
                           ChunkedRunner::Create(state->plan.get(), runner_options));
  state->heads = state->plan->outputs();
  state->stats = std::make_unique<ModelStats>(std::move(features));
  std::optional<Graph> cross;  // the item cache's cross part
  std::vector<std::string> item_feeds;
  if (options.item_cache.capacity_bytes > 0) {
    absl::Status status = state->SetUpItemCache(request_inputs, &cross);
    if (status.ok() && state->item_cache.has_value()) {
      for (const ItemCache::Boundary& b : state->item_cache->boundary) {
        item_feeds.push_back(b.feed_name);
      }
      std::vector<std::string> hot = options.item_cache.prefill_requests;
      if (options.item_cache.prefill_from_warmup_requests) {
        hot.insert(hot.end(), package.warmup_requests.begin(), package.warmup_requests.end());
      }
      status = state->PrefillItemCache(hot);
    }
    if (!status.ok()) {
      return absl::Status(status.code(), absl::StrCat(path, ": ", status.message()));
    }
  }
  if (options.user_cache.capacity_bytes > 0) {
    absl::Status status = state->SetUpUserCache(cross.has_value() ? *cross : package.graph,
                                                request_inputs, item_feeds);
    if (status.ok() && state->user_cache.has_value()) {
      std::vector<std::string> hot = options.user_cache.prefill_requests;
      if (options.user_cache.prefill_from_warmup_requests) {
        hot.insert(hot.end(), package.warmup_requests.begin(), package.warmup_requests.end());
      }
      status = state->PrefillUserCache(hot);
    }
    if (!status.ok()) {
      return absl::Status(status.code(), absl::StrCat(path, ": ", status.message()));
    }
  }

  std::shared_ptr<const Model> model(new Model(std::move(state)));
  if (options.warm_up && !model->warmup_requests().empty()) {
    RequestJsonParser parser;
    for (size_t i = 0; i < model->warmup_requests().size(); ++i) {
      Request request;
      absl::Status status = parser.Parse(model->warmup_requests()[i], &request);
      if (status.ok()) status = model->WarmUp(request);
      if (!status.ok()) {
        return absl::Status(status.code(), absl::StrCat(path, ": warm-up request ", i,
                                                        " failed: ", status.message()));
      }
    }
  }
  return model;
}

Model::Model(std::unique_ptr<State> state) : state_(std::move(state)) {}
Model::~Model() = default;

absl::StatusOr<Scores> Model::Score(const Request& request, const ScoreOptions& options) const {
  Scores scores;
  RANKOPT_RETURN_IF_ERROR(ScoreInto(request, options, &scores));
  return scores;
}

absl::Status Model::ScoreInto(const Request& request, const ScoreOptions& options,
                              Scores* scores) const {
  const auto start = std::chrono::steady_clock::now();
  std::unique_ptr<ScoreContext> context = state_->Acquire();
  absl::Status status = state_->Run(request, options, context.get(), scores);
  state_->Release(std::move(context));
  if (status.ok() && MappingDamaged(state_->package.mapping_guard)) {
    // Computed (partly) from zero pages: the file was truncated under the running model.
    status = absl::DataLossError(absl::StrCat(
        "the package file ", state_->path,
        " was truncated or overwritten in place while being served; its scores cannot be "
        "trusted. Deploy new versions by rename (a new version folder) and reload"));
  }
  if (!status.ok()) {
    state_->stats->RecordError(status.code());
    return absl::Status(status.code(), absl::StrCat(state_->Where(), ": ", status.message()));
  }
  state_->stats->RecordRequest(
      static_cast<int64_t>(request.candidates.size()),
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  return absl::OkStatus();
}

absl::Status Model::WarmUp(const Request& request) const {
  Scores scores;
  std::unique_ptr<ScoreContext> context = state_->Acquire();
  absl::Status status = state_->Run(request, {}, context.get(), &scores);
  state_->Release(std::move(context));
  return status;
}

const std::string& Model::name() const { return state_->package.model_name; }
const std::string& Model::version() const { return state_->package.model_version; }
const std::string& Model::path() const { return state_->path; }
const std::vector<std::string>& Model::heads() const { return state_->heads; }
const std::vector<std::string>& Model::warmup_requests() const {
  return state_->package.warmup_requests;
}
const ModelStats& Model::stats() const { return *state_->stats; }
bool Model::user_cache_enabled() const { return state_->user_cache.has_value(); }
bool Model::item_cache_enabled() const { return state_->item_cache.has_value(); }

}  // namespace rankopt
