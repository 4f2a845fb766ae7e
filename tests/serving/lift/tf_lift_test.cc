// Lift on real TF exports: the taxi tf.Transform graph (tests/data/tf_feature_columns/lift/taxi)
// lifted into a feature config must reproduce, through the native pipeline, every transformed
// feature TF wrote for the 656 eval examples (ids equal, floats within 1e-6). The serving
// export (../shared, skipped when absent) lifts to the same config.
#include "serving/lift/tf_lift.h"

#include <zlib.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "features/config/feature_config.h"
#include "features/pipeline/feature_transformer.h"
#include "features/request/tf_example.h"
#include "features/transforms/hashing.h"
#include "gmock/gmock.h"
#include "graph/exec/execution_plan.h"
#include "graph/io/model_io.h"
#include "graph/tf/saved_model_io.h"
#include "gtest/gtest.h"
#include "rankopt/model.h"
#include "serving/http/tf_serving_api.h"
#include "serving/optimize.h"
#include "tests/tf_records.h"

namespace rankopt {
namespace {

using ::testing::HasSubstr;

const std::string kTaxi = std::string(RANKOPT_TESTDATA_DIR) + "/tf_feature_columns/lift/taxi";
const std::string kChurn = std::string(RANKOPT_TESTDATA_DIR) + "/tf_feature_columns/lift/churn";
const std::string kBabyweightEstimator =
    std::string(RANKOPT_TESTDATA_DIR) + "/tf_feature_columns/lift/babyweight_estimator";
const std::string kSharedBabyweightKeras =
    std::string(RANKOPT_SHARED_DIR) + "/models/tf-feature-columns/babyweight-keras";
const std::string kSharedTaxiServing =
    std::string(RANKOPT_SHARED_DIR) +
    "/models/tf-feature-columns/taxi-bqml/trainer/current/serving_model_dir/export/chicago-taxi/"
    "1576111633";

// The 7 features tf.Transform passes through unchanged: they pair raw and transformed rows.
const char* const kKey[] = {
    "trip_start_day",       "trip_start_hour",       "trip_start_month",      "pickup_census_tract",
    "dropoff_census_tract", "pickup_community_area", "dropoff_community_area"};

std::vector<FeatureRow> ReadExamples(const std::string& dir) {
  std::vector<FeatureRow> rows;
  std::vector<std::string> files;
  for (const auto& e : std::filesystem::directory_iterator(dir)) files.push_back(e.path());
  std::sort(files.begin(), files.end());
  for (const std::string& file : files) {
    for (const std::string& record : rankopt::test_data::ReadTfRecordsGz(file)) {
      FeatureRow row;
      absl::Status s = ParseTfExample(record, &row);
      EXPECT_TRUE(s.ok()) << file << ": " << s;
      rows.push_back(std::move(row));
    }
  }
  return rows;
}

std::string KeyOf(const FeatureRow& row, const std::string& suffix) {
  std::string key;
  for (const char* name : kKey) {
    const FeatureValue* v = row.Find(absl::StrCat(name, suffix));
    absl::StrAppend(&key,
                    v != nullptr && std::holds_alternative<int64_t>(*v)
                        ? std::to_string(std::get<int64_t>(*v))
                        : "?",
                    "|");
  }
  return key;
}

// tf.Transform's transform_fn: a SavedModel whose one MetaGraphDef has the tag "transform".
absl::StatusOr<Graph> LoadTransformFn() {
  SavedModelOptions options;
  options.tags = "transform";
  return ImportSavedModel(kTaxi + "/transform_fn", options);
}

LiftResult LiftTaxiTransform() {
  absl::StatusOr<Graph> graph = LoadTransformFn();
  if (!graph.ok()) {
    ADD_FAILURE() << graph.status();
    return LiftResult{};
  }
  LiftOptions options;
  // tips_xf is the label (it reads fare too); the model's features are the other 16.
  for (const Signature& s : graph->signatures()) {
    for (const SignatureTensor& out : s.outputs) {
      if (out.key != "tips_xf") options.outputs.push_back(out.key);
    }
  }
  absl::StatusOr<LiftResult> lift = LiftFeatureTransforms(*graph, options);
  if (!lift.ok()) {
    ADD_FAILURE() << lift.status();
    return LiftResult{};
  }
  return *std::move(lift);
}

const FeatureSpec* Find(const FeatureConfig& config, const std::string& name) {
  for (const FeatureSpec& f : config.features) {
    if (f.name == name) return &f;
  }
  return nullptr;
}

TEST(TfLiftTest, TaxiTransformLiftsEveryModelFeatureWithTheRightKind) {
  const LiftResult lift = LiftTaxiTransform();
  ASSERT_EQ(lift.lifted.size(), 16u) << LiftReportText(lift);
  // tips is read only by the label output we left out, trip_start_timestamp by nothing.
  ASSERT_EQ(lift.kept.size(), 2u) << LiftReportText(lift);
  for (const KeptFeature& kept : lift.kept) {
    EXPECT_TRUE(kept.feature == "tips" || kept.feature == "trip_start_timestamp") << kept.feature;
    EXPECT_THAT(kept.reason, HasSubstr("nothing in the graph reads it"));
  }
  EXPECT_TRUE(lift.config.ignore_unknown_features);
  const FeatureConfig& c = lift.config;
  const FeatureSpec* company = Find(c, "company");
  ASSERT_NE(company, nullptr);
  EXPECT_EQ(company->categorical.source, CategoricalSpec::Source::kVocabulary);
  EXPECT_EQ(company->categorical.vocabulary.size(), 48u);
  EXPECT_EQ(company->categorical.oov_buckets, 10);
  const FeatureSpec* lat = Find(c, "pickup_latitude");
  ASSERT_NE(lat, nullptr);
  EXPECT_EQ(lat->numeric.boundaries.size(), 9u);
  EXPECT_EQ(lat->numeric.boundary_equal, NumericSpec::BoundaryEqual::kAbove);
  const FeatureSpec* fare = Find(c, "fare");
  ASSERT_NE(fare, nullptr);
  EXPECT_EQ(fare->numeric.normalize, NumericSpec::Normalize::kStandard);
  const FeatureSpec* seconds = Find(c, "trip_seconds");  // int64 cast to float, then z-scored
  ASSERT_NE(seconds, nullptr);
  EXPECT_EQ(seconds->numeric.normalize, NumericSpec::Normalize::kStandard);
  EXPECT_FLOAT_EQ(static_cast<float>(seconds->numeric.mean), 785.9061889648438f);
  EXPECT_FLOAT_EQ(static_cast<float>(seconds->numeric.stddev), std::sqrt(6735973.0f));
  const FeatureSpec* hour = Find(c, "trip_start_hour");
  ASSERT_NE(hour, nullptr);
  EXPECT_EQ(hour->categorical.source, CategoricalSpec::Source::kPassthrough);
  // The cut graph has no string ops left: its inputs are the lifted ids and floats.
  for (const Node& n : lift.graph.nodes()) {
    EXPECT_NE(n.op, "LookupTableFindV2") << n.name;
    EXPECT_NE(n.op, "StringToHashBucketFast") << n.name;
    EXPECT_NE(n.op, "BoostedTreesBucketize") << n.name;
  }
}

TEST(TfLiftTest, TaxiLiftedPipelineReproducesEveryTransformedEvalFeature) {
  const LiftResult lift = LiftTaxiTransform();
  // Through the files `rankopt lift` writes, read back as a user would.
  const std::string dir = ::testing::TempDir() + "/tflift_taxi";
  std::filesystem::remove_all(dir);
  absl::Status written = WriteLift(lift, dir);
  ASSERT_TRUE(written.ok()) << written;
  absl::StatusOr<FeatureConfig> config = LoadFeatureConfig(dir + "/features.yaml");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_TRUE(std::filesystem::exists(dir + "/company.vocab"));
  EXPECT_TRUE(std::filesystem::exists(dir + "/model/saved_model.pb"));
  absl::StatusOr<FeatureTransformer> transformer = FeatureTransformer::Create(*config);
  ASSERT_TRUE(transformer.ok()) << transformer.status();

  const std::vector<FeatureRow> raw = ReadExamples(kTaxi + "/raw_eval");
  const std::vector<FeatureRow> xf = ReadExamples(kTaxi + "/transformed_eval");
  ASSERT_EQ(raw.size(), 656u);
  ASSERT_EQ(xf.size(), 656u);
  std::map<std::string, const FeatureRow*> by_key;
  for (const FeatureRow& row : xf) by_key[KeyOf(row, "_xf")] = &row;
  ASSERT_EQ(by_key.size(), 656u);

  // All raw rows, as decoded, as the candidates of one request (tips and trip_start_timestamp
  // ride along: the lifted config ignores what the graph does not read).
  Request request;
  std::vector<const FeatureRow*> expected;
  for (const FeatureRow& row : raw) {
    auto it = by_key.find(KeyOf(row, ""));
    ASSERT_NE(it, by_key.end()) << KeyOf(row, "");
    expected.push_back(it->second);
    request.candidates.push_back(row);
  }
  TransformedRequest out;
  absl::Status s = transformer->Transform(request, &out);
  ASSERT_TRUE(s.ok()) << s;
  int64_t compared = 0;
  double worst = 0;
  for (const FeatureSpec& f : config->features) {
    const FeatureColumn* column = out.FindColumn(f.input);
    ASSERT_NE(column, nullptr) << f.input;
    ASSERT_EQ(column->rows(), 656);
    for (size_t i = 0; i < expected.size(); ++i) {
      const FeatureValue* want = expected[i]->Find(f.name + "_xf");
      ASSERT_NE(want, nullptr) << f.name;
      if (column->dtype == DType::kInt64) {
        ASSERT_TRUE(std::holds_alternative<int64_t>(*want)) << f.name;
        EXPECT_EQ(column->ids[i], std::get<int64_t>(*want)) << f.name << " row " << i;
      } else {
        ASSERT_TRUE(std::holds_alternative<double>(*want)) << f.name;
        const double err = std::fabs(column->values[i] - std::get<double>(*want));
        worst = std::max(worst, err);
        EXPECT_LE(err, 1e-6) << f.name << " row " << i;
      }
      ++compared;
    }
  }
  EXPECT_EQ(compared, 16 * 656);
  std::cout << "compared " << compared << " values, largest float error " << worst << "\n";
}

TEST(TfLiftTest, TaxiServingExportLiftsToTheSameConfigAsItsTransformGraph) {
  if (!std::filesystem::exists(kSharedTaxiServing)) {
    GTEST_SKIP() << kSharedTaxiServing << " is absent (../shared not here)";
  }
  absl::StatusOr<Graph> graph = LoadModel(kSharedTaxiServing);
  ASSERT_TRUE(graph.ok()) << graph.status();
  absl::StatusOr<LiftResult> lift = LiftFeatureTransforms(*graph);
  ASSERT_TRUE(lift.ok()) << lift.status();
  // The model reads 12 of the 17 parsed features; the other 5 are parsed and never read.
  EXPECT_EQ(lift->lifted.size(), 12u) << LiftReportText(*lift);
  EXPECT_EQ(lift->kept.size(), 5u) << LiftReportText(*lift);
  for (const KeptFeature& kept : lift->kept) {
    EXPECT_THAT(kept.reason, HasSubstr("nothing in the graph reads it")) << kept.feature;
  }
  const LiftResult transform = LiftTaxiTransform();
  for (const FeatureSpec& g_spec : lift->config.features) {
    const FeatureSpec* g = &g_spec;
    const FeatureSpec* found = Find(transform.config, g->name);
    ASSERT_NE(found, nullptr) << g->name;
    const FeatureSpec& f = *found;
    EXPECT_EQ(g->kind, f.kind) << f.name;
    EXPECT_EQ(g->categorical.vocabulary, f.categorical.vocabulary) << f.name;
    EXPECT_EQ(g->categorical.oov_buckets, f.categorical.oov_buckets) << f.name;
    EXPECT_EQ(g->numeric.boundaries, f.numeric.boundaries) << f.name;
    EXPECT_EQ(g->numeric.mean, f.numeric.mean) << f.name;
    EXPECT_EQ(g->numeric.stddev, f.numeric.stddev) << f.name;
  }
  // ParseExample and every string op are gone from the cut serving graph.
  for (const Node& n : lift->graph.nodes()) {
    EXPECT_NE(n.op, "ParseExample") << n.name;
    EXPECT_NE(n.op, "LookupTableFindV2") << n.name;
    EXPECT_NE(n.op, "StringToHashBucketFast") << n.name;
  }
}

TEST(TfLiftTest, UnknownSignatureIsNamed) {
  absl::StatusOr<Graph> graph = LoadTransformFn();
  ASSERT_TRUE(graph.ok()) << graph.status();
  LiftOptions options;
  options.signature = "serving_default";
  absl::StatusOr<LiftResult> lift = LiftFeatureTransforms(*graph, options);
  ASSERT_FALSE(lift.ok());
  EXPECT_THAT(std::string(lift.status().message()), HasSubstr("transform_signature"));
}

// The 0-based line of `value` in a vocabulary asset, read here independently; -1 if absent.
int64_t LineOf(const std::string& path, const std::string& value) {
  std::ifstream in(path);
  std::string line;
  for (int64_t i = 0; std::getline(in, line); ++i) {
    if (line == value) return i;
  }
  return -1;
}

// Churn (BigQuery ML export): four vocabulary one-hots over dense strings (BQML's empty-string
// replacement, to_sparse_input, LookupTableFindV2 with default -1, SparseToDense, OneHot) and 14
// float counts. The lifted pipeline gives the ids TF's ops give: the asset's line, -1 unknown.
TEST(TfLiftTest, ChurnVocabularyOneHotsLiftWithTfIds) {
  absl::StatusOr<Graph> graph = LoadModel(kChurn);
  ASSERT_TRUE(graph.ok()) << graph.status();
  LiftOptions options;
  options.outputs = {"churned_probs"};
  absl::StatusOr<LiftResult> lift = LiftFeatureTransforms(*graph, options);
  ASSERT_TRUE(lift.ok()) << lift.status();
  EXPECT_EQ(lift->lifted.size(), 18u) << LiftReportText(*lift);
  EXPECT_TRUE(lift->kept.empty()) << LiftReportText(*lift);
  for (const Node& n : lift->graph.nodes()) {
    EXPECT_NE(n.op, "LookupTableFindV2") << n.name;
    EXPECT_NE(n.op, "HashTableV2") << n.name;
    EXPECT_NE(n.op, "SparseToDense") << n.name;
  }
  ASSERT_EQ(lift->graph.signatures().size(), 1u);
  for (const SignatureTensor& in : lift->graph.signatures()[0].inputs) {
    EXPECT_EQ(in.ref.node, "lifted/" + in.key);
  }
  const std::string dir = ::testing::TempDir() + "/tflift_churn";
  std::filesystem::remove_all(dir);
  absl::Status written = WriteLift(*lift, dir);
  ASSERT_TRUE(written.ok()) << written;
  absl::StatusOr<FeatureConfig> config = LoadFeatureConfig(dir + "/features.yaml");
  ASSERT_TRUE(config.ok()) << config.status();
  const FeatureSpec* country = Find(*config, "country");
  ASSERT_NE(country, nullptr);
  EXPECT_EQ(country->categorical.oov_buckets, 0);
  EXPECT_EQ(country->categorical.default_id, -1);
  absl::StatusOr<Graph> cut = LoadModel(dir + "/model");
  ASSERT_TRUE(cut.ok()) << cut.status();
  absl::StatusOr<FeatureTransformer> transformer = FeatureTransformer::Create(*config);
  ASSERT_TRUE(transformer.ok()) << transformer.status();

  // golden.json's input, then an empty country (BQML's NULL) and unknown values.
  FeatureRow row;
  const std::pair<const char*, double> counts[] = {{"cnt_ad_reward", 0},
                                                   {"cnt_challenge_a_friend", 0},
                                                   {"cnt_completed_5_levels", 1},
                                                   {"cnt_level_complete_quickplay", 3},
                                                   {"cnt_level_end_quickplay", 5},
                                                   {"cnt_level_reset_quickplay", 2},
                                                   {"cnt_level_start_quickplay", 6},
                                                   {"cnt_post_score", 34},
                                                   {"cnt_spend_virtual_currency", 0},
                                                   {"cnt_use_extra_steps", 0},
                                                   {"cnt_user_engagement", 120},
                                                   {"dayofweek", 3},
                                                   {"julianday", 254},
                                                   {"month", 9}};
  for (const auto& [name, v] : counts) row.Set(name, v);
  const std::map<std::string, std::vector<std::string>> sent = {
      {"country", {"Denmark", "", "Atlantis"}},
      {"language", {"da-dk", "", "xx-yy"}},
      {"operating_system", {"IOS", "", "BeOS"}},
      {"user_pseudo_id", {"104B0770BAE16E8B53DF330C95881893", "", "nobody"}}};
  Request request;
  for (int k = 0; k < 3; ++k) {
    FeatureRow candidate = row;
    for (const auto& [name, values] : sent) candidate.Set(name, values[k]);
    request.candidates.push_back(candidate);
  }
  TransformedRequest out;
  absl::Status s = transformer->Transform(request, &out);
  ASSERT_TRUE(s.ok()) << s;
  for (const auto& [name, values] : sent) {
    const FeatureColumn* column = out.FindColumn("lifted/" + name);
    ASSERT_NE(column, nullptr) << name;
    const std::string asset = kChurn + "/assets/" + name + ".txt";
    // TF: '' is replaced by __empty_string_replacement__ before the lookup; unknown -> -1.
    const int64_t want[3] = {LineOf(asset, values[0]),
                             LineOf(asset, "__empty_string_replacement__"), -1};
    EXPECT_GE(want[0], 0) << name;
    for (int k = 0; k < 3; ++k) EXPECT_EQ(column->ids[k], want[k]) << name << " row " << k;
  }
  const FeatureColumn* engagement = out.FindColumn("lifted/cnt_user_engagement");
  ASSERT_NE(engagement, nullptr);
  EXPECT_EQ(engagement->values[0], 120.0f);
}

// Churn served through the lifted model: optimize without --features lifts the vocabulary
// one-hots into the config, and the package, fed golden.json's input as a native request,
// reproduces the prediction TF recorded. The head is the signature's churned_probs[:, 0] (a
// package head has one score per candidate): the float64 Sigmoid it concatenates with 1 - itself.
TEST(TfLiftTest, ChurnLiftedPackageReproducesTheRecordedPrediction) {
  const std::string dir = ::testing::TempDir() + "/tflift_churn_pkg";
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  OptimizeModelOptions options;
  options.model_path = kChurn;
  options.out_path = dir + "/churn.rkp";
  options.outputs = {"Sigmoid"};
  options.name = "churn";
  options.version = "1";
  options.int8 = TableQuantizationMode::kOff;
  options.precision = PrecisionMode::kFp32;  // exact: no bf16/int8 dense layers
  options.time_s = 0;
  absl::StatusOr<OptimizeResult> result = OptimizeModel(options);
  ASSERT_TRUE(result.ok()) << result.status();
  absl::StatusOr<std::shared_ptr<const Model>> model = Model::Load(options.out_path);
  ASSERT_TRUE(model.ok()) << model.status();
  FeatureRow row;
  const std::pair<const char*, int64_t> counts[] = {{"cnt_ad_reward", 0},
                                                    {"cnt_challenge_a_friend", 0},
                                                    {"cnt_completed_5_levels", 1},
                                                    {"cnt_level_complete_quickplay", 3},
                                                    {"cnt_level_end_quickplay", 5},
                                                    {"cnt_level_reset_quickplay", 2},
                                                    {"cnt_level_start_quickplay", 6},
                                                    {"cnt_post_score", 34},
                                                    {"cnt_spend_virtual_currency", 0},
                                                    {"cnt_use_extra_steps", 0},
                                                    {"cnt_user_engagement", 120},
                                                    {"dayofweek", 3},
                                                    {"julianday", 254},
                                                    {"month", 9}};
  // JSON ints, as golden.json sends them; the lifted numeric features take them as numbers.
  for (const auto& [name, v] : counts) row.Set(name, v);
  row.Set("country", std::string("Denmark"));
  row.Set("language", std::string("da-dk"));
  row.Set("operating_system", std::string("IOS"));
  row.Set("user_pseudo_id", std::string("104B0770BAE16E8B53DF330C95881893"));
  Request request;
  request.candidates.push_back(row);
  absl::StatusOr<Scores> scores = (*model)->Score(request);
  ASSERT_TRUE(scores.ok()) << scores.status();
  ASSERT_EQ(scores->values.size(), 1u);
  ASSERT_EQ(scores->values[0].size(), 1u);  // P(churned = 1)
  EXPECT_NEAR(scores->values[0][0], 0.8705776921658448, 1e-6);
  EXPECT_NEAR(1.0 - scores->values[0][0], 0.1294223078341552, 1e-6);
  // (optimize without --features refuses a model with any input left in the graph, so the
  // strings went through the native pipeline's vocabularies.)
  // An unknown country: TF's lookup gives -1, an all-zero one-hot; the lifted default_id too.
  row.Set("country", std::string("Atlantis"));
  request.candidates.push_back(row);
  scores = (*model)->Score(request);
  ASSERT_TRUE(scores.ok()) << scores.status();
  ASSERT_EQ(scores->values[0].size(), 2u);
  EXPECT_NEAR(scores->values[0][0], 0.8705776921658448, 1e-6);
  EXPECT_NE(scores->values[0][1], scores->values[0][0]);
}

// Raw babyweight requests: inference_test.py.txt's instance, then unknown, empty and boundary
// values (18 and 22 are mother_age bucket boundaries of the estimator's cross).
std::vector<FeatureRow> BabyweightRows(bool estimator) {
  struct Raw {
    const char* is_male;
    double mother_age;
    const char* plurality;  // the Keras model's string plurality
    double gestation_weeks;
    const char* mother_race;
    const char* married;
    const char* cigarettes;
    const char* alcohol;
  };
  const Raw raws[] = {
      {"True", 26, "Single(1)", 39, "Asian Indian", "True", "False", "False"},
      {"False", 18, "Twins(2)", 32, "White", "False", "True", "True"},
      {"Unknown", 22, "Triplets(3)", 41.5, "Atlantis", "", "", "maybe"},
      {"", 44.9, "", 25, "", "True", "Unknown", ""},
      {"True", 12, "Multiple(2+)", 46, "Black", "Unknown", "False", "Unknown"},
  };
  std::vector<FeatureRow> rows;
  for (int k = 0; k < 5; ++k) {
    const Raw& r = raws[k];
    FeatureRow row;
    row.Set("is_male", std::string(r.is_male));
    row.Set("mother_age", r.mother_age);
    row.Set("gestation_weeks", r.gestation_weeks);
    if (estimator) {
      row.Set("plurality", static_cast<double>(k % 3 + 1));
      row.Set("mother_race", std::string(r.mother_race));
      row.Set("mother_married", std::string(r.married));
      row.Set("cigarette_use", std::string(r.cigarettes));
      row.Set("alcohol_use", std::string(r.alcohol));
    } else {
      row.Set("plurality", std::string(r.plurality));
    }
    rows.push_back(std::move(row));
  }
  return rows;
}

// Owned feeds of an ExecutionPlan, by node name.
struct PlanFeeds {
  std::vector<std::string> names;
  std::vector<Tensor> tensors;
  std::vector<std::vector<absl::string_view>> strings;
  std::vector<NamedTensorView> views;
  void Bind() {
    strings.assign(tensors.size(), {});
    views.clear();
    for (size_t i = 0; i < tensors.size(); ++i) {
      TensorView v;
      v.dtype = tensors[i].dtype();
      v.dims.assign(tensors[i].dims().begin(), tensors[i].dims().end());
      if (v.dtype == DType::kString) {
        for (const std::string& x : tensors[i].strings()) strings[i].emplace_back(x);
        v.data = strings[i].data();
      } else {
        v.data = const_cast<char*>(tensors[i].bytes().data());
      }
      views.push_back({names[i], v});
    }
  }
};

// The signature input `in` fed from the rows' raw values (one per row, [B]).
Tensor RawColumn(const std::vector<FeatureRow>& rows, const SignatureTensor& in) {
  const int64_t n = static_cast<int64_t>(rows.size());
  std::vector<std::string> strings;
  std::vector<float> floats;
  for (const FeatureRow& row : rows) {
    const FeatureValue* v = row.Find(in.key);
    if (in.dtype == DType::kString) {
      strings.push_back(v != nullptr && std::holds_alternative<std::string>(*v)
                            ? std::get<std::string>(*v)
                            : std::string());
    } else {
      floats.push_back(v != nullptr && std::holds_alternative<double>(*v)
                           ? static_cast<float>(std::get<double>(*v))
                           : 0.0f);
    }
  }
  if (in.dtype == DType::kString) return *Tensor::FromStrings({n}, std::move(strings));
  return *Tensor::FromValues<float>({n}, floats);
}

// Runs `graph` to `outputs`; signature inputs fed from the rows (raw), or, for lifted inputs,
// from the native pipeline's columns in `lifted` (nullptr: none).
absl::StatusOr<std::vector<Tensor>> RunRows(const Graph& graph, const Signature& sig,
                                            const std::vector<std::string>& outputs,
                                            const std::vector<FeatureRow>& rows,
                                            const TransformedRequest* lifted) {
  PlanOptions options;
  options.outputs = outputs;
  RANKOPT_ASSIGN_OR_RETURN(std::unique_ptr<const ExecutionPlan> plan,
                           ExecutionPlan::Create(graph, options));
  PlanFeeds feeds;
  for (const SignatureTensor& in : sig.inputs) {
    const FeatureColumn* column = lifted != nullptr ? lifted->FindColumn(in.ref.node) : nullptr;
    bool read = false;
    for (const ExecutionPlan::Input& p : plan->inputs()) read |= p.name == in.ref.node;
    if (!read) continue;
    feeds.names.push_back(in.ref.node);
    if (column == nullptr) {
      feeds.tensors.push_back(RawColumn(rows, in));
    } else if (column->dtype == DType::kInt64) {
      feeds.tensors.push_back(*Tensor::FromValues<int64_t>({column->rows()}, column->ids));
    } else {
      feeds.tensors.push_back(*Tensor::FromValues<float>({column->rows()}, column->values));
    }
  }
  // Lifted inputs no request key names (a native cross), from their columns.
  for (const ExecutionPlan::Input& p : plan->inputs()) {
    const FeatureColumn* column = lifted != nullptr ? lifted->FindColumn(p.name) : nullptr;
    if (column == nullptr || column->dtype != DType::kInt64 ||
        std::find(feeds.names.begin(), feeds.names.end(), p.name) != feeds.names.end()) {
      continue;
    }
    feeds.names.push_back(p.name);
    feeds.tensors.push_back(*Tensor::FromValues<int64_t>({column->rows()}, column->ids));
  }
  feeds.Bind();
  std::vector<Tensor> out;
  RANKOPT_RETURN_IF_ERROR(plan->Run(feeds.views, &out));
  return out;
}

const Signature* SignatureNamed(const Graph& graph, const std::string& key) {
  for (const Signature& s : graph.signatures()) {
    if (s.key == key) return &s;
  }
  return nullptr;
}

// Babyweight Estimator requests: BabyweightRows, then every mother_race of the vocabulary (and an
// unknown and the empty one) against mother ages in every bucket of the cross, with the other
// strings cycling through their values, unknown and empty ones.
std::vector<FeatureRow> BabyweightEstimatorRows() {
  std::vector<FeatureRow> rows = BabyweightRows(/*estimator=*/true);
  const char* const races[] = {"White",      "Black",    "American Indian", "Chinese", "Japanese",
                               "Hawaiian",   "Filipino", "Asian Indian",    "Korean",  "Samaon",
                               "Vietnamese", "Unknown",  "Other Asian",     "",        "Atlantis"};
  const double ages[] = {12, 18, 19.5, 22, 27.9, 28, 33, 36, 41, 42, 44, 45, 49.99, 50, 61};
  const char* const yes_no[] = {"True", "False", "Unknown", "", "maybe"};
  int k = 0;
  for (const char* race : races) {
    for (double age : ages) {
      FeatureRow row;
      row.Set("is_male", std::string(yes_no[k % 5]));
      row.Set("mother_age", age);
      row.Set("plurality", static_cast<double>(k % 4 + 1));
      row.Set("gestation_weeks", 25.0 + (k % 19));
      row.Set("mother_race", std::string(race));
      row.Set("mother_married", std::string(yes_no[(k / 5) % 5]));
      row.Set("cigarette_use", std::string(yes_no[(k / 2) % 5]));
      row.Set("alcohol_use", std::string(yes_no[(k / 3) % 5]));
      rows.push_back(std::move(row));
      ++k;
    }
  }
  return rows;
}

std::vector<int64_t> IntValues(const Tensor& t) {
  std::vector<int64_t> out;
  if (t.dtype() == DType::kInt64) {
    for (int64_t v : t.values<int64_t>()) out.push_back(v);
  } else if (t.dtype() == DType::kInt32) {
    for (int32_t v : t.values<int32_t>()) out.push_back(v);
  } else {
    ADD_FAILURE() << "not an integer tensor: " << DTypeName(t.dtype());
  }
  return out;
}

// Babyweight, TF1 Estimator: all 8 inputs lift. The strings become vocabulary ids in the native
// pipeline; every form the graph reads them in (the sparse ids of each to_sparse_input that the
// crosses and the linear/embedding combiners read, the indicators' dense ids) is rebuilt from
// those ids in-graph, equal to what the original graph computes from the strings; the cross of
// two of them becomes a native cross whose SparseCross output is rebuilt in-graph too;
// mother_age goes as a float (the graph buckets and crosses it on numbers).
TEST(TfLiftTest, BabyweightEstimatorLiftsEveryInputWithTheInGraphIds) {
  absl::StatusOr<Graph> graph = LoadModel(kBabyweightEstimator);
  ASSERT_TRUE(graph.ok()) << graph.status();
  absl::StatusOr<LiftResult> lift = LiftFeatureTransforms(*graph);
  ASSERT_TRUE(lift.ok()) << lift.status();
  EXPECT_EQ(lift->lifted.size(), 8u) << LiftReportText(*lift);
  ASSERT_EQ(lift->crosses.size(), 1u) << LiftReportText(*lift);
  EXPECT_TRUE(lift->kept.empty()) << LiftReportText(*lift);
  const FeatureSpec* native_cross = Find(lift->config, "alcohol_use_X_cigarette_use");
  ASSERT_NE(native_cross, nullptr) << LiftReportText(*lift);
  EXPECT_EQ(native_cross->kind, FeatureKind::kCross);
  // The graph's SparseCross reads cigarette_use first.
  EXPECT_EQ(native_cross->crossed, (std::vector<std::string>{"cigarette_use", "alcohol_use"}));
  EXPECT_EQ(native_cross->categorical.hash_buckets, 9);

  const std::string dir = ::testing::TempDir() + "/tflift_babyweight_estimator";
  std::filesystem::remove_all(dir);
  ASSERT_TRUE(WriteLift(*lift, dir).ok());
  absl::StatusOr<FeatureConfig> config = LoadFeatureConfig(dir + "/features.yaml");
  ASSERT_TRUE(config.ok()) << config.status();
  const FeatureSpec* race = Find(*config, "mother_race");
  ASSERT_NE(race, nullptr);
  ASSERT_EQ(race->categorical.vocabulary.size(), 13u);  // 12 + the absent ""
  EXPECT_EQ(race->categorical.vocabulary.back(), "");
  EXPECT_EQ(race->categorical.default_id, -1);
  absl::StatusOr<FeatureTransformer> transformer = FeatureTransformer::Create(*config);
  ASSERT_TRUE(transformer.ok()) << transformer.status();
  absl::StatusOr<Graph> cut = LoadModel(dir + "/model");
  ASSERT_TRUE(cut.ok()) << cut.status();
  for (const Node& n : cut->nodes()) {
    for (const char* op : {"LookupTableFindV2", "HashTableV2", "AsString"}) {
      EXPECT_NE(n.op, op) << n.name << ": the cut graph has no string ops";
    }
  }

  const std::vector<FeatureRow> rows = BabyweightEstimatorRows();
  const int64_t n = static_cast<int64_t>(rows.size());
  Request request;
  for (const FeatureRow& row : rows) request.candidates.push_back(row);
  TransformedRequest out;
  ASSERT_TRUE(transformer->Transform(request, &out).ok());
  const Signature* original = SignatureNamed(*graph, "predict");
  const Signature* cut_sig = SignatureNamed(*cut, "predict");
  ASSERT_NE(original, nullptr);
  ASSERT_NE(cut_sig, nullptr);
  // Every tensor the lift replaced, against its replacement fed the native columns.
  int forms = 0;
  std::vector<LiftedFeature> replaced = lift->lifted;
  replaced.push_back(lift->crosses[0]);
  for (const LiftedFeature& f : replaced) {
    for (const auto& [was, now] : f.cuts) {
      auto want = RunRows(*graph, *original, {was}, rows, nullptr);
      ASSERT_TRUE(want.ok()) << want.status();
      auto got = RunRows(*cut, *cut_sig, {now}, rows, &out);
      ASSERT_TRUE(got.ok()) << got.status();
      const Tensor& w = (*want)[0];
      const Tensor& g = (*got)[0];
      EXPECT_EQ(w.dims(), g.dims()) << f.feature << ": " << was << " vs " << now;
      if (w.dtype() == DType::kFloat32) {
        ASSERT_EQ(g.dtype(), DType::kFloat32);
        for (int64_t k = 0; k < w.num_elements(); ++k) {
          EXPECT_NEAR(g.values<float>()[k], w.values<float>()[k], 1e-6) << was << " [" << k << "]";
        }
      } else {
        EXPECT_EQ(IntValues(g), IntValues(w)) << f.feature << ": " << was << " vs " << now;
      }
      ++forms;
    }
  }
  EXPECT_EQ(forms, 26) << LiftReportText(*lift);  // 23 forms of the 8 inputs, 3 of the cross
  // What the two SparseCrosses left in the graph make of them: ids equal, the empty rows too
  // (the lifted cross's outputs are among the replaced tensors above).
  EXPECT_EQ(cut->FindNode("linear/linear_model/alcohol_use_X_cigarette_use/SparseCross"), nullptr);
  const std::string crosses[] = {
      "linear/linear_model/mother_age_bucketized_X_mother_race/SparseCross",
      "dnn/input_from_feature_columns/input_layer/mother_age_bucketized_X_mother_race_embedding/"
      "SparseCross"};
  for (const std::string& cross : crosses) {
    const std::vector<std::string> parts = {cross + ":0", cross + ":1", cross + ":2"};
    auto want = RunRows(*graph, *original, parts, rows, nullptr);
    ASSERT_TRUE(want.ok()) << want.status();
    auto got = RunRows(*cut, *cut_sig, parts, rows, &out);
    ASSERT_TRUE(got.ok()) << got.status();
    for (int p = 0; p < 3; ++p) EXPECT_EQ(IntValues((*got)[p]), IntValues((*want)[p])) << parts[p];
    EXPECT_LT((*want)[1].num_elements(), n) << cross << ": some rows cross nothing (empty strings)";
  }
  auto want = RunRows(*graph, *original, {"predictions"}, rows, nullptr);
  ASSERT_TRUE(want.ok()) << want.status();
  auto got = RunRows(*cut, *cut_sig, {"predictions"}, rows, &out);
  ASSERT_TRUE(got.ok()) << got.status();
  ASSERT_EQ((*want)[0].num_elements(), n);
  ASSERT_EQ((*got)[0].num_elements(), n);
  for (int64_t k = 0; k < n; ++k) {
    EXPECT_NEAR((*got)[0].values<float>()[k], (*want)[0].values<float>()[k], 1e-6) << "row " << k;
  }
}

// The package `optimize` writes without --features (every input lifted) scores the raw rows as
// the original graph does, at -O 0 and -O 2.
TEST(TfLiftTest, BabyweightEstimatorPackagesScoreAsTheOriginalGraph) {
  absl::StatusOr<Graph> graph = LoadModel(kBabyweightEstimator);
  ASSERT_TRUE(graph.ok()) << graph.status();
  const Signature* sig = SignatureNamed(*graph, "predict");
  ASSERT_NE(sig, nullptr);
  const std::vector<FeatureRow> rows = BabyweightEstimatorRows();
  const int64_t n = static_cast<int64_t>(rows.size());
  auto want = RunRows(*graph, *sig, {"predictions"}, rows, nullptr);
  ASSERT_TRUE(want.ok()) << want.status();
  Request request;
  for (const FeatureRow& row : rows) request.candidates.push_back(row);
  std::vector<std::vector<float>> by_level;
  for (OptLevel level : {OptLevel::kO0, OptLevel::kO2}) {
    const std::string dir = ::testing::TempDir() + "/tflift_babyweight_estimator_pkg";
    std::filesystem::create_directories(dir);
    OptimizeModelOptions options;
    options.model_path = kBabyweightEstimator;
    options.out_path = dir + "/estimator.rkp";
    options.level = level;
    options.name = "babyweight";
    options.version = "1";
    options.int8 = TableQuantizationMode::kOff;
    options.precision = PrecisionMode::kFp32;
    options.time_s = 0;
    absl::StatusOr<OptimizeResult> result = OptimizeModel(options);
    ASSERT_TRUE(result.ok()) << result.status();
    absl::StatusOr<std::shared_ptr<const Model>> model = Model::Load(options.out_path);
    ASSERT_TRUE(model.ok()) << model.status();
    absl::StatusOr<Scores> scores = (*model)->Score(request);
    ASSERT_TRUE(scores.ok()) << scores.status();
    ASSERT_EQ(scores->values.size(), 1u);
    ASSERT_EQ(static_cast<int64_t>(scores->values[0].size()), n);
    by_level.push_back(scores->values[0]);
    for (int64_t k = 0; k < n; ++k) {
      EXPECT_NEAR(scores->values[0][k], (*want)[0].values<float>()[k], 1e-6)
          << "row " << k << " at -O " << (level == OptLevel::kO0 ? 0 : 2);
    }
    // A TF Serving client's request as the fixture's inference_test.py sends it (row 0 of the
    // rows above, twice), to the Estimator's signature.
    TfServingRequest tf;
    const absl::Status parsed = ParseTfPredictRequest(
        R"({"signature_name": "predict", "instances": [)"
        R"({"is_male": "True", "mother_age": 26.0, "mother_race": "Asian Indian",)"
        R"( "plurality": 1.0, "gestation_weeks": 39, "mother_married": "True",)"
        R"( "cigarette_use": "False", "alcohol_use": "False"},)"
        R"({"is_male": "True", "mother_age": 26.0, "mother_race": "Asian Indian",)"
        R"( "plurality": 1.0, "gestation_weeks": 39, "mother_married": "True",)"
        R"( "cigarette_use": "False", "alcohol_use": "False"}]})",
        **model, &tf);
    ASSERT_TRUE(parsed.ok()) << parsed;
    ScoreOptions score_options;
    score_options.heads = tf.heads;
    absl::StatusOr<Scores> served = (*model)->Score(tf.request, score_options);
    ASSERT_TRUE(served.ok()) << served.status();
    ASSERT_EQ(served->values.size(), 1u);
    ASSERT_EQ(served->values[0].size(), 2u);
    for (float p : served->values[0]) EXPECT_NEAR(p, (*want)[0].values<float>()[0], 1e-6);
    EXPECT_THAT(TfPredictResponse(tf.format, *served),
                ::testing::StartsWith("{\"predictions\": ["));
  }
  for (int64_t k = 0; k < n; ++k) EXPECT_NEAR(by_level[0][k], by_level[1][k], 1e-6) << "row " << k;
}

// The native `cross` feature (hash: tf_fingerprint64) against the in-graph SparseCross kernel
// on the same rows: TF's FingerprintCat64 from hash_key 0xDECAFCAFFE over the crossed ids (a
// bucketized mother_age's bucket, the vocabulary ids as int64, -1 for unknown values), modulo
// num_buckets. The crossed features' specs are the graph's: mother_age's Bucketize boundaries,
// the lifted vocabularies. Where TF's to_sparse_input drops an empty string the graph's row
// crosses nothing, while the native cross (which knows only missing request keys) hashes it:
// those rows are left out here, and the lifted graph keeps its SparseCross for that reason.
TEST(TfLiftTest, BabyweightEstimatorNativeCrossesHashAsTheInGraphSparseCross) {
  absl::StatusOr<Graph> graph = LoadModel(kBabyweightEstimator);
  ASSERT_TRUE(graph.ok()) << graph.status();
  absl::StatusOr<LiftResult> lift = LiftFeatureTransforms(*graph);
  ASSERT_TRUE(lift.ok()) << lift.status();
  const std::string linear = "linear/linear_model/";
  const Node* bucketize = graph->FindNode(linear + "mother_age_bucketized_X_mother_race/Bucketize");
  ASSERT_NE(bucketize, nullptr);
  const std::vector<float>* boundaries = bucketize->attrs.Get<std::vector<float>>("boundaries");
  ASSERT_NE(boundaries, nullptr);
  FeatureConfig crosses;
  crosses.model = "babyweight_crosses";
  crosses.ignore_unknown_features = true;
  FeatureSpec age;
  age.name = "mother_age";
  age.input = "mother_age";
  age.side = FeatureSide::kItem;
  age.kind = FeatureKind::kNumeric;
  age.numeric.boundaries = *boundaries;
  crosses.features.push_back(age);
  for (const char* name : {"mother_race", "cigarette_use", "alcohol_use"}) {
    const FeatureSpec* lifted = Find(lift->config, name);
    ASSERT_NE(lifted, nullptr) << name;
    FeatureSpec spec = *lifted;
    ASSERT_EQ(spec.categorical.vocabulary.back(), "") << name;
    spec.categorical.vocabulary.pop_back();  // "" is one more unknown value here
    spec.input = name;
    crosses.features.push_back(spec);
  }
  // The crossed features in the order the graph's SparseCross reads them (its attr
  // num_buckets): the Estimator's alcohol_use_X_cigarette_use reads cigarette_use first.
  struct Cross {
    std::string name;
    std::vector<std::string> crossed;
    std::string node;
  };
  const Cross wanted[] = {
      {"age_x_race", {"mother_age", "mother_race"}, linear + "mother_age_bucketized_X_mother_race"},
      {"age_x_race_dnn",
       {"mother_age", "mother_race"},
       "dnn/input_from_feature_columns/input_layer/mother_age_bucketized_X_mother_race_embedding"},
      {"cigarette_x_alcohol",
       {"cigarette_use", "alcohol_use"},
       linear + "alcohol_use_X_cigarette_use"}};
  for (const Cross& c : wanted) {
    const Node* node = graph->FindNode(c.node + "/SparseCross");
    ASSERT_NE(node, nullptr) << c.node;
    const int64_t* buckets = node->attrs.Get<int64_t>("num_buckets");
    const int64_t* key = node->attrs.Get<int64_t>("hash_key");
    ASSERT_NE(buckets, nullptr);
    ASSERT_NE(key, nullptr);
    EXPECT_EQ(static_cast<uint64_t>(*key), kTfCrossHashKey) << c.node;
    FeatureSpec cross;
    cross.name = c.name;
    cross.input = c.name;
    cross.side = FeatureSide::kItem;
    cross.kind = FeatureKind::kCross;
    cross.crossed = c.crossed;
    cross.categorical.hash = HashFunction::kTfFingerprint64;
    cross.categorical.hash_buckets = *buckets;
    crosses.features.push_back(cross);
  }
  absl::StatusOr<FeatureConfig> config =
      ParseFeatureConfig(FeatureConfigToYaml(crosses), "babyweight_crosses");
  ASSERT_TRUE(config.ok()) << config.status();
  absl::StatusOr<FeatureTransformer> transformer = FeatureTransformer::Create(*config);
  ASSERT_TRUE(transformer.ok()) << transformer.status();
  const std::vector<FeatureRow> rows = BabyweightEstimatorRows();
  Request request;
  for (const FeatureRow& row : rows) request.candidates.push_back(row);
  TransformedRequest out;
  ASSERT_TRUE(transformer->Transform(request, &out).ok());
  const Signature* sig = SignatureNamed(*graph, "predict");
  ASSERT_NE(sig, nullptr);
  for (const Cross& c : wanted) {
    const FeatureColumn* native = out.FindColumn(c.name);
    ASSERT_NE(native, nullptr) << c.name;
    auto in_graph = RunRows(*graph, *sig, {c.node + "/SparseCross:0", c.node + "/SparseCross:1"},
                            rows, nullptr);
    ASSERT_TRUE(in_graph.ok()) << in_graph.status();
    const std::vector<int64_t> indices = IntValues((*in_graph)[0]);
    const std::vector<int64_t> values = IntValues((*in_graph)[1]);
    ASSERT_EQ(indices.size(), 2 * values.size());
    std::set<int64_t> crossed_rows;
    for (size_t k = 0; k < values.size(); ++k) {
      const int64_t row = indices[2 * k];
      ASSERT_EQ(indices[2 * k + 1], 0) << c.name << ": one crossed value per row";
      crossed_rows.insert(row);
      EXPECT_EQ(native->ids[row], values[k]) << c.name << " row " << row;
    }
    // The rows TF crosses are exactly those without an empty string among the crossed values.
    std::set<int64_t> present_rows;
    for (size_t r = 0; r < rows.size(); ++r) {
      bool present = true;
      for (const std::string& name : c.crossed) {
        const FeatureValue* v = rows[r].Find(name);
        present &= !(std::holds_alternative<std::string>(*v) && std::get<std::string>(*v).empty());
      }
      if (present) present_rows.insert(static_cast<int64_t>(r));
    }
    EXPECT_EQ(crossed_rows, present_rows) << c.name;
    EXPECT_GT(crossed_rows.size(), rows.size() / 2) << c.name;
  }
}

// Babyweight, Keras (../shared): every input lifts, the vocabulary one-hots with TF's ids (the
// in-graph SparseToDense values, -1 unknown and empty), and the package optimize writes without
// --features scores what the original graph scores, at -O 0 and -O 2.
TEST(TfLiftTest, BabyweightKerasLiftsEveryInputWithTheInGraphIdsAndScores) {
  if (!std::filesystem::exists(kSharedBabyweightKeras)) {
    GTEST_SKIP() << kSharedBabyweightKeras << " is absent (../shared not here)";
  }
  absl::StatusOr<Graph> graph = LoadModel(kSharedBabyweightKeras);
  ASSERT_TRUE(graph.ok()) << graph.status();
  absl::StatusOr<LiftResult> lift = LiftFeatureTransforms(*graph);
  ASSERT_TRUE(lift.ok()) << lift.status();
  ASSERT_EQ(lift->lifted.size(), 4u) << LiftReportText(*lift);
  EXPECT_TRUE(lift->kept.empty()) << LiftReportText(*lift);
  absl::StatusOr<FeatureConfig> config = ParseFeatureConfig(FeatureConfigToYaml(lift->config), "k");
  ASSERT_TRUE(config.ok()) << config.status();
  absl::StatusOr<FeatureTransformer> transformer = FeatureTransformer::Create(*config);
  ASSERT_TRUE(transformer.ok()) << transformer.status();
  const std::vector<FeatureRow> rows = BabyweightRows(/*estimator=*/false);
  Request request;
  for (const FeatureRow& row : rows) request.candidates.push_back(row);
  TransformedRequest out;
  ASSERT_TRUE(transformer->Transform(request, &out).ok());
  const Signature* sig = SignatureNamed(*graph, "serving_default");
  ASSERT_NE(sig, nullptr);
  // The ids: the in-graph tensors lift cut at, against the native columns.
  int vocabularies = 0;
  for (const LiftedFeature& f : lift->lifted) {
    const FeatureColumn* column = out.FindColumn(f.graph_input);
    ASSERT_NE(column, nullptr) << f.graph_input;
    if (column->dtype != DType::kInt64) continue;
    ++vocabularies;
    auto in_graph = RunRows(*graph, *sig, {f.cut_tensor}, rows, nullptr);
    ASSERT_TRUE(in_graph.ok()) << in_graph.status();
    ASSERT_EQ((*in_graph)[0].num_elements(), 5) << f.feature;
    std::vector<int64_t> want;
    if ((*in_graph)[0].dtype() == DType::kInt64) {
      for (int64_t v : (*in_graph)[0].values<int64_t>()) want.push_back(v);
    } else {
      for (int32_t v : (*in_graph)[0].values<int32_t>()) want.push_back(v);
    }
    EXPECT_EQ(column->ids, want) << f.feature;
    EXPECT_EQ(want[3], -1) << f.feature << ": the empty string is absent, TF's -1";
  }
  EXPECT_EQ(vocabularies, 2);  // is_male, plurality

  auto want = RunRows(*graph, *sig, {sig->outputs[0].ref.ToString()}, rows, nullptr);
  ASSERT_TRUE(want.ok()) << want.status();
  std::vector<std::vector<float>> by_level;
  for (OptLevel level : {OptLevel::kO0, OptLevel::kO2}) {
    const std::string dir = ::testing::TempDir() + "/tflift_babyweight_keras";
    std::filesystem::create_directories(dir);
    OptimizeModelOptions options;
    options.model_path = kSharedBabyweightKeras;
    options.out_path = dir + "/keras.rkp";
    options.level = level;
    options.name = "babyweight";
    options.version = "1";
    options.int8 = TableQuantizationMode::kOff;
    options.precision = PrecisionMode::kFp32;
    options.time_s = 0;
    absl::StatusOr<OptimizeResult> result = OptimizeModel(options);
    ASSERT_TRUE(result.ok()) << result.status();
    absl::StatusOr<std::shared_ptr<const Model>> model = Model::Load(options.out_path);
    ASSERT_TRUE(model.ok()) << model.status();
    absl::StatusOr<Scores> scores = (*model)->Score(request);
    ASSERT_TRUE(scores.ok()) << scores.status();
    ASSERT_EQ(scores->values[0].size(), 5u);
    by_level.push_back(scores->values[0]);
    for (int k = 0; k < 5; ++k) {
      EXPECT_NEAR(scores->values[0][k], (*want)[0].values<float>()[k], 1e-6)
          << "row " << k << " at -O " << (level == OptLevel::kO0 ? 0 : 2);
    }
  }
  for (int k = 0; k < 5; ++k) EXPECT_NEAR(by_level[0][k], by_level[1][k], 1e-6) << "row " << k;
}

// The cut serving export runs in rankopt: optimize without a feature config lifts, packs, and
// the package scores the 656 raw eval tf.Examples through the native pipeline. (No recorded TF
// predictions exist for this export; the features themselves are checked above.)
TEST(TfLiftTest, TaxiServingExportOptimizesWithoutFeaturesAndScoresRawExamples) {
  if (!std::filesystem::exists(kSharedTaxiServing)) {
    GTEST_SKIP() << kSharedTaxiServing << " is absent (../shared not here)";
  }
  const std::string dir = ::testing::TempDir() + "/tflift_taxi_pkg";
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  OptimizeModelOptions options;
  options.model_path = kSharedTaxiServing;
  options.out_path = dir + "/taxi.rkp";
  options.outputs = {"logistic"};
  options.name = "taxi";
  options.version = "1";
  options.int8 = TableQuantizationMode::kOff;
  options.time_s = 0;
  absl::StatusOr<OptimizeResult> result = OptimizeModel(options);
  ASSERT_TRUE(result.ok()) << result.status();
  absl::StatusOr<std::shared_ptr<const Model>> model = Model::Load(options.out_path);
  ASSERT_TRUE(model.ok()) << model.status();
  Request request;
  for (FeatureRow& row : ReadExamples(kTaxi + "/raw_eval")) request.candidates.push_back(row);
  ASSERT_EQ(request.candidates.size(), 656u);
  absl::StatusOr<Scores> scores = (*model)->Score(request);
  ASSERT_TRUE(scores.ok()) << scores.status();
  ASSERT_EQ(scores->values.size(), 1u);
  ASSERT_EQ(scores->values[0].size(), 656u);
  for (float p : scores->values[0]) EXPECT_TRUE(p > 0 && p < 1) << p;
}

}  // namespace
}  // namespace rankopt
