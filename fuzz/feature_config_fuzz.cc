// Fuzzes the YAML feature config: ParseFeatureConfig, then FeatureTransformer::Create (the
// validation and planning a service does at load) and the YAML round trip packages use.
#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"
#include "features/config/feature_config.h"
#include "features/pipeline/feature_transformer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // Relative vocabulary_file paths resolve against a folder that does not exist, so a fuzzed
  // config reads no files.
  absl::StatusOr<rankopt::FeatureConfig> config =
      rankopt::ParseFeatureConfig(absl::string_view(reinterpret_cast<const char*>(data), size),
                                  "fuzz.yaml", "/nonexistent-rankopt-fuzz");
  if (!config.ok()) return 0;
  (void)rankopt::FeatureConfigToYaml(*config);
  (void)rankopt::FeatureTransformer::Create(*std::move(config));
  return 0;
}
