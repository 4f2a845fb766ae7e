// Serving counters: requests, candidates, errors by kind, a latency histogram, feature defaults
// and out-of-range ids, reload outcomes. Lock-free to update (relaxed atomics); a snapshot is
// approximate under concurrent updates, as monitoring counters are.
#ifndef RANKOPT_INCLUDE_RANKOPT_MODEL_STATS_H_
#define RANKOPT_INCLUDE_RANKOPT_MODEL_STATS_H_

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"

namespace rankopt {

// Upper bounds (seconds) of the latency histogram's buckets; the last bucket is +Inf.
inline constexpr std::array<double, 16> kLatencyBucketsSeconds = {
    0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
    0.025,   0.05,   0.1,     0.25,   0.5,   1.0,    2.5,   5.0};

// A snapshot of one result cache's counters (cache/sharded_cache.h CacheStats).
struct CacheCounters {
  uint64_t hits = 0;
  uint64_t misses = 0;
  uint64_t inserts = 0;
  uint64_t evictions = 0;
  uint64_t expirations = 0;
  uint64_t rejections = 0;
  uint64_t bytes = 0;  // charge held now
  uint64_t entries = 0;
  uint64_t capacity_bytes = 0;

  double hit_rate() const {
    const uint64_t lookups = hits + misses;
    return lookups == 0 ? 0.0 : static_cast<double>(hits) / static_cast<double>(lookups);
  }
};

// A snapshot of a model's remote-table counters (serving/remote/remote_tables.h).
struct RemoteTableCounters {
  uint64_t fetches = 0;         // requests that fetched rows (one batch each)
  uint64_t rows_requested = 0;  // distinct rows the requests needed
  uint64_t cache_hits = 0;      // of those, served by the local row cache
  uint64_t rows_fetched = 0;    // fetched from the cluster
  uint64_t rows_defaulted = 0;  // served as the default row (RemoteTableOptions::kDefaultRow)
  uint64_t round_trips = 0;     // node pipelines sent (retries included)
  uint64_t moved = 0;           // MOVED / ASK redirects followed
  uint64_t ask = 0;
  uint64_t refreshes = 0;       // slot map reloads
  // Errors by kind (rows): timeout, connection (lost / refused / down node), missing (no such
  // key), corrupt (a value of the wrong size), other (redirects exhausted, server errors).
  uint64_t errors_timeout = 0;
  uint64_t errors_connection = 0;
  uint64_t errors_missing = 0;
  uint64_t errors_corrupt = 0;
  uint64_t errors_other = 0;
  // The fetch step's latency (cache lookups + the cluster batch): cumulative counts per
  // kLatencyBucketsSeconds bound, then the total; and the sum.
  std::vector<int64_t> latency_cumulative;
  double latency_sum_seconds = 0;
};

class ModelStats {
 public:
  // Feature names (for the per-feature counters), in config order.
  explicit ModelStats(std::vector<std::string> features = {});

  void RecordRequest(int64_t candidates, double seconds);
  // Counts a failed request by status code and reason: where and why it failed, "score" for a
  // Score call, a front end's own for requests it refused before scoring ("bad_json",
  // "body_too_large", ...). Up to kMaxErrorReasons (code, reason) pairs are told apart; later
  // ones count as reason "other".
  void RecordError(absl::StatusCode code, std::string_view reason = "score");
  // Per-feature counts of one request, indexed like the constructor's features.
  void RecordFeature(size_t feature, int64_t defaults_applied, int64_t out_of_range);

  int64_t requests() const { return requests_.load(std::memory_order_relaxed); }
  int64_t candidates() const { return candidates_.load(std::memory_order_relaxed); }
  int64_t errors() const;
  int64_t errors(absl::StatusCode code) const;
  // Errors recorded with `reason`, every code.
  int64_t errors(std::string_view reason) const;
  // Cumulative count of requests at or below each bucket bound, then the total (+Inf).
  std::vector<int64_t> LatencyCumulative() const;
  double latency_sum_seconds() const;
  const std::vector<std::string>& features() const { return features_; }
  int64_t defaults_applied(size_t feature) const;
  int64_t out_of_range(size_t feature) const;

  // A model's result cache ("user", "item"): `counters` is read at each Caches()/PrometheusText
  // call. Call before the stats are shared between threads (at model load).
  void AddCache(std::string name, std::function<CacheCounters()> counters);
  // The caches' counters now, in AddCache order; empty when the model has no cache on.
  std::vector<std::pair<std::string, CacheCounters>> Caches() const;

  // A model's remote tables: `counters` is read at each RemoteTables()/PrometheusText call. Call
  // before the stats are shared between threads (at model load).
  void SetRemoteTables(std::function<RemoteTableCounters()> counters);
  // Whether the model has remote tables, and their counters now (zeros without).
  bool has_remote_tables() const { return static_cast<bool>(remote_); }
  RemoteTableCounters RemoteTables() const;

  // Prometheus text exposition format (version 0.0.4) of these counters, each sample labelled
  // with `labels` (e.g. model="din",version="3"; already escaped, may be empty).
  std::string PrometheusText(std::string_view labels) const;

 private:
  static constexpr int kCodes = 17;  // absl::StatusCode 0..16
  static constexpr size_t kMaxErrorReasons = 64;
  struct ErrorReason {
    int code;
    std::string reason;
    int64_t count;
  };
  std::vector<std::string> features_;
  std::atomic<int64_t> requests_{0};
  std::atomic<int64_t> candidates_{0};
  std::atomic<int64_t> latency_sum_ns_{0};
  std::array<std::atomic<int64_t>, kLatencyBucketsSeconds.size() + 1> buckets_{};
  std::array<std::atomic<int64_t>, kCodes> errors_{};
  mutable std::mutex reasons_mu_;
  std::vector<ErrorReason> reasons_;  // sorted by (code, reason)
  std::unique_ptr<std::atomic<int64_t>[]> defaults_;
  std::unique_ptr<std::atomic<int64_t>[]> out_of_range_;
  std::vector<std::pair<std::string, std::function<CacheCounters()>>> caches_;
  std::function<RemoteTableCounters()> remote_;
};

// Escapes a Prometheus label value (backslash, quote, newline).
std::string PrometheusLabelValue(std::string_view value);

}  // namespace rankopt

#endif  // RANKOPT_INCLUDE_RANKOPT_MODEL_STATS_H_
