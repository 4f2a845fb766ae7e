// YAML -> FeatureConfig: the top level, the features and tables entries, then the checks across
// them (feature_config_checks.h), every check configs/README.md promises. yaml-cpp reports errors
// by throwing; every exception is caught here and turned into a Status with the file position.
#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <exception>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "absl/types/span.h"
#include "core/edit_distance.h"
#include "features/config/feature_config.h"
#include "features/config/feature_config_checks.h"
#include "features/config/yaml_reader.h"
#include "rankopt/status_macros.h"
#include "yaml-cpp/yaml.h"

namespace rankopt {
namespace config_internal {
namespace {

// ---- features ----

constexpr absl::string_view kFeatureKeys[] = {"name",
                                              "side",
                                              "kind",
                                              "input",
                                              "input_column",
                                              "ids",
                                              "hash_buckets",
                                              "hash",
                                              "seed",
                                              "hash_integers_as_decimal",
                                              "vocabulary_file",
                                              "vocabulary",
                                              "oov_buckets",
                                              "default_id",
                                              "replace_values",
                                              "num_buckets",
                                              "boundaries",
                                              "boundary_equal",
                                              "normalize",
                                              "mean",
                                              "stddev",
                                              "min",
                                              "max",
                                              "from_string",
                                              "clamp_min",
                                              "clamp_max",
                                              "max_len",
                                              "padding_id",
                                              "truncation",
                                              "crossed",
                                              "length_of",
                                              "default",
                                              "embedding"};

constexpr std::pair<absl::string_view, FeatureSide> kSides[] = {
    {"user", FeatureSide::kUser}, {"context", FeatureSide::kContext}, {"item", FeatureSide::kItem}};
constexpr std::pair<absl::string_view, FeatureKind> kKinds[] = {
    {"categorical", FeatureKind::kCategorical},
    {"numeric", FeatureKind::kNumeric},
    {"sequence", FeatureKind::kSequence},
    {"cross", FeatureKind::kCross},
    {"sequence_length", FeatureKind::kSequenceLength}};
constexpr std::pair<absl::string_view, CategoricalSpec::Source> kIds[] = {
    {"hash", CategoricalSpec::Source::kHash},
    {"vocabulary", CategoricalSpec::Source::kVocabulary},
    {"identity", CategoricalSpec::Source::kIdentity},
    {"passthrough", CategoricalSpec::Source::kPassthrough}};
constexpr std::pair<absl::string_view, HashFunction> kHashes[] = {
    {"xxh64", HashFunction::kXxh64}, {"tf_fingerprint64", HashFunction::kTfFingerprint64}};
constexpr std::pair<absl::string_view, NumericSpec::Normalize> kNormalizes[] = {
    {"none", NumericSpec::Normalize::kNone},
    {"standard", NumericSpec::Normalize::kStandard},
    {"minmax", NumericSpec::Normalize::kMinMax}};
constexpr std::pair<absl::string_view, NumericSpec::BoundaryEqual> kBoundaryEquals[] = {
    {"above", NumericSpec::BoundaryEqual::kAbove}, {"below", NumericSpec::BoundaryEqual::kBelow}};
constexpr std::pair<absl::string_view, Truncation> kTruncations[] = {
    {"keep_last", Truncation::kKeepLast}, {"keep_first", Truncation::kKeepFirst}};
constexpr std::pair<absl::string_view, DType> kTableDTypes[] = {
    {"fp32", DType::kFloat32}, {"fp16", DType::kFloat16}, {"int8", DType::kInt8}};

// The kinds a feature key applies to ("" = every kind).
std::vector<FeatureKind> KindsForKey(absl::string_view key) {
  using K = FeatureKind;
  if (key == "input_column" || key == "default") return {K::kCategorical, K::kNumeric};
  if (key == "ids" || key == "vocabulary_file" || key == "vocabulary" || key == "oov_buckets" ||
      key == "default_id" || key == "replace_values" || key == "num_buckets") {
    return {K::kCategorical, K::kSequence};
  }
  if (key == "hash_buckets" || key == "hash" || key == "seed" ||
      key == "hash_integers_as_decimal") {
    return {K::kCategorical, K::kSequence, K::kCross};
  }
  if (key == "boundaries" || key == "boundary_equal" || key == "normalize" || key == "mean" ||
      key == "stddev" || key == "min" || key == "max" || key == "from_string" ||
      key == "clamp_min" || key == "clamp_max") {
    return {K::kNumeric};
  }
  if (key == "max_len" || key == "padding_id" || key == "truncation") return {K::kSequence};
  if (key == "crossed") return {K::kCross};
  if (key == "length_of") return {K::kSequenceLength};
  if (key == "embedding") return {K::kCategorical, K::kNumeric, K::kSequence, K::kCross};
  return {K::kCategorical, K::kNumeric, K::kSequence, K::kCross, K::kSequenceLength};
}

// The ids modes a key applies to (empty: any).
std::vector<CategoricalSpec::Source> IdsForKey(absl::string_view key) {
  using S = CategoricalSpec::Source;
  if (key == "hash_buckets" || key == "hash_integers_as_decimal") return {S::kHash};
  if (key == "hash" || key == "seed" || key == "replace_values") {
    return {S::kHash, S::kVocabulary};
  }
  if (key == "vocabulary_file" || key == "vocabulary" || key == "oov_buckets" ||
      key == "default_id") {
    return {S::kVocabulary};
  }
  if (key == "num_buckets") return {S::kIdentity};
  return {};
}

absl::string_view IdsName(CategoricalSpec::Source source) {
  for (const auto& [name, value] : kIds) {
    if (value == source) return name;
  }
  return "?";
}

absl::Status ParseCategorical(const Context& ctx, const std::vector<Entry>& entries,
                              const std::string& label, FeatureSpec* f) {
  CategoricalSpec& c = f->categorical;
  if (const Entry* e = Find(entries, "ids")) {
    RANKOPT_ASSIGN_OR_RETURN(c.source, ReadEnum<CategoricalSpec::Source>(ctx, *e, label, kIds));
  }
  if (f->kind == FeatureKind::kCross) c.source = CategoricalSpec::Source::kHash;
  for (const Entry& e : entries) {
    std::vector<CategoricalSpec::Source> modes = IdsForKey(e.key);
    if (modes.empty() || std::find(modes.begin(), modes.end(), c.source) != modes.end()) continue;
    std::vector<absl::string_view> names;
    for (CategoricalSpec::Source m : modes) names.push_back(IdsName(m));
    return ErrorAt(e.key_location, label,
                   absl::StrCat("key '", e.key, "' applies to ids: ", absl::StrJoin(names, " or "),
                                ", but this feature has ids: ", IdsName(c.source),
                                Find(entries, "ids") == nullptr ? " (the default)" : ""));
  }
  if (const Entry* e = Find(entries, "hash")) {
    RANKOPT_ASSIGN_OR_RETURN(c.hash, ReadEnum<HashFunction>(ctx, *e, label, kHashes));
  }
  if (const Entry* e = Find(entries, "seed")) {
    if (c.hash == HashFunction::kTfFingerprint64) {
      return ErrorAt(e->key_location, label,
                     "hash tf_fingerprint64 takes no seed (TF's StringToHashBucketFast is "
                     "unseeded); remove 'seed' or use hash: xxh64");
    }
    RANKOPT_ASSIGN_OR_RETURN(c.seed, ReadUint64(ctx, *e, label));
  }
  if (const Entry* e = Find(entries, "replace_values")) {
    if (!e->value.IsSequence()) {
      return WrongType(ctx, *e, label, "a list of [from, to] string pairs");
    }
    for (const YAML::Node& pair : e->value) {
      if (!pair.IsSequence() || pair.size() != 2 || !pair[0].IsScalar() || !pair[1].IsScalar()) {
        return ErrorAt(ctx.At(pair.Mark()), label,
                       "each replace_values entry is a [from, to] pair of strings");
      }
      c.replace_values.emplace_back(pair[0].Scalar(), pair[1].Scalar());
    }
  }
  if (const Entry* e = Find(entries, "hash_integers_as_decimal")) {
    RANKOPT_ASSIGN_OR_RETURN(c.hash_integers_as_decimal, ReadBool(ctx, *e, label));
  }
  switch (c.source) {
    case CategoricalSpec::Source::kHash: {
      const Entry* e = Find(entries, "hash_buckets");
      if (e == nullptr) {
        return MissingKey(f->location, label, "hash_buckets", "a hashed feature",
                          "hashed ids lie in [0, hash_buckets), e.g. hash_buckets: 100000");
      }
      RANKOPT_ASSIGN_OR_RETURN(c.hash_buckets, ReadIntAtLeast(ctx, *e, label, 1));
      break;
    }
    case CategoricalSpec::Source::kPassthrough:
      break;
    case CategoricalSpec::Source::kIdentity: {
      const Entry* e = Find(entries, "num_buckets");
      if (e == nullptr) {
        return MissingKey(f->location, label, "num_buckets", "an ids: identity feature",
                          "ids are used as is and must lie in [0, num_buckets), e.g. the "
                          "embedding table's full-scale row count");
      }
      RANKOPT_ASSIGN_OR_RETURN(c.num_buckets, ReadIntAtLeast(ctx, *e, label, 1));
      break;
    }
    case CategoricalSpec::Source::kVocabulary: {
      const Entry* file = Find(entries, "vocabulary_file");
      const Entry* inline_words = Find(entries, "vocabulary");
      if ((file == nullptr) == (inline_words == nullptr)) {
        return ErrorAt(file != nullptr ? file->key_location : f->location, label,
                       "ids: vocabulary needs exactly one of 'vocabulary_file' (one value per "
                       "line) or 'vocabulary' (an inline list)");
      }
      if (file != nullptr) {
        RANKOPT_ASSIGN_OR_RETURN(std::string path, ReadString(ctx, *file, label));
        c.vocabulary_file = ResolvePath(ctx, path);
        RANKOPT_ASSIGN_OR_RETURN(c.vocabulary,
                                 ReadVocabularyFile(ctx, *file, label, c.vocabulary_file));
      } else {
        if (!inline_words->value.IsSequence() || inline_words->value.size() == 0) {
          return WrongType(ctx, *inline_words, label, "a non-empty list of values");
        }
        absl::flat_hash_set<std::string> seen;
        for (const YAML::Node& word : inline_words->value) {
          if (!word.IsScalar()) {
            return ErrorAt(ctx.At(word.Mark()), label,
                           absl::StrCat("vocabulary entries must be single values, found ",
                                        NodeKindName(word)));
          }
          if (!seen.insert(word.Scalar()).second) {
            return ErrorAt(ctx.At(word.Mark()), label,
                           absl::StrCat("vocabulary value '", word.Scalar(),
                                        "' appears twice; each value must appear once"));
          }
          c.vocabulary.push_back(word.Scalar());
        }
      }
      const Entry* default_id = Find(entries, "default_id");
      if (const Entry* e = Find(entries, "oov_buckets")) {
        RANKOPT_ASSIGN_OR_RETURN(c.oov_buckets,
                                 ReadIntAtLeast(ctx, *e, label, default_id != nullptr ? 0 : 1,
                                                "unknown values need at least one bucket"));
      }
      if (default_id != nullptr) {
        if (c.oov_buckets != 0) {
          return ErrorAt(default_id->key_location, label,
                         "default_id (the id of unknown and missing values) needs "
                         "oov_buckets: 0; with OOV buckets unknown values are hashed");
        }
        if (Find(entries, "default") != nullptr) {
          return ErrorAt(default_id->key_location, label,
                         "give either 'default' (a value) or 'default_id' (an id), not both");
        }
        RANKOPT_ASSIGN_OR_RETURN(int64_t id, ReadIntAtLeast(ctx, *default_id, label, -1));
        c.default_id = id;
      }
      break;
    }
  }
  return absl::OkStatus();
}

absl::Status ParseNumeric(const Context& ctx, const std::vector<Entry>& entries,
                          const std::string& label, FeatureSpec* f) {
  NumericSpec& n = f->numeric;
  if (const Entry* e = Find(entries, "boundaries")) {
    if (!e->value.IsSequence() || e->value.size() == 0) {
      return WrongType(ctx, *e, label, "a non-empty list of increasing numbers");
    }
    int index = 0;
    for (const YAML::Node& node : e->value) {
      Entry item{absl::StrCat("boundaries[", index, "]"), ctx.At(node.Mark()), node};
      RANKOPT_ASSIGN_OR_RETURN(double value, ReadDouble(ctx, item, label));
      if (std::isnan(value)) {
        return ErrorAt(item.key_location, label,
                       absl::StrCat(item.key, " is NaN; boundaries must be ordinary numbers"));
      }
      float as_float = static_cast<float>(value);
      if (!n.boundaries.empty() && !(as_float > n.boundaries.back())) {
        return ErrorAt(item.key_location, label,
                       absl::StrCat("boundaries must be strictly increasing, but ", item.key, " = ",
                                    node.Scalar(), " is not greater than boundaries[", index - 1,
                                    "] = ", e->value[index - 1].Scalar(),
                                    as_float == n.boundaries.back() && value != n.boundaries.back()
                                        ? " (they are equal as float32)"
                                        : ""));
      }
      n.boundaries.push_back(as_float);
      ++index;
    }
  }
  if (const Entry* e = Find(entries, "boundary_equal")) {
    if (n.boundaries.empty()) {
      return ErrorAt(e->key_location, label,
                     "'boundary_equal' says where a value equal to a boundary goes; it needs "
                     "'boundaries'");
    }
    RANKOPT_ASSIGN_OR_RETURN(n.boundary_equal,
                             ReadEnum<NumericSpec::BoundaryEqual>(ctx, *e, label, kBoundaryEquals));
  }
  if (const Entry* e = Find(entries, "normalize")) {
    RANKOPT_ASSIGN_OR_RETURN(n.normalize,
                             ReadEnum<NumericSpec::Normalize>(ctx, *e, label, kNormalizes));
    if (n.normalize != NumericSpec::Normalize::kNone && !n.boundaries.empty()) {
      return ErrorAt(e->key_location, label,
                     "'normalize' and 'boundaries' exclude each other: a bucketized feature "
                     "becomes an id, a normalized one a float");
    }
  }
  const bool standard = n.normalize == NumericSpec::Normalize::kStandard;
  const bool minmax = n.normalize == NumericSpec::Normalize::kMinMax;
  for (absl::string_view key : {"mean", "stddev", "min", "max"}) {
    const Entry* e = Find(entries, key);
    bool wanted = (key == "mean" || key == "stddev") ? standard : minmax;
    absl::string_view mode = (key == "mean" || key == "stddev") ? "standard" : "minmax";
    if (e != nullptr && !wanted) {
      return ErrorAt(e->key_location, label,
                     absl::StrCat("key '", key, "' applies to normalize: ", mode,
                                  ", but this feature has normalize: ",
                                  standard ? "standard" : (minmax ? "minmax" : "none")));
    }
    if (e == nullptr && wanted) {
      return MissingKey(f->location, label, key, absl::StrCat("normalize: ", mode),
                        mode == "standard" ? "(x - mean) / stddev needs both"
                                           : "(x - min) / (max - min) needs both");
    }
    if (e == nullptr) continue;
    RANKOPT_ASSIGN_OR_RETURN(double value, ReadFiniteDouble(ctx, *e, label));
    if (key == "mean") n.mean = value;
    if (key == "stddev") n.stddev = value;
    if (key == "min") n.min = value;
    if (key == "max") n.max = value;
  }
  if (standard && !(n.stddev > 0)) {
    return ErrorAt(ValueLocation(ctx, *Find(entries, "stddev")), label,
                   absl::StrCat("stddev must be > 0, found ", n.stddev));
  }
  if (minmax && !(n.max > n.min)) {
    return ErrorAt(
        ValueLocation(ctx, *Find(entries, "max")), label,
        absl::StrCat("max must be greater than min, found min ", n.min, ", max ", n.max));
  }
  if (const Entry* e = Find(entries, "from_string")) {
    RANKOPT_ASSIGN_OR_RETURN(n.from_string, ReadBool(ctx, *e, label));
  }
  if (const Entry* e = Find(entries, "clamp_min")) {
    RANKOPT_ASSIGN_OR_RETURN(double value, ReadFiniteDouble(ctx, *e, label));
    n.clamp_min = value;
  }
  if (const Entry* e = Find(entries, "clamp_max")) {
    RANKOPT_ASSIGN_OR_RETURN(double value, ReadFiniteDouble(ctx, *e, label));
    n.clamp_max = value;
    if (n.clamp_min.has_value() && !(*n.clamp_max >= *n.clamp_min)) {
      return ErrorAt(ValueLocation(ctx, *e), label,
                     absl::StrCat("clamp_max must be >= clamp_min, found clamp_min ", *n.clamp_min,
                                  ", clamp_max ", *n.clamp_max));
    }
  }
  return absl::OkStatus();
}

absl::Status ParseDefault(const Context& ctx, const Entry& e, const std::string& label,
                          FeatureSpec* f) {
  RANKOPT_ASSIGN_OR_RETURN(ConfigValue value, ReadConfigValue(ctx, e, label));
  if (f->kind == FeatureKind::kNumeric) {
    if (const int64_t* i = std::get_if<int64_t>(&value)) value = static_cast<double>(*i);
    if (!std::holds_alternative<double>(value)) {
      return WrongType(ctx, e, label, "a number (the feature is numeric)");
    }
  } else if (f->categorical.source == CategoricalSpec::Source::kIdentity) {
    const int64_t* id = std::get_if<int64_t>(&value);
    if (id == nullptr)
      return WrongType(ctx, e, label, "an integer id (the feature has ids: identity)");
    if (*id < 0 || *id >= f->categorical.num_buckets) {
      return ErrorAt(ValueLocation(ctx, e), label,
                     absl::StrCat("default id ", *id, " is outside [0, num_buckets = ",
                                  f->categorical.num_buckets, ")"));
    }
  } else if (f->categorical.source == CategoricalSpec::Source::kPassthrough) {
    if (!std::holds_alternative<int64_t>(value)) {
      return WrongType(ctx, e, label, "an integer (the feature has ids: passthrough)");
    }
  } else if (std::holds_alternative<double>(value)) {
    return WrongType(ctx, e, label,
                     absl::StrCat("a string or an integer (the feature has ids: ",
                                  IdsName(f->categorical.source), ")"));
  }
  f->default_value = std::move(value);
  return absl::OkStatus();
}

absl::Status ParseEmbedding(const Context& ctx, const Entry& e, const std::string& label,
                            FeatureSpec* f) {
  RANKOPT_ASSIGN_OR_RETURN(
      std::vector<Entry> entries,
      ReadMapping(ctx, e.value, label, "'embedding' to be a mapping like {table: item, dim: 16}"));
  constexpr absl::string_view kKeys[] = {"table", "dim"};
  RANKOPT_RETURN_IF_ERROR(CheckKnownKeys(entries, label, "embedding", kKeys));
  EmbeddingSpec spec;
  const Entry* table = Find(entries, "table");
  if (table == nullptr) {
    return MissingKey(ctx.At(e.value.Mark()), label, "table", "embedding",
                      "name the tables: entry whose rows the ids index");
  }
  RANKOPT_ASSIGN_OR_RETURN(spec.table, ReadString(ctx, *table, label));
  if (const Entry* dim = Find(entries, "dim")) {
    RANKOPT_ASSIGN_OR_RETURN(spec.dim, ReadIntAtLeast(ctx, *dim, label, 1));
  }
  f->embedding = std::move(spec);
  return absl::OkStatus();
}

absl::StatusOr<FeatureSpec> ParseFeature(const Context& ctx, const YAML::Node& node, int index,
                                         KeyLocations* locations) {
  std::string label = absl::StrCat("feature #", index + 1);
  RANKOPT_ASSIGN_OR_RETURN(
      std::vector<Entry> entries,
      ReadMapping(ctx, node, label, "a feature mapping (name:, side:, kind:, ...)"));
  FeatureSpec f;
  f.location = ctx.At(node.Mark());
  const Entry* name = Find(entries, "name");
  if (name == nullptr) {
    return MissingKey(f.location, label, "name", "a feature", "every feature needs a unique name");
  }
  RANKOPT_ASSIGN_OR_RETURN(f.name, ReadString(ctx, *name, label));
  label = absl::StrCat("feature '", f.name, "'");
  RANKOPT_RETURN_IF_ERROR(CheckKnownKeys(entries, label, "a feature", kFeatureKeys));
  for (const Entry& e : entries) (*locations)[e.key] = ValueLocation(ctx, e);

  for (absl::string_view key : {"side", "kind"}) {
    if (Find(entries, key) == nullptr) {
      return MissingKey(f.location, label, key, "a feature",
                        key == "side" ? "one of 'user', 'context', 'item'"
                                      : "one of 'categorical', 'numeric', 'sequence', 'cross', "
                                        "'sequence_length'");
    }
  }
  RANKOPT_ASSIGN_OR_RETURN(f.side,
                           ReadEnum<FeatureSide>(ctx, *Find(entries, "side"), label, kSides));
  RANKOPT_ASSIGN_OR_RETURN(f.kind,
                           ReadEnum<FeatureKind>(ctx, *Find(entries, "kind"), label, kKinds));
  for (const Entry& e : entries) {
    std::vector<FeatureKind> kinds = KindsForKey(e.key);
    if (std::find(kinds.begin(), kinds.end(), f.kind) != kinds.end()) continue;
    std::vector<absl::string_view> names;
    for (FeatureKind k : kinds) names.push_back(FeatureKindName(k));
    return ErrorAt(
        e.key_location, label,
        absl::StrCat("key '", e.key, "' does not apply to kind ", FeatureKindName(f.kind),
                     "; it applies to kind ", absl::StrJoin(names, ", ")));
  }

  f.input = f.name;
  if (const Entry* e = Find(entries, "input")) {
    RANKOPT_ASSIGN_OR_RETURN(f.input, ReadString(ctx, *e, label));
  }
  if (const Entry* e = Find(entries, "input_column")) {
    RANKOPT_ASSIGN_OR_RETURN(int64_t column, ReadIntAtLeast(ctx, *e, label, 0));
    if (column > (1 << 20)) {
      return ErrorAt(ValueLocation(ctx, *e), label,
                     absl::StrCat("input_column ", column, " is implausibly large"));
    }
    f.input_column = static_cast<int>(column);
  }

  switch (f.kind) {
    case FeatureKind::kCategorical:
      RANKOPT_RETURN_IF_ERROR(ParseCategorical(ctx, entries, label, &f));
      break;
    case FeatureKind::kSequence: {
      RANKOPT_RETURN_IF_ERROR(ParseCategorical(ctx, entries, label, &f));
      const Entry* e = Find(entries, "max_len");
      if (e == nullptr) {
        return MissingKey(f.location, label, "max_len", "a sequence feature",
                          "the graph input's sequence length, e.g. max_len: 50");
      }
      RANKOPT_ASSIGN_OR_RETURN(f.max_len, ReadIntAtLeast(ctx, *e, label, 1));
      if (const Entry* p = Find(entries, "padding_id")) {
        RANKOPT_ASSIGN_OR_RETURN(f.padding_id, ReadInt(ctx, *p, label));
        if (f.padding_id < 0 || f.padding_id >= f.categorical.NumIds()) {
          return ErrorAt(ValueLocation(ctx, *p), label,
                         absl::StrCat("padding_id ", f.padding_id, " is outside the ids [0, ",
                                      f.categorical.NumIds(), ") this feature produces"));
        }
      }
      if (const Entry* t = Find(entries, "truncation")) {
        RANKOPT_ASSIGN_OR_RETURN(f.truncation, ReadEnum<Truncation>(ctx, *t, label, kTruncations));
      }
      break;
    }
    case FeatureKind::kCross: {
      RANKOPT_RETURN_IF_ERROR(ParseCategorical(ctx, entries, label, &f));
      const Entry* e = Find(entries, "crossed");
      if (e == nullptr) {
        return MissingKey(f.location, label, "crossed", "a cross feature",
                          "list the features crossed, e.g. crossed: [user_city, item_cate]");
      }
      if (!e->value.IsSequence() || e->value.size() < 2) {
        return WrongType(ctx, *e, label, "a list of two or more feature names");
      }
      int index = 0;
      for (const YAML::Node& node : e->value) {
        Entry item{absl::StrCat("crossed[", index++, "]"), ctx.At(node.Mark()), node};
        RANKOPT_ASSIGN_OR_RETURN(std::string crossed, ReadString(ctx, item, label));
        f.crossed.push_back(std::move(crossed));
      }
      break;
    }
    case FeatureKind::kNumeric:
      RANKOPT_RETURN_IF_ERROR(ParseNumeric(ctx, entries, label, &f));
      break;
    case FeatureKind::kSequenceLength: {
      const Entry* e = Find(entries, "length_of");
      if (e == nullptr) {
        return MissingKey(f.location, label, "length_of", "a sequence_length feature",
                          "name the sequence feature whose valid length this is");
      }
      RANKOPT_ASSIGN_OR_RETURN(f.length_of, ReadString(ctx, *e, label));
      break;
    }
  }
  if (const Entry* e = Find(entries, "default")) {
    RANKOPT_RETURN_IF_ERROR(ParseDefault(ctx, *e, label, &f));
  }
  if (const Entry* e = Find(entries, "embedding")) {
    if (!f.ProducesIds()) {
      return ErrorAt(e->key_location, label,
                     "a numeric feature without 'boundaries' is a float and cannot index an "
                     "embedding table; add boundaries or remove 'embedding'");
    }
    RANKOPT_RETURN_IF_ERROR(ParseEmbedding(ctx, *e, label, &f));
  }
  return f;
}

// ---- tables ----

absl::StatusOr<TableSpec> ParseTable(const Context& ctx, const YAML::Node& node, int index) {
  std::string label = absl::StrCat("table #", index + 1);
  RANKOPT_ASSIGN_OR_RETURN(
      std::vector<Entry> entries,
      ReadMapping(ctx, node, label, "a table mapping like {name: item, dim: 16, weights: ...}"));
  TableSpec t;
  t.location = ctx.At(node.Mark());
  const Entry* name = Find(entries, "name");
  if (name == nullptr) return MissingKey(t.location, label, "name", "a table", "");
  RANKOPT_ASSIGN_OR_RETURN(t.name, ReadString(ctx, *name, label));
  label = absl::StrCat("table '", t.name, "'");
  constexpr absl::string_view kKeys[] = {"name", "rows", "dim", "dtype", "weights"};
  RANKOPT_RETURN_IF_ERROR(CheckKnownKeys(entries, label, "a table", kKeys));
  if (const Entry* e = Find(entries, "rows")) {
    RANKOPT_ASSIGN_OR_RETURN(
        t.rows, ReadIntAtLeast(ctx, *e, label, 1, "omit 'rows' to take it from the weights"));
  }
  if (const Entry* e = Find(entries, "dim")) {
    RANKOPT_ASSIGN_OR_RETURN(t.dim, ReadIntAtLeast(ctx, *e, label, 1));
  }
  if (const Entry* e = Find(entries, "dtype")) {
    RANKOPT_ASSIGN_OR_RETURN(t.dtype, ReadEnum<DType>(ctx, *e, label, kTableDTypes));
  }
  const Entry* weights = Find(entries, "weights");
  if (weights == nullptr) {
    return MissingKey(t.location, label, "weights", "a table",
                      "say where the rows come from: weights: {graph_constant: item_emb.weight} "
                      "or weights: {npy: item.npy}");
  }
  RANKOPT_ASSIGN_OR_RETURN(
      std::vector<Entry> sources,
      ReadMapping(ctx, weights->value, label,
                  "'weights' to be a mapping like {graph_constant: NAME} or {npy: PATH}"));
  constexpr absl::string_view kSourceKeys[] = {"graph_constant", "npy"};
  RANKOPT_RETURN_IF_ERROR(CheckKnownKeys(sources, label, "weights", kSourceKeys));
  if (sources.size() != 1) {
    return ErrorAt(weights->key_location, label,
                   "weights needs exactly one of 'graph_constant' or 'npy'");
  }
  RANKOPT_ASSIGN_OR_RETURN(t.source_name, ReadString(ctx, sources[0], label));
  if (sources[0].key == "npy") {
    t.source = TableSpec::Source::kNpy;
    t.source_name = ResolvePath(ctx, t.source_name);
  }
  return t;
}

absl::StatusOr<FeatureConfig> ParseRoot(const Context& ctx, const YAML::Node& root) {
  SourceLocation start{ctx.file, 1, 1};
  if (!root.IsDefined() || root.IsNull()) {
    return ErrorAt(start, "",
                   absl::StrCat("the feature config is empty; expected a mapping with a "
                                "'features:' list (",
                                kFormatHelp, ")"));
  }
  RANKOPT_ASSIGN_OR_RETURN(
      std::vector<Entry> entries,
      ReadMapping(ctx, root, "",
                  absl::StrCat("a mapping at the top level (keys model, ignore_unknown_features, "
                               "features, tables; ",
                               kFormatHelp, ")")));
  constexpr absl::string_view kKeys[] = {"model", "ignore_unknown_features", "features", "tables"};
  RANKOPT_RETURN_IF_ERROR(CheckKnownKeys(entries, "", "the top level", kKeys));

  FeatureConfig config;
  config.path = ctx.file;
  if (const Entry* e = Find(entries, "model")) {
    RANKOPT_ASSIGN_OR_RETURN(config.model, ReadString(ctx, *e, ""));
  }
  if (const Entry* e = Find(entries, "ignore_unknown_features")) {
    RANKOPT_ASSIGN_OR_RETURN(config.ignore_unknown_features, ReadBool(ctx, *e, ""));
  }
  const Entry* features = Find(entries, "features");
  if (features == nullptr) {
    return MissingKey(ctx.At(root.Mark()), "", "features", "the top level",
                      "list the model's input features under features:");
  }
  if (!features->value.IsSequence() || features->value.size() == 0) {
    return WrongType(ctx, *features, "", "a non-empty list of features");
  }
  std::vector<KeyLocations> locations;
  int index = 0;
  for (const YAML::Node& node : features->value) {
    locations.emplace_back();
    RANKOPT_ASSIGN_OR_RETURN(FeatureSpec f, ParseFeature(ctx, node, index++, &locations.back()));
    config.features.push_back(std::move(f));
  }
  if (const Entry* tables = Find(entries, "tables")) {
    if (!tables->value.IsSequence()) {
      return WrongType(ctx, *tables, "", "a list of tables");
    }
    index = 0;
    for (const YAML::Node& node : tables->value) {
      RANKOPT_ASSIGN_OR_RETURN(TableSpec t, ParseTable(ctx, node, index++));
      config.tables.push_back(std::move(t));
    }
  }
  RANKOPT_RETURN_IF_ERROR(CheckReferences(config, locations));
  RANKOPT_RETURN_IF_ERROR(CheckTables(config, locations));
  RANKOPT_RETURN_IF_ERROR(CheckInputs(config, locations));
  return config;
}

}  // namespace
}  // namespace config_internal

absl::StatusOr<FeatureConfig> ParseFeatureConfig(absl::string_view yaml_text,
                                                 const std::string& source_name,
                                                 const std::string& base_dir) {
  config_internal::Context ctx{source_name, base_dir};
  try {
    YAML::Node root = YAML::Load(std::string(yaml_text));
    return config_internal::ParseRoot(ctx, root);
  } catch (const YAML::Exception& e) {
    return config_internal::ErrorAt(
        ctx.At(e.mark), "",
        absl::StrCat("YAML syntax error: ", e.msg, " (check indentation, colons and quotes)"));
  } catch (const std::exception& e) {
    return absl::InternalError(
        absl::StrCat(source_name, ": unexpected error while reading the config: ", e.what()));
  }
}

absl::StatusOr<FeatureConfig> LoadFeatureConfig(const std::string& path) {
  std::error_code ignored;
  if (std::filesystem::is_directory(path, ignored)) {
    return absl::InvalidArgumentError(
        absl::StrCat("feature config '", path, "' is a directory; name a .yaml file"));
  }
  // A FIFO would block the open forever and a device (/dev/zero) never ends.
  if (std::filesystem::exists(path, ignored) && !std::filesystem::is_regular_file(path, ignored)) {
    return absl::InvalidArgumentError(
        absl::StrCat("feature config '", path,
                     "' is not a regular file (a FIFO, socket or device); name a .yaml file"));
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    int err = errno;
    return absl::NotFoundError(
        absl::StrCat("cannot open feature config '", path, "': ", std::strerror(err)));
  }
  std::stringstream text;
  text << in.rdbuf();
  if (in.bad())
    return absl::NotFoundError(absl::StrCat("error reading feature config '", path, "'"));
  std::string base_dir = std::filesystem::path(path).parent_path().string();
  return ParseFeatureConfig(text.str(), path, base_dir);
}

}  // namespace rankopt
