// The event-driven HTTP/1.1 server under `rankopt serve` (serving/http/http_server.h puts the
// model's routes on it). A few I/O threads, each a libevent loop, own every socket: they read,
// frame requests with HttpRequestParser's limits, and write answers; connections never hold a
// worker. A whole request goes to a bounded pool of workers (one request in flight per
// connection, so the queue is bounded by the connection limit) and the answer is posted back to
// the connection's loop. Pipelined requests are parsed one after another, so answers leave in
// request order; a keep-alive pool is served in arrival order (the workers take requests FIFO).
//
// Limits: connections (over the limit: 503 and close), header lines and bytes (431, refused as
// soon as crossed), header time from a request's first byte (slowloris: 408), body bytes (413,
// before reading it when the length is declared), body time from the end of the head (408),
// idle time between requests (quiet close; the header time before the first), a stalled write
// (close). After a request or answer over `trim_bytes` the buffers are released and
// malloc_trim returns the memory to the system.
//
// Thread-safety: Create/Start/Stop from one thread; the hooks run on I/O and worker threads at
// once and must be thread-safe.
#ifndef RANKOPT_SERVING_HTTP_HTTP_EVENT_SERVER_H_
#define RANKOPT_SERVING_HTTP_HTTP_EVENT_SERVER_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "serving/http/http_message.h"
#include "serving/http/http_request_parser.h"
#include "serving/http/http_router.h"

namespace rankopt {

struct HttpEventServerOptions {
  std::string host = "127.0.0.1";
  int port = 0;        // 0 picks a free one
  int io_threads = 1;  // event loops
  int workers = 1;     // requests handled at once
  size_t max_connections = 1024;
  HttpParseLimits limits;
  double header_timeout_s = 10;         // from a request's first byte to the end of its head
  double body_timeout_s = 30;           // from the end of the head to the end of the body
  double idle_timeout_s = 60;           // between requests, and for a write that makes no progress
  size_t trim_bytes = size_t{1} << 20;  // a request or answer this large releases its buffers
};

struct HttpEventServerHooks {
  // Answers a path no route matches (runs on the event loop).
  HttpHandler not_found;
  // The response for a refusal of the server itself (limits, framing): status, metric reason and
  // message to the body.
  std::function<HttpResponse(int status, const std::string& reason, const std::string& message)>
      error;
  // Sees every response just before it is written; `path` is empty when none was parsed.
  std::function<void(absl::string_view path, const HttpResponse& response)> observe;
  // One line per event an operator should see (a failed listening socket).
  std::function<void(const std::string&)> log;
};

// Connection counters, for /metrics.
struct HttpConnectionStats {
  int64_t accepted = 0;   // connections taken (refused ones included)
  int64_t refused = 0;    // over max_connections
  int64_t open = 0;       // open now
  int64_t timed_out = 0;  // closed by the idle, header, body or write timeouts
};

class HttpEventServer {
 public:
  // Binds and listens (errors name the address); serves nothing until Start(). `router` must
  // outlive the server.
  static absl::StatusOr<std::unique_ptr<HttpEventServer>> Create(
      const HttpEventServerOptions& options, const HttpRouter* router, HttpEventServerHooks hooks);
  ~HttpEventServer();
  HttpEventServer(const HttpEventServer&) = delete;
  HttpEventServer& operator=(const HttpEventServer&) = delete;

  int port() const;
  // Starts the I/O threads and the workers. Call once.
  void Start();
  // Stops accepting, closes idle connections, lets the requests in flight be answered (at most
  // 10 s), then joins every thread. Safe to call more than once, and before Start().
  void Stop();
  // True once the loops have ended: after Stop(), or when the listening socket failed.
  bool done() const;
  HttpConnectionStats connection_stats() const;

  class Impl;

 private:
  explicit HttpEventServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace rankopt

#endif  // RANKOPT_SERVING_HTTP_HTTP_EVENT_SERVER_H_
