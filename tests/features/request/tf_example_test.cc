// ParseTfExample against protobuf's own encoder (the generated tf.Example messages of
// graph/tf/tensorflow_subset.proto) as the reference.
#include "features/request/tf_example.h"

#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "graph/tf/tensorflow_subset.pb.h"
#include "gtest/gtest.h"
#include "rankopt/request_json.h"

namespace rankopt {
namespace {

using ::testing::HasSubstr;

tf::Feature* Add(tf::Example* ex, const std::string& key) {
  tf::FeatureEntry* e = ex->mutable_features()->add_feature();
  e->set_key(key);
  return e->mutable_value();
}

TEST(TfExampleTest, ScalarsListsAndEmptyListsMatchProtobufEncoding) {
  tf::Example ex;
  Add(&ex, "company")->mutable_bytes_list()->add_value("Flash Cab");
  Add(&ex, "fare")->mutable_float_list()->add_value(12.25f);
  Add(&ex, "hour")->mutable_int64_list()->add_value(-7);
  Add(&ex, "tags")->mutable_bytes_list()->add_value("a");
  ex.mutable_features()->mutable_feature(3)->mutable_value()->mutable_bytes_list()->add_value(
      std::string("b\0c", 3));
  tf::FloatList* floats = Add(&ex, "lat")->mutable_float_list();
  floats->add_value(41.5f);
  floats->add_value(-87.25f);
  tf::Int64List* ints = Add(&ex, "ids")->mutable_int64_list();
  ints->add_value(INT64_MAX);
  ints->add_value(INT64_MIN);
  Add(&ex, "empty")->mutable_float_list();
  Add(&ex, "nokind");

  FeatureRow row;
  ASSERT_TRUE(ParseTfExample(ex.SerializeAsString(), &row).ok());
  ASSERT_EQ(row.size(), 8u);
  EXPECT_EQ(std::get<std::string>(*row.Find("company")), "Flash Cab");
  EXPECT_EQ(std::get<double>(*row.Find("fare")), 12.25);
  EXPECT_EQ(std::get<int64_t>(*row.Find("hour")), -7);
  EXPECT_EQ(std::get<std::vector<std::string>>(*row.Find("tags")),
            (std::vector<std::string>{"a", std::string("b\0c", 3)}));
  EXPECT_EQ(std::get<std::vector<double>>(*row.Find("lat")), (std::vector<double>{41.5, -87.25}));
  EXPECT_EQ(std::get<std::vector<int64_t>>(*row.Find("ids")),
            (std::vector<int64_t>{INT64_MAX, INT64_MIN}));
  EXPECT_TRUE(std::holds_alternative<std::monostate>(*row.Find("empty")));
  EXPECT_TRUE(std::holds_alternative<std::monostate>(*row.Find("nokind")));
}

TEST(TfExampleTest, FloatBitsSurviveExactly) {
  tf::Example ex;
  tf::FloatList* floats = Add(&ex, "x")->mutable_float_list();
  const float values[] = {0.1f, -0.0f, 3.4028235e38f, 1e-45f};
  for (float v : values) floats->add_value(v);
  FeatureRow row;
  ASSERT_TRUE(ParseTfExample(ex.SerializeAsString(), &row).ok());
  const auto& got = std::get<std::vector<double>>(*row.Find("x"));
  ASSERT_EQ(got.size(), 4u);
  for (int i = 0; i < 4; ++i) EXPECT_EQ(static_cast<float>(got[i]), values[i]);
  EXPECT_TRUE(std::signbit(got[1]));
}

TEST(TfExampleTest, RepeatedKeyMeansTheLastEntryAndUnpackedListsAreRead) {
  tf::Example ex;
  Add(&ex, "k")->mutable_int64_list()->add_value(1);
  Add(&ex, "k")->mutable_int64_list()->add_value(2);
  std::string bytes = ex.SerializeAsString();
  // An unpacked int64_list (wire type 0 values), hand-encoded:
  // Example{features{feature{key "u" value{int64_list{value: 5 value: 6}}}}}.
  const std::string unpacked_ints("\x0a\x0d\x0a\x0b\x0a\x01u\x12\x06\x1a\x04\x08\x05\x08\x06", 15);
  FeatureRow row;
  ASSERT_TRUE(ParseTfExample(bytes, &row).ok());
  EXPECT_EQ(std::get<int64_t>(*row.Find("k")), 2);
  FeatureRow row2;
  absl::Status s = ParseTfExample(unpacked_ints, &row2);
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_EQ(std::get<std::vector<int64_t>>(*row2.Find("u")), (std::vector<int64_t>{5, 6}));
}

TEST(TfExampleTest, EveryTruncationIsAnErrorOrAPrefixNeverACrash) {
  tf::Example ex;
  Add(&ex, "company")->mutable_bytes_list()->add_value("Taxi Affiliation Services");
  tf::FloatList* floats = Add(&ex, "lat")->mutable_float_list();
  floats->add_value(41.5f);
  floats->add_value(-87.25f);
  Add(&ex, "hour")->mutable_int64_list()->add_value(300);
  const std::string bytes = ex.SerializeAsString();
  int errors = 0;
  for (size_t n = 0; n < bytes.size(); ++n) {
    FeatureRow row;
    absl::Status s = ParseTfExample(absl::string_view(bytes.data(), n), &row);
    if (!s.ok()) {
      ++errors;
      EXPECT_THAT(std::string(s.message()), HasSubstr("malformed tf.Example"));
    }
  }
  EXPECT_GT(errors, 0);
  // Bytes flipped one at a time: parsed or refused, never a crash (ASan checks reads).
  for (size_t i = 0; i < bytes.size(); ++i) {
    std::string damaged = bytes;
    damaged[i] = static_cast<char>(damaged[i] ^ 0xff);
    FeatureRow row;
    (void)ParseTfExample(damaged, &row);
  }
}

TEST(TfExampleTest, WrongWireTypesAreNamed) {
  // Example field 1 as a varint instead of a message.
  FeatureRow row;
  absl::Status s = ParseTfExample(std::string("\x08\x01", 2), &row);
  EXPECT_THAT(std::string(s.message()), HasSubstr("'features' is not length-delimited"));
  // A length that runs past the end.
  s = ParseTfExample(std::string("\x0a\x7f\x00", 3), &row);
  EXPECT_THAT(std::string(s.message()), HasSubstr("runs past the end"));
  // A packed float_list whose length is not a multiple of 4, in feature "f".
  const std::string bad_floats(
      "\x0a\x0d\x0a\x0b\x0a\x01"
      "f\x12\x06\x12\x04\x0a\x02\x00\x00",
      15);
  s = ParseTfExample(bad_floats, &row);
  EXPECT_THAT(std::string(s.message()), HasSubstr("feature 'f'"));
}

// TF Serving's binary form in request JSON: {"b64": base64 of a serialized tf.Example}.
TEST(TfExampleTest, RequestJsonTakesBase64TfExamples) {
  tf::Example ex;
  Add(&ex, "company")->mutable_bytes_list()->add_value("Flash Cab");
  Add(&ex, "fare")->mutable_float_list()->add_value(9.5f);
  const std::string b64 = absl::Base64Escape(ex.SerializeAsString());
  absl::StatusOr<Request> request =
      ParseRequestJson(absl::StrCat(R"({"user": {"b64": ")", b64, R"("}, "candidates": [{"b64": ")",
                                    b64, R"("}, {"b64": 3, "x": 1}]})"));
  ASSERT_TRUE(request.ok()) << request.status();
  EXPECT_EQ(std::get<std::string>(*request->user.Find("company")), "Flash Cab");
  ASSERT_EQ(request->candidates.size(), 2u);
  // A candidate's tf.Example stays serialized (the feature pipeline decodes it); its row is empty.
  ASSERT_EQ(request->candidate_examples.size(), 2u);
  EXPECT_EQ(request->candidate_examples[0], ex.SerializeAsString());
  EXPECT_TRUE(request->candidates[0].empty());
  EXPECT_EQ(request->candidate_examples[1], "");
  // With another key beside it, "b64" is an ordinary feature.
  EXPECT_EQ(std::get<int64_t>(*request->candidates[1].Find("b64")), 3);
  // Without a {"b64"} candidate there are no candidate_examples.
  absl::StatusOr<Request> plain = ParseRequestJson(R"({"candidates": [{"x": 1}]})");
  ASSERT_TRUE(plain.ok()) << plain.status();
  EXPECT_TRUE(plain->candidate_examples.empty());
  // Written back as {"b64": ...}, read again the same.
  absl::StatusOr<std::string> json = RequestToJson(*request);
  ASSERT_TRUE(json.ok()) << json.status();
  absl::StatusOr<Request> again = ParseRequestJson(*json);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->candidate_examples, request->candidate_examples);

  absl::StatusOr<Request> bad = ParseRequestJson(R"({"candidates": [{"b64": "%%%"}]})");
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(std::string(bad.status().message()), HasSubstr("candidates[0].b64"));
  EXPECT_THAT(std::string(bad.status().message()), HasSubstr("not valid base64"));
  // A malformed tf.Example of the user is refused here; a candidate's when it is transformed
  // (feature_transformer_test).
  bad = ParseRequestJson(absl::StrCat(R"({"user": {"b64": ")",
                                      absl::Base64Escape(std::string("\x0a\x7f", 2)), R"("}})"));
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(std::string(bad.status().message()), HasSubstr("user.b64"));
  EXPECT_THAT(std::string(bad.status().message()), HasSubstr("malformed tf.Example"));
  bad = ParseRequestJson(R"({"candidates": [{"b64": 7}]})");
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(std::string(bad.status().message()), HasSubstr("expected a base64 string"));
}

}  // namespace
}  // namespace rankopt
