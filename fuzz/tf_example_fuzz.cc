// Fuzzes serialized tf.Example bytes: the wire reader (ForEachExampleFeature +
// DecodeExampleFeature) and the ParseExample kernel through a plan built once (one sparse string
// feature, a float dense feature with a default, a required int64 [2] dense feature).
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <vector>

#include "absl/strings/string_view.h"
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
  return 0;
}
