#include "rankopt/model_stats.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <tuple>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace rankopt {
namespace {

constexpr std::memory_order kRelaxed = std::memory_order_relaxed;

// absl::StatusCode names in Prometheus label form.
std::string CodeName(int code) {
  std::string name = absl::StatusCodeToString(static_cast<absl::StatusCode>(code));
  for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return name;
}

absl::string_view View(std::string_view s) { return absl::string_view(s.data(), s.size()); }

std::string Labels(std::string_view base, std::string_view extra) {
  if (base.empty() && extra.empty()) return "";
  if (base.empty()) return absl::StrCat("{", View(extra), "}");
  if (extra.empty()) return absl::StrCat("{", View(base), "}");
  return absl::StrCat("{", View(base), ",", View(extra), "}");
}

std::string Number(double v) {
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  return absl::StrFormat("%.9g", v);
}

}  // namespace

ModelStats::ModelStats(std::vector<std::string> features)
    : features_(std::move(features)),
      defaults_(new std::atomic<int64_t>[features_.size()]),
      out_of_range_(new std::atomic<int64_t>[features_.size()]) {
  for (size_t i = 0; i < features_.size(); ++i) {
    defaults_[i].store(0, kRelaxed);
    out_of_range_[i].store(0, kRelaxed);
  }
  for (auto& b : buckets_) b.store(0, kRelaxed);
  for (auto& e : errors_) e.store(0, kRelaxed);
}

void ModelStats::RecordRequest(int64_t candidates, double seconds) {
  requests_.fetch_add(1, kRelaxed);
  candidates_.fetch_add(candidates, kRelaxed);
  latency_sum_ns_.fetch_add(static_cast<int64_t>(seconds * 1e9), kRelaxed);
  size_t bucket = 0;
  while (bucket < kLatencyBucketsSeconds.size() && seconds > kLatencyBucketsSeconds[bucket]) {
    ++bucket;
  }
  buckets_[bucket].fetch_add(1, kRelaxed);
}

void ModelStats::RecordError(absl::StatusCode code, std::string_view reason) {
  int c = static_cast<int>(code);
  if (c < 0 || c >= kCodes) c = static_cast<int>(absl::StatusCode::kUnknown);
  errors_[c].fetch_add(1, kRelaxed);
  if (reason.empty()) reason = "other";
  const auto less = [](const ErrorReason& e, const std::pair<int, std::string_view>& key) {
    // By code, then reason (spelled out: clang 14 with libstdc++ 12 has no mixed tuple <).
    if (e.code != key.first) return e.code < key.first;
    return std::string_view(e.reason) < key.second;
  };
  std::lock_guard<std::mutex> lock(reasons_mu_);
  auto it = std::lower_bound(reasons_.begin(), reasons_.end(), std::pair{c, reason}, less);
  if (it == reasons_.end() || it->code != c || it->reason != reason) {
    if (reasons_.size() >= kMaxErrorReasons) {
      reason = "other";
      it = std::lower_bound(reasons_.begin(), reasons_.end(), std::pair{c, reason}, less);
    }
    if (it == reasons_.end() || it->code != c || it->reason != reason) {
      it = reasons_.insert(it, ErrorReason{c, std::string(reason), 0});
    }
  }
  ++it->count;
}

void ModelStats::RecordFeature(size_t feature, int64_t defaults_applied, int64_t out_of_range) {
  if (feature >= features_.size()) return;
  if (defaults_applied != 0) defaults_[feature].fetch_add(defaults_applied, kRelaxed);
  if (out_of_range != 0) out_of_range_[feature].fetch_add(out_of_range, kRelaxed);
}

int64_t ModelStats::errors() const {
  int64_t total = 0;
  for (const auto& e : errors_) total += e.load(kRelaxed);
  return total;
}

int64_t ModelStats::errors(absl::StatusCode code) const {
  const int c = static_cast<int>(code);
  return (c >= 0 && c < kCodes) ? errors_[c].load(kRelaxed) : 0;
}

int64_t ModelStats::errors(std::string_view reason) const {
  std::lock_guard<std::mutex> lock(reasons_mu_);
  int64_t total = 0;
  for (const ErrorReason& e : reasons_) {
    if (e.reason == reason) total += e.count;
  }
  return total;
}

std::vector<int64_t> ModelStats::LatencyCumulative() const {
  std::vector<int64_t> out;
  out.reserve(buckets_.size());
  int64_t sum = 0;
  for (const auto& b : buckets_) {
    sum += b.load(kRelaxed);
    out.push_back(sum);
  }
  return out;
}

double ModelStats::latency_sum_seconds() const {
  return static_cast<double>(latency_sum_ns_.load(kRelaxed)) / 1e9;
}

int64_t ModelStats::defaults_applied(size_t feature) const {
  return feature < features_.size() ? defaults_[feature].load(kRelaxed) : 0;
}

int64_t ModelStats::out_of_range(size_t feature) const {
  return feature < features_.size() ? out_of_range_[feature].load(kRelaxed) : 0;
}

void ModelStats::AddCache(std::string name, std::function<CacheCounters()> counters) {
  caches_.emplace_back(std::move(name), std::move(counters));
}

std::vector<std::pair<std::string, CacheCounters>> ModelStats::Caches() const {
  std::vector<std::pair<std::string, CacheCounters>> out;
  out.reserve(caches_.size());
  for (const auto& [name, counters] : caches_) out.emplace_back(name, counters());
  return out;
}

void ModelStats::SetRemoteTables(std::function<RemoteTableCounters()> counters) {
  remote_ = std::move(counters);
}

RemoteTableCounters ModelStats::RemoteTables() const {
  return remote_ ? remote_() : RemoteTableCounters{};
}

namespace {

void AppendRemoteTables(std::string_view labels, const RemoteTableCounters& c, std::string* out) {
  const std::string plain = Labels(labels, "");
  struct Metric {
    const char* name;
    const char* help;
    uint64_t RemoteTableCounters::*field;
  };
  static constexpr Metric kMetrics[] = {
      {"rankopt_remote_fetches_total", "Requests that fetched remote table rows (one batch each).",
       &RemoteTableCounters::fetches},
      {"rankopt_remote_rows_requested_total", "Distinct remote table rows requests needed.",
       &RemoteTableCounters::rows_requested},
      {"rankopt_remote_cache_hits_total", "Remote table rows served by the local row cache.",
       &RemoteTableCounters::cache_hits},
      {"rankopt_remote_rows_fetched_total", "Rows fetched from the Redis Cluster.",
       &RemoteTableCounters::rows_fetched},
      {"rankopt_remote_rows_defaulted_total",
       "Rows served as the table's default row after a failed fetch (policy default_row).",
       &RemoteTableCounters::rows_defaulted},
      {"rankopt_remote_round_trips_total", "Pipelined batches sent to cluster nodes.",
       &RemoteTableCounters::round_trips},
      {"rankopt_remote_moved_total", "MOVED redirects followed.", &RemoteTableCounters::moved},
      {"rankopt_remote_ask_total", "ASK redirects followed.", &RemoteTableCounters::ask},
      {"rankopt_remote_slot_refreshes_total", "Cluster slot map reloads.",
       &RemoteTableCounters::refreshes},
  };
  for (const Metric& m : kMetrics) {
    absl::StrAppend(out, "# HELP ", m.name, " ", m.help, "\n# TYPE ", m.name, " counter\n", m.name,
                    plain, " ", c.*(m.field), "\n");
  }
  absl::StrAppend(out,
                  "# HELP rankopt_remote_errors_total Remote table rows that could not be "
                  "fetched, by kind.\n# TYPE rankopt_remote_errors_total counter\n");
  const std::pair<const char*, uint64_t> kinds[] = {{"timeout", c.errors_timeout},
                                                    {"connection", c.errors_connection},
                                                    {"missing", c.errors_missing},
                                                    {"corrupt", c.errors_corrupt},
                                                    {"other", c.errors_other}};
  for (const auto& [kind, n] : kinds) {
    absl::StrAppend(out, "rankopt_remote_errors_total",
                    Labels(labels, absl::StrCat("kind=\"", kind, "\"")), " ", n, "\n");
  }
  absl::StrAppend(out,
                  "# HELP rankopt_remote_fetch_latency_seconds Latency of a request's remote "
                  "table fetch (cache and cluster).\n",
                  "# TYPE rankopt_remote_fetch_latency_seconds histogram\n");
  for (size_t b = 0; b < c.latency_cumulative.size(); ++b) {
    const double bound = b < kLatencyBucketsSeconds.size() ? kLatencyBucketsSeconds[b] : INFINITY;
    absl::StrAppend(out, "rankopt_remote_fetch_latency_seconds_bucket",
                    Labels(labels, absl::StrCat("le=\"", Number(bound), "\"")), " ",
                    c.latency_cumulative[b], "\n");
  }
  absl::StrAppend(out, "rankopt_remote_fetch_latency_seconds_sum", plain, " ",
                  Number(c.latency_sum_seconds), "\n", "rankopt_remote_fetch_latency_seconds_count",
                  plain, " ",
                  c.latency_cumulative.empty() ? 0 : c.latency_cumulative.back(), "\n");
}

}  // namespace

std::string ModelStats::PrometheusText(std::string_view labels) const {
  std::string out;
  const std::string plain = Labels(labels, "");
  absl::StrAppend(&out, "# HELP rankopt_requests_total Score calls that succeeded.\n",
                  "# TYPE rankopt_requests_total counter\n", "rankopt_requests_total", plain, " ",
                  requests(), "\n");
  absl::StrAppend(&out, "# HELP rankopt_candidates_total Candidates scored.\n",
                  "# TYPE rankopt_candidates_total counter\n", "rankopt_candidates_total", plain,
                  " ", candidates(), "\n");
  absl::StrAppend(&out,
                  "# HELP rankopt_errors_total Requests that failed, by status code and reason "
                  "(score: a Score call; others: refused by the front end before scoring).\n",
                  "# TYPE rankopt_errors_total counter\n");
  {
    std::lock_guard<std::mutex> lock(reasons_mu_);
    for (const ErrorReason& e : reasons_) {
      absl::StrAppend(&out, "rankopt_errors_total",
                      Labels(labels, absl::StrCat("code=\"", CodeName(e.code), "\",reason=\"",
                                                  PrometheusLabelValue(e.reason), "\"")),
                      " ", e.count, "\n");
    }
  }
  absl::StrAppend(&out,
                  "# HELP rankopt_request_latency_seconds Latency of successful Score calls.\n",
                  "# TYPE rankopt_request_latency_seconds histogram\n");
  const std::vector<int64_t> cumulative = LatencyCumulative();
  for (size_t b = 0; b < cumulative.size(); ++b) {
    const double bound = b < kLatencyBucketsSeconds.size() ? kLatencyBucketsSeconds[b] : INFINITY;
    absl::StrAppend(&out, "rankopt_request_latency_seconds_bucket",
                    Labels(labels, absl::StrCat("le=\"", Number(bound), "\"")), " ",
                    cumulative[b], "\n");
  }
  absl::StrAppend(&out, "rankopt_request_latency_seconds_sum", plain, " ",
                  Number(latency_sum_seconds()), "\n", "rankopt_request_latency_seconds_count",
                  plain, " ", cumulative.back(), "\n");
  absl::StrAppend(&out,
                  "# HELP rankopt_feature_defaults_total Values replaced by the feature's default "
                  "(missing, NaN/Inf, unknown).\n",
                  "# TYPE rankopt_feature_defaults_total counter\n");
  for (size_t f = 0; f < features_.size(); ++f) {
    absl::StrAppend(
        &out, "rankopt_feature_defaults_total",
        Labels(labels, absl::StrCat("feature=\"", PrometheusLabelValue(features_[f]), "\"")), " ",
        defaults_applied(f), "\n");
  }
  absl::StrAppend(&out,
                  "# HELP rankopt_feature_out_of_range_total Identity ids outside the "
                  "vocabulary.\n",
                  "# TYPE rankopt_feature_out_of_range_total counter\n");
  for (size_t f = 0; f < features_.size(); ++f) {
    absl::StrAppend(
        &out, "rankopt_feature_out_of_range_total",
        Labels(labels, absl::StrCat("feature=\"", PrometheusLabelValue(features_[f]), "\"")), " ",
        out_of_range(f), "\n");
  }
  if (remote_) AppendRemoteTables(labels, RemoteTables(), &out);
  const std::vector<std::pair<std::string, CacheCounters>> caches = Caches();
  if (caches.empty()) return out;
  struct Metric {
    const char* name;
    const char* type;
    const char* help;
    uint64_t CacheCounters::*field;
  };
  static constexpr Metric kMetrics[] = {
      {"rankopt_cache_hits_total", "counter", "Result cache lookups that hit.",
       &CacheCounters::hits},
      {"rankopt_cache_misses_total", "counter", "Result cache lookups that missed.",
       &CacheCounters::misses},
      {"rankopt_cache_inserts_total", "counter", "Results stored in the cache.",
       &CacheCounters::inserts},
      {"rankopt_cache_evictions_total", "counter", "Entries dropped to make room.",
       &CacheCounters::evictions},
      {"rankopt_cache_expirations_total", "counter", "Entries dropped after their TTL.",
       &CacheCounters::expirations},
      {"rankopt_cache_bytes", "gauge", "Bytes the cache holds (entry charges).",
       &CacheCounters::bytes},
      {"rankopt_cache_entries", "gauge", "Entries the cache holds.", &CacheCounters::entries},
      {"rankopt_cache_capacity_bytes", "gauge", "The cache's byte budget.",
       &CacheCounters::capacity_bytes},
  };
  for (const Metric& m : kMetrics) {
    absl::StrAppend(&out, "# HELP ", m.name, " ", m.help, "\n", "# TYPE ", m.name, " ", m.type,
                    "\n");
    for (const auto& [name, counters] : caches) {
      absl::StrAppend(
          &out, m.name,
          Labels(labels, absl::StrCat("cache=\"", PrometheusLabelValue(name), "\"")), " ",
          counters.*(m.field), "\n");
    }
  }
  return out;
}

std::string PrometheusLabelValue(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

}  // namespace rankopt
