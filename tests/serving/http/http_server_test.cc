// HttpServer in process: the DIN package fixture served on a free port of 127.0.0.1, driven with
// httplib's client (every call bounded by a 30 s timeout): /healthz, one predict with the
// reference scores, a wrong model name as a JSON 404, and a port already in use as Unavailable.
// Then with raw sockets (tests/serving/http/raw_http_client.h): pipelined requests answered in
// order, chunked, gzip and 100-continue bodies, each limit (header lines, header and body time,
// idle time, connections) at its boundary, every refusal counted by reason in /metrics.
#include "serving/http/http_server.h"

#include <httplib.h>
#include <zlib.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "rankopt/request_json.h"
#include "tests/serving/din_package.h"
#include "tests/serving/http/raw_http_client.h"

namespace rankopt {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::StartsWith;

class HttpServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = FreshTempDir("http_server_test");
    absl::StatusOr<ModelPackage> package = BuildDinPackage(TableQuantizationMode::kOff, "1");
    ASSERT_TRUE(package.ok()) << package.status();
    package_path_ = (fs::path(dir_) / "din.rkp").string();
    ASSERT_TRUE(WriteModelPackage(*package, package_path_).ok());
    absl::StatusOr<std::vector<Request>> requests = DinRequests();
    ASSERT_TRUE(requests.ok()) << requests.status();
    ASSERT_FALSE(requests->empty());
    absl::StatusOr<std::string> json = RequestToJson(requests->front());
    ASSERT_TRUE(json.ok()) << json.status();
    request_json_ = *std::move(json);
    candidates_ = requests->front().candidates.size();
    heads_ = package->outputs;
  }

  void TearDown() override { fs::remove_all(dir_); }

  ServeOptions Options() const {
    ServeOptions options;
    options.path = package_path_;
    options.port = 0;
    options.http_threads = 2;
    return options;
  }

  static std::unique_ptr<httplib::Client> Client(int port) {
    auto client = std::make_unique<httplib::Client>("127.0.0.1", port);
    client->set_connection_timeout(30);
    client->set_read_timeout(30);
    client->set_write_timeout(30);
    return client;
  }

  std::string dir_;
  std::string package_path_;
  std::string request_json_;
  size_t candidates_ = 0;
  std::vector<std::string> heads_;
};

TEST_F(HttpServerTest, AnswersHealthzAndPredict) {
  absl::StatusOr<std::unique_ptr<HttpServer>> server = HttpServer::Create(Options());
  ASSERT_TRUE(server.ok()) << server.status();
  ASSERT_GT((*server)->port(), 0);
  EXPECT_EQ((*server)->CurrentModel()->name(), "din");
  (*server)->Start();
  std::unique_ptr<httplib::Client> client = Client((*server)->port());

  httplib::Result r = client->Get("/healthz");
  ASSERT_TRUE(r) << httplib::to_string(r.error());
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "ok\n");

  r = client->Post("/v1/models/din:predict", request_json_, "application/json");
  ASSERT_TRUE(r) << httplib::to_string(r.error());
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(r->get_header_value("Content-Type"), "application/json");
  EXPECT_THAT(r->body, StartsWith(R"({"model": "din", "version": "1", "heads": {)"));
  for (const std::string& head : heads_)
    EXPECT_THAT(r->body, HasSubstr(absl::StrCat("\"", head, "\": [")));
  // One score per candidate and head: the commas inside the score arrays.
  size_t commas = 0;
  for (size_t at = r->body.find("{", 1); at < r->body.size(); ++at) commas += r->body[at] == ',';
  EXPECT_EQ(commas, heads_.size() * (candidates_ - 1) + (heads_.size() - 1));

  r = client->Post("/v1/models/esmm:predict", request_json_, "application/json");
  ASSERT_TRUE(r) << httplib::to_string(r.error());
  EXPECT_EQ(r->status, 404);
  EXPECT_THAT(r->body, HasSubstr(R"("code": "NOT_FOUND")"));

  client->stop();
  (*server)->Stop();
  (*server)->Stop();
}

TEST_F(HttpServerTest, PortInUseIsUnavailable) {
  absl::StatusOr<std::unique_ptr<HttpServer>> first = HttpServer::Create(Options());
  ASSERT_TRUE(first.ok()) << first.status();
  ServeOptions options = Options();
  options.port = (*first)->port();
  absl::StatusOr<std::unique_ptr<HttpServer>> second = HttpServer::Create(options);
  EXPECT_EQ(second.status().code(), absl::StatusCode::kUnavailable) << second.status();
}

TEST_F(HttpServerTest, StopBeforeStartIsANoOp) {
  absl::StatusOr<std::unique_ptr<HttpServer>> server = HttpServer::Create(Options());
  ASSERT_TRUE(server.ok()) << server.status();
  (*server)->Stop();
}

TEST_F(HttpServerTest, PipelinedRequestsAreAnsweredInOrder) {
  absl::StatusOr<std::unique_ptr<HttpServer>> server = HttpServer::Create(Options());
  ASSERT_TRUE(server.ok()) << server.status();
  (*server)->Start();
  const int port = (*server)->port();
  RawConnection one(port);
  RawResponse want;
  ASSERT_TRUE(one.Send(PostPredict("din", request_json_)) && one.Read(&want));
  ASSERT_EQ(want.status, 200) << want.body;

  // 4 requests of mixed routes in one write, then 16 predicts in one write.
  RawConnection c(port);
  ASSERT_TRUE(c.Send(absl::StrCat(PostPredict("din", request_json_), Get("/v1/models/din"),
                                  PostPredict("esmm", request_json_), Get("/healthz"))));
  RawResponse r;
  ASSERT_TRUE(c.Read(&r));
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, want.body);
  ASSERT_TRUE(c.Read(&r));
  EXPECT_EQ(r.status, 200);
  EXPECT_THAT(r.body, StartsWith(R"({"name": "din")"));
  ASSERT_TRUE(c.Read(&r));
  EXPECT_EQ(r.status, 404);
  EXPECT_THAT(r.body, HasSubstr("esmm"));
  ASSERT_TRUE(c.Read(&r));
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "ok\n");
  std::string sixteen;
  for (int i = 0; i < 16; ++i) {
    absl::StrAppend(&sixteen, i % 4 == 3 ? Get("/healthz") : PostPredict("din", request_json_));
  }
  ASSERT_TRUE(c.Send(sixteen));
  for (int i = 0; i < 16; ++i) {
    ASSERT_TRUE(c.Read(&r)) << i;
    EXPECT_EQ(r.body, i % 4 == 3 ? "ok\n" : want.body) << i;
  }
  (*server)->Stop();
}

// `text` gzip-compressed.
std::string Gzip(const std::string& text) {
  z_stream z{};
  EXPECT_EQ(deflateInit2(&z, 6, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY), Z_OK);
  std::string out(deflateBound(&z, text.size()) + 64, '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(text.data()));
  z.avail_in = static_cast<uInt>(text.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  EXPECT_EQ(deflate(&z, Z_FINISH), Z_STREAM_END);
  out.resize(z.total_out);
  deflateEnd(&z);
  return out;
}

TEST_F(HttpServerTest, ChunkedGzipAndContinueBodiesScoreAlike) {
  absl::StatusOr<std::unique_ptr<HttpServer>> server = HttpServer::Create(Options());
  ASSERT_TRUE(server.ok()) << server.status();
  (*server)->Start();
  RawConnection c((*server)->port());
  RawResponse want, r;
  ASSERT_TRUE(c.Send(PostPredict("din", request_json_)) && c.Read(&want));
  ASSERT_EQ(want.status, 200);

  std::string chunked =
      "POST /v1/models/din:predict HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n";
  for (size_t at = 0; at < request_json_.size(); at += 100) {
    const std::string piece = request_json_.substr(at, 100);
    absl::StrAppend(&chunked, absl::Hex(piece.size()), "\r\n", piece, "\r\n");
  }
  absl::StrAppend(&chunked, "0\r\n\r\n");
  ASSERT_TRUE(c.Send(chunked) && c.Read(&r));
  EXPECT_EQ(r.body, want.body);

  ASSERT_TRUE(c.Send(PostPredict("din", Gzip(request_json_), "Content-Encoding: gzip\r\n")) &&
              c.Read(&r));
  EXPECT_EQ(r.body, want.body);
  ASSERT_TRUE(c.Send(PostPredict("din", "not gzip", "Content-Encoding: gzip\r\n")) && c.Read(&r));
  EXPECT_EQ(r.status, 400);
  ASSERT_TRUE(c.Send(PostPredict("din", request_json_, "Content-Encoding: br\r\n")) && c.Read(&r));
  EXPECT_EQ(r.status, 415);

  // Expect: 100-continue: the interim answer comes before the body is sent.
  ASSERT_TRUE(c.Send(absl::StrCat(
      "POST /v1/models/din:predict HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: ",
      request_json_.size(), "\r\n\r\n")));
  char interim[25] = {};
  ASSERT_EQ(::recv(c.fd(), interim, sizeof(interim), MSG_WAITALL), 25);
  EXPECT_EQ(std::string(interim, 25), "HTTP/1.1 100 Continue\r\n\r\n");
  ASSERT_TRUE(c.Send(request_json_) && c.Read(&r));
  EXPECT_EQ(r.body, want.body);

  // HEAD: GET's headers (Content-Length included), no body; the next answer follows at once.
  ASSERT_TRUE(c.Send("HEAD /healthz HTTP/1.1\r\n\r\n"));
  std::string head;
  while (head.find("\r\n\r\n") == std::string::npos) {
    char ch;
    ASSERT_EQ(::recv(c.fd(), &ch, 1, 0), 1);
    head.push_back(ch);
  }
  EXPECT_THAT(head, StartsWith("HTTP/1.1 200 OK\r\n"));
  EXPECT_THAT(head, HasSubstr("Content-Length: 3\r\n"));
  ASSERT_TRUE(c.Send(Get("/healthz")) && c.Read(&r));
  EXPECT_EQ(r.body, "ok\n");

  // HTTP/1.0 closes unless asked to keep alive.
  RawConnection old((*server)->port());
  ASSERT_TRUE(old.Send("GET /healthz HTTP/1.0\r\n\r\n") && old.Read(&r));
  EXPECT_EQ(r.body, "ok\n");
  EXPECT_TRUE(r.closes());
  EXPECT_TRUE(old.ClosedByServer());
  (*server)->Stop();
}

TEST_F(HttpServerTest, LimitsAreRefusedAtTheirBoundaryAndCountedByReason) {
  ServeOptions options = Options();
  options.max_header_count = 5;
  options.max_body_bytes = request_json_.size();
  options.header_timeout_s = 0.3;
  options.body_timeout_s = 0.3;
  options.idle_timeout_s = 0.5;
  options.max_connections = 4;
  absl::StatusOr<std::unique_ptr<HttpServer>> server = HttpServer::Create(options);
  ASSERT_TRUE(server.ok()) << server.status();
  (*server)->Start();
  const int port = (*server)->port();
  RawResponse r;

  {  // 5 header lines pass, 6 are refused (and the connection closed).
    RawConnection c(port);
    ASSERT_TRUE(c.Send("GET /healthz HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\nE: 5\r\n\r\n"));
    ASSERT_TRUE(c.Read(&r));
    EXPECT_EQ(r.status, 200);
    ASSERT_TRUE(
        c.Send("GET /healthz HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\nE: 5\r\nF: 6\r\n"));
    ASSERT_TRUE(c.Read(&r));
    EXPECT_EQ(r.status, 431);
    EXPECT_THAT(r.body, HasSubstr("--max-header-count"));
    EXPECT_TRUE(r.closes());
    EXPECT_TRUE(c.ClosedByServer());
  }
  {  // A body of exactly --max-body-bytes scores; one byte more is 413 before it is sent.
    RawConnection c(port);
    ASSERT_TRUE(c.Send(PostPredict("din", request_json_)) && c.Read(&r));
    EXPECT_EQ(r.status, 200);
    ASSERT_TRUE(c.Send(absl::StrCat("POST /v1/models/din:predict HTTP/1.1\r\nContent-Length: ",
                                    request_json_.size() + 1, "\r\n\r\n")));
    ASSERT_TRUE(c.Read(&r));
    EXPECT_EQ(r.status, 413);
    EXPECT_THAT(r.body, HasSubstr(R"("code": "RESOURCE_EXHAUSTED")"));
  }
  const auto elapsed = [](std::chrono::steady_clock::time_point start) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  };
  {  // Headers trickled past --header-timeout-s: 408, though bytes keep coming.
    RawConnection c(port);
    const auto start = std::chrono::steady_clock::now();
    ASSERT_TRUE(c.Send("GET /healthz HTTP/1.1\r\nX-Slow: "));
    for (int i = 0; i < 4; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      c.Send("a");
    }
    ASSERT_TRUE(c.Read(&r));
    EXPECT_EQ(r.status, 408);
    EXPECT_THAT(r.body, HasSubstr("--header-timeout-s"));
    EXPECT_GE(elapsed(start), 0.29);
    EXPECT_LT(elapsed(start), 5);
  }
  {  // A body slower than --body-timeout-s: 408.
    RawConnection c(port);
    ASSERT_TRUE(c.Send("POST /v1/models/din:predict HTTP/1.1\r\nContent-Length: 10\r\n\r\n{"));
    ASSERT_TRUE(c.Read(&r));
    EXPECT_EQ(r.status, 408);
    EXPECT_THAT(r.body, HasSubstr("--body-timeout-s"));
  }
  {  // An idle keep-alive connection is closed after --idle-timeout-s, quietly.
    RawConnection c(port);
    ASSERT_TRUE(c.Send(Get("/healthz")) && c.Read(&r));
    const auto start = std::chrono::steady_clock::now();
    EXPECT_TRUE(c.ClosedByServer());
    EXPECT_GE(elapsed(start), 0.45);
    EXPECT_LT(elapsed(start), 5);
  }
  {  // --max-connections open: the next is answered 503 and closed; then one closes, and the
     // next is served again.
    // The closes of the connections above reach the server asynchronously.
    for (int i = 0; i < 200 && Sample(Metrics(port), "rankopt_http_open_connections") != 1; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    std::vector<std::unique_ptr<RawConnection>> open;
    for (int i = 0; i < 4; ++i) {
      open.push_back(std::make_unique<RawConnection>(port));
      ASSERT_TRUE(open.back()->Send(Get("/healthz")) && open.back()->Read(&r));
    }
    RawConnection over(port);
    ASSERT_TRUE(over.Read(&r));
    EXPECT_EQ(r.status, 503);
    EXPECT_THAT(r.body, HasSubstr("--max-connections"));
    open.pop_back();
    bool served = false;
    for (int i = 0; i < 100 && !served; ++i) {  // the close reaches the server asynchronously
      RawConnection again(port);
      served = again.Send(Get("/healthz")) && again.Read(&r) && r.status == 200;
      if (!served) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    EXPECT_TRUE(served);
  }
  {  // Errors before and after the JSON parses.
    RawConnection c(port);
    ASSERT_TRUE(c.Send(PostPredict("din", "{\"user\": {")) && c.Read(&r));
    EXPECT_EQ(r.status, 400);
    ASSERT_TRUE(c.Send(Get("/no/such/path")) && c.Read(&r));
    EXPECT_EQ(r.status, 404);
    ASSERT_TRUE(c.Send("BAD REQUEST\r\n\r\n") && c.Read(&r));
    EXPECT_EQ(r.status, 400);
  }
  const std::string metrics = Metrics(port);
  for (
      auto [sample, want] : std::vector<std::pair<std::string, int64_t>>{
          {R"(rankopt_errors_total{model="din",version="1",code="invalid_argument",reason="too_many_headers"})",
           1},
          {R"(rankopt_errors_total{model="din",version="1",code="resource_exhausted",reason="body_too_large"})",
           1},
          {R"(rankopt_errors_total{model="din",version="1",code="deadline_exceeded",reason="header_timeout"})",
           1},
          {R"(rankopt_errors_total{model="din",version="1",code="deadline_exceeded",reason="body_timeout"})",
           1},
          {R"(rankopt_errors_total{model="din",version="1",code="invalid_argument",reason="bad_json"})",
           1},
          {R"(rankopt_errors_total{model="din",version="1",code="not_found",reason="no_route"})",
           1},
          {R"(rankopt_errors_total{model="din",version="1",code="invalid_argument",reason="bad_request_line"})",
           1},
          {R"(rankopt_http_responses_total{route="predict",code="400"})", 1},
      }) {
    EXPECT_EQ(Sample(metrics, sample), want) << sample << "\n" << metrics;
  }
  // At least one (a retry above may have raced the server's close of the popped connection).
  EXPECT_GE(Sample(metrics, R"(rankopt_errors_total{model="din",version="1",code="unavailable",)"
                            R"(reason="too_many_connections"})"),
            1)
      << metrics;
  EXPECT_GE(Sample(metrics, "rankopt_http_connections_refused_total"), 1) << metrics;
  EXPECT_GE(Sample(metrics, "rankopt_http_connections_timed_out_total"), 3) << metrics;
  (*server)->Stop();
}

// The starvation of issue 20: with one worker, idle keep-alive connections made the next client
// wait for their keep-alive timeout (5 s). Now they hold nothing.
TEST_F(HttpServerTest, IdleKeepAliveConnectionsDoNotHoldTheWorker) {
  ServeOptions options = Options();
  options.http_threads = 1;
  absl::StatusOr<std::unique_ptr<HttpServer>> server = HttpServer::Create(options);
  ASSERT_TRUE(server.ok()) << server.status();
  (*server)->Start();
  const int port = (*server)->port();
  RawResponse r;
  std::vector<std::unique_ptr<RawConnection>> idle;
  for (int i = 0; i < 4; ++i) {
    idle.push_back(std::make_unique<RawConnection>(port));
    ASSERT_TRUE(idle.back()->Send(PostPredict("din", request_json_)) && idle.back()->Read(&r));
    ASSERT_EQ(r.status, 200);
  }
  for (int i = 0; i < 4; ++i) {
    RawConnection next(port);
    const auto start = std::chrono::steady_clock::now();
    ASSERT_TRUE(next.Send(PostPredict("din", request_json_)) && next.Read(&r));
    EXPECT_EQ(r.status, 200);
    EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(), 1);
  }
  // And the idle ones are still served afterwards.
  for (auto& c : idle) {
    ASSERT_TRUE(c->Send(Get("/v1/models/din")) && c->Read(&r));
    EXPECT_EQ(r.status, 200);
  }
  (*server)->Stop();
}

// A client that pipelines requests but never reads the answers: the server stops reading once
// its unsent answers pass its backlog, and closes the connection when writing makes no progress
// for --idle-timeout-s.
TEST_F(HttpServerTest, ClientThatStopsReadingIsClosed) {
  ServeOptions options = Options();
  options.idle_timeout_s = 0.5;
  absl::StatusOr<std::unique_ptr<HttpServer>> server = HttpServer::Create(options);
  ASSERT_TRUE(server.ok()) << server.status();
  (*server)->Start();
  const int port = (*server)->port();
  std::string batch;
  for (int i = 0; i < 10000; ++i) batch += Get("/healthz");
  RawConnection c(port, 2);
  const int64_t resident_before = ResidentBytes();
  const auto start = std::chrono::steady_clock::now();
  int batches = 0;
  while (batches < 1000 && c.Send(batch)) ++batches;  // until the server stops taking them
  EXPECT_LT(batches, 1000);
  // What the unread answers cost: bounded by the backlog, not by what the client sent (the
  // growth, not the process's size; Release grows ~0.3 MB here, ASan ~64 MB of quarantine).
  const int64_t grown = ResidentBytes() - resident_before;
  int64_t timed_out = 0;
  std::string metrics;
  for (int i = 0; i < 200 && timed_out < 1; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    metrics = Metrics(port);
    timed_out = Sample(metrics, "rankopt_http_connections_timed_out_total");
  }
  EXPECT_EQ(timed_out, 1) << metrics;
  EXPECT_EQ(Sample(metrics, "rankopt_http_open_connections"), 1) << metrics;  // the /metrics one
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(), 15);
  EXPECT_LT(grown, int64_t{128} << 20) << "batches sent: " << batches;
  (*server)->Stop();
}

TEST_F(HttpServerTest, StopClosesIdleConnectionsAtOnce) {
  absl::StatusOr<std::unique_ptr<HttpServer>> server = HttpServer::Create(Options());
  ASSERT_TRUE(server.ok()) << server.status();
  (*server)->Start();
  RawConnection idle((*server)->port());
  RawResponse r;
  ASSERT_TRUE(idle.Send(Get("/healthz")) && idle.Read(&r));
  RawConnection partial((*server)->port());
  ASSERT_TRUE(partial.Send("GET /heal"));
  const auto start = std::chrono::steady_clock::now();
  (*server)->Stop();
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(), 2);
  EXPECT_TRUE(idle.ClosedByServer());
  EXPECT_TRUE(partial.ClosedByServer());
}

}  // namespace
}  // namespace rankopt
