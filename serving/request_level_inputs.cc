#include "serving/request_level_inputs.h"

#include <algorithm>
#include <string>

#include "absl/container/flat_hash_map.h"

namespace rankopt {

std::vector<RequestLevelInput> RequestLevelInputsOf(const FeatureConfig& config) {
  struct Input {
    bool has_item = false;
    bool by_column = false;
    std::vector<int64_t> request_columns;
  };
  std::vector<std::string> order;
  absl::flat_hash_map<std::string, Input> inputs;
  for (const FeatureSpec& f : config.features) {
    const std::string& name = f.input.empty() ? f.name : f.input;
    auto [it, added] = inputs.try_emplace(name);
    if (added) order.push_back(name);
    Input& input = it->second;
    const bool request = f.side != FeatureSide::kItem;
    if (f.input_column >= 0) {
      input.by_column = true;
      if (request) input.request_columns.push_back(f.input_column);
    }
    input.has_item |= !request;
  }
  std::vector<RequestLevelInput> result;
  for (const std::string& name : order) {
    Input& input = inputs[name];
    if (!input.has_item) {
      result.push_back(RequestLevelInput{name, {}});
    } else if (input.by_column && !input.request_columns.empty()) {
      std::sort(input.request_columns.begin(), input.request_columns.end());
      result.push_back(RequestLevelInput{name, input.request_columns});
    }
  }
  return result;
}

}  // namespace rankopt
