// The remote-table backend a model scores through: for each request, every row its graph can look
// up in a remote table (the values of the graph inputs the table's ids come from,
// serving/remote/remote_graph.h), from the local row cache (serving/remote/row_cache.h: a hit never
// touches the network) or, for all the misses of all the tables together, from the Redis Cluster in
// one pipelined batch per node (embedding/remote/redis_cluster.h). The rows and their ids become
// the graph's remote feeds, which the remote lookup kernels read with the local kernels' code:
// scores equal the local tables' bit for bit.
//
// Failures follow RemoteTableOptions::on_failure (include/rankopt/model.h): fail the request
// (UNAVAILABLE for timeouts and lost nodes, DATA_LOSS for a missing row), or serve the default
// row (zeros), counted. A value of the wrong size always fails (DATA_LOSS); a defaulted row is
// never cached.
//
// Thread-safety: Open's result is safe for concurrent Fetch calls (one scratch per caller).
#ifndef RANKOPT_SERVING_REMOTE_REMOTE_TABLES_H_
#define RANKOPT_SERVING_REMOTE_REMOTE_TABLES_H_

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "embedding/remote/redis_cluster.h"
#include "graph/exec/execution_plan.h"
#include "rankopt/model.h"
#include "rankopt/model_stats.h"
#include "serving/remote/remote_graph.h"
#include "serving/remote/row_cache.h"

namespace rankopt {

// What one caller's Fetch works in; reuse one per thread.
struct RemoteFetchScratch {
  struct Table {
    std::vector<int64_t> ids;                                            // distinct, increasing
    std::unique_ptr<uint8_t[], void (*)(void*)> rows{nullptr, nullptr};  // 64-byte aligned
    size_t rows_capacity = 0;
  };
  std::vector<Table> tables;
  std::vector<uint8_t> hit;                     // one table's row cache hits
  std::vector<std::pair<int, int64_t>> misses;  // (table, position)
  std::string key_bytes;                        // the misses' keys, back to back
  std::vector<size_t> key_ends;                 // where each ends in key_bytes
  std::vector<absl::string_view> redis_keys;    // views into key_bytes
  std::vector<uint16_t> slots;                  // each key's cluster slot
  std::vector<RedisCommand> commands;           // GET of each key, its value read into its row
  std::vector<RedisReply> replies;
  // The request's feeds followed by the remote feeds (views into `tables`).
  std::vector<NamedTensorView> feeds;
  // Rows of the last Fetch that are the default row (failure policy kDefaultRow): a result
  // computed from them must not be cached.
  uint64_t defaulted_rows = 0;
};

class RemoteTables {
 public:
  // Connects to the cluster (options.redis, else the tables' own), and checks that every table
  // is published completely with the package's content (its #ready marker). Errors:
  // InvalidArgument for bad options, Unavailable when no node answers, FailedPrecondition for a
  // table that is not (fully) published or was published with other rows.
  static absl::StatusOr<std::unique_ptr<RemoteTables>> Open(std::vector<RemoteTableDesc> tables,
                                                            const RemoteTableOptions& options);
  ~RemoteTables();

  // The graph inputs Fetch feeds (rows and ids of each table): the request's own feeds exclude
  // them.
  std::vector<std::string> InputNames() const;
  // scratch->feeds = `feeds` + the rows and ids of every table for this request. Errors as the
  // failure policy says; a source input missing from `feeds` or of a non-integer type is
  // InvalidArgument.
  absl::Status Fetch(absl::Span<const NamedTensorView> feeds, RemoteFetchScratch* scratch) const;

  RemoteTableCounters counters() const;
  CacheCounters cache_counters() const;
  const std::vector<RemoteTableDesc>& tables() const { return tables_; }
  RedisCluster& cluster() const { return *cluster_; }

 private:
  RemoteTables() = default;
  absl::Status FetchRows(absl::Span<const NamedTensorView> feeds, RemoteFetchScratch* s) const;

  std::vector<RemoteTableDesc> tables_;
  // Per table: the CRC16 of its key prefix, which each key's slot continues from; -1 when the
  // prefix holds a '{' (a hash tag: the client hashes whole keys then).
  std::vector<int32_t> prefix_crc_;
  RemoteTableOptions options_;
  std::unique_ptr<RedisCluster> cluster_;
  std::unique_ptr<RowCache> cache_;  // null when off

  struct Counters {
    std::atomic<uint64_t> fetches{0}, rows_requested{0}, cache_hits{0}, rows_fetched{0},
        rows_defaulted{0}, errors_timeout{0}, errors_connection{0}, errors_missing{0},
        errors_corrupt{0}, errors_other{0};
    std::array<std::atomic<int64_t>, kLatencyBucketsSeconds.size() + 1> buckets{};
    std::atomic<int64_t> latency_sum_ns{0};
  };
  mutable Counters counters_;
};

}  // namespace rankopt

#endif  // RANKOPT_SERVING_REMOTE_REMOTE_TABLES_H_
