// The user-side result cache and the item cache end to end (ModelOptions::user_cache,
// ModelOptions::item_cache), issue 8's benchmark:
//
//   serving_cache_bench PACKAGE... [--threads 2] [--warmup N] [--requests N] [--max-ids 1000]
//                       [--only CELL]  (e.g. "item 1 GB": that cell and "off")
//
// For each package (`rankopt optimize` output, e.g. of tests/data/peers/din.onnx and esmm.onnx), a
// stream of requests: Zipf users (s = 1.1 over 1M users; a user's features are a deterministic
// function of its index, tests/serving/population.h), 200 Zipf candidates (s = 1.0 over 500k
// items), scored by `--threads` threads through Model::ScoreInto. Cells: caches off, and at
// 16 MB, 128 MB and 1 GB each of: the user cache, the item cache, both (each cache that size).
// Each cell: every thread scores --warmup requests (not timed: the caches fill), then --requests
// timed ones (the same seeds in every cell). Reported: throughput (requests/s over the timed wall
// clock of all threads, request generation included: the same work in every cell), p50/p99 of
// Score, each cache's hit rate over the timed requests, the caches' bytes, the process RSS growth,
// and the ratio to the caches-off cell.
//
// The cache implementation inside the Model is ShardedCache. The comparison with the obvious
// alternative (bench/cache/mutex_lru_cache.h, one mutex around an unordered_map LRU) replays the
// same stream's user keys, with values of the real boundary size, against both at 128 MB from the
// same threads: lookup, insert on miss (hit rates equal by construction; cost per operation).
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "bench/cache/mutex_lru_cache.h"
#include "bench/cache/zipf.h"
#include "cache/cache_key.h"
#include "cache/sharded_cache.h"
#include "features/config/feature_config.h"
#include "rankopt/model.h"
#include "serving/package/model_package.h"
#include "tests/serving/population.h"

namespace rankopt {
namespace {

constexpr uint64_t kUsers = 1'000'000;
constexpr uint64_t kItems = 500'000;
constexpr int kCandidates = 200;

struct Args {
  std::vector<std::string> packages;
  int threads = 2;
  int warmup = 1500;    // per thread
  int requests = 3000;  // per thread, timed
  int64_t max_ids = 1000;
  std::string only;  // run only the cells whose name contains this (and "off")
};

double RssMb() {
  std::ifstream statm("/proc/self/statm");
  long pages = 0, resident = 0;
  statm >> pages >> resident;
  return static_cast<double>(resident) * 4096.0 / (1 << 20);
}

struct Cell {
  std::string name;
  double throughput = 0;  // requests/s
  double p50_ms = 0, p99_ms = 0;
  double user_hit_rate = -1, item_hit_rate = -1;  // -1: that cache is off
  double cache_mb = 0;
  double rss_growth_mb = 0;
};

// The stream of thread t: (user, items) by two Zipf generators with fixed seeds.
struct Stream {
  explicit Stream(int t)
      : users(kUsers, 1.1, 1000 + t), items(kItems, 1.0, 2000 + t) {}
  uint64_t Next(std::vector<uint64_t>* out) {
    out->resize(kCandidates);
    for (uint64_t& i : *out) i = items.Next() - 1;
    return users.Next() - 1;
  }
  ZipfGenerator users;
  ZipfGenerator items;
};

absl::StatusOr<Cell> RunCell(const std::string& path, const Population& population,
                             const Args& args, size_t user_bytes, size_t item_bytes,
                             const std::string& name) {
  const double rss_before = RssMb();
  ModelOptions options;
  options.threads = 1;  // the threads are the callers'
  options.user_cache.capacity_bytes = user_bytes;
  options.item_cache.capacity_bytes = item_bytes;
  absl::StatusOr<std::shared_ptr<const Model>> loaded = Model::Load(path, options);
  if (!loaded.ok()) return loaded.status();
  std::shared_ptr<const Model> model = *loaded;
  std::vector<std::vector<double>> latencies(args.threads);
  std::atomic<int> ready{0};
  std::atomic<bool> go{false};
  std::atomic<int64_t> failed{0};
  std::vector<std::chrono::steady_clock::time_point> ends(args.threads);
  std::chrono::steady_clock::time_point start;
  std::vector<std::thread> threads;
  for (int t = 0; t < args.threads; ++t) {
    threads.emplace_back([&, t] {
      Stream stream(t);
      Request request;
      std::vector<uint64_t> items;
      Scores scores;
      for (int i = 0; i < args.warmup; ++i) {
        population.Fill(stream.Next(&items), items, &request);
        if (!model->ScoreInto(request, {}, &scores).ok()) failed.fetch_add(1);
      }
      ready.fetch_add(1);
      while (!go.load()) std::this_thread::yield();
      latencies[t].reserve(args.requests);
      for (int i = 0; i < args.requests; ++i) {
        population.Fill(stream.Next(&items), items, &request);
        const auto s = std::chrono::steady_clock::now();
        if (!model->ScoreInto(request, {}, &scores).ok()) failed.fetch_add(1);
        latencies[t].push_back(
            std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - s)
                .count());
      }
      ends[t] = std::chrono::steady_clock::now();
    });
  }
  while (ready.load() < args.threads) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  const auto before = model->stats().Caches();
  start = std::chrono::steady_clock::now();
  go = true;
  for (std::thread& t : threads) t.join();
  if (failed.load() != 0) {
    return absl::InternalError(absl::StrCat(name, ": ", failed.load(), " Score calls failed"));
  }
  const auto end = *std::max_element(ends.begin(), ends.end());
  std::vector<double> all;
  for (const auto& l : latencies) all.insert(all.end(), l.begin(), l.end());
  std::sort(all.begin(), all.end());
  Cell cell;
  cell.name = name;
  cell.throughput = static_cast<double>(all.size()) /
                    std::chrono::duration<double>(end - start).count();
  cell.p50_ms = all[all.size() / 2];
  cell.p99_ms = all[all.size() * 99 / 100];
  const auto after = model->stats().Caches();
  for (size_t c = 0; c < after.size() && c < before.size(); ++c) {
    const uint64_t hits = after[c].second.hits - before[c].second.hits;
    const uint64_t misses = after[c].second.misses - before[c].second.misses;
    const double rate =
        static_cast<double>(hits) / static_cast<double>(std::max<uint64_t>(1, hits + misses));
    (after[c].first == "item" ? cell.item_hit_rate : cell.user_hit_rate) = rate;
    cell.cache_mb += static_cast<double>(after[c].second.bytes) / (1 << 20);
  }
  cell.rss_growth_mb = RssMb() - rss_before;
  return cell;
}

// The user keys of the timed stream of thread t (after its warm-up), as the cache sees them: the
// key bytes do not matter for the cache's cost, only their distribution, so a user's key is the
// hash of its index.
template <typename Cache>
double ReplayNsPerOp(Cache* cache, int threads, int warmup, int requests, size_t value_floats,
                     double* hit_rate) {
  std::atomic<uint64_t> hits{0}, lookups{0};
  std::vector<std::thread> pool;
  std::vector<double> seconds(threads);
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      Stream stream(t);
      std::vector<uint64_t> items;
      std::vector<CacheKey> keys;
      for (int i = 0; i < warmup + requests; ++i) {
        const uint64_t u = stream.Next(&items);
        keys.push_back(MakeCacheKey(7, absl::string_view(reinterpret_cast<const char*>(&u), 8)));
      }
      const std::shared_ptr<const CacheValue> value =
          std::make_shared<const CacheValue>(std::vector<float>(value_floats, 1.0f));
      auto op = [&](const CacheKey& key) {
        if (cache->Lookup(key) != nullptr) return true;
        cache->Insert(key, value);
        return false;
      };
      for (int i = 0; i < warmup; ++i) op(keys[i]);
      uint64_t h = 0;
      const auto s = std::chrono::steady_clock::now();
      for (int rep = 0; rep < 20; ++rep) {  // ~100 ns an op: repeat for a measurable time
        for (int i = warmup; i < warmup + requests; ++i) {
          const bool hit = op(keys[i]);
          if (rep == 0) h += hit;  // later repetitions hit more: keep the stream's rate
        }
      }
      seconds[t] = std::chrono::duration<double>(std::chrono::steady_clock::now() - s).count();
      hits += h;
      lookups += static_cast<uint64_t>(requests);
    });
  }
  for (std::thread& t : pool) t.join();
  *hit_rate = static_cast<double>(hits.load()) / static_cast<double>(lookups.load());
  double total = 0;
  for (double s : seconds) total += s;
  return total / threads * 1e9 / (20.0 * requests);
}

int Main(int argc, char** argv) {
  Args args;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&](int* v) {
      if (i + 1 >= argc || !absl::SimpleAtoi(argv[++i], v)) {
        std::fprintf(stderr, "%s: expected an integer\n", a.c_str());
        std::exit(2);
      }
    };
    int v = 0;
    if (a == "--threads") {
      next(&args.threads);
    } else if (a == "--warmup") {
      next(&args.warmup);
    } else if (a == "--requests") {
      next(&args.requests);
    } else if (a == "--only" && i + 1 < argc) {
      args.only = argv[++i];
    } else if (a == "--max-ids") {
      next(&v);
      args.max_ids = v;
    } else if (a.rfind("--", 0) == 0) {
      std::fprintf(stderr,
                   "usage: serving_cache_bench PACKAGE... [--threads 2] [--warmup 1500] "
                   "[--requests 3000] [--max-ids 1000] [--only CELL]\n");
      return 2;
    } else {
      args.packages.push_back(a);
    }
  }
  if (args.packages.empty()) {
    std::fprintf(stderr, "usage: serving_cache_bench PACKAGE... (see the file header)\n");
    return 2;
  }
  std::printf("users: Zipf s=1.1 over %llu; candidates: %d, Zipf s=1.0 over %llu items; "
              "%d threads; %d warm-up + %d timed requests per thread\n",
              static_cast<unsigned long long>(kUsers), kCandidates,
              static_cast<unsigned long long>(kItems), args.threads, args.warmup, args.requests);
  for (const std::string& path : args.packages) {
    absl::StatusOr<ModelPackage> package = ReadModelPackage(path, {});
    if (!package.ok()) {
      std::fprintf(stderr, "%s\n", std::string(package.status().message()).c_str());
      return 1;
    }
    absl::StatusOr<FeatureConfig> config = ParseFeatureConfig(package->feature_config_yaml, path);
    if (!config.ok()) {
      std::fprintf(stderr, "%s\n", std::string(config.status().message()).c_str());
      return 1;
    }
    const Population population(*config, args.max_ids);
    // Request generation alone, for scale.
    {
      Stream stream(0);
      Request request;
      std::vector<uint64_t> items;
      const auto s = std::chrono::steady_clock::now();
      for (int i = 0; i < 500; ++i) population.Fill(stream.Next(&items), items, &request);
      std::printf("\n%s (%s): request generation %.1f us/request (in every cell's wall time)\n",
                  package->model_name.c_str(), path.c_str(),
                  std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - s)
                          .count() /
                      500);
    }
    std::printf("%-14s %12s %9s %9s %9s %9s %10s %10s %9s\n", "cache", "requests/s", "p50 ms",
                "p99 ms", "user hit", "item hit", "cache MB", "RSS +MB", "vs off");
    double off = 0;
    auto rate = [](double r) { return r < 0 ? std::string("-") : absl::StrFormat("%.3f", r); };
    std::vector<std::pair<size_t, std::string>> sizes = {
        {size_t{16} << 20, "16 MB"}, {size_t{128} << 20, "128 MB"}, {size_t{1} << 30, "1 GB"}};
    std::vector<std::tuple<size_t, size_t, std::string>> cells = {{0, 0, "off"}};
    for (const auto& [bytes, size] : sizes) {
      cells.emplace_back(bytes, 0, absl::StrCat("user ", size));
      cells.emplace_back(0, bytes, absl::StrCat("item ", size));
      cells.emplace_back(bytes, bytes, absl::StrCat("both ", size));
    }
    for (const auto& [user_bytes, item_bytes, name] : cells) {
      if (!args.only.empty() && name != "off" && name.find(args.only) == std::string::npos) {
        continue;
      }
      absl::StatusOr<Cell> cell = RunCell(path, population, args, user_bytes, item_bytes, name);
      if (!cell.ok()) {
        std::fprintf(stderr, "%s\n", std::string(cell.status().message()).c_str());
        return 1;
      }
      if (user_bytes == 0 && item_bytes == 0) off = cell->throughput;
      std::printf("%-14s %12.1f %9.3f %9.3f %9s %9s %10.1f %10.1f %8.2fx\n", name.c_str(),
                  cell->throughput, cell->p50_ms, cell->p99_ms, rate(cell->user_hit_rate).c_str(),
                  rate(cell->item_hit_rate).c_str(), cell->cache_mb, cell->rss_growth_mb,
                  cell->throughput / off);
      std::fflush(stdout);
    }
    // The cache implementations on this model's key stream and value size, 128 MB.
    {
      ModelOptions options;
      options.user_cache.capacity_bytes = size_t{16} << 20;
      absl::StatusOr<std::shared_ptr<const Model>> m = Model::Load(path, options);
      if (!m.ok() || (*m)->stats().Caches().empty()) continue;
      const CacheCounters c = (*m)->stats().Caches()[0].second;
      const size_t value_bytes =
          c.entries == 0 ? 8192 : c.bytes / c.entries - ShardedCache::kEntryOverheadBytes;
      const size_t floats = value_bytes / sizeof(float);
      ShardedCacheOptions so;
      so.capacity_bytes = size_t{128} << 20;
      so.eviction = EvictionPolicy::kLru;
      std::unique_ptr<ShardedCache> sharded = *ShardedCache::Create(so);
      MutexLruCache mutex_lru(size_t{128} << 20);
      double hit_sharded = 0, hit_mutex = 0;
      const double ns_sharded = ReplayNsPerOp(sharded.get(), args.threads, args.warmup,
                                              args.requests, floats, &hit_sharded);
      const double ns_mutex = ReplayNsPerOp(&mutex_lru, args.threads, args.warmup, args.requests,
                                            floats, &hit_mutex);
      std::printf("user-key replay at 128 MB (%zu-byte values, lookup + insert on miss, %d "
                  "threads): ShardedCache %.0f ns/op (hit rate %.3f), MutexLruCache %.0f ns/op "
                  "(hit rate %.3f)\n",
                  value_bytes, args.threads, ns_sharded, hit_sharded, ns_mutex, hit_mutex);
    }
  }
  return 0;
}

}  // namespace
}  // namespace rankopt

int main(int argc, char** argv) { return rankopt::Main(argc, argv); }
