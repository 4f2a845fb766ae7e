// rankopt serve MODEL_DIR|PACKAGE [--port 8500] [--host 127.0.0.1] [--threads N]
//               [--http-threads N] [--poll-s 10] [--max-body-bytes BYTES] [--user-cache-mb MB]
//               [--item-cache-mb MB] [--io-threads N] [--max-connections N]
//               [--max-header-count N] [--max-header-bytes BYTES] [--header-timeout-s S]
//               [--body-timeout-s S] [--idle-timeout-s S] [--allow-model-change]
//
// Flags to ServeOptions, then the HTTP server of serving/http/http_server.h until SIGINT or
// SIGTERM.
#include <signal.h>

#include <algorithm>
#include <cstdint>
#include <iostream>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "rankopt/model.h"
#include "serving/http/http_server.h"
#include "tools/command_line.h"
#include "tools/commands.h"
#include "tools/remote_flags.h"

namespace rankopt {
namespace {

const CommandSpec& Spec() {
  static const CommandSpec spec = [] {
    CommandSpec s = {
      "serve",
      "rankopt serve MODEL_DIR|PACKAGE [--port 8500] [--host 127.0.0.1] [--threads N] "
      "[--http-threads N] [--poll-s 10] [--max-body-bytes BYTES] [--user-cache-mb MB] "
      "[--item-cache-mb MB] [--io-threads N] [--max-connections N] [--max-header-count N] "
      "[--max-header-bytes BYTES] [--header-timeout-s S] [--body-timeout-s S] "
      "[--idle-timeout-s S] [--allow-model-change] [--redis HOST:PORT,...] [--remote-timeout-ms MS] "
      "[--remote-on-failure fail|default_row] [--remote-cache-mb MB]",
      "Serves a model over HTTP, as a sidecar next to a ranking service:\n"
      "  POST /v1/models/NAME:predict  one JSON request {\"user\", \"context\",\n"
      "                                \"candidates\"} (the format `rankopt features` reads);\n"
      "                                answers {\"model\", \"version\", \"heads\": {HEAD:\n"
      "                                [scores]}}, one score per candidate; ?heads=a,b\n"
      "                                picks the heads\n"
      "  GET  /v1/models/NAME          the version being served and its heads\n"
      "  TF Serving's REST API too (README \"TF Serving REST API\"): :predict with\n"
      "  \"instances\"/\"inputs\", :classify, :regress, /versions/V, /metadata\n"
      "  GET  /metrics                 Prometheus text: requests, candidates, errors by code,\n"
      "                                latency, feature defaults, reloads, HTTP responses\n"
      "  GET  /healthz                 \"ok\"\n"
      "MODEL_DIR holds versions as MODEL_DIR/<version>/model.rkp (packages from `rankopt\n"
      "optimize`; <version> a number). The newest one that loads is served; a newer one\n"
      "found by the poll is loaded, warmed up and swapped in without dropping a request,\n"
      "and one that fails to load is logged to stderr and skipped while the old version\n"
      "keeps serving. A version of another model (another name or other output heads,\n"
      "e.g. an ESMM package in the DIN directory) is rejected the same way and counted in\n"
      "rankopt_model_identity_rejected_total, unless --allow-model-change. PACKAGE, a\n"
      "single .rkp file, is watched the same way: a file published over it (by rename) is\n"
      "verified and swapped in.\n"
      "Errors come back as {\"error\": MESSAGE, \"code\": \"INVALID_ARGUMENT\"} with\n"
      "HTTP 400 (a bad request), 404 (another model's name, an unknown path), 408 (headers\n"
      "or body slower than --header-timeout-s / --body-timeout-s), 413 (a body over\n"
      "--max-body-bytes), 429 (a request over the model's memory cap), 431 (headers over\n"
      "--max-header-count or --max-header-bytes), 503 (over --max-connections) or 500;\n"
      "/metrics counts each by code and reason (rankopt_errors_total).\n"
      "Connections are served by --io-threads event loops and never hold a scoring thread:\n"
      "--http-threads workers parse and score whole requests, keep-alive connections are\n"
      "served in arrival order and pipelined requests answered in order.\n"
      "The server has no authentication and no TLS: it listens on 127.0.0.1 unless --host\n"
      "names another address. On start it prints one line with its address (the port that\n"
      "--port 0 picked). SIGINT or SIGTERM stops it: idle connections close, requests in\n"
      "flight are answered (at most 10 s), then it exits 0.",
      {
          {"port", "", true, "PORT",
           "TCP port (default 8500; 0 picks a free one, printed on the start line)"},
          {"host", "", true, "ADDRESS",
           "address to listen on (default 127.0.0.1, this machine only; another address warns)"},
          {"threads", "", true, "N",
           "threads that score the candidate chunks of one request (default 1)"},
          {"http-threads", "", true, "N",
           "requests parsed and scored at once; connections hold none (default: the number "
           "of hardware threads)"},
          {"poll-s", "", true, "SECONDS",
           "how often MODEL_DIR is scanned for a newer version (default 10; 0 = never)"},
          {"max-body-bytes", "", true, "BYTES",
           "largest request body, counted after decompression (default 8388608)"},
          {"user-cache-mb", "", true, "MB",
           "user-side result cache per model version, in MiB (default 0 = off; scores "
           "unchanged)"},
          {"item-cache-mb", "", true, "MB",
           "item cache per model version, in MiB (default 0 = off; scores unchanged)"},
          {"io-threads", "", true, "N",
           "event loops that read and write the connections (default 1)"},
          {"max-connections", "", true, "N",
           "connections open at once; more are answered 503 and closed (default 1024)"},
          {"max-header-count", "", true, "N",
           "header lines of one request; more are refused with 431 (default 100)"},
          {"max-header-bytes", "", true, "BYTES",
           "request line and headers of one request; more are refused with 431 as soon as "
           "they arrive (default 65536)"},
          {"header-timeout-s", "", true, "SECONDS",
           "from a request's first byte to the end of its headers, else 408 (default 10)"},
          {"body-timeout-s", "", true, "SECONDS",
           "from the end of a request's headers to the end of its body, else 408 (default 30)"},
          {"idle-timeout-s", "", true, "SECONDS",
           "a keep-alive connection without a request, or a client not reading its answer, "
           "is closed after this (default 60)"},
          {"allow-model-change", "", false, "",
           "swap in a new version even when it is another model (another name or other output "
           "heads); by default such a version is rejected, logged and counted"},
      }};
    for (FlagSpec& f : RemoteTableFlagSpecs()) s.flags.push_back(std::move(f));
    return s;
  }();
  return spec;
}


absl::StatusOr<ServeOptions> ReadServeFlags(const CommandLine& line) {
  ServeOptions v;
  v.path = line.positional()[0];
  v.host = line.Get("host", v.host);
  if (v.host.empty()) {
    return absl::InvalidArgumentError("--host is empty; e.g. --host 127.0.0.1 or --host ::1");
  }
  const int64_t cpus = std::max(1u, std::thread::hardware_concurrency());
  absl::StatusOr<int64_t> port = line.GetInt("port", v.port, 0, 65535);
  absl::StatusOr<int64_t> threads = line.GetInt("threads", v.threads, 1, 1024);
  absl::StatusOr<int64_t> http_threads = line.GetInt("http-threads", cpus, 1, 4096);
  absl::StatusOr<int64_t> max_body =
      line.GetInt("max-body-bytes", static_cast<int64_t>(v.max_body_bytes), 1, int64_t{1} << 40);
  absl::StatusOr<int64_t> user_cache_mb = line.GetInt("user-cache-mb", 0, 0, int64_t{1} << 20);
  absl::StatusOr<int64_t> item_cache_mb = line.GetInt("item-cache-mb", 0, 0, int64_t{1} << 20);
  absl::StatusOr<int64_t> io_threads = line.GetInt("io-threads", v.io_threads, 1, 64);
  absl::StatusOr<int64_t> max_connections =
      line.GetInt("max-connections", static_cast<int64_t>(v.max_connections), 1, 1 << 20);
  absl::StatusOr<int64_t> max_header_count =
      line.GetInt("max-header-count", static_cast<int64_t>(v.max_header_count), 1, 1 << 16);
  absl::StatusOr<int64_t> max_header_bytes =
      line.GetInt("max-header-bytes", static_cast<int64_t>(v.max_header_bytes), 256, 1 << 24);
  for (const absl::Status& s :
       {port.status(), threads.status(), http_threads.status(), max_body.status(),
        user_cache_mb.status(), item_cache_mb.status(), io_threads.status(),
        max_connections.status(), max_header_count.status(), max_header_bytes.status()}) {
    if (!s.ok()) return s;
  }
  v.io_threads = static_cast<int>(*io_threads);
  v.max_connections = static_cast<size_t>(*max_connections);
  v.max_header_count = static_cast<size_t>(*max_header_count);
  v.max_header_bytes = static_cast<size_t>(*max_header_bytes);
  for (auto [flag, value] : {std::pair{"header-timeout-s", &v.header_timeout_s},
                             std::pair{"body-timeout-s", &v.body_timeout_s},
                             std::pair{"idle-timeout-s", &v.idle_timeout_s}}) {
    if (!line.Has(flag)) continue;
    if (!absl::SimpleAtod(line.Get(flag), value) || !(*value > 0) || *value > 86400) {
      return absl::InvalidArgumentError(absl::StrCat("--", flag, ": '", line.Get(flag),
                                                     "' is not a number of seconds in (0, 86400]"));
    }
  }
  absl::StatusOr<RemoteTableOptions> remote = ReadRemoteTableFlags(line);
  if (!remote.ok()) return remote.status();
  v.remote_tables = *std::move(remote);
  v.user_cache_bytes = static_cast<size_t>(*user_cache_mb) << 20;
  v.item_cache_bytes = static_cast<size_t>(*item_cache_mb) << 20;
  v.port = static_cast<int>(*port);
  v.threads = static_cast<int>(*threads);
  v.http_threads = static_cast<int>(*http_threads);
  v.max_body_bytes = static_cast<size_t>(*max_body);
  v.allow_model_change = line.Has("allow-model-change");
  if (line.Has("poll-s")) {
    if (!absl::SimpleAtod(line.Get("poll-s"), &v.poll_s) || !(v.poll_s >= 0) || v.poll_s > 86400) {
      return absl::InvalidArgumentError(absl::StrCat("--poll-s: '", line.Get("poll-s"),
                                                     "' is not a number of seconds in [0, 86400]"));
    }
  }
  return v;
}

std::string UrlHost(const std::string& host) {
  return host.find(':') != std::string::npos ? absl::StrCat("[", host, "]") : host;
}

}  // namespace

int RunServe(const std::vector<std::string>& args) {
  CommandLine line;
  int exit_code;
  if (!OpenCommand(Spec(), args, &line, &exit_code)) return exit_code;
  if (line.positional().size() != 1) {
    return UsageError(Spec(), "one MODEL_DIR or PACKAGE is required");
  }
  absl::StatusOr<ServeOptions> options = ReadServeFlags(line);
  if (!options.ok()) {
    ReportError("serve", options.status());
    return kExitUsage;
  }
  options->log = [](const std::string& log_line) {
    std::cerr << "rankopt serve: " << log_line << "\n";
  };

  // SIGINT and SIGTERM are blocked in every thread (the server's threads inherit the mask) and
  // taken by this one, so no signal handler has to stop the server.
  const StopSignalBlock blocked;
  absl::StatusOr<std::unique_ptr<HttpServer>> server = HttpServer::Create(*options);
  if (!server.ok()) return ReportError("serve", server.status());

  if (!IsLoopbackHost(options->host)) {
    std::cerr << "rankopt serve: warning: listening on " << options->host
              << ", which other machines may reach; the server has no authentication and no "
                 "TLS, so anyone who reaches it can score and read its metrics\n";
  }
  const std::shared_ptr<const Model> model = (*server)->CurrentModel();
  std::cout << "serving " << model->name() << " version " << model->version() << " on http://"
            << UrlHost(options->host) << ":" << (*server)->port() << " (POST /v1/models/"
            << model->name() << ":predict, GET /metrics)" << std::endl;

  (*server)->Start();
  absl::StatusOr<int> signal_number = (*server)->WaitForStopSignal(blocked.signals());
  if (!signal_number.ok()) return ReportError("serve", signal_number.status());
  std::cerr << "rankopt serve: stopped on " << (*signal_number == SIGINT ? "SIGINT" : "SIGTERM")
            << "\n";
  return kExitOk;
}

}  // namespace rankopt
