// HttpServer (serving/http/http_server.h): the routes, the error bodies and HTTP statuses, the
// response counters and the stop-signal wait of `rankopt serve`. cpp-httplib (Debian's
// libcpp-httplib-dev) is included here and nowhere else in the libraries.
#include "serving/http/http_server.h"

#include <arpa/inet.h>
#include <httplib.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>

#include <array>
#include <atomic>
#include <charconv>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <memory>
#include <string>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "rankopt/model.h"
#include "rankopt/model_manager.h"
#include "rankopt/model_stats.h"
#include "rankopt/request.h"
#include "rankopt/request_json.h"

namespace rankopt {
namespace {

// The served model: the current version of a ModelManager directory, or one fixed package.
class ServedModel {
 public:
  static absl::StatusOr<ServedModel> Open(const ServeOptions& serve_options) {
    ModelOptions model_options;
    model_options.threads = serve_options.threads;
    model_options.user_cache.capacity_bytes = serve_options.user_cache_bytes;
    model_options.item_cache.capacity_bytes = serve_options.item_cache_bytes;
    ServedModel served;
    std::error_code ec;
    if (std::filesystem::is_regular_file(serve_options.path, ec)) {
      absl::StatusOr<std::shared_ptr<const Model>> model =
          Model::Load(serve_options.path, model_options);
      if (!model.ok()) return model.status();
      served.fixed_ = *std::move(model);
      return served;
    }
    ModelManagerOptions options;
    options.model = model_options;
    options.poll_interval_s = serve_options.poll_s;
    options.log = serve_options.log;
    absl::StatusOr<std::unique_ptr<ModelManager>> manager =
        ModelManager::Create(serve_options.path, std::move(options));
    if (!manager.ok()) return manager.status();
    served.manager_ = *std::move(manager);
    return served;
  }

  // Never null; hold it for one request.
  std::shared_ptr<const Model> Current() const {
    return manager_ != nullptr ? manager_->Current() : fixed_;
  }

  std::string PrometheusText() const {
    if (manager_ != nullptr) return manager_->PrometheusText();
    return fixed_->stats().PrometheusText(
        absl::StrCat("model=\"", PrometheusLabelValue(fixed_->name()), "\",version=\"",
                     PrometheusLabelValue(fixed_->version()), "\""));
  }

 private:
  std::unique_ptr<ModelManager> manager_;
  std::shared_ptr<const Model> fixed_;
};

// HTTP responses by route and status code. The model's own stats count Score calls only; a body
// that does not parse, names another model or is too large never reaches them.
class HttpCounters {
 public:
  void Record(const std::string& path, int status) {
    if (status < kMinStatus || status >= kMinStatus + kStatuses) return;
    counts_[RouteOf(path)][status - kMinStatus].fetch_add(1, std::memory_order_relaxed);
  }

  std::string PrometheusText() const {
    std::string out =
        "# HELP rankopt_http_responses_total HTTP responses of rankopt serve by route and "
        "status code.\n"
        "# TYPE rankopt_http_responses_total counter\n";
    for (int route = 0; route < kRoutes; ++route) {
      for (int i = 0; i < kStatuses; ++i) {
        const int64_t n = counts_[route][i].load(std::memory_order_relaxed);
        if (n == 0) continue;
        absl::StrAppend(&out, "rankopt_http_responses_total{route=\"", kRouteNames[route],
                        "\",code=\"", kMinStatus + i, "\"} ", n, "\n");
      }
    }
    return out;
  }

 private:
  static constexpr int kMinStatus = 100;
  static constexpr int kStatuses = 500;
  static constexpr int kRoutes = 5;
  static constexpr const char* kRouteNames[kRoutes] = {"predict", "model", "metrics", "healthz",
                                                       "other"};

  static int RouteOf(absl::string_view path) {
    if (absl::StartsWith(path, "/v1/models/")) return absl::EndsWith(path, ":predict") ? 0 : 1;
    if (path == "/metrics") return 2;
    if (path == "/healthz") return 3;
    return 4;
  }

  std::array<std::array<std::atomic<int64_t>, kStatuses>, kRoutes> counts_{};
};

// The shortest text that reads back as the same float (so clients see the exact scores);
// null for NaN and infinities, which JSON lacks.
void AppendFloat(float v, std::string* out) {
  if (!std::isfinite(v)) {
    out->append("null");
    return;
  }
  char buf[32];
  const std::to_chars_result r = std::to_chars(buf, buf + sizeof(buf), v);
  out->append(buf, r.ptr);
}

// Scoring errors as HTTP: the caller's fault (400), over a memory cap (429), ours (500).
int HttpStatusOf(absl::StatusCode code) {
  switch (code) {
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kOutOfRange:
    case absl::StatusCode::kFailedPrecondition:
      return 400;
    case absl::StatusCode::kNotFound:
      return 404;
    case absl::StatusCode::kResourceExhausted:
      return 429;
    case absl::StatusCode::kUnavailable:
      return 503;
    default:
      return 500;
  }
}

absl::StatusCode StatusCodeOfHttp(int status) {
  switch (status) {
    case 404:
      return absl::StatusCode::kNotFound;
    case 413:
    case 429:
      return absl::StatusCode::kResourceExhausted;
    case 503:
      return absl::StatusCode::kUnavailable;
    default:
      return status < 500 ? absl::StatusCode::kInvalidArgument : absl::StatusCode::kInternal;
  }
}

void SetError(int http_status, const absl::Status& status, httplib::Response& res) {
  std::string body = "{\"error\": ";
  AppendJsonString(status.message(), &body);
  absl::StrAppend(&body, ", \"code\": \"", absl::StatusCodeToString(status.code()), "\"}\n");
  res.status = http_status;
  res.set_content(body, "application/json");
}

// Per-thread buffers of the predict path: after a few requests it reuses their capacity.
struct PredictScratch {
  RequestJsonParser parser;
  Request request;
  ScoreOptions options;
  Scores scores;
  std::string body;
  std::string out;
};

PredictScratch& Scratch() {
  thread_local PredictScratch scratch;
  return scratch;
}

}  // namespace

class HttpServer::Impl {
 public:
  Impl(const ServeOptions& options, ServedModel served)
      : options_(options), served_(std::move(served)) {
    const size_t threads = static_cast<size_t>(options.http_threads);
    http_.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
    http_.set_payload_max_length(options.max_body_bytes);
    http_.set_tcp_nodelay(true);
    // httplib's default adds SO_REUSEPORT, which lets a second server share the port and take
    // half its connections; a port in use must be an error instead.
    http_.set_socket_options([](socket_t sock) {
      const int yes = 1;
      setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
    });
    http_.set_keep_alive_max_count(1000);
    http_.Post(R"(/v1/models/([^/:]+):predict)",
               [this](const httplib::Request& req, httplib::Response& res,
                      const httplib::ContentReader& reader) { Predict(req, res, reader); });
    http_.Get(R"(/v1/models/([^/:]+))", [this](const httplib::Request& req,
                                               httplib::Response& res) { ModelStatus(req, res); });
    http_.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
      res.set_content(served_.PrometheusText() + counters_.PrometheusText(),
                      "text/plain; version=0.0.4");
    });
    http_.Get("/healthz", [](const httplib::Request&, httplib::Response& res) {
      res.set_content("ok\n", "text/plain");
    });
    http_.set_error_handler(httplib::Server::HandlerWithResponse(
        [this](const httplib::Request& req, httplib::Response& res) {
          return ErrorBody(req, res);
        }));
    // Runs for every response just before it is written (a logger would run after, so a client
    // could read /metrics before its own last response was counted).
    http_.set_post_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
      counters_.Record(req.path, res.status);
    });
  }

  // Binds the listening socket; returns the port.
  absl::StatusOr<int> Bind() {
    const int port = options_.port == 0
                         ? http_.bind_to_any_port(options_.host)
                         : (http_.bind_to_port(options_.host, options_.port) ? options_.port : -1);
    if (port < 0) {
      return absl::UnavailableError(absl::StrCat(
          "cannot listen on ", options_.host, " port ", options_.port,
          ": the port is in use, or the address is not one of this machine's (try --port 0 "
          "for a free port)"));
    }
    return port;
  }

  // Serves until Stop() or until the listening socket fails.
  void Listen() { http_.listen_after_bind(); }
  bool running() const { return http_.is_running(); }
  // Stops accepting; Listen() returns once the requests in flight have finished. Call once,
  // while running().
  void Stop() { http_.stop(); }

  const ServedModel& served() const { return served_; }
  const std::string& host() const { return options_.host; }

 private:
  void Predict(const httplib::Request& req, httplib::Response& res,
               const httplib::ContentReader& reader) {
    PredictScratch& s = Scratch();
    s.body.clear();
    bool too_big = false;
    const bool read = reader([&](const char* data, size_t size) {
      if (size > options_.max_body_bytes - s.body.size()) {
        too_big = true;
        return false;
      }
      s.body.append(data, size);
      return true;
    });
    if (too_big || res.status == 413) {
      // The rest of the body is unread: this connection cannot carry another request.
      res.set_header("Connection", "close");
      SetError(413, BodyTooLarge(), res);
      return;
    }
    if (!read) {
      res.set_header("Connection", "close");
      SetError(400, absl::InvalidArgumentError("the request body could not be read"), res);
      return;
    }
    const std::shared_ptr<const Model> model = served_.Current();
    if (req.matches[1].str() != model->name()) {
      SetError(404, UnknownModel(req.matches[1].str(), *model), res);
      return;
    }
    absl::Status status = s.parser.Parse(s.body, &s.request);
    s.options.heads.clear();
    if (status.ok() && req.has_param("heads")) {
      for (absl::string_view head :
           absl::StrSplit(req.get_param_value("heads"), ',', absl::SkipEmpty())) {
        s.options.heads.emplace_back(head);
      }
    }
    if (status.ok()) status = model->ScoreInto(s.request, s.options, &s.scores);
    if (!status.ok()) {
      SetError(HttpStatusOf(status.code()), status, res);
      return;
    }
    std::string& out = s.out;
    out.assign("{\"model\": ");
    AppendJsonString(model->name(), &out);
    out.append(", \"version\": ");
    AppendJsonString(model->version(), &out);
    out.append(", \"heads\": {");
    for (size_t h = 0; h < s.scores.heads.size(); ++h) {
      if (h > 0) out.append(", ");
      AppendJsonString(s.scores.heads[h], &out);
      out.append(": [");
      const std::vector<float>& values = s.scores.values[h];
      for (size_t i = 0; i < values.size(); ++i) {
        if (i > 0) out.push_back(',');
        AppendFloat(values[i], &out);
      }
      out.push_back(']');
    }
    out.append("}}\n");
    res.set_content(out, "application/json");
  }

  void ModelStatus(const httplib::Request& req, httplib::Response& res) {
    const std::shared_ptr<const Model> model = served_.Current();
    if (req.matches[1].str() != model->name()) {
      SetError(404, UnknownModel(req.matches[1].str(), *model), res);
      return;
    }
    std::string out = "{\"name\": ";
    AppendJsonString(model->name(), &out);
    out.append(", \"version\": ");
    AppendJsonString(model->version(), &out);
    out.append(", \"heads\": [");
    for (size_t h = 0; h < model->heads().size(); ++h) {
      if (h > 0) out.append(", ");
      AppendJsonString(model->heads()[h], &out);
    }
    out.append("]}\n");
    res.set_content(out, "application/json");
  }

  // Gives httplib's own errors (no route, a body over the limit, a malformed request) the JSON
  // error body; a handler's error already has one.
  httplib::Server::HandlerResponse ErrorBody(const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
    if (res.status == 413) {
      SetError(413, BodyTooLarge(), res);
    } else if (res.status == 404) {
      SetError(404,
               absl::NotFoundError(absl::StrCat(
                   "no route for ", req.method, " ", req.path,
                   "; the routes are POST /v1/models/NAME:predict, GET /v1/models/NAME, GET "
                   "/metrics and GET /healthz")),
               res);
    } else {
      SetError(res.status,
               absl::Status(StatusCodeOfHttp(res.status), absl::StrCat("HTTP ", res.status)), res);
    }
    return httplib::Server::HandlerResponse::Handled;
  }

  absl::Status BodyTooLarge() const {
    return absl::ResourceExhaustedError(
        absl::StrCat("the request body is over ", options_.max_body_bytes,
                     " bytes; split the candidates over several requests, or raise "
                     "--max-body-bytes"));
  }

  static absl::Status UnknownModel(const std::string& name, const Model& model) {
    return absl::NotFoundError(absl::StrCat("no model named '", name, "'; this server serves '",
                                            model.name(), "' (POST /v1/models/", model.name(),
                                            ":predict)"));
  }

  const ServeOptions options_;
  const ServedModel served_;
  HttpCounters counters_;
  httplib::Server http_;
};

absl::StatusOr<std::unique_ptr<HttpServer>> HttpServer::Create(const ServeOptions& options) {
  // A client that hangs up mid-response must not kill the server.
  signal(SIGPIPE, SIG_IGN);
  absl::StatusOr<ServedModel> served = ServedModel::Open(options);
  if (!served.ok()) return served.status();
  auto impl = std::make_unique<Impl>(options, *std::move(served));
  absl::StatusOr<int> port = impl->Bind();
  if (!port.ok()) return port.status();
  return std::unique_ptr<HttpServer>(new HttpServer(std::move(impl), *port));
}

HttpServer::HttpServer(std::unique_ptr<Impl> impl, int port)
    : impl_(std::move(impl)), port_(port) {}

HttpServer::~HttpServer() { Stop(); }

std::shared_ptr<const Model> HttpServer::CurrentModel() const { return impl_->served().Current(); }

void HttpServer::Start() {
  listener_ = std::thread([this] {
    impl_->Listen();
    listen_done_.store(true);
  });
}

void HttpServer::Stop() {
  if (!listener_.joinable()) return;
  // Impl::Stop() only acts on a running server: wait out a stop that came before Listen() began.
  while (!impl_->running() && !listen_done_.load()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  if (!listen_done_.load()) impl_->Stop();
  listener_.join();
}

absl::StatusOr<int> HttpServer::WaitForStopSignal(const sigset_t& signals) {
  int signal_number = 0;
  const timespec tick = {0, 100 * 1000 * 1000};
  while (!listen_done_.load()) {
    const int s = sigtimedwait(&signals, nullptr, &tick);
    if (s > 0) {
      signal_number = s;
      break;
    }
  }
  Stop();
  if (signal_number == 0) {
    return absl::UnavailableError(absl::StrCat("the listening socket on ", impl_->host(), ":",
                                               port_, " failed; the server stopped"));
  }
  return signal_number;
}

StopSignalBlock::StopSignalBlock() {
  sigemptyset(&signals_);
  sigaddset(&signals_, SIGINT);
  sigaddset(&signals_, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals_, &previous_);
}

StopSignalBlock::~StopSignalBlock() { pthread_sigmask(SIG_SETMASK, &previous_, nullptr); }

bool IsLoopbackHost(const std::string& host) {
  if (host == "localhost") return true;
  in_addr v4;
  if (inet_pton(AF_INET, host.c_str(), &v4) == 1) return (ntohl(v4.s_addr) >> 24) == 127;
  in6_addr v6;
  if (inet_pton(AF_INET6, host.c_str(), &v6) == 1) {
    return IN6_IS_ADDR_LOOPBACK(&v6) || (IN6_IS_ADDR_V4MAPPED(&v6) && v6.s6_addr[12] == 127);
  }
  return false;
}

}  // namespace rankopt
