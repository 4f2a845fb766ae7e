// HttpServer (serving/http/http_server.h): the routes, the error bodies and HTTP statuses, the
// response counters and the stop-signal wait of `rankopt serve`, on HttpEventServer.
#include "serving/http/http_server.h"

#include <arpa/inet.h>
#include <malloc.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>

#include <array>
#include <atomic>
#include <charconv>
#include <cmath>
#include <memory>
#include <string>
#include <system_error>
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
#include "serving/http/content_encoding.h"
#include "serving/http/http_event_server.h"
#include "serving/http/http_message.h"
#include "serving/http/http_router.h"
#include "serving/http/tf_serving_api.h"

namespace rankopt {
namespace {

// The served model: the current version of a ModelManager directory or package file.
class ServedModel {
 public:
  static absl::StatusOr<ServedModel> Open(const ServeOptions& serve_options) {
    ModelOptions model_options;
    model_options.threads = serve_options.threads;
    model_options.user_cache.capacity_bytes = serve_options.user_cache_bytes;
    model_options.item_cache.capacity_bytes = serve_options.item_cache_bytes;
    model_options.remote_tables = serve_options.remote_tables;
    // A package file goes through the manager too: it watches the file and swaps in what an
    // operator publishes over it (by rename, or a copy it can verify), never serving bytes that
    // no longer match their checksums.
    ServedModel served;
    ModelManagerOptions options;
    options.model = model_options;
    options.poll_interval_s = serve_options.poll_s;
    options.allow_model_change = serve_options.allow_model_change;
    options.log = serve_options.log;
    absl::StatusOr<std::unique_ptr<ModelManager>> manager =
        ModelManager::Create(serve_options.path, std::move(options));
    if (!manager.ok()) return manager.status();
    served.manager_ = *std::move(manager);
    return served;
  }

  // Never null; hold it for one request.
  std::shared_ptr<const Model> Current() const { return manager_->Current(); }

  std::string PrometheusText() const { return manager_->PrometheusText(); }

 private:
  std::unique_ptr<ModelManager> manager_;
};

// HTTP responses by route and status code. Error answers are counted by reason in the served
// model's rankopt_errors_total too (hooks.observe), those refused before a body parses included.
class HttpCounters {
 public:
  void Record(absl::string_view path, const HttpResponse& response) {
    const int status = response.status;
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
  static constexpr int kRoutes = 8;
  static constexpr const char* kRouteNames[kRoutes] = {
      "predict", "model", "metrics", "healthz", "other", "classify", "regress", "metadata"};

  static int RouteOf(absl::string_view path) {
    if (absl::StartsWith(path, "/v1/models/")) {
      if (absl::EndsWith(path, ":predict")) return 0;
      if (absl::EndsWith(path, ":classify")) return 5;
      if (absl::EndsWith(path, ":regress")) return 6;
      if (absl::EndsWith(path, "/metadata")) return 7;
      return 1;
    }
    if (path == "/metrics") return 2;
    if (path == "/healthz") return 3;
    return 4;
  }

  std::array<std::array<std::atomic<int64_t>, kStatuses>, kRoutes> counts_{};
};

std::string ConnectionsText(const HttpConnectionStats& s) {
  return absl::StrCat(
      "# HELP rankopt_http_connections_total TCP connections accepted by rankopt serve.\n"
      "# TYPE rankopt_http_connections_total counter\n"
      "rankopt_http_connections_total ",
      s.accepted, "\n",
      "# HELP rankopt_http_connections_refused_total Connections answered 503 and closed: over "
      "--max-connections.\n"
      "# TYPE rankopt_http_connections_refused_total counter\n"
      "rankopt_http_connections_refused_total ",
      s.refused, "\n",
      "# HELP rankopt_http_connections_timed_out_total Connections closed by the idle, header, "
      "body or write timeouts.\n"
      "# TYPE rankopt_http_connections_timed_out_total counter\n"
      "rankopt_http_connections_timed_out_total ",
      s.timed_out, "\n",
      "# HELP rankopt_http_open_connections Connections open now.\n"
      "# TYPE rankopt_http_open_connections gauge\n"
      "rankopt_http_open_connections ",
      s.open, "\n");
}

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
    case 408:
      return absl::StatusCode::kDeadlineExceeded;
    case 415:
    case 501:
    case 505:
      return absl::StatusCode::kUnimplemented;
    case 413:
    case 429:
      return absl::StatusCode::kResourceExhausted;
    case 503:
      return absl::StatusCode::kUnavailable;
    default:
      return status < 500 ? absl::StatusCode::kInvalidArgument : absl::StatusCode::kInternal;
  }
}

void SetError(int http_status, const absl::Status& status, std::string reason, HttpResponse* res) {
  std::string body = "{\"error\": ";
  AppendJsonString(status.message(), &body);
  absl::StrAppend(&body, ", \"code\": \"", absl::StatusCodeToString(status.code()), "\"}\n");
  res->status = http_status;
  res->content_type = "application/json";
  res->body = std::move(body);
  res->reason = std::move(reason);
}

// The reason of a failed Score call, which Model counts itself.
constexpr absl::string_view kScoreReason = "score";
// TF Serving's error answer: {"error": "..."} alone (its REST API has no code member).
void SetTfError(int http_status, const absl::Status& status, std::string reason,
                HttpResponse* res) {
  res->status = http_status;
  res->content_type = "application/json";
  res->body = TfErrorBody(status.message());
  res->reason = std::move(reason);
}

// The TF Serving verb of a POST /v1/models/... route.
enum class TfVerb { kPredict, kClassify, kRegress };

// Per-thread buffers of the predict path: after a few requests it reuses their capacity.
struct PredictScratch {
  RequestJsonParser parser;
  Request request;
  TfServingRequest tf;
  ScoreOptions options;
  Scores scores;
  std::string body;
  std::string out;
};

// This worker's scratch; `fresh` drops the old one first (after a large request, so its
// capacity goes back to the system instead of staying with the thread).
PredictScratch& Scratch(bool fresh) {
  thread_local std::unique_ptr<PredictScratch> scratch;
  if (fresh || scratch == nullptr) {
    scratch.reset();
    scratch = std::make_unique<PredictScratch>();
  }
  return *scratch;
}

// Sizes at or above which a request's buffers are released after it.
constexpr size_t kTrimBytes = size_t{1} << 20;

}  // namespace

class HttpServer::Impl {
 public:
  Impl(const ServeOptions& options, ServedModel served)
      : options_(options), served_(std::move(served)) {
    // POST :predict takes rankopt's request and TF Serving's (IsTfServingPredictBody tells);
    // :classify, :regress, the version paths and metadata are TF Serving's REST API.
    const std::pair<const char*, TfVerb> verbs[] = {{"predict", TfVerb::kPredict},
                                                    {"classify", TfVerb::kClassify},
                                                    {"regress", TfVerb::kRegress}};
    for (const auto& [name, verb] : verbs) {
      for (const char* prefix : {"/v1/models/{model}:", "/v1/models/{model}/versions/{version}:"}) {
        router_.Add("POST", absl::StrCat(prefix, name),
                    [this, verb = verb](const HttpRequest& req, const HttpRouteParams& params,
                                        HttpResponse* res) { Predict(req, params, verb, res); });
      }
    }
    router_.Add("GET", "/v1/models/{model}",
                [this](const HttpRequest&, const HttpRouteParams& params, HttpResponse* res) {
                  ModelStatus(params, res);
                });
    router_.Add("GET", "/v1/models/{model}/versions/{version}",
                [this](const HttpRequest&, const HttpRouteParams& params, HttpResponse* res) {
                  ModelStatus(params, res);
                });
    for (const char* path :
         {"/v1/models/{model}/metadata", "/v1/models/{model}/versions/{version}/metadata"}) {
      router_.Add("GET", path,
                  [this](const HttpRequest&, const HttpRouteParams& params, HttpResponse* res) {
                    Metadata(params, res);
                  });
    }
    router_.Add("GET", "/metrics",
                [this](const HttpRequest&, const HttpRouteParams&, HttpResponse* res) {
                  res->content_type = "text/plain; version=0.0.4";
                  res->body = served_.PrometheusText() + counters_.PrometheusText();
                  if (events_ != nullptr) {
                    absl::StrAppend(&res->body, ConnectionsText(events_->connection_stats()));
                  }
                });
    router_.Add(
        "GET", "/healthz",
        [](const HttpRequest&, const HttpRouteParams&, HttpResponse* res) { res->body = "ok\n"; },
        /*run_inline=*/true);
  }

  // Binds the listening socket; returns the port.
  absl::StatusOr<int> Bind() {
    HttpEventServerOptions o;
    o.host = options_.host;
    o.port = options_.port;
    o.io_threads = options_.io_threads;
    o.workers = options_.http_threads;
    o.max_connections = options_.max_connections;
    o.limits.max_header_count = options_.max_header_count;
    o.limits.max_header_bytes = options_.max_header_bytes;
    o.limits.max_body_bytes = options_.max_body_bytes;
    o.header_timeout_s = options_.header_timeout_s;
    o.body_timeout_s = options_.body_timeout_s;
    o.idle_timeout_s = options_.idle_timeout_s;
    o.trim_bytes = kTrimBytes;
    HttpEventServerHooks hooks;
    hooks.not_found = [](const HttpRequest& req, const HttpRouteParams&, HttpResponse* res) {
      SetError(
          404,
          absl::NotFoundError(absl::StrCat(
              "no route for ", req.method, " ", req.path,
              "; the routes are POST /v1/models/NAME[/versions/V]:(predict|classify|regress), GET "
              "/v1/models/NAME[/versions/V][/metadata], GET /metrics and GET /healthz")),
          "no_route", res);
    };
    hooks.error = [](int status, const std::string& reason, const std::string& message) {
      HttpResponse res;
      SetError(status, absl::Status(StatusCodeOfHttp(status), message), reason, &res);
      return res;
    };
    hooks.observe = [this](absl::string_view path, const HttpResponse& res) {
      counters_.Record(path, res);
      // Every error answer in rankopt_errors_total once: Score counted its own failures.
      if (res.status >= 400 && res.reason != kScoreReason) {
        served_.Current()->RecordRefused(StatusCodeOfHttp(res.status),
                                         res.reason.empty() ? "other" : res.reason);
      }
    };
    hooks.log = options_.log;
    absl::StatusOr<std::unique_ptr<HttpEventServer>> events =
        HttpEventServer::Create(o, &router_, std::move(hooks));
    if (!events.ok()) return events.status();
    events_ = *std::move(events);
    return events_->port();
  }

  void Start() { events_->Start(); }
  void Stop() { events_->Stop(); }
  bool done() const { return events_->done(); }

  const ServedModel& served() const { return served_; }
  const std::string& host() const { return options_.host; }

 private:
  void Predict(const HttpRequest& req, const HttpRouteParams& params, TfVerb verb,
               HttpResponse* res) {
    const bool large = req.body.size() >= kTrimBytes;
    PredictScratch& s = Scratch(false);
    absl::string_view body = req.body;
    const absl::Status decoded = DecodeContentEncoding(req.Header("Content-Encoding"),
                                                       options_.max_body_bytes, &body, &s.body);
    if (!decoded.ok()) {
      const bool too_big = decoded.code() == absl::StatusCode::kResourceExhausted;
      SetError(too_big                                              ? 413
               : decoded.code() == absl::StatusCode::kUnimplemented ? 415
                                                                    : 400,
               too_big ? BodyTooLarge() : decoded,
               too_big ? "body_too_large" : "bad_content_encoding", res);
      if (large || s.body.capacity() >= kTrimBytes) Scratch(true);
      return;
    }
    const std::shared_ptr<const Model> model = served_.Current();
    const bool tf = verb != TfVerb::kPredict || IsTfServingPredictBody(body);
    if (CheckModelSpec(params, *model, tf, res)) {
      if (tf) {
        TfInto(verb, body, *model, s, res);
      } else {
        PredictInto(req, body, *model, s, res);
      }
    }
    // After a large body, its parse (the Request's candidates) goes back to the system too.
    if (large || body.size() >= kTrimBytes) Scratch(true);
  }

  void PredictInto(const HttpRequest& req, absl::string_view body, const Model& model,
                   PredictScratch& s, HttpResponse* res) {
    absl::Status status = s.parser.Parse(body, &s.request);
    if (!status.ok()) {
      SetError(HttpStatusOf(status.code()), status, "bad_json", res);
      return;
    }
    s.options.heads.clear();
    if (const std::string* heads = req.Param("heads")) {
      for (absl::string_view head : absl::StrSplit(*heads, ',', absl::SkipEmpty())) {
        s.options.heads.emplace_back(head);
      }
    }
    status = model.ScoreInto(s.request, s.options, &s.scores);
    if (!status.ok()) {
      SetError(HttpStatusOf(status.code()), status, std::string(kScoreReason), res);
      return;
    }
    std::string& out = res->body;
    out.assign("{\"model\": ");
    AppendJsonString(model.name(), &out);
    out.append(", \"version\": ");
    AppendJsonString(model.version(), &out);
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
    res->content_type = "application/json";
  }

  // Whether the path's model (and version, if it names one) is the one served; else fills the
  // error TF Serving answers (404 "Servable not found ...", 400 for a version that is not a
  // number), in TF Serving's shape when `tf`.
  bool CheckModelSpec(const HttpRouteParams& params, const Model& model, bool tf,
                      HttpResponse* res) {
    const std::string name(params.Get("model"));
    const std::string version(params.Get("version"));
    auto fail = [&](int code, const absl::Status& status, const char* reason) {
      if (tf) {
        SetTfError(code, status, reason, res);
      } else {
        SetError(code, status, reason, res);
      }
      return false;
    };
    if (name != model.name()) {
      return fail(404,
                  absl::NotFoundError(absl::StrCat(
                      "Servable not found for request: ",
                      version.empty() ? absl::StrCat("Latest(", name, ")")
                                      : absl::StrCat("Specific(", name, ", ", version, ")"),
                      "; this server serves '", model.name(), "' version ", model.version())),
                  "unknown_model");
    }
    if (version.empty() || version == model.version()) return true;
    if (!IsTfServingVersion(version)) {
      return fail(400,
                  absl::InvalidArgumentError(
                      absl::StrCat("Failed to convert version: ", version, " to numeric.")),
                  "bad_version");
    }
    return fail(404,
                absl::NotFoundError(absl::StrCat("Servable not found for request: Specific(", name,
                                                 ", ", version, "); this server serves '",
                                                 model.name(), "' version ", model.version())),
                "unknown_version");
  }

  // A TF Serving :predict, :classify or :regress body, answered in its shapes.
  void TfInto(TfVerb verb, absl::string_view body, const Model& model, PredictScratch& s,
              HttpResponse* res) {
    absl::Status status =
        verb == TfVerb::kPredict
            ? ParseTfPredictRequest(body, model, &s.tf)
            : ParseTfExamplesRequest(body, model, verb == TfVerb::kRegress, &s.tf);
    if (!status.ok()) {
      const bool json = absl::StartsWith(status.message(), "the request body is not valid JSON") ||
                        absl::StartsWith(status.message(), "the request body must be");
      SetTfError(HttpStatusOf(status.code()), status, json ? "bad_json" : "tf_bad_request", res);
      return;
    }
    s.options.heads = s.tf.heads;
    status = model.ScoreInto(s.tf.request, s.options, &s.scores);
    if (!status.ok()) {
      SetTfError(HttpStatusOf(status.code()), status, std::string(kScoreReason), res);
      return;
    }
    res->content_type = "application/json";
    switch (verb) {
      case TfVerb::kPredict:
        res->body = TfPredictResponse(s.tf.format, s.scores);
        break;
      case TfVerb::kClassify:
        res->body = TfClassifyResponse(s.scores);
        break;
      case TfVerb::kRegress:
        res->body = TfRegressResponse(s.scores);
        break;
    }
  }

  void Metadata(const HttpRouteParams& params, HttpResponse* res) {
    const std::shared_ptr<const Model> model = served_.Current();
    if (!CheckModelSpec(params, *model, /*tf=*/true, res)) return;
    res->content_type = "application/json";
    res->body = TfModelMetadataResponse(*model);
  }

  // GET /v1/models/NAME: TF Serving's model_version_status after rankopt's own members (name,
  // version, heads). The versioned path answers TF Serving's alone.
  void ModelStatus(const HttpRouteParams& params, HttpResponse* res) {
    const std::shared_ptr<const Model> model = served_.Current();
    const bool versioned = !params.Get("version").empty();
    if (!CheckModelSpec(params, *model, /*tf=*/versioned, res)) return;
    res->content_type = "application/json";
    if (versioned) {
      res->body = TfModelStatusResponse(*model, "");
      return;
    }
    std::string out = "\"name\": ";
    AppendJsonString(model->name(), &out);
    out.append(", \"version\": ");
    AppendJsonString(model->version(), &out);
    out.append(", \"heads\": [");
    for (size_t h = 0; h < model->heads().size(); ++h) {
      if (h > 0) out.append(", ");
      AppendJsonString(model->heads()[h], &out);
    }
    out.append("]");
    res->body = TfModelStatusResponse(*model, out);
  }

  absl::Status BodyTooLarge() const {
    return absl::ResourceExhaustedError(
        absl::StrCat("the request body is over ", options_.max_body_bytes,
                     " bytes; split the candidates over several requests, or raise "
                     "--max-body-bytes"));
  }

  const ServeOptions options_;
  const ServedModel served_;
  HttpCounters counters_;
  HttpRouter router_;
  std::unique_ptr<HttpEventServer> events_;
};

absl::StatusOr<std::unique_ptr<HttpServer>> HttpServer::Create(const ServeOptions& options) {
  // A client that hangs up mid-response must not kill the server.
  signal(SIGPIPE, SIG_IGN);
  // Memory a large request took goes back to the system when it is freed: buffers of 1 MiB and
  // more are mapped on their own, and a free heap top over 8 MiB is trimmed. (glibc's defaults
  // raise both thresholds after the first large free, and malloc_trim does not shrink a worker
  // thread's heap top, so one 10^5-candidate request would stay resident.)
  mallopt(M_MMAP_THRESHOLD, 1 << 20);
  mallopt(M_TRIM_THRESHOLD, 8 << 20);
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

void HttpServer::Start() { impl_->Start(); }

void HttpServer::Stop() { impl_->Stop(); }

absl::StatusOr<int> HttpServer::WaitForStopSignal(const sigset_t& signals) {
  int signal_number = 0;
  const timespec tick = {0, 100 * 1000 * 1000};
  while (!impl_->done()) {
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
