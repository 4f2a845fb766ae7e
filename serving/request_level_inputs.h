// Which graph inputs are request-level (the same for every candidate), read from the feature
// config: the inputs that only user and context features feed, and the user/context columns of
// a shared [B, C] input (DIN's `dense`). The O2 passes take them (graph/passes/request_level.h).
#ifndef RANKOPT_SERVING_REQUEST_LEVEL_INPUTS_H_
#define RANKOPT_SERVING_REQUEST_LEVEL_INPUTS_H_

#include <vector>

#include "features/config/feature_config.h"
#include "graph/passes/pass_options.h"

namespace rankopt {

// In the order of the config's features; an input fed by any item feature is not request-level
// as a whole (its user/context columns still are, when it is a column input).
std::vector<RequestLevelInput> RequestLevelInputsOf(const FeatureConfig& config);

}  // namespace rankopt

#endif  // RANKOPT_SERVING_REQUEST_LEVEL_INPUTS_H_
