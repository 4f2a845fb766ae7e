#include "features/config/feature_config.h"

#include <cmath>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "yaml-cpp/yaml.h"

namespace rankopt {

std::string SourceLocation::ToString() const {
  if (line <= 0) return file;
  return absl::StrCat(file, ":", line, ":", column);
}

int64_t CategoricalSpec::NumIds() const {
  switch (source) {
    case Source::kHash:
      return hash_buckets;
    case Source::kVocabulary:
      return static_cast<int64_t>(vocabulary.size()) + oov_buckets;
    case Source::kIdentity:
      return num_buckets;
    case Source::kPassthrough:
      return 0;
  }
  return 0;
}

bool FeatureSpec::ProducesIds() const {
  return kind != FeatureKind::kNumeric || !numeric.boundaries.empty();
}

int64_t FeatureSpec::NumIds() const {
  switch (kind) {
    case FeatureKind::kCategorical:
    case FeatureKind::kSequence:
    case FeatureKind::kCross:
      return categorical.NumIds();
    case FeatureKind::kNumeric:
      return numeric.boundaries.empty() ? 0 : static_cast<int64_t>(numeric.boundaries.size()) + 1;
    case FeatureKind::kSequenceLength:
      return max_len + 1;
  }
  return 0;
}

const FeatureSpec* FeatureConfig::FindFeature(absl::string_view name) const {
  for (const FeatureSpec& feature : features) {
    if (feature.name == name) return &feature;
  }
  return nullptr;
}

const TableSpec* FeatureConfig::FindTable(absl::string_view name) const {
  for (const TableSpec& table : tables) {
    if (table.name == name) return &table;
  }
  return nullptr;
}

absl::string_view FeatureSideName(FeatureSide side) {
  switch (side) {
    case FeatureSide::kUser:
      return "user";
    case FeatureSide::kContext:
      return "context";
    case FeatureSide::kItem:
      return "item";
  }
  return "?";
}

absl::string_view FeatureKindName(FeatureKind kind) {
  switch (kind) {
    case FeatureKind::kCategorical:
      return "categorical";
    case FeatureKind::kNumeric:
      return "numeric";
    case FeatureKind::kSequence:
      return "sequence";
    case FeatureKind::kCross:
      return "cross";
    case FeatureKind::kSequenceLength:
      return "sequence_length";
  }
  return "?";
}

absl::string_view TruncationName(Truncation truncation) {
  return truncation == Truncation::kKeepFirst ? "keep_first" : "keep_last";
}

namespace {

// Doubles are written with 17 significant digits (exact round trip) and always look like a
// float (so `2.0` does not come back as the integer 2).
std::string DoubleText(double value) {
  if (std::isnan(value)) return ".nan";
  if (std::isinf(value)) return value > 0 ? ".inf" : "-.inf";
  std::string text = absl::StrFormat("%.17g", value);
  if (text.find_first_of(".e") == std::string::npos) text += ".0";
  return text;
}

void EmitString(YAML::Emitter& out, const std::string& value) {
  out << YAML::DoubleQuoted << value;
}

void EmitCategorical(YAML::Emitter& out, const FeatureSpec& feature, bool vocabulary_files) {
  const CategoricalSpec& c = feature.categorical;
  bool hashes = c.source == CategoricalSpec::Source::kHash ||
                c.source == CategoricalSpec::Source::kVocabulary;
  if (feature.kind != FeatureKind::kCross) {
    out << YAML::Key << "ids" << YAML::Value;
    switch (c.source) {
      case CategoricalSpec::Source::kHash:
        out << "hash";
        break;
      case CategoricalSpec::Source::kVocabulary:
        out << "vocabulary";
        break;
      case CategoricalSpec::Source::kIdentity:
        out << "identity";
        break;
      case CategoricalSpec::Source::kPassthrough:
        out << "passthrough";
        break;
    }
  }
  if (c.source == CategoricalSpec::Source::kHash) {
    out << YAML::Key << "hash_buckets" << YAML::Value << c.hash_buckets;
  }
  if (hashes) {
    out << YAML::Key << "hash" << YAML::Value
        << (c.hash == HashFunction::kTfFingerprint64 ? "tf_fingerprint64" : "xxh64");
    if (c.hash == HashFunction::kXxh64) {
      out << YAML::Key << "seed" << YAML::Value << std::to_string(c.seed);
    }
  }
  if (!c.replace_values.empty()) {
    out << YAML::Key << "replace_values" << YAML::Value << YAML::Flow << YAML::BeginSeq;
    for (const auto& [from, to] : c.replace_values) {
      out << YAML::Flow << YAML::BeginSeq;
      EmitString(out, from);
      EmitString(out, to);
      out << YAML::EndSeq;
    }
    out << YAML::EndSeq;
  }
  if (c.source == CategoricalSpec::Source::kHash) {
    out << YAML::Key << "hash_integers_as_decimal" << YAML::Value
        << (c.hash_integers_as_decimal ? "true" : "false");
  }
  if (c.source == CategoricalSpec::Source::kVocabulary && vocabulary_files &&
      !c.vocabulary_file.empty()) {
    out << YAML::Key << "vocabulary_file" << YAML::Value;
    EmitString(out, c.vocabulary_file);
    out << YAML::Key << "oov_buckets" << YAML::Value << c.oov_buckets;
    if (c.default_id.has_value()) out << YAML::Key << "default_id" << YAML::Value << *c.default_id;
  } else if (c.source == CategoricalSpec::Source::kVocabulary) {
    out << YAML::Key << "vocabulary" << YAML::Value << YAML::BeginSeq;
    for (const std::string& value : c.vocabulary) EmitString(out, value);
    out << YAML::EndSeq;
    out << YAML::Key << "oov_buckets" << YAML::Value << c.oov_buckets;
    if (c.default_id.has_value()) out << YAML::Key << "default_id" << YAML::Value << *c.default_id;
  }
  if (c.source == CategoricalSpec::Source::kIdentity) {
    out << YAML::Key << "num_buckets" << YAML::Value << c.num_buckets;
  }
}

void EmitFeature(YAML::Emitter& out, const FeatureSpec& feature, bool vocabulary_files) {
  out << YAML::BeginMap;
  out << YAML::Key << "name" << YAML::Value;
  EmitString(out, feature.name);
  out << YAML::Key << "side" << YAML::Value << std::string(FeatureSideName(feature.side));
  out << YAML::Key << "kind" << YAML::Value << std::string(FeatureKindName(feature.kind));
  out << YAML::Key << "input" << YAML::Value;
  EmitString(out, feature.input);
  if (feature.input_column >= 0) {
    out << YAML::Key << "input_column" << YAML::Value << feature.input_column;
  }
  switch (feature.kind) {
    case FeatureKind::kCategorical:
      EmitCategorical(out, feature, vocabulary_files);
      break;
    case FeatureKind::kSequence:
      EmitCategorical(out, feature, vocabulary_files);
      out << YAML::Key << "max_len" << YAML::Value << feature.max_len;
      out << YAML::Key << "padding_id" << YAML::Value << feature.padding_id;
      out << YAML::Key << "truncation" << YAML::Value
          << std::string(TruncationName(feature.truncation));
      break;
    case FeatureKind::kCross:
      out << YAML::Key << "crossed" << YAML::Value << YAML::Flow << YAML::BeginSeq;
      for (const std::string& name : feature.crossed) EmitString(out, name);
      out << YAML::EndSeq;
      EmitCategorical(out, feature, vocabulary_files);
      break;
    case FeatureKind::kNumeric: {
      const NumericSpec& n = feature.numeric;
      if (!n.boundaries.empty()) {
        out << YAML::Key << "boundaries" << YAML::Value << YAML::Flow << YAML::BeginSeq;
        for (float b : n.boundaries) out << DoubleText(b);
        out << YAML::EndSeq;
        if (n.boundary_equal == NumericSpec::BoundaryEqual::kBelow) {
          out << YAML::Key << "boundary_equal" << YAML::Value << "below";
        }
      }
      if (n.normalize == NumericSpec::Normalize::kStandard) {
        out << YAML::Key << "normalize" << YAML::Value << "standard";
        out << YAML::Key << "mean" << YAML::Value << DoubleText(n.mean);
        out << YAML::Key << "stddev" << YAML::Value << DoubleText(n.stddev);
      } else if (n.normalize == NumericSpec::Normalize::kMinMax) {
        out << YAML::Key << "normalize" << YAML::Value << "minmax";
        out << YAML::Key << "min" << YAML::Value << DoubleText(n.min);
        out << YAML::Key << "max" << YAML::Value << DoubleText(n.max);
      }
      out << YAML::Key << "from_string" << YAML::Value << (n.from_string ? "true" : "false");
      if (n.clamp_min.has_value()) {
        out << YAML::Key << "clamp_min" << YAML::Value << DoubleText(*n.clamp_min);
      }
      if (n.clamp_max.has_value()) {
        out << YAML::Key << "clamp_max" << YAML::Value << DoubleText(*n.clamp_max);
      }
      break;
    }
    case FeatureKind::kSequenceLength:
      out << YAML::Key << "length_of" << YAML::Value;
      EmitString(out, feature.length_of);
      break;
  }
  if (feature.default_value.has_value()) {
    out << YAML::Key << "default" << YAML::Value;
    const ConfigValue& v = *feature.default_value;
    if (const int64_t* i = std::get_if<int64_t>(&v)) {
      out << std::to_string(*i);
    } else if (const double* d = std::get_if<double>(&v)) {
      out << DoubleText(*d);
    } else {
      EmitString(out, std::get<std::string>(v));
    }
  }
  if (feature.embedding.has_value()) {
    out << YAML::Key << "embedding" << YAML::Value << YAML::Flow << YAML::BeginMap;
    out << YAML::Key << "table" << YAML::Value;
    EmitString(out, feature.embedding->table);
    out << YAML::Key << "dim" << YAML::Value << feature.embedding->dim;
    out << YAML::EndMap;
  }
  out << YAML::EndMap;
}

absl::string_view TableDTypeName(DType dtype) {
  switch (dtype) {
    case DType::kFloat16:
      return "fp16";
    case DType::kInt8:
      return "int8";
    default:
      return "fp32";
  }
}

}  // namespace

std::string FeatureConfigToYaml(const FeatureConfig& config, bool vocabulary_files) {
  YAML::Emitter out;
  out << YAML::BeginMap;
  out << YAML::Key << "model" << YAML::Value;
  EmitString(out, config.model);
  out << YAML::Key << "ignore_unknown_features" << YAML::Value
      << (config.ignore_unknown_features ? "true" : "false");
  out << YAML::Key << "features" << YAML::Value << YAML::BeginSeq;
  for (const FeatureSpec& feature : config.features) EmitFeature(out, feature, vocabulary_files);
  out << YAML::EndSeq;
  if (!config.tables.empty()) {
    out << YAML::Key << "tables" << YAML::Value << YAML::BeginSeq;
    for (const TableSpec& table : config.tables) {
      out << YAML::Flow << YAML::BeginMap;
      out << YAML::Key << "name" << YAML::Value;
      EmitString(out, table.name);
      if (table.rows > 0) out << YAML::Key << "rows" << YAML::Value << table.rows;
      out << YAML::Key << "dim" << YAML::Value << table.dim;
      out << YAML::Key << "dtype" << YAML::Value << std::string(TableDTypeName(table.dtype));
      out << YAML::Key << "weights" << YAML::Value << YAML::Flow << YAML::BeginMap;
      out << YAML::Key << (table.source == TableSpec::Source::kNpy ? "npy" : "graph_constant")
          << YAML::Value;
      EmitString(out, table.source_name);
      out << YAML::EndMap;
      out << YAML::EndMap;
    }
    out << YAML::EndSeq;
  }
  out << YAML::EndMap;
  return std::string(out.c_str()) + "\n";
}

}  // namespace rankopt
