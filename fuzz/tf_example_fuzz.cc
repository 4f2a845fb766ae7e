// Fuzzes serialized tf.Example bytes: the wire reader (ForEachExampleFeature +
// DecodeExampleFeature) and the ParseExample kernel through a plan built once (one sparse string
// feature, a float dense feature with a default, a required int64 [2] dense feature); and the
// native pipeline's reader both ways, differentially: ParseTfExample into a FeatureRow +
// FeatureTransformer::Transform against Transform of the bytes as Request::candidate_examples
// (features/request/tf_example_wire.h), on a config built once (a hashed string, a numeric, an
// identity id, a sequence; unknown features ignored). Both must agree: the same status, and equal
// columns when they succeed (abort otherwise, so libFuzzer keeps the input).
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "features/config/feature_config.h"
#include "features/pipeline/feature_transformer.h"
#include "features/request/tf_example.h"
#include "graph/exec/execution_plan.h"
#include "graph/kernels/features/tf_example.h"

namespace {

rankopt::Node ConstNode(const char* name, rankopt::Tensor value) {
  rankopt::Node n;
  n.name = name;
  n.op = "Const";
  n.attrs.Set("dtype", value.dtype());
  n.attrs.Set("value", std::move(value));
  return n;
}

const rankopt::ExecutionPlan& Plan() {
  static const rankopt::ExecutionPlan* plan = [] {
    using rankopt::DType;
    using rankopt::Tensor;
    rankopt::Graph g(rankopt::ModelFormat::kTfGraphDef);
    rankopt::Node in;
    in.name = "serialized";
    in.op = "Placeholder";
    in.attrs.Set("dtype", DType::kString);
    bool ok = g.AddNode(in).ok();
    ok = ok && g.AddNode(ConstNode("names", *Tensor::FromStrings({0}, {}))).ok();
    ok = ok && g.AddNode(ConstNode("k_s", *Tensor::FromStrings({}, {"s"}))).ok();
    ok = ok && g.AddNode(ConstNode("k_f", *Tensor::FromStrings({}, {"f"}))).ok();
    ok = ok && g.AddNode(ConstNode("k_i", *Tensor::FromStrings({}, {"i"}))).ok();
    const float fd = 0.5f;
    ok = ok && g.AddNode(ConstNode("d_f", *Tensor::FromValues<float>({1}, {&fd, 1}))).ok();
    ok = ok && g.AddNode(ConstNode("d_i", *Tensor::FromValues<int64_t>({0}, {}))).ok();
    rankopt::Node p;
    p.name = "parse";
    p.op = "ParseExample";
    for (const char* name : {"serialized", "names", "k_s", "k_f", "k_i", "d_f", "d_i"}) {
      p.inputs.push_back(rankopt::TensorRef{name, 0});
    }
    p.attrs.Set("sparse_types", std::vector<DType>{DType::kString});
    p.attrs.Set("Tdense", std::vector<DType>{DType::kFloat32, DType::kInt64});
    p.attrs.Set("dense_shapes",
                std::vector<rankopt::Shape>{rankopt::Shape({1}), rankopt::Shape({2})});
    ok = ok && g.AddNode(p).ok();
    rankopt::PlanOptions options;
    options.outputs = {"parse:0", "parse:1", "parse:2", "parse:3", "parse:4"};
    auto made = rankopt::ExecutionPlan::Create(g, options);
    if (!ok || !made.ok()) {  // a broken fixture, not a finding
      std::fprintf(stderr, "tf_example_fuzz: cannot build the ParseExample plan\n");
      std::exit(2);
    }
    return made->release();
  }();
  return *plan;
}

const rankopt::FeatureTransformer& Transformer() {
  static const rankopt::FeatureTransformer* transformer = [] {
    absl::StatusOr<rankopt::FeatureConfig> config = rankopt::ParseFeatureConfig(R"(
ignore_unknown_features: true
features:
  - {name: s, side: item, kind: categorical, ids: hash, hash: tf_fingerprint64, hash_buckets: 100}
  - {name: f, side: item, kind: numeric, default: 0.5}
  - {name: i, side: item, kind: categorical, ids: identity, num_buckets: 1000}
  - {name: q, side: item, kind: sequence, ids: identity, num_buckets: 50, max_len: 3, padding_id: 0, truncation: keep_last}
)",
                                                                                "inline");
    absl::StatusOr<rankopt::FeatureTransformer> t =
        config.ok() ? rankopt::FeatureTransformer::Create(*std::move(config))
                    : absl::StatusOr<rankopt::FeatureTransformer>(config.status());
    if (!t.ok()) {  // a broken fixture, not a finding
      std::fprintf(stderr, "tf_example_fuzz: %s\n", t.status().ToString().c_str());
      std::exit(2);
    }
    return new rankopt::FeatureTransformer(*std::move(t));
  }();
  return *transformer;
}

// The two native paths over one candidate of `bytes`; aborts when they disagree. The row path
// cannot tell a one-value sequence from a scalar, so a sequence of one refused there may pass
// the straight decoder: then only the straight one's success is checked.
void CheckNativePathsAgree(absl::string_view bytes) {
  rankopt::Request rows;
  rows.candidates.resize(1);
  absl::Status a = rankopt::ParseTfExample(bytes, &rows.candidates[0]);
  if (!a.ok()) a = absl::InvalidArgumentError(absl::StrCat("candidates[0]: ", a.message()));
  rankopt::TransformedRequest want, got;
  if (a.ok()) a = Transformer().Transform(rows, &want);
  rankopt::Request examples;
  examples.candidates.resize(1);
  examples.candidate_examples = {std::string(bytes)};
  const absl::Status b = Transformer().Transform(examples, &got);
  if (a == b) {
    if (!a.ok()) return;
    for (size_t c = 0; c < want.columns.size(); ++c) {
      if (want.columns[c].ids != got.columns[c].ids ||
          want.columns[c].values != got.columns[c].values) {
        std::fprintf(stderr, "tf_example_fuzz: column %s differs\n", want.columns[c].input.c_str());
        std::abort();
      }
    }
    return;
  }
  if (b.ok() && absl::StrContains(a.message(), "feature 'q'")) return;  // a sequence of one
  std::fprintf(stderr, "tf_example_fuzz: rows: %s\nexamples: %s\n", a.ToString().c_str(),
               b.ToString().c_str());
  std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view bytes(reinterpret_cast<const char*>(data), size);
  rankopt::ExampleFeature feature;
  (void)rankopt::ForEachExampleFeature(bytes, [&](absl::string_view, absl::string_view value) {
    return rankopt::DecodeExampleFeature(value, &feature);
  });
  absl::string_view example[2] = {bytes, bytes.substr(0, size / 2)};
  rankopt::TensorView view;
  view.dtype = rankopt::DType::kString;
  view.dims = {2};
  view.data = example;
  std::vector<rankopt::Tensor> outputs;
  (void)Plan().Run({rankopt::NamedTensorView{"serialized", view}}, &outputs);
  CheckNativePathsAgree(bytes);
  return 0;
}
