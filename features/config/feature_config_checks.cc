// The checks across a parsed feature config's features and tables (feature_config_checks.h).
#include "features/config/feature_config_checks.h"

#include <algorithm>
#include <map>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "features/config/yaml_reader.h"

namespace rankopt::config_internal {

namespace {

std::string LineOf(const SourceLocation& where) { return absl::StrCat("line ", where.line); }

}  // namespace

absl::Status CheckReferences(FeatureConfig& config, const std::vector<KeyLocations>& locations) {
  absl::flat_hash_map<std::string, int> by_name;
  for (int i = 0; i < static_cast<int>(config.features.size()); ++i) {
    const FeatureSpec& f = config.features[i];
    auto [it, inserted] = by_name.emplace(f.name, i);
    if (!inserted) {
      return ErrorAt(locations[i].at("name"), absl::StrCat("feature '", f.name, "'"),
                     absl::StrCat("duplicate feature name (first defined at ",
                                  LineOf(config.features[it->second].location),
                                  "); feature names must be unique"));
    }
  }
  for (int i = 0; i < static_cast<int>(config.features.size()); ++i) {
    FeatureSpec& f = config.features[i];
    std::string label = absl::StrCat("feature '", f.name, "'");
    if (f.kind == FeatureKind::kCross) {
      bool crosses_item = false;
      for (int j = 0; j < static_cast<int>(f.crossed.size()); ++j) {
        const std::string& other_name = f.crossed[j];
        const SourceLocation& where = locations[i].at("crossed");
        auto it = by_name.find(other_name);
        if (it == by_name.end()) {
          return ErrorAt(where, label,
                         absl::StrCat("crossed feature '", other_name,
                                      "' is not defined; cross only features listed in this "
                                      "config"));
        }
        if (other_name == f.name) {
          return ErrorAt(where, label, "a cross cannot include itself");
        }
        if (std::count(f.crossed.begin(), f.crossed.end(), other_name) > 1) {
          return ErrorAt(where, label, absl::StrCat("'", other_name, "' is crossed twice"));
        }
        const FeatureSpec& other = config.features[it->second];
        bool crossable = other.kind == FeatureKind::kCategorical ||
                         (other.kind == FeatureKind::kNumeric && !other.numeric.boundaries.empty());
        if (!crossable) {
          return ErrorAt(
              where, label,
              absl::StrCat("crossed feature '", other_name, "' is ", FeatureKindName(other.kind),
                           "; only categorical and bucketized numeric features "
                           "(with boundaries) can be crossed"));
        }
        crosses_item = crosses_item || other.side == FeatureSide::kItem;
      }
      if (crosses_item && f.side != FeatureSide::kItem) {
        return ErrorAt(locations[i].at("side"), label,
                       "a cross of an item feature varies per candidate, so its side must be "
                       "'item'");
      }
    }
    if (f.kind == FeatureKind::kSequenceLength) {
      auto it = by_name.find(f.length_of);
      const SourceLocation& where = locations[i].at("length_of");
      if (it == by_name.end()) {
        return ErrorAt(where, label,
                       absl::StrCat("length_of names '", f.length_of,
                                    "', which is not a feature of this config"));
      }
      const FeatureSpec& seq = config.features[it->second];
      if (seq.kind != FeatureKind::kSequence) {
        return ErrorAt(
            where, label,
            absl::StrCat("length_of '", f.length_of, "' is a ", FeatureKindName(seq.kind),
                         " feature; it must name a kind: sequence feature"));
      }
      if (seq.side != f.side) {
        return ErrorAt(
            locations[i].at("side"), label,
            absl::StrCat("side ", FeatureSideName(f.side), " differs from side ",
                         FeatureSideName(seq.side), " of its sequence '", seq.name, "'"));
      }
      f.max_len = seq.max_len;  // so NumIds() = max_len + 1
    }
  }
  return absl::OkStatus();
}

absl::Status CheckTables(FeatureConfig& config, const std::vector<KeyLocations>& locations) {
  absl::flat_hash_map<std::string, int> by_name;
  for (int i = 0; i < static_cast<int>(config.tables.size()); ++i) {
    const TableSpec& t = config.tables[i];
    auto [it, inserted] = by_name.emplace(t.name, i);
    if (!inserted) {
      return ErrorAt(t.location, absl::StrCat("table '", t.name, "'"),
                     absl::StrCat("duplicate table name (first defined at ",
                                  LineOf(config.tables[it->second].location),
                                  "); table names must be unique"));
    }
  }
  // The feature that fixed each table's dim, for "used with dim A by X and dim B here".
  std::vector<int> dim_source(config.tables.size(), -1);
  for (int i = 0; i < static_cast<int>(config.features.size()); ++i) {
    FeatureSpec& f = config.features[i];
    if (!f.embedding.has_value()) continue;
    std::string label = absl::StrCat("feature '", f.name, "'");
    const SourceLocation& where = locations[i].at("embedding");
    auto it = by_name.find(f.embedding->table);
    if (it == by_name.end()) {
      return ErrorAt(
          where, label,
          absl::StrCat("embedding table '", f.embedding->table,
                       "' is not declared; add it under tables:, e.g. - {name: ",
                       f.embedding->table, ", dim: ", f.embedding->dim > 0 ? f.embedding->dim : 16,
                       ", weights: {graph_constant: NAME}}"));
    }
    TableSpec& t = config.tables[it->second];
    int64_t& dim = f.embedding->dim;
    if (dim == 0 && t.dim == 0) {
      return ErrorAt(where, label,
                     absl::StrCat("no dim for table '", t.name,
                                  "': give dim in the embedding or in the tables entry"));
    }
    if (dim == 0) dim = t.dim;
    if (t.dim == 0) {
      t.dim = dim;
      dim_source[it->second] = i;
    }
    if (dim != t.dim) {
      std::string other =
          dim_source[it->second] >= 0
              ? absl::StrCat("feature '", config.features[dim_source[it->second]].name, "' (",
                             LineOf(config.features[dim_source[it->second]].location),
                             ") uses it with dim ", t.dim)
              : absl::StrCat("its tables entry (", LineOf(t.location), ") says dim ", t.dim);
      return ErrorAt(where, label,
                     absl::StrCat("embedding dim ", dim, " differs from table '", t.name,
                                  "': ", other, "; a table has one dim"));
    }
    if (t.rows > 0 && f.NumIds() > t.rows) {
      return ErrorAt(where, label,
                     absl::StrCat("produces ids in [0, ", f.NumIds(), ") but table '", t.name,
                                  "' has only ", t.rows, " rows"));
    }
  }
  for (const TableSpec& t : config.tables) {
    if (t.dim == 0) {
      return ErrorAt(t.location, absl::StrCat("table '", t.name, "'"),
                     "no dim: give 'dim' (no feature uses this table to infer it)");
    }
  }
  return absl::OkStatus();
}

absl::Status CheckInputs(const FeatureConfig& config, const std::vector<KeyLocations>& locations) {
  // input -> column -> feature index. Column -1: the whole input.
  std::map<std::string, std::map<int, int>> inputs;
  for (int i = 0; i < static_cast<int>(config.features.size()); ++i) {
    const FeatureSpec& f = config.features[i];
    std::string label = absl::StrCat("feature '", f.name, "'");
    auto where = [&]() {
      auto it = locations[i].find("input_column");
      if (it == locations[i].end()) it = locations[i].find("input");
      return it == locations[i].end() ? f.location : it->second;
    };
    std::map<int, int>& columns = inputs[f.input];
    if (!columns.empty()) {
      int first = columns.begin()->second;
      const FeatureSpec& other = config.features[first];
      if (columns.count(f.input_column) > 0) {
        const FeatureSpec& same = config.features[columns[f.input_column]];
        return ErrorAt(
            where(), label,
            absl::StrCat(
                "input '", f.input, "'",
                f.input_column >= 0 ? absl::StrCat(" column ", f.input_column) : std::string(),
                " is already fed by feature '", same.name, "' (", LineOf(same.location),
                "); give each feature its own input, or distinct "
                "input_column values for a shared [B, C] input"));
      }
      if ((f.input_column < 0) != (other.input_column < 0)) {
        return ErrorAt(where(), label,
                       absl::StrCat("input '", f.input, "' is fed by feature '", other.name, "' (",
                                    LineOf(other.location), ")",
                                    other.input_column < 0 ? " as a whole" : " by column",
                                    "; features sharing an input must all give input_column"));
      }
      if (f.ProducesIds() != other.ProducesIds()) {
        return ErrorAt(
            where(), label,
            absl::StrCat("input '", f.input, "' mixes ids (int64) and floats: '", f.name,
                         "' gives ", f.ProducesIds() ? "ids" : "floats", ", '", other.name,
                         "' gives ", other.ProducesIds() ? "ids" : "floats"));
      }
    }
    columns[f.input_column] = i;
  }
  for (const auto& [input, columns] : inputs) {
    int expected = 0;
    for (const auto& [column, index] : columns) {
      if (column < 0) break;
      if (column != expected) {
        const FeatureSpec& f = config.features[index];
        std::vector<int> have;
        for (const auto& [c, unused] : columns) have.push_back(c);
        return ErrorAt(locations[index].at("input_column"), absl::StrCat("feature '", f.name, "'"),
                       absl::StrCat("input '", input, "' has columns [", absl::StrJoin(have, ", "),
                                    "] but no column ", expected,
                                    "; a shared input's columns must be 0..C-1 without gaps"));
      }
      ++expected;
    }
  }
  return absl::OkStatus();
}

}  // namespace rankopt::config_internal
