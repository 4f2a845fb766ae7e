// Routes of the HTTP front end: method + path pattern -> handler. The event loop (http_server.cc)
// only calls Match() and runs what it returns, so a route (TF Serving's REST API:
// /v1/models/{model}/versions/{version}:predict, /v1/models/{model}/metadata, ...) is added here
// and in the server's route table without touching the loop.
//
// Patterns are '/'-separated segments: a literal ("metrics"), a capture ("{model}": one or more
// characters, no ':'), or a capture with a verb ("{model}:predict": the segment "din:predict"
// captures "din").
//   HttpRouter router;
//   router.Add("POST", "/v1/models/{model}:predict", handler);
//   HttpRouteParams params;
//   const HttpRoute* route = router.Match("POST", "/v1/models/din:predict", &params);
//   // route->handler, params.Get("model") == "din"
//
// Thread-safety: Add() before the server starts; Match() is then safe from any thread.
#ifndef RANKOPT_SERVING_HTTP_HTTP_ROUTER_H_
#define RANKOPT_SERVING_HTTP_HTTP_ROUTER_H_

#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"
#include "serving/http/http_message.h"

namespace rankopt {

// The captures of a matched pattern, by name.
class HttpRouteParams {
 public:
  // The capture named `name`; empty when the pattern has none.
  absl::string_view Get(absl::string_view name) const;
  void Clear() { values_.clear(); }
  void Set(std::string name, std::string value) {
    values_.emplace_back(std::move(name), std::move(value));
  }

 private:
  std::vector<std::pair<std::string, std::string>> values_;
};

// Fills `response` for `request`. Runs on a worker thread (or on the event loop for an inline
// route); must not block on the network.
using HttpHandler = std::function<void(const HttpRequest& request, const HttpRouteParams& params,
                                       HttpResponse* response)>;

struct HttpRoute {
  std::string method;
  std::string pattern;
  HttpHandler handler;
  // Cheap and never blocking (e.g. /healthz): run on the event loop, so it answers even while
  // every worker is scoring.
  bool run_inline = false;
};

class HttpRouter {
 public:
  // Adds a route; earlier routes win when two match.
  void Add(std::string method, std::string pattern, HttpHandler handler, bool run_inline = false);

  // The route for `method` and the decoded `path`, with its captures; nullptr when none matches.
  const HttpRoute* Match(absl::string_view method, absl::string_view path,
                         HttpRouteParams* params) const;

 private:
  std::vector<HttpRoute> routes_;
};

}  // namespace rankopt

#endif  // RANKOPT_SERVING_HTTP_HTTP_ROUTER_H_
