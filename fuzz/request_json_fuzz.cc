// Fuzzes a serving request end to end: JSON -> RequestJsonParser -> FeatureTransformer
// (configs/din.yaml) -> FeedsFromTransformedRequest -> ExecutionPlan::Run of the DIN peer model
// as imported (O0, tests/data/peers/din.onnx). The model and config load once, at startup.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "features/config/feature_config.h"
#include "features/pipeline/feature_transformer.h"
#include "graph/exec/execution_plan.h"
#include "graph/io/model_io.h"
#include "rankopt/request_json.h"
#include "serving/feature_feeds.h"

namespace {

struct Model {
  std::unique_ptr<const rankopt::ExecutionPlan> plan;
  std::unique_ptr<rankopt::FeatureTransformer> transformer;
};

template <typename T>
T OrExit(absl::StatusOr<T> value) {
  if (!value.ok()) {  // a broken fixture, not a finding
    std::fprintf(stderr, "request_json_fuzz: %s\n", value.status().ToString().c_str());
    std::exit(2);
  }
  return *std::move(value);
}

const Model& Fixture() {
  static const Model* model = [] {
    auto* m = new Model;
    rankopt::Graph graph = OrExit(rankopt::LoadModel(RANKOPT_TESTDATA_DIR "/peers/din.onnx"));
    m->plan = OrExit(rankopt::ExecutionPlan::Create(graph, rankopt::PlanOptions{}));
    rankopt::FeatureConfig config =
        OrExit(rankopt::LoadFeatureConfig(RANKOPT_SOURCE_DIR "/configs/din.yaml"));
    m->transformer = std::make_unique<rankopt::FeatureTransformer>(
        OrExit(rankopt::FeatureTransformer::Create(std::move(config))));
    return m;
  }();
  return *model;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const Model& model = Fixture();
  static rankopt::RequestJsonParser parser;
  rankopt::Request request;
  if (!parser.Parse(absl::string_view(reinterpret_cast<const char*>(data), size), &request).ok()) {
    return 0;
  }
  rankopt::TransformedRequest transformed;
  if (!model.transformer->Transform(request, &transformed).ok()) return 0;
  rankopt::GraphFeeds feeds;
  if (!rankopt::FeedsFromTransformedRequest(transformed, model.plan->inputs(), &feeds).ok()) {
    return 0;
  }
  std::vector<rankopt::Tensor> outputs;
  (void)model.plan->Run(feeds.views, &outputs);
  return 0;
}
