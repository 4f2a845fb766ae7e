// ProtoToJson: report strings that are not UTF-8 (names from untrusted models) are escaped, and
// the escaping reaches nested, repeated and map fields. (protobuf 3.21's printer alone drops the
// invalid bytes, so two such names print alike, and logs an error per string.)
#include "core/proto_json.h"

#include <string>

#include "core/utf8.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"

namespace rankopt {
namespace {

TEST(Utf8Test, ValidAndInvalidSequences) {
  EXPECT_TRUE(IsValidUtf8(""));
  EXPECT_TRUE(IsValidUtf8("MatMul"));
  EXPECT_TRUE(IsValidUtf8("\xC3\xA9"));          // U+00E9
  EXPECT_TRUE(IsValidUtf8("\xE2\x82\xAC"));      // U+20AC
  EXPECT_TRUE(IsValidUtf8("\xF0\x9F\x98\x80"));  // U+1F600
  EXPECT_TRUE(IsValidUtf8("\xF4\x8F\xBF\xBF"));  // U+10FFFF
  EXPECT_FALSE(IsValidUtf8("\xFF"));
  EXPECT_FALSE(IsValidUtf8("\xC0\x80"));          // overlong NUL
  EXPECT_FALSE(IsValidUtf8("\xE0\x80\xAF"));      // overlong '/'
  EXPECT_FALSE(IsValidUtf8("\xED\xA0\x80"));      // surrogate U+D800
  EXPECT_FALSE(IsValidUtf8("\xF4\x90\x80\x80"));  // past U+10FFFF
  EXPECT_FALSE(IsValidUtf8("\xE2\x82"));          // cut short
  EXPECT_FALSE(IsValidUtf8("a\x80" "b"));         // a lone continuation byte
}

TEST(Utf8Test, EscapesOnlyTheInvalidBytes) {
  EXPECT_EQ(EscapeInvalidUtf8("op\xFFx\xC3\xA9"), "op\\xFFx\xC3\xA9");
  EXPECT_EQ(EscapeInvalidUtf8("\xE2\x82"), "\\xE2\\x82");
  EXPECT_EQ(EscapeInvalidUtf8("\xED\xA0\x80"), "\\xED\\xA0\\x80");
  EXPECT_EQ(EscapeInvalidUtf8("plain"), "plain");
}

TEST(ProtoToJsonTest, EscapesStringsEverywhere) {
  google::protobuf::Struct message;
  auto& fields = *message.mutable_fields();
  fields["key\xFE"].set_string_value("value\xFF");                       // map key and value
  auto* list = fields["list"].mutable_list_value();                     // repeated, nested
  list->add_values()->set_string_value("ok");
  list->add_values()->mutable_struct_value()->mutable_fields()->insert(
      {"deep", google::protobuf::Value()});
  (*list->mutable_values(1)->mutable_struct_value()->mutable_fields())["deep"].set_string_value(
      "\xC0\x80");

  google::protobuf::util::JsonPrintOptions options;

  const std::string json = ProtoToJson(message, options);
  google::protobuf::Struct back;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(json, &back).ok()) << json;
  ASSERT_EQ(back.fields().count("key\\xFE"), 1u) << json;
  EXPECT_EQ(back.fields().at("key\\xFE").string_value(), "value\\xFF");
  EXPECT_EQ(back.fields().at("list").list_value().values(0).string_value(), "ok");
  EXPECT_EQ(back.fields().at("list").list_value().values(1).struct_value().fields().at("deep")
                .string_value(),
            "\\xC0\\x80");
  // The input is left as it was.
  EXPECT_EQ(message.fields().at("key\xFE").string_value(), "value\xFF");
}

TEST(ProtoToJsonTest, ValidMessagesPrintAsProtobufDoes) {
  google::protobuf::Struct message;
  (*message.mutable_fields())["name"].set_string_value("Sigmoid \xE2\x82\xAC");
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = true;
  std::string direct;
  ASSERT_TRUE(google::protobuf::util::MessageToJsonString(message, &direct, options).ok());
  EXPECT_EQ(ProtoToJson(message, options), direct);
}

}  // namespace
}  // namespace rankopt
