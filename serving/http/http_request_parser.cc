// HttpRequestParser (http_request_parser.h): RFC 9112 message framing for requests, strict where
// laxness lets a request be read two ways (Content-Length with Transfer-Encoding, folded or
// space-before-colon headers, a malformed length), with every size checked before it is used.
#include "serving/http/http_request_parser.h"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"

namespace rankopt {
namespace {

constexpr size_t kMaxChunkLine = 1024;  // a chunk-size line: hex digits and extensions

bool IsTokenChar(char c) {
  return absl::ascii_isalnum(static_cast<unsigned char>(c)) ||
         absl::string_view("!#$%&'*+-.^_`|~").find(c) != absl::string_view::npos;
}

bool IsToken(absl::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), IsTokenChar);
}

// Field values: visible ASCII, obs-text, space and tab; no control characters.
bool IsFieldValue(absl::string_view s) {
  for (char c : s) {
    const unsigned char u = static_cast<unsigned char>(c);
    if (u < 0x20 && c != '\t') return false;
    if (u == 0x7f) return false;
  }
  return true;
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

absl::string_view StripCr(absl::string_view line) {
  absl::ConsumeSuffix(&line, "\r");
  return line;
}

// Splits "a=1&b=2" into decoded pairs; false on a malformed escape.
bool ParseQuery(absl::string_view query, std::vector<std::pair<std::string, std::string>>* out) {
  for (absl::string_view part : absl::StrSplit(query, '&', absl::SkipEmpty())) {
    const size_t eq = part.find('=');
    std::string name, value;
    if (!PercentDecode(part.substr(0, eq), true, &name)) return false;
    if (eq != absl::string_view::npos && !PercentDecode(part.substr(eq + 1), true, &value)) {
      return false;
    }
    out->emplace_back(std::move(name), std::move(value));
  }
  return true;
}

}  // namespace

absl::string_view HttpRequest::Header(absl::string_view name) const {
  for (const auto& [n, v] : headers) {
    if (absl::EqualsIgnoreCase(n, name)) return v;
  }
  return {};
}

const std::string* HttpRequest::Param(absl::string_view name) const {
  for (const auto& [n, v] : query) {
    if (n == name) return &v;
  }
  return nullptr;
}

bool PercentDecode(absl::string_view in, bool plus_is_space, std::string* out) {
  out->clear();
  out->reserve(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    const char c = in[i];
    if (c == '%') {
      if (i + 2 >= in.size()) return false;
      const int hi = HexValue(in[i + 1]);
      const int lo = HexValue(in[i + 2]);
      if (hi < 0 || lo < 0) return false;
      out->push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else if (c == '+' && plus_is_space) {
      out->push_back(' ');
    } else {
      out->push_back(c);
    }
  }
  return true;
}

absl::string_view HttpStatusText(int status) {
  static constexpr std::pair<int, const char*> kTexts[] = {
      {100, "Continue"},
      {200, "OK"},
      {400, "Bad Request"},
      {404, "Not Found"},
      {408, "Request Timeout"},
      {413, "Payload Too Large"},
      {415, "Unsupported Media Type"},
      {417, "Expectation Failed"},
      {429, "Too Many Requests"},
      {431, "Request Header Fields Too Large"},
      {500, "Internal Server Error"},
      {501, "Not Implemented"},
      {503, "Service Unavailable"},
      {505, "HTTP Version Not Supported"},
  };
  for (const auto& [code, text] : kTexts) {
    if (code == status) return text;
  }
  return "Unknown";
}

HttpRequestParser::Result HttpRequestParser::Fail(int status, std::string reason,
                                                  std::string message) {
  error_.status = status;
  error_.reason = std::move(reason);
  error_.message = std::move(message);
  return Result::kError;
}

void HttpRequestParser::Reset(size_t keep_capacity) {
  if (request_.body.capacity() > keep_capacity) std::string().swap(request_.body);
  request_.body.clear();
  request_.method.clear();
  request_.target.clear();
  request_.path.clear();
  request_.query.clear();
  request_.headers.clear();
  request_.minor_version = 1;
  request_.keep_alive = true;
  error_ = HttpParseError();
  state_ = State::kHead;
  started_ = false;
  expects_continue_ = false;
  scanned_ = 0;
  lines_ = 0;
  remaining_ = 0;
  trailer_bytes_ = 0;
  trailer_lines_ = 0;
}

HttpRequestParser::Result HttpRequestParser::Parse(absl::string_view input, size_t* consumed) {
  *consumed = 0;
  if (state_ == State::kHead) {
    if (!started_) {
      // Empty lines before a request line are ignored (RFC 9112 2.2).
      size_t blank = 0;
      while (blank < input.size() && (input[blank] == '\r' || input[blank] == '\n')) ++blank;
      if (blank > 0) {
        *consumed = blank;
        input.remove_prefix(blank);
      }
      if (input.empty()) return Result::kNeedMore;
      started_ = true;
    }
    size_t end = 0;
    for (size_t i = scanned_; i < input.size(); ++i) {
      if (i >= limits_.max_header_bytes) break;
      if (input[i] != '\n') continue;
      ++lines_;
      if ((i >= 1 && input[i - 1] == '\n') ||
          (i >= 2 && input[i - 1] == '\r' && input[i - 2] == '\n')) {
        end = i + 1;
        break;
      }
      if (lines_ > limits_.max_header_count + 1) {
        return Fail(431, "too_many_headers",
                    absl::StrCat("the request has more than ", limits_.max_header_count,
                                 " header lines (--max-header-count)"));
      }
    }
    if (end == 0) {
      scanned_ = std::min(input.size(), limits_.max_header_bytes);
      if (input.size() >= limits_.max_header_bytes) {
        return Fail(431, "header_too_large",
                    absl::StrCat("the request line and headers are over ", limits_.max_header_bytes,
                                 " bytes (--max-header-bytes)"));
      }
      return Result::kNeedMore;
    }
    const Result head = ParseHead(input.substr(0, end));
    *consumed += end;
    input.remove_prefix(end);
    if (head != Result::kNeedMore) return head;
  }
  // The body, as far as `input` goes.
  while (true) {
    switch (state_) {
      case State::kHead:
        return Result::kNeedMore;  // unreachable: ParseHead leaves kHead
      case State::kLengthBody:
      case State::kChunkData: {
        const size_t take = static_cast<size_t>(std::min<uint64_t>(remaining_, input.size()));
        request_.body.append(input.data(), take);
        *consumed += take;
        input.remove_prefix(take);
        remaining_ -= take;
        if (remaining_ > 0) return Result::kNeedMore;
        if (state_ == State::kLengthBody) {
          expects_continue_ = false;
          return Result::kDone;
        }
        state_ = State::kChunkDataEnd;
        break;
      }
      case State::kChunkDataEnd: {
        if (input.empty()) return Result::kNeedMore;
        size_t n = 0;
        if (input[0] == '\n') {
          n = 1;
        } else if (input[0] == '\r') {
          if (input.size() < 2) return Result::kNeedMore;
          if (input[1] == '\n') n = 2;
        }
        if (n == 0) {
          return Fail(400, "bad_chunked_body",
                      "a chunk of the chunked request body is longer than its size line says");
        }
        *consumed += n;
        input.remove_prefix(n);
        state_ = State::kChunkSize;
        break;
      }
      case State::kChunkSize: {
        const size_t eol = input.substr(0, kMaxChunkLine).find('\n');
        if (eol == absl::string_view::npos) {
          if (input.size() >= kMaxChunkLine) {
            return Fail(400, "bad_chunked_body",
                        absl::StrCat("a chunk-size line of the chunked request body is over ",
                                     kMaxChunkLine, " bytes"));
          }
          return Result::kNeedMore;
        }
        absl::string_view line = StripCr(input.substr(0, eol));
        line = line.substr(0, line.find(';'));
        line = absl::StripTrailingAsciiWhitespace(line);
        uint64_t size = 0;
        if (line.empty() || line.size() > 15) {
          return Fail(400, "bad_chunked_body",
                      "a chunk-size line of the chunked request body is not 1 to 15 hex digits");
        }
        for (char c : line) {
          const int v = HexValue(c);
          if (v < 0) {
            return Fail(400, "bad_chunked_body",
                        absl::StrCat("the chunk size '", line, "' is not hexadecimal"));
          }
          size = size * 16 + static_cast<uint64_t>(v);
        }
        if (size > limits_.max_body_bytes - request_.body.size()) {
          return Fail(413, "body_too_large",
                      absl::StrCat("the request body is over ", limits_.max_body_bytes,
                                   " bytes; split the candidates over several requests, or raise "
                                   "--max-body-bytes"));
        }
        *consumed += eol + 1;
        input.remove_prefix(eol + 1);
        remaining_ = size;
        state_ = size == 0 ? State::kTrailers : State::kChunkData;
        break;
      }
      case State::kTrailers: {
        const size_t eol = input.find('\n');
        const size_t line_bytes = eol == absl::string_view::npos ? input.size() : eol + 1;
        if (trailer_bytes_ + line_bytes > limits_.max_header_bytes) {
          return Fail(431, "header_too_large",
                      absl::StrCat("the trailers of the chunked request body are over ",
                                   limits_.max_header_bytes, " bytes (--max-header-bytes)"));
        }
        if (eol == absl::string_view::npos) return Result::kNeedMore;
        trailer_bytes_ += line_bytes;
        *consumed += line_bytes;
        const bool empty = StripCr(input.substr(0, eol)).empty();
        input.remove_prefix(line_bytes);
        if (empty) {
          expects_continue_ = false;
          return Result::kDone;
        }
        if (++trailer_lines_ > limits_.max_header_count) {
          return Fail(
              431, "too_many_headers",
              absl::StrCat("the chunked request body has more than ", limits_.max_header_count,
                           " trailer lines (--max-header-count)"));
        }
        break;
      }
    }
  }
}

HttpRequestParser::Result HttpRequestParser::ParseHead(absl::string_view head) {
  std::vector<absl::string_view> lines = absl::StrSplit(head, '\n');
  // The head ends with an empty line, which split leaves as two empty pieces.
  while (!lines.empty() && StripCr(lines.back()).empty()) lines.pop_back();
  if (lines.empty()) return Fail(400, "bad_request_line", "the request line is empty");

  const absl::string_view request_line = StripCr(lines[0]);
  const std::vector<absl::string_view> words = absl::StrSplit(request_line, ' ');
  if (words.size() != 3 || !IsToken(words[0]) || words[1].empty()) {
    return Fail(400, "bad_request_line",
                "the request line is not 'METHOD TARGET HTTP/1.1' (single spaces)");
  }
  if (words[2] == "HTTP/1.1") {
    request_.minor_version = 1;
  } else if (words[2] == "HTTP/1.0") {
    request_.minor_version = 0;
  } else if (absl::StartsWith(words[2], "HTTP/")) {
    return Fail(505, "bad_http_version",
                absl::StrCat("HTTP version '", words[2], "' is not served; use HTTP/1.1"));
  } else {
    return Fail(400, "bad_request_line",
                "the request line is not 'METHOD TARGET HTTP/1.1' (single spaces)");
  }
  request_.method = std::string(words[0]);
  request_.target = std::string(words[1]);
  if (request_.target[0] != '/') {
    return Fail(
        400, "bad_request_line",
        absl::StrCat("the request target '", request_.target, "' is not a path starting with '/'"));
  }
  for (char c : request_.target) {
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) {
      return Fail(400, "bad_request_line", "the request target holds a control character");
    }
  }
  const size_t q = request_.target.find('?');
  const absl::string_view target = request_.target;
  if (!PercentDecode(target.substr(0, q), false, &request_.path) ||
      (q != absl::string_view::npos && !ParseQuery(target.substr(q + 1), &request_.query))) {
    return Fail(400, "bad_request_line",
                absl::StrCat("the request target '", request_.target,
                             "' has a '%' not followed by two hex digits"));
  }

  bool chunked = false;
  bool has_length = false;
  uint64_t length = 0;
  bool close = false, keep_alive = false;
  for (size_t i = 1; i < lines.size(); ++i) {
    const absl::string_view line = StripCr(lines[i]);
    const size_t colon = line.find(':');
    if (colon == absl::string_view::npos || !IsToken(line.substr(0, colon))) {
      return Fail(400, "bad_header",
                  absl::StrCat("header line ", i,
                               " is not 'Name: value' (a token name, no space before the colon, "
                               "no folded lines)"));
    }
    const absl::string_view name = line.substr(0, colon);
    const absl::string_view value = absl::StripAsciiWhitespace(line.substr(colon + 1));
    if (!IsFieldValue(value)) {
      return Fail(400, "bad_header",
                  absl::StrCat("the value of header '", name, "' holds a control character"));
    }
    request_.headers.emplace_back(std::string(name), std::string(value));
    if (absl::EqualsIgnoreCase(name, "Content-Length")) {
      uint64_t v = 0;
      if (value.empty() || value.size() > 18 ||
          !std::all_of(value.begin(), value.end(), absl::ascii_isdigit)) {
        return Fail(400, "bad_content_length",
                    absl::StrCat("Content-Length '", value, "' is not a decimal byte count"));
      }
      for (char c : value) v = v * 10 + static_cast<uint64_t>(c - '0');
      if (has_length && v != length) {
        return Fail(400, "bad_content_length", "the request has two different Content-Lengths");
      }
      has_length = true;
      length = v;
    } else if (absl::EqualsIgnoreCase(name, "Transfer-Encoding")) {
      if (!absl::EqualsIgnoreCase(value, "chunked") || chunked) {
        return Fail(501, "bad_transfer_encoding",
                    absl::StrCat("Transfer-Encoding '", value,
                                 "' is not served; send 'chunked' (once) or a Content-Length"));
      }
      chunked = true;
    } else if (absl::EqualsIgnoreCase(name, "Connection")) {
      for (absl::string_view token : absl::StrSplit(value, ',')) {
        token = absl::StripAsciiWhitespace(token);
        if (absl::EqualsIgnoreCase(token, "close")) close = true;
        if (absl::EqualsIgnoreCase(token, "keep-alive")) keep_alive = true;
      }
    } else if (absl::EqualsIgnoreCase(name, "Expect")) {
      if (!absl::EqualsIgnoreCase(value, "100-continue")) {
        return Fail(417, "bad_expect",
                    absl::StrCat("Expect '", value, "' is not served; only 100-continue is"));
      }
      expects_continue_ = true;
    }
  }
  if (chunked && has_length) {
    return Fail(400, "bad_content_length",
                "the request has both Transfer-Encoding and Content-Length; send one");
  }
  request_.keep_alive = !close && (request_.minor_version == 1 || keep_alive);
  if (chunked) {
    state_ = State::kChunkSize;
    return Result::kNeedMore;
  }
  if (length > limits_.max_body_bytes) {
    return Fail(413, "body_too_large",
                absl::StrCat("the request body is over ", limits_.max_body_bytes,
                             " bytes; split the candidates over several requests, or raise "
                             "--max-body-bytes"));
  }
  if (length == 0) {
    expects_continue_ = false;
    state_ = State::kLengthBody;
    remaining_ = 0;
    return Result::kDone;
  }
  // Grown as the body arrives: a declared length alone does not take memory.
  request_.body.reserve(static_cast<size_t>(std::min<uint64_t>(length, 1 << 20)));
  state_ = State::kLengthBody;
  remaining_ = length;
  return Result::kNeedMore;
}

}  // namespace rankopt
