// RequestToJson: the one-line JSON form of a Request reads back into an equal Request.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <variant>

#include "absl/strings/str_cat.h"
#include "rankopt/request_json.h"

namespace rankopt {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;

void ExpectSameRows(const FeatureRow& a, const FeatureRow& b, const std::string& where) {
  ASSERT_EQ(a.entries().size(), b.entries().size()) << where;
  for (size_t k = 0; k < a.entries().size(); ++k) {
    EXPECT_EQ(a.entries()[k].first, b.entries()[k].first) << where;
    EXPECT_TRUE(a.entries()[k].second == b.entries()[k].second)
        << where << "." << a.entries()[k].first << ": "
        << FeatureValueTypeName(a.entries()[k].second) << " vs "
        << FeatureValueTypeName(b.entries()[k].second);
  }
}

Request RoundTrip(const Request& request) {
  absl::StatusOr<std::string> json = RequestToJson(request);
  EXPECT_TRUE(json.ok()) << json.status();
  if (!json.ok()) return {};
  EXPECT_EQ(json->find('\n'), std::string::npos) << "one JSON line: " << *json;
  absl::StatusOr<Request> back = ParseRequestJson(*json);
  EXPECT_TRUE(back.ok()) << back.status() << " in " << *json;
  return back.ok() ? *std::move(back) : Request{};
}

TEST(RequestToJsonTest, RoundTripsEveryValueKind) {
  Request request;
  request.user =
      FeatureRow({{"user_id", int64_t{472}},
                  {"min", std::numeric_limits<int64_t>::min()},
                  {"max", std::numeric_limits<int64_t>::max()},
                  {"age", 23.5},
                  {"whole", 1.0},  // must stay a float
                  {"negzero", -0.0},
                  {"tiny", 4.9406564584124654e-324},
                  {"huge", 1.7976931348623157e308},
                  {"third", 1.0 / 3.0},
                  {"city", std::string("Paris \"15e\"\\\n\t\x01 caf\xc3\xa9 \xe2\x82\xac")},
                  {"hist", std::vector<int64_t>{738, -1, 0}},
                  {"scores", std::vector<double>{1.0, 2.5, -3.0}},
                  {"tags", std::vector<std::string>{"a", "", "b,c"}},
                  {"empty", std::vector<int64_t>{}},
                  {"gone", std::monostate()}});
  request.context = FeatureRow({{"hour_of_day", int64_t{12}}});
  request.candidates.push_back(FeatureRow({{"item_id", int64_t{980}}, {"price", 12.5}}));
  request.candidates.push_back(FeatureRow({{"item_id", std::string("sku-17")}}));
  request.candidates.push_back(FeatureRow());
  const Request back = RoundTrip(request);
  ExpectSameRows(request.user, back.user, "user");
  ExpectSameRows(request.context, back.context, "context");
  ASSERT_EQ(back.candidates.size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    ExpectSameRows(request.candidates[i], back.candidates[i], "candidates");
  }
  EXPECT_TRUE(std::signbit(std::get<double>(*back.user.Find("negzero"))));
}

TEST(RequestToJsonTest, EmptyRequestAndEmptyListsOfAnyKind) {
  absl::StatusOr<std::string> json = RequestToJson(Request{});
  ASSERT_TRUE(json.ok()) << json.status();
  EXPECT_EQ(*json, R"({"user":{},"context":{},"candidates":[]})");

  Request request;
  request.user =
      FeatureRow({{"floats", std::vector<double>{}}, {"strings", std::vector<std::string>{}}});
  const Request back = RoundTrip(request);
  // JSON's [] has no element type: it reads back as an empty int list (documented).
  EXPECT_TRUE(std::get<std::vector<int64_t>>(*back.user.Find("floats")).empty());
  EXPECT_TRUE(std::get<std::vector<int64_t>>(*back.user.Find("strings")).empty());
}

TEST(RequestToJsonTest, RoundTripsTheSampleRequests) {
  absl::StatusOr<std::vector<RequestLine>> lines =
      ReadRequestJsonLines(std::string(RANKOPT_TESTDATA_DIR) + "/features/requests_din.jsonl");
  ASSERT_TRUE(lines.ok()) << lines.status();
  ASSERT_FALSE(lines->empty());
  for (const RequestLine& line : *lines) {
    const Request back = RoundTrip(line.request);
    ExpectSameRows(line.request.user, back.user, "user");
    ASSERT_EQ(back.candidates.size(), line.request.candidates.size());
    for (size_t i = 0; i < back.candidates.size(); ++i) {
      ExpectSameRows(line.request.candidates[i], back.candidates[i], "candidates");
    }
  }
}

TEST(RequestToJsonTest, ErrorsNameThePlace) {
  Request nan;
  nan.candidates.resize(4);
  nan.candidates[3].Set("price", std::nan(""));
  absl::StatusOr<std::string> json = RequestToJson(nan);
  ASSERT_FALSE(json.ok());
  EXPECT_THAT(json.status().message(), AllOf(HasSubstr("candidates[3].price"), HasSubstr("NaN")));

  Request inf;
  inf.user.Set("scores", std::vector<double>{1, std::numeric_limits<double>::infinity()});
  json = RequestToJson(inf);
  ASSERT_FALSE(json.ok());
  EXPECT_THAT(json.status().message(), HasSubstr("user.scores[1]"));

  Request binary;
  binary.context.Set("device", std::string("\xff\xfe"));
  json = RequestToJson(binary);
  ASSERT_FALSE(json.ok());
  EXPECT_THAT(json.status().message(),
              AllOf(HasSubstr("context.device"), HasSubstr("not valid UTF-8")));

  Request twice;
  twice.user.Append("user_id", int64_t{1});
  twice.user.Append("user_id", int64_t{2});
  json = RequestToJson(twice);
  ASSERT_FALSE(json.ok());
  EXPECT_THAT(json.status().message(), AllOf(HasSubstr("user.user_id"), HasSubstr("twice")));
  EXPECT_THAT(json.status().message(), Not(HasSubstr("\n")));
}

// AppendJsonString writes valid JSON for any bytes: well-formed UTF-8 passes as it is, every
// other byte becomes U+FFFD, and the result parses back as a request string.
TEST(AppendJsonStringTest, InvalidUtf8BecomesReplacementCharacters) {
  std::string out;
  AppendJsonString("op\xFFname \xC3\xA9 \xE2\x82 \xED\xA0\x80 \"q\"\n", &out);
  EXPECT_EQ(out, "\"op\\ufffdname \xC3\xA9 \\ufffd\\ufffd \\ufffd\\ufffd\\ufffd \\\"q\\\"\\n\"");
  EXPECT_EQ(FindInvalidUtf8(out), -1);
  // The parser (simdjson) reads it back: the replacement characters decode as U+FFFD.
  RequestJsonParser parser;
  Request request;
  ASSERT_TRUE(parser.Parse(absl::StrCat(R"({"user": {"name": )", out, R"(}, "candidates": []})"),
                           &request)
                  .ok());
  const FeatureValue* value = request.user.Find("name");
  ASSERT_NE(value, nullptr);
  const auto* name = std::get_if<std::string>(value);
  ASSERT_NE(name, nullptr);
  EXPECT_EQ(*name, "op\xEF\xBF\xBDname \xC3\xA9 \xEF\xBF\xBD\xEF\xBF\xBD "
                   "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD \"q\"\n");
}

TEST(FindInvalidUtf8Test, OffsetOfTheFirstBadSequence) {
  EXPECT_EQ(FindInvalidUtf8(""), -1);
  EXPECT_EQ(FindInvalidUtf8("abc\xF0\x9F\x98\x80"), -1);
  EXPECT_EQ(FindInvalidUtf8("ab\xC0\x80"), 2);      // overlong
  EXPECT_EQ(FindInvalidUtf8("a\xED\xA0\x80"), 1);  // surrogate
  EXPECT_EQ(FindInvalidUtf8("\xF4\x90\x80\x80"), 0);
  EXPECT_EQ(FindInvalidUtf8("xyz\xE2\x82"), 3);     // cut short
}

}  // namespace
}  // namespace rankopt
