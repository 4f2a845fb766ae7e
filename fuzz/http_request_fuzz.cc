// Fuzzes the HTTP front end's untrusted bytes without sockets: the request framing
// (HttpRequestParser, fed the input in pieces whose size the first byte picks, request after
// pipelined request, as a connection feeds it), the router over the parsed paths, and the
// gzip/deflate body decoding. Checks the limits hold: no request passes with more header lines,
// head bytes or body bytes than allowed, and every consumed count stays inside the input.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "absl/strings/string_view.h"
#include "serving/http/content_encoding.h"
#include "serving/http/http_request_parser.h"
#include "serving/http/http_router.h"

namespace {

void Check(bool ok) {
  if (!ok) std::abort();
}

const rankopt::HttpRouter& Router() {
  static const rankopt::HttpRouter* router = [] {
    auto* r = new rankopt::HttpRouter;
    const rankopt::HttpHandler none =
        [](const rankopt::HttpRequest&, const rankopt::HttpRouteParams&, rankopt::HttpResponse*) {};
    r->Add("POST", "/v1/models/{model}:predict", none);
    r->Add("GET", "/v1/models/{model}", none);
    r->Add("GET", "/v1/models/{model}/versions/{version}", none);
    r->Add("GET", "/healthz", none, true);
    return r;
  }();
  return *router;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const size_t step = 1 + data[0] % 64;
  const absl::string_view input(reinterpret_cast<const char*>(data) + 1, size - 1);
  rankopt::HttpParseLimits limits;
  limits.max_header_count = 8;
  limits.max_header_bytes = 512;
  limits.max_body_bytes = 1024;
  rankopt::HttpRequestParser parser(limits);
  std::string buffer;
  std::string decoded;
  size_t at = 0;
  int requests = 0;
  while (requests < 64) {
    size_t consumed = 0;
    const rankopt::HttpRequestParser::Result r = parser.Parse(buffer, &consumed);
    Check(consumed <= buffer.size());
    buffer.erase(0, consumed);
    if (r == rankopt::HttpRequestParser::Result::kError) {
      Check(parser.error().status >= 400 && parser.error().status < 600);
      Check(!parser.error().reason.empty());
      break;
    }
    if (r == rankopt::HttpRequestParser::Result::kDone) {
      const rankopt::HttpRequest& req = parser.request();
      Check(req.headers.size() <= limits.max_header_count);
      Check(req.body.size() <= limits.max_body_bytes);
      Check(!req.path.empty() && req.path[0] == '/');
      rankopt::HttpRouteParams params;
      const rankopt::HttpRoute* route = Router().Match(req.method, req.path, &params);
      if (route != nullptr) Check(route->method == req.method);
      absl::string_view body = req.body;
      (void)rankopt::DecodeContentEncoding(req.Header("Content-Encoding"), 4096, &body, &decoded);
      Check(decoded.size() <= 4096);
      parser.Reset();
      ++requests;
      continue;
    }
    Check(buffer.size() <= limits.max_header_bytes + 1024 + step);
    if (at >= input.size()) break;
    const size_t n = std::min(step, input.size() - at);
    buffer.append(input.data() + at, n);
    at += n;
  }
  return 0;
}
