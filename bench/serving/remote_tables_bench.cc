// Remote embedding tables end to end (issue 18's numbers): local tables against the same package
// with its tables in a Redis Cluster behind a local row cache of 1%, 10% and 100% of the table
// bytes, side by side in one run.
//
//   remote_tables_bench PACKAGE... --redis HOST:PORT,... [--threads 2] [--warmup N]
//                       [--requests N] [--max-ids N] [--timeout-ms 100]
//
// PACKAGE: a package with local tables (`rankopt optimize`); its tables are published to the
// cluster (`rankopt tables publish`, under version "<version>-bench") and a remote twin written to
// a temporary file. Requests: Zipf users (s = 1.1 over 1M) with 200 Zipf candidates (s = 1.0 over
// 500k items), ids folded into [1, min(vocabulary, --max-ids)) (tests/serving/population.h), scored
// by --threads threads through Model::ScoreInto; every cell scores the same stream: --warmup
// requests per thread untimed (the cache fills), then --requests timed. Reported per cell: p50/p99
// of Score, requests/s, the p50 ratio to local tables, network round trips per request, the row
// cache's hit rate, rows fetched per request, the mean fetch time, and failed calls (a fetch
// slower than --timeout-ms fails its request), and the p50 of the scoring thread's CPU time per
// request (with --threads 1 and ModelOptions::threads 1, the client's and the scoring's work
// without the waits for Redis), over the timed requests. Then the floor: the 10% cell's misses
// per request as one bare pipelined GET batch per node, no scoring (wall-clock and CPU p50).
// Last the paired run (RunPaired): the local and the 10% cell's requests alternated on one thread
// with a cold floor batch, the ratio that the load on a shared machine does not move.
// bench/serving/remote_tables_bench.sh starts a cluster on loopback, runs this, and stops it.
#include <time.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "bench/cache/zipf.h"
#include "embedding/remote/redis_cluster.h"
#include "features/config/feature_config.h"
#include "rankopt/model.h"
#include "rankopt/status_macros.h"
#include "serving/package/model_package.h"
#include "serving/remote/row_cache.h"
#include "serving/remote/table_publish.h"
#include "tests/serving/population.h"

namespace rankopt {
namespace {

constexpr uint64_t kUsers = 1'000'000;
constexpr uint64_t kItems = 500'000;
constexpr int kCandidates = 200;

struct Args {
  std::vector<std::string> packages;
  std::string redis;
  int threads = 2;
  int warmup = 500;
  int requests = 1500;
  int64_t max_ids = 1'000'000;
  int timeout_ms = 100;
};

struct Stream {
  explicit Stream(int t) : users(kUsers, 1.1, 1000 + t), items(kItems, 1.0, 2000 + t) {}
  uint64_t Next(std::vector<uint64_t>* out) {
    out->resize(kCandidates);
    for (uint64_t& i : *out) i = items.Next() - 1;
    return users.Next() - 1;
  }
  ZipfGenerator users;
  ZipfGenerator items;
};

struct Cell {
  std::string name;
  double p50_ms = 0, p99_ms = 0, throughput = 0;
  double trips_per_request = 0, hit_rate = -1, defaulted = 0;
  double fetch_ms = 0;  // mean RemoteTables::Fetch time per request
  double cpu_ms = 0;    // p50 of the scoring thread's CPU time per request (no waiting counted)
  double misses_per_request = 0;  // rows fetched from the cluster per request
  int64_t failed = 0;             // Score calls that failed (timeouts on a loaded machine)
};

// The calling thread's CPU time (user + system), ms: what the client and the scoring cost
// without the waits for Redis, which on a loaded machine dominate the wall-clock times.
double ThreadCpuMs() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) * 1e3 + static_cast<double>(ts.tv_nsec) * 1e-6;
}

absl::StatusOr<Cell> RunCell(const std::string& path, const Population& population,
                             const Args& args, const ModelOptions& options,
                             const std::string& name) {
  absl::StatusOr<std::shared_ptr<const Model>> loaded = Model::Load(path, options);
  if (!loaded.ok()) return loaded.status();
  std::shared_ptr<const Model> model = *loaded;
  std::vector<std::vector<double>> latencies(args.threads);
  std::vector<std::vector<double>> cpu(args.threads);
  std::atomic<int> ready{0};
  std::atomic<bool> go{false};
  std::atomic<int64_t> failed{0};
  std::vector<std::chrono::steady_clock::time_point> ends(args.threads);
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
      cpu[t].reserve(args.requests);
      for (int i = 0; i < args.requests; ++i) {
        population.Fill(stream.Next(&items), items, &request);
        const double cpu_start = ThreadCpuMs();
        const auto s = std::chrono::steady_clock::now();
        if (!model->ScoreInto(request, {}, &scores).ok()) failed.fetch_add(1);
        latencies[t].push_back(
            std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - s)
                .count());
        cpu[t].push_back(ThreadCpuMs() - cpu_start);
      }
      ends[t] = std::chrono::steady_clock::now();
    });
  }
  while (ready.load() < args.threads) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  const RemoteTableCounters before = model->stats().RemoteTables();
  const auto start = std::chrono::steady_clock::now();
  go = true;
  for (std::thread& t : threads) t.join();
  const RemoteTableCounters after = model->stats().RemoteTables();
  std::vector<double> all;
  for (const auto& l : latencies) all.insert(all.end(), l.begin(), l.end());
  std::sort(all.begin(), all.end());
  Cell cell;
  cell.name = name;
  cell.throughput =
      static_cast<double>(all.size()) /
      std::chrono::duration<double>(*std::max_element(ends.begin(), ends.end()) - start).count();
  cell.p50_ms = all[all.size() / 2];
  cell.p99_ms = all[all.size() * 99 / 100];
  std::vector<double> all_cpu;
  for (const auto& c : cpu) all_cpu.insert(all_cpu.end(), c.begin(), c.end());
  std::sort(all_cpu.begin(), all_cpu.end());
  cell.cpu_ms = all_cpu[all_cpu.size() / 2];
  if (model->stats().has_remote_tables()) {
    const double n = static_cast<double>(all.size());
    cell.trips_per_request = static_cast<double>(after.round_trips - before.round_trips) / n;
    const double requested = static_cast<double>(after.rows_requested - before.rows_requested);
    cell.hit_rate =
        requested == 0 ? 0 : static_cast<double>(after.cache_hits - before.cache_hits) / requested;
    cell.defaulted = static_cast<double>(after.rows_defaulted - before.rows_defaulted);
    const double fetches = static_cast<double>(after.fetches - before.fetches);
    cell.fetch_ms =
        fetches == 0 ? 0 : (after.latency_sum_seconds - before.latency_sum_seconds) * 1e3 / fetches;
    cell.misses_per_request =
        (requested - static_cast<double>(after.cache_hits - before.cache_hits)) / n;
  }
  cell.failed = failed.load();
  return cell;
}

// The floor of one request's fetch: `keys` GETs of published rows of `table` in one pipelined
// batch per node through the client alone (RedisCluster::Execute, values read into rows as the
// fetch does: no cache, no scoring), p50 over
// `rounds` batches.
struct Floor {
  double cluster_p50_ms = 0;
  double cpu_p50_ms = 0;  // the calling thread's CPU time per batch
};
absl::StatusOr<Floor> MeasureFloor(const std::string& redis, const RemoteTableDesc& table, int keys,
                                   int rounds, int timeout_ms) {
  RedisClusterOptions options;
  RANKOPT_ASSIGN_OR_RETURN(options.seeds, ParseRedisEndpoints(redis));
  options.timeout = absl::Milliseconds(timeout_ms);
  RANKOPT_ASSIGN_OR_RETURN(std::unique_ptr<RedisCluster> cluster,
                           RedisCluster::Connect(std::move(options)));
  std::vector<std::string> names;
  for (int i = 0; i < keys; ++i) {
    names.push_back(absl::StrCat(table.key_prefix, (i * 7919) % std::max<int64_t>(1, table.rows)));
  }
  // Each value read into its row, as RemoteTables' fetch does.
  std::vector<uint8_t> rows(static_cast<size_t>(keys) * table.row_bytes);
  std::vector<RedisCommand> commands(static_cast<size_t>(keys));
  for (int i = 0; i < keys; ++i) {
    commands[i].key = names[i];
    commands[i].args = {"GET", names[i]};
    commands[i].value_out = rows.data() + static_cast<size_t>(i) * table.row_bytes;
    commands[i].value_size = table.row_bytes;
  }
  std::vector<RedisReply> replies;
  std::vector<double> ms;
  std::vector<double> cpu_ms;
  for (int r = 0; r < rounds; ++r) {
    const double c0 = ThreadCpuMs();
    const auto s = std::chrono::steady_clock::now();
    cluster->Execute(commands, &replies);
    ms.push_back(
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - s).count());
    cpu_ms.push_back(ThreadCpuMs() - c0);
    for (const RedisReply& reply : replies) {
      if (reply.kind != RedisReply::Kind::kString || !reply.in_place) {
        return absl::InternalError(absl::StrCat("floor: GET failed: ", reply.str));
      }
    }
  }
  std::sort(ms.begin(), ms.end());
  std::sort(cpu_ms.begin(), cpu_ms.end());
  return Floor{ms[ms.size() / 2], cpu_ms[cpu_ms.size() / 2]};
}

// The 10% cell again, paired: one thread scores each request with local tables and with the
// remote twin (10% row cache), and sends one bare GET batch of `floor_keys` cold rows (ids no
// request asks for, new every round), the three in rotating order, so that all three see the same
// machine state. On a shared machine the cells above drift with the load between them; a pair's
// ratio does not. Reported: each one's p50, the ratio of the p50s and the median of the per-request
// ratios (remote / local).
struct Paired {
  double local_p50_ms = 0, remote_p50_ms = 0, floor_p50_ms = 0, median_ratio = 0;
  int64_t failed = 0;
};
absl::StatusOr<Paired> RunPaired(const std::string& local_path, const std::string& remote_path,
                                 const Population& population, const Args& args,
                                 const ModelOptions& local_options,
                                 const ModelOptions& remote_options, const RemoteTableDesc& table,
                                 int floor_keys) {
  RANKOPT_ASSIGN_OR_RETURN(std::shared_ptr<const Model> local,
                           Model::Load(local_path, local_options));
  RANKOPT_ASSIGN_OR_RETURN(std::shared_ptr<const Model> remote,
                           Model::Load(remote_path, remote_options));
  RedisClusterOptions options;
  RANKOPT_ASSIGN_OR_RETURN(options.seeds, ParseRedisEndpoints(args.redis));
  options.timeout = absl::Milliseconds(args.timeout_ms);
  RANKOPT_ASSIGN_OR_RETURN(std::unique_ptr<RedisCluster> cluster,
                           RedisCluster::Connect(std::move(options)));
  std::vector<std::string> names(static_cast<size_t>(floor_keys));
  std::vector<uint8_t> rows(static_cast<size_t>(floor_keys) * table.row_bytes);
  std::vector<RedisCommand> commands(static_cast<size_t>(floor_keys));
  std::vector<RedisReply> replies;
  // Cold rows: walk the table from its far end, a fresh stride each round (Zipf requests ask for
  // small ids).
  int64_t next_cold = table.rows - 1;
  Stream stream(0);
  Request request;
  std::vector<uint64_t> items;
  Scores scores;
  std::vector<double> local_ms, remote_ms, floor_ms, ratios;
  Paired out;
  for (int i = 0; i < args.warmup + args.requests; ++i) {
    population.Fill(stream.Next(&items), items, &request);
    for (int k = 0; k < floor_keys; ++k) {
      if (next_cold < 1) next_cold = table.rows - 1;
      names[k] = absl::StrCat(table.key_prefix, next_cold--);
      commands[k].key = names[k];
      commands[k].args = {"GET", names[k]};
      commands[k].value_out = rows.data() + static_cast<size_t>(k) * table.row_bytes;
      commands[k].value_size = table.row_bytes;
    }
    double t[3] = {0, 0, 0};
    for (int j = 0; j < 3; ++j) {
      const int which = (i + j) % 3;
      const auto start = std::chrono::steady_clock::now();
      if (which == 0) {
        if (!local->ScoreInto(request, {}, &scores).ok()) ++out.failed;
      } else if (which == 1) {
        if (!remote->ScoreInto(request, {}, &scores).ok()) ++out.failed;
      } else {
        cluster->Execute(commands, &replies);
      }
      t[which] = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
                     .count();
    }
    if (i < args.warmup) continue;
    local_ms.push_back(t[0]);
    remote_ms.push_back(t[1]);
    floor_ms.push_back(t[2]);
    ratios.push_back(t[1] / t[0]);
  }
  auto median = [](std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
  };
  out.local_p50_ms = median(local_ms);
  out.remote_p50_ms = median(remote_ms);
  out.floor_p50_ms = median(floor_ms);
  out.median_ratio = median(ratios);
  return out;
}

int Run(const Args& args) {
#ifndef NDEBUG
  std::printf("WARNING: built with assertions on; the numbers below are not representative\n");
#endif
  for (const std::string& path : args.packages) {
    absl::StatusOr<ModelPackage> package = ReadModelPackage(path);
    if (!package.ok()) {
      std::fprintf(stderr, "%s\n", package.status().ToString().c_str());
      return 1;
    }
    absl::StatusOr<FeatureConfig> config =
        ParseFeatureConfig(package->feature_config_yaml, path + ": feature config");
    if (!config.ok()) {
      std::fprintf(stderr, "%s\n", config.status().ToString().c_str());
      return 1;
    }
    // Publish under a bench version, and write the remote twin.
    package->model_version += "-bench";
    const std::string dir =
        (std::filesystem::temp_directory_path() / absl::StrCat("rankopt_remote_bench_", ::getpid()))
            .string();
    std::filesystem::create_directories(dir);
    const std::string local_path = dir + "/local.rkp";
    const std::string remote_path = dir + "/remote.rkp";
    if (absl::Status s = WriteModelPackage(*package, local_path); !s.ok()) {
      std::fprintf(stderr, "%s\n", s.ToString().c_str());
      return 1;
    }
    PublishPackageOptions publish;
    publish.package_path = local_path;
    publish.redis = args.redis;
    publish.remote_package_path = remote_path;
    const auto t0 = std::chrono::steady_clock::now();
    absl::StatusOr<PublishReport> report = PublishPackage(publish);
    if (!report.ok()) {
      std::fprintf(stderr, "publish: %s\n", report.status().ToString().c_str());
      return 1;
    }
    uint64_t table_bytes = 0, rows = 0;
    for (const PublishedTable& t : report->tables) {
      table_bytes += t.bytes;
      rows += static_cast<uint64_t>(t.desc.rows);
    }
    std::printf("%s: %zu remote tables, %llu rows, %.1f MB of rows; published in %.1f s\n",
                package->model_name.c_str(), report->tables.size(),
                static_cast<unsigned long long>(rows), table_bytes / 1e6,
                std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    const Population population(*config, args.max_ids);
    std::vector<Cell> cells;
    ModelOptions local;
    local.threads = 1;
    local.remote_tables.timeout = absl::Milliseconds(args.timeout_ms);
    absl::StatusOr<Cell> base = RunCell(local_path, population, args, local, "local tables");
    if (!base.ok()) {
      std::fprintf(stderr, "%s\n", base.status().ToString().c_str());
      return 1;
    }
    cells.push_back(*base);
    for (const double fraction : {0.0, 0.01, 0.10, 1.0}) {
      ModelOptions remote = local;
      remote.remote_tables.redis = args.redis;
      // 100%: what holds every row (the row cache's per-row id and set overhead included).
      std::vector<RowCache::TableShape> shapes;
      for (const PublishedTable& t : report->tables)
        shapes.push_back({t.desc.rows, t.desc.row_bytes});
      remote.remote_tables.cache_bytes =
          fraction >= 1.0 ? RowCache::BytesToHoldAll(shapes)
                          : static_cast<size_t>(static_cast<double>(table_bytes) * fraction);
      absl::StatusOr<Cell> cell =
          RunCell(remote_path, population, args, remote,
                  fraction == 0 ? std::string("remote, no cache")
                                : absl::StrFormat("remote, cache %g%%", fraction * 100));
      if (!cell.ok()) {
        std::fprintf(stderr, "%s\n", cell.status().ToString().c_str());
        return 1;
      }
      cells.push_back(*cell);
    }
    std::printf("%-22s %9s %9s %10s %9s %10s %9s %10s %9s %7s %8s %9s\n", "cell", "p50 ms",
                "p99 ms", "req/s", "p50/local", "trips/req", "hit rate", "miss/req", "fetch ms",
                "failed", "cpu ms", "cpu/local");
    for (const Cell& c : cells) {
      std::printf("%-22s %9.3f %9.3f %10.1f %9.2f %10.2f %9s %10.1f %9.3f %7lld %8.3f %9.2f\n",
                  c.name.c_str(), c.p50_ms, c.p99_ms, c.throughput, c.p50_ms / cells[0].p50_ms,
                  c.trips_per_request,
                  c.hit_rate < 0 ? "-" : absl::StrFormat("%.3f", c.hit_rate).c_str(),
                  c.misses_per_request, c.fetch_ms, static_cast<long long>(c.failed), c.cpu_ms,
                  c.cpu_ms / cells[0].cpu_ms);
    }
    // The floor: the 10% cell's misses per request as bare pipelined GETs, no scoring.
    const int floor_keys = std::max(1, static_cast<int>(cells[3].misses_per_request + 0.5));
    absl::StatusOr<Floor> floor =
        MeasureFloor(args.redis, report->tables[0].desc, floor_keys, 400, args.timeout_ms);
    if (floor.ok()) {
      std::printf(
          "floor: %d GETs (the 10%% cell's misses/request) in one pipelined batch per "
          "node, no scoring: p50 %.3f ms = %.2fx local p50; cpu p50 %.3f ms = %.2fx local cpu\n",
          floor_keys, floor->cluster_p50_ms, floor->cluster_p50_ms / cells[0].p50_ms,
          floor->cpu_p50_ms, floor->cpu_p50_ms / cells[0].cpu_ms);
    } else {
      std::printf("floor: %s\n", floor.status().ToString().c_str());
    }
    ModelOptions ten = local;
    ten.remote_tables.redis = args.redis;
    ten.remote_tables.cache_bytes = static_cast<size_t>(static_cast<double>(table_bytes) * 0.10);
    absl::StatusOr<Paired> paired = RunPaired(local_path, remote_path, population, args, local,
                                              ten, report->tables[0].desc, floor_keys);
    if (paired.ok()) {
      std::printf(
          "paired (one thread; local, remote at a 10%% cache and a %d-GET cold floor batch in "
          "turn on each request): p50 local %.3f ms, remote %.3f ms (%.2fx; median of the "
          "per-request ratios %.2fx), floor %.3f ms (%.2fx local); %lld failed\n",
          floor_keys, paired->local_p50_ms, paired->remote_p50_ms,
          paired->remote_p50_ms / paired->local_p50_ms, paired->median_ratio,
          paired->floor_p50_ms, paired->floor_p50_ms / paired->local_p50_ms,
          static_cast<long long>(paired->failed));
    } else {
      std::printf("paired: %s\n", paired.status().ToString().c_str());
    }
    absl::StatusOr<int64_t> dropped =
        DropPublishedVersion(args.redis, package->model_name, package->model_version);
    std::printf("dropped %lld keys\n\n", static_cast<long long>(dropped.ok() ? *dropped : -1));
    std::filesystem::remove_all(dir);
  }
  return 0;
}

}  // namespace
}  // namespace rankopt

int main(int argc, char** argv) {
  rankopt::Args args;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&]() -> std::string { return i + 1 < argc ? argv[++i] : ""; };
    auto int_flag = [&](int64_t* v) {
      if (!absl::SimpleAtoi(next(), v) || *v < 1) {
        std::fprintf(stderr, "%s needs a positive integer\n", a.c_str());
        std::exit(2);
      }
    };
    int64_t v = 0;
    if (a == "--redis") {
      args.redis = next();
    } else if (a == "--threads") {
      int_flag(&v);
      args.threads = static_cast<int>(v);
    } else if (a == "--warmup") {
      int_flag(&v);
      args.warmup = static_cast<int>(v);
    } else if (a == "--requests") {
      int_flag(&v);
      args.requests = static_cast<int>(v);
    } else if (a == "--max-ids") {
      int_flag(&args.max_ids);
    } else if (a == "--timeout-ms") {
      int_flag(&v);
      args.timeout_ms = static_cast<int>(v);
    } else if (a.rfind("--", 0) == 0) {
      std::fprintf(stderr, "unknown flag %s\n", a.c_str());
      return 2;
    } else {
      args.packages.push_back(a);
    }
  }
  if (args.packages.empty() || args.redis.empty()) {
    std::fprintf(stderr,
                 "usage: remote_tables_bench PACKAGE... --redis HOST:PORT,... [--threads 2] "
                 "[--warmup N] [--requests N] [--max-ids N] [--timeout-ms 100]\n");
    return 2;
  }
  return rankopt::Run(args);
}
