#include "features/config/feature_config.h"

#include <simdjson.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace rankopt {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

const std::string kRepo = std::filesystem::path(RANKOPT_TESTDATA_DIR).parent_path().parent_path();
const std::string kDinYaml = kRepo + "/configs/din.yaml";
const std::string kEsmmYaml = kRepo + "/configs/esmm.yaml";
const std::string kFeatureData = std::string(RANKOPT_TESTDATA_DIR) + "/features";

// "line:col" (1-based) of the first occurrence of `marker` in `text`.
std::string PositionOf(const std::string& text, const std::string& marker) {
  size_t at = text.find(marker);
  EXPECT_NE(at, std::string::npos) << "marker '" << marker << "' not in the test YAML";
  if (at == std::string::npos) return "?";
  size_t line_start = text.rfind('\n', at);
  line_start = line_start == std::string::npos ? 0 : line_start + 1;
  int line = 1 + static_cast<int>(std::count(text.begin(), text.begin() + at, '\n'));
  return absl::StrCat(line, ":", at - line_start + 1);
}

// Parses `yaml` as "t.yaml" and expects an error at the first occurrence of `marker`
// ("t.yaml:L:C: ...") whose message contains `message`.
void ExpectErrorAt(const std::string& yaml, const std::string& marker, const std::string& message,
                   absl::StatusCode code = absl::StatusCode::kInvalidArgument) {
  absl::StatusOr<FeatureConfig> config = ParseFeatureConfig(yaml, "t.yaml", kFeatureData);
  ASSERT_FALSE(config.ok()) << "expected an error for:\n" << yaml;
  EXPECT_EQ(config.status().code(), code) << config.status();
  EXPECT_THAT(std::string(config.status().message()),
              StartsWith(absl::StrCat("t.yaml:", PositionOf(yaml, marker), ": ")));
  EXPECT_THAT(std::string(config.status().message()), HasSubstr(message));
}

// A valid two-feature config, with `extra` lines appended to the first feature and `more`
// appended after it (more features, or a tables section).
std::string Config(const std::string& extra, const std::string& more = "") {
  return absl::StrCat(
      "model: t\n"
      "features:\n"
      "  - name: item_id\n"
      "    side: item\n"
      "    kind: categorical\n"
      "    ids: identity\n"
      "    num_buckets: 100\n",
      extra, more);
}

// ---------- the peers' models ----------

std::string Str(simdjson::dom::element e) { return std::string(e.get_string().value()); }

simdjson::dom::element LoadJson(simdjson::dom::parser& parser, const std::string& path) {
  return parser.load(path).value();
}

// Every fact of ../shared/peers/mini/<model>.json (copied to tests/data/peers) that the config
// states: one feature per id input with its side and table, the dense columns, initializers.
void ExpectMatchesPeerJson(const FeatureConfig& config, const std::string& json_path,
                           const std::vector<std::string>& dense_sides) {
  simdjson::dom::parser parser;
  simdjson::dom::element json = LoadJson(parser, json_path);
  std::set<std::string> initializers;
  for (simdjson::dom::element w : json["weights"]["arrays"].get_array()) {
    initializers.insert(Str(w["name"]));
  }
  int id_inputs = 0;
  for (simdjson::dom::element input : json["inputs"].get_array()) {
    std::string name = Str(input["name"]);
    std::string dtype = Str(input["dtype"]);
    SCOPED_TRACE(name);
    if (name == "dense") {
      ASSERT_EQ(dtype, "float32");
      int64_t columns = input["shape"].at(1).get_int64();
      ASSERT_EQ(columns, static_cast<int64_t>(dense_sides.size()));
      for (int64_t c = 0; c < columns; ++c) {
        const FeatureSpec* column = nullptr;
        for (const FeatureSpec& f : config.features) {
          if (f.input == "dense" && f.input_column == c) column = &f;
        }
        ASSERT_NE(column, nullptr) << "no feature for dense column " << c;
        EXPECT_EQ(column->kind, FeatureKind::kNumeric);
        EXPECT_FALSE(column->ProducesIds());
        EXPECT_EQ(std::string(FeatureSideName(column->side)), dense_sides[c])
            << "dense column " << c;
      }
      continue;
    }
    const FeatureSpec* f = config.FindFeature(name);
    ASSERT_NE(f, nullptr);
    EXPECT_EQ(f->input, name);
    EXPECT_EQ(f->input_column, -1);
    EXPECT_EQ(dtype, "int64");
    EXPECT_EQ(std::string(FeatureSideName(f->side)), Str(input["side"]));
    simdjson::dom::element table = input["embedding_table"];
    if (table.is_null()) {
      // DIN's hist_len: the valid length of the [B, 50] sequences.
      ASSERT_EQ(f->kind, FeatureKind::kSequenceLength);
      const FeatureSpec* seq = config.FindFeature(f->length_of);
      ASSERT_NE(seq, nullptr);
      EXPECT_EQ(seq->max_len, 50);
      continue;
    }
    ++id_inputs;
    int64_t vocab = input["vocab"].get_int64();
    EXPECT_EQ(f->categorical.source, CategoricalSpec::Source::kIdentity);
    // Mini vocabularies are the full ones capped at 1000.
    EXPECT_EQ(std::min<int64_t>(f->NumIds(), 1000), vocab);
    int64_t rank = input["shape"].get_array().size();
    EXPECT_EQ(f->kind, rank == 2 ? FeatureKind::kSequence : FeatureKind::kCategorical);
    if (rank == 2) {
      EXPECT_EQ(f->max_len, input["shape"].at(1).get_int64().value());
    }
    ASSERT_TRUE(f->embedding.has_value());
    EXPECT_EQ(f->embedding->table, Str(table));
    const TableSpec* t = config.FindTable(f->embedding->table);
    ASSERT_NE(t, nullptr);
    EXPECT_EQ(t->dim, 16);
    EXPECT_EQ(t->rows, 0);  // from the weights: the same config serves mini and full
    EXPECT_EQ(t->source, TableSpec::Source::kGraphConstant);
    EXPECT_TRUE(initializers.count(t->source_name)) << t->source_name;
  }
  // Every feature is accounted for: id inputs, dense columns, and sequence lengths.
  int sequence_lengths = 0;
  for (const FeatureSpec& f : config.features) {
    sequence_lengths += f.kind == FeatureKind::kSequenceLength;
  }
  EXPECT_EQ(config.features.size(), id_inputs + dense_sides.size() + sequence_lengths);
}

TEST(PeerConfigs, DinMatchesThePeerModel) {
  absl::StatusOr<FeatureConfig> config = LoadFeatureConfig(kDinYaml);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->model, "din");
  EXPECT_EQ(config->path, kDinYaml);
  EXPECT_EQ(config->features.size(), 10u);
  ExpectMatchesPeerJson(*config, std::string(RANKOPT_TESTDATA_DIR) + "/peers/din.json",
                        {"user", "user", "item", "item"});
  // item and cate tables are each shared by the candidate id and the behaviour sequence.
  ASSERT_EQ(config->tables.size(), 3u);
  EXPECT_EQ(config->FindFeature("item_id")->embedding->table, "item");
  EXPECT_EQ(config->FindFeature("hist_item_ids")->embedding->table, "item");
  EXPECT_EQ(config->FindFeature("cate_id")->embedding->table, "cate");
  EXPECT_EQ(config->FindFeature("hist_cate_ids")->embedding->table, "cate");
  EXPECT_EQ(config->FindTable("item")->source_name, "item_emb.weight");
  EXPECT_EQ(config->FindTable("cate")->source_name, "cate_emb.weight");
  EXPECT_EQ(config->FindTable("user")->source_name, "user_emb.weight");
  // Full-scale vocabularies.
  EXPECT_EQ(config->FindFeature("item_id")->NumIds(), 500000);
  EXPECT_EQ(config->FindFeature("hist_item_ids")->NumIds(), 500000);
  EXPECT_EQ(config->FindFeature("cate_id")->NumIds(), 5000);
  EXPECT_EQ(config->FindFeature("hist_cate_ids")->NumIds(), 5000);
  EXPECT_EQ(config->FindFeature("user_id")->NumIds(), 100000);
  const FeatureSpec* hist_len = config->FindFeature("hist_len");
  EXPECT_EQ(hist_len->length_of, "hist_item_ids");
  EXPECT_EQ(hist_len->NumIds(), 51);  // lengths 0..50
  const FeatureSpec* hist = config->FindFeature("hist_item_ids");
  EXPECT_EQ(hist->padding_id, 0);
  EXPECT_EQ(hist->truncation, Truncation::kKeepLast);
}

TEST(PeerConfigs, EsmmMatchesThePeerModel) {
  absl::StatusOr<FeatureConfig> config = LoadFeatureConfig(kEsmmYaml);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->model, "esmm");
  EXPECT_EQ(config->features.size(), 15u);
  ExpectMatchesPeerJson(*config, std::string(RANKOPT_TESTDATA_DIR) + "/peers/esmm.json",
                        {"user", "item", "item"});
  EXPECT_EQ(config->tables.size(), 12u);
  EXPECT_EQ(config->FindFeature("hour_of_day")->side, FeatureSide::kContext);
  // Full-scale vocabularies (peers_common.ESMM_FIELDS); the JSON has the mini ones.
  const std::pair<const char*, int64_t> kFullVocab[] = {
      {"user_id", 400000},   {"user_age", 10},    {"user_occupation", 20}, {"user_geo", 1000},
      {"user_segment", 100}, {"hour_of_day", 24}, {"item_id", 500000},     {"shop_id", 200000},
      {"brand_id", 100000},  {"item_cate", 1000}, {"intention_node", 500}, {"price_bucket", 50}};
  for (const auto& [name, vocab] : kFullVocab) {
    ASSERT_NE(config->FindFeature(name), nullptr) << name;
    EXPECT_EQ(config->FindFeature(name)->NumIds(), vocab) << name;
  }
  EXPECT_EQ(config->FindTable("price_bucket")->source_name, "emb.price_bucket.weight");
}

// The full peers folder, when present, holds the same JSON as the copies.
TEST(PeerConfigs, SharedPeersJsonWhenPresent) {
  std::string dir = std::string(RANKOPT_SHARED_DIR) + "/peers/mini";
  if (!std::filesystem::exists(dir + "/din.json")) GTEST_SKIP() << dir << " absent";
  absl::StatusOr<FeatureConfig> din = LoadFeatureConfig(kDinYaml);
  absl::StatusOr<FeatureConfig> esmm = LoadFeatureConfig(kEsmmYaml);
  ASSERT_TRUE(din.ok() && esmm.ok());
  ExpectMatchesPeerJson(*din, dir + "/din.json", {"user", "user", "item", "item"});
  ExpectMatchesPeerJson(*esmm, dir + "/esmm.json", {"user", "item", "item"});
}

// ---------- the showcase config: every transform ----------

TEST(ShowcaseConfig, EveryTransformAsWritten) {
  absl::StatusOr<FeatureConfig> config = LoadFeatureConfig(kFeatureData + "/showcase.yaml");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_TRUE(config->ignore_unknown_features);

  const FeatureSpec& user_id = *config->FindFeature("user_id");
  EXPECT_EQ(user_id.categorical.source, CategoricalSpec::Source::kHash);
  EXPECT_EQ(user_id.categorical.hash, HashFunction::kTfFingerprint64);
  EXPECT_TRUE(user_id.categorical.hash_integers_as_decimal);
  EXPECT_EQ(user_id.NumIds(), 1000);
  EXPECT_EQ(user_id.default_value, ConfigValue(int64_t{0}));

  const FeatureSpec& item_id = *config->FindFeature("item_id");
  EXPECT_EQ(item_id.categorical.hash, HashFunction::kXxh64);
  EXPECT_EQ(item_id.categorical.seed, 42u);
  EXPECT_FALSE(item_id.categorical.hash_integers_as_decimal);
  EXPECT_EQ(item_id.default_value, ConfigValue(std::string("unknown")));

  const FeatureSpec& city = *config->FindFeature("user_city");
  EXPECT_EQ(city.categorical.source, CategoricalSpec::Source::kVocabulary);
  EXPECT_EQ(city.categorical.vocabulary,
            (std::vector<std::string>{"beijing", "shanghai", "shenzhen", "hangzhou"}));
  EXPECT_EQ(city.categorical.vocabulary_file, kFeatureData + "/cities.vocab");
  EXPECT_EQ(city.categorical.oov_buckets, 2);
  EXPECT_EQ(city.NumIds(), 6);

  const FeatureSpec& age = *config->FindFeature("user_age");
  EXPECT_TRUE(age.numeric.from_string);
  EXPECT_EQ(age.numeric.boundaries, (std::vector<float>{18, 25, 35, 50, 65}));
  EXPECT_TRUE(age.ProducesIds());
  EXPECT_EQ(age.NumIds(), 6);
  EXPECT_EQ(age.default_value, ConfigValue(30.0));  // numeric defaults are always doubles

  const FeatureSpec& price = *config->FindFeature("item_price");
  EXPECT_EQ(price.numeric.normalize, NumericSpec::Normalize::kStandard);
  EXPECT_EQ(price.numeric.mean, 12.5);
  EXPECT_EQ(price.numeric.stddev, 4.0);
  EXPECT_EQ(price.input, "item_dense");
  EXPECT_EQ(price.input_column, 0);
  EXPECT_FALSE(price.ProducesIds());
  const FeatureSpec& ctr = *config->FindFeature("item_ctr_7d");
  EXPECT_EQ(ctr.numeric.normalize, NumericSpec::Normalize::kMinMax);
  EXPECT_EQ(ctr.numeric.max, 0.25);
  EXPECT_FALSE(ctr.default_value.has_value());

  const FeatureSpec& cross = *config->FindFeature("city_x_item");
  EXPECT_EQ(cross.kind, FeatureKind::kCross);
  EXPECT_EQ(cross.crossed, (std::vector<std::string>{"user_city", "item_id"}));
  EXPECT_EQ(cross.NumIds(), 10000);
  EXPECT_EQ(cross.categorical.hash, HashFunction::kXxh64);

  const FeatureSpec& clicked = *config->FindFeature("clicked_items");
  EXPECT_EQ(clicked.embedding->dim, 8);  // from the table
  EXPECT_EQ(clicked.max_len, 20);
  EXPECT_EQ(config->FindFeature("clicked_len")->NumIds(), 21);

  EXPECT_EQ(config->FindTable("city")->dim, 4);  // from the feature
  EXPECT_EQ(config->FindTable("user")->dtype, DType::kFloat16);
  EXPECT_EQ(config->FindTable("user")->rows, 1000);
  EXPECT_EQ(config->FindTable("user")->source, TableSpec::Source::kNpy);
  EXPECT_EQ(config->FindTable("user")->source_name, kFeatureData + "/weights/user.npy");
  EXPECT_EQ(config->FindTable("item")->dtype, DType::kInt8);
  EXPECT_EQ(config->FindTable("age")->dtype, DType::kFloat32);
  EXPECT_NE(config->FindTable("unused"), nullptr);
  EXPECT_EQ(config->FindTable("nope"), nullptr);
  EXPECT_EQ(config->FindFeature("nope"), nullptr);
}

// ---------- defaults ----------

TEST(Defaults, UnwrittenKeysTakeTheDocumentedDefaults) {
  absl::StatusOr<FeatureConfig> config = ParseFeatureConfig(
      "features:\n"
      "  - {name: a, side: user, kind: categorical, hash_buckets: 10}\n"
      "  - {name: s, side: user, kind: sequence, hash_buckets: 10, max_len: 3}\n"
      "  - {name: x, side: item, kind: numeric}\n"
      "  - {name: v, side: item, kind: categorical, ids: vocabulary, vocabulary: [p, q]}\n",
      "d.yaml");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->model, "");
  EXPECT_FALSE(config->ignore_unknown_features);
  EXPECT_TRUE(config->tables.empty());
  const FeatureSpec& a = config->features[0];
  EXPECT_EQ(a.input, "a");
  EXPECT_EQ(a.input_column, -1);
  EXPECT_EQ(a.categorical.source, CategoricalSpec::Source::kHash);
  EXPECT_EQ(a.categorical.hash, HashFunction::kXxh64);
  EXPECT_EQ(a.categorical.seed, 0u);
  EXPECT_FALSE(a.categorical.hash_integers_as_decimal);
  EXPECT_FALSE(a.default_value.has_value());
  EXPECT_FALSE(a.embedding.has_value());
  EXPECT_EQ(a.location.ToString(), "d.yaml:2:5");
  const FeatureSpec& s = config->features[1];
  EXPECT_EQ(s.padding_id, 0);
  EXPECT_EQ(s.truncation, Truncation::kKeepLast);
  const FeatureSpec& x = config->features[2];
  EXPECT_EQ(x.numeric.normalize, NumericSpec::Normalize::kNone);
  EXPECT_TRUE(x.numeric.boundaries.empty());
  EXPECT_FALSE(x.numeric.from_string);
  EXPECT_EQ(x.NumIds(), 0);
  const FeatureSpec& v = config->features[3];
  EXPECT_EQ(v.categorical.oov_buckets, 1);
  EXPECT_EQ(v.categorical.vocabulary_file, "");
  EXPECT_EQ(v.NumIds(), 3);
}

TEST(Defaults, DefaultValuesAreTypedAsWritten) {
  struct Case {
    std::string feature;
    ConfigValue expected;
  };
  const Case cases[] = {
      {"{name: f, side: user, kind: categorical, hash_buckets: 9, default: 7}", int64_t{7}},
      {"{name: f, side: user, kind: categorical, hash_buckets: 9, default: -7}", int64_t{-7}},
      {"{name: f, side: user, kind: categorical, hash_buckets: 9, default: \"7\"}",
       std::string("7")},
      {"{name: f, side: user, kind: categorical, hash_buckets: 9, default: '007'}",
       std::string("007")},
      {"{name: f, side: user, kind: categorical, hash_buckets: 9, default: none}",
       std::string("none")},
      {"{name: f, side: user, kind: categorical, ids: identity, num_buckets: 9, default: 8}",
       int64_t{8}},
      {"{name: f, side: user, kind: numeric, default: 3}", 3.0},
      {"{name: f, side: user, kind: numeric, default: -2.5e-3}", -2.5e-3},
  };
  for (const Case& c : cases) {
    absl::StatusOr<FeatureConfig> config =
        ParseFeatureConfig(absl::StrCat("features:\n  - ", c.feature, "\n"), "d.yaml");
    ASSERT_TRUE(config.ok()) << c.feature << ": " << config.status();
    ASSERT_TRUE(config->features[0].default_value.has_value()) << c.feature;
    EXPECT_EQ(*config->features[0].default_value, c.expected) << c.feature;
  }
}

// Compares every field but source locations (which a round trip changes).
void ExpectSameConfig(const FeatureConfig& a, const FeatureConfig& b) {
  EXPECT_EQ(a.model, b.model);
  EXPECT_EQ(a.ignore_unknown_features, b.ignore_unknown_features);
  ASSERT_EQ(a.features.size(), b.features.size());
  for (size_t i = 0; i < a.features.size(); ++i) {
    const FeatureSpec& x = a.features[i];
    const FeatureSpec& y = b.features[i];
    SCOPED_TRACE(x.name);
    EXPECT_EQ(x.name, y.name);
    EXPECT_EQ(x.side, y.side);
    EXPECT_EQ(x.kind, y.kind);
    EXPECT_EQ(x.input, y.input);
    EXPECT_EQ(x.input_column, y.input_column);
    EXPECT_EQ(x.categorical.source, y.categorical.source);
    EXPECT_EQ(x.categorical.hash_buckets, y.categorical.hash_buckets);
    EXPECT_EQ(x.categorical.hash, y.categorical.hash);
    EXPECT_EQ(x.categorical.seed, y.categorical.seed);
    EXPECT_EQ(x.categorical.hash_integers_as_decimal, y.categorical.hash_integers_as_decimal);
    EXPECT_EQ(x.categorical.vocabulary, y.categorical.vocabulary);
    EXPECT_EQ(x.categorical.oov_buckets, y.categorical.oov_buckets);
    EXPECT_EQ(x.categorical.num_buckets, y.categorical.num_buckets);
    EXPECT_EQ(x.numeric.boundaries, y.numeric.boundaries);
    EXPECT_EQ(x.numeric.normalize, y.numeric.normalize);
    EXPECT_EQ(x.numeric.mean, y.numeric.mean);
    EXPECT_EQ(x.numeric.stddev, y.numeric.stddev);
    EXPECT_EQ(x.numeric.min, y.numeric.min);
    EXPECT_EQ(x.numeric.max, y.numeric.max);
    EXPECT_EQ(x.numeric.from_string, y.numeric.from_string);
    EXPECT_EQ(x.max_len, y.max_len);
    EXPECT_EQ(x.padding_id, y.padding_id);
    EXPECT_EQ(x.truncation, y.truncation);
    EXPECT_EQ(x.crossed, y.crossed);
    EXPECT_EQ(x.length_of, y.length_of);
    EXPECT_EQ(x.default_value, y.default_value);
    ASSERT_EQ(x.embedding.has_value(), y.embedding.has_value());
    if (x.embedding.has_value()) {
      EXPECT_EQ(x.embedding->table, y.embedding->table);
      EXPECT_EQ(x.embedding->dim, y.embedding->dim);
    }
  }
  ASSERT_EQ(a.tables.size(), b.tables.size());
  for (size_t i = 0; i < a.tables.size(); ++i) {
    EXPECT_EQ(a.tables[i].name, b.tables[i].name);
    EXPECT_EQ(a.tables[i].rows, b.tables[i].rows);
    EXPECT_EQ(a.tables[i].dim, b.tables[i].dim);
    EXPECT_EQ(a.tables[i].dtype, b.tables[i].dtype);
    EXPECT_EQ(a.tables[i].source, b.tables[i].source);
    EXPECT_EQ(a.tables[i].source_name, b.tables[i].source_name);
  }
}

TEST(RoundTrip, ToYamlParsesBackToTheSameConfig) {
  for (const std::string& path : {kDinYaml, kEsmmYaml, kFeatureData + "/showcase.yaml"}) {
    SCOPED_TRACE(path);
    absl::StatusOr<FeatureConfig> config = LoadFeatureConfig(path);
    ASSERT_TRUE(config.ok()) << config.status();
    std::string yaml = FeatureConfigToYaml(*config);
    // No base dir: every path in the text is already resolved and vocabularies are inline.
    absl::StatusOr<FeatureConfig> again = ParseFeatureConfig(yaml, "again.yaml", "/nonexistent");
    ASSERT_TRUE(again.ok()) << again.status() << "\n" << yaml;
    ExpectSameConfig(*config, *again);
    EXPECT_EQ(FeatureConfigToYaml(*again), yaml);
  }
}

TEST(RoundTrip, AwkwardValuesSurvive) {
  absl::StatusOr<FeatureConfig> config = ParseFeatureConfig(
      "model: \"a: b # c\"\n"
      "features:\n"
      "  - {name: v, side: user, kind: categorical, ids: vocabulary, default: '12',\n"
      "     vocabulary: ['yes', 'null', '1.5', ' padded ', \"quote\\\"d\", \"\\u00e9t\\u00e9\"]}\n"
      "  - {name: n, side: user, kind: numeric, boundaries: [0.1, 1e-7, 3.4e38],\n"
      "     default: 2.0}\n"
      "  - {name: h, side: user, kind: categorical, hash_buckets: 5, seed: 18446744073709551615}\n",
      "a.yaml");
  // 1e-7 < 0.1: fix the order first, then round trip.
  ASSERT_FALSE(config.ok());
  config = ParseFeatureConfig(
      "model: \"a: b # c\"\n"
      "features:\n"
      "  - {name: v, side: user, kind: categorical, ids: vocabulary, default: '12',\n"
      "     vocabulary: ['yes', 'null', '1.5', ' padded ', \"quote\\\"d\", \"\\u00e9t\\u00e9\"]}\n"
      "  - {name: n, side: user, kind: numeric, boundaries: [1e-7, 0.1, 3.4e38],\n"
      "     default: 2.0}\n"
      "  - {name: h, side: user, kind: categorical, hash_buckets: 5, seed: 18446744073709551615}\n",
      "a.yaml");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->model, "a: b # c");
  EXPECT_EQ(config->features[0].categorical.vocabulary[4], "quote\"d");
  EXPECT_EQ(config->features[0].categorical.vocabulary[5], "\xc3\xa9t\xc3\xa9");
  EXPECT_EQ(config->features[2].categorical.seed, 18446744073709551615u);
  std::string yaml = FeatureConfigToYaml(*config);
  absl::StatusOr<FeatureConfig> again = ParseFeatureConfig(yaml, "again.yaml");
  ASSERT_TRUE(again.ok()) << again.status() << "\n" << yaml;
  ExpectSameConfig(*config, *again);
  EXPECT_EQ(again->features[1].default_value, ConfigValue(2.0));
  EXPECT_EQ(again->features[0].default_value, ConfigValue(std::string("12")));
}

// The complete example in configs/README.md is a valid config.
TEST(Docs, ReadmeExampleParses) {
  std::ifstream in(kRepo + "/configs/README.md");
  std::stringstream text;
  text << in.rdbuf();
  std::string readme = text.str();
  size_t start = readme.find("```yaml\n");
  ASSERT_NE(start, std::string::npos);
  start += 8;
  size_t end = readme.find("```", start);
  ASSERT_NE(end, std::string::npos);
  std::string yaml = readme.substr(start, end - start);
  std::filesystem::path dir =
      std::filesystem::temp_directory_path() / absl::StrCat("rankopt_readme_", ::getpid());
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "cities.txt") << "beijing\nshanghai\n";
  absl::StatusOr<FeatureConfig> config = ParseFeatureConfig(yaml, "README.md", dir.string());
  std::filesystem::remove_all(dir);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->features.size(), 10u);
  EXPECT_EQ(config->tables.size(), 5u);
  EXPECT_EQ(config->FindFeature("clicked_items")->embedding->dim, 16);
  EXPECT_EQ(config->FindFeature("user_city")->NumIds(), 6);
}

// ---------- files ----------

TEST(Files, MissingConfigFileIsNotFound) {
  absl::StatusOr<FeatureConfig> config = LoadFeatureConfig("/nonexistent/din.yaml");
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(config.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(config.status().message()), HasSubstr("/nonexistent/din.yaml"));
}

TEST(Files, DirectoryIsNotAConfig) {
  absl::StatusOr<FeatureConfig> config = LoadFeatureConfig(kFeatureData);
  ASSERT_FALSE(config.ok());
  EXPECT_THAT(std::string(config.status().message()), HasSubstr(kFeatureData));
}

TEST(Files, MissingVocabularyFile) {
  std::string yaml =
      "features:\n"
      "  - {name: c, side: user, kind: categorical, ids: vocabulary, vocabulary_file: nope.txt}\n";
  ExpectErrorAt(yaml, "nope.txt", "cannot read vocabulary_file 'nope.txt'",
                absl::StatusCode::kNotFound);
  ExpectErrorAt(yaml, "nope.txt", kFeatureData + "/nope.txt", absl::StatusCode::kNotFound);
}

TEST(Files, VocabularyFileThatIsADirectory) {
  ExpectErrorAt(
      "features:\n"
      "  - {name: c, side: user, kind: categorical, ids: vocabulary, vocabulary_file: .}\n",
      ".}", "is a directory", absl::StatusCode::kNotFound);
}

class VocabularyFileTest : public ::testing::Test {
 protected:
  std::string Write(const std::string& contents) {
    dir_ = std::filesystem::temp_directory_path() /
           absl::StrCat("rankopt_vocab_", ::testing::UnitTest::GetInstance()->random_seed(), "_",
                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir_);
    std::ofstream(dir_ / "v.txt", std::ios::binary) << contents;
    return dir_.string();
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  absl::StatusOr<FeatureConfig> Parse(const std::string& dir) {
    return ParseFeatureConfig(
        "features:\n"
        "  - {name: c, side: user, kind: categorical, ids: vocabulary, vocabulary_file: v.txt}\n",
        "t.yaml", dir);
  }
  std::filesystem::path dir_;
};

TEST_F(VocabularyFileTest, Empty) {
  absl::StatusOr<FeatureConfig> config = Parse(Write(""));
  ASSERT_FALSE(config.ok());
  EXPECT_THAT(std::string(config.status().message()), StartsWith("t.yaml:2:80: feature 'c': "));
  EXPECT_THAT(std::string(config.status().message()), HasSubstr("is empty"));
}

TEST_F(VocabularyFileTest, CrlfAndNoFinalNewline) {
  absl::StatusOr<FeatureConfig> config = Parse(Write("a\r\nb\r\nc"));
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->features[0].categorical.vocabulary, (std::vector<std::string>{"a", "b", "c"}));
}

TEST_F(VocabularyFileTest, DuplicateAndBlankLines) {
  absl::StatusOr<FeatureConfig> config = Parse(Write("a\nb\na\n"));
  ASSERT_FALSE(config.ok());
  EXPECT_THAT(std::string(config.status().message()), HasSubstr("line 3: 'a' repeats line 1"));
  config = Parse(Write("a\n\nb\n"));
  ASSERT_FALSE(config.ok());
  EXPECT_THAT(std::string(config.status().message()), HasSubstr("line 2 is empty"));
}

// ---------- the file as a whole ----------

TEST(Errors, YamlSyntax) {
  absl::StatusOr<FeatureConfig> config =
      ParseFeatureConfig("features:\n  - {name: a, side: user\n", "t.yaml");
  ASSERT_FALSE(config.ok());
  EXPECT_THAT(std::string(config.status().message()), StartsWith("t.yaml:3:1: YAML syntax error"));
  config = ParseFeatureConfig("features:\n  - name: a\n   side: user\n", "t.yaml");
  ASSERT_FALSE(config.ok());
  EXPECT_THAT(std::string(config.status().message()),
              StartsWith("t.yaml:3:4: YAML syntax error: end of sequence not found"));
  config = ParseFeatureConfig("features: [a, b]]\n", "t.yaml");
  ASSERT_FALSE(config.ok());
  EXPECT_THAT(std::string(config.status().message()),
              StartsWith("t.yaml:1:17: YAML syntax error: illegal flow end"));
  config = ParseFeatureConfig("model: a: b\n", "t.yaml");
  ASSERT_FALSE(config.ok());
  EXPECT_THAT(std::string(config.status().message()),
              StartsWith("t.yaml:1:9: YAML syntax error: illegal map value"));
}

TEST(Errors, EmptyFile) {
  for (const char* text : {"", "\n\n", "# only a comment\n", "---\n", "~\n"}) {
    absl::StatusOr<FeatureConfig> config = ParseFeatureConfig(text, "t.yaml");
    ASSERT_FALSE(config.ok()) << text;
    EXPECT_THAT(std::string(config.status().message()),
                StartsWith("t.yaml:1:1: the feature config is empty"));
  }
}

TEST(Errors, TopLevelNotAMapping) {
  ExpectErrorAt("# a list\n- a\n- b\n", "- a", "expected a mapping at the top level");
  ExpectErrorAt("just a string\n", "just", "expected a mapping at the top level");
}

TEST(Errors, UnknownKeysSuggestTheClosest) {
  ExpectErrorAt("model: x\nfeaturs: []\n", "featurs",
                "unknown key 'featurs' in the top level; "
                "did you mean 'features'?");
  ExpectErrorAt(Config("    hash_bucket: 3\n"), "hash_bucket",
                "feature 'item_id': unknown key 'hash_bucket' in a feature; did you mean "
                "'hash_buckets'?");
  ExpectErrorAt(Config("    embedding: {table: t, dimension: 4}\n"), "dimension",
                "unknown key 'dimension' in embedding; did you mean 'dim'?");
  ExpectErrorAt(Config("", "tables:\n  - {name: t, dim: 4, wieghts: {npy: a.npy}}\n"), "wieghts",
                "table 't': unknown key 'wieghts' in a table; did you mean 'weights'?");
  ExpectErrorAt(Config("", "tables:\n  - {name: t, dim: 4, weights: {graph_const: a}}\n"),
                "graph_const", "did you mean 'graph_constant'?");
  // Nothing close: no suggestion, but the known keys are listed.
  ExpectErrorAt(Config("    zzzzzzzzzzzz: 3\n"), "zzzz", "(known keys: name, side, kind");
}

TEST(Errors, RepeatedKey) {
  ExpectErrorAt(Config("    num_buckets: 200\n"), "num_buckets: 200",
                "key 'num_buckets' appears twice (first at line 7)");
}

TEST(Errors, WrongTypes) {
  std::string head = "features:\n  - {name: a, side: user, kind: categorical, ";
  ExpectErrorAt(head + "hash_buckets: many}\n", "many",
                "key 'hash_buckets' expects an integer, found 'many'");
  ExpectErrorAt(head + "hash_buckets: \"100\"}\n", "\"100\"",
                "key 'hash_buckets' expects an integer, found the string \"100\" (remove the "
                "quotes)");
  ExpectErrorAt(head + "hash_buckets: 1.5}\n", "1.5", "expects an integer, found '1.5'");
  ExpectErrorAt(head + "hash_buckets: [1]}\n", "[1]", "expects an integer, found a list");
  ExpectErrorAt(head + "hash_buckets: 10, hash_integers_as_decimal: yes please}\n", "yes please",
                "key 'hash_integers_as_decimal' expects true or false, found 'yes please'");
  ExpectErrorAt(head + "hash_buckets: 10, seed: -1}\n", "-1}",
                "key 'seed' expects an unsigned 64-bit integer");
  ExpectErrorAt(head + "hash_buckets: 99999999999999999999}\n", "9999",
                "expects an integer, found '99999999999999999999'");
  ExpectErrorAt("features:\n  - {name: [a], side: user}\n", "[a]",
                "feature #1: key 'name' expects a string, found a list");
  ExpectErrorAt("features:\n  - {name: a, side: {x: 1}, kind: numeric}\n", "{x: 1}",
                "key 'side' expects one of 'user', 'context', 'item', found a mapping");
  ExpectErrorAt("features:\n  - {name: a, side: user, kind: numeric, boundaries: 5}\n", "5}",
                "key 'boundaries' expects a non-empty list of increasing numbers, found '5'");
  ExpectErrorAt("features:\n  - {name: a, side: user, kind: numeric, boundaries: [1, x]}\n", "x]",
                "key 'boundaries[1]' expects a number, found 'x'");
  ExpectErrorAt("features:\n  - {name: a, side: user, kind: numeric, mean: 1}\n", "mean",
                "key 'mean' applies to normalize: standard, but this feature has normalize: none");
  ExpectErrorAt("features: {a: 1}\n", "{a: 1}",
                "key 'features' expects a non-empty list of features, found a mapping");
  ExpectErrorAt("features: []\n", "[]", "expects a non-empty list of features");
  ExpectErrorAt("features:\n  - just_a_name\n", "just_a_name",
                "feature #1: expected a feature mapping (name:, side:, kind:, ...), found "
                "'just_a_name'");
  ExpectErrorAt("ignore_unknown_features: 1\nfeatures: []\n", "1\n",
                "key 'ignore_unknown_features' expects true or false, found '1'");
  ExpectErrorAt(Config("    embedding: tbl\n"), "tbl",
                "expected 'embedding' to be a mapping like {table: item, dim: 16}, found 'tbl'");
  ExpectErrorAt("features:\n  - {name: a, side: user, kind: categorical, hash_buckets:}\n",
                "hash_buckets:", "key 'hash_buckets' expects an integer, found nothing");
  ExpectErrorAt(Config("", "tables: {name: t}\n"), "{name: t}",
                "key 'tables' expects a list of tables, found a mapping");
}

TEST(Errors, MissingRequiredKeys) {
  ExpectErrorAt("model: x\n", "model", "missing required key 'features' in the top level");
  ExpectErrorAt("features:\n  - {side: user, kind: numeric}\n", "{side",
                "feature #1: missing required key 'name'");
  ExpectErrorAt("features:\n  - {name: a, kind: numeric}\n", "{name",
                "feature 'a': missing required key 'side' in a feature; one of 'user', "
                "'context', 'item'");
  ExpectErrorAt("features:\n  - {name: a, side: user}\n", "{name",
                "feature 'a': missing required key 'kind'");
  ExpectErrorAt("features:\n  - {name: a, side: user, kind: categorical}\n", "{name",
                "missing required key 'hash_buckets' in a hashed feature");
  ExpectErrorAt("features:\n  - {name: a, side: user, kind: categorical, ids: identity}\n", "{name",
                "missing required key 'num_buckets' in an ids: identity feature");
  ExpectErrorAt("features:\n  - {name: a, side: user, kind: categorical, ids: vocabulary}\n",
                "{name", "ids: vocabulary needs exactly one of 'vocabulary_file'");
  ExpectErrorAt("features:\n  - {name: a, side: user, kind: sequence, hash_buckets: 3}\n", "{name",
                "missing required key 'max_len' in a sequence feature");
  ExpectErrorAt("features:\n  - {name: a, side: user, kind: sequence_length}\n", "{name",
                "missing required key 'length_of'");
  ExpectErrorAt("features:\n  - {name: a, side: user, kind: cross, hash_buckets: 3}\n", "{name",
                "missing required key 'crossed' in a cross feature");
  ExpectErrorAt(
      "features:\n  - {name: a, side: user, kind: numeric, normalize: standard, "
      "mean: 1}\n",
      "{name", "missing required key 'stddev' in normalize: standard");
  ExpectErrorAt(Config("    embedding: {dim: 4}\n"), "{dim: 4}",
                "missing required key 'table' in embedding");
  ExpectErrorAt(Config("", "tables:\n  - {name: t, dim: 4}\n"), "{name: t, dim: 4}",
                "table 't': missing required key 'weights' in a table");
  ExpectErrorAt(Config("", "tables:\n  - {dim: 4}\n"), "{dim: 4}",
                "table #1: missing required key 'name'");
  ExpectErrorAt(Config("", "tables:\n  - {name: t, weights: {npy: a, graph_constant: b}}\n"),
                "weights", "weights needs exactly one of 'graph_constant' or 'npy'");
}

TEST(Errors, ValuesNotInTheirSets) {
  ExpectErrorAt("features:\n  - {name: a, side: candidate, kind: numeric}\n", "candidate",
                "side 'candidate' is not one of 'user', 'context', 'item'");
  ExpectErrorAt("features:\n  - {name: a, side: usr, kind: numeric}\n", "usr",
                "side 'usr' is not one of 'user', 'context', 'item'; did you mean 'user'?");
  ExpectErrorAt("features:\n  - {name: a, side: user, kind: dense}\n", "dense",
                "kind 'dense' is not one of 'categorical', 'numeric', 'sequence', 'cross', "
                "'sequence_length'");
  ExpectErrorAt("features:\n  - {name: a, side: user, kind: categorical, ids: lookup}\n", "lookup",
                "ids 'lookup' is not one of 'hash', 'vocabulary', 'identity'");
  ExpectErrorAt(
      "features:\n  - {name: a, side: user, kind: categorical, hash_buckets: 3, hash: murmur}\n",
      "murmur", "hash 'murmur' is not one of 'xxh64', 'tf_fingerprint64'");
  ExpectErrorAt(Config("", "tables:\n  - {name: t, dim: 4, dtype: bf16, weights: {npy: a}}\n"),
                "bf16", "dtype 'bf16' is not one of 'fp32', 'fp16', 'int8'");
  ExpectErrorAt(
      "features:\n  - {name: a, side: user, kind: sequence, hash_buckets: 3, "
      "max_len: 2, truncation: newest}\n",
      "newest", "truncation 'newest' is not one of 'keep_last', 'keep_first'");
  ExpectErrorAt("features:\n  - {name: a, side: user, kind: numeric, normalize: zscore}\n",
                "zscore", "normalize 'zscore' is not one of 'none', 'standard', 'minmax'");
}

TEST(Errors, KeysThatDoNotApply) {
  ExpectErrorAt(Config("    max_len: 5\n"), "max_len",
                "key 'max_len' does not apply to kind categorical; it applies to kind sequence");
  ExpectErrorAt(Config("    hash_buckets: 5\n"), "hash_buckets",
                "key 'hash_buckets' applies to ids: hash, but this feature has ids: identity");
  ExpectErrorAt("features:\n  - {name: a, side: user, kind: categorical, num_buckets: 3}\n",
                "num_buckets",
                "key 'num_buckets' applies to ids: identity, but this feature has ids: hash (the "
                "default)");
  ExpectErrorAt(
      "features:\n  - {name: a, side: user, kind: categorical, hash: tf_fingerprint64, "
      "seed: 3, hash_buckets: 3}\n",
      "seed", "hash tf_fingerprint64 takes no seed");
  ExpectErrorAt("features:\n  - {name: a, side: user, kind: numeric, embedding: {table: t}}\n",
                "embedding", "without 'boundaries' is a float and cannot index an embedding");
  ExpectErrorAt(
      "features:\n  - {name: a, side: user, kind: numeric, boundaries: [1],"
      " normalize: standard, mean: 0, stddev: 1}\n",
      "normalize", "'normalize' and 'boundaries' exclude each other");
}

TEST(Errors, BoundariesStrictlyIncreasing) {
  std::string head = "features:\n  - {name: a, side: user, kind: numeric, boundaries: ";
  ExpectErrorAt(head + "[1, 3, 2]}\n", "2]",
                "boundaries must be strictly increasing, but boundaries[2] = 2 is not greater "
                "than boundaries[1] = 3");
  ExpectErrorAt(head + "[1, 1]}\n", "1]", "boundaries[1] = 1 is not greater");
  ExpectErrorAt(head + "[1, .nan]}\n", ".nan", "boundaries[1] is NaN");
  ExpectErrorAt(head + "[nan]}\n", "nan", "boundaries[0] is NaN");
  // Distinct as written, equal once stored as float32.
  ExpectErrorAt(head + "[1.00000001, 1.00000002]}\n", "1.00000002", "(they are equal as float32)");
  ExpectErrorAt(head + "[]}\n", "[]", "expects a non-empty list");
  // Infinity is an ordinary (if odd) boundary: TF accepts it.
  EXPECT_TRUE(ParseFeatureConfig(head + "[-.inf, 0, .inf]}\n", "t.yaml").ok());
}

TEST(Clamps, ParsedCheckedAndWrittenBack) {
  const std::string yaml =
      "model: t\nfeatures:\n"
      "  - {name: price, side: item, kind: numeric, clamp_min: 0, clamp_max: 100}\n"
      "  - {name: age, side: user, kind: numeric, boundaries: [18, 30], clamp_max: 99}\n";
  absl::StatusOr<FeatureConfig> config = ParseFeatureConfig(yaml, "t.yaml");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->features[0].numeric.clamp_min, 0.0);
  EXPECT_EQ(config->features[0].numeric.clamp_max, 100.0);
  EXPECT_FALSE(config->features[1].numeric.clamp_min.has_value());
  EXPECT_EQ(config->features[1].numeric.clamp_max, 99.0);
  absl::StatusOr<FeatureConfig> again =
      ParseFeatureConfig(FeatureConfigToYaml(*config), "again.yaml");
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->features[0].numeric.clamp_min, 0.0);
  EXPECT_EQ(again->features[0].numeric.clamp_max, 100.0);
  EXPECT_EQ(again->features[1].numeric.clamp_max, 99.0);

  const std::string head = "features:\n  - {name: a, side: user, kind: numeric, ";
  ExpectErrorAt(head + "clamp_min: 5, clamp_max: 4}\n", "4}",
                "clamp_max must be >= clamp_min, found clamp_min 5, clamp_max 4");
  ExpectErrorAt(head + "clamp_min: .nan}\n", ".nan", "clamp_min");
  EXPECT_FALSE(
      ParseFeatureConfig("features:\n  - {name: a, side: user, kind: categorical, ids: identity, "
                         "num_buckets: 3, clamp_max: 1}\n",
                         "t.yaml")
          .ok());
}

TEST(Errors, BucketsAndLengthsBelowOne) {
  std::string head = "features:\n  - {name: a, side: user, kind: ";
  ExpectErrorAt(head + "categorical, hash_buckets: 0}\n", "0}",
                "key 'hash_buckets' must be >= 1, found 0");
  ExpectErrorAt(head + "categorical, ids: identity, num_buckets: -5}\n", "-5",
                "key 'num_buckets' must be >= 1, found -5");
  ExpectErrorAt(head + "categorical, ids: vocabulary, vocabulary: [x], oov_buckets: 0}\n", "0}",
                "key 'oov_buckets' must be >= 1, found 0 (unknown values need at least one "
                "bucket)");
  ExpectErrorAt(head + "sequence, hash_buckets: 5, max_len: 0}\n", "0}",
                "key 'max_len' must be >= 1, found 0");
  ExpectErrorAt(head + "sequence, hash_buckets: 5, max_len: 2, padding_id: 5}\n", "5}",
                "padding_id 5 is outside the ids [0, 5)");
  ExpectErrorAt(head + "cross, crossed: [b, c], hash_buckets: 0}\n", "0}",
                "key 'hash_buckets' must be >= 1");
  ExpectErrorAt(head + "numeric, normalize: standard, mean: 0, stddev: 0}\n", "0}",
                "stddev must be > 0");
  ExpectErrorAt(head + "numeric, normalize: minmax, min: 2, max: 1}\n", "1}",
                "max must be greater than min");
  ExpectErrorAt(Config("", "tables:\n  - {name: t, rows: 0, dim: 4, weights: {npy: a}}\n"), "0,",
                "key 'rows' must be >= 1, found 0 (omit 'rows' to take it from the "
                "weights)");
  ExpectErrorAt(Config("    embedding: {table: t, dim: 0}\n"), "0}",
                "key 'dim' must be >= 1, found 0");
}

TEST(Errors, DefaultsOfTheWrongType) {
  ExpectErrorAt(Config("    default: 150\n"), "150", "default id 150 is outside [0, num_buckets");
  ExpectErrorAt(Config("    default: \"3\"\n"), "\"3\"",
                "key 'default' expects an integer id (the feature has ids: identity)");
  ExpectErrorAt("features:\n  - {name: a, side: user, kind: numeric, default: \"3\"}\n", "\"3\"",
                "key 'default' expects a number (the feature is numeric), found the string");
  ExpectErrorAt("features:\n  - {name: a, side: user, kind: numeric, default: .nan}\n", ".nan",
                "default must be finite");
  ExpectErrorAt(
      "features:\n  - {name: a, side: user, kind: categorical, hash_buckets: 2, "
      "default: 1.5}\n",
      "1.5", "expects a string or an integer (the feature has ids: hash)");
  ExpectErrorAt(
      "features:\n  - {name: a, side: user, kind: sequence, hash_buckets: 2, "
      "max_len: 2, default: 1}\n",
      "default", "key 'default' does not apply to kind sequence");
}

TEST(Errors, DuplicateNames) {
  ExpectErrorAt(Config("", "  - {name: item_id, side: user, kind: numeric}\n"), "item_id, side",
                "feature 'item_id': duplicate feature name (first defined at line 3)");
  ExpectErrorAt(Config("",
                       "tables:\n"
                       "  - {name: t, dim: 4, weights: {npy: a}}\n"
                       "  - {name: t, dim: 4, weights: {npy: b}}\n"),
                "{name: t, dim: 4, weights: {npy: b",
                "table 't': duplicate table name (first "
                "defined at line 9)");
}

TEST(Errors, TablesAndDims) {
  std::string tables = "tables:\n  - {name: t, dim: 8, weights: {graph_constant: w}}\n";
  ExpectErrorAt(Config("    embedding: {table: missing, dim: 8}\n", tables), "{table: missing",
                "embedding table 'missing' is not declared; add it under tables:");
  ExpectErrorAt(Config("    embedding: {table: t, dim: 4}\n", tables), "{table: t",
                "embedding dim 4 differs from table 't': its tables entry (line 10) says dim 8");
  // Two features, one table, no dim in the tables entry: the first feature fixes it.
  ExpectErrorAt(Config("    embedding: {table: u, dim: 8}\n",
                       "  - {name: b, side: user, kind: categorical, hash_buckets: 5,\n"
                       "     embedding: {table: u, dim: 16}}\n"
                       "tables:\n  - {name: u, weights: {graph_constant: w}}\n"),
                "{table: u, dim: 16",
                "feature 'b': embedding dim 16 differs from table 'u': feature 'item_id' (line 3) "
                "uses it with dim 8; a table has one dim");
  ExpectErrorAt(
      Config("    embedding: {table: u}\n", "tables:\n  - {name: u, weights: {npy: a}}\n"),
      "{table: u}", "no dim for table 'u'");
  ExpectErrorAt(Config("", "tables:\n  - {name: u, weights: {npy: a}}\n"), "{name: u",
                "table 'u': no dim");
  ExpectErrorAt(Config("    embedding: {table: t}\n",
                       "tables:\n  - {name: t, rows: 50, dim: 8, weights: {npy: w}}\n"),
                "{table: t}", "produces ids in [0, 100) but table 't' has only 50 rows");
}

TEST(Errors, InputsAndColumns) {
  auto numeric = [](const std::string& name, int column) {
    return absl::StrCat("  - {name: ", name, ", side: user, kind: numeric, input: dense, ",
                        "input_column: ", column, "}\n");
  };
  std::string dup = Config("", numeric("d0", 0) + numeric("d1", 1) + numeric("d1b", 1));
  absl::StatusOr<FeatureConfig> config = ParseFeatureConfig(dup, "t.yaml");
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(std::string(config.status().message()),
            "t.yaml:10:72: feature 'd1b': input 'dense' column 1 is already fed by feature 'd1' "
            "(line 9); give each feature its own input, or distinct input_column values for a "
            "shared [B, C] input");
  ExpectErrorAt(Config("", numeric("d0", 0) + numeric("d2", 2)), "2}",
                "feature 'd2': input 'dense' has columns [0, 2] but no column 1; a shared "
                "input's columns must be 0..C-1 without gaps");
  ExpectErrorAt(Config("", numeric("d1", 1)), "1}", "has columns [1] but no column 0");
  // Two features feeding one whole input.
  ExpectErrorAt(Config("", "  - {name: b, side: item, kind: numeric, input: item_id}\n"),
                "item_id}", "feature 'b': input 'item_id' is already fed by feature 'item_id'");
  ExpectErrorAt(Config("",
                       "  - {name: b, side: item, kind: numeric, input: item_id, "
                       "input_column: 0}\n"),
                "0}", "features sharing an input must all give input_column");
  ExpectErrorAt(
      Config("", numeric("d0", 0) + "  - {name: c, side: user, kind: categorical, hash_buckets: 3, "
                                    "input: dense, input_column: 1}\n"),
      "1}\n", "input 'dense' mixes ids (int64) and floats");
  ExpectErrorAt(Config("    input_column: -1\n"), "-1", "key 'input_column' must be >= 0");
}

TEST(Errors, CrossesAndLengths) {
  std::string base = Config("",
                            "  - {name: u, side: user, kind: categorical, hash_buckets: 5}\n"
                            "  - {name: x, side: user, kind: numeric}\n"
                            "  - {name: s, side: user, kind: sequence, hash_buckets: 5, "
                            "max_len: 4}\n");
  ExpectErrorAt(base +
                    "  - {name: c, side: item, kind: cross, crossed: [u, ghost], "
                    "hash_buckets: 9}\n",
                "[u, ghost]", "feature 'c': crossed feature 'ghost' is not defined");
  ExpectErrorAt(base + "  - {name: c, side: item, kind: cross, crossed: [u, x], hash_buckets: 9}\n",
                "[u, x]", "crossed feature 'x' is numeric; only categorical and bucketized");
  ExpectErrorAt(base + "  - {name: c, side: item, kind: cross, crossed: [u, s], hash_buckets: 9}\n",
                "[u, s]", "crossed feature 's' is sequence");
  ExpectErrorAt(base + "  - {name: c, side: item, kind: cross, crossed: [u, c], hash_buckets: 9}\n",
                "[u, c]", "a cross cannot include itself");
  ExpectErrorAt(base + "  - {name: c, side: item, kind: cross, crossed: [u, u], hash_buckets: 9}\n",
                "[u, u]", "'u' is crossed twice");
  ExpectErrorAt(base +
                    "  - {name: c, side: user, kind: cross, crossed: [u, item_id], "
                    "hash_buckets: 9}\n",
                "user, kind: cross", "so its side must be 'item'");
  ExpectErrorAt(base + "  - {name: c, side: item, kind: cross, crossed: [u], hash_buckets: 9}\n",
                "[u]", "key 'crossed' expects a list of two or more feature names");
  ExpectErrorAt(base +
                    "  - {name: c, side: item, kind: cross, crossed: [u, item_id], ids: hash, "
                    "hash_buckets: 9}\n",
                "ids: hash", "key 'ids' does not apply to kind cross");
  ExpectErrorAt(base + "  - {name: n, side: user, kind: sequence_length, length_of: u}\n", "u}",
                "feature 'n': length_of 'u' is a categorical feature; it must name a kind: "
                "sequence feature");
  ExpectErrorAt(base + "  - {name: n, side: user, kind: sequence_length, length_of: nope}\n",
                "nope", "length_of names 'nope', which is not a feature of this config");
  ExpectErrorAt(base + "  - {name: n, side: item, kind: sequence_length, length_of: s}\n",
                "item, kind: sequence_length", "side item differs from side user of its sequence");
  // The valid ones parse.
  absl::StatusOr<FeatureConfig> config =
      ParseFeatureConfig(base +
                             "  - {name: c, side: item, kind: cross, crossed: [u, item_id], "
                             "hash: tf_fingerprint64, hash_buckets: 9}\n"
                             "  - {name: n, side: user, kind: sequence_length, length_of: s}\n",
                         "t.yaml");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->FindFeature("c")->categorical.hash, HashFunction::kTfFingerprint64);
  EXPECT_EQ(config->FindFeature("n")->NumIds(), 5);
}

// No input crashes or throws: odd YAML, wrong shapes everywhere, binary bytes.
TEST(Errors, NeverCrashes) {
  std::string deep(20000, '[');
  const std::string inputs[] = {
      deep,
      std::string(20000, '{'),
      "features: *undefined_alias\n",
      "a: &x [*x]\n",
      "features: &x [*x]\n",
      "features:\n  - {name: a, side: user, kind: categorical, hash_buckets: &b [*b]}\n",
      absl::StrCat("features:\n  - {name: a, side: user, kind: categorical, hash_buckets: ",
                   std::string(100000, '9'), "}\n"),
      "features:\n\t- name: a\n",
      std::string("features:\n  - {name: \0\xff\xfe, side: user}\n", 39),
      "features:\n  - !!binary AAAA\n",
      "features:\n  - {? [a]: b}\n",
      "features:\n  - {name: a, side: user, kind: categorical, hash_buckets: 3, "
      "embedding: [1, 2]}\n",
      "features:\n  - {name: a, side: user, kind: categorical, ids: vocabulary, vocabulary: "
      "[[x]]}\n",
      "features:\n  - {name: a, side: user, kind: cross, crossed: [{x: 1}, b], hash_buckets: 2}\n",
      "--- a\n--- b\n",
      "features: [{name: a, side: user, kind: numeric}]\ntables: [[1]]\n",
      "features: [{name: a, side: user, kind: numeric}]\ntables: [{name: t, dim: 1, weights: x}]\n",
  };
  for (const std::string& text : inputs) {
    absl::StatusOr<FeatureConfig> config = ParseFeatureConfig(text, "t.yaml");
    EXPECT_FALSE(config.ok()) << text.substr(0, 80);
    EXPECT_THAT(std::string(config.status().message()), StartsWith("t.yaml")) << config.status();
  }
}

TEST(SourceLocation, ToString) {
  EXPECT_EQ((SourceLocation{"configs/din.yaml", 12, 5}).ToString(), "configs/din.yaml:12:5");
  EXPECT_EQ((SourceLocation{"x.yaml", 0, 0}).ToString(), "x.yaml");
}

}  // namespace
}  // namespace rankopt
