// HttpServer in process: the DIN package fixture served on a free port of 127.0.0.1, driven with
// httplib's client (every call bounded by a 30 s timeout): /healthz, one predict with the
// reference scores, a wrong model name as a JSON 404, and a port already in use as Unavailable.
#include "serving/http/http_server.h"

#include <httplib.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "rankopt/request_json.h"
#include "tests/serving/din_package.h"

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

}  // namespace
}  // namespace rankopt
