// The request and response of the HTTP front end (serving/http), as the event loop hands them to
// route handlers and takes them back. Plain values: no sockets, no threads.
#ifndef RANKOPT_SERVING_HTTP_HTTP_MESSAGE_H_
#define RANKOPT_SERVING_HTTP_HTTP_MESSAGE_H_

#include <string>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"

namespace rankopt {

// One parsed HTTP/1.x request. Header names keep their case; Header() compares without it.
struct HttpRequest {
  std::string method;  // "GET", "POST", ...
  std::string target;  // as sent: "/v1/models/din:predict?heads=a%2Cb"
  std::string path;    // percent-decoded, without the query: "/v1/models/din:predict"
  std::vector<std::pair<std::string, std::string>> query;    // decoded name=value pairs
  std::vector<std::pair<std::string, std::string>> headers;  // in arrival order
  std::string body;        // decoded from chunked framing; not yet from Content-Encoding
  int minor_version = 1;   // HTTP/1.<minor_version>
  bool keep_alive = true;  // false for "Connection: close" and HTTP/1.0 without keep-alive

  // The first header named `name` (case-insensitive); empty when absent.
  absl::string_view Header(absl::string_view name) const;
  // The first query parameter named `name`; nullptr when absent.
  const std::string* Param(absl::string_view name) const;
};

// One response. `reason` labels an error (status >= 400) in rankopt_errors_total.
struct HttpResponse {
  int status = 200;
  std::string content_type = "text/plain";
  std::string body;
  std::string reason;
  bool close = false;  // close the connection after this response
};

// The standard reason phrase of an HTTP status ("Not Found"); "Unknown" for others.
absl::string_view HttpStatusText(int status);

// Decodes %XX escapes (and '+' as a space when `plus_is_space`); false on a malformed escape.
bool PercentDecode(absl::string_view in, bool plus_is_space, std::string* out);

}  // namespace rankopt

#endif  // RANKOPT_SERVING_HTTP_HTTP_MESSAGE_H_
