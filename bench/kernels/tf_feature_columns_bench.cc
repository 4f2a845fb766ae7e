// TF feature columns executed in-graph, per request of 200 tf.Examples (the Chicago-taxi raw eval
// rows, tests/data/tf_feature_columns/taxi), one core:
//   BM_TaxiServingFromExamples: the taxi Wide&Deep serving export (../shared) from serialized
//     tf.Examples: ParseExample, the tf.Transform ops (vocabularies, hashing, quantile buckets,
//     z-scores), the embedding combiners and the DNN.
//   BM_TaxiServingFromParsed:   the same graph fed the parsed features (its signature's inputs):
//     the difference to the above is the ParseExample share.
//   BM_TaxiTransformOnly:       the tf.Transform graph alone from the parsed raw features (the
//     feature transforms without the model).
// Lifted (rankopt lift / optimize without --features) against the same request in-graph:
//   BM_TaxiFeaturesInGraph:   the serving export's ParseExample and string ops from the 200
//     serialized tf.Examples up to the tensors lift cuts at (the ids and floats the model reads).
//   BM_TaxiFeaturesLifted:    the same ids and floats from the lifted config: the serialized
//     tf.Examples sent as Request::candidate_examples, decoded by the FeatureTransformer straight
//     into its columns (no FeatureRow).
//   BM_TaxiFeaturesLiftedRows: the same through rows: ParseTfExample into a FeatureRow per
//     candidate, then the FeatureTransformer (what BM_TaxiFeaturesLifted measured before).
//   BM_TaxiExamplesWireFloor: only walking the 200 examples' wire bytes (every feature's values
//     decoded and dropped; the reader both paths share): the floor of any tf.Example path.
//   BM_TaxiRequestLifted/chunk_rows:  the whole request through the package optimize writes
//     without --features at -O 0 (so the graph part is the in-graph one, cut): candidate_examples
//     + Model::ScoreInto; chunk_rows 0 = the runner's automatic chunks (one thread here).
//     Compare with BM_TaxiServingFromExamples; the features' share of the request is
//     BM_TaxiFeaturesLifted / BM_TaxiRequestLifted.
//   BM_TaxiRequestLiftedO2/chunk_rows: the same with the -O 2 package (optimize's default level).
//
//   build-*/bench/kernels/tf_feature_columns_bench --benchmark_repetitions=5
//       --benchmark_report_aggregates_only=true
#include <zlib.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "benchmark/benchmark.h"
#include "features/pipeline/feature_transformer.h"
#include "features/request/tf_example.h"
#include "features/request/tf_example_wire.h"
#include "graph/exec/execution_plan.h"
#include "graph/io/model_io.h"
#include "graph/tf/tensorflow_subset.pb.h"
#include "rankopt/model.h"
#include "serving/lift/tf_lift.h"
#include "serving/optimize.h"
#include "tests/tf_records.h"

namespace rankopt {
namespace {

namespace fs = std::filesystem;
constexpr int64_t kRequest = 200;
const fs::path kTaxi = fs::path(RANKOPT_SOURCE_DIR) / "tests/data/tf_feature_columns/taxi";
const fs::path kServing = fs::path(RANKOPT_SOURCE_DIR) /
                          "../shared/models/tf-feature-columns/taxi-bqml/trainer/current/"
                          "serving_model_dir/export/chicago-taxi/1576111633";

std::vector<std::string> RawExamples() {
  std::vector<std::string> out;
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(kTaxi / "raw_eval")) files.push_back(e.path());
  std::sort(files.begin(), files.end());
  for (const fs::path& p : files) {
    for (std::string& r : rankopt::test_data::ReadTfRecordsGz(p.string()))
      out.push_back(std::move(r));
  }
  if (out.size() > static_cast<size_t>(kRequest)) out.resize(kRequest);
  return out;
}

// Owned tensors and the views a plan is fed.
struct Feeds {
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
        for (const std::string& s : tensors[i].strings()) strings[i].emplace_back(s);
        v.data = strings[i].data();
      } else {
        v.data = const_cast<char*>(tensors[i].bytes().data());
      }
      views.push_back({names[i], v});
    }
  }
};

// The parsed raw feature `key` of every example, shaped like `input`.
Tensor Column(const std::vector<tf::Example>& examples, const std::string& key, DType dtype,
              const Shape& shape) {
  std::vector<int64_t> dims = {static_cast<int64_t>(examples.size())};
  if (shape.known_rank() && shape.rank() == 2) dims.push_back(1);
  std::vector<std::string> s;
  std::vector<float> f;
  std::vector<int64_t> i;
  for (const tf::Example& e : examples) {
    const tf::Feature* found = nullptr;  // the map's last entry for `key`, as protobuf reads it
    for (const tf::FeatureEntry& entry : e.features().feature()) {
      if (entry.key() == key) found = &entry.value();
    }
    if (found == nullptr) std::abort();  // every taxi example has every raw feature
    const tf::Feature& x = *found;
    if (dtype == DType::kString) s.push_back(x.bytes_list().value(0));
    if (dtype == DType::kFloat32) f.push_back(x.float_list().value(0));
    if (dtype == DType::kInt64) i.push_back(x.int64_list().value(0));
  }
  if (dtype == DType::kString) return *Tensor::FromStrings(dims, std::move(s));
  if (dtype == DType::kFloat32) return *Tensor::FromValues<float>(dims, f);
  return *Tensor::FromValues<int64_t>(dims, i);
}

struct Setup {
  std::unique_ptr<const ExecutionPlan> plan;
  Feeds feeds;
};

// `parsed`: feed the signature inputs; else the one serialized-example placeholder.
std::unique_ptr<Setup> Make(const fs::path& dir, const std::string& signature, bool parsed) {
  absl::StatusOr<Graph> graph = LoadModel(dir.string());
  if (!graph.ok()) return nullptr;
  const Signature* sig = nullptr;
  for (const Signature& s : graph->signatures()) {
    if (s.key == signature) sig = &s;
  }
  if (sig == nullptr) return nullptr;
  auto setup = std::make_unique<Setup>();
  PlanOptions options;
  for (const SignatureTensor& o : sig->outputs) {
    if (o.dtype != DType::kString) options.outputs.push_back(o.ref.ToString());
  }
  if (parsed) {
    for (const SignatureTensor& in : sig->inputs) options.outputs.push_back(in.ref.ToString());
  }
  const std::vector<std::string> raw = RawExamples();
  if (parsed) {
    std::vector<tf::Example> examples(raw.size());
    for (size_t k = 0; k < raw.size(); ++k) examples[k].ParseFromString(raw[k]);
    // Feed the parsed tensors in place of their producers: cut at the signature inputs.
    std::vector<Node> nodes;
    for (const Node& n : graph->nodes()) nodes.push_back(n);
    for (const SignatureTensor& in : sig->inputs) {
      Node p;
      p.name = "feed/" + in.key;
      p.op = "Placeholder";
      p.attrs.Set("dtype", in.dtype);
      for (Node& n : nodes) {
        for (TensorRef& r : n.inputs) {
          if (r == in.ref) r = TensorRef{p.name, 0};
        }
      }
      nodes.push_back(p);
      setup->feeds.names.push_back(p.name);
      setup->feeds.tensors.push_back(Column(examples, in.key, in.dtype, in.shape));
    }
    if (!graph->SetNodes(std::move(nodes)).ok()) return nullptr;
    options.outputs.resize(options.outputs.size() - sig->inputs.size());
  }
  absl::StatusOr<std::unique_ptr<const ExecutionPlan>> plan =
      ExecutionPlan::Create(*graph, options);
  if (!plan.ok()) {
    std::fprintf(stderr, "%s\n", plan.status().ToString().c_str());
    return nullptr;
  }
  setup->plan = *std::move(plan);
  // Feed only what the plan reads (a transform graph may declare inputs no output needs).
  Feeds used;
  for (size_t k = 0; k < setup->feeds.names.size(); ++k) {
    for (const ExecutionPlan::Input& in : setup->plan->inputs()) {
      if (in.name != setup->feeds.names[k]) continue;
      used.names.push_back(setup->feeds.names[k]);
      used.tensors.push_back(setup->feeds.tensors[k]);
    }
  }
  setup->feeds.names = std::move(used.names);
  setup->feeds.tensors = std::move(used.tensors);
  if (!parsed) {
    setup->feeds.names.push_back(setup->plan->inputs()[0].name);
    setup->feeds.tensors.push_back(*Tensor::FromStrings({static_cast<int64_t>(raw.size())}, raw));
  }
  setup->feeds.Bind();
  return setup;
}

void RunBench(benchmark::State& state, const Setup* setup, const char* what) {
  if (setup == nullptr) {
    state.SkipWithError(what);
    return;
  }
  std::vector<Tensor> outputs;
  for (auto _ : state) {
    absl::Status s = setup->plan->Run(setup->feeds.views, &outputs);
    if (!s.ok()) {
      state.SkipWithError(std::string(s.message()).c_str());
      return;
    }
    benchmark::DoNotOptimize(outputs);
  }
  state.SetItemsProcessed(state.iterations() * kRequest);
}

void BM_TaxiServingFromExamples(benchmark::State& state) {
  static const Setup* setup = Make(kServing, "predict", false).release();
  RunBench(state, setup, "the taxi serving export (../shared) is absent or does not plan");
}
void BM_TaxiServingFromParsed(benchmark::State& state) {
  static const Setup* setup = Make(kServing, "predict", true).release();
  RunBench(state, setup, "the taxi serving export (../shared) is absent or does not plan");
}
void BM_TaxiTransformOnly(benchmark::State& state) {
  static const Setup* setup = Make(kTaxi / "transform_fn", "transform_signature", true).release();
  RunBench(state, setup, "the taxi transform_fn does not plan");
}

// The serving export's feature part in-graph: outputs = the tensors lift replaces.
std::unique_ptr<Setup> MakeFeaturesInGraph() {
  absl::StatusOr<Graph> graph = LoadModel(kServing.string());
  if (!graph.ok()) return nullptr;
  absl::StatusOr<LiftResult> lift = LiftFeatureTransforms(*graph);
  if (!lift.ok() || lift->lifted.empty()) return nullptr;
  PlanOptions options;
  for (const LiftedFeature& f : lift->lifted) {
    for (const auto& [replaced, replacement] : f.cuts) options.outputs.push_back(replaced);
  }
  absl::StatusOr<std::unique_ptr<const ExecutionPlan>> plan =
      ExecutionPlan::Create(*graph, options);
  if (!plan.ok()) {
    std::fprintf(stderr, "%s\n", plan.status().ToString().c_str());
    return nullptr;
  }
  auto setup = std::make_unique<Setup>();
  setup->plan = *std::move(plan);
  const std::vector<std::string> raw = RawExamples();
  setup->feeds.names.push_back(setup->plan->inputs()[0].name);
  setup->feeds.tensors.push_back(*Tensor::FromStrings({static_cast<int64_t>(raw.size())}, raw));
  setup->feeds.Bind();
  return setup;
}

// The request's candidates decoded from the serialized tf.Examples, as a service would per call.
absl::Status DecodeExamples(const std::vector<std::string>& raw, Request* request) {
  request->candidates.resize(raw.size());
  for (size_t k = 0; k < raw.size(); ++k) {
    request->candidates[k] = FeatureRow();
    absl::Status s = ParseTfExample(raw[k], &request->candidates[k]);
    if (!s.ok()) return s;
  }
  return absl::OkStatus();
}

void BM_TaxiFeaturesInGraph(benchmark::State& state) {
  static const Setup* setup = MakeFeaturesInGraph().release();
  RunBench(state, setup, "the taxi serving export (../shared) is absent or does not lift");
}

const FeatureTransformer* LiftedTransformer() {
  static const FeatureTransformer* transformer = []() -> const FeatureTransformer* {
    absl::StatusOr<Graph> graph = LoadModel(kServing.string());
    if (!graph.ok()) return nullptr;
    absl::StatusOr<LiftResult> lift = LiftFeatureTransforms(*graph);
    if (!lift.ok()) return nullptr;
    // Through YAML, as optimize packs it (vocabularies inline).
    absl::StatusOr<FeatureConfig> config =
        ParseFeatureConfig(FeatureConfigToYaml(lift->config), "lifted");
    if (!config.ok()) return nullptr;
    absl::StatusOr<FeatureTransformer> t = FeatureTransformer::Create(*std::move(config));
    return t.ok() ? new FeatureTransformer(*std::move(t)) : nullptr;
  }();
  return transformer;
}

// `rows`: ParseTfExample into FeatureRows per call; else candidate_examples (set once: the bytes
// are the request, as the JSON or TF Serving front end leaves them).
void FeaturesLifted(benchmark::State& state, bool rows) {
  const FeatureTransformer* transformer = LiftedTransformer();
  if (transformer == nullptr) {
    state.SkipWithError("the taxi serving export (../shared) is absent or does not lift");
    return;
  }
  const std::vector<std::string> raw = RawExamples();
  Request request;
  if (!rows) {
    request.candidates.resize(raw.size());
    request.candidate_examples = raw;
  }
  TransformedRequest out;
  for (auto _ : state) {
    absl::Status s = rows ? DecodeExamples(raw, &request) : absl::OkStatus();
    if (s.ok()) s = transformer->Transform(request, &out);
    if (!s.ok()) {
      state.SkipWithError(std::string(s.message()).c_str());
      return;
    }
    benchmark::DoNotOptimize(out);
  }
  state.SetItemsProcessed(state.iterations() * kRequest);
}
void BM_TaxiFeaturesLifted(benchmark::State& state) { FeaturesLifted(state, false); }
void BM_TaxiFeaturesLiftedRows(benchmark::State& state) { FeaturesLifted(state, true); }

// Counts what the wire reader hands over, so nothing is optimized away.
struct CountingSink {
  int64_t n = 0;
  void Kind(int k) { n += k; }
  void String(absl::string_view v) { n += static_cast<int64_t>(v.size()); }
  void Float(float v) { n += v > 0; }
  void Int(int64_t v) { n += v; }
};

void BM_TaxiExamplesWireFloor(benchmark::State& state) {
  const std::vector<std::string> raw = RawExamples();
  for (auto _ : state) {
    CountingSink sink;
    for (const std::string& example : raw) {
      absl::Status s = tf_example_wire::ForEachTfExampleFeature(
          example, [&sink](absl::string_view key, absl::string_view value, bool) {
            sink.n += static_cast<int64_t>(key.size());
            return tf_example_wire::DecodeTfFeature(value, key, &sink);
          });
      if (!s.ok()) {
        state.SkipWithError(std::string(s.message()).c_str());
        return;
      }
    }
    benchmark::DoNotOptimize(sink.n);
  }
  state.SetItemsProcessed(state.iterations() * kRequest);
}

// The package optimize writes from the serving export at `level`, loaded with `chunk_rows`.
const Model* LiftedModel(OptLevel level, int64_t chunk_rows) {
  static std::map<std::pair<int, int64_t>, std::shared_ptr<const Model>>* models =
      new std::map<std::pair<int, int64_t>, std::shared_ptr<const Model>>();
  const std::pair<int, int64_t> key(static_cast<int>(level), chunk_rows);
  if (auto it = models->find(key); it != models->end()) return it->second.get();
  if (!fs::exists(kServing)) return nullptr;
  const fs::path dir = fs::temp_directory_path() / "rankopt_tf_feature_columns_bench";
  fs::create_directories(dir);
  OptimizeModelOptions o;
  o.model_path = kServing.string();
  o.out_path = (dir / absl::StrCat("taxi_o", static_cast<int>(level), ".rkp")).string();
  o.outputs = {"logistic"};
  o.level = level;
  o.int8 = TableQuantizationMode::kOff;
  o.precision = PrecisionMode::kFp32;
  o.name = "taxi";
  o.version = "1";
  o.time_s = 0;
  static std::map<int, bool>* written = new std::map<int, bool>();
  if (!(*written)[key.first]) {
    absl::StatusOr<OptimizeResult> result = OptimizeModel(o);
    if (!result.ok()) {
      std::fprintf(stderr, "%s\n", result.status().ToString().c_str());
      return nullptr;
    }
    (*written)[key.first] = true;
  }
  ModelOptions options;
  options.chunk_rows = chunk_rows;
  absl::StatusOr<std::shared_ptr<const Model>> loaded = Model::Load(o.out_path, options);
  if (!loaded.ok()) {
    std::fprintf(stderr, "%s\n", loaded.status().ToString().c_str());
    return nullptr;
  }
  // Kept for the process' life, as the other setups are.
  (*models)[key] = *std::move(loaded);
  return (*models)[key].get();
}

void RequestLifted(benchmark::State& state, OptLevel level) {
  const Model* model = LiftedModel(level, state.range(0));
  if (model == nullptr) {
    state.SkipWithError("the taxi serving export (../shared) is absent or does not optimize");
    return;
  }
  const std::vector<std::string> raw = RawExamples();
  Request request;
  request.candidates.resize(raw.size());
  request.candidate_examples = raw;
  Scores scores;
  for (auto _ : state) {
    absl::Status s = model->ScoreInto(request, {}, &scores);
    if (!s.ok()) {
      state.SkipWithError(std::string(s.message()).c_str());
      return;
    }
    benchmark::DoNotOptimize(scores);
  }
  state.SetItemsProcessed(state.iterations() * kRequest);
}
void BM_TaxiRequestLifted(benchmark::State& state) { RequestLifted(state, OptLevel::kO0); }
void BM_TaxiRequestLiftedO2(benchmark::State& state) { RequestLifted(state, OptLevel::kO2); }

BENCHMARK(BM_TaxiServingFromExamples)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_TaxiRequestLifted)->Arg(0)->Arg(200)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_TaxiRequestLiftedO2)->Arg(0)->Arg(200)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_TaxiFeaturesInGraph)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_TaxiFeaturesLifted)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_TaxiFeaturesLiftedRows)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_TaxiExamplesWireFloor)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_TaxiServingFromParsed)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_TaxiTransformOnly)->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace rankopt

BENCHMARK_MAIN();
