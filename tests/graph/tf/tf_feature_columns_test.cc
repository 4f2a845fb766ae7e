// Real TensorFlow exports with feature columns / tf.Transform in the graph, executed in-graph and
// compared with what TensorFlow recorded:
// - taxi transform_fn (tests/data/tf_feature_columns/taxi): every raw eval tf.Example through the
//   transform graph equals TF's transformed example (ids equal, floats within 1e-6), paired by
//   the seven features that pass through unchanged;
// - taxi serving model (../shared): all raw eval examples scored through its ParseExample;
// - churn (../shared): the recorded prediction of golden.json within 1e-6;
// - babyweight keras and estimator (../shared): run, and -O 0 agrees with -O 2 within 1e-6;
// - FillTables on tiny graphs: text-file vocabularies, and errors naming node and file.
#include <zlib.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "gmock/gmock.h"
#include "graph/exec/execution_plan.h"
#include "graph/io/model_io.h"
#include "graph/ir/table_attrs.h"
#include "graph/passes/pass_pipeline.h"
#include "graph/tf/table_init.h"
#include "graph/tf/tensorflow_subset.pb.h"
#include "gtest/gtest.h"
#include "rankopt/status_macros.h"
#include "tests/tf_records.h"

namespace rankopt {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

const fs::path kTaxiData = fs::path(RANKOPT_TESTDATA_DIR) / "tf_feature_columns" / "taxi";
const fs::path kShared = fs::path(RANKOPT_SHARED_DIR) / "models" / "tf-feature-columns";

std::vector<tf::Example> ReadExamples(const fs::path& dir) {
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(dir)) files.push_back(e.path());
  std::sort(files.begin(), files.end());
  std::vector<tf::Example> examples;
  for (const fs::path& p : files) {
    for (const std::string& r : rankopt::test_data::ReadTfRecordsGz(p.string())) {
      tf::Example e;
      EXPECT_TRUE(e.ParseFromString(r)) << p;
      examples.push_back(std::move(e));
    }
  }
  return examples;
}

// The feature named `key` (the map's last entry for it, as protobuf reads a map), or nullptr.
const tf::Feature* Find(const tf::Example& e, const std::string& key) {
  const tf::Feature* found = nullptr;
  for (const tf::FeatureEntry& entry : e.features().feature()) {
    if (entry.key() == key) found = &entry.value();
  }
  return found;
}

// Owned feed tensors (string views kept alive beside them).
struct Feeds {
  std::vector<Tensor> tensors;
  std::vector<std::vector<absl::string_view>> strings;
  std::vector<NamedTensorView> views;

  void Add(const std::string& name, Tensor t) {
    tensors.push_back(std::move(t));
    names.push_back(name);
  }
  void Bind() {
    strings.clear();
    strings.reserve(tensors.size());
    views.clear();
    for (size_t i = 0; i < tensors.size(); ++i) {
      const Tensor& t = tensors[i];
      TensorView v;
      v.dtype = t.dtype();
      v.dims.assign(t.dims().begin(), t.dims().end());
      if (t.dtype() == DType::kString) {
        auto& s = strings.emplace_back();
        for (const std::string& x : t.strings()) s.emplace_back(x);
        v.data = s.data();
      } else {
        strings.emplace_back();
        v.data = const_cast<char*>(t.bytes().data());
      }
      views.push_back({names[i], v});
    }
  }
  std::vector<std::string> names;
};

// One [n, 1] column of a raw feature over the examples, as the placeholder's dtype.
absl::StatusOr<Tensor> Column(const std::vector<tf::Example>& examples, const std::string& key,
                              DType dtype, std::vector<int64_t> dims) {
  const int64_t n = static_cast<int64_t>(examples.size());
  std::vector<std::string> s;
  std::vector<float> f;
  std::vector<int64_t> i;
  for (const tf::Example& e : examples) {
    const tf::Feature* feature = Find(e, key);
    if (feature == nullptr) return absl::NotFoundError(absl::StrCat("no feature ", key));
    if (dtype == DType::kString) s.push_back(feature->bytes_list().value(0));
    if (dtype == DType::kFloat32) f.push_back(feature->float_list().value(0));
    if (dtype == DType::kInt64) i.push_back(feature->int64_list().value(0));
  }
  (void)n;
  if (dtype == DType::kString) return Tensor::FromStrings(dims, std::move(s));
  if (dtype == DType::kFloat32) return Tensor::FromValues<float>(dims, f);
  return Tensor::FromValues<int64_t>(dims, i);
}

const Signature* FindSignature(const Graph& graph, const std::string& key) {
  for (const Signature& s : graph.signatures()) {
    if (s.key == key) return &s;
  }
  return nullptr;
}

constexpr const char* kPassThrough[] = {
    "trip_start_day",       "trip_start_hour",       "trip_start_month",      "pickup_census_tract",
    "dropoff_census_tract", "pickup_community_area", "dropoff_community_area"};

std::string PairKey(const tf::Example& e, const std::string& suffix) {
  std::vector<std::string> parts;
  for (const char* k : kPassThrough) {
    const tf::Feature* f = Find(e, k + suffix);
    parts.push_back(f && f->int64_list().value_size() > 0 ? absl::StrCat(f->int64_list().value(0))
                                                          : std::string("-"));
  }
  return absl::StrJoin(parts, ",");
}

TEST(TfFeatureColumnsTest, TaxiTransformGraphReproducesTfTransformedExamples) {
  absl::StatusOr<Graph> graph = LoadModel((kTaxiData / "transform_fn").string());
  ASSERT_TRUE(graph.ok()) << graph.status();
  const Signature* sig = FindSignature(*graph, "transform_signature");
  ASSERT_NE(sig, nullptr);
  const std::vector<tf::Example> raw = ReadExamples(kTaxiData / "raw_eval");
  const std::vector<tf::Example> transformed = ReadExamples(kTaxiData / "transformed_eval");
  ASSERT_EQ(raw.size(), 656u);
  ASSERT_EQ(transformed.size(), 656u);

  PlanOptions options;
  for (const SignatureTensor& o : sig->outputs) options.outputs.push_back(o.ref.ToString());
  absl::StatusOr<std::unique_ptr<const ExecutionPlan>> plan =
      ExecutionPlan::Create(*graph, options);
  ASSERT_TRUE(plan.ok()) << plan.status();

  const int64_t n = static_cast<int64_t>(raw.size());
  Feeds feeds;
  for (const SignatureTensor& in : sig->inputs) {
    bool used = false;  // the plan reads only the inputs its outputs need
    for (const ExecutionPlan::Input& p : (*plan)->inputs()) used = used || p.name == in.ref.node;
    if (!used) continue;
    absl::StatusOr<Tensor> column = Column(raw, in.key, in.dtype, {n, 1});
    ASSERT_TRUE(column.ok()) << column.status();
    feeds.Add(in.ref.node, *std::move(column));
  }
  feeds.Bind();
  std::vector<Tensor> outputs;
  absl::Status run = (*plan)->Run(feeds.views, &outputs);
  ASSERT_TRUE(run.ok()) << run;

  std::map<std::string, const tf::Example*> by_key;
  for (const tf::Example& t : transformed) by_key[PairKey(t, "_xf")] = &t;
  ASSERT_EQ(by_key.size(), transformed.size()) << "the pairing key is not unique";
  int compared = 0, one_ulp = 0;
  double worst = 0;
  for (int64_t row = 0; row < n; ++row) {
    auto it = by_key.find(PairKey(raw[row], ""));
    ASSERT_NE(it, by_key.end()) << "raw example " << row << " has no transformed partner";
    const tf::Example& expected = *it->second;
    for (size_t k = 0; k < sig->outputs.size(); ++k) {
      const std::string& key = sig->outputs[k].key;
      const Tensor& got = outputs[k];
      ASSERT_EQ(got.num_elements(), n) << key;
      const tf::Feature* want = Find(expected, key);
      ASSERT_NE(want, nullptr) << key;
      SCOPED_TRACE(absl::StrCat(key, " row ", row));
      if (want->has_int64_list()) {
        int64_t value = 0;
        if (got.dtype() == DType::kInt64)
          value = got.values<int64_t>()[row];
        else if (got.dtype() == DType::kInt32)
          value = got.values<int32_t>()[row];
        else
          FAIL() << "output is " << DTypeName(got.dtype());
        EXPECT_EQ(value, want->int64_list().value(0));
      } else {
        ASSERT_TRUE(want->has_float_list());
        ASSERT_EQ(got.dtype(), DType::kFloat32);
        const double diff =
            std::fabs(double{got.values<float>()[row]} - double{want->float_list().value(0)});
        worst = std::max(worst, diff);
        // Within 1e-6, or one float32 ulp of TF's value where that is coarser (|x| >= 16).
        const float tf_value = want->float_list().value(0);
        const double ulp = std::nextafter(std::fabs(tf_value), INFINITY) - std::fabs(tf_value);
        EXPECT_LE(diff, std::max(1e-6, ulp))
            << "got " << got.values<float>()[row] << ", TF wrote " << tf_value;
        if (diff > 1e-6) ++one_ulp;
      }
      ++compared;
    }
  }
  EXPECT_EQ(compared, 656 * 17);
  std::cout << "taxi transform: " << compared << " values compared, largest float difference "
            << worst << ", " << one_ulp << " over 1e-6 (one ulp)\n";
}

TEST(TfFeatureColumnsTest, TaxiServingModelScoresEveryRawExampleThroughParseExample) {
  const fs::path dir =
      kShared / "taxi-bqml/trainer/current/serving_model_dir/export/chicago-taxi/1576111633";
  if (!fs::exists(dir)) GTEST_SKIP() << dir << " is absent";
  absl::StatusOr<Graph> graph = LoadModel(dir.string());
  ASSERT_TRUE(graph.ok()) << graph.status();
  const Signature* sig = FindSignature(*graph, "predict");
  ASSERT_NE(sig, nullptr);
  PlanOptions options;
  std::vector<std::string> keys;
  for (const SignatureTensor& o : sig->outputs) {
    if (o.key == "logistic" || o.key == "probabilities" || o.key == "logits" ||
        o.key == "classes") {
      options.outputs.push_back(o.ref.ToString());
      keys.push_back(o.key);
    }
  }
  absl::StatusOr<std::unique_ptr<const ExecutionPlan>> plan =
      ExecutionPlan::Create(*graph, options);
  ASSERT_TRUE(plan.ok()) << plan.status();
  ASSERT_EQ((*plan)->inputs().size(), 1u);
  const std::vector<tf::Example> raw = ReadExamples(kTaxiData / "raw_eval");
  std::vector<std::string> serialized;
  for (const tf::Example& e : raw) serialized.push_back(e.SerializeAsString());
  Feeds feeds;
  feeds.Add((*plan)->inputs()[0].name,
            *Tensor::FromStrings({static_cast<int64_t>(serialized.size())}, serialized));
  feeds.Bind();
  std::vector<Tensor> outputs;
  absl::Status run = (*plan)->Run(feeds.views, &outputs);
  ASSERT_TRUE(run.ok()) << run;
  for (size_t k = 0; k < keys.size(); ++k) {
    SCOPED_TRACE(keys[k]);
    const Tensor& t = outputs[k];
    ASSERT_EQ(t.dims()[0], static_cast<int64_t>(raw.size()));
    if (keys[k] == "logistic") {
      for (float p : t.values<float>()) {
        ASSERT_TRUE(p >= 0 && p <= 1) << p;
      }
    }
    if (keys[k] == "probabilities") {
      for (int64_t i = 0; i < t.dims()[0]; ++i) {
        EXPECT_NEAR(t.values<float>()[2 * i] + t.values<float>()[2 * i + 1], 1.0, 1e-6);
      }
    }
  }
  // A malformed example is a clear error naming it, not a crash.
  Feeds bad;
  std::string broken = serialized[3].substr(0, serialized[3].size() / 2);
  bad.Add((*plan)->inputs()[0].name, *Tensor::FromStrings({2}, {serialized[0], broken}));
  bad.Bind();
  absl::Status failed = (*plan)->Run(bad.views, &outputs);
  ASSERT_FALSE(failed.ok());
  EXPECT_THAT(failed.message(), HasSubstr("example 1"));
}

TEST(TfFeatureColumnsTest, ChurnMatchesTheRecordedPrediction) {
  const fs::path dir = kShared / "churn-bqml";
  if (!fs::exists(dir)) GTEST_SKIP() << dir << " is absent";
  absl::StatusOr<Graph> graph = LoadModel(dir.string());
  ASSERT_TRUE(graph.ok()) << graph.status();
  const Signature* sig = FindSignature(*graph, "serving_default");
  ASSERT_NE(sig, nullptr);
  // golden.json's DEFAULT_INPUT (JSON ints become the float32 the signature declares).
  const std::map<std::string, std::string> strings = {
      {"country", "Denmark"},
      {"language", "da-dk"},
      {"operating_system", "IOS"},
      {"user_pseudo_id", "104B0770BAE16E8B53DF330C95881893"}};
  const std::map<std::string, float> floats = {{"cnt_ad_reward", 0},
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
  Feeds feeds;
  for (const SignatureTensor& in : sig->inputs) {
    if (in.dtype == DType::kString) {
      ASSERT_TRUE(strings.count(in.key)) << in.key;
      feeds.Add(in.ref.node, *Tensor::FromStrings({1}, {strings.at(in.key)}));
    } else {
      ASSERT_TRUE(floats.count(in.key)) << in.key;
      feeds.Add(in.ref.node,
                *Tensor::FromValues<float>({1}, std::vector<float>{floats.at(in.key)}));
    }
  }
  PlanOptions options;
  options.outputs = {"output_probs:0", "output_class:0"};
  absl::StatusOr<std::unique_ptr<const ExecutionPlan>> plan =
      ExecutionPlan::Create(*graph, options);
  ASSERT_TRUE(plan.ok()) << plan.status();
  feeds.Bind();
  std::vector<Tensor> outputs;
  absl::Status run = (*plan)->Run(feeds.views, &outputs);
  ASSERT_TRUE(run.ok()) << run;
  ASSERT_EQ(outputs[0].dtype(), DType::kFloat64);
  ASSERT_EQ(outputs[0].num_elements(), 2);
  EXPECT_NEAR(outputs[0].values<double>()[0], 0.8705776921658448, 1e-6);
  EXPECT_NEAR(outputs[0].values<double>()[1], 0.1294223078341552, 1e-6);
  ASSERT_EQ(outputs[1].dtype(), DType::kString);
  EXPECT_EQ(outputs[1].strings()[0], "1");
}

// Runs `graph` on one batch; the signature's inputs are fed by key from `strings` / `floats`
// (one value per row).
absl::StatusOr<std::vector<Tensor>> RunSignature(
    const Graph& graph, const Signature& sig,
    const std::map<std::string, std::vector<std::string>>& strings,
    const std::map<std::string, std::vector<float>>& floats) {
  PlanOptions options;
  for (const SignatureTensor& o : sig.outputs) options.outputs.push_back(o.ref.ToString());
  RANKOPT_ASSIGN_OR_RETURN(std::unique_ptr<const ExecutionPlan> plan,
                           ExecutionPlan::Create(graph, options));
  Feeds feeds;
  for (const SignatureTensor& in : sig.inputs) {
    bool used = false;  // the plan reads only the inputs its outputs need
    for (const ExecutionPlan::Input& p : plan->inputs()) used = used || p.name == in.ref.node;
    if (!used) continue;
    std::vector<int64_t> dims;
    if (in.shape.known_rank()) {
      for (int d = 0; d < in.shape.rank(); ++d)
        dims.push_back(in.shape.dim(d) < 0 ? -1 : in.shape.dim(d));
    }
    auto rows = [&](size_t n) {
      std::vector<int64_t> out = dims.empty() ? std::vector<int64_t>{-1} : dims;
      for (int64_t& d : out) d = d < 0 ? static_cast<int64_t>(n) : d;
      return out;
    };
    if (in.dtype == DType::kString) {
      auto it = strings.find(in.key);
      if (it == strings.end()) return absl::NotFoundError(absl::StrCat("no value for ", in.key));
      RANKOPT_ASSIGN_OR_RETURN(Tensor t, Tensor::FromStrings(rows(it->second.size()), it->second));
      feeds.Add(in.ref.node, std::move(t));
    } else {
      auto it = floats.find(in.key);
      if (it == floats.end()) return absl::NotFoundError(absl::StrCat("no value for ", in.key));
      RANKOPT_ASSIGN_OR_RETURN(Tensor t,
                               Tensor::FromValues<float>(rows(it->second.size()), it->second));
      feeds.Add(in.ref.node, std::move(t));
    }
  }
  feeds.Bind();
  std::vector<Tensor> outputs;
  RANKOPT_RETURN_IF_ERROR(plan->Run(feeds.views, &outputs));
  return outputs;
}

// O0 (as imported) and O2 (the optimize passes) agree within 1e-6 on the same inputs.
void ExpectO0AndO2Agree(const fs::path& dir, const std::string& signature,
                        const std::map<std::string, std::vector<std::string>>& strings,
                        const std::map<std::string, std::vector<float>>& floats) {
  if (!fs::exists(dir)) GTEST_SKIP() << dir << " is absent";
  absl::StatusOr<Graph> graph = LoadModel(dir.string());
  ASSERT_TRUE(graph.ok()) << graph.status();
  const Signature* sig = FindSignature(*graph, signature);
  ASSERT_NE(sig, nullptr);
  absl::StatusOr<std::vector<Tensor>> o0 = RunSignature(*graph, *sig, strings, floats);
  ASSERT_TRUE(o0.ok()) << o0.status();
  OptimizeOptions options;
  for (const SignatureTensor& o : sig->outputs) options.outputs.push_back(o.ref.ToString());
  Graph optimized(graph->format());
  absl::StatusOr<std::vector<PassReport>> reports =
      OptimizeGraph(*graph, OptLevel::kO2, options, &optimized);
  ASSERT_TRUE(reports.ok()) << reports.status();
  EXPECT_LT(optimized.num_nodes(), graph->num_nodes());
  absl::StatusOr<std::vector<Tensor>> o2 = RunSignature(optimized, *sig, strings, floats);
  ASSERT_TRUE(o2.ok()) << o2.status();
  ASSERT_EQ(o0->size(), o2->size());
  for (size_t k = 0; k < o0->size(); ++k) {
    const Tensor& a = (*o0)[k];
    const Tensor& b = (*o2)[k];
    ASSERT_EQ(a.dims(), b.dims());
    ASSERT_EQ(a.dtype(), DType::kFloat32);
    ASSERT_EQ(b.dtype(), DType::kFloat32);
    for (int64_t i = 0; i < a.num_elements(); ++i) {
      EXPECT_TRUE(std::isfinite(a.values<float>()[i]));
      EXPECT_NEAR(a.values<float>()[i], b.values<float>()[i], 1e-6) << i;
    }
    std::cout << dir.filename() << " output " << k << ": " << a.values<float>()[0] << " ...\n";
  }
}

TEST(TfFeatureColumnsTest, BabyweightEstimatorRunsAndO0MatchesO2) {
  // inference_test.py.txt's sample instance, plus rows that reach the out-of-vocabulary
  // buckets and other buckets of the crosses.
  ExpectO0AndO2Agree(kShared / "babyweight-estimator", "predict",
                     {{"is_male", {"True", "False", "Unknown", "True"}},
                      {"mother_race", {"Asian Indian", "White", "Martian", "Black"}},
                      {"mother_married", {"True", "False", "True", "False"}},
                      {"cigarette_use", {"False", "True", "False", "None"}},
                      {"alcohol_use", {"False", "False", "True", "None"}}},
                     {{"mother_age", {26, 19, 41, 33}},
                      {"plurality", {1, 2, 1, 3}},
                      {"gestation_weeks", {39, 30, 42, 36}}});
}

TEST(TfFeatureColumnsTest, BabyweightKerasRunsAndO0MatchesO2) {
  ExpectO0AndO2Agree(kShared / "babyweight-keras", "serving_default",
                     {{"is_male", {"True", "False", "Unknown", "True"}},
                      {"plurality", {"Single(1)", "Twins(2)", "Triplets(3)", "Multiple(2+)"}}},
                     {{"mother_age", {26, 19, 41, 33}}, {"gestation_weeks", {39, 30, 42, 36}}});
}

// FillTables on a tiny graph: a text-file vocabulary (whole line -> line number, and a column
// table), constants, and the errors that name node and file.
Graph TableGraph(const std::string& file, int64_t key_index, int64_t value_index, DType value_dtype,
                 int64_t vocab_size) {
  Graph g(ModelFormat::kTfGraphDef);
  Node table;
  table.name = "table";
  table.op = "HashTableV2";
  table.attrs.Set("key_dtype", DType::kString);
  table.attrs.Set("value_dtype", value_dtype);
  EXPECT_TRUE(g.AddNode(table).ok());
  Node name;
  name.name = "filename";
  name.op = "Const";
  name.attrs.Set("dtype", DType::kString);
  name.attrs.Set("value", *Tensor::FromStrings({}, {"/original/export/path/assets/" + file}));
  EXPECT_TRUE(g.AddNode(name).ok());
  Node init;
  init.name = "init";
  init.op = "InitializeTableFromTextFileV2";
  init.inputs = {TensorRef{"table", 0}, TensorRef{"filename", 0}};
  init.attrs.Set("key_index", key_index);
  init.attrs.Set("value_index", value_index);
  init.attrs.Set("vocab_size", vocab_size);
  init.attrs.Set("delimiter", std::string(","));
  EXPECT_TRUE(g.AddNode(init).ok());
  return g;
}

TEST(TfFeatureColumnsTest, FillTablesReadsAssetsAndNamesBadOnes) {
  const fs::path dir = fs::temp_directory_path() / "rankopt_table_init_test";
  fs::remove_all(dir);
  fs::create_directories(dir / "assets");
  std::ofstream(dir / "assets" / "vocab.txt") << "cash\r\ncard\nother\n";
  std::ofstream(dir / "assets" / "pairs.csv") << "a,7\nb,9\n";
  std::ofstream(dir / "assets" / "dup.txt") << "x\ny\nx\n";

  Graph lines = TableGraph("vocab.txt", -2, -1, DType::kInt64, -1);
  ASSERT_TRUE(FillTables(&lines, dir.string()).ok());
  const Node* t = lines.FindNode("table");
  const Tensor* keys = t->attrs.Get<Tensor>(kTableKeysAttr);
  const Tensor* values = t->attrs.Get<Tensor>(kTableValuesAttr);
  ASSERT_NE(keys, nullptr);
  ASSERT_NE(values, nullptr);
  EXPECT_THAT(std::vector<std::string>(keys->strings().begin(), keys->strings().end()),
              ::testing::ElementsAre("cash", "card", "other"));
  EXPECT_THAT(
      std::vector<int64_t>(values->values<int64_t>().begin(), values->values<int64_t>().end()),
      ::testing::ElementsAre(0, 1, 2));

  Graph truncated = TableGraph("vocab.txt", -2, -1, DType::kInt64, 2);
  ASSERT_TRUE(FillTables(&truncated, dir.string()).ok());
  EXPECT_EQ(truncated.FindNode("table")->attrs.Get<Tensor>(kTableKeysAttr)->num_elements(), 2);

  Graph columns = TableGraph("pairs.csv", 0, 1, DType::kInt64, -1);
  ASSERT_TRUE(FillTables(&columns, dir.string()).ok());
  const Tensor* pair_values = columns.FindNode("table")->attrs.Get<Tensor>(kTableValuesAttr);
  EXPECT_THAT(std::vector<int64_t>(pair_values->values<int64_t>().begin(),
                                   pair_values->values<int64_t>().end()),
              ::testing::ElementsAre(7, 9));

  Graph missing = TableGraph("absent.txt", -2, -1, DType::kInt64, -1);
  absl::Status s = FillTables(&missing, dir.string());
  EXPECT_THAT(s.message(), HasSubstr("'init'"));
  EXPECT_THAT(s.message(), HasSubstr("absent.txt"));

  Graph too_few = TableGraph("vocab.txt", -2, -1, DType::kInt64, 5);
  EXPECT_THAT(FillTables(&too_few, dir.string()).message(), HasSubstr("vocab_size is 5"));

  Graph bad_int = TableGraph("vocab.txt", -2, -2, DType::kInt64, -1);
  EXPECT_THAT(FillTables(&bad_int, dir.string()).message(), HasSubstr("'cash' is not an integer"));

  // Duplicate keys load; the table kernel refuses them, as TF's HashTable does.
  Graph dup = TableGraph("dup.txt", -2, -1, DType::kInt64, -1);
  ASSERT_TRUE(FillTables(&dup, dir.string()).ok());
  Node size;
  size.name = "size";
  size.op = "LookupTableSizeV2";
  size.inputs = {TensorRef{"table", 0}};
  ASSERT_TRUE(dup.AddNode(size).ok());
  PlanOptions options;
  options.outputs = {"size"};
  absl::StatusOr<std::unique_ptr<const ExecutionPlan>> plan = ExecutionPlan::Create(dup, options);
  ASSERT_FALSE(plan.ok());
  EXPECT_THAT(plan.status().message(), HasSubstr("twice"));
  fs::remove_all(dir);
}

}  // namespace
}  // namespace rankopt
