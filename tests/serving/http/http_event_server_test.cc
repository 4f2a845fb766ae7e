// HttpEventServer on its own (no model): routes whose handlers block or count, driven over
// loopback by several client threads at once: answers come back in request order on each
// connection across 2 I/O loops and 4 workers; an inline route answers while every worker is
// busy; Stop() answers the requests in flight, closes idle connections and refuses new ones.
#include "serving/http/http_event_server.h"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/serving/http/raw_http_client.h"

namespace rankopt {
namespace {

// A latch the blocking handler waits on.
class Gate {
 public:
  void Open() {
    std::lock_guard<std::mutex> lock(mu_);
    open_ = true;
    cv_.notify_all();
  }
  void Wait() {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [this] { return open_; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool open_ = false;
};

class HttpEventServerTest : public ::testing::Test {
 protected:
  HttpEventServerTest() {
    // /echo/{n}: answers n (after the request's body); /block: waits for the gate.
    router_.Add("POST", "/echo/{n}",
                [](const HttpRequest& req, const HttpRouteParams& params, HttpResponse* res) {
                  res->body = absl::StrCat(params.Get("n"), ":", req.body);
                });
    router_.Add("GET", "/block",
                [this](const HttpRequest&, const HttpRouteParams&, HttpResponse* res) {
                  ++blocked_;
                  gate_.Wait();
                  res->body = "unblocked";
                });
    router_.Add(
        "GET", "/inline",
        [](const HttpRequest&, const HttpRouteParams&, HttpResponse* res) { res->body = "inline"; },
        /*run_inline=*/true);
  }

  std::unique_ptr<HttpEventServer> Start(int io_threads, int workers) {
    HttpEventServerOptions options;
    options.io_threads = io_threads;
    options.workers = workers;
    HttpEventServerHooks hooks;
    hooks.not_found = [](const HttpRequest&, const HttpRouteParams&, HttpResponse* res) {
      res->status = 404;
      res->reason = "no_route";
    };
    hooks.error = [](int status, const std::string& reason, const std::string& message) {
      HttpResponse res;
      res.status = status;
      res.reason = reason;
      res.body = message;
      return res;
    };
    hooks.observe = [this](absl::string_view, const HttpResponse&) { ++observed_; };
    absl::StatusOr<std::unique_ptr<HttpEventServer>> server =
        HttpEventServer::Create(options, &router_, std::move(hooks));
    EXPECT_TRUE(server.ok()) << server.status();
    if (!server.ok()) return nullptr;
    (*server)->Start();
    return *std::move(server);
  }

  HttpRouter router_;
  Gate gate_;
  std::atomic<int> blocked_{0};
  std::atomic<int> observed_{0};
};

std::string Echo(int n, const std::string& body) {
  return absl::StrCat("POST /echo/", n, " HTTP/1.1\r\nContent-Length: ", body.size(), "\r\n\r\n",
                      body);
}

TEST_F(HttpEventServerTest, ManyClientsPipelineInOrder) {
  std::unique_ptr<HttpEventServer> server = Start(2, 4);
  ASSERT_NE(server, nullptr);
  constexpr int kClients = 8, kRounds = 20, kDepth = 5;
  std::atomic<int> wrong{0};
  std::vector<std::thread> clients;
  for (int t = 0; t < kClients; ++t) {
    clients.emplace_back([&, t] {
      RawConnection c(server->port());
      for (int round = 0; round < kRounds; ++round) {
        std::string batch;
        for (int k = 0; k < kDepth; ++k) batch += Echo(round * kDepth + k, std::to_string(t));
        if (!c.Send(batch)) {
          ++wrong;
          return;
        }
        for (int k = 0; k < kDepth; ++k) {
          RawResponse r;
          if (!c.Read(&r) || r.body != absl::StrCat(round * kDepth + k, ":", t)) ++wrong;
        }
      }
    });
  }
  for (std::thread& t : clients) t.join();
  EXPECT_EQ(wrong.load(), 0);
  EXPECT_EQ(observed_.load(), kClients * kRounds * kDepth);
  EXPECT_EQ(server->connection_stats().accepted, kClients);
  server->Stop();
}

TEST_F(HttpEventServerTest, InlineRouteAnswersWhileWorkersAreBusyAndStopAnswersInFlight) {
  std::unique_ptr<HttpEventServer> server = Start(1, 2);
  ASSERT_NE(server, nullptr);
  RawConnection a(server->port()), b(server->port());
  ASSERT_TRUE(a.Send("GET /block HTTP/1.1\r\n\r\n"));
  ASSERT_TRUE(b.Send("GET /block HTTP/1.1\r\n\r\n"));
  for (int i = 0; i < 1000 && blocked_.load() < 2; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  ASSERT_EQ(blocked_.load(), 2);  // both workers are held
  RawConnection probe(server->port());
  RawResponse r;
  ASSERT_TRUE(probe.Send("GET /inline HTTP/1.1\r\n\r\n") && probe.Read(&r));
  EXPECT_EQ(r.body, "inline");
  RawConnection idle(server->port());
  ASSERT_TRUE(idle.Send("GET /inline HTTP/1.1\r\n\r\n") && idle.Read(&r));

  std::thread stopper([&] { server->Stop(); });
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_TRUE(idle.ClosedByServer());  // closed at once by Stop()
  EXPECT_FALSE(server->done());        // waiting for the two in flight
  gate_.Open();
  ASSERT_TRUE(a.Read(&r));
  EXPECT_EQ(r.body, "unblocked");
  EXPECT_TRUE(r.closes());
  ASSERT_TRUE(b.Read(&r));
  EXPECT_EQ(r.body, "unblocked");
  stopper.join();
  EXPECT_TRUE(server->done());
  RawConnection late(server->port(), 2);
  EXPECT_TRUE(!late.ok() || late.ClosedByServer());
}

TEST_F(HttpEventServerTest, PortInUseNamesTheAddress) {
  std::unique_ptr<HttpEventServer> first = Start(1, 1);
  ASSERT_NE(first, nullptr);
  HttpEventServerOptions options;
  options.port = first->port();
  absl::StatusOr<std::unique_ptr<HttpEventServer>> second =
      HttpEventServer::Create(options, &router_, HttpEventServerHooks());
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(second.status().message()),
              ::testing::HasSubstr(absl::StrCat("127.0.0.1 port ", first->port())));
}

}  // namespace
}  // namespace rankopt
