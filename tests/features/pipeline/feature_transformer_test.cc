// FeatureTransformer: the DIN/ESMM configs reproduce the peer models' reference inputs exactly,
// TF's documented hash vectors hold, and bad input gives errors naming feature and candidate.
#include "features/pipeline/feature_transformer.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <simdjson.h>

#include <cmath>
#include <fstream>
#include <limits>
#include <sstream>
#include <thread>

#include "features/transforms/hashing.h"
#include "rankopt/request_json.h"

namespace rankopt {
namespace {

using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::ElementsAreArray;
using ::testing::HasSubstr;

const std::string kConfigs = std::string(RANKOPT_TESTDATA_DIR) + "/../../configs/";
const std::string kFeatureData = std::string(RANKOPT_TESTDATA_DIR) + "/features/";

FeatureTransformer MakeTransformer(absl::StatusOr<FeatureConfig> config) {
  EXPECT_TRUE(config.ok()) << config.status();
  absl::StatusOr<FeatureTransformer> transformer = FeatureTransformer::Create(*std::move(config));
  EXPECT_TRUE(transformer.ok()) << transformer.status();
  return *std::move(transformer);
}

FeatureTransformer FromYaml(const std::string& yaml) {
  return MakeTransformer(ParseFeatureConfig(yaml, "test.yaml"));
}

std::string Message(const absl::Status& status) { return std::string(status.message()); }

// --- The peer models: the pipeline reproduces their reference input tensors. ---

struct RefTensor {
  std::string dtype;
  std::vector<int64_t> dims;
  std::vector<double> data;
};

std::map<std::string, RefTensor> LoadRefInputs(const std::string& path) {
  std::map<std::string, RefTensor> tensors;
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  if (parser.load(path).get(root)) {
    ADD_FAILURE() << "cannot parse " << path;
    return tensors;
  }
  const simdjson::dom::object inputs = root["inputs"].get_object().value_unsafe();
  for (simdjson::dom::key_value_pair field : inputs) {
    RefTensor& t = tensors[std::string(field.key)];
    t.dtype = std::string(field.value["dtype"].get_string().value_unsafe());
    // Named arrays: a range-for over value_unsafe() of a temporary result would dangle.
    const simdjson::dom::array dims = field.value["dims"].get_array().value_unsafe();
    const simdjson::dom::array data = field.value["data"].get_array().value_unsafe();
    for (simdjson::dom::element d : dims) t.dims.push_back(d.get_int64().value_unsafe());
    for (simdjson::dom::element v : data) {
      t.data.push_back(v.is_int64() ? static_cast<double>(v.get_int64().value_unsafe())
                                    : v.get_double().value_unsafe());
    }
  }
  return tensors;
}

void ExpectReproducesReference(const std::string& model) {
  FeatureTransformer transformer = MakeTransformer(LoadFeatureConfig(kConfigs + model + ".yaml"));
  absl::StatusOr<std::vector<RequestLine>> requests =
      ReadRequestJsonLines(kFeatureData + "requests_" + model + ".jsonl");
  ASSERT_TRUE(requests.ok()) << requests.status();
  ASSERT_EQ(requests->size(), 1u);
  TransformedRequest out;
  ASSERT_TRUE(transformer.Transform((*requests)[0].request, &out).ok());
  const std::map<std::string, RefTensor> ref =
      LoadRefInputs(std::string(RANKOPT_TESTDATA_DIR) + "/peers/" + model + "_ref.json");
  ASSERT_FALSE(ref.empty());
  EXPECT_EQ(out.columns.size(), ref.size());
  for (const auto& [input, tensor] : ref) {
    SCOPED_TRACE(model + " input " + input);
    const FeatureColumn* column = out.FindColumn(input);
    ASSERT_NE(column, nullptr);
    const int64_t batch = tensor.dims[0];
    const int64_t width = static_cast<int64_t>(tensor.data.size()) / batch;
    EXPECT_EQ(column->dtype, tensor.dtype == "int64" ? DType::kInt64 : DType::kFloat32);
    EXPECT_EQ(column->width(), width);
    const bool item = column->side == FeatureSide::kItem;
    EXPECT_EQ(column->rows(), item ? batch : 1);
    for (int64_t r = 0; r < batch; ++r) {
      for (int64_t k = 0; k < width; ++k) {
        const double want = tensor.data[r * width + k];
        const int64_t at = (item ? r : 0) * width + k;  // request-level columns hold row 0
        if (column->dtype == DType::kInt64) {
          ASSERT_EQ(column->ids[at], static_cast<int64_t>(want)) << "row " << r << " col " << k;
        } else {
          ASSERT_EQ(column->values[at], static_cast<float>(want)) << "row " << r << " col " << k;
        }
      }
    }
  }
  for (const FeatureStats& stats : out.stats) {
    EXPECT_EQ(stats.defaults_applied + stats.truncated + stats.out_of_range, 0) << stats.feature;
  }
}

TEST(PeerModelsTest, DinReproducesReferenceInputs) {
  ExpectReproducesReference("din");
  FeatureTransformer din = MakeTransformer(LoadFeatureConfig(kConfigs + "din.yaml"));
  absl::StatusOr<std::vector<RequestLine>> requests =
      ReadRequestJsonLines(kFeatureData + "requests_din.jsonl");
  ASSERT_TRUE(requests.ok());
  TransformedRequest out;
  ASSERT_TRUE(din.Transform((*requests)[0].request, &out).ok());
  // Shared tables are named on the columns; dense is item-side with user columns broadcast.
  EXPECT_EQ(out.FindColumn("hist_item_ids")->table, "item");
  EXPECT_EQ(out.FindColumn("item_id")->table, "item");
  EXPECT_THAT(out.FindColumn("hist_item_ids")->dims, ElementsAre(1, 50));
  const FeatureColumn* dense = out.FindColumn("dense");
  EXPECT_EQ(dense->side, FeatureSide::kItem);
  EXPECT_THAT(dense->dims, ElementsAre(16, 4));
  EXPECT_THAT(dense->features,
              ElementsAre("user_dense_0", "user_dense_1", "item_dense_0", "item_dense_1"));
  EXPECT_THAT(dense->note, HasSubstr("broadcast"));
  EXPECT_THAT(out.FindColumn("hist_len")->ids, ElementsAre(37));
}

TEST(PeerModelsTest, EsmmReproducesReferenceInputs) { ExpectReproducesReference("esmm"); }

TEST(PeerModelsTest, SharedPeersMiniRequestsMatchTheCheckedInOnes) {
  // The checked-in fixtures come from tests/data/peers, copied from ../shared/peers/mini.
  if (!std::ifstream(std::string(RANKOPT_SHARED_DIR) + "/peers/README.md")) {
    GTEST_SKIP() << "../shared/peers is absent";
  }
  for (const char* model : {"din", "esmm"}) {
    std::ifstream a(std::string(RANKOPT_SHARED_DIR) + "/peers/mini/" + model + ".json");
    std::ifstream b(std::string(RANKOPT_TESTDATA_DIR) + "/peers/" + model + ".json");
    std::stringstream sa, sb;
    sa << a.rdbuf();
    sb << b.rdbuf();
    EXPECT_EQ(sa.str(), sb.str()) << model;
  }
}

// --- TF's documented StringToHashBucketFast vectors. ---

TEST(TfHashingTest, DocumentedVectors) {
  FeatureTransformer transformer =
      MakeTransformer(LoadFeatureConfig(kFeatureData + "tf_hashing.yaml"));
  Request request;
  request.user.Set("letters", std::vector<std::string>{"a", "b", "c", "d"});
  request.user.Set("words", std::vector<std::string>{"Hello", "TensorFlow", "2.x"});
  for (const char* letter : {"a", "b", "c", "d"}) {
    FeatureRow candidate;
    candidate.Set("letter", std::string(letter));
    candidate.Set("number", int64_t{7});
    request.candidates.push_back(candidate);
  }
  request.candidates[1].Set("number", std::string("7"));
  TransformedRequest out;
  ASSERT_TRUE(transformer.Transform(request, &out).ok());
  EXPECT_THAT(out.FindColumn("letters")->ids, ElementsAre(9, 2, 2, 5));
  EXPECT_THAT(out.FindColumn("words")->ids, ElementsAre(0, 2, 2));
  EXPECT_THAT(out.FindColumn("letter")->ids, ElementsAre(9, 2, 2, 5));
  const std::vector<int64_t>& numbers = out.FindColumn("number")->ids;
  EXPECT_EQ(numbers[0], StringToHashBucketFast("7", 10));
  EXPECT_EQ(numbers[1], numbers[0]);  // 7 hashed as its decimal text
}

TEST(TfHashingTest, InvalidUtf8BytesAreHashedAsBytes) {
  FeatureTransformer transformer =
      MakeTransformer(LoadFeatureConfig(kFeatureData + "tf_hashing.yaml"));
  const std::string bytes("\xff\xfe\x00z", 4);
  Request request;
  FeatureRow candidate;
  candidate.Set("letter", bytes);
  request.candidates.push_back(candidate);
  TransformedRequest out;
  ASSERT_TRUE(transformer.Transform(request, &out).ok());
  EXPECT_EQ(out.FindColumn("letter")->ids[0], static_cast<int64_t>(TfFingerprint64(bytes) % 10));
}

// --- Semantics and bad input on small inline configs. ---

constexpr char kSmallConfig[] = R"(
model: small
features:
  - {name: uid, side: user, kind: categorical, ids: identity, num_buckets: 100, default: 1}
  - {name: city, side: user, kind: categorical, ids: vocabulary, vocabulary: [paris, rome],
     oov_buckets: 2}
  - {name: age, side: user, kind: numeric, boundaries: [18, 30, 50], from_string: true,
     default: 40}
  - {name: hist, side: user, kind: sequence, ids: identity, num_buckets: 1000, max_len: 3,
     padding_id: 0}
  - {name: hist_first, side: user, kind: sequence, ids: hash, hash_buckets: 50, max_len: 2,
     truncation: keep_first, padding_id: 7}
  - {name: hist_len, side: user, kind: sequence_length, length_of: hist}
  - {name: hour, side: context, kind: categorical, ids: identity, num_buckets: 24}
  - {name: item, side: item, kind: categorical, ids: hash, hash_buckets: 1000}
  - {name: price, side: item, kind: numeric, normalize: standard, mean: 10, stddev: 2,
     default: 10}
  - {name: score, side: item, kind: numeric}
  - {name: city_x_item, side: item, kind: cross, crossed: [city, item], hash_buckets: 97}
)";

Request SmallRequest() {
  Request request;
  request.user.Set("uid", int64_t{5});
  request.user.Set("city", std::string("rome"));
  request.user.Set("age", std::string("23"));
  request.user.Set("hist", std::vector<int64_t>{1, 2, 3, 4, 5});
  request.user.Set("hist_first", std::vector<std::string>{"x", "y", "z"});
  request.context.Set("hour", int64_t{12});
  for (int i = 0; i < 3; ++i) {
    FeatureRow c;
    c.Set("item", absl::StrCat("sku-", i));
    c.Set("price", 12.0 + i);
    c.Set("score", 0.5 * i);
    request.candidates.push_back(c);
  }
  return request;
}

TEST(FeatureTransformerTest, SmallConfigValuesAndShapes) {
  FeatureTransformer transformer = FromYaml(kSmallConfig);
  TransformedRequest out;
  ASSERT_TRUE(transformer.Transform(SmallRequest(), &out).ok());
  EXPECT_EQ(out.num_candidates, 3);
  EXPECT_THAT(out.FindColumn("uid")->ids, ElementsAre(5));
  EXPECT_THAT(out.FindColumn("uid")->dims, ElementsAre(1));
  EXPECT_THAT(out.FindColumn("city")->ids, ElementsAre(1));
  EXPECT_THAT(out.FindColumn("age")->ids, ElementsAre(1));         // 18 <= 23 < 30
  EXPECT_THAT(out.FindColumn("hist")->ids, ElementsAre(3, 4, 5));  // keep_last
  EXPECT_THAT(out.FindColumn("hist_len")->ids, ElementsAre(3));
  const std::vector<int64_t>& first = out.FindColumn("hist_first")->ids;
  EXPECT_EQ(first[0], static_cast<int64_t>(Xxh64("x", 0) % 50));  // keep_first
  EXPECT_EQ(first[1], static_cast<int64_t>(Xxh64("y", 0) % 50));
  EXPECT_THAT(out.FindColumn("hour")->ids, ElementsAre(12));
  EXPECT_EQ(out.FindColumn("hour")->side, FeatureSide::kContext);
  const FeatureColumn* item = out.FindColumn("item");
  EXPECT_THAT(item->dims, ElementsAre(3));
  EXPECT_EQ(item->ids[2], static_cast<int64_t>(Xxh64("sku-2", 0) % 1000));
  EXPECT_THAT(out.FindColumn("price")->values, ElementsAre(1.0f, 1.5f, 2.0f));
  EXPECT_EQ(out.FindColumn("price")->dtype, DType::kFloat32);
  EXPECT_THAT(out.FindColumn("score")->values, ElementsAre(0.0f, 0.5f, 1.0f));
  // Cross: city is a vocabulary feature, so its id (rome = 1) enters; item is a hashed one, so its
  // raw string does. xxh64-combined with seed 0.
  const uint64_t hashes[] = {1, Xxh64("sku-1", 0)};
  EXPECT_EQ(out.FindColumn("city_x_item")->ids[1],
            static_cast<int64_t>(CombineHashes(hashes, 0) % 97));
  EXPECT_EQ(out.FindStats("hist")->truncated, 1);
  EXPECT_EQ(out.FindStats("hist_first")->truncated, 1);
  EXPECT_EQ(out.FindStats("hist")->defaults_applied, 0);
}

TEST(FeatureTransformerTest, VocabularyOovAndIntegers) {
  FeatureTransformer transformer = FromYaml(kSmallConfig);
  Request request = SmallRequest();
  request.user.Set("city", std::string("oslo"));
  TransformedRequest out;
  ASSERT_TRUE(transformer.Transform(request, &out).ok());
  EXPECT_EQ(out.FindColumn("city")->ids[0], 2 + static_cast<int64_t>(Xxh64("oslo", 0) % 2));
}

TEST(FeatureTransformerTest, MissingValuesGetDefaultsAndAreCounted) {
  FeatureTransformer transformer = FromYaml(kSmallConfig);
  Request request;
  request.user.Set("uid", std::monostate());  // explicit null
  request.candidates.resize(2);
  request.candidates[1].Set("price", 14.0);
  TransformedRequest out;
  ASSERT_TRUE(transformer.Transform(request, &out).ok());
  EXPECT_THAT(out.FindColumn("uid")->ids, ElementsAre(1));  // default: 1
  EXPECT_THAT(out.FindColumn("age")->ids, ElementsAre(2));  // default 40 -> bucket 2
  EXPECT_THAT(out.FindColumn("hist")->ids, ElementsAre(0, 0, 0));
  EXPECT_THAT(out.FindColumn("hist_first")->ids, ElementsAre(7, 7));
  EXPECT_THAT(out.FindColumn("hist_len")->ids, ElementsAre(0));
  EXPECT_THAT(out.FindColumn("price")->values, ElementsAre(0.0f, 2.0f));  // default 10 -> 0
  EXPECT_THAT(out.FindColumn("city_x_item")->ids, ElementsAre(0, 0));
  EXPECT_EQ(out.FindStats("uid")->defaults_applied, 1);
  EXPECT_EQ(out.FindStats("price")->defaults_applied, 1);
  EXPECT_EQ(out.FindStats("item")->defaults_applied, 2);
  EXPECT_EQ(out.FindStats("city_x_item")->defaults_applied, 2);
  EXPECT_EQ(out.FindStats("hist_len")->defaults_applied, 0);
}

TEST(FeatureTransformerTest, NanAndInfGetDefaults) {
  FeatureTransformer transformer = FromYaml(kSmallConfig);
  Request request = SmallRequest();
  request.candidates[0].Set("price", std::numeric_limits<double>::quiet_NaN());
  request.candidates[1].Set("price", std::numeric_limits<double>::infinity());
  request.candidates[2].Set("score", 1e300);       // finite double, not a finite float
  request.user.Set("age", std::string("-1e999"));  // text outside double's range
  TransformedRequest out;
  absl::Status status = transformer.Transform(request, &out);
  EXPECT_FALSE(status.ok());  // not a number the parser accepts: an error, not a silent default
  EXPECT_THAT(Message(status), HasSubstr("feature 'age' in user"));
  request.user.Set("age", std::numeric_limits<double>::quiet_NaN());
  ASSERT_TRUE(transformer.Transform(request, &out).ok());
  EXPECT_THAT(out.FindColumn("price")->values, ElementsAre(0.0f, 0.0f, 2.0f));
  EXPECT_EQ(out.FindColumn("score")->values[2], 0.0f);
  EXPECT_THAT(out.FindColumn("age")->ids, ElementsAre(2));
  EXPECT_EQ(out.FindStats("price")->defaults_applied, 2);
  EXPECT_EQ(out.FindStats("score")->defaults_applied, 1);
  EXPECT_EQ(out.FindStats("age")->defaults_applied, 1);
}

TEST(FeatureTransformerTest, IdentityOutOfRangeGetsDefault) {
  FeatureTransformer transformer = FromYaml(kSmallConfig);
  Request request = SmallRequest();
  request.user.Set("uid", int64_t{100});
  request.user.Set("hist", std::vector<int64_t>{-3, 999, 1000});
  TransformedRequest out;
  ASSERT_TRUE(transformer.Transform(request, &out).ok());
  EXPECT_THAT(out.FindColumn("uid")->ids, ElementsAre(1));
  EXPECT_THAT(out.FindColumn("hist")->ids, ElementsAre(0, 999, 0));
  EXPECT_EQ(out.FindStats("uid")->out_of_range, 1);
  EXPECT_EQ(out.FindStats("hist")->out_of_range, 2);
}

TEST(FeatureTransformerTest, EmptyCandidateListGivesEmptyItemColumns) {
  FeatureTransformer transformer = FromYaml(kSmallConfig);
  Request request = SmallRequest();
  request.candidates.clear();
  TransformedRequest out;
  ASSERT_TRUE(transformer.Transform(request, &out).ok());
  EXPECT_EQ(out.num_candidates, 0);
  EXPECT_THAT(out.FindColumn("item")->dims, ElementsAre(0));
  EXPECT_TRUE(out.FindColumn("item")->ids.empty());
  EXPECT_TRUE(out.FindColumn("price")->values.empty());
  EXPECT_THAT(out.FindColumn("uid")->ids, ElementsAre(5));
}

struct ErrorCase {
  const char* name;
  std::function<void(Request*)> edit;
  std::vector<const char*> expected;
};

class TransformErrorTest : public ::testing::TestWithParam<ErrorCase> {};

TEST_P(TransformErrorTest, NamesFeatureAndPlace) {
  FeatureTransformer transformer = FromYaml(kSmallConfig);
  Request request = SmallRequest();
  GetParam().edit(&request);
  TransformedRequest out;
  absl::Status status = transformer.Transform(request, &out);
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  for (const char* part : GetParam().expected) EXPECT_THAT(Message(status), HasSubstr(part));
}

INSTANTIATE_TEST_SUITE_P(
    Cases, TransformErrorTest,
    ::testing::Values(
        ErrorCase{
            "FloatForHashedId",
            [](Request* r) { r->candidates[2].Set("item", 3.5); },
            {"feature 'item' in candidates[2]", "expected a string or an integer", "got float"}},
        ErrorCase{"StringForNumber",
                  [](Request* r) { r->candidates[1].Set("price", std::string("12")); },
                  {"feature 'price' in candidates[1]", "from_string"}},
        ErrorCase{"ListForScalar",
                  [](Request* r) { r->user.Set("uid", std::vector<int64_t>{1}); },
                  {"feature 'uid' in user", "got int list"}},
        ErrorCase{"StringForIdentity",
                  [](Request* r) { r->user.Set("uid", std::string("5")); },
                  {"feature 'uid' in user", "integer id"}},
        ErrorCase{"ScalarForSequence",
                  [](Request* r) { r->user.Set("hist", int64_t{4}); },
                  {"feature 'hist' in user", "a list of integers or strings"}},
        ErrorCase{"FloatListForSequence",
                  [](Request* r) { r->user.Set("hist", std::vector<double>{1.5}); },
                  {"feature 'hist' in user", "got float list"}},
        ErrorCase{"TextThatIsNotANumber",
                  [](Request* r) { r->user.Set("age", std::string("twenty")); },
                  {"feature 'age' in user", "'twenty' is not a number"}},
        ErrorCase{"UnknownFeature",
                  [](Request* r) { r->candidates[1].Set("colour", std::string("red")); },
                  {"unknown feature 'colour' in candidates[1]", "ignore_unknown_features"}},
        ErrorCase{"ItemFeatureInUser",
                  [](Request* r) { r->user.Set("item", std::string("x")); },
                  {"feature 'item' sent in user is a item feature", "each candidate"}},
        ErrorCase{"UserFeatureInCandidate",
                  [](Request* r) { r->candidates[0].Set("uid", int64_t{3}); },
                  {"feature 'uid' sent in candidates[0] is a user feature", "\"user\""}},
        ErrorCase{"ContextFeatureInUser",
                  [](Request* r) { r->user.Set("hour", int64_t{3}); },
                  {"feature 'hour' sent in user", "\"context\""}},
        ErrorCase{"ComputedFeatureSent",
                  [](Request* r) { r->user.Set("hist_len", int64_t{3}); },
                  {"feature 'hist_len' in user is computed"}},
        ErrorCase{"DuplicateAppend",
                  [](Request* r) { r->candidates[2].Append("item", std::string("again")); },
                  {"feature 'item' appears twice in candidates[2]"}},
        ErrorCase{"CrossedValueOfWrongType",
                  [](Request* r) { r->user.Set("city", 2.0); },
                  {"feature 'city' in user", "got float"}}),
    [](const ::testing::TestParamInfo<ErrorCase>& info) { return info.param.name; });

TEST(FeatureTransformerTest, UnknownFeaturesIgnoredWhenConfigured) {
  FeatureTransformer transformer =
      FromYaml(std::string("ignore_unknown_features: true\n") + kSmallConfig);
  Request request = SmallRequest();
  request.candidates[1].Set("colour", std::string("red"));
  request.user.Set("debug", std::vector<std::string>{"a"});
  TransformedRequest out;
  ASSERT_TRUE(transformer.Transform(request, &out).ok());
  EXPECT_THAT(out.FindColumn("uid")->ids, ElementsAre(5));
  // A known feature in the wrong section is still an error.
  request.user.Set("item", std::string("x"));
  EXPECT_FALSE(transformer.Transform(request, &out).ok());
}

TEST(FeatureTransformerTest, RowsInAnyOrderAndAfterErrors) {
  FeatureTransformer transformer = FromYaml(kSmallConfig);
  Request request = SmallRequest();
  TransformedRequest expected, out;
  ASSERT_TRUE(transformer.Transform(request, &expected).ok());
  // Reordered rows resolve the same (the per-row order cache must not mix features up).
  FeatureRow reordered;
  reordered.Set("score", 0.5);
  reordered.Set("price", 13.0);
  reordered.Set("item", std::string("sku-1"));
  request.candidates[1] = reordered;
  Request bad = request;
  bad.candidates[0].Set("item", 1.5);
  ASSERT_FALSE(transformer.Transform(bad, &out).ok());
  ASSERT_TRUE(transformer.Transform(request, &out).ok());
  for (size_t c = 0; c < out.columns.size(); ++c) {
    EXPECT_EQ(out.columns[c].ids, expected.columns[c].ids) << out.columns[c].input;
    EXPECT_EQ(out.columns[c].values, expected.columns[c].values) << out.columns[c].input;
  }
}

TEST(FeatureTransformerTest, ReusesBuffersForTheSameShape) {
  FeatureTransformer transformer = FromYaml(kSmallConfig);
  Request request = SmallRequest();
  TransformedRequest out;
  ASSERT_TRUE(transformer.Transform(request, &out).ok());
  const int64_t* ids = out.FindColumn("item")->ids.data();
  const float* values = out.FindColumn("price")->values.data();
  request.candidates[0].Set("item", std::string("other"));
  ASSERT_TRUE(transformer.Transform(request, &out).ok());
  EXPECT_EQ(out.FindColumn("item")->ids.data(), ids);
  EXPECT_EQ(out.FindColumn("price")->values.data(), values);
}

TEST(FeatureTransformerTest, OneOutputUsedWithTwoTransformers) {
  FeatureTransformer small = FromYaml(kSmallConfig);
  FeatureTransformer esmm = MakeTransformer(LoadFeatureConfig(kConfigs + "esmm.yaml"));
  TransformedRequest out;
  ASSERT_TRUE(small.Transform(SmallRequest(), &out).ok());
  Request request;
  request.candidates.resize(2);
  ASSERT_TRUE(esmm.Transform(request, &out).ok());
  EXPECT_NE(out.FindColumn("shop_id"), nullptr);
  EXPECT_EQ(out.FindColumn("uid"), nullptr);
  EXPECT_THAT(out.FindColumn("dense")->dims, ElementsAre(2, 3));
}

TEST(FeatureTransformerTest, ConcurrentTransformsAgree) {
  FeatureTransformer transformer = FromYaml(kSmallConfig);
  const Request request = SmallRequest();
  TransformedRequest expected;
  ASSERT_TRUE(transformer.Transform(request, &expected).ok());
  std::vector<std::thread> threads;
  std::atomic<int> mismatches{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      TransformedRequest out;
      for (int i = 0; i < 200; ++i) {
        if (!transformer.Transform(request, &out).ok() ||
            out.FindColumn("city_x_item")->ids != expected.FindColumn("city_x_item")->ids ||
            out.FindColumn("price")->values != expected.FindColumn("price")->values) {
          ++mismatches;
        }
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(mismatches.load(), 0);
}

TEST(FeatureTransformerTest, TfCrossUsesTfKeyAndIntegerCasts) {
  FeatureTransformer transformer = FromYaml(R"(
features:
  - {name: a, side: user, kind: categorical, ids: hash, hash: tf_fingerprint64, hash_buckets: 10}
  - {name: b, side: item, kind: categorical, ids: hash, hash: tf_fingerprint64, hash_buckets: 10}
  - {name: ab, side: item, kind: cross, crossed: [a, b], hash: tf_fingerprint64,
     hash_buckets: 1000}
  - {name: ba, side: item, kind: cross, crossed: [b, a], hash: tf_fingerprint64,
     hash_buckets: 1000}
)");
  Request request;
  request.user.Set("a", std::string("x"));
  request.candidates.emplace_back();
  request.candidates[0].Set("b", int64_t{7});
  TransformedRequest out;
  ASSERT_TRUE(transformer.Transform(request, &out).ok());
  const uint64_t ab[] = {TfFingerprint64("x"), 7};
  const uint64_t ba[] = {7, TfFingerprint64("x")};
  EXPECT_EQ(out.FindColumn("ab")->ids[0],
            static_cast<int64_t>(CombineHashes(ab, kTfCrossHashKey) % 1000));
  EXPECT_EQ(out.FindColumn("ba")->ids[0],
            static_cast<int64_t>(CombineHashes(ba, kTfCrossHashKey) % 1000));
}

// The first error of loading `yaml` and planning it (the config layer checks some things first).
absl::Status CreateFromYaml(const std::string& yaml, const std::string& name) {
  absl::StatusOr<FeatureConfig> config = ParseFeatureConfig(yaml, name);
  if (!config.ok()) return config.status();
  return FeatureTransformer::Create(*std::move(config)).status();
}

TEST(FeatureTransformerTest, SharedInputColumnsAreValidated) {
  absl::Status status = CreateFromYaml(R"(
features:
  - {name: a, side: user, kind: numeric, input: dense, input_column: 0}
  - {name: b, side: item, kind: numeric, input: dense, input_column: 2}
)",
                                       "gap.yaml");
  EXPECT_THAT(Message(status), AllOf(HasSubstr("gap.yaml"), HasSubstr("feature 'b'")));
  status = CreateFromYaml(R"(
features:
  - {name: a, side: user, kind: numeric, input: dense, input_column: 0}
  - {name: b, side: item, kind: numeric, input: dense, input_column: 0}
)",
                          "twice.yaml");
  EXPECT_THAT(Message(status), AllOf(HasSubstr("twice.yaml"), HasSubstr("feature 'b'")));
  status = CreateFromYaml(R"(
features:
  - {name: a, side: user, kind: numeric, input: dense, input_column: 0}
  - {name: b, side: item, kind: categorical, ids: identity, num_buckets: 5, input: dense,
     input_column: 1}
)",
                          "mixed.yaml");
  EXPECT_THAT(Message(status), AllOf(HasSubstr("mixed.yaml"), HasSubstr("feature 'b'")));
  status = CreateFromYaml(R"(
features:
  - {name: s, side: item, kind: sequence, ids: identity, num_buckets: 5, max_len: 3}
  - {name: n, side: user, kind: sequence_length, length_of: s}
)",
                          "len.yaml");
  EXPECT_THAT(Message(status), AllOf(HasSubstr("len.yaml"), HasSubstr("feature 'n'")));
}

TEST(FeatureTransformerTest, JsonRequestEndToEnd) {
  FeatureTransformer transformer = FromYaml(kSmallConfig);
  absl::StatusOr<Request> request = ParseRequestJson(R"({
    "user": {"uid": 5, "city": "paris", "age": 51, "hist": [9], "hist_first": []},
    "context": {"hour": null},
    "candidates": [{"item": 3, "price": 10, "score": 1}]})");
  ASSERT_TRUE(request.ok()) << request.status();
  TransformedRequest out;
  ASSERT_TRUE(transformer.Transform(*request, &out).ok());
  EXPECT_THAT(out.FindColumn("city")->ids, ElementsAre(0));
  EXPECT_THAT(out.FindColumn("age")->ids, ElementsAre(3));
  EXPECT_THAT(out.FindColumn("hist")->ids, ElementsAre(9, 0, 0));
  EXPECT_THAT(out.FindColumn("hist_len")->ids, ElementsAre(1));
  EXPECT_THAT(out.FindColumn("hour")->ids, ElementsAre(0));
  EXPECT_EQ(out.FindStats("hour")->defaults_applied, 1);
  EXPECT_EQ(out.FindColumn("item")->ids[0],
            static_cast<int64_t>(HashInteger(3, HashFunction::kXxh64, 0, false) % 1000));
  EXPECT_THAT(out.FindColumn("price")->values, ElementsAre(0.0f));
}

// --- The keys `rankopt lift` writes: boundary_equal, ids: passthrough, default_id,
// replace_values. Expected ids by hand. ---

constexpr char kLiftKeysConfig[] = R"(
model: lift_keys
features:
  - {name: lat, side: item, kind: numeric, boundaries: [1, 2, 3]}
  - {name: lat_below, side: item, kind: numeric, boundaries: [1, 2, 3], boundary_equal: below}
  - {name: tract, side: item, kind: categorical, ids: passthrough}
  - name: country
    side: item
    kind: categorical
    ids: vocabulary
    vocabulary: [dk, fr, __empty__]
    oov_buckets: 0
    default_id: -1
    replace_values: [["", "__empty__"]]
)";

TEST(FeatureTransformerTest, LiftKeysBoundaryEqualPassthroughDefaultIdReplaceValues) {
  absl::StatusOr<FeatureConfig> config = ParseFeatureConfig(kLiftKeysConfig, "lift.yaml");
  ASSERT_TRUE(config.ok()) << config.status();
  // The YAML writer writes them back.
  absl::StatusOr<FeatureConfig> again =
      ParseFeatureConfig(FeatureConfigToYaml(*config), "again.yaml");
  ASSERT_TRUE(again.ok()) << again.status();
  FeatureTransformer transformer = MakeTransformer(*std::move(again));
  const double lats[] = {0.5, 1.0, 2.5, 3.0, 7.0};
  const int64_t above[] = {0, 1, 2, 3, 3};  // #boundaries <= x
  const int64_t below[] = {0, 0, 2, 2, 3};  // #boundaries < x
  const int64_t tracts[] = {-1, 0, 17031081500, INT64_MIN, INT64_MAX};
  const char* countries[] = {"dk", "", "__empty__", "atlantis", "fr"};
  const int64_t country_ids[] = {0, 2, 2, -1, 1};
  Request request;
  for (int i = 0; i < 5; ++i) {
    request.candidates.push_back(FeatureRow({{"lat", lats[i]},
                                             {"lat_below", lats[i]},
                                             {"tract", tracts[i]},
                                             {"country", std::string(countries[i])}}));
  }
  request.candidates.push_back(FeatureRow());  // all missing
  TransformedRequest out;
  absl::Status s = transformer.Transform(request, &out);
  ASSERT_TRUE(s.ok()) << s;
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(out.FindColumn("lat")->ids[i], above[i]) << i;
    EXPECT_EQ(out.FindColumn("lat_below")->ids[i], below[i]) << i;
    EXPECT_EQ(out.FindColumn("tract")->ids[i], tracts[i]) << i;
    EXPECT_EQ(out.FindColumn("country")->ids[i], country_ids[i]) << i;
  }
  EXPECT_EQ(out.FindColumn("country")->ids[5], -1);  // missing -> default_id
  EXPECT_EQ(out.FindColumn("tract")->ids[5], 0);     // missing passthrough -> 0
  // A string sent to a passthrough feature is an error naming it.
  Request bad;
  bad.candidates.push_back(FeatureRow({{"tract", std::string("x")}}));
  EXPECT_THAT(Message(transformer.Transform(bad, &out)), HasSubstr("feature 'tract'"));
}

TEST(FeatureTransformerTest, LiftKeysAreValidated) {
  auto error = [](const std::string& yaml) {
    absl::StatusOr<FeatureConfig> c = ParseFeatureConfig(yaml, "bad.yaml");
    return c.ok() ? std::string("ok") : std::string(c.status().message());
  };
  EXPECT_THAT(error("features:\n  - {name: a, side: item, kind: numeric, boundary_equal: below}\n"),
              HasSubstr("needs 'boundaries'"));
  EXPECT_THAT(error("features:\n  - {name: a, side: item, kind: categorical, ids: vocabulary, "
                    "vocabulary: [x], default_id: -1}\n"),
              HasSubstr("needs oov_buckets: 0"));
  EXPECT_THAT(error("features:\n  - {name: a, side: item, kind: categorical, ids: vocabulary, "
                    "vocabulary: [x], oov_buckets: 0}\n"),
              HasSubstr("oov_buckets"));
  EXPECT_THAT(error("features:\n  - {name: a, side: item, kind: categorical, ids: vocabulary, "
                    "vocabulary: [x], oov_buckets: 0, default_id: -2}\n"),
              HasSubstr("default_id"));
  EXPECT_THAT(error("features:\n  - {name: a, side: item, kind: categorical, ids: hash, "
                    "hash_buckets: 3, replace_values: [[\"\"]]}\n"),
              HasSubstr("[from, to]"));
  EXPECT_THAT(error("features:\n  - {name: a, side: item, kind: categorical, ids: passthrough, "
                    "num_buckets: 3}\n"),
              HasSubstr("num_buckets"));
}

}  // namespace
}  // namespace rankopt
