// HttpRequestParser, HttpRouter and DecodeContentEncoding without sockets: framing fed whole,
// byte by byte and pipelined; every limit refused at its boundary (and before the rest arrives);
// the ambiguous framings refused; routes and captures; gzip/deflate bodies against zlib.
#include "serving/http/http_request_parser.h"

#include <zlib.h>

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "serving/http/content_encoding.h"
#include "serving/http/http_router.h"

namespace rankopt {
namespace {

using Result = HttpRequestParser::Result;
using ::testing::HasSubstr;

// Feeds `input` in pieces of `step` bytes as a connection would (keeping what is not consumed);
// the result, and the unconsumed rest in *rest.
Result Feed(HttpRequestParser& parser, const std::string& input, size_t step, std::string* rest) {
  std::string buffer;
  Result r = Result::kNeedMore;
  for (size_t at = 0; at < input.size() && r == Result::kNeedMore;) {
    const size_t n = std::min(step, input.size() - at);
    buffer.append(input, at, n);
    at += n;
    size_t consumed = 0;
    r = parser.Parse(buffer, &consumed);
    buffer.erase(0, consumed);
    if (r != Result::kNeedMore) {
      buffer.append(input, at, std::string::npos);
      break;
    }
  }
  if (rest != nullptr) *rest = buffer;
  return r;
}

TEST(HttpRequestParserTest, ParsesAGetWholeAndByteByByte) {
  const std::string get =
      "GET /v1/models/din%3Ax?heads=a%2Cb&x=1+2 HTTP/1.1\r\nHost: h\r\nX-Empty:\r\n\r\n";
  for (size_t step : {get.size(), size_t{1}, size_t{7}}) {
    HttpRequestParser parser(HttpParseLimits{});
    std::string rest;
    ASSERT_EQ(Feed(parser, get, step, &rest), Result::kDone) << step;
    EXPECT_TRUE(rest.empty());
    const HttpRequest& r = parser.request();
    EXPECT_EQ(r.method, "GET");
    EXPECT_EQ(r.path, "/v1/models/din:x");
    ASSERT_NE(r.Param("heads"), nullptr);
    EXPECT_EQ(*r.Param("heads"), "a,b");
    EXPECT_EQ(*r.Param("x"), "1 2");
    EXPECT_EQ(r.Param("y"), nullptr);
    EXPECT_EQ(r.Header("host"), "h");
    EXPECT_EQ(r.headers.size(), 2u);
    EXPECT_TRUE(r.keep_alive);
    EXPECT_TRUE(r.body.empty());
  }
}

TEST(HttpRequestParserTest, ParsesLengthAndChunkedBodiesAndKeepsThePipelinedRest) {
  const std::string two =
      "POST /p HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello"
      "POST /q HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3;ext=1\r\nabc\r\n2\r\nde\r\n0\r\n"
      "Trailer: x\r\n\r\n"
      "GET /r HTTP/1.0\r\n\r\n";
  for (size_t step : {two.size(), size_t{1}, size_t{5}}) {
    HttpRequestParser parser(HttpParseLimits{});
    std::string rest;
    ASSERT_EQ(Feed(parser, two, step, &rest), Result::kDone);
    EXPECT_EQ(parser.request().path, "/p");
    EXPECT_EQ(parser.request().body, "hello");
    parser.Reset();
    ASSERT_EQ(Feed(parser, rest, step, &rest), Result::kDone);
    EXPECT_EQ(parser.request().path, "/q");
    EXPECT_EQ(parser.request().body, "abcde");
    parser.Reset();
    ASSERT_EQ(Feed(parser, rest, step, &rest), Result::kDone);
    EXPECT_EQ(parser.request().path, "/r");
    EXPECT_EQ(parser.request().minor_version, 0);
    EXPECT_FALSE(parser.request().keep_alive);  // HTTP/1.0 without keep-alive
    EXPECT_TRUE(rest.empty());
  }
}

TEST(HttpRequestParserTest, ConnectionAndExpectHeaders) {
  HttpRequestParser parser(HttpParseLimits{});
  ASSERT_EQ(Feed(parser, "GET / HTTP/1.1\r\nConnection: Close\r\n\r\n", 100, nullptr),
            Result::kDone);
  EXPECT_FALSE(parser.request().keep_alive);
  parser.Reset();
  ASSERT_EQ(Feed(parser, "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", 100, nullptr),
            Result::kDone);
  EXPECT_TRUE(parser.request().keep_alive);
  parser.Reset();
  ASSERT_EQ(Feed(parser, "POST / HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n",
                 100, nullptr),
            Result::kNeedMore);
  EXPECT_TRUE(parser.expects_continue());
  EXPECT_TRUE(parser.head_done());
}

// The refusal of `input` (fed in 1000-byte pieces).
HttpParseError Refusal(const std::string& input, HttpParseLimits limits = {}) {
  HttpRequestParser parser(limits);
  const Result r = Feed(parser, input, 1000, nullptr);
  EXPECT_EQ(r, Result::kError) << input.substr(0, 200);
  return parser.error();
}

TEST(HttpRequestParserTest, HeaderLimitsAreRefusedAsSoonAsCrossed) {
  HttpParseLimits limits;
  limits.max_header_count = 3;
  limits.max_header_bytes = 1024;
  // Exactly at the limits: accepted.
  std::string ok = "GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n";
  HttpRequestParser parser(limits);
  EXPECT_EQ(Feed(parser, ok, 1, nullptr), Result::kDone);
  // One header line more: 431 before the head ends.
  HttpParseError e = Refusal("GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n", limits);
  EXPECT_EQ(e.status, 431);
  EXPECT_EQ(e.reason, "too_many_headers");
  EXPECT_THAT(e.message, HasSubstr("3 header lines"));
  // A head of exactly max_header_bytes is accepted; one byte more (never terminated) is not.
  std::string exact = "GET / HTTP/1.1\r\nX: ";
  exact.append(1024 - exact.size() - 4, 'x');
  exact.append("\r\n\r\n");
  ASSERT_EQ(exact.size(), 1024u);
  HttpRequestParser exact_parser(limits);
  EXPECT_EQ(Feed(exact_parser, exact, 100, nullptr), Result::kDone);
  std::string flood = "GET / HTTP/1.1\r\nX: ";
  flood.append(5000, 'x');
  HttpRequestParser flood_parser(limits);
  std::string buffer;
  size_t fed = 0;
  Result r = Result::kNeedMore;
  while (r == Result::kNeedMore && fed < flood.size()) {
    buffer.push_back(flood[fed++]);
    size_t consumed = 0;
    r = flood_parser.Parse(buffer, &consumed);
    buffer.erase(0, consumed);
  }
  EXPECT_EQ(r, Result::kError);
  EXPECT_EQ(fed, 1024u);  // refused at the byte that crossed the limit, not at the head's end
  EXPECT_EQ(flood_parser.error().status, 431);
  EXPECT_EQ(flood_parser.error().reason, "header_too_large");
}

TEST(HttpRequestParserTest, BodyLimitIsRefusedBeforeTheBody) {
  HttpParseLimits limits;
  limits.max_body_bytes = 10;
  HttpRequestParser at_limit(limits);
  EXPECT_EQ(Feed(at_limit, "POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\n0123456789", 3, nullptr),
            Result::kDone);
  // Declared over the limit: refused on the head alone.
  HttpParseError e = Refusal("POST / HTTP/1.1\r\nContent-Length: 11\r\n\r\n", limits);
  EXPECT_EQ(e.status, 413);
  EXPECT_EQ(e.reason, "body_too_large");
  EXPECT_THAT(e.message, HasSubstr("--max-body-bytes"));
  // Chunked: refused at the chunk that crosses it.
  e = Refusal("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n6\r\nabcdef\r\n5\r\n", limits);
  EXPECT_EQ(e.status, 413);
  HttpRequestParser chunked_at_limit(limits);
  EXPECT_EQ(Feed(chunked_at_limit,
                 "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n6\r\nabcdef\r\n4\r\nghij"
                 "\r\n0\r\n\r\n",
                 1, nullptr),
            Result::kDone);
  EXPECT_EQ(chunked_at_limit.request().body, "abcdefghij");
}

TEST(HttpRequestParserTest, AmbiguousOrMalformedFramingIsRefused) {
  struct Case {
    std::string input;
    int status;
    std::string reason;
  };
  const std::vector<Case> cases = {
      {"GET / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", 400,
       "bad_content_length"},
      {"GET / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n", 400,
       "bad_content_length"},
      {"GET / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", 400, "bad_content_length"},
      {"GET / HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n\r\n", 400, "bad_content_length"},
      {"GET / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n", 501, "bad_transfer_encoding"},
      {"GET / HTTP/1.1\r\nX : y\r\n\r\n", 400, "bad_header"},
      {"GET / HTTP/1.1\r\nX: y\r\n folded\r\n\r\n", 400, "bad_header"},
      {"GET / HTTP/1.1\r\nX: a\x01z\r\n\r\n", 400, "bad_header"},
      {"GET  / HTTP/1.1\r\n\r\n", 400, "bad_request_line"},
      {"GET http://x/ HTTP/1.1\r\n\r\n", 400, "bad_request_line"},
      {"GET /%zz HTTP/1.1\r\n\r\n", 400, "bad_request_line"},
      {"GET /%2 HTTP/1.1\r\n\r\n", 400, "bad_request_line"},
      {"GET / HTTP/2.0\r\n\r\n", 505, "bad_http_version"},
      {"GET / HTTP/1.1\r\nExpect: magic\r\n\r\n", 417, "bad_expect"},
      {"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nxyz\r\n", 400, "bad_chunked_body"},
      {"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n", 400,
       "bad_chunked_body"},
  };
  for (const Case& c : cases) {
    const HttpParseError e = Refusal(c.input);
    EXPECT_EQ(e.status, c.status) << c.input;
    EXPECT_EQ(e.reason, c.reason) << c.input;
    EXPECT_FALSE(e.message.empty());
  }
}

TEST(HttpRouterTest, MatchesPatternsAndCaptures) {
  HttpRouter router;
  int hit = 0;
  auto handler = [&hit](int n) {
    return [&hit, n](const HttpRequest&, const HttpRouteParams&, HttpResponse*) { hit = n; };
  };
  router.Add("POST", "/v1/models/{model}:predict", handler(1));
  router.Add("GET", "/v1/models/{model}", handler(2));
  router.Add("GET", "/v1/models/{model}/versions/{version}", handler(3));
  router.Add("GET", "/healthz", handler(4), /*run_inline=*/true);
  HttpRouteParams params;
  const HttpRoute* r = router.Match("POST", "/v1/models/din:predict", &params);
  ASSERT_NE(r, nullptr);
  r->handler(HttpRequest(), params, nullptr);
  EXPECT_EQ(hit, 1);
  EXPECT_EQ(params.Get("model"), "din");
  r = router.Match("GET", "/v1/models/din/versions/7", &params);
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(params.Get("model"), "din");
  EXPECT_EQ(params.Get("version"), "7");
  r = router.Match("GET", "/healthz", &params);
  ASSERT_NE(r, nullptr);
  EXPECT_TRUE(r->run_inline);
  EXPECT_EQ(router.Match("GET", "/v1/models/din:predict", &params), nullptr);  // ':' in a name
  EXPECT_EQ(router.Match("POST", "/v1/models/:predict", &params), nullptr);    // empty name
  EXPECT_EQ(router.Match("GET", "/v1/models/din/extra", &params), nullptr);
  EXPECT_EQ(router.Match("DELETE", "/healthz", &params), nullptr);
  EXPECT_EQ(router.Match("GET", "/healthz/", &params), nullptr);
}

// `text` compressed by zlib with `window_bits` (15: zlib format, 31: gzip).
std::string Compress(const std::string& text, int window_bits) {
  z_stream z{};
  EXPECT_EQ(deflateInit2(&z, 6, Z_DEFLATED, window_bits, 8, Z_DEFAULT_STRATEGY), Z_OK);
  std::string out(deflateBound(&z, text.size()) + 64, '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(text.data()));
  z.avail_in = static_cast<uInt>(text.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  EXPECT_EQ(deflate(&z, Z_FINISH), Z_STREAM_END);
  out.resize(z.total_out);
  deflateEnd(&z);
  return out;
}

TEST(ContentEncodingTest, InflatesGzipAndDeflateWithinTheCap) {
  std::string text;
  for (int i = 0; i < 5000; ++i) absl::StrAppend(&text, "{\"item_id\": ", i, "}, ");
  std::string buffer;
  for (auto [encoding, bits] : {std::pair{"gzip", 31}, std::pair{"deflate", 15}}) {
    const std::string packed = Compress(text, bits);
    absl::string_view body = packed;
    ASSERT_TRUE(DecodeContentEncoding(encoding, text.size(), &body, &buffer).ok()) << encoding;
    EXPECT_EQ(body, text);
    body = packed;
    const absl::Status over = DecodeContentEncoding(encoding, text.size() - 1, &body, &buffer);
    EXPECT_EQ(over.code(), absl::StatusCode::kResourceExhausted) << over;
    std::string truncated = packed.substr(0, packed.size() / 2);
    body = truncated;
    EXPECT_EQ(DecodeContentEncoding(encoding, text.size(), &body, &buffer).code(),
              absl::StatusCode::kInvalidArgument);
  }
  absl::string_view body = text;
  EXPECT_TRUE(DecodeContentEncoding("", 1, &body, &buffer).ok());
  EXPECT_EQ(body, text);
  EXPECT_EQ(DecodeContentEncoding("br", 1 << 20, &body, &buffer).code(),
            absl::StatusCode::kUnimplemented);
}

}  // namespace
}  // namespace rankopt
