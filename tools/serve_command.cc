// rankopt serve MODEL_DIR|PACKAGE [--port 8500] [--host 127.0.0.1] [--threads N]
//               [--http-threads N] [--poll-s 10] [--max-body-bytes BYTES] [--user-cache-mb MB]
//               [--item-cache-mb MB]
//
// An HTTP front end over the serving library (serving/model_manager.h), for services that run
// rankopt as a sidecar instead of linking it. cpp-httplib (Debian's libcpp-httplib-dev) is
// included here and nowhere else.
#include <arpa/inet.h>
#include <httplib.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <memory>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "features/request/request.h"
#include "features/request/request_json.h"
#include "serving/model.h"
#include "serving/model_manager.h"
#include "serving/model_stats.h"
#include "tools/command_line.h"
#include "tools/commands.h"

namespace rankopt {
namespace {

constexpr int kDefaultPort = 8500;
constexpr char kDefaultHost[] = "127.0.0.1";
constexpr double kDefaultPollSeconds = 10;
constexpr int64_t kDefaultMaxBodyBytes = int64_t{8} << 20;

const std::vector<FlagSpec>& ServeFlags() {
  static const std::vector<FlagSpec> flags = {
      {"port", "", true, "PORT",
       "TCP port (default 8500; 0 picks a free one, printed on the start line)"},
      {"host", "", true, "ADDRESS",
       "address to listen on (default 127.0.0.1, this machine only; another address warns)"},
      {"threads", "", true, "N",
       "threads that score the candidate chunks of one request (default 1)"},
      {"http-threads", "", true, "N",
       "connections served at once (default: the number of hardware threads)"},
      {"poll-s", "", true, "SECONDS",
       "how often MODEL_DIR is scanned for a newer version (default 10; 0 = never)"},
      {"max-body-bytes", "", true, "BYTES",
       "largest request body, counted after decompression (default 8388608)"},
      {"user-cache-mb", "", true, "MB",
       "user-side result cache per model version, in MiB (default 0 = off; scores unchanged)"},
      {"item-cache-mb", "", true, "MB",
       "item cache per model version, in MiB (default 0 = off; scores unchanged)"},
      {"help", "h", false, "", "show this help"},
  };
  return flags;
}

constexpr char kUsage[] =
    "usage: rankopt serve MODEL_DIR|PACKAGE [--port 8500] [--host 127.0.0.1] [--threads N] "
    "[--http-threads N] [--poll-s 10] [--max-body-bytes BYTES] [--user-cache-mb MB] "
    "[--item-cache-mb MB]";

void PrintHelp() {
  std::cout
      << kUsage
      << "\n\nServes a model over HTTP, as a sidecar next to a ranking service:\n"
         "  POST /v1/models/NAME:predict  one JSON request {\"user\", \"context\",\n"
         "                                \"candidates\"} (the format `rankopt features` reads);\n"
         "                                answers {\"model\", \"version\", \"heads\": {HEAD:\n"
         "                                [scores]}}, one score per candidate; ?heads=a,b\n"
         "                                picks the heads\n"
         "  GET  /v1/models/NAME          the version being served and its heads\n"
         "  GET  /metrics                 Prometheus text: requests, candidates, errors by code,\n"
         "                                latency, feature defaults, reloads, HTTP responses\n"
         "  GET  /healthz                 \"ok\"\n"
         "MODEL_DIR holds versions as MODEL_DIR/<version>/model.rkp (packages from `rankopt\n"
         "optimize`; <version> a number). The newest one that loads is served; a newer one\n"
         "found by the poll is loaded, warmed up and swapped in without dropping a request,\n"
         "and one that fails to load is logged to stderr and skipped while the old version\n"
         "keeps serving. PACKAGE, a single .rkp file, is served as it is, without reload\n"
         "(--poll-s does not apply).\n"
         "Errors come back as {\"error\": MESSAGE, \"code\": \"INVALID_ARGUMENT\"} with\n"
         "HTTP 400 (a bad request), 404 (another model's name, an unknown path), 413 (a body\n"
         "over --max-body-bytes), 429 (a request over the model's memory cap) or 500.\n"
         "The server has no authentication and no TLS: it listens on 127.0.0.1 unless --host\n"
         "names another address. On start it prints one line with its address (the port that\n"
         "--port 0 picked). SIGINT or SIGTERM stops it: requests in flight finish (an idle\n"
         "keep-alive connection closes within 5 s), then it exits 0.\n\n"
         "flags:\n"
      << FormatFlagHelp(ServeFlags());
}

struct ServeFlagValues {
  std::string path;
  std::string host = kDefaultHost;
  int port = kDefaultPort;
  int threads = 1;
  int http_threads = 1;
  double poll_s = kDefaultPollSeconds;
  size_t max_body_bytes = kDefaultMaxBodyBytes;
  size_t user_cache_bytes = 0;
  size_t item_cache_bytes = 0;
};

absl::StatusOr<int64_t> IntFlag(const CommandLine& line, const char* flag, int64_t fallback,
                                int64_t min, int64_t max) {
  if (!line.Has(flag)) return fallback;
  int64_t v = 0;
  if (!absl::SimpleAtoi(line.Get(flag), &v) || v < min || v > max) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--", flag, ": '", line.Get(flag), "' is not an integer in [", min, ", ", max, "]"));
  }
  return v;
}

absl::StatusOr<ServeFlagValues> ReadServeFlags(const CommandLine& line) {
  ServeFlagValues v;
  v.path = line.positional()[0];
  v.host = line.Get("host", kDefaultHost);
  if (v.host.empty()) {
    return absl::InvalidArgumentError("--host is empty; e.g. --host 127.0.0.1 or --host ::1");
  }
  const int64_t cpus = std::max(1u, std::thread::hardware_concurrency());
  absl::StatusOr<int64_t> port = IntFlag(line, "port", kDefaultPort, 0, 65535);
  absl::StatusOr<int64_t> threads = IntFlag(line, "threads", 1, 1, 1024);
  absl::StatusOr<int64_t> http_threads = IntFlag(line, "http-threads", cpus, 1, 4096);
  absl::StatusOr<int64_t> max_body =
      IntFlag(line, "max-body-bytes", kDefaultMaxBodyBytes, 1, int64_t{1} << 40);
  absl::StatusOr<int64_t> user_cache_mb = IntFlag(line, "user-cache-mb", 0, 0, int64_t{1} << 20);
  absl::StatusOr<int64_t> item_cache_mb = IntFlag(line, "item-cache-mb", 0, 0, int64_t{1} << 20);
  for (const absl::Status& s : {port.status(), threads.status(), http_threads.status(),
                                max_body.status(), user_cache_mb.status(),
                                item_cache_mb.status()}) {
    if (!s.ok()) return s;
  }
  v.user_cache_bytes = static_cast<size_t>(*user_cache_mb) << 20;
  v.item_cache_bytes = static_cast<size_t>(*item_cache_mb) << 20;
  v.port = static_cast<int>(*port);
  v.threads = static_cast<int>(*threads);
  v.http_threads = static_cast<int>(*http_threads);
  v.max_body_bytes = static_cast<size_t>(*max_body);
  if (line.Has("poll-s")) {
    if (!absl::SimpleAtod(line.Get("poll-s"), &v.poll_s) || !(v.poll_s >= 0) || v.poll_s > 86400) {
      return absl::InvalidArgumentError(absl::StrCat("--poll-s: '", line.Get("poll-s"),
                                                     "' is not a number of seconds in [0, 86400]"));
    }
  }
  return v;
}

// True for addresses only this machine reaches: 127.0.0.0/8, ::1 (also IPv4-mapped), localhost.
bool IsLoopback(const std::string& host) {
  if (host == "localhost") return true;
  in_addr v4;
  if (inet_pton(AF_INET, host.c_str(), &v4) == 1) return (ntohl(v4.s_addr) >> 24) == 127;
  in6_addr v6;
  if (inet_pton(AF_INET6, host.c_str(), &v6) == 1) {
    return IN6_IS_ADDR_LOOPBACK(&v6) || (IN6_IS_ADDR_V4MAPPED(&v6) && v6.s6_addr[12] == 127);
  }
  return false;
}

// The served model: the current version of a ModelManager directory, or one fixed package.
class ServedModel {
 public:
  static absl::StatusOr<ServedModel> Open(const ServeFlagValues& flags) {
    ModelOptions model_options;
    model_options.threads = flags.threads;
    model_options.user_cache.capacity_bytes = flags.user_cache_bytes;
    model_options.item_cache.capacity_bytes = flags.item_cache_bytes;
    ServedModel served;
    std::error_code ec;
    if (std::filesystem::is_regular_file(flags.path, ec)) {
      absl::StatusOr<std::shared_ptr<const Model>> model = Model::Load(flags.path, model_options);
      if (!model.ok()) return model.status();
      served.fixed_ = *std::move(model);
      return served;
    }
    ModelManagerOptions options;
    options.model = model_options;
    options.poll_interval_s = flags.poll_s;
    options.log = [](const std::string& line) { std::cerr << "rankopt serve: " << line << "\n"; };
    absl::StatusOr<std::unique_ptr<ModelManager>> manager =
        ModelManager::Create(flags.path, std::move(options));
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

class Server {
 public:
  Server(const ServeFlagValues& flags, ServedModel served)
      : flags_(flags), served_(std::move(served)) {
    const size_t threads = static_cast<size_t>(flags.http_threads);
    http_.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
    http_.set_payload_max_length(flags.max_body_bytes);
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
    const int port = flags_.port == 0
                         ? http_.bind_to_any_port(flags_.host)
                         : (http_.bind_to_port(flags_.host, flags_.port) ? flags_.port : -1);
    if (port < 0) {
      return absl::UnavailableError(absl::StrCat(
          "cannot listen on ", flags_.host, " port ", flags_.port,
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

 private:
  void Predict(const httplib::Request& req, httplib::Response& res,
               const httplib::ContentReader& reader) {
    PredictScratch& s = Scratch();
    s.body.clear();
    bool too_big = false;
    const bool read = reader([&](const char* data, size_t size) {
      if (size > flags_.max_body_bytes - s.body.size()) {
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
        absl::StrCat("the request body is over ", flags_.max_body_bytes,
                     " bytes; split the candidates over several requests, or raise "
                     "--max-body-bytes"));
  }

  static absl::Status UnknownModel(const std::string& name, const Model& model) {
    return absl::NotFoundError(absl::StrCat("no model named '", name, "'; this server serves '",
                                            model.name(), "' (POST /v1/models/", model.name(),
                                            ":predict)"));
  }

  const ServeFlagValues flags_;
  const ServedModel served_;
  HttpCounters counters_;
  httplib::Server http_;
};

// Blocks SIGINT and SIGTERM in this thread and in the threads it starts while in scope.
class BlockStopSignals {
 public:
  BlockStopSignals() {
    sigemptyset(&signals_);
    sigaddset(&signals_, SIGINT);
    sigaddset(&signals_, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &signals_, &previous_);
  }
  ~BlockStopSignals() { pthread_sigmask(SIG_SETMASK, &previous_, nullptr); }
  BlockStopSignals(const BlockStopSignals&) = delete;
  BlockStopSignals& operator=(const BlockStopSignals&) = delete;

  const sigset_t& signals() const { return signals_; }

 private:
  sigset_t signals_;
  sigset_t previous_;
};

std::string UrlHost(const std::string& host) {
  return host.find(':') != std::string::npos ? absl::StrCat("[", host, "]") : host;
}

}  // namespace

int RunServe(const std::vector<std::string>& args) {
  absl::StatusOr<CommandLine> line = CommandLine::Parse(args, ServeFlags());
  if (!line.ok()) {
    ReportError("serve", line.status());
    return kExitUsage;
  }
  if (line->Has("help")) {
    PrintHelp();
    return kExitOk;
  }
  if (line->positional().size() != 1) {
    std::cerr << kUsage << "  (one MODEL_DIR or PACKAGE is required)\n";
    return kExitUsage;
  }
  absl::StatusOr<ServeFlagValues> flags = ReadServeFlags(*line);
  if (!flags.ok()) {
    ReportError("serve", flags.status());
    return kExitUsage;
  }

  // SIGINT and SIGTERM are blocked in every thread (the threads started below inherit the mask)
  // and taken by this one with sigtimedwait, so no signal handler has to stop the server.
  const BlockStopSignals blocked;
  // A client that hangs up mid-response must not kill the server.
  signal(SIGPIPE, SIG_IGN);

  absl::StatusOr<ServedModel> served = ServedModel::Open(*flags);
  if (!served.ok()) return ReportError("serve", served.status());
  Server server(*flags, *std::move(served));
  absl::StatusOr<int> port = server.Bind();
  if (!port.ok()) return ReportError("serve", port.status());

  if (!IsLoopback(flags->host)) {
    std::cerr << "rankopt serve: warning: listening on " << flags->host
              << ", which other machines may reach; the server has no authentication and no "
                 "TLS, so anyone who reaches it can score and read its metrics\n";
  }
  const std::shared_ptr<const Model> model = server.served().Current();
  std::cout << "serving " << model->name() << " version " << model->version() << " on http://"
            << UrlHost(flags->host) << ":" << *port << " (POST /v1/models/" << model->name()
            << ":predict, GET /metrics)" << std::endl;

  std::atomic<bool> listen_done{false};
  std::thread listener([&] {
    server.Listen();
    listen_done.store(true);
  });
  int signal_number = 0;
  const timespec tick = {0, 100 * 1000 * 1000};
  while (!listen_done.load()) {
    const int s = sigtimedwait(&blocked.signals(), nullptr, &tick);
    if (s > 0) {
      signal_number = s;
      break;
    }
  }
  if (signal_number != 0) {
    // Stop() only acts on a running server: wait out a signal that came before Listen() began.
    while (!server.running() && !listen_done.load()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    if (!listen_done.load()) server.Stop();
  }
  listener.join();
  if (signal_number == 0) {
    return ReportError(
        "serve", absl::UnavailableError(absl::StrCat("the listening socket on ", flags->host, ":",
                                                     *port, " failed; the server stopped")));
  }
  std::cerr << "rankopt serve: stopped on " << (signal_number == SIGINT ? "SIGINT" : "SIGTERM")
            << "\n";
  return kExitOk;
}

}  // namespace rankopt
