// An incremental HTTP/1.x request parser with limits, for the event loop of serving/http: fed the
// bytes of a connection as they arrive, it refuses a request as soon as a limit is crossed (a
// header block over its byte or line budget is refused before its end arrives, a body over its
// budget before it is read), so a connection never buffers more than the limits allow.
//
//   HttpRequestParser parser(limits);
//   size_t consumed = 0;
//   switch (parser.Parse(input, &consumed)) { ... }   // then erase `consumed` bytes of input
//
// Thread-compatible: one parser per connection.
#ifndef RANKOPT_SERVING_HTTP_HTTP_REQUEST_PARSER_H_
#define RANKOPT_SERVING_HTTP_HTTP_REQUEST_PARSER_H_

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"
#include "serving/http/http_message.h"

namespace rankopt {

struct HttpParseLimits {
  size_t max_header_count = 100;               // header lines of one request (trailers included)
  size_t max_header_bytes = size_t{64} << 10;  // request line + headers (and chunk trailers)
  size_t max_body_bytes = size_t{8} << 20;     // the body as framed (before Content-Encoding)
};

// Why a request was refused: its HTTP status, a metric label and a message for the client.
struct HttpParseError {
  int status = 400;
  std::string reason;   // "header_too_large", "too_many_headers", "body_too_large", ...
  std::string message;  // names what was wrong and the limit or form expected
};

class HttpRequestParser {
 public:
  enum class Result {
    kNeedMore,  // everything given was consumed or must be kept; call again with more bytes
    kDone,      // request() holds a whole request; call Reset() before the next one
    kError,     // error() says why; the connection cannot carry another request
  };

  explicit HttpRequestParser(const HttpParseLimits& limits) : limits_(limits) {}

  // Parses from the start of `input` (the connection's unconsumed bytes). Sets *consumed to the
  // bytes of `input` the caller must drop before the next call (the head stays until whole;
  // body bytes are taken as they come).
  Result Parse(absl::string_view input, size_t* consumed);

  // True once the request line has begun (some byte of a request arrived).
  bool started() const { return started_; }
  // True once the header block is whole (the body may still be arriving).
  bool head_done() const { return state_ != State::kHead; }
  // True when the head asked for "Expect: 100-continue" and the body is not yet read.
  bool expects_continue() const { return expects_continue_; }

  HttpRequest& request() { return request_; }
  const HttpParseError& error() const { return error_; }

  // Forgets the request (keeping no buffer over `keep_capacity` bytes) for the next one.
  void Reset(size_t keep_capacity = size_t{1} << 20);

 private:
  enum class State { kHead, kLengthBody, kChunkSize, kChunkData, kChunkDataEnd, kTrailers };

  Result Fail(int status, std::string reason, std::string message);
  Result ParseHead(absl::string_view head);

  HttpParseLimits limits_;
  State state_ = State::kHead;
  HttpRequest request_;
  HttpParseError error_;
  bool started_ = false;
  bool expects_continue_ = false;
  size_t scanned_ = 0;      // head bytes already searched for its end
  size_t lines_ = 0;        // line ends among them
  uint64_t remaining_ = 0;  // body or chunk bytes still to come
  size_t trailer_bytes_ = 0;
  size_t trailer_lines_ = 0;
};

}  // namespace rankopt

#endif  // RANKOPT_SERVING_HTTP_HTTP_REQUEST_PARSER_H_
