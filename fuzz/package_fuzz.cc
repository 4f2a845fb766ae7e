// Fuzzes model package loading: bytes -> ParseModelPackage -> what Model::Load does next (the
// feature config, the transformer, the plan) -> the package's warm-up requests through the plan.
// Before parsing, the header's manifest checksum is recomputed and blob checksums are not
// verified, so that mutations reach the manifest and graph decoders instead of all stopping at a
// checksum (the checksum checks themselves are covered by tests/serving/package).
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>

#include "features/config/feature_config.h"
#include "features/pipeline/feature_transformer.h"
#include "graph/exec/execution_plan.h"
#include "rankopt/request_json.h"
#include "serving/feature_feeds.h"
#include "serving/package/model_package.h"
#include "xxhash.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // One buffer for every input: a fresh copy of a few hundred KB per input would be a fresh
  // mapping under ASan (page faults on every byte): about a quarter of this function's time.
  static std::string& bytes = *new std::string;
  bytes.assign(reinterpret_cast<const char*>(data), size);
  if (bytes.size() >= 64) {
    uint64_t manifest_size = 0;
    std::memcpy(&manifest_size, bytes.data() + 8, 8);
    if (manifest_size <= bytes.size() - 64) {
      const uint64_t hash = XXH64(bytes.data() + 64, manifest_size, 0);
      std::memcpy(bytes.data() + 16, &hash, 8);
    }
  }
  rankopt::ReadPackageOptions options;
  options.verify_checksums = false;
  options.max_file_bytes = 64 << 20;
  options.max_graph_nodes = 1 << 14;
  options.max_tensor_bytes = 16 << 20;
  absl::StatusOr<rankopt::ModelPackage> package =
      rankopt::ParseModelPackage(bytes, "fuzz.rkp", options);
  if (!package.ok()) return 0;

  absl::StatusOr<rankopt::FeatureConfig> config =
      rankopt::ParseFeatureConfig(package->feature_config_yaml, "fuzz.rkp: feature config");
  if (!config.ok()) return 0;
  absl::StatusOr<rankopt::FeatureTransformer> transformer =
      rankopt::FeatureTransformer::Create(*std::move(config));
  if (!transformer.ok()) return 0;
  rankopt::PlanOptions plan_options;
  plan_options.outputs = package->outputs;
  plan_options.memory_cap_bytes = 64 << 20;
  absl::StatusOr<std::unique_ptr<const rankopt::ExecutionPlan>> plan =
      rankopt::ExecutionPlan::Create(package->graph, plan_options);
  if (!plan.ok()) return 0;

  rankopt::RequestJsonParser parser;
  rankopt::Request request;
  rankopt::TransformedRequest transformed;
  rankopt::GraphFeeds feeds;
  std::vector<rankopt::Tensor> outputs;
  for (size_t i = 0; i < package->warmup_requests.size() && i < 2; ++i) {
    if (!parser.Parse(package->warmup_requests[i], &request).ok()) continue;
    if (request.candidates.size() > 256) continue;
    if (!transformer->Transform(request, &transformed).ok()) continue;
    if (!rankopt::FeedsFromTransformedRequest(transformed, (*plan)->inputs(), &feeds).ok()) {
      continue;
    }
    (*plan)->Run(feeds.views, &outputs).IgnoreError();
  }
  return 0;
}
