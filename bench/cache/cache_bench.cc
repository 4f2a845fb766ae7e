// ShardedCache (cache/sharded_cache.h: CLOCK, LRU, and LookupBatch) next to MutexLruCache (one
// mutex, std::unordered_map + std::list: the obvious cache), in one run, on the serving access
// pattern: look a key up, and on a miss build the value and insert it.
//
//   cmake --build build --target cache_bench && build/bench/cache/cache_bench
//   ... --benchmark_filter=Paired --benchmark_min_time=0.5 --benchmark_repetitions=3
//   ... --cache_threads=1,2,4   (thread counts of the Paired/ and Cache/ runs; default 1,2)
//
// Paired/<keys>/<value>/<capacity>/real_time/threads:<t>: the comparison to read on a shared,
//   noisy machine. All four caches live side by side (same config, same warm-up, same key
//   stream); every iteration runs a burst of 2000 ops per thread on each in turn, all threads on
//   the same cache at once, and thread 0 times each burst. <cache>_Mops = million ops/s over all
//   threads at the median burst (a burst during which another process took the CPU counts once,
//   not in proportion to its length); <cache>_hit% = thread 0's hits / lookups.
// Cache/<keys>/<value>/<capacity>/<cache>/real_time/threads:<t>: one cache per benchmark, timed by
//   Google Benchmark over the whole run (ops/s = lookups per second of wall time, summed over
//   threads; hit% = hits / lookups). Whatever else runs on the machine lands in these numbers.
// Axes:
//   keys: zipf1.1_1M = ranks ~ Zipf(s = 1.1) over 1M keys; zipf1.0_500k = Zipf(1.0) over 500k.
//     Ranks are drawn ahead of time (32M per thread, its own seed) and hashed to keys with
//     MakeCacheKey inside the loop (as a service would), so popular keys spread over shards.
//   value: f64 = 64 floats (256 B, an embedding or tower output); f256 = 256 floats (1 KiB).
//     A miss builds the value (allocate + fill) and inserts it; a hit reads its first float.
//   capacity: 16MB / 128MB / 1GB of charge (value->charge() + ShardedCache::kEntryOverheadBytes,
//     the same for every cache, so they hold the same number of entries).
//   cache: Sharded = ShardedCache, default options (16 shards, CLOCK); ShardedBatch200 = the same
//     cache, 200 keys at a time through LookupBatch (a request's candidates), misses then
//     inserted one by one; ShardedLru = EvictionPolicy::kLru; MutexLru =
//     bench/cache/mutex_lru_cache.h.
// Each cache is warmed before its first timed run with max(4M, 4 x capacity in entries) ops of the
// same distribution (another seed); later runs continue where the previous one stopped, so the
// cache stays in its steady state (except where it can hold nearly every key: 1GB/f64 holds all
// 1M, so its hit% creeps up with every op run; compare ops/s there with hit% in view).
// Key/MakeCacheKey, Key/Builder: the cost of a key over a 200-byte feature row and over 6 fields.
// Off/Lookup: a lookup in a capacity-0 cache.
#include <algorithm>
#include <barrier>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "bench/bench_main.h"
#include "bench/cache/mutex_lru_cache.h"
#include "bench/cache/zipf.h"
#include "benchmark/benchmark.h"
#include "cache/cache_key.h"
#include "cache/cache_value.h"
#include "cache/sharded_cache.h"

namespace rankopt {
namespace {

constexpr uint64_t kModelVersion = 3;
// Ranks per thread; a power of two. Long enough that no config's timed runs wrap around (a
// replayed stream would hit 100% in a cache that holds all the keys it has seen).
constexpr size_t kStreamLength = size_t{1} << 25;
constexpr int kMaxThreads = 16;

enum class Kind { kSharded, kShardedBatch, kShardedLru, kMutexLru };

const char* KindName(Kind kind) {
  switch (kind) {
    case Kind::kSharded:
      return "Sharded";
    case Kind::kShardedBatch:
      return "ShardedBatch200";
    case Kind::kShardedLru:
      return "ShardedLru";
    case Kind::kMutexLru:
      return "MutexLru";
  }
  return "?";
}

struct Config {
  double s;
  uint64_t n;
  int floats;
  size_t capacity;
  Kind kind;

  std::string Name() const {
    char name[160];
    std::snprintf(name, sizeof(name), "Cache/zipf%.1f_%s/f%d/%s/%s", s,
                  n == 1000000 ? "1M" : "500k", floats,
                  capacity >= (size_t{1} << 30)     ? "1GB"
                  : capacity >= (size_t{128} << 20) ? "128MB"
                                                    : "16MB",
                  KindName(kind));
    return name;
  }
};

CacheKey KeyOf(uint32_t rank) {
  return MakeCacheKey(kModelVersion,
                      absl::string_view(reinterpret_cast<const char*>(&rank), sizeof(rank)));
}

std::shared_ptr<const CacheValue> BuildValue(uint32_t rank, int floats) {
  return std::make_shared<const CacheValue>(std::vector<float>(floats, static_cast<float>(rank)));
}

// One lookup, and an insert on a miss. Returns whether it hit.
template <typename Cache>
bool Access(Cache& cache, uint32_t rank, int floats) {
  const CacheKey key = KeyOf(rank);
  std::shared_ptr<const CacheValue> v = cache.Lookup(key);
  if (v != nullptr) {
    benchmark::DoNotOptimize(v->floats()[0]);
    return true;
  }
  cache.Insert(key, BuildValue(rank, floats));
  return false;
}

// Pre-drawn ranks for one distribution: one stream per thread plus one for warming.
struct Streams {
  double s = 0;
  uint64_t n = 0;
  std::vector<std::vector<uint32_t>> per_thread;  // [kMaxThreads], drawn on first use.
  std::vector<uint32_t> warm;
};

std::vector<uint32_t> Draw(uint64_t n, double s, uint64_t seed) {
  ZipfGenerator zipf(n, s, seed);
  std::vector<uint32_t> ranks(kStreamLength);
  for (uint32_t& r : ranks) r = static_cast<uint32_t>(zipf.Next());
  return ranks;
}

// One warm cache and where each thread is in its stream.
struct Subject {
  std::unique_ptr<ShardedCache> sharded;
  std::unique_ptr<MutexLruCache> mutex_lru;
  size_t cursor[kMaxThreads] = {};
};

// The caches of one benchmark (Cache/: one; Paired/: CLOCK, LRU, MutexLru), warm. One workload
// lives at a time (1 GB caches are large); the next benchmark's first run replaces it.
struct Workload {
  std::string name;
  std::vector<std::unique_ptr<Subject>> subjects;
  std::unique_ptr<std::barrier<>> barrier;  // Paired/: all threads on one cache at a time.
  int barrier_threads = 0;
};

std::mutex g_mu;
Streams* g_streams = nullptr;
Workload* g_workload = nullptr;

std::unique_ptr<Subject> MakeWarmSubject(Kind kind, const Config& config,
                                         const std::vector<uint32_t>& warm) {
  auto subject = std::make_unique<Subject>();
  if (kind == Kind::kMutexLru) {
    subject->mutex_lru = std::make_unique<MutexLruCache>(config.capacity);
  } else {
    ShardedCacheOptions options;
    options.capacity_bytes = config.capacity;
    if (kind == Kind::kShardedLru) options.eviction = EvictionPolicy::kLru;
    subject->sharded = ShardedCache::Create(options).value();
  }
  const size_t entry = BuildValue(0, config.floats)->charge() + ShardedCache::kEntryOverheadBytes;
  const size_t warm_ops = std::max<size_t>(size_t{4} << 20, 4 * (config.capacity / entry));
  for (size_t i = 0; i < warm_ops; ++i) {
    const uint32_t rank = warm[i & (kStreamLength - 1)];
    if (subject->sharded) {
      Access(*subject->sharded, rank, config.floats);
    } else {
      Access(*subject->mutex_lru, rank, config.floats);
    }
  }
  return subject;
}

// The warm workload `name` with caches of `kinds`, and thread `thread`'s stream; built on first
// use. Every thread calls this before the timed loop; the first one builds while the others wait.
Workload* GetWorkload(const std::string& name, const Config& config, const std::vector<Kind>& kinds,
                      int thread, int threads, const std::vector<uint32_t>** stream) {
  std::lock_guard<std::mutex> lock(g_mu);
  if (g_streams == nullptr || g_streams->s != config.s || g_streams->n != config.n) {
    delete g_workload;
    g_workload = nullptr;
    delete g_streams;
    g_streams = new Streams{config.s, config.n, std::vector<std::vector<uint32_t>>(kMaxThreads),
                            Draw(config.n, config.s, /*seed=*/999)};
  }
  if (g_streams->per_thread[thread].empty()) {
    g_streams->per_thread[thread] = Draw(config.n, config.s, /*seed=*/thread + 1);
  }
  *stream = &g_streams->per_thread[thread];
  if (g_workload == nullptr || g_workload->name != name) {
    delete g_workload;  // Free the old caches before building the new ones.
    g_workload = new Workload;
    g_workload->name = name;
    for (Kind kind : kinds) {
      g_workload->subjects.push_back(MakeWarmSubject(kind, config, g_streams->warm));
    }
  }
  if (g_workload->barrier_threads != threads) {
    g_workload->barrier = std::make_unique<std::barrier<>>(threads);
    g_workload->barrier_threads = threads;
  }
  return g_workload;
}

// `ops` lookups (with inserts on misses) from the stream at `cursor`; returns the hits.
template <typename Cache>
int64_t Run(Cache& cache, const std::vector<uint32_t>& stream, size_t& cursor, int64_t ops,
            int floats) {
  int64_t hits = 0;
  size_t c = cursor;
  for (int64_t i = 0; i < ops; ++i) {
    hits += Access(cache, stream[c & (kStreamLength - 1)], floats) ? 1 : 0;
    ++c;
  }
  cursor = c;
  return hits;
}

constexpr int kBatch = 200;

// As Run, kBatch keys at a time through LookupBatch (a request's candidates), then the misses
// inserted one by one. REQUIRES: ops is a multiple of kBatch.
int64_t RunBatches(ShardedCache& cache, const std::vector<uint32_t>& stream, size_t& cursor,
                   int64_t ops, int floats) {
  uint32_t ranks[kBatch];
  CacheKey keys[kBatch];
  std::shared_ptr<const CacheValue> values[kBatch];
  int64_t hits = 0;
  size_t c = cursor;
  for (int64_t done = 0; done < ops; done += kBatch) {
    for (int j = 0; j < kBatch; ++j) {
      ranks[j] = stream[c++ & (kStreamLength - 1)];
      keys[j] = KeyOf(ranks[j]);
    }
    cache.LookupBatch(keys, absl::MakeSpan(values));
    for (int j = 0; j < kBatch; ++j) {
      if (values[j] != nullptr) {
        benchmark::DoNotOptimize(values[j]->floats()[0]);
        ++hits;
      } else {
        cache.Insert(keys[j], BuildValue(ranks[j], floats));
      }
    }
  }
  cursor = c;
  return hits;
}

int64_t RunKind(Kind kind, Subject& subject, const std::vector<uint32_t>& stream, int thread,
                int64_t ops, int floats) {
  size_t& cursor = subject.cursor[thread];
  if (kind == Kind::kShardedBatch) return RunBatches(*subject.sharded, stream, cursor, ops, floats);
  if (subject.sharded) return Run(*subject.sharded, stream, cursor, ops, floats);
  return Run(*subject.mutex_lru, stream, cursor, ops, floats);
}

void BM_Cache(benchmark::State& state, Config config) {
  const int thread = state.thread_index();
  const std::vector<uint32_t>* stream = nullptr;
  // ShardedBatch200 runs on a cache of default options, as Sharded.
  const Kind cache_kind = config.kind == Kind::kShardedBatch ? Kind::kSharded : config.kind;
  Workload* w = GetWorkload(config.Name(), config, {cache_kind}, thread, state.threads(), &stream);
  const int64_t step = config.kind == Kind::kShardedBatch ? kBatch : 1;
  int64_t ops = 0;
  int64_t hits = 0;
  for (auto _ : state) {
    hits += RunKind(config.kind, *w->subjects[0], *stream, thread, step, config.floats);
    ops += step;
  }
  state.SetItemsProcessed(ops);
  state.counters["ops/s"] =
      benchmark::Counter(static_cast<double>(ops), benchmark::Counter::kIsRate);
  state.counters["hit%"] = benchmark::Counter(
      ops == 0 ? 0.0 : 100.0 * static_cast<double>(hits) / static_cast<double>(ops),
      benchmark::Counter::kAvgThreads);
}

// Every iteration runs a burst of kBurst ops per thread on each cache in turn, all threads on the
// same cache at once (a barrier before and after), and thread 0 times each burst. Counters:
// <cache>_Mops = million ops/s over all threads at the median burst; <cache>_hit% = thread 0's.
void BM_Paired(benchmark::State& state, Config config) {
  constexpr int64_t kBurst = 10 * kBatch;
  constexpr Kind kKinds[] = {Kind::kSharded, Kind::kShardedBatch, Kind::kShardedLru,
                             Kind::kMutexLru};
  constexpr int kSubjectOf[] = {0, 0, 1, 2};  // Sharded and ShardedBatch200 share the CLOCK cache.
  constexpr int kNumKinds = 4;
  const int thread = state.thread_index();
  const std::vector<uint32_t>* stream = nullptr;
  char name[160];
  std::snprintf(name, sizeof(name), "Paired/%.1f/%llu/%d/%zu", config.s,
                static_cast<unsigned long long>(config.n), config.floats, config.capacity);
  Workload* w = GetWorkload(name, config, {Kind::kSharded, Kind::kShardedLru, Kind::kMutexLru},
                            thread, state.threads(), &stream);
  std::vector<double> burst_ns[kNumKinds];
  int64_t hits[kNumKinds] = {};
  int64_t ops[kNumKinds] = {};
  for (auto _ : state) {
    for (int k = 0; k < kNumKinds; ++k) {
      Subject& subject = *w->subjects[kSubjectOf[k]];
      w->barrier->arrive_and_wait();
      const auto start = std::chrono::steady_clock::now();
      hits[k] += RunKind(kKinds[k], subject, *stream, thread, kBurst, config.floats);
      ops[k] += kBurst;
      w->barrier->arrive_and_wait();
      if (thread == 0) {
        burst_ns[k].push_back(
            std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - start)
                .count());
      }
    }
  }
  if (thread != 0) return;
  for (int k = 0; k < kNumKinds; ++k) {
    std::vector<double>& ns = burst_ns[k];
    if (ns.empty()) continue;
    std::nth_element(ns.begin(), ns.begin() + ns.size() / 2, ns.end());
    const double ops_per_burst = static_cast<double>(kBurst * state.threads());
    const std::string kind = KindName(kKinds[k]);
    state.counters[kind + "_Mops"] = ops_per_burst / ns[ns.size() / 2] * 1e3;
    state.counters[kind + "_hit%"] = 100.0 * static_cast<double>(hits[k]) / ops[k];
  }
}

void BM_MakeCacheKey(benchmark::State& state) {
  std::string row(200, 'x');
  uint64_t i = 0;
  for (auto _ : state) {
    std::memcpy(row.data(), &i, sizeof(i));
    ++i;
    benchmark::DoNotOptimize(MakeCacheKey(kModelVersion, row));
  }
}

void BM_KeyBuilder(benchmark::State& state) {
  const std::vector<int64_t> history = {11, 12, 13, 14, 15, 16, 17, 18, 19, 20};
  const std::vector<float> dense = {0.5f, 1.5f, 2.5f, 3.5f};
  int64_t user = 0;
  for (auto _ : state) {
    CacheKeyBuilder b(kModelVersion);
    b.AddString("user")
        .AddInt64(user++)
        .AddString("android")
        .AddInt64(3)
        .AddInt64s(history)
        .AddFloats(dense);
    benchmark::DoNotOptimize(b.Build());
  }
}

void BM_OffLookup(benchmark::State& state) {
  static ShardedCache* cache = ShardedCache::Create(ShardedCacheOptions{}).value().release();
  uint32_t rank = static_cast<uint32_t>(state.thread_index()) << 24;
  for (auto _ : state) benchmark::DoNotOptimize(cache->Lookup(KeyOf(rank++)));
}

std::vector<int> ParseThreads(int* argc, char** argv) {
  std::vector<int> threads = {1, 2};
  const std::string flag = "--cache_threads=";
  int out = 1;
  for (int i = 1; i < *argc; ++i) {
    const std::string arg = argv[i];
    if (arg.rfind(flag, 0) != 0) {
      argv[out++] = argv[i];
      continue;
    }
    threads.clear();
    size_t pos = flag.size();
    while (pos < arg.size()) {
      const size_t comma = std::min(arg.find(',', pos), arg.size());
      const int t = std::atoi(arg.substr(pos, comma - pos).c_str());
      if (t >= 1 && t <= kMaxThreads) threads.push_back(t);
      pos = comma + 1;
    }
  }
  *argc = out;
  return threads;
}

void RegisterAll(const std::vector<int>& threads) {
  benchmark::RegisterBenchmark("Key/MakeCacheKey/200B", BM_MakeCacheKey);
  benchmark::RegisterBenchmark("Key/Builder/6fields", BM_KeyBuilder);
  benchmark::RegisterBenchmark("Off/Lookup", BM_OffLookup)->Threads(1)->Threads(2)->UseRealTime();
  const struct {
    double s;
    uint64_t n;
  } dists[] = {{1.1, 1000000}, {1.0, 500000}};
  for (const auto& d : dists) {
    for (int floats : {64, 256}) {
      for (size_t capacity : {size_t{16} << 20, size_t{128} << 20, size_t{1} << 30}) {
        const Config config{d.s, d.n, floats, capacity, Kind::kSharded};
        std::string name = config.Name();
        name = "Paired" + name.substr(name.find('/'), name.rfind('/') - name.find('/'));
        benchmark::internal::Benchmark* b =
            benchmark::RegisterBenchmark(name.c_str(), BM_Paired, config);
        b->UseRealTime();
        for (int t : threads) b->Threads(t);
      }
    }
  }
  for (const auto& d : dists) {
    for (int floats : {64, 256}) {
      for (size_t capacity : {size_t{16} << 20, size_t{128} << 20, size_t{1} << 30}) {
        for (Kind kind :
             {Kind::kSharded, Kind::kShardedBatch, Kind::kShardedLru, Kind::kMutexLru}) {
          const Config config{d.s, d.n, floats, capacity, kind};
          benchmark::internal::Benchmark* b =
              benchmark::RegisterBenchmark(config.Name().c_str(), BM_Cache, config);
          b->UseRealTime();
          for (int t : threads) b->Threads(t);
        }
      }
    }
  }
}

}  // namespace
}  // namespace rankopt

int main(int argc, char** argv) {
  rankopt::WarnIfUnoptimizedBuild();
  const std::vector<int> threads = rankopt::ParseThreads(&argc, argv);
  rankopt::RegisterAll(threads);
  return rankopt::RunRegisteredBenchmarks(argc, argv);
}
