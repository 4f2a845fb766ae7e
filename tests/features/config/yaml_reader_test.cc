// The typed YAML reads of features/config/yaml_reader.h on tiny inline documents: each error names
// the line and column, the key, what was found and what was expected.
#include "features/config/yaml_reader.h"

#include <string>
#include <utility>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "yaml-cpp/yaml.h"

namespace rankopt::config_internal {
namespace {

using ::testing::HasSubstr;

const Context kCtx{"test.yaml", ""};

// The entries of a one-mapping document.
std::vector<Entry> Entries(const std::string& yaml) {
  absl::StatusOr<std::vector<Entry>> entries = ReadMapping(kCtx, YAML::Load(yaml), "", "a mapping");
  EXPECT_TRUE(entries.ok()) << entries.status();
  return entries.ok() ? *std::move(entries) : std::vector<Entry>{};
}

TEST(YamlReaderTest, ReadMappingRejectsARepeatedKeyAtItsLine) {
  absl::StatusOr<std::vector<Entry>> entries =
      ReadMapping(kCtx, YAML::Load("a: 1\nb: 2\na: 3\n"), "feature 'x'", "a mapping");
  ASSERT_FALSE(entries.ok());
  EXPECT_THAT(entries.status().message(), HasSubstr("test.yaml:3:1: feature 'x': key 'a'"));
  EXPECT_THAT(entries.status().message(), HasSubstr("first at line 1"));
}

TEST(YamlReaderTest, CheckKnownKeysSuggestsTheClosestKey) {
  constexpr absl::string_view kKnown[] = {"name", "dim", "rows"};
  const absl::Status status = CheckKnownKeys(Entries("nmae: t\n"), "", "a table", kKnown);
  EXPECT_THAT(status.message(), HasSubstr("unknown key 'nmae'"));
  EXPECT_THAT(status.message(), HasSubstr("did you mean 'name'?"));
}

TEST(YamlReaderTest, ScalarReaders) {
  const std::vector<Entry> e = Entries("i: 7\nq: \"7\"\nh: 0xff\nb: True\nn: .nan\n");
  ASSERT_EQ(e.size(), 5u);
  EXPECT_EQ(*ReadInt(kCtx, e[0], ""), 7);
  EXPECT_THAT(ReadInt(kCtx, e[1], "").status().message(),
              HasSubstr("found the string \"7\" (remove the quotes)"));
  EXPECT_EQ(*ReadUint64(kCtx, e[2], ""), 255u);
  EXPECT_TRUE(*ReadBool(kCtx, e[3], ""));
  EXPECT_TRUE(ReadDouble(kCtx, e[4], "").ok());
  EXPECT_THAT(ReadFiniteDouble(kCtx, e[4], "").status().message(),
              HasSubstr("must be a finite number"));
  EXPECT_THAT(ReadIntAtLeast(kCtx, e[0], "", 8, "why").status().message(),
              HasSubstr("must be >= 8, found 7 (why)"));
}

TEST(YamlReaderTest, ReadConfigValueKeepsQuotedNumbersAsStrings) {
  const std::vector<Entry> e = Entries("a: \"5\"\nb: 5\nc: 2.5\nd: abc\ne: .inf\n");
  ASSERT_EQ(e.size(), 5u);
  EXPECT_EQ(*ReadConfigValue(kCtx, e[0], ""), ConfigValue(std::string("5")));
  EXPECT_EQ(*ReadConfigValue(kCtx, e[1], ""), ConfigValue(int64_t{5}));
  EXPECT_EQ(*ReadConfigValue(kCtx, e[2], ""), ConfigValue(2.5));
  EXPECT_EQ(*ReadConfigValue(kCtx, e[3], ""), ConfigValue(std::string("abc")));
  EXPECT_FALSE(ReadConfigValue(kCtx, e[4], "").ok());
}

TEST(YamlReaderTest, ReadEnumListsTheAllowedWords) {
  constexpr std::pair<absl::string_view, int> kAllowed[] = {{"user", 0}, {"item", 1}};
  const std::vector<Entry> e = Entries("side: item\nother: iten\n");
  EXPECT_EQ(*ReadEnum<int>(kCtx, e[0], "", kAllowed), 1);
  const absl::Status status = ReadEnum<int>(kCtx, e[1], "", kAllowed).status();
  EXPECT_THAT(status.message(), HasSubstr("other 'iten' is not one of 'user', 'item'"));
  EXPECT_THAT(status.message(), HasSubstr("did you mean 'item'?"));
}

TEST(YamlReaderTest, ResolvePathIsRelativeToTheConfigFolder) {
  const Context ctx{"configs/x.yaml", "configs"};
  EXPECT_EQ(ResolvePath(ctx, "vocab/a.txt"), "configs/vocab/a.txt");
  EXPECT_EQ(ResolvePath(ctx, "/abs/a.txt"), "/abs/a.txt");
}

}  // namespace
}  // namespace rankopt::config_internal
