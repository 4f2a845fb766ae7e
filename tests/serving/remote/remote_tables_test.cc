// Remote embedding tables against a real 6-node Redis Cluster on loopback: publish (idempotent,
// resumable, verified; half-published never served), drop, scores bitwise equal to the local
// package (DIN, ESMM; fp32 and int8; row cache on and off; 8 threads; with the user and item
// result caches, which keep nothing computed from defaulted rows), and the faults: a stalled
// node (SIGSTOP) cut off by the timeout, a reshard under load, a primary killed under load.
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <variant>
#include <vector>

#include "absl/strings/str_cat.h"
#include "embedding/remote/redis_cluster.h"
#include "gtest/gtest.h"
#include "rankopt/model.h"
#include "serving/package/model_package.h"
#include "serving/remote/remote_graph.h"
#include "serving/remote/table_publish.h"
#include "tests/serving/din_package.h"
#include "tests/serving/remote/redis_cluster_fixture.h"

namespace rankopt {
namespace {

using Clock = std::chrono::steady_clock;

struct Published {
  std::string local_path;
  std::string remote_path;
  std::string version;
  std::vector<Request> requests;
  std::vector<std::vector<float>> expected;  // head 0 of each request, from the local package
};

bool SameBits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

class RemoteTablesTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { reason_ = TestRedisCluster::Start(&missing_); }

  void SetUp() override {
    if (missing_) GTEST_SKIP() << "no Redis: " << reason_;
    ASSERT_EQ(reason_, "");
  }

  static std::string Version(const std::string& what) {
    return absl::StrCat("t", ::getpid(), "-", what);
  }

  // Builds the model's package with local tables, publishes them and writes the remote package.
  static void Publish(const std::string& model, TableQuantizationMode int8, const std::string& tag,
                      Published* out) {
    out->version = Version(tag);
    absl::StatusOr<ModelPackage> package =
        model == "din" ? BuildDinPackage(int8, out->version) : BuildEsmmPackage(int8, out->version);
    ASSERT_TRUE(package.ok()) << package.status();
    const std::string dir = FreshTempDir(absl::StrCat("remote_", tag));
    out->local_path = dir + "/local.rkp";
    out->remote_path = dir + "/remote.rkp";
    ASSERT_TRUE(WriteModelPackage(*package, out->local_path).ok());
    PublishPackageOptions o;
    o.package_path = out->local_path;
    o.redis = TestRedisCluster::Seeds();
    o.remote_package_path = out->remote_path;
    o.publish.batch_rows = 500;
    absl::StatusOr<PublishReport> report = PublishPackage(o);
    ASSERT_TRUE(report.ok()) << report.status();
    ASSERT_FALSE(report->tables.empty());
    for (const PublishedTable& t : report->tables) {
      EXPECT_FALSE(t.already_published);
      EXPECT_EQ(t.rows_written, t.desc.rows);
    }
    absl::StatusOr<std::vector<Request>> requests = model == "din" ? DinRequests() : EsmmRequests();
    ASSERT_TRUE(requests.ok());
    out->requests = *requests;
    ModelOptions local_options;
    absl::StatusOr<std::shared_ptr<const Model>> local =
        Model::Load(out->local_path, local_options);
    ASSERT_TRUE(local.ok()) << local.status();
    for (const Request& r : out->requests) {
      absl::StatusOr<Scores> s = (*local)->Score(r);
      ASSERT_TRUE(s.ok()) << s.status();
      out->expected.push_back(s->values[0]);
    }
  }

  static ModelOptions RemoteOptions(
      size_t cache_bytes,
      RemoteTableOptions::FailurePolicy policy = RemoteTableOptions::FailurePolicy::kFail,
      absl::Duration timeout = absl::Milliseconds(200)) {
    ModelOptions o;
    o.remote_tables.redis = TestRedisCluster::Seeds();
    o.remote_tables.cache_bytes = cache_bytes;
    o.remote_tables.on_failure = policy;
    o.remote_tables.timeout = timeout;
    return o;
  }

  // Scores every request from `threads` threads until `stop` (or `rounds` rounds each when
  // stop is null); counts exact answers and errors, and any wrong answer.
  struct Tally {
    std::atomic<int64_t> exact{0}, errors{0}, wrong{0};
    std::mutex mu;
    std::string first_error;  // guarded by mu
  };
  static void Hammer(const Model& model, const Published& p, int threads, int rounds,
                     const std::atomic<bool>* stop, Tally* tally) {
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; ++t) {
      pool.emplace_back([&, t] {
        for (int round = 0; stop != nullptr ? !stop->load() : round < rounds; ++round) {
          const size_t i = static_cast<size_t>(t + round) % p.requests.size();
          absl::StatusOr<Scores> s = model.Score(p.requests[i]);
          if (!s.ok()) {
            if (tally->errors++ == 0) {
              std::lock_guard<std::mutex> lock(tally->mu);
              tally->first_error = s.status().ToString();
            }
            continue;
          }
          (SameBits(s->values[0], p.expected[i]) ? tally->exact : tally->wrong)++;
        }
      });
    }
    for (std::thread& th : pool) th.join();
  }

  static std::string reason_;
  static bool missing_;
};

std::string RemoteTablesTest::reason_;
bool RemoteTablesTest::missing_ = false;

TEST_F(RemoteTablesTest, ScoresEqualLocalTablesBitForBit) {
  struct Case {
    const char* model;
    TableQuantizationMode int8;
    const char* tag;
  };
  for (const Case& c : {Case{"din", TableQuantizationMode::kOff, "din-fp32"},
                        Case{"din", TableQuantizationMode::kForce, "din-int8"},
                        Case{"esmm", TableQuantizationMode::kOff, "esmm-fp32"},
                        Case{"esmm", TableQuantizationMode::kForce, "esmm-int8"}}) {
    SCOPED_TRACE(c.tag);
    Published p;
    Publish(c.model, c.int8, c.tag, &p);
    if (HasFatalFailure()) return;
    // Publishing again changes nothing.
    PublishPackageOptions again;
    again.package_path = p.local_path;
    again.redis = TestRedisCluster::Seeds();
    absl::StatusOr<PublishReport> report = PublishPackage(again);
    ASSERT_TRUE(report.ok()) << report.status();
    for (const PublishedTable& t : report->tables) EXPECT_TRUE(t.already_published) << t.desc.table;

    for (const size_t cache_bytes : {size_t{0}, size_t{16} << 20}) {
      SCOPED_TRACE(absl::StrCat("cache bytes ", cache_bytes));
      absl::StatusOr<std::shared_ptr<const Model>> model =
          Model::Load(p.remote_path, RemoteOptions(cache_bytes));
      ASSERT_TRUE(model.ok()) << model.status();
      const uint64_t load_trips = (*model)->stats().RemoteTables().round_trips;  // + warm-up
      const uint64_t load_fetches = (*model)->stats().RemoteTables().fetches;
      Tally tally;
      Hammer(**model, p, 8, 6, nullptr, &tally);
      EXPECT_EQ(tally.exact.load(), 8 * 6);
      EXPECT_EQ(tally.errors.load(), 0);
      EXPECT_EQ(tally.wrong.load(), 0);
      const RemoteTableCounters c = (*model)->stats().RemoteTables();
      EXPECT_EQ(c.fetches - load_fetches, 8u * 6u);
      // One pipelined batch per node at most (3 primaries), no retries on a healthy cluster.
      EXPECT_LE(c.round_trips - load_trips, 3 * (c.fetches - load_fetches));
      EXPECT_EQ(c.rows_defaulted, 0u);
      if (cache_bytes > 0) {
        EXPECT_GT(c.cache_hits, 0u);
        // A request whose rows are all cached never touches the network.
        const uint64_t trips = c.round_trips;
        ASSERT_TRUE((*model)->Score(p.requests[0]).ok());
        EXPECT_EQ((*model)->stats().RemoteTables().round_trips, trips);
      } else {
        EXPECT_EQ(c.cache_hits, 0u);
      }
      const std::string metrics = (*model)->stats().PrometheusText("");
      EXPECT_NE(metrics.find("rankopt_remote_round_trips_total"), std::string::npos);
      EXPECT_NE(metrics.find("rankopt_remote_rows_defaulted_total 0"), std::string::npos);
    }
    ASSERT_TRUE(DropPublishedVersion(TestRedisCluster::Seeds(), c.model, p.version).ok());
  }
}

// The user and item result caches over remote tables: they hold the parts they hold for local
// tables (a lookup of user ids in the user part, of item ids in the item part: the same caches on,
// the same entries of the same bytes after the same requests); scores bitwise equal to local
// tables from 8 threads; a request scored while a node stalls (failure policy default_row)
// inserts nothing into either cache, and after the node is back the same request is exact.
TEST_F(RemoteTablesTest, ResultCachesCombineAndNeverKeepDefaultedResults) {
  for (const char* model_name : {"din", "esmm"}) {
    SCOPED_TRACE(model_name);
    Published p;
    Publish(model_name, TableQuantizationMode::kForce, absl::StrCat(model_name, "-caches"), &p);
    if (HasFatalFailure()) return;
    auto inserts = [](const Model& m) {
      uint64_t n = 0;
      for (const auto& [name, c] : m.stats().Caches()) {
        if (name == "user" || name == "item") n += c.inserts;
      }
      return n;
    };
    for (const size_t row_cache : {size_t{0}, size_t{16} << 20}) {
      SCOPED_TRACE(absl::StrCat("row cache bytes ", row_cache));
      ModelOptions o = RemoteOptions(row_cache, RemoteTableOptions::FailurePolicy::kDefaultRow,
                                     absl::Milliseconds(50));
      o.user_cache.capacity_bytes = size_t{16} << 20;
      o.item_cache.capacity_bytes = size_t{16} << 20;
      absl::StatusOr<std::shared_ptr<const Model>> model = Model::Load(p.remote_path, o);
      ASSERT_TRUE(model.ok()) << model.status();
      ModelOptions local_cached_options;
      local_cached_options.user_cache = o.user_cache;
      local_cached_options.item_cache = o.item_cache;
      absl::StatusOr<std::shared_ptr<const Model>> local_cached =
          Model::Load(p.local_path, local_cached_options);
      ASSERT_TRUE(local_cached.ok()) << local_cached.status();
      std::printf("%s: user cache %s, item cache %s (local tables: %s, %s)\n", model_name,
                  (*model)->user_cache_enabled() ? "on" : "off",
                  (*model)->item_cache_enabled() ? "on" : "off",
                  (*local_cached)->user_cache_enabled() ? "on" : "off",
                  (*local_cached)->item_cache_enabled() ? "on" : "off");
      EXPECT_TRUE((*model)->user_cache_enabled());
      EXPECT_EQ((*model)->user_cache_enabled(), (*local_cached)->user_cache_enabled());
      EXPECT_EQ((*model)->item_cache_enabled(), (*local_cached)->item_cache_enabled());
      // ESMM's item part (the towers' first-layer item halves) is worth caching, DIN's is not.
      EXPECT_EQ((*model)->item_cache_enabled(), std::string(model_name) == "esmm");
      // The same requests in the same order: the same parts cached, of the same bytes (a user
      // part that stopped at the request rows, ahead of the lookups, would hold other bytes).
      for (size_t i = 0; i < p.requests.size(); ++i) {
        absl::StatusOr<Scores> remote = (*model)->Score(p.requests[i]);
        ASSERT_TRUE(remote.ok()) << remote.status();
        EXPECT_TRUE(SameBits(remote->values[0], p.expected[i])) << "request " << i;
        ASSERT_TRUE((*local_cached)->Score(p.requests[i]).ok());
      }
      ASSERT_EQ((*model)->stats().RemoteTables().rows_defaulted, 0u);
      auto result_caches = [](const Model& m) {
        std::vector<std::pair<std::string, CacheCounters>> out;
        for (const auto& [name, c] : m.stats().Caches()) {
          if (name == "user" || name == "item") out.emplace_back(name, c);  // not "remote_rows"
        }
        return out;
      };
      const auto remote_caches = result_caches(**model);
      const auto local_caches = result_caches(**local_cached);
      ASSERT_EQ(remote_caches.size(), local_caches.size());
      for (size_t i = 0; i < remote_caches.size(); ++i) {
        SCOPED_TRACE(remote_caches[i].first);
        ASSERT_EQ(remote_caches[i].first, local_caches[i].first);
        const CacheCounters& r = remote_caches[i].second;
        const CacheCounters& l = local_caches[i].second;
        EXPECT_EQ(r.entries, l.entries);
        EXPECT_EQ(r.hits, l.hits);
        EXPECT_EQ(r.misses, l.misses);
        EXPECT_GT(r.inserts, 0u);
        if (std::string(model_name) == "esmm") {
          EXPECT_EQ(r.bytes, l.bytes);
        } else {
          // DIN's history lookups are one multi-table lookup locally and one lookup per field
          // remotely (MakeTablesRemote splits it; the split's Reshape/Concat is not row-wise), so
          // a user entry holds the same embeddings ([1,50,32] floats) as two [1,50,16] tensors:
          // the same data, one more view and its alignment (< 256 bytes) per entry. Ahead of
          // the lookups it would hold the ids, under half the bytes.
          EXPECT_GE(r.bytes, l.bytes);
          EXPECT_LE(r.bytes, l.bytes + 256 * r.entries);
        }
      }
      Tally tally;
      Hammer(**model, p, 8, 6, nullptr, &tally);
      EXPECT_EQ(tally.exact.load(), 8 * 6) << tally.first_error;
      EXPECT_EQ(tally.wrong.load(), 0);
      for (const auto& [name, c] : (*model)->stats().Caches()) {
        if (name == "user" || name == "item") {
          EXPECT_GT(c.hits, 0u) << "the " << name << " cache served nothing";
        }
      }
      if (row_cache > 0) continue;  // the stall below needs every row from the cluster

      // A request never seen while a primary is stopped: each candidate's j-th feature taken
      // from candidate k + j (values in range, combinations new: no cached item part).
      Request fresh = p.requests[0];
      for (const Request& r : p.requests) {
        if (r.candidates.size() > fresh.candidates.size()) fresh = r;
      }
      // And a user never seen: sequences reversed, numbers moved (no cached user part either).
      for (const FeatureRow::Entry& entry : std::vector<FeatureRow::Entry>(fresh.user.entries())) {
        FeatureValue v = entry.second;
        if (auto* ids = std::get_if<std::vector<int64_t>>(&v))
          std::reverse(ids->begin(), ids->end());
        if (auto* x = std::get_if<double>(&v)) *x += 0.25;
        fresh.user.Set(entry.first, std::move(v));
      }
      const std::vector<FeatureRow> original = fresh.candidates;
      for (size_t k = 0; k < original.size(); ++k) {
        const std::vector<FeatureRow::Entry>& entries = original[k].entries();
        for (size_t j = 0; j < entries.size(); ++j) {
          const FeatureValue* v = original[(k + j) % original.size()].Find(entries[j].first);
          if (v != nullptr) fresh.candidates[k].Set(entries[j].first, *v);
        }
      }
      ModelOptions local_options;
      absl::StatusOr<std::shared_ptr<const Model>> local = Model::Load(p.local_path, local_options);
      ASSERT_TRUE(local.ok()) << local.status();
      absl::StatusOr<Scores> want = (*local)->Score(fresh);
      ASSERT_TRUE(want.ok()) << want.status();
      const int pid = TestRedisCluster::Pid(TestRedisCluster::PrimaryPorts()[0]);
      ASSERT_GT(pid, 0);
      const uint64_t inserts_before = inserts(**model);
      const uint64_t defaulted_before = (*model)->stats().RemoteTables().rows_defaulted;
      ASSERT_EQ(::kill(pid, SIGSTOP), 0);
      absl::StatusOr<Scores> defaulted = (*model)->Score(fresh);
      ::kill(pid, SIGCONT);
      ASSERT_TRUE(defaulted.ok()) << defaulted.status();
      EXPECT_GT((*model)->stats().RemoteTables().rows_defaulted, defaulted_before);
      EXPECT_FALSE(SameBits(defaulted->values[0], want->values[0]))
          << "no row of this request was defaulted";
      EXPECT_EQ(inserts(**model), inserts_before) << "a result of defaulted rows was cached";
      ASSERT_TRUE(TestRedisCluster::WaitOk(10));
      bool exact = false;
      for (int i = 0; i < 40 && !exact; ++i) {
        absl::StatusOr<Scores> s = (*model)->Score(fresh);
        exact = s.ok() && SameBits(s->values[0], want->values[0]);
        if (!exact) std::this_thread::sleep_for(std::chrono::milliseconds(100));
      }
      EXPECT_TRUE(exact) << "after recovery the request is not exact";
      // And from the caches too (a second time: parts cached by the exact run).
      absl::StatusOr<Scores> again = (*model)->Score(fresh);
      ASSERT_TRUE(again.ok()) << again.status();
      EXPECT_TRUE(SameBits(again->values[0], want->values[0]));
    }
    ASSERT_TRUE(DropPublishedVersion(TestRedisCluster::Seeds(), model_name, p.version).ok());
  }
}

TEST_F(RemoteTablesTest, HalfPublishedIsNeverServedAndPublishResumes) {
  Published p;
  Publish("din", TableQuantizationMode::kOff, "half", &p);
  if (HasFatalFailure()) return;
  RedisClusterOptions co;
  co.seeds = *ParseRedisEndpoints(TestRedisCluster::Seeds());
  absl::StatusOr<std::unique_ptr<RedisCluster>> cluster = RedisCluster::Connect(co);
  ASSERT_TRUE(cluster.ok()) << cluster.status();
  absl::StatusOr<ModelPackage> local = ReadModelPackage(p.local_path);
  ASSERT_TRUE(local.ok());
  std::vector<std::string> skipped;
  absl::StatusOr<std::vector<RemotableTable>> tables =
      FindRemotableTables(local->graph, "din", p.version, {}, &skipped);
  ASSERT_TRUE(tables.ok() && !tables->empty());
  const RemoteTableDesc& d = (*tables)[0].desc;
  auto run = [&](std::vector<std::vector<std::string>> commands) {
    std::vector<RedisCommand> cmds;
    for (const auto& c : commands) {
      RedisCommand rc;
      rc.key = c[1];
      for (const std::string& a : c) rc.args.push_back(a);
      cmds.push_back(rc);
    }
    std::vector<RedisReply> replies;
    (*cluster)->Execute(cmds, &replies);
    for (const RedisReply& r : replies) ASSERT_NE(r.kind, RedisReply::Kind::kFailed) << r.str;
  };
  // An interrupted publish: no #ready, half the rows recorded, the last row not written.
  run({{"DEL", d.key_prefix + "#ready"},
       {"SET", d.key_prefix + "#progress", absl::StrCat(d.rows / 2)},
       {"DEL", absl::StrCat(d.key_prefix, d.rows - 1)}});
  absl::StatusOr<std::shared_ptr<const Model>> refused =
      Model::Load(p.remote_path, RemoteOptions(0));
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition) << refused.status();
  EXPECT_NE(refused.status().message().find("not (completely) published"), std::string::npos)
      << refused.status();

  PublishPackageOptions o;
  o.package_path = p.local_path;
  o.redis = TestRedisCluster::Seeds();
  absl::StatusOr<PublishReport> resumed = PublishPackage(o);
  ASSERT_TRUE(resumed.ok()) << resumed.status();
  bool found = false;
  for (const PublishedTable& t : resumed->tables) {
    if (t.desc.table != d.table) continue;
    found = true;
    EXPECT_EQ(t.rows_resumed, d.rows / 2);
    EXPECT_EQ(t.rows_written, d.rows - d.rows / 2);
  }
  EXPECT_TRUE(found);
  absl::StatusOr<std::shared_ptr<const Model>> model = Model::Load(p.remote_path, RemoteOptions(0));
  ASSERT_TRUE(model.ok()) << model.status();
  absl::StatusOr<Scores> s = (*model)->Score(p.requests[0]);
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_TRUE(SameBits(s->values[0], p.expected[0]));

  // A damaged row below the recorded progress fails verification; nothing is marked ready, and
  // the next publish starts over and repairs it.
  run({{"DEL", d.key_prefix + "#ready"}, {"SET", absl::StrCat(d.key_prefix, 0), "garbage"}});
  absl::StatusOr<PublishReport> damaged = PublishPackage(o);
  ASSERT_FALSE(damaged.ok());
  EXPECT_EQ(damaged.status().code(), absl::StatusCode::kDataLoss) << damaged.status();
  EXPECT_FALSE(Model::Load(p.remote_path, RemoteOptions(0)).ok());
  absl::StatusOr<PublishReport> repaired = PublishPackage(o);
  ASSERT_TRUE(repaired.ok()) << repaired.status();
  ASSERT_TRUE(Model::Load(p.remote_path, RemoteOptions(0)).ok());

  // Another build under the same version is refused, not overwritten.
  run({{"SET", d.key_prefix + "#ready", "fp32 1 1 0000000000000000"}});
  absl::StatusOr<PublishReport> clash = PublishPackage(o);
  ASSERT_FALSE(clash.ok());
  EXPECT_EQ(clash.status().code(), absl::StatusCode::kFailedPrecondition) << clash.status();

  // Drop removes every key of the version; the package no longer loads.
  absl::StatusOr<int64_t> dropped =
      DropPublishedVersion(TestRedisCluster::Seeds(), "din", p.version);
  ASSERT_TRUE(dropped.ok()) << dropped.status();
  EXPECT_GE(*dropped, d.rows);
  absl::StatusOr<std::shared_ptr<const Model>> gone = Model::Load(p.remote_path, RemoteOptions(0));
  ASSERT_FALSE(gone.ok());
  EXPECT_EQ(gone.status().code(), absl::StatusCode::kFailedPrecondition);
  absl::StatusOr<int64_t> again = DropPublishedVersion(TestRedisCluster::Seeds(), "din", p.version);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, 0);
}

TEST_F(RemoteTablesTest, StalledNodeIsCutOffByTheTimeout) {
  Published p;
  Publish("din", TableQuantizationMode::kOff, "stall", &p);
  if (HasFatalFailure()) return;
  absl::StatusOr<std::shared_ptr<const Model>> failing = Model::Load(
      p.remote_path,
      RemoteOptions(0, RemoteTableOptions::FailurePolicy::kFail, absl::Milliseconds(50)));
  absl::StatusOr<std::shared_ptr<const Model>> defaulting = Model::Load(
      p.remote_path,
      RemoteOptions(0, RemoteTableOptions::FailurePolicy::kDefaultRow, absl::Milliseconds(50)));
  ASSERT_TRUE(failing.ok()) << failing.status();
  ASSERT_TRUE(defaulting.ok()) << defaulting.status();
  const Request& big = p.requests.back();  // 200 candidates: rows on every node
  const std::vector<float>& expected = p.expected.back();
  const std::vector<int> primaries = TestRedisCluster::PrimaryPorts();
  ASSERT_EQ(primaries.size(), 3u);
  const int pid = TestRedisCluster::Pid(primaries[0]);
  ASSERT_GT(pid, 0);
  ASSERT_EQ(::kill(pid, SIGSTOP), 0);
  // Well under the cluster's 2 s node timeout, so no failover starts.
  const auto start = Clock::now();
  absl::StatusOr<Scores> failed = (*failing)->Score(big);
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  const uint64_t defaulted_before = (*defaulting)->stats().RemoteTables().rows_defaulted;
  absl::StatusOr<Scores> defaulted = (*defaulting)->Score(big);
  const uint64_t defaulted_after = (*defaulting)->stats().RemoteTables().rows_defaulted;
  ::kill(pid, SIGCONT);
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(failed.status().code(), absl::StatusCode::kUnavailable) << failed.status();
  EXPECT_LT(seconds, 1.0);
  EXPECT_GT((*failing)->stats().RemoteTables().errors_timeout, 0u);
  ASSERT_TRUE(defaulted.ok()) << defaulted.status();
  EXPECT_GT(defaulted_after, defaulted_before);  // counted, not silent
  EXPECT_EQ((*failing)->stats().errors(absl::StatusCode::kUnavailable), 1);
  // Back to exact answers once the node answers again (after its down interval).
  ASSERT_TRUE(TestRedisCluster::WaitOk(10));
  bool exact = false;
  for (int i = 0; i < 40 && !exact; ++i) {
    absl::StatusOr<Scores> s = (*failing)->Score(big);
    exact = s.ok() && SameBits(s->values[0], expected);
    if (!exact) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_TRUE(exact);
}

TEST_F(RemoteTablesTest, ReshardUnderLoadServesOnlyCorrectAnswers) {
  Published p;
  Publish("din", TableQuantizationMode::kForce, "reshard", &p);
  if (HasFatalFailure()) return;
  absl::StatusOr<std::shared_ptr<const Model>> model = Model::Load(p.remote_path, RemoteOptions(0));
  ASSERT_TRUE(model.ok()) << model.status();
  const std::vector<int> primaries = TestRedisCluster::PrimaryPorts();
  ASSERT_EQ(primaries.size(), 3u);
  std::atomic<bool> stop{false};
  Tally tally;
  std::thread load([&] { Hammer(**model, p, 8, 0, &stop, &tally); });
  std::string out;
  const int rc = TestRedisCluster::Shell(
      absl::StrCat("timeout 60 redis-cli --cluster reshard 127.0.0.1:", primaries[0],
                   " --cluster-from ", TestRedisCluster::NodeId(primaries[0]), " --cluster-to ",
                   TestRedisCluster::NodeId(primaries[1]),
                   " --cluster-slots 1000 --cluster-yes 2>&1"),
      &out);
  stop = true;
  load.join();
  ASSERT_EQ(rc, 0) << out;
  EXPECT_EQ(tally.wrong.load(), 0);
  EXPECT_GT(tally.exact.load(), 0);
  const RemoteTableCounters c = (*model)->stats().RemoteTables();
  EXPECT_GT(c.moved + c.ask, 0u) << "the reshard moved no slot this client read";
  // Afterwards every answer is exact again.
  Tally after;
  Hammer(**model, p, 8, 4, nullptr, &after);
  EXPECT_EQ(after.exact.load(), 32);
}

TEST_F(RemoteTablesTest, PrimaryKilledUnderLoadFailsOverWithoutWrongAnswers) {
  Published p;
  Publish("din", TableQuantizationMode::kOff, "kill", &p);
  if (HasFatalFailure()) return;
  absl::StatusOr<std::shared_ptr<const Model>> model = Model::Load(
      p.remote_path,
      RemoteOptions(0, RemoteTableOptions::FailurePolicy::kFail, absl::Milliseconds(100)));
  ASSERT_TRUE(model.ok()) << model.status();
  const std::vector<int> primaries = TestRedisCluster::PrimaryPorts();
  ASSERT_EQ(primaries.size(), 3u);
  std::atomic<bool> stop{false};
  Tally tally;
  std::thread load([&] { Hammer(**model, p, 8, 0, &stop, &tally); });
  // Redis replicates asynchronously: a primary killed before its replica has the rows loses
  // them (scoring then reports DATA_LOSS, never a wrong score). Here the rows are in.
  ASSERT_TRUE(TestRedisCluster::WaitReplicasInSync(10));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  const int pid = TestRedisCluster::Pid(primaries[2]);
  ASSERT_GT(pid, 0);
  ASSERT_EQ(::kill(pid, SIGKILL), 0);
  // The replica takes over after the 2 s node timeout and an election: wait until another node
  // owns the dead primary's slots and the cluster is ok again.
  bool ok = false;
  for (int i = 0; i < 100 && !ok; ++i) {
    const std::vector<int> now = TestRedisCluster::PrimaryPorts();
    ok = now.size() == 3 && std::find(now.begin(), now.end(), primaries[2]) == now.end() &&
         TestRedisCluster::WaitOk(1);
    if (!ok) std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(1000));
  stop = true;
  load.join();
  ASSERT_TRUE(ok) << "no failover within 20 s";
  EXPECT_EQ(tally.wrong.load(), 0);
  EXPECT_GT(tally.errors.load(), 0) << "the kill was not noticed";
  EXPECT_EQ((*model)->stats().errors(absl::StatusCode::kUnavailable), tally.errors.load());
  // Scoring resumes: every answer exact.
  Tally after;
  Hammer(**model, p, 8, 4, nullptr, &after);
  EXPECT_EQ(after.exact.load(), 32);
  EXPECT_EQ(after.errors.load(), 0) << after.first_error;
}

}  // namespace
}  // namespace rankopt
