#include "serving/remote/remote_tables.h"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "rankopt/status_macros.h"

namespace rankopt {

namespace {

int64_t SourceValue(const TensorView& v, int64_t i) {
  switch (v.dtype) {
    case DType::kInt64:
      return v.data_as<int64_t>()[i];
    case DType::kInt32:
      return v.data_as<int32_t>()[i];
    default:
      return 0;
  }
}

void FreeAligned(void* p) { std::free(p); }

}  // namespace

RemoteTables::~RemoteTables() = default;

absl::StatusOr<std::unique_ptr<RemoteTables>> RemoteTables::Open(
    std::vector<RemoteTableDesc> tables, const RemoteTableOptions& options) {
  std::unique_ptr<RemoteTables> remote(new RemoteTables());
  remote->options_ = options;
  std::string redis = options.redis;
  for (const RemoteTableDesc& t : tables) {
    if (redis.empty()) redis = t.redis;
  }
  if (redis.empty()) {
    return absl::InvalidArgumentError(
        "the package has remote tables but names no Redis Cluster; set "
        "RemoteTableOptions::redis (serve --redis HOST:PORT)");
  }
  if (options.timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("RemoteTableOptions::timeout must be > 0");
  }
  RedisClusterOptions cluster_options;
  RANKOPT_ASSIGN_OR_RETURN(cluster_options.seeds, ParseRedisEndpoints(redis));
  cluster_options.timeout = options.timeout;
  cluster_options.connect_timeout = options.timeout;
  absl::StatusOr<std::unique_ptr<RedisCluster>> cluster =
      RedisCluster::Connect(std::move(cluster_options));
  if (!cluster.ok()) {
    return absl::UnavailableError(
        absl::StrCat("remote tables: Redis Cluster at ", redis, ": ", cluster.status().message()));
  }
  remote->cluster_ = *std::move(cluster);
  // Every table must be published completely, with the package's rows.
  std::vector<std::string> markers;
  for (const RemoteTableDesc& t : tables) markers.push_back(absl::StrCat(t.key_prefix, "#ready"));
  std::vector<RedisReply> replies;
  remote->cluster_->Get(markers, &replies);
  for (size_t i = 0; i < tables.size(); ++i) {
    const RedisReply& r = replies[i];
    if (r.kind == RedisReply::Kind::kFailed || r.kind == RedisReply::Kind::kError) {
      return absl::UnavailableError(absl::StrCat("remote table '", tables[i].table,
                                                 "': reading its marker ", markers[i],
                                                 " failed: ", r.str));
    }
    if (r.kind != RedisReply::Kind::kString) {
      return absl::FailedPreconditionError(absl::StrCat(
          "remote table '", tables[i].table, "' is not (completely) published in the cluster at ",
          redis, " (no ", markers[i], "); run `rankopt tables publish` with the local package"));
    }
    if (r.str != tables[i].ReadyMarker()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "remote table '", tables[i].table, "' in the cluster is '", r.str,
          "' (dtype rows dim xxh64) but the package expects '", tables[i].ReadyMarker(),
          "': another build was published under this model version; publish under a new "
          "version, or drop it (`rankopt tables drop`) and publish again"));
    }
  }
  if (options.cache_bytes > 0) {
    std::vector<RowCache::TableShape> shapes;
    for (const RemoteTableDesc& t : tables) shapes.push_back({t.rows, t.row_bytes});
    RANKOPT_ASSIGN_OR_RETURN(remote->cache_, RowCache::Create(shapes, options.cache_bytes));
  }
  for (const RemoteTableDesc& t : tables) {
    remote->prefix_crc_.push_back(t.key_prefix.find('{') == std::string::npos
                                      ? static_cast<int32_t>(RedisCrc16(t.key_prefix))
                                      : -1);
  }
  remote->tables_ = std::move(tables);
  return remote;
}

std::vector<std::string> RemoteTables::InputNames() const {
  std::vector<std::string> names;
  for (const RemoteTableDesc& t : tables_) {
    names.push_back(t.rows_input);
    names.push_back(t.ids_input);
  }
  return names;
}

absl::Status RemoteTables::Fetch(absl::Span<const NamedTensorView> feeds,
                                 RemoteFetchScratch* s) const {
  const auto start = std::chrono::steady_clock::now();
  absl::Status status = FetchRows(feeds, s);
  const int64_t ns =
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - start)
          .count();
  counters_.fetches.fetch_add(1, std::memory_order_relaxed);
  counters_.latency_sum_ns.fetch_add(ns, std::memory_order_relaxed);
  size_t b = 0;
  while (b < kLatencyBucketsSeconds.size() && ns * 1e-9 > kLatencyBucketsSeconds[b]) ++b;
  counters_.buckets[b].fetch_add(1, std::memory_order_relaxed);
  return status;
}

absl::Status RemoteTables::FetchRows(absl::Span<const NamedTensorView> feeds,
                                     RemoteFetchScratch* s) const {
  const size_t n_tables = tables_.size();
  s->tables.resize(n_tables);
  s->defaulted_rows = 0;
  // 1. Every id each table's sources hold (a superset of what the graph looks up), distinct.
  for (size_t t = 0; t < n_tables; ++t) {
    const RemoteTableDesc& desc = tables_[t];
    std::vector<int64_t>& ids = s->tables[t].ids;
    ids.clear();
    for (const RemoteIdSource& source : desc.sources) {
      const NamedTensorView* feed = nullptr;
      for (const NamedTensorView& f : feeds) {
        if (f.name == source.input) feed = &f;
      }
      if (feed == nullptr) {
        return absl::InvalidArgumentError(absl::StrCat("remote table '", desc.table,
                                                       "': its ids come from graph input '",
                                                       source.input, "', which was not fed"));
      }
      if (feed->view.dtype != DType::kInt64 && feed->view.dtype != DType::kInt32) {
        return absl::InvalidArgumentError(
            absl::StrCat("remote table '", desc.table, "': graph input '", source.input, "' is ",
                         DescribeTensor(feed->view), "; expected int32 or int64 ids"));
      }
      const int64_t count = feed->view.NumElements();
      for (int64_t i = 0; i < count; ++i) {
        int64_t id = SourceValue(feed->view, i);
        if (source.cast == DType::kInt32) id = static_cast<int32_t>(id);
        if (source.wrap_negative_ids && id < 0 && id >= -desc.rows) id += desc.rows;
        if (id >= 0 && id < desc.rows) ids.push_back(id);
      }
    }
    std::sort(ids.begin(), ids.end());
    ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
    RemoteFetchScratch::Table& table = s->tables[t];
    const size_t bytes = std::max<size_t>(64, ids.size() * desc.row_bytes);
    if (table.rows_capacity < bytes) {
      const size_t rounded = (bytes * 3 / 2 + 63) / 64 * 64;
      table.rows = std::unique_ptr<uint8_t[], void (*)(void*)>(
          static_cast<uint8_t*>(std::aligned_alloc(64, rounded)), FreeAligned);
      if (table.rows == nullptr) return absl::ResourceExhaustedError("remote rows: out of memory");
      table.rows_capacity = rounded;
    }
  }
  // 2. The local row cache, table by table; the misses of all tables are fetched together.
  s->misses.clear();
  s->key_bytes.clear();
  s->key_ends.clear();
  uint64_t requested = 0;
  for (size_t t = 0; t < n_tables; ++t) {
    const RemoteTableDesc& desc = tables_[t];
    RemoteFetchScratch::Table& table = s->tables[t];
    requested += table.ids.size();
    s->hit.assign(table.ids.size(), 0);
    if (cache_ != nullptr) {
      cache_->LookupBatch(static_cast<int>(t), table.ids, table.rows.get(), absl::MakeSpan(s->hit));
    }
    for (size_t i = 0; i < table.ids.size(); ++i) {
      if (s->hit[i] != 0) continue;
      s->misses.emplace_back(static_cast<int>(t), static_cast<int64_t>(i));
      absl::StrAppend(&s->key_bytes, desc.key_prefix, table.ids[i]);
      s->key_ends.push_back(s->key_bytes.size());
    }
  }
  s->redis_keys.clear();
  s->slots.clear();
  bool all_slots = true;
  for (size_t m = 0, begin = 0; m < s->key_ends.size(); begin = s->key_ends[m++]) {
    const absl::string_view key(s->key_bytes.data() + begin, s->key_ends[m] - begin);
    s->redis_keys.push_back(key);
    const int32_t prefix_crc = prefix_crc_[static_cast<size_t>(s->misses[m].first)];
    all_slots = all_slots && prefix_crc >= 0;
    if (!all_slots) continue;
    const size_t prefix = tables_[static_cast<size_t>(s->misses[m].first)].key_prefix.size();
    s->slots.push_back(static_cast<uint16_t>(
        RedisCrc16Update(static_cast<uint16_t>(prefix_crc), key.substr(prefix)) &
        (kRedisClusterSlots - 1)));
  }
  if (!all_slots) s->slots.clear();
  counters_.rows_requested.fetch_add(requested, std::memory_order_relaxed);
  counters_.cache_hits.fetch_add(requested - s->misses.size(), std::memory_order_relaxed);
  // 3. The misses of every table, one pipelined batch per node.
  absl::Status failure;
  if (!s->misses.empty()) {
    // Each value is read from the connection's buffer straight into its row.
    s->commands.resize(s->misses.size());
    for (size_t m = 0; m < s->misses.size(); ++m) {
      const auto [t, i] = s->misses[m];
      const size_t row_bytes = tables_[t].row_bytes;
      RedisCommand& command = s->commands[m];
      command.key = s->redis_keys[m];
      command.slot = s->slots.empty() ? -1 : static_cast<int>(s->slots[m]);
      command.args = {"GET", command.key};
      command.value_out = s->tables[t].rows.get() + static_cast<size_t>(i) * row_bytes;
      command.value_size = row_bytes;
    }
    cluster_->Execute(s->commands, &s->replies);
    uint64_t fetched = 0;
    uint64_t defaulted = 0;
    for (size_t m = 0; m < s->misses.size(); ++m) {
      const auto [t, i] = s->misses[m];
      const RemoteTableDesc& desc = tables_[t];
      uint8_t* row = s->tables[t].rows.get() + static_cast<size_t>(i) * desc.row_bytes;
      const RedisReply& r = s->replies[m];
      if (r.kind == RedisReply::Kind::kString && r.in_place) {
        ++fetched;
        if (cache_ != nullptr) cache_->Insert(t, s->tables[t].ids[i], row);
        continue;
      }
      if (r.kind == RedisReply::Kind::kString) {
        counters_.errors_corrupt.fetch_add(1, std::memory_order_relaxed);
        return absl::DataLossError(absl::StrCat(
            "remote table '", desc.table, "': row ", s->tables[t].ids[i], " (key ",
            s->redis_keys[m], ") has ", r.str.size(), " bytes; expected ", desc.row_bytes));
      }
      absl::Status error;
      if (r.kind == RedisReply::Kind::kNil) {
        counters_.errors_missing.fetch_add(1, std::memory_order_relaxed);
        error = absl::DataLossError(absl::StrCat(
            "remote table '", desc.table, "': row ", s->tables[t].ids[i], " (key ",
            s->redis_keys[m], ") is missing from the cluster (version dropped, or data lost)"));
      } else {
        auto& counter = r.failure == RedisReply::Failure::kTimeout ? counters_.errors_timeout
                        : r.failure == RedisReply::Failure::kConnection
                            ? counters_.errors_connection
                            : counters_.errors_other;
        counter.fetch_add(1, std::memory_order_relaxed);
        error = absl::UnavailableError(absl::StrCat("remote table '", desc.table, "': row ",
                                                    s->tables[t].ids[i],
                                                    " could not be fetched: ", r.str));
      }
      if (options_.on_failure == RemoteTableOptions::FailurePolicy::kFail) {
        if (failure.ok()) failure = error;
        continue;
      }
      std::memset(row, 0, desc.row_bytes);  // the default row: every value 0
      ++defaulted;
    }
    counters_.rows_fetched.fetch_add(fetched, std::memory_order_relaxed);
    counters_.rows_defaulted.fetch_add(defaulted, std::memory_order_relaxed);
    s->defaulted_rows = defaulted;
  }
  if (!failure.ok()) return failure;
  // 4. The feeds: the request's, then each table's rows and ids.
  s->feeds.assign(feeds.begin(), feeds.end());
  for (size_t t = 0; t < n_tables; ++t) {
    const RemoteTableDesc& desc = tables_[t];
    RemoteFetchScratch::Table& table = s->tables[t];
    const int64_t count = static_cast<int64_t>(table.ids.size());
    NamedTensorView rows;
    rows.name = desc.rows_input;
    rows.view.data = table.rows.get();
    if (desc.dtype == TableDType::kFloat32) {
      rows.view.dtype = DType::kFloat32;
      rows.view.dims = {count, desc.dim};
    } else {
      rows.view.dtype = DType::kUInt8;
      rows.view.dims = {count, static_cast<int64_t>(desc.row_bytes)};
    }
    s->feeds.push_back(std::move(rows));
    NamedTensorView ids;
    ids.name = desc.ids_input;
    ids.view.dtype = DType::kInt64;
    ids.view.dims = {count};
    ids.view.data = count == 0 ? static_cast<void*>(table.rows.get()) : table.ids.data();
    s->feeds.push_back(std::move(ids));
  }
  return absl::OkStatus();
}

RemoteTableCounters RemoteTables::counters() const {
  RemoteTableCounters c;
  c.fetches = counters_.fetches.load(std::memory_order_relaxed);
  c.rows_requested = counters_.rows_requested.load(std::memory_order_relaxed);
  c.cache_hits = counters_.cache_hits.load(std::memory_order_relaxed);
  c.rows_fetched = counters_.rows_fetched.load(std::memory_order_relaxed);
  c.rows_defaulted = counters_.rows_defaulted.load(std::memory_order_relaxed);
  c.errors_timeout = counters_.errors_timeout.load(std::memory_order_relaxed);
  c.errors_connection = counters_.errors_connection.load(std::memory_order_relaxed);
  c.errors_missing = counters_.errors_missing.load(std::memory_order_relaxed);
  c.errors_corrupt = counters_.errors_corrupt.load(std::memory_order_relaxed);
  c.errors_other = counters_.errors_other.load(std::memory_order_relaxed);
  const RedisClusterCounters rc = cluster_->counters();
  c.round_trips = static_cast<uint64_t>(rc.round_trips);
  c.moved = static_cast<uint64_t>(rc.moved);
  c.ask = static_cast<uint64_t>(rc.ask);
  c.refreshes = static_cast<uint64_t>(rc.refreshes);
  int64_t total = 0;
  for (const auto& b : counters_.buckets) {
    total += b.load(std::memory_order_relaxed);
    c.latency_cumulative.push_back(total);
  }
  c.latency_sum_seconds = counters_.latency_sum_ns.load(std::memory_order_relaxed) * 1e-9;
  return c;
}

CacheCounters RemoteTables::cache_counters() const {
  return cache_ == nullptr ? CacheCounters{} : cache_->Counters();
}

}  // namespace rankopt
