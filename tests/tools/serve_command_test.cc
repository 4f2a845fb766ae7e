// End-to-end tests of `rankopt serve`: the command runs as a child process serving the DIN package
// fixture on a free port and is driven with httplib's client. Predictions equal the reference
// scores bit for bit; errors come back as JSON with their HTTP status; /metrics counts the
// requests; a new version directory is picked up; SIGTERM stops it with exit code 0.
#include <fcntl.h>
#include <httplib.h>
#include <poll.h>
#include <signal.h>
#include <simdjson.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <bit>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "rankopt/request_json.h"
#include "tests/serving/din_package.h"
#include "tests/serving/http/raw_http_client.h"
#include "tests/tools/cli_runner.h"

extern char** environ;

namespace rankopt {
namespace {

namespace fs = std::filesystem;
using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::StartsWith;

const std::string kRankopt = absl::StrCat(RANKOPT_BINARY_DIR, "/tools/rankopt");

// `rankopt serve ARGS` as a child process: stdout on a pipe (its start line names the port),
// stderr to a file.
class ServeProcess {
 public:
  ServeProcess() = default;
  ServeProcess(const ServeProcess&) = delete;
  ServeProcess& operator=(const ServeProcess&) = delete;
  ~ServeProcess() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
    if (stdout_fd_ >= 0) ::close(stdout_fd_);
  }

  // Starts the server and reads its start line.
  ::testing::AssertionResult Start(const std::vector<std::string>& args,
                                   const fs::path& stderr_path) {
    stderr_path_ = stderr_path;
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) return ::testing::AssertionFailure() << "pipe2 failed";
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, fds[1], STDOUT_FILENO);
    posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, stderr_path.c_str(),
                                     O_WRONLY | O_CREAT | O_TRUNC, 0644);
    std::vector<std::string> words = {kRankopt, "serve"};
    words.insert(words.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (std::string& w : words) argv.push_back(w.data());
    argv.push_back(nullptr);
    const int spawned =
        ::posix_spawn(&pid_, kRankopt.c_str(), &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    ::close(fds[1]);
    stdout_fd_ = fds[0];
    if (spawned != 0) {
      pid_ = -1;
      return ::testing::AssertionFailure() << "cannot start " << kRankopt;
    }
    // Loading and warming up the package takes well under a second; allow for slow machines.
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (start_line_.find('\n') == std::string::npos) {
      const int left = static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                            deadline - std::chrono::steady_clock::now())
                                            .count());
      pollfd p = {stdout_fd_, POLLIN, 0};
      if (left <= 0 || ::poll(&p, 1, left) <= 0) {
        return ::testing::AssertionFailure()
               << "no start line within 60 s; stderr: " << ReadFile(stderr_path_);
      }
      char buf[256];
      const ssize_t n = ::read(stdout_fd_, buf, sizeof(buf));
      if (n <= 0) {
        return ::testing::AssertionFailure()
               << "the server exited before its start line (exit status " << Wait()
               << "); stderr: " << ReadFile(stderr_path_);
      }
      start_line_.append(buf, static_cast<size_t>(n));
    }
    start_line_.resize(start_line_.find('\n'));
    const size_t at = start_line_.find("http://127.0.0.1:");
    if (at == std::string::npos) {
      return ::testing::AssertionFailure() << "no address in the start line: " << start_line_;
    }
    const std::string rest = start_line_.substr(at + std::strlen("http://127.0.0.1:"));
    if (!absl::SimpleAtoi(rest.substr(0, rest.find(' ')), &port_) || port_ <= 0) {
      return ::testing::AssertionFailure() << "no port in the start line: " << start_line_;
    }
    return ::testing::AssertionSuccess();
  }

  // Sends SIGTERM; the exit code, or -1 when the server did not exit by itself within 30 s.
  int Stop() {
    if (pid_ <= 0) return -1;
    ::kill(pid_, SIGTERM);
    return Wait();
  }

  int port() const { return port_; }
  const std::string& start_line() const { return start_line_; }
  std::string stderr_text() const { return ReadFile(stderr_path_); }

 private:
  int Wait() {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    int status = 0;
    while (::waitpid(pid_, &status, WNOHANG) == 0) {
      if (std::chrono::steady_clock::now() > deadline) {
        ::kill(pid_, SIGKILL);
        ::waitpid(pid_, &status, 0);
        pid_ = -1;
        return -1;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    pid_ = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }

  pid_t pid_ = -1;
  int stdout_fd_ = -1;
  int port_ = 0;
  std::string start_line_;
  fs::path stderr_path_;
};

// A predict response, with each score parsed from its exact text.
struct Prediction {
  std::string model;
  std::string version;
  std::vector<std::string> heads;
  std::vector<std::vector<float>> values;
};

absl::StatusOr<Prediction> ParsePrediction(const std::string& body) {
  try {
    simdjson::ondemand::parser parser;
    const simdjson::padded_string json(body);
    simdjson::ondemand::document doc = parser.iterate(json);
    Prediction p;
    p.model = std::string(std::string_view(doc["model"]));
    p.version = std::string(std::string_view(doc["version"]));
    for (simdjson::ondemand::field field : doc["heads"].get_object()) {
      p.heads.emplace_back(std::string_view(field.unescaped_key()));
      std::vector<float>& values = p.values.emplace_back();
      for (simdjson::ondemand::value v : field.value().get_array()) {
        const std::string_view raw = v.raw_json_token();
        const absl::string_view token =
            absl::StripTrailingAsciiWhitespace(absl::string_view(raw.data(), raw.size()));
        float f = 0;
        const std::from_chars_result r =
            std::from_chars(token.data(), token.data() + token.size(), f);
        if (r.ec != std::errc() || r.ptr != token.data() + token.size()) {
          return absl::InvalidArgumentError(absl::StrCat("score '", token, "' is not a float"));
        }
        values.push_back(f);
      }
    }
    return p;
  } catch (const simdjson::simdjson_error& e) {
    return absl::InvalidArgumentError(absl::StrCat("not a prediction: ", e.what(), ": ", body));
  }
}

// The "code" of an error body; empty when the body is not {"error": "...", "code": "..."}.
std::string ErrorCode(const std::string& body) {
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  std::string_view error, code;
  if (parser.parse(body).get(doc) != simdjson::SUCCESS ||
      doc["error"].get(error) != simdjson::SUCCESS || error.empty() ||
      doc["code"].get(code) != simdjson::SUCCESS) {
    return "";
  }
  return std::string(code);
}

constexpr char kRequestsTotal[] = R"(rankopt_requests_total{model="din",version="1"})";

class ServeCommandTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new std::string(FreshTempDir("serve_command_test"));
    absl::StatusOr<ModelPackage> package = BuildDinPackage(TableQuantizationMode::kOff, "1");
    ASSERT_TRUE(package.ok()) << package.status();
    fs::create_directories(Root() / "1");
    ASSERT_TRUE(WriteModelPackage(*package, (Root() / "1" / "model.rkp").string()).ok());
    absl::StatusOr<std::vector<Request>> requests = DinRequests();
    ASSERT_TRUE(requests.ok()) << requests.status();
    requests_ = new std::vector<Request>(*std::move(requests));
    json_ = new std::vector<std::string>();
    want_ = new std::vector<std::vector<std::vector<float>>>();
    for (const Request& r : *requests_) {
      absl::StatusOr<std::string> json = RequestToJson(r);
      ASSERT_TRUE(json.ok()) << json.status();
      json_->push_back(*std::move(json));
      absl::StatusOr<std::vector<std::vector<float>>> want = ReferenceScores(*package, r);
      ASSERT_TRUE(want.ok()) << want.status();
      want_->push_back(*std::move(want));
    }
    heads_ = new std::vector<std::string>(package->outputs);
  }

  static void TearDownTestSuite() {
    if (dir_ != nullptr) fs::remove_all(*dir_);
  }

  static fs::path Root() { return fs::path(*dir_) / "models"; }
  fs::path Temp(const std::string& name) const {
    return fs::path(*dir_) /
           absl::StrCat(::testing::UnitTest::GetInstance()->current_test_info()->name(), "_", name);
  }

  // Starts a server on a free port; extra flags after the model path.
  void StartServer(ServeProcess* server, const std::string& model_path,
                   std::vector<std::string> flags = {}) {
    std::vector<std::string> args = {model_path, "--port", "0", "--http-threads", "4"};
    args.insert(args.end(), flags.begin(), flags.end());
    ASSERT_TRUE(server->Start(args, Temp("stderr.txt")));
  }

  // POSTs request `i` and expects the reference scores, bit for bit.
  static void ExpectPrediction(httplib::Client& client, size_t i, const std::string& version) {
    httplib::Result r = client.Post("/v1/models/din:predict", (*json_)[i], "application/json");
    ASSERT_TRUE(r) << httplib::to_string(r.error());
    ASSERT_EQ(r->status, 200) << r->body;
    EXPECT_EQ(r->get_header_value("Content-Type"), "application/json");
    absl::StatusOr<Prediction> p = ParsePrediction(r->body);
    ASSERT_TRUE(p.ok()) << p.status();
    EXPECT_EQ(p->model, "din");
    EXPECT_EQ(p->version, version);
    ASSERT_EQ(p->heads, *heads_);
    ASSERT_EQ(p->values.size(), (*want_)[i].size());
    for (size_t h = 0; h < p->values.size(); ++h) {
      const std::vector<float>& got = p->values[h];
      const std::vector<float>& want = (*want_)[i][h];
      ASSERT_EQ(got.size(), (*requests_)[i].candidates.size()) << "request " << i;
      ASSERT_EQ(got.size(), want.size()) << "request " << i;
      for (size_t c = 0; c < got.size(); ++c) {
        EXPECT_EQ(std::bit_cast<uint32_t>(got[c]), std::bit_cast<uint32_t>(want[c]))
            << "request " << i << " head " << p->heads[h] << " candidate " << c << ": " << got[c]
            << " vs " << want[c];
      }
    }
  }

  static std::string* dir_;
  static std::vector<Request>* requests_;
  static std::vector<std::string>* json_;
  static std::vector<std::vector<std::vector<float>>>* want_;
  static std::vector<std::string>* heads_;
};
std::string* ServeCommandTest::dir_ = nullptr;
std::vector<Request>* ServeCommandTest::requests_ = nullptr;
std::vector<std::string>* ServeCommandTest::json_ = nullptr;
std::vector<std::vector<std::vector<float>>>* ServeCommandTest::want_ = nullptr;
std::vector<std::string>* ServeCommandTest::heads_ = nullptr;

TEST_F(ServeCommandTest, PredictsTheReferenceScoresAndStopsOnSigterm) {
  ServeProcess server;
  ASSERT_NO_FATAL_FAILURE(StartServer(&server, Root().string()));
  EXPECT_EQ(server.start_line(),
            absl::StrCat("serving din version 1 on http://127.0.0.1:", server.port(),
                         " (POST /v1/models/din:predict, GET /metrics)"));
  httplib::Client client("127.0.0.1", server.port());
  client.set_keep_alive(true);
  for (size_t i = 0; i < json_->size(); ++i) {
    ASSERT_NO_FATAL_FAILURE(ExpectPrediction(client, i, "1"));
  }
  client.stop();  // else the server waits out the idle keep-alive connection (5 s)
  EXPECT_EQ(server.Stop(), 0) << server.stderr_text();
  EXPECT_THAT(server.stderr_text(), HasSubstr("stopped on SIGTERM"));
}

TEST_F(ServeCommandTest, HeadsQueryPicksHeads) {
  ServeProcess server;
  ASSERT_NO_FATAL_FAILURE(StartServer(&server, Root().string()));
  httplib::Client client("127.0.0.1", server.port());
  const std::string last = heads_->back();
  httplib::Result r = client.Post(absl::StrCat("/v1/models/din:predict?heads=", last), (*json_)[0],
                                  "application/json");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  absl::StatusOr<Prediction> p = ParsePrediction(r->body);
  ASSERT_TRUE(p.ok()) << p.status();
  ASSERT_EQ(p->heads, std::vector<std::string>{last});
  ASSERT_EQ(p->values[0].size(), (*want_)[0].back().size());
  for (size_t c = 0; c < p->values[0].size(); ++c) {
    EXPECT_EQ(std::bit_cast<uint32_t>(p->values[0][c]),
              std::bit_cast<uint32_t>((*want_)[0].back()[c]));
  }
  r = client.Post("/v1/models/din:predict?heads=no_such_head", (*json_)[0], "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  EXPECT_EQ(ErrorCode(r->body), "INVALID_ARGUMENT") << r->body;
  EXPECT_THAT(r->body, HasSubstr("no_such_head"));
  EXPECT_EQ(server.Stop(), 0);
}

TEST_F(ServeCommandTest, ErrorsAreJsonWithTheirHttpStatus) {
  ServeProcess server;
  ASSERT_NO_FATAL_FAILURE(StartServer(&server, Root().string(), {"--max-body-bytes", "4096"}));
  httplib::Client client("127.0.0.1", server.port());

  httplib::Result r = client.Post("/v1/models/din:predict", "{\"user\": {", "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  EXPECT_EQ(r->get_header_value("Content-Type"), "application/json");
  EXPECT_EQ(ErrorCode(r->body), "INVALID_ARGUMENT") << r->body;

  r = client.Post("/v1/models/din:predict", R"({"users": {}})", "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  EXPECT_EQ(ErrorCode(r->body), "INVALID_ARGUMENT") << r->body;
  EXPECT_THAT(r->body, HasSubstr("users"));

  r = client.Post("/v1/models/esmm:predict", (*json_)[1], "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 404);
  EXPECT_EQ(ErrorCode(r->body), "NOT_FOUND") << r->body;
  EXPECT_THAT(r->body, HasSubstr("esmm"));

  r = client.Get("/v1/models/esmm");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 404);
  EXPECT_EQ(ErrorCode(r->body), "NOT_FOUND") << r->body;

  r = client.Get("/no/such/path");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 404);
  EXPECT_EQ(ErrorCode(r->body), "NOT_FOUND") << r->body;

  // Over --max-body-bytes with a Content-Length, and chunked (no length up front).
  const std::string big(5000, ' ');
  r = client.Post("/v1/models/din:predict", big, "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 413);
  EXPECT_EQ(ErrorCode(r->body), "RESOURCE_EXHAUSTED") << r->body;
  EXPECT_THAT(r->body, HasSubstr("--max-body-bytes"));
  httplib::Client keep_alive("127.0.0.1", server.port());
  keep_alive.set_keep_alive(true);
  r = keep_alive.Post(
      "/v1/models/din:predict",
      [&big](size_t, httplib::DataSink& sink) {
        for (size_t at = 0; at < big.size(); at += 1000) sink.write(big.data() + at, 1000);
        sink.done();
        return true;
      },
      "application/json");
  ASSERT_TRUE(r) << httplib::to_string(r.error());
  EXPECT_EQ(r->status, 413);
  EXPECT_EQ(ErrorCode(r->body), "RESOURCE_EXHAUSTED") << r->body;

  // A Score error (an unknown head) after the JSON parsed.
  r = client.Post("/v1/models/din:predict?heads=no_such_head", (*json_)[0], "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);

  // The server still scores after all that.
  ASSERT_NO_FATAL_FAILURE(ExpectPrediction(keep_alive, 1, "1"));
  keep_alive.stop();

  // Every error answer above is in rankopt_errors_total once, by code and reason, those refused
  // before the JSON parsed (or before any route ran) included.
  r = client.Get("/metrics");
  ASSERT_TRUE(r);
  const std::string errors = R"(rankopt_errors_total{model="din",version="1",)";
  for (auto [labels, want] : std::vector<std::pair<std::string, int64_t>>{
           {R"(code="invalid_argument",reason="bad_json"})", 2},
           {R"(code="not_found",reason="unknown_model"})", 2},
           {R"(code="not_found",reason="no_route"})", 1},
           {R"(code="resource_exhausted",reason="body_too_large"})", 2},
           {R"(code="invalid_argument",reason="score"})", 1},
       }) {
    EXPECT_EQ(Sample(r->body, errors + labels), want) << labels << "\n" << r->body;
  }
  EXPECT_EQ(SampleSum(r->body, "rankopt_errors_total{"), 8) << r->body;
  EXPECT_EQ(SampleSum(r->body, "rankopt_http_responses_total{"),
            SampleSum(r->body, R"(rankopt_http_responses_total{route="predict",code="200"})") + 8)
      << r->body;
  EXPECT_EQ(server.Stop(), 0);
}

TEST_F(ServeCommandTest, MetricsStatusAndHealth) {
  ServeProcess server;
  ASSERT_NO_FATAL_FAILURE(StartServer(&server, Root().string()));
  httplib::Client client("127.0.0.1", server.port());

  httplib::Result r = client.Get("/metrics");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200);
  EXPECT_EQ(r->get_header_value("Content-Type"), "text/plain; version=0.0.4");
  const int64_t before = Sample(r->body, kRequestsTotal);  // the package's warm-up counts too
  ASSERT_GE(before, 0) << r->body;

  constexpr int kPredictions = 5;
  for (int i = 0; i < kPredictions; ++i) {
    ASSERT_NO_FATAL_FAILURE(ExpectPrediction(client, static_cast<size_t>(i), "1"));
  }
  r = client.Post("/v1/models/din:predict", "not json", "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);

  r = client.Get("/metrics");
  ASSERT_TRUE(r);
  EXPECT_EQ(Sample(r->body, kRequestsTotal), before + kPredictions) << r->body;
  EXPECT_EQ(Sample(r->body, R"(rankopt_http_responses_total{route="predict",code="200"})"),
            kPredictions)
      << r->body;
  EXPECT_EQ(Sample(r->body, R"(rankopt_http_responses_total{route="predict",code="400"})"), 1)
      << r->body;
  EXPECT_THAT(r->body, HasSubstr("# TYPE rankopt_request_latency_seconds histogram"));

  r = client.Get("/v1/models/din");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  simdjson::dom::parser parser;
  simdjson::dom::element status;
  ASSERT_EQ(parser.parse(r->body).get(status), simdjson::SUCCESS) << r->body;
  std::string_view name, version;
  simdjson::dom::array heads;
  ASSERT_EQ(status["name"].get(name), simdjson::SUCCESS);
  ASSERT_EQ(status["version"].get(version), simdjson::SUCCESS);
  ASSERT_EQ(status["heads"].get(heads), simdjson::SUCCESS);
  EXPECT_EQ(name, "din");
  EXPECT_EQ(version, "1");
  std::vector<std::string> head_names;
  for (simdjson::dom::element h : heads) head_names.emplace_back(std::string_view(h));
  EXPECT_EQ(head_names, *heads_);

  r = client.Get("/healthz");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "ok\n");
  EXPECT_EQ(server.Stop(), 0);
}

TEST_F(ServeCommandTest, ConcurrentClientsGetTheReferenceScores) {
  ServeProcess server;
  ASSERT_NO_FATAL_FAILURE(StartServer(&server, Root().string(), {"--threads", "2"}));
  std::vector<std::thread> threads;
  for (int t = 0; t < 6; ++t) {
    threads.emplace_back([&, t] {
      httplib::Client client("127.0.0.1", server.port());
      client.set_keep_alive(t % 2 == 0);
      for (int k = 0; k < 10; ++k) {
        ExpectPrediction(client, static_cast<size_t>(t + k) % json_->size(), "1");
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(server.Stop(), 0);
}

TEST_F(ServeCommandTest, LimitFlagsApply) {
  ServeProcess server;
  ASSERT_NO_FATAL_FAILURE(
      StartServer(&server, Root().string(), {"--max-header-count", "2", "--io-threads", "2"}));
  httplib::Client client("127.0.0.1", server.port());
  httplib::Result r = client.Get("/healthz", {{"A", "1"}, {"B", "2"}, {"C", "3"}});
  ASSERT_TRUE(r) << httplib::to_string(r.error());
  EXPECT_EQ(r->status, 431);
  EXPECT_EQ(ErrorCode(r->body), "INVALID_ARGUMENT") << r->body;
  EXPECT_THAT(r->body, HasSubstr("--max-header-count"));
  // A request with no header at all passes.
  RawConnection raw(server.port());
  RawResponse metrics;
  ASSERT_TRUE(raw.Send("GET /metrics HTTP/1.1\r\n\r\n") && raw.Read(&metrics));
  EXPECT_EQ(metrics.status, 200);
  EXPECT_EQ(Sample(metrics.body,
                   R"(rankopt_errors_total{model="din",version="1",code="invalid_argument",)"
                   R"(reason="too_many_headers"})"),
            1)
      << metrics.body;
  raw.Close();
  EXPECT_EQ(server.Stop(), 0);
}

TEST_F(ServeCommandTest, ServesOnePackageFile) {
  ServeProcess server;
  ASSERT_NO_FATAL_FAILURE(StartServer(&server, (Root() / "1" / "model.rkp").string()));
  httplib::Client client("127.0.0.1", server.port());
  ASSERT_NO_FATAL_FAILURE(ExpectPrediction(client, 0, "1"));
  httplib::Result r = client.Get("/metrics");
  ASSERT_TRUE(r);
  EXPECT_GE(Sample(r->body, kRequestsTotal), 1) << r->body;
  EXPECT_EQ(server.Stop(), 0);
}

TEST_F(ServeCommandTest, PicksUpANewVersion) {
  const fs::path root = Temp("models");
  fs::create_directories(root / "1");
  fs::copy_file(Root() / "1" / "model.rkp", root / "1" / "model.rkp");
  ServeProcess server;
  ASSERT_NO_FATAL_FAILURE(StartServer(&server, root.string(), {"--poll-s", "0.05"}));
  httplib::Client client("127.0.0.1", server.port());
  ASSERT_NO_FATAL_FAILURE(ExpectPrediction(client, 0, "1"));

  absl::StatusOr<ModelPackage> v2 = BuildDinPackage(TableQuantizationMode::kOff, "2");
  ASSERT_TRUE(v2.ok()) << v2.status();
  fs::create_directories(root / "2");
  ASSERT_TRUE(WriteModelPackage(*v2, (root / "2" / "model.rkp").string()).ok());
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  std::string body;
  while (std::chrono::steady_clock::now() < deadline) {
    httplib::Result r = client.Get("/v1/models/din");
    ASSERT_TRUE(r);
    body = r->body;
    if (absl::StrContains(body, R"("version": "2")")) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ASSERT_THAT(body, HasSubstr(R"("version": "2")"));
  ASSERT_NO_FATAL_FAILURE(ExpectPrediction(client, 2, "2"));
  EXPECT_EQ(server.Stop(), 0) << server.stderr_text();
}

// An ESMM package dropped into the DIN directory: rejected, logged and counted, DIN keeps serving
// under its version folder's label; swapped in with --allow-model-change.
TEST_F(ServeCommandTest, AnotherModelIsRejectedUnlessAllowed) {
  absl::StatusOr<ModelPackage> esmm = BuildEsmmPackage(TableQuantizationMode::kOff, "7");
  ASSERT_TRUE(esmm.ok()) << esmm.status();
  for (bool allow : {false, true}) {
    SCOPED_TRACE(allow ? "--allow-model-change" : "default");
    const fs::path root = Temp(allow ? "allowed" : "default");
    fs::create_directories(root / "21");
    fs::copy_file(Root() / "1" / "model.rkp", root / "21" / "model.rkp");
    ServeProcess server;
    std::vector<std::string> flags = {"--poll-s", "0.05"};
    if (allow) flags.push_back("--allow-model-change");
    ASSERT_NO_FATAL_FAILURE(StartServer(&server, root.string(), flags));
    httplib::Client client("127.0.0.1", server.port());
    ASSERT_NO_FATAL_FAILURE(ExpectPrediction(client, 0, "21"));

    fs::create_directories(root / "tmp");
    ASSERT_TRUE(WriteModelPackage(*esmm, (root / "tmp" / "model.rkp").string()).ok());
    fs::rename(root / "tmp", root / "22");  // published by rename
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    std::string metrics;
    while (std::chrono::steady_clock::now() < deadline) {
      httplib::Result m = client.Get("/metrics");
      ASSERT_TRUE(m);
      metrics = m->body;
      if (Sample(metrics, R"(rankopt_model_identity_rejected_total{model="din"})") > 0 ||
          absl::StrContains(metrics, R"(rankopt_model_version{model="esmm"} 22)")) {
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    if (!allow) {
      EXPECT_EQ(Sample(metrics, R"(rankopt_model_identity_rejected_total{model="din"})"), 1)
          << metrics;
      EXPECT_EQ(Sample(metrics, R"(rankopt_model_version{model="din"})"), 21) << metrics;
      ASSERT_NO_FATAL_FAILURE(ExpectPrediction(client, 1, "21"));
      httplib::Result r = client.Get("/v1/models/esmm");
      ASSERT_TRUE(r);
      EXPECT_EQ(r->status, 404);
      EXPECT_EQ(server.Stop(), 0);
      EXPECT_THAT(server.stderr_text(),
                  AllOf(HasSubstr("the package is model 'esmm' but 'din' is served"),
                        HasSubstr("--allow-model-change")));
      continue;
    }
    EXPECT_EQ(Sample(metrics, R"(rankopt_model_version{model="esmm"})"), 22) << metrics;
    EXPECT_EQ(Sample(metrics, R"(rankopt_model_identity_rejected_total{model="esmm"})"), 0)
        << metrics;
    // ESMM answers under the version folder's label, not the package's --model-version (7).
    httplib::Result r = client.Get("/v1/models/esmm");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200) << r->body;
    EXPECT_THAT(r->body, HasSubstr(R"("version": "22")"));
    absl::StatusOr<std::vector<Request>> esmm_requests = EsmmRequests();
    ASSERT_TRUE(esmm_requests.ok()) << esmm_requests.status();
    absl::StatusOr<std::string> json = RequestToJson(esmm_requests->front());
    ASSERT_TRUE(json.ok()) << json.status();
    r = client.Post("/v1/models/esmm:predict", *json, "application/json");
    ASSERT_TRUE(r);
    ASSERT_EQ(r->status, 200) << r->body;
    absl::StatusOr<Prediction> p = ParsePrediction(r->body);
    ASSERT_TRUE(p.ok()) << p.status();
    EXPECT_EQ(p->version, "22");
    absl::StatusOr<std::vector<std::vector<float>>> want =
        ReferenceScores(*esmm, esmm_requests->front());
    ASSERT_TRUE(want.ok()) << want.status();
    ASSERT_EQ(p->values.size(), want->size());
    for (size_t h = 0; h < want->size(); ++h) {
      ASSERT_EQ(p->values[h].size(), (*want)[h].size());
      for (size_t c = 0; c < (*want)[h].size(); ++c) {
        EXPECT_EQ(std::bit_cast<uint32_t>(p->values[h][c]), std::bit_cast<uint32_t>((*want)[h][c]))
            << "head " << h << " candidate " << c;
      }
    }
    r = client.Post("/v1/models/din:predict", (*json_)[0], "application/json");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 404);
    EXPECT_EQ(server.Stop(), 0);
  }
}

// Runs `rankopt serve ARGS` to completion (for the command-line errors); the exit code.
int RunToEnd(const std::string& args, const fs::path& err) {
  const std::string command =
      absl::StrCat(kRankopt, " serve ", args, " >/dev/null 2>", err.string());
  const int status = std::system(command.c_str());
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

TEST_F(ServeCommandTest, CommandLineErrors) {
  const fs::path err = Temp("stderr.txt");
  EXPECT_EQ(RunToEnd("", err), 2);
  EXPECT_THAT(ReadFile(err), StartsWith("usage: rankopt serve MODEL_DIR"));
  EXPECT_EQ(RunToEnd(absl::StrCat(Root().string(), " --port 70000"), err), 2);
  EXPECT_THAT(ReadFile(err), HasSubstr("--port"));
  EXPECT_EQ(RunToEnd(absl::StrCat(Root().string(), " --threads 0"), err), 2);
  EXPECT_THAT(ReadFile(err), HasSubstr("--threads"));
  EXPECT_EQ(RunToEnd(absl::StrCat(Root().string(), " --poll-s -1"), err), 2);
  EXPECT_THAT(ReadFile(err), HasSubstr("--poll-s"));
  EXPECT_EQ(RunToEnd(absl::StrCat(Root().string(), " --max-header-bytes 10"), err), 2);
  EXPECT_THAT(ReadFile(err), HasSubstr("--max-header-bytes"));
  EXPECT_EQ(RunToEnd(absl::StrCat(Root().string(), " --idle-timeout-s 0"), err), 2);
  EXPECT_THAT(ReadFile(err), HasSubstr("--idle-timeout-s"));
  EXPECT_EQ(RunToEnd(absl::StrCat(Root().string(), " --max-connections 0"), err), 2);
  EXPECT_THAT(ReadFile(err), HasSubstr("--max-connections"));

  EXPECT_EQ(RunToEnd(absl::StrCat(*dir_, "/no_such_dir"), err), 1);
  const std::string text = ReadFile(err);
  EXPECT_THAT(text, StartsWith("rankopt serve: error: "));
  EXPECT_THAT(text, HasSubstr("no_such_dir"));
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 1) << text;

  // A port in use is an error, not a second server sharing it.
  ServeProcess server;
  ASSERT_NO_FATAL_FAILURE(StartServer(&server, Root().string()));
  EXPECT_EQ(RunToEnd(absl::StrCat(Root().string(), " --port ", server.port()), err), 1);
  EXPECT_THAT(ReadFile(err), HasSubstr(absl::StrCat("port ", server.port())));
  EXPECT_EQ(server.Stop(), 0);

  const fs::path out = Temp("help.txt");
  const int status = std::system(absl::StrCat(kRankopt, " serve --help >", out.string()).c_str());
  EXPECT_EQ(WIFEXITED(status) ? WEXITSTATUS(status) : -1, 0);
  EXPECT_THAT(ReadFile(out),
              AllOf(StartsWith("usage: rankopt serve"), HasSubstr("POST /v1/models/NAME:predict"),
                    HasSubstr("--max-body-bytes"), HasSubstr("--max-connections"),
                    HasSubstr("--max-header-count"), HasSubstr("--max-header-bytes"),
                    HasSubstr("--header-timeout-s"), HasSubstr("--body-timeout-s"),
                    HasSubstr("--idle-timeout-s"), HasSubstr("--io-threads"),
                    HasSubstr("--allow-model-change")));
}

}  // namespace
}  // namespace rankopt
