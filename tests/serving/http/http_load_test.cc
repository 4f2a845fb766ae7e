// The front end under hostile and heavy clients, on loopback with raw sockets (every socket call
// bounded by a timeout, every loop by a deadline), the server in process so that its resident
// memory is this process's (/proc/self/status):
//   - 200 slowloris connections trickling header bytes beside a keep-alive pool of 8 connections
//     (each an ordinary client: a request every 10 ms, 800/s in all) and a client that opens a
//     connection per request (50/s): every pool connection is served, in fair shares, and the p99
//     latency of the pool and of the one-shot client stays under 50 ms;
//   - a 63 MB header flood (4M header lines) is refused with 431 once it crosses
//     --max-header-bytes, and the resident set grows by less than 50 MB meanwhile;
//   - a 300000-candidate body (30 MB, 3x the model's max_candidates) is parsed, refused, and
//     the memory its parse took is given back (resident within 50 MB of before).
#include <malloc.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "rankopt/request_json.h"
#include "serving/http/http_server.h"
#include "tests/serving/din_package.h"
#include "tests/serving/http/raw_http_client.h"

namespace rankopt {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using ::testing::HasSubstr;

constexpr int64_t kMiB = int64_t{1} << 20;

class HttpLoadTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = FreshTempDir("http_load_test");
    absl::StatusOr<ModelPackage> package = BuildDinPackage(TableQuantizationMode::kOff, "1");
    ASSERT_TRUE(package.ok()) << package.status();
    package_path_ = (fs::path(dir_) / "din.rkp").string();
    ASSERT_TRUE(WriteModelPackage(*package, package_path_).ok());
    absl::StatusOr<std::vector<Request>> requests = DinRequests();
    ASSERT_TRUE(requests.ok()) << requests.status();
    request_ = requests->front();
    absl::StatusOr<std::string> json = RequestToJson(request_);
    ASSERT_TRUE(json.ok()) << json.status();
    predict_ = PostPredict("din", *json);
  }
  void TearDown() override { fs::remove_all(dir_); }

  ServeOptions Options() const {
    ServeOptions options;
    options.path = package_path_;
    options.port = 0;
    options.http_threads = 2;
    options.io_threads = 1;
    return options;
  }

  // The body of a predict answer of the reference request, from a fresh connection.
  static std::string Predict(int port, const std::string& predict) {
    RawConnection c(port);
    RawResponse r;
    if (!c.Send(predict) || !c.Read(&r) || r.status != 200) return "";
    return r.body;
  }

  std::string dir_;
  std::string package_path_;
  Request request_;
  std::string predict_;
};

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())))];
}

TEST_F(HttpLoadTest, SlowlorisDoesNotStarveAKeepAlivePool) {
  absl::StatusOr<std::unique_ptr<HttpServer>> server = HttpServer::Create(Options());
  ASSERT_TRUE(server.ok()) << server.status();
  (*server)->Start();
  const int port = (*server)->port();
  const std::string want = Predict(port, predict_);
  ASSERT_FALSE(want.empty());

  constexpr int kSlow = 200;
  std::vector<std::unique_ptr<RawConnection>> slow;
  for (int i = 0; i < kSlow; ++i) {
    slow.push_back(std::make_unique<RawConnection>(port));
    ASSERT_TRUE(slow.back()->ok());
    ASSERT_TRUE(slow.back()->Send("POST /v1/models/din:predict HTTP/1.1\r\nX-Slow"));
  }
  std::atomic<bool> stop{false};
  std::atomic<int64_t> trickled{0};
  std::thread trickler([&] {
    while (!stop.load()) {
      for (auto& c : slow) trickled += c->Send("w") ? 1 : 0;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  });

  constexpr int kPool = 8;
  constexpr auto kRun = std::chrono::seconds(5);
  std::vector<int64_t> answered(kPool, 0);
  std::vector<std::vector<double>> latency(kPool + 1);
  std::atomic<int64_t> wrong{0};
  std::vector<std::thread> clients;
  const Clock::time_point end = Clock::now() + kRun;
  for (int t = 0; t < kPool; ++t) {
    clients.emplace_back([&, t] {
      RawConnection c(port);
      Clock::time_point next = Clock::now();
      while (Clock::now() < end) {
        const Clock::time_point start = Clock::now();
        RawResponse r;
        if (!c.Send(predict_) || !c.Read(&r)) {
          ++wrong;
          return;
        }
        latency[t].push_back(std::chrono::duration<double>(Clock::now() - start).count());
        if (r.status != 200 || r.body != want) ++wrong;
        ++answered[t];
        next += std::chrono::milliseconds(10);
        std::this_thread::sleep_until(next);
      }
    });
  }
  // The one-shot client: a new connection per request, at a steady 50 requests/s.
  clients.emplace_back([&] {
    while (Clock::now() < end) {
      const Clock::time_point start = Clock::now();
      if (Predict(port, predict_) != want) ++wrong;
      latency[kPool].push_back(std::chrono::duration<double>(Clock::now() - start).count());
      std::this_thread::sleep_until(start + std::chrono::milliseconds(20));
    }
  });
  for (std::thread& t : clients) t.join();
  stop.store(true);
  trickler.join();

  std::vector<double> pool_latency;
  for (int t = 0; t < kPool; ++t) {
    pool_latency.insert(pool_latency.end(), latency[t].begin(), latency[t].end());
  }
  const int64_t least = *std::min_element(answered.begin(), answered.end());
  const int64_t most = *std::max_element(answered.begin(), answered.end());
  std::string shares;
  for (int64_t n : answered) absl::StrAppend(&shares, n, " ");
  std::printf(
      "slowloris %d connections (%lld header bytes trickled); pool answers per connection in "
      "5 s: %s; pool p50 %.2f ms p99 %.2f ms; one-shot client %zu requests p50 %.2f ms p99 "
      "%.2f ms\n",
      kSlow, static_cast<long long>(trickled.load()), shares.c_str(),
      1e3 * Percentile(pool_latency, 0.5), 1e3 * Percentile(pool_latency, 0.99),
      latency[kPool].size(), 1e3 * Percentile(latency[kPool], 0.5),
      1e3 * Percentile(latency[kPool], 0.99));
  EXPECT_EQ(wrong.load(), 0);
  EXPECT_GE(least, 100) << "starved: " << shares;  // ~500 when every request is answered at once
  EXPECT_GE(least * 2, most) << "unfair shares: " << shares;
  EXPECT_LT(Percentile(pool_latency, 0.99), 0.050);
  EXPECT_LT(Percentile(latency[kPool], 0.99), 0.050);
  EXPECT_GT(trickled.load(), kSlow * 20);  // the slow connections were still open and trickling
  const std::string metrics = Metrics(port);
  EXPECT_THAT(metrics, HasSubstr(absl::StrCat("rankopt_http_open_connections ", kSlow + 1)))
      << metrics;
  slow.clear();
  (*server)->Stop();
}

TEST_F(HttpLoadTest, HeaderFloodIsRefusedEarlyWithBoundedMemory) {
  absl::StatusOr<std::unique_ptr<HttpServer>> server = HttpServer::Create(Options());
  ASSERT_TRUE(server.ok()) << server.status();
  (*server)->Start();
  const int port = (*server)->port();
  ASSERT_FALSE(Predict(port, predict_).empty());
  const int64_t before = ResidentBytes();
  ASSERT_GT(before, 0);

  // 4M header lines of 16 bytes: 63 MB (64 KiB pieces from one buffer).
  std::string piece;
  while (piece.size() < 64 * 1024) piece.append("X-Flood: 012345\r\n", 16);
  piece.resize(64 * 1024 / 16 * 16);
  constexpr int64_t kFlood = int64_t{4} << 20 << 4;  // 4M lines x 16 bytes
  RawConnection c(port);
  ASSERT_TRUE(c.Send("GET /healthz HTTP/1.1\r\nHost: t\r\n"));
  int64_t sent = 0;
  int64_t peak = before;
  const Clock::time_point deadline = Clock::now() + std::chrono::seconds(60);
  while (sent < kFlood && Clock::now() < deadline) {
    if (!c.Send(piece)) break;
    sent += static_cast<int64_t>(piece.size());
    if (sent % kMiB == 0) peak = std::max(peak, ResidentBytes());
  }
  RawResponse r;
  const bool answered = c.Read(&r);
  const int64_t after = ResidentBytes();
  std::printf(
      "header flood: %lld of %lld bytes sent before the server stopped reading; answer %d; "
      "resident before %lld MiB, peak %lld MiB, after %lld MiB\n",
      static_cast<long long>(sent), static_cast<long long>(kFlood), answered ? r.status : 0,
      static_cast<long long>(before / kMiB), static_cast<long long>(peak / kMiB),
      static_cast<long long>(after / kMiB));
  if (answered) {
    EXPECT_EQ(r.status, 431) << r.body;
    EXPECT_THAT(r.body, HasSubstr("--max-header-bytes"));
    EXPECT_TRUE(r.closes());
  }
  EXPECT_LT(peak - before, 50 * kMiB);
  EXPECT_LT(after - before, 50 * kMiB);
  const std::string metrics = Metrics(port);
  EXPECT_THAT(metrics,
              HasSubstr(R"(rankopt_errors_total{model="din",version="1",code="invalid_argument",)"
                        R"(reason="header_too_large"} 1)"))
      << metrics;
  (*server)->Stop();
}

TEST_F(HttpLoadTest, MemoryIsReturnedAfterAHugeRejectedBody) {
  ServeOptions options = Options();
  options.max_body_bytes = size_t{512} << 20;
  absl::StatusOr<std::unique_ptr<HttpServer>> server = HttpServer::Create(options);
  ASSERT_TRUE(server.ok()) << server.status();
  (*server)->Start();
  const int port = (*server)->port();
  const std::string want = Predict(port, predict_);
  ASSERT_FALSE(want.empty());
  malloc_trim(0);
  const int64_t before = ResidentBytes();

  // 3x the model's max_candidates (100000): parsed whole, then refused by Score.
  constexpr size_t kCandidates = 300000;
  const Clock::time_point t0 = Clock::now();
  std::string predict;
  {
    // The reference request's candidate array repeated (candidates is its last section).
    absl::StatusOr<std::string> json = RequestToJson(request_);
    ASSERT_TRUE(json.ok()) << json.status();
    const size_t open = json->find('[', json->find("\"candidates\""));
    const size_t close = json->rfind(']');
    ASSERT_NE(open, std::string::npos);
    ASSERT_LT(open, close);
    const std::string items = json->substr(open + 1, close - open - 1);
    std::string body = json->substr(0, open + 1);
    for (size_t n = 0; n < kCandidates; n += request_.candidates.size()) {
      if (n > 0) body.append(", ");
      body.append(items);
    }
    body.append(*json, close, std::string::npos);
    predict = absl::StrCat("POST /v1/models/din:predict HTTP/1.1\r\nHost: t\r\nContent-Length: ",
                           body.size(), "\r\n\r\n", body);
  }
  const Clock::time_point t1 = Clock::now();
  RawConnection c(port, 120);
  ASSERT_TRUE(c.Send(predict));
  const size_t body_bytes = predict.size();
  std::string().swap(predict);
  RawResponse r;
  ASSERT_TRUE(c.Read(&r));
  const Clock::time_point t2 = Clock::now();
  EXPECT_EQ(r.status, 400) << r.body;
  EXPECT_THAT(r.body, HasSubstr("candidates"));
  // The connection still serves, and the server gave the parse's memory back.
  ASSERT_TRUE(c.Send(predict_));
  ASSERT_TRUE(c.Read(&r));
  EXPECT_EQ(r.body, want);
  malloc_trim(0);  // this test's own copy of the body
  const int64_t after = ResidentBytes();
  std::printf(
      "huge body: %zu candidates, %zu bytes (built in %.1f s, refused in %.1f s); resident "
      "before %lld MiB, after %lld MiB\n",
      kCandidates, body_bytes, std::chrono::duration<double>(t1 - t0).count(),
      std::chrono::duration<double>(t2 - t1).count(), static_cast<long long>(before / kMiB),
      static_cast<long long>(after / kMiB));
  EXPECT_LT(after - before, 50 * kMiB);
  (*server)->Stop();
}

}  // namespace
}  // namespace rankopt
