// The HTTP front end over the serving API (rankopt/model_manager.h) that `rankopt serve` runs, for
// services that run rankopt as a sidecar instead of linking it: POST /v1/models/NAME:predict,
// GET /v1/models/NAME, GET /metrics, GET /healthz, errors as JSON with their HTTP status.
// Event-driven (http_event_server.h): I/O threads own the connections, `http_threads` workers
// parse and score, so idle, slow or pipelining clients never hold a scoring thread.
#ifndef RANKOPT_SERVING_HTTP_HTTP_SERVER_H_
#define RANKOPT_SERVING_HTTP_HTTP_SERVER_H_

#include <signal.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "rankopt/model.h"

namespace rankopt {

// What HttpServer serves and how; the defaults are those of `rankopt serve`.
struct ServeOptions {
  // A directory of versions (PATH/<version>/model.rkp, the newest that loads is served and a newer
  // one swapped in by the poll) or one package file (served as it is, without reload).
  std::string path;
  std::string host = "127.0.0.1";
  int port = 8500;       // 0 picks a free one (HttpServer::port() says which)
  int threads = 1;       // threads that score the candidate chunks of one request
  int http_threads = 1;  // requests parsed and scored at once (workers; connections hold none)
  int io_threads = 1;    // event loops that read and write the connections
  size_t max_connections = 1024;               // more are answered 503 and closed
  size_t max_header_count = 100;               // header lines of one request (431 over it)
  size_t max_header_bytes = size_t{64} << 10;  // request line + headers (431 over it)
  double header_timeout_s = 10;  // first byte of a request to the end of its headers (408)
  double body_timeout_s = 30;    // end of the headers to the end of the body (408)
  double idle_timeout_s = 60;    // a keep-alive connection with no request is closed
  double poll_s = 10;  // seconds between scans of a directory for a newer version; 0 = never
  size_t max_body_bytes = size_t{8} << 20;  // counted after decompression
  size_t user_cache_bytes = 0;              // ModelOptions::user_cache capacity; 0 = off
  size_t item_cache_bytes = 0;              // ModelOptions::item_cache capacity; 0 = off
  // Swap in a version of another model (name or output heads) instead of rejecting it
  // (ModelManagerOptions::allow_model_change).
  bool allow_model_change = false;
  RemoteTableOptions remote_tables;         // ModelOptions::remote_tables (--redis, --remote-*)
  // Where a directory's reload and load errors go, one line each (default: stderr).
  std::function<void(const std::string&)> log;
};

// An HTTP server over one served model. Create() loads and binds, Start() serves on a thread of
// its own, Stop() lets the requests in flight finish. port() and CurrentModel() are safe from any
// thread; Start(), Stop() and WaitForStopSignal() are for the thread that created it.
//   absl::StatusOr<std::unique_ptr<HttpServer>> server = HttpServer::Create(options);
//   if (!server.ok()) return server.status();
//   (*server)->Start();
//   ... GET http://127.0.0.1:<(*server)->port()>/healthz ...
//   (*server)->Stop();
class HttpServer {
 public:
  // Loads the model (or opens the version directory) and binds the listening socket; errors name
  // the path or the address. Also ignores SIGPIPE process-wide: a client that hangs up
  // mid-response must not kill the server. And sets glibc's M_MMAP_THRESHOLD (1 MiB) and
  // M_TRIM_THRESHOLD (8 MiB) process-wide, so that a large request's memory goes back to the
  // system once it is answered.
  static absl::StatusOr<std::unique_ptr<HttpServer>> Create(const ServeOptions& options);

  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;
  // Stops the server if it is serving.
  ~HttpServer();

  // The port listened on (the one picked when ServeOptions::port is 0).
  int port() const { return port_; }
  // The version being served now; never null.
  std::shared_ptr<const Model> CurrentModel() const;

  // Starts serving on its I/O threads and workers. Call once.
  void Start();
  // Stops accepting, closes idle connections and returns once the requests in flight have been
  // answered (at most 10 s). Safe to call more than once, and before Start().
  void Stop();

  // Blocks until one of `signals` arrives, then stops the server and returns the signal number;
  // or returns Unavailable when the listening socket fails first. REQUIRES: Start() was called,
  // and `signals` are blocked in every thread (StopSignalBlock in scope since before Create()).
  absl::StatusOr<int> WaitForStopSignal(const sigset_t& signals);

 private:
  class Impl;
  HttpServer(std::unique_ptr<Impl> impl, int port);

  std::unique_ptr<Impl> impl_;
  const int port_;
};

// Blocks SIGINT and SIGTERM in this thread and in the threads it starts while in scope, so that
// HttpServer::WaitForStopSignal can take them without a signal handler.
class StopSignalBlock {
 public:
  StopSignalBlock();
  ~StopSignalBlock();
  StopSignalBlock(const StopSignalBlock&) = delete;
  StopSignalBlock& operator=(const StopSignalBlock&) = delete;

  // SIGINT and SIGTERM.
  const sigset_t& signals() const { return signals_; }

 private:
  sigset_t signals_;
  sigset_t previous_;
};

// True for addresses only this machine reaches: 127.0.0.0/8, ::1 (also IPv4-mapped), localhost.
bool IsLoopbackHost(const std::string& host);

}  // namespace rankopt

#endif  // RANKOPT_SERVING_HTTP_HTTP_SERVER_H_
