// Serialized tf.Examples decoded straight into the lifted configs' columns
// (Request::candidate_examples) against the row path (ParseTfExample into a FeatureRow per
// candidate, then FeatureTransformer::Transform), which serving_tf_lift_test checks against TF:
// equal columns and stats on every taxi raw eval example (the serving export's and the
// tf.Transform graph's configs) and on babyweight / churn requests, and the same errors for
// malformed bytes, wrong types and features sent twice.
#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <variant>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "features/config/feature_config.h"
#include "features/pipeline/feature_transformer.h"
#include "features/request/tf_example.h"
#include "gmock/gmock.h"
#include "graph/io/model_io.h"
#include "graph/tf/saved_model_io.h"
#include "graph/tf/tensorflow_subset.pb.h"
#include "gtest/gtest.h"
#include "serving/lift/tf_lift.h"
#include "tests/tf_records.h"

namespace rankopt {
namespace {

using ::testing::HasSubstr;

const std::string kData = std::string(RANKOPT_TESTDATA_DIR) + "/tf_feature_columns";

std::vector<std::string> Records(const std::string& dir) {
  std::vector<std::string> files, out;
  for (const auto& e : std::filesystem::directory_iterator(dir)) files.push_back(e.path());
  std::sort(files.begin(), files.end());
  for (const std::string& f : files) {
    for (std::string& r : rankopt::test_data::ReadTfRecordsGz(f)) out.push_back(std::move(r));
  }
  return out;
}

FeatureTransformer Lifted(const Graph& graph, const LiftOptions& options = {}) {
  absl::StatusOr<LiftResult> lift = LiftFeatureTransforms(graph, options);
  EXPECT_TRUE(lift.ok()) << lift.status();
  // Through YAML, as optimize packs it.
  absl::StatusOr<FeatureConfig> config =
      ParseFeatureConfig(FeatureConfigToYaml(lift->config), "lifted");
  EXPECT_TRUE(config.ok()) << config.status();
  absl::StatusOr<FeatureTransformer> t = FeatureTransformer::Create(*std::move(config));
  EXPECT_TRUE(t.ok()) << t.status();
  return *std::move(t);
}

// The two ways of sending `examples` as candidates.
Request AsRows(const std::vector<std::string>& examples) {
  Request r;
  for (const std::string& e : examples) {
    r.candidates.emplace_back();
    absl::Status s = ParseTfExample(e, &r.candidates.back());
    EXPECT_TRUE(s.ok()) << s;
  }
  return r;
}
Request AsExamples(const std::vector<std::string>& examples) {
  Request r;
  r.candidates.resize(examples.size());
  r.candidate_examples = examples;
  return r;
}

void ExpectSameColumns(const TransformedRequest& want, const TransformedRequest& got,
                       const std::string& what) {
  ASSERT_EQ(want.num_candidates, got.num_candidates) << what;
  ASSERT_EQ(want.columns.size(), got.columns.size()) << what;
  for (size_t c = 0; c < want.columns.size(); ++c) {
    const FeatureColumn& a = want.columns[c];
    const FeatureColumn& b = got.columns[c];
    EXPECT_EQ(a.input, b.input) << what;
    EXPECT_EQ(a.dims, b.dims) << what << " " << a.input;
    EXPECT_EQ(a.ids, b.ids) << what << " " << a.input;
    EXPECT_EQ(a.values, b.values) << what << " " << a.input;  // bit-equal floats
  }
  ASSERT_EQ(want.stats.size(), got.stats.size()) << what;
  for (size_t f = 0; f < want.stats.size(); ++f) {
    EXPECT_EQ(want.stats[f].defaults_applied, got.stats[f].defaults_applied)
        << what << " " << want.stats[f].feature;
    EXPECT_EQ(want.stats[f].truncated, got.stats[f].truncated) << what;
    EXPECT_EQ(want.stats[f].out_of_range, got.stats[f].out_of_range) << what;
  }
}

// Both paths over `examples`: equal columns and stats, or the same error (the row path's
// ParseTfExample error as the transformer words it: "candidates[i]: malformed tf.Example: ...").
void ExpectBothPathsAgree(const FeatureTransformer& t, const std::vector<std::string>& examples,
                          const std::string& what) {
  Request rows;
  absl::Status parsed;
  for (size_t i = 0; i < examples.size() && parsed.ok(); ++i) {
    rows.candidates.emplace_back();
    parsed = ParseTfExample(examples[i], &rows.candidates.back());
    if (!parsed.ok()) {
      parsed = absl::InvalidArgumentError(absl::StrCat("candidates[", i, "]: ", parsed.message()));
    }
  }
  TransformedRequest want, got;
  const absl::Status a = parsed.ok() ? t.Transform(rows, &want) : parsed;
  const absl::Status b = t.Transform(AsExamples(examples), &got);
  ASSERT_EQ(a, b) << what;
  if (a.ok()) ExpectSameColumns(want, got, what);
}

TEST(LiftedExamplesTest, TaxiServingExportEveryRawEvalExample) {
  absl::StatusOr<Graph> graph = LoadModel(kData + "/taxi/serving");
  ASSERT_TRUE(graph.ok()) << graph.status();
  const FeatureTransformer t = Lifted(*graph);
  const std::vector<std::string> examples = Records(kData + "/taxi/raw_eval");
  ASSERT_EQ(examples.size(), 656u);
  TransformedRequest want, got;
  ASSERT_TRUE(t.Transform(AsRows(examples), &want).ok());
  absl::Status s = t.Transform(AsExamples(examples), &got);
  ASSERT_TRUE(s.ok()) << s;
  ExpectSameColumns(want, got, "taxi serving");
  // Again into the same TransformedRequest (its scratch remembers the key order), and in
  // requests of 200 as served.
  s = t.Transform(AsExamples(examples), &got);
  ASSERT_TRUE(s.ok()) << s;
  ExpectSameColumns(want, got, "taxi serving, reused");
  for (size_t start = 0; start < examples.size(); start += 200) {
    const std::vector<std::string> part(examples.begin() + start,
                                        examples.begin() + std::min(start + 200, examples.size()));
    ExpectBothPathsAgree(t, part, absl::StrCat("taxi serving from ", start));
  }
}

TEST(LiftedExamplesTest, TaxiTransformGraphEveryRawEvalExample) {
  SavedModelOptions options;
  options.tags = "transform";
  absl::StatusOr<Graph> graph = ImportSavedModel(kData + "/lift/taxi/transform_fn", options);
  ASSERT_TRUE(graph.ok()) << graph.status();
  LiftOptions lift;
  for (const Signature& sig : graph->signatures()) {
    for (const SignatureTensor& out : sig.outputs) {
      if (out.key != "tips_xf") lift.outputs.push_back(out.key);
    }
  }
  const FeatureTransformer t = Lifted(*graph, lift);
  const std::vector<std::string> examples = Records(kData + "/lift/taxi/raw_eval");
  ASSERT_EQ(examples.size(), 656u);
  ExpectBothPathsAgree(t, examples, "taxi transform");
}

// A tf.Example of `row` (doubles as float_list: tf.Example floats are float32).
std::string Serialize(const FeatureRow& row) {
  tf::Example ex;
  for (const auto& [name, value] : row.entries()) {
    tf::FeatureEntry* e = ex.mutable_features()->add_feature();
    e->set_key(name);
    tf::Feature* f = e->mutable_value();
    if (const auto* s = std::get_if<std::string>(&value)) f->mutable_bytes_list()->add_value(*s);
    if (const auto* d = std::get_if<double>(&value)) {
      f->mutable_float_list()->add_value(static_cast<float>(*d));
    }
    if (const auto* i = std::get_if<int64_t>(&value)) f->mutable_int64_list()->add_value(*i);
  }
  return ex.SerializeAsString();
}

TEST(LiftedExamplesTest, BabyweightEstimatorAndChurn) {
  // Babyweight: the 3 lifted numbers; the 5 strings the graph keeps are unknown to the config
  // (ignore_unknown_features), so the decoder checks and skips them.
  absl::StatusOr<Graph> baby = LoadModel(kData + "/lift/babyweight_estimator");
  ASSERT_TRUE(baby.ok()) << baby.status();
  const FeatureTransformer tb = Lifted(*baby);
  std::vector<std::string> examples;
  const char* races[] = {"White", "Atlantis", ""};
  for (int k = 0; k < 12; ++k) {
    FeatureRow row;
    row.Set("is_male", std::string(k % 2 ? "True" : "False"));
    if (k % 5 != 4) row.Set("mother_age", 12.0 + 3.3 * k);  // some missing: the default
    row.Set("plurality", static_cast<double>(k % 4 + 1));
    row.Set("gestation_weeks", 25.0 + k);
    row.Set("mother_race", std::string(races[k % 3]));
    examples.push_back(Serialize(row));
  }
  ExpectBothPathsAgree(tb, examples, "babyweight");

  // Churn: 4 vocabularies (known, empty, unknown values) and 14 numbers (ints and floats).
  absl::StatusOr<Graph> churn = LoadModel(kData + "/lift/churn");
  ASSERT_TRUE(churn.ok()) << churn.status();
  LiftOptions options;
  options.outputs = {"churned_probs"};
  const FeatureTransformer tc = Lifted(*churn, options);
  examples.clear();
  const char* countries[] = {"Denmark", "", "Atlantis", "United States"};
  const char* counts[] = {"cnt_ad_reward",
                          "cnt_challenge_a_friend",
                          "cnt_completed_5_levels",
                          "cnt_level_complete_quickplay",
                          "cnt_level_end_quickplay",
                          "cnt_level_reset_quickplay",
                          "cnt_level_start_quickplay",
                          "cnt_post_score",
                          "cnt_spend_virtual_currency",
                          "cnt_use_extra_steps",
                          "cnt_user_engagement",
                          "dayofweek",
                          "julianday",
                          "month"};
  for (int k = 0; k < 8; ++k) {
    FeatureRow row;
    for (int c = 0; c < 14; ++c) {
      if (k % 2) {
        row.Set(counts[c], int64_t{k * c});
      } else {
        row.Set(counts[c], 0.5 * k + c);
      }
    }
    row.Set("country", std::string(countries[k % 4]));
    row.Set("language", std::string(k % 3 ? "da-dk" : "xx-yy"));
    row.Set("operating_system", std::string(k % 2 ? "IOS" : ""));
    row.Set("user_pseudo_id", std::string(k % 2 ? "104B0770BAE16E8B53DF330C95881893" : "nobody"));
    examples.push_back(Serialize(row));
  }
  ExpectBothPathsAgree(tc, examples, "churn");
}

// Hand-made examples through an inline config: the rules of both paths side by side, and where
// the straight decoder says more.
class ExampleRulesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<FeatureConfig> config = ParseFeatureConfig(R"(
features:
  - {name: company, side: item, kind: categorical, ids: hash, hash: tf_fingerprint64, hash_buckets: 100}
  - {name: fare, side: item, kind: numeric, default: 2.5}
  - {name: hour, side: item, kind: categorical, ids: identity, num_buckets: 24}
  - {name: hist, side: item, kind: sequence, ids: identity, num_buckets: 1000, max_len: 3, padding_id: 0, truncation: keep_last}
  - {name: uid, side: user, kind: categorical, ids: passthrough}
)",
                                                              "inline");
    ASSERT_TRUE(config.ok()) << config.status();
    absl::StatusOr<FeatureTransformer> t = FeatureTransformer::Create(*std::move(config));
    ASSERT_TRUE(t.ok()) << t.status();
    t_ = std::make_unique<FeatureTransformer>(*std::move(t));
  }

  static tf::Feature* Add(tf::Example* ex, const std::string& key) {
    tf::FeatureEntry* e = ex->mutable_features()->add_feature();
    e->set_key(key);
    return e->mutable_value();
  }

  std::unique_ptr<FeatureTransformer> t_;
};

TEST_F(ExampleRulesTest, LastEntryWinsEmptyListIsMissingAndTypesAreChecked) {
  tf::Example a;
  Add(&a, "company")->mutable_bytes_list()->add_value("Flash Cab");
  Add(&a, "fare")->mutable_float_list()->add_value(9.25f);
  Add(&a, "fare")->mutable_float_list()->add_value(7.5f);  // the last entry wins
  Add(&a, "hour")->mutable_int64_list();                   // empty list: missing
  tf::Int64List* hist = Add(&a, "hist")->mutable_int64_list();
  for (int64_t v : {5, 6, 7, 8}) hist->add_value(v);  // truncated to the last 3
  tf::Example b;
  Add(&b, "hour")->mutable_int64_list()->add_value(30);  // out of range: the default
  Add(&b, "nokind");                                     // unknown: an error, as in a row
  tf::Example c;
  Add(&c, "fare");  // no kind: missing
  Add(&c, "company")->mutable_int64_list()->add_value(77);
  const std::vector<std::string> good = {a.SerializeAsString(), c.SerializeAsString(), ""};
  ExpectBothPathsAgree(*t_, good, "good");
  TransformedRequest out;
  ASSERT_TRUE(t_->Transform(AsExamples(good), &out).ok());
  EXPECT_EQ(out.FindColumn("fare")->values[0], 7.5f);
  EXPECT_EQ(out.FindColumn("fare")->values[1], 2.5f);
  EXPECT_EQ(out.FindColumn("hist")->ids, (std::vector<int64_t>{6, 7, 8, 0, 0, 0, 0, 0, 0}));
  EXPECT_EQ(out.FindStats("hist")->truncated, 1);

  // Errors, one candidate each after a good one: the same message on both paths.
  tf::Example wrong_type;
  Add(&wrong_type, "fare")->mutable_bytes_list()->add_value("12");
  tf::Example list_for_scalar;
  Add(&list_for_scalar, "hour")->mutable_int64_list()->add_value(1);
  list_for_scalar.mutable_features()
      ->mutable_feature(0)
      ->mutable_value()
      ->mutable_int64_list()
      ->add_value(2);
  tf::Example user_feature;
  Add(&user_feature, "uid")->mutable_int64_list()->add_value(1);
  for (const auto& [bad, message] : std::vector<std::pair<std::string, std::string>>{
           {b.SerializeAsString(), "unknown feature 'nokind' in candidates[1]"},
           {wrong_type.SerializeAsString(), "feature 'fare' in candidates[1]: expected a number"},
           {list_for_scalar.SerializeAsString(), "feature 'hour' in candidates[1]"},
           {user_feature.SerializeAsString(), "feature 'uid' sent in candidates[1] is a user"},
       }) {
    const std::vector<std::string> examples = {a.SerializeAsString(), bad};
    ExpectBothPathsAgree(*t_, examples, message);
    absl::Status s = t_->Transform(AsExamples(examples), &out);
    EXPECT_THAT(std::string(s.message()), HasSubstr(message));
  }
}

TEST_F(ExampleRulesTest, MalformedBytesAreErrorsNamingTheCandidateNeverCrashes) {
  tf::Example a;
  Add(&a, "company")->mutable_bytes_list()->add_value("Taxi Affiliation Services");
  Add(&a, "fare")->mutable_float_list()->add_value(41.5f);
  tf::Int64List* hist = Add(&a, "hist")->mutable_int64_list();
  for (int64_t v : {300, 5}) hist->add_value(v);
  Add(&a, "skipme");  // unknown, after the known ones
  const std::string bytes = a.SerializeAsString();
  int errors = 0;
  for (size_t n = 0; n < bytes.size(); ++n) {
    // Every prefix, then every byte flipped: the same answer as the row path. ("skipme" is
    // unknown to this config: intact bytes are refused for it, after the bytes are checked.)
    const std::vector<std::string> prefix = {bytes.substr(0, n)};
    ExpectBothPathsAgree(*t_, prefix, absl::StrCat("prefix ", n));
    std::string damaged = bytes;
    damaged[n] = static_cast<char>(damaged[n] ^ 0xff);
    ExpectBothPathsAgree(*t_, {damaged}, absl::StrCat("flipped ", n));
    TransformedRequest out;
    absl::Status s = t_->Transform(AsExamples(prefix), &out);
    if (!s.ok() && absl::StrContains(s.message(), "malformed")) {
      ++errors;
      EXPECT_THAT(std::string(s.message()), HasSubstr("candidates[0]: malformed tf.Example"));
    }
  }
  EXPECT_GT(errors, 0);
}

TEST_F(ExampleRulesTest, RowAndExampleOfOneCandidateJoinAndSequencesTakeOneValueLists) {
  tf::Example a;
  Add(&a, "company")->mutable_bytes_list()->add_value("Flash Cab");
  Add(&a, "hist")->mutable_int64_list()->add_value(9);  // one value: a sequence of one
  Request r;
  r.candidates.resize(1);
  r.candidates[0].Set("fare", 3.0);
  r.candidate_examples = {a.SerializeAsString()};
  TransformedRequest out;
  absl::Status s = t_->Transform(r, &out);
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_EQ(out.FindColumn("fare")->values[0], 3.0f);
  EXPECT_EQ(out.FindColumn("hist")->ids, (std::vector<int64_t>{9, 0, 0}));
  // The row path refuses a sequence of one sent as a scalar (a row can tell them apart).
  Request rows = AsRows(r.candidate_examples);
  EXPECT_THAT(std::string(t_->Transform(rows, &out).message()),
              HasSubstr("a list of integers or strings"));

  r.candidates[0].Set("company", std::string("other"));
  s = t_->Transform(r, &out);
  EXPECT_THAT(std::string(s.message()),
              HasSubstr("feature 'company' appears twice in candidates[0] (in the row and in its "
                        "serialized tf.Example)"));
  r.candidate_examples.push_back("");
  s = t_->Transform(r, &out);
  EXPECT_THAT(std::string(s.message()), HasSubstr("2 candidate_examples for 1 candidates"));
}

}  // namespace
}  // namespace rankopt
