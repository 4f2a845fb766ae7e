// The JSON form of a Request, for the command line, tests and HTTP front ends:
//
//   {"user": {"user_id": 472, "hist_item_ids": [738, 122]},
//    "context": {"hour_of_day": 12},
//    "candidates": [{"item_id": 980, "price": 12.5}, {"item_id": "sku-17"}]}
//
// Sections are optional (absent or null = empty); any other top-level key is an error. Values:
//   integer        -> int64_t. Integers outside int64 range are an error, never rounded to a
//                     double (ids that large would silently collide): send them as strings.
//   float          -> double ("1.0" and "1e3" are floats, "1" is an integer).
//   string         -> std::string (JSON is UTF-8 by definition, so a request with invalid
//                     UTF-8 is rejected with its byte offset; binary ids go through the C++
//                     Request, which hashes arbitrary bytes).
//   array          -> one kind only: all integers -> int list; integers and floats mixed ->
//                     float list; all strings -> string list; [] -> empty int list.
//   null           -> missing (std::monostate): the config's default applies.
//   true/false, nested objects, arrays of arrays, nulls inside arrays, duplicate names -> error.
// A section or candidate written {"b64": "..."} (its only key; TF Serving's binary form) is a
// serialized tf.Example in base64. A candidate's bytes go to Request::candidate_examples (its row
// stays empty; the feature pipeline decodes them, and reports a malformed one at Score as
// "candidates[i]: malformed tf.Example: ..."); the user's or context's features become that row
// (features/request/tf_example.h).
// Errors name the place ("candidates[3].price") and what was expected; the JSON-lines readers
// prefix "SOURCE:LINE: ".
//
// Thread-safety: RequestJsonParser is not thread-safe (it reuses its buffers); use one per
// thread. The free functions are thread-safe.
#ifndef RANKOPT_INCLUDE_RANKOPT_REQUEST_JSON_H_
#define RANKOPT_INCLUDE_RANKOPT_REQUEST_JSON_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "rankopt/request.h"

namespace rankopt {

// Parses JSON requests, reusing its parse buffers across calls.
class RequestJsonParser {
 public:
  RequestJsonParser();
  ~RequestJsonParser();
  RequestJsonParser(const RequestJsonParser&) = delete;
  RequestJsonParser& operator=(const RequestJsonParser&) = delete;

  // Parses one request into `out` (cleared first). On error `out` holds a partial request.
  absl::Status Parse(absl::string_view json, Request* out);
  absl::StatusOr<Request> Parse(absl::string_view json);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Parses one JSON request. Example: ParseRequestJson(R"({"user": {"user_id": 1}})").
absl::StatusOr<Request> ParseRequestJson(absl::string_view json);

// One request of a JSON-lines text and its 1-based line number.
struct RequestLine {
  int line = 0;
  Request request;
};

// Parses JSON lines: one request per line; blank lines are skipped. The first bad line fails the
// whole text with "SOURCE:LINE: message".
absl::StatusOr<std::vector<RequestLine>> ParseRequestJsonLines(absl::string_view text,
                                                               absl::string_view source_name);

// Reads and parses a JSON-lines file (see ParseRequestJsonLines); errors name the path.
absl::StatusOr<std::vector<RequestLine>> ReadRequestJsonLines(const std::string& path);

// The JSON form of `request` on one line (a JSON-lines entry): "user", "context" and
// "candidates" always present, features in row order, floats in their shortest round-trip form
// with a "." or exponent (so 1.0 stays a float), strings escaped. ParseRequestJson reads it back
// into an equal Request, except that an empty list of any kind reads back as an empty int list
// (JSON's [] has no element type) and std::monostate is written as null.
// Errors (InvalidArgument, naming the place as the parser would, e.g. "candidates[3].price"): a
// string that is not valid UTF-8, a NaN or infinite float (JSON has neither), a name given twice
// in one row. A candidate with a serialized tf.Example is written {"b64": "..."}; one that also
// has row features or a label is an error (that form holds the tf.Example alone).
absl::StatusOr<std::string> RequestToJson(const Request& request);

// Appends `text` as a JSON string literal: quotes, backslashes and control characters escaped,
// well-formed UTF-8 as it is, and every other byte (text from models or clients may hold any)
// as \ufffd, so the result is always valid JSON.
void AppendJsonString(absl::string_view text, std::string* out);

// Byte offset of the first invalid UTF-8 sequence in `bytes`, or -1 when valid. Rejects overlong
// forms, surrogates and code points above U+10FFFF, as JSON parsers do.
int64_t FindInvalidUtf8(absl::string_view bytes);

}  // namespace rankopt

#endif  // RANKOPT_INCLUDE_RANKOPT_REQUEST_JSON_H_
