// The checks that span a parsed feature config's features and tables, run once every entry has
// been read: unique names, cross and length_of references, table dims and rows, shared inputs'
// columns. Internal to features/config.
#ifndef RANKOPT_FEATURES_CONFIG_FEATURE_CONFIG_CHECKS_H_
#define RANKOPT_FEATURES_CONFIG_FEATURE_CONFIG_CHECKS_H_

#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "features/config/feature_config.h"

namespace rankopt::config_internal {

// Per feature, where each key was written, for the checks that span features.
using KeyLocations = absl::flat_hash_map<std::string, SourceLocation>;

// Feature names are unique; crossed and length_of name features that can be crossed or counted,
// on the right side. Sets a sequence_length feature's max_len from its sequence.
absl::Status CheckReferences(FeatureConfig& config, const std::vector<KeyLocations>& locations);

// Table names are unique; every embedding names a declared table with one dim and enough rows.
// Fills a dim given on only one side.
absl::Status CheckTables(FeatureConfig& config, const std::vector<KeyLocations>& locations);

// Each input is fed by one feature, or by features giving its columns 0..C-1, all ids or all
// floats.
absl::Status CheckInputs(const FeatureConfig& config, const std::vector<KeyLocations>& locations);

}  // namespace rankopt::config_internal

#endif  // RANKOPT_FEATURES_CONFIG_FEATURE_CONFIG_CHECKS_H_
