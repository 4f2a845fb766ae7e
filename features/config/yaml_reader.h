// Typed reads of a YAML feature config's mappings and scalars for feature_config_parser.cc:
// every error names the file position, the key, what was found and what was expected. Internal to
// features/config.
#ifndef RANKOPT_FEATURES_CONFIG_YAML_READER_H_
#define RANKOPT_FEATURES_CONFIG_YAML_READER_H_

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "features/config/feature_config.h"
#include "yaml-cpp/yaml.h"

namespace rankopt::config_internal {

inline constexpr absl::string_view kFormatHelp = "see configs/README.md";

// One `key: value` of a YAML mapping, with where the key was written.
struct Entry {
  std::string key;
  SourceLocation key_location;
  YAML::Node value;
};

// Everything a parse step needs to report errors and resolve paths.
struct Context {
  std::string file;
  std::string base_dir;

  SourceLocation At(const YAML::Mark& mark) const {
    // yaml-cpp marks are 0-based; a null mark (-1) means "unknown".
    return SourceLocation{file, mark.line >= 0 ? mark.line + 1 : 0,
                          mark.column >= 0 ? mark.column + 1 : 0};
  }
};

// "file:line:col: <label>: <message>" (the label names the feature or table, may be empty).
absl::Status ErrorAt(const SourceLocation& where, absl::string_view label,
                     absl::string_view message,
                     absl::StatusCode code = absl::StatusCode::kInvalidArgument);

// Where an entry's value was written; the key's position if yaml-cpp has none (null values).
SourceLocation ValueLocation(const Context& ctx, const Entry& entry);

// "; did you mean 'x'?" for the closest known word, or "" when nothing is close.
std::string Suggestion(absl::string_view word, absl::Span<const absl::string_view> known);

// "'a', 'b', 'c'".
std::string Quoted(absl::Span<const absl::string_view> words);

// What a node is, for "found ...": "a mapping", "a list", "nothing" or the quoted scalar.
std::string NodeKindName(const YAML::Node& node);

// The entries of a mapping node, in order; rejects non-mappings, non-scalar and repeated keys.
absl::StatusOr<std::vector<Entry>> ReadMapping(const Context& ctx, const YAML::Node& node,
                                               absl::string_view label, absl::string_view expected);

// The entry with `key`, or null.
const Entry* Find(const std::vector<Entry>& entries, absl::string_view key);

// An error at the first key not in `known`, with a suggestion and the known keys.
absl::Status CheckKnownKeys(const std::vector<Entry>& entries, absl::string_view label,
                            absl::string_view what, absl::Span<const absl::string_view> known);

// "missing required key 'key' in <what>; <hint>".
absl::Status MissingKey(const SourceLocation& where, absl::string_view label, absl::string_view key,
                        absl::string_view what, absl::string_view hint);

// Scalar readers: each names the key, what it found and what it expected.

// "key 'k' expects <expected>, found ...".
absl::Status WrongType(const Context& ctx, const Entry& e, absl::string_view label,
                       absl::string_view expected);
// A non-empty string.
absl::StatusOr<std::string> ReadString(const Context& ctx, const Entry& e, absl::string_view label);
// An unquoted integer.
absl::StatusOr<int64_t> ReadInt(const Context& ctx, const Entry& e, absl::string_view label);
// An integer >= `min`; `why` says why in the error.
absl::StatusOr<int64_t> ReadIntAtLeast(const Context& ctx, const Entry& e, absl::string_view label,
                                       int64_t min, absl::string_view why = "");
// An unsigned 64-bit integer, decimal or 0x hex.
absl::StatusOr<uint64_t> ReadUint64(const Context& ctx, const Entry& e, absl::string_view label);
// A number, YAML's .nan and .inf included.
absl::StatusOr<double> ReadDouble(const Context& ctx, const Entry& e, absl::string_view label);
// A finite number.
absl::StatusOr<double> ReadFiniteDouble(const Context& ctx, const Entry& e,
                                        absl::string_view label);
// true or false (also True/TRUE, False/FALSE).
absl::StatusOr<bool> ReadBool(const Context& ctx, const Entry& e, absl::string_view label);

// A word from a fixed set; the error lists the allowed words.
template <typename T>
absl::StatusOr<T> ReadEnum(const Context& ctx, const Entry& e, absl::string_view label,
                           absl::Span<const std::pair<absl::string_view, T>> allowed) {
  std::vector<absl::string_view> names;
  for (const auto& [name, value] : allowed) names.push_back(name);
  if (!e.value.IsScalar()) {
    return WrongType(ctx, e, label, absl::StrCat("one of ", Quoted(names)));
  }
  const std::string& s = e.value.Scalar();
  for (const auto& [name, value] : allowed) {
    if (s == name) return value;
  }
  return ErrorAt(
      ValueLocation(ctx, e), label,
      absl::StrCat(e.key, " '", s, "' is not one of ", Quoted(names), Suggestion(s, names)));
}

// A `default:` scalar: quoted -> string; else an integer, a float, or a string, in that order.
absl::StatusOr<ConfigValue> ReadConfigValue(const Context& ctx, const Entry& e,
                                            absl::string_view label);

// `path` relative to the config file's folder (unless absolute), normalized.
std::string ResolvePath(const Context& ctx, const std::string& path);

// One value per line; a final newline is optional, '\r' before it is dropped. Errors on a blank
// or repeated line, an empty file, or one that cannot be read (NotFound).
absl::StatusOr<std::vector<std::string>> ReadVocabularyFile(const Context& ctx, const Entry& e,
                                                            absl::string_view label,
                                                            const std::string& path);

}  // namespace rankopt::config_internal

#endif  // RANKOPT_FEATURES_CONFIG_YAML_READER_H_
