#include "rankopt/request_json.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

namespace rankopt {
namespace {

using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

TEST(RequestJsonTest, ParsesEveryValueKind) {
  absl::StatusOr<Request> request = ParseRequestJson(R"({
    "user": {"user_id": 472, "age": 23.5, "city": "Paris", "hist": [1, 2, 3],
             "scores": [1, 2.5], "tags": ["a", "b"], "empty": [], "gone": null,
             "neg": -9223372036854775808},
    "context": {"hour_of_day": 12},
    "candidates": [{"item_id": 980}, {"item_id": "sku-17", "price": 1e3}, {}]})");
  ASSERT_TRUE(request.ok()) << request.status();
  const FeatureRow& user = request->user;
  EXPECT_EQ(std::get<int64_t>(*user.Find("user_id")), 472);
  EXPECT_EQ(std::get<double>(*user.Find("age")), 23.5);
  EXPECT_EQ(std::get<std::string>(*user.Find("city")), "Paris");
  EXPECT_THAT(std::get<std::vector<int64_t>>(*user.Find("hist")), ElementsAre(1, 2, 3));
  EXPECT_THAT(std::get<std::vector<double>>(*user.Find("scores")), ElementsAre(1.0, 2.5));
  EXPECT_THAT(std::get<std::vector<std::string>>(*user.Find("tags")), ElementsAre("a", "b"));
  EXPECT_TRUE(std::get<std::vector<int64_t>>(*user.Find("empty")).empty());
  ASSERT_NE(user.Find("gone"), nullptr);  // null is kept as "missing" so unknown names still show
  EXPECT_TRUE(std::holds_alternative<std::monostate>(*user.Find("gone")));
  EXPECT_EQ(std::get<int64_t>(*user.Find("neg")), INT64_MIN);
  EXPECT_EQ(std::get<int64_t>(*request->context.Find("hour_of_day")), 12);
  ASSERT_EQ(request->candidates.size(), 3u);
  EXPECT_EQ(std::get<int64_t>(*request->candidates[0].Find("item_id")), 980);
  EXPECT_EQ(std::get<std::string>(*request->candidates[1].Find("item_id")), "sku-17");
  EXPECT_EQ(std::get<double>(*request->candidates[1].Find("price")), 1000.0);
  EXPECT_TRUE(request->candidates[2].empty());
}

TEST(RequestJsonTest, SectionsAreOptional) {
  absl::StatusOr<Request> request = ParseRequestJson(R"({"candidates": []})");
  ASSERT_TRUE(request.ok()) << request.status();
  EXPECT_TRUE(request->user.empty());
  EXPECT_TRUE(request->candidates.empty());
  request = ParseRequestJson(R"({"user": null, "context": null, "candidates": null})");
  ASSERT_TRUE(request.ok()) << request.status();
  request = ParseRequestJson("{}");
  ASSERT_TRUE(request.ok()) << request.status();
}

TEST(RequestJsonTest, UnicodeStringsAreKeptAsUtf8) {
  absl::StatusOr<Request> request = ParseRequestJson(R"({"user": {"city": "K\u00f6ln \u6771"}})");
  ASSERT_TRUE(request.ok()) << request.status();
  EXPECT_EQ(std::get<std::string>(*request->user.Find("city")), "K\xc3\xb6ln \xe6\x9d\xb1");
}

struct BadCase {
  const char* json;
  std::vector<const char*> expected;  // substrings of the message
};

class RequestJsonErrorTest : public ::testing::TestWithParam<BadCase> {};

TEST_P(RequestJsonErrorTest, RejectsWithClearMessage) {
  absl::StatusOr<Request> request = ParseRequestJson(GetParam().json);
  ASSERT_FALSE(request.ok()) << GetParam().json;
  EXPECT_EQ(request.status().code(), absl::StatusCode::kInvalidArgument);
  for (const char* part : GetParam().expected) {
    EXPECT_THAT(std::string(request.status().message()), HasSubstr(part)) << GetParam().json;
  }
}

INSTANTIATE_TEST_SUITE_P(
    Cases, RequestJsonErrorTest,
    ::testing::Values(
        BadCase{"[1, 2]", {"must be a JSON object", "found an array"}},
        BadCase{"42", {"must be a JSON object", "found an integer"}},
        BadCase{"", {"empty request"}}, BadCase{"   ", {"empty request"}},
        BadCase{R"({"user": {"a": 1})", {"invalid JSON"}},
        BadCase{R"({"user": {"a": 1},})", {"invalid JSON"}},
        BadCase{R"({"users": {}})", {"unknown request key 'users'", "\"candidates\""}},
        BadCase{R"({"user": {}, "user": {}})", {"user", "given twice"}},
        BadCase{R"({"user": [1]})", {"user:", "expected an object", "found an array"}},
        BadCase{R"({"context": "x"})", {"context:", "found a string"}},
        BadCase{R"({"candidates": {"item_id": 1}})",
                {"candidates:", "expected an array of objects", "found an object"}},
        BadCase{R"({"candidates": [{"item_id": 1}, 7]})", {"candidates[1]", "found an integer"}},
        BadCase{R"({"candidates": [{}, {"tags": ["a", 1]}]})",
                {"candidates[1].tags", "mixed list", "strings and numbers"}},
        BadCase{R"({"user": {"h": [1, 2.5, "x"]}})", {"user.h", "mixed list"}},
        BadCase{R"({"user": {"h": [1, null]}})", {"user.h[1]", "found null inside a list"}},
        BadCase{R"({"user": {"h": [[1]]}})", {"user.h[0]", "found an array inside a list"}},
        BadCase{R"({"user": {"h": [{"a": 1}]}})", {"user.h[0]", "an object inside a list"}},
        BadCase{R"({"user": {"geo": {"lat": 1}}})", {"user.geo", "nested object"}},
        BadCase{R"({"user": {"vip": true}})", {"user.vip", "boolean"}},
        BadCase{R"({"candidates": [{"a": 1, "a": 2}]})", {"candidates[0].a", "given twice"}},
        BadCase{R"({"user": {"id": 18446744073709551615}})",
                {"user.id", "outside the int64 range", "as strings"}},
        BadCase{R"({"user": {"id": [9223372036854775808]}})",
                {"user.id[0]", "outside the int64 range"}},
        BadCase{R"({"user": {"id": 123456789012345678901234567890}})", {"int64 range"}},
        BadCase{R"({"user": {"x": 1e999}})", {"invalid JSON", "double range"}},
        BadCase{R"({"user": {"x": NaN}})", {"invalid JSON"}},
        BadCase{"{\"user\": {\"city\": \"ab\xff\"}}",
                {"not valid UTF-8", "offset 21", "C++ Request"}}));

TEST(RequestJsonTest, CandidateLabelsAreKeptApartFromFeaturesAndWrittenBack) {
  absl::StatusOr<Request> request = ParseRequestJson(
      R"({"candidates": [{"item_id": 1, "label": 1}, {"label": 0}, {"label": 1.0, "x": 2}]})");
  ASSERT_TRUE(request.ok()) << request.status();
  EXPECT_THAT(request->labels, ElementsAre(1.0f, 0.0f, 1.0f));
  EXPECT_EQ(request->candidates[0].Find("label"), nullptr);
  EXPECT_TRUE(request->candidates[1].empty());
  absl::StatusOr<std::string> json = RequestToJson(*request);
  ASSERT_TRUE(json.ok()) << json.status();
  absl::StatusOr<Request> back = ParseRequestJson(*json);
  ASSERT_TRUE(back.ok()) << back.status() << " " << *json;
  EXPECT_EQ(back->labels, request->labels);
  EXPECT_EQ(std::get<int64_t>(*back->candidates[2].Find("x")), 2);

  request = ParseRequestJson(R"({"candidates": [{"item_id": 1}, {"item_id": 2}]})");
  ASSERT_TRUE(request.ok());
  EXPECT_TRUE(request->labels.empty());
  EXPECT_THAT(*RequestToJson(*request), testing::Not(HasSubstr("label")));

  request = ParseRequestJson(R"({"candidates": [{"label": 1}, {"item_id": 2}]})");
  ASSERT_FALSE(request.ok());
  EXPECT_THAT(std::string(request.status().message()),
              AllOf(HasSubstr("candidates[1]"), HasSubstr("label every candidate or none")));
  for (const char* bad : {R"({"candidates": [{"label": 2}]})", R"({"candidates": [{"label": "1"}]})",
                          R"({"candidates": [{"label": 0.5}]})"}) {
    request = ParseRequestJson(bad);
    ASSERT_FALSE(request.ok()) << bad;
    EXPECT_THAT(std::string(request.status().message()),
                AllOf(HasSubstr("candidates[0].label"), HasSubstr("0 or 1")))
        << bad;
  }
}

TEST(RequestJsonTest, DuplicateDetectionInLargeRows) {
  std::string json = R"({"user": {)";
  for (int i = 0; i < 40; ++i) json += "\"f" + std::to_string(i) + "\": 1, ";
  json += R"("f3": 2}})";
  absl::StatusOr<Request> request = ParseRequestJson(json);
  ASSERT_FALSE(request.ok());
  EXPECT_THAT(std::string(request.status().message()), HasSubstr("user.f3: feature given twice"));
}

TEST(RequestJsonTest, ParserIsReusableAfterAnError) {
  RequestJsonParser parser;
  Request request;
  EXPECT_FALSE(parser.Parse(R"({"user": {"a": true}})", &request).ok());
  ASSERT_TRUE(parser.Parse(R"({"user": {"a": 3}})", &request).ok());
  ASSERT_EQ(request.user.size(), 1u);
  EXPECT_EQ(std::get<int64_t>(*request.user.Find("a")), 3);
}

TEST(RequestJsonLinesTest, NumbersLinesAndSkipsBlankOnes) {
  absl::StatusOr<std::vector<RequestLine>> lines = ParseRequestJsonLines(
      "{\"user\": {\"a\": 1}}\n\n  \r\n{\"user\": {\"a\": 2}}\r\n{\"user\": {\"a\": 3}}", "mem");
  ASSERT_TRUE(lines.ok()) << lines.status();
  ASSERT_EQ(lines->size(), 3u);
  EXPECT_EQ((*lines)[0].line, 1);
  EXPECT_EQ((*lines)[1].line, 4);
  EXPECT_EQ((*lines)[2].line, 5);
  EXPECT_EQ(std::get<int64_t>(*(*lines)[2].request.user.Find("a")), 3);
}

TEST(RequestJsonLinesTest, ErrorNamesSourceAndLine) {
  absl::StatusOr<std::vector<RequestLine>> lines =
      ParseRequestJsonLines("{}\n{}\n{\"candidates\": [{\"x\": true}]}\n", "reqs.jsonl");
  ASSERT_FALSE(lines.ok());
  EXPECT_THAT(std::string(lines.status().message()),
              AllOf(HasSubstr("reqs.jsonl:3: candidates[0].x"), HasSubstr("boolean")));
}

TEST(RequestJsonLinesTest, ReadsFileAndReportsMissingFile) {
  const std::filesystem::path path =
      std::filesystem::temp_directory_path() / "rankopt_request_json_test.jsonl";
  {
    std::ofstream out(path);
    out << "{\"candidates\": [{\"item_id\": 1}, {\"item_id\": 2}]}\n";
  }
  absl::StatusOr<std::vector<RequestLine>> lines = ReadRequestJsonLines(path.string());
  std::filesystem::remove(path);
  ASSERT_TRUE(lines.ok()) << lines.status();
  ASSERT_EQ(lines->size(), 1u);
  EXPECT_EQ((*lines)[0].request.candidates.size(), 2u);

  lines = ReadRequestJsonLines("/nonexistent/requests.jsonl");
  ASSERT_FALSE(lines.ok());
  EXPECT_EQ(lines.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(lines.status().message()), HasSubstr("/nonexistent/requests.jsonl"));
}

TEST(Utf8Test, FindsFirstInvalidByte) {
  EXPECT_EQ(FindInvalidUtf8("plain ascii"), -1);
  EXPECT_EQ(FindInvalidUtf8("K\xc3\xb6ln \xf0\x9f\x98\x80"), -1);
  EXPECT_EQ(FindInvalidUtf8("ab\xff"), 2);
  EXPECT_EQ(FindInvalidUtf8("a\xc3"), 1);             // truncated
  EXPECT_EQ(FindInvalidUtf8("\xc0\xaf"), 0);          // overlong
  EXPECT_EQ(FindInvalidUtf8("x\xed\xa0\x80"), 1);     // surrogate
  EXPECT_EQ(FindInvalidUtf8("\xf4\x90\x80\x80"), 0);  // above U+10FFFF
}

}  // namespace
}  // namespace rankopt
