// The cached split execution of a Model: the user-side cache (the request-level part of an O2
// graph computed once per distinct user, graph/split/split_request_graph.h) and the item cache
// (the item-level part computed once per distinct item row, graph/split/split_item_graph.h).
// Scores are bitwise equal to the Scorer's whole-graph run. With remote tables, the rows are
// fetched once per request and fed whole to every part that reads them; a lookup into a remote
// table belongs to the user part when its ids are request-level and to the item part when they
// are item-level (graph/passes/request_level.h: IsRemoteTableInput), as with a local table. A
// cached value then depends on remote rows only through ids its key covers (a published version's
// rows never change), and a request with a defaulted row inserts nothing.
#ifndef RANKOPT_SERVING_SPLIT_RUNNER_H_
#define RANKOPT_SERVING_SPLIT_RUNNER_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "cache/cache_key.h"
#include "cache/cache_value.h"
#include "graph/ir/graph.h"
#include "rankopt/model.h"
#include "serving/scorer.h"

namespace rankopt {

struct RemoteFetchScratch;  // serving/remote/remote_tables.h

// What one Model::Score call works in: the scorer's context plus the caches' scratch, reused
// across calls so a warm context allocates nothing. Not thread-safe: one per concurrent call.
struct ScoreContext : ScorerContext {
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
  // Remote tables (a package whose tables live in a Redis Cluster): the request's rows fetched
  // into `remote`, and the feeds in the plan's input order (the request's and the remote ones);
  // `cache_results` false when a row was the default row (failure policy kDefaultRow), so that
  // nothing computed for this request is cached.
  std::shared_ptr<RemoteFetchScratch> remote;
  std::vector<NamedTensorView> remote_feeds;
  bool remote_fed = false;
  bool cache_results = true;
};

class BoundaryValue;
struct UserCache;
struct ItemCache;

// Fills context->feeds from a request (the Model's checks, then Scorer::Feed).
using FeedFunction = absl::FunctionRef<absl::Status(const Request&, ScoreContext*)>;

// Runs a model's graph split for its caches. Immutable after Create; Run is safe for concurrent
// use (one ScoreContext per caller); the scorer, graph and stats must outlive it.
class SplitRunner {
 public:
  // Sets up the item cache (options.item_cache on and the graph has item-level work) and the
  // user cache (options.user_cache on and the graph has a request-level part), each prefilled
  // from its prefill requests and, when asked, `warmup_requests`. `identity` (the model's) seeds
  // every key; the caches' counters go to `stats`. Errors: a split that does not plan or a
  // prefill request that fails.
  static absl::StatusOr<std::unique_ptr<SplitRunner>> Create(
      const Scorer* scorer, const Graph* graph, const std::vector<std::string>& outputs,
      const ModelOptions& options, std::string identity,
      const std::vector<std::string>& warmup_requests, FeedFunction feed, ModelStats* stats);
  ~SplitRunner();

  // Whether any cache is on; when not, Run must not be called.
  bool enabled() const { return user_cache_ != nullptr || item_cache_ != nullptr; }
  bool user_cache_enabled() const { return user_cache_ != nullptr; }
  bool item_cache_enabled() const { return item_cache_ != nullptr; }

  // The model's outputs for context->feeds (`candidates` >= 1 rows) in context->outputs, from
  // the caches or computed (and inserted). REQUIRES: enabled().
  absl::Status Run(ScoreContext* context, int64_t candidates) const;

 private:
  SplitRunner(const Scorer* scorer, const Graph* graph, std::vector<std::string> outputs,
              const ModelOptions& options, std::string identity, ModelStats* stats);

  // Before any part runs: with remote tables, fetches the request's rows and lays out
  // context->remote_feeds; sets context->cache_results.
  absl::Status PrepareFeeds(ScoreContext* context) const;
  // Whether graph input `name` is a remote table's fetched rows or ids: fed whole to every part,
  // never part of a cache key.
  bool IsRemoteInput(const std::string& name) const;
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
  absl::Status PrefillUserCache(const std::vector<std::string>& requests, FeedFunction feed);
  // The view of extended feed `index` (see ItemCache).
  const TensorView& FeedView(const ScoreContext& context, size_t index) const;
  // Item cache: context->item_boundary for every candidate of context->feeds, from the cache or
  // (the missed rows, once per distinct key, in one batch) computed and inserted.
  absl::Status RunItemPart(ScoreContext* context, int64_t candidates) const;
  // Sets up the item cache; `cross` receives its cross part (unchanged when not applicable).
  absl::Status SetUpItemCache(const std::vector<RequestLevelInput>& request_inputs,
                              std::optional<Graph>* cross);
  absl::Status PrefillItemCache(const std::vector<std::string>& requests, FeedFunction feed);

  const Scorer* scorer_;
  const ExecutionPlan* plan_;  // the scorer's
  const Graph* graph_;
  std::vector<std::string> outputs_;
  ModelOptions options_;
  std::string identity_;
  ModelStats* stats_;
  std::unique_ptr<UserCache> user_cache_;  // set when the user cache is on
  std::unique_ptr<ItemCache> item_cache_;  // set when the item cache is on
};

}  // namespace rankopt

#endif  // RANKOPT_SERVING_SPLIT_RUNNER_H_
