// Typed reads of a YAML feature config (config_internal, yaml_reader.h): mappings, scalars and
// vocabulary files, each error placed at its file position.
#include "features/config/yaml_reader.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "core/edit_distance.h"
#include "rankopt/status_macros.h"

namespace rankopt::config_internal {
namespace {

// yaml-cpp tags plain scalars "?" and quoted ones "!": a quoted "5" is a string, not a number.
bool IsQuoted(const YAML::Node& node) { return node.IsScalar() && node.Tag() == "!"; }

// Plain YAML numbers, plus YAML's .nan / .inf spellings so they can be rejected by name.
bool ParseDouble(absl::string_view text, double* value) {
  std::string lower = absl::AsciiStrToLower(text);
  if (lower == ".nan") {
    *value = std::nan("");
    return true;
  }
  if (lower == ".inf" || lower == "+.inf") {
    *value = HUGE_VAL;
    return true;
  }
  if (lower == "-.inf") {
    *value = -HUGE_VAL;
    return true;
  }
  return absl::SimpleAtod(text, value);
}

}  // namespace

absl::Status ErrorAt(const SourceLocation& where, absl::string_view label,
                     absl::string_view message, absl::StatusCode code) {
  std::string text = where.ToString();
  if (where.line <= 0) absl::StrAppend(&text, ":1:1");
  absl::StrAppend(&text, ": ");
  if (!label.empty()) absl::StrAppend(&text, label, ": ");
  absl::StrAppend(&text, message);
  return absl::Status(code, text);
}

SourceLocation ValueLocation(const Context& ctx, const Entry& entry) {
  if (entry.value.IsNull()) return entry.key_location;  // `key:` with nothing after it
  SourceLocation where = ctx.At(entry.value.Mark());
  return where.line > 0 ? where : entry.key_location;
}

std::string Suggestion(absl::string_view word, absl::Span<const absl::string_view> known) {
  absl::string_view best;
  size_t best_distance = std::max<size_t>(2, word.size() / 3) + 1;
  std::string lower = absl::AsciiStrToLower(word);
  for (absl::string_view candidate : known) {
    // A known word that starts the typed one (or the reverse) is a good guess: "dimension".
    if (candidate.size() >= 3 && lower.size() >= 3 &&
        (absl::StartsWith(lower, candidate) || absl::StartsWith(candidate, lower))) {
      return absl::StrCat("; did you mean '", candidate, "'?");
    }
  }
  for (absl::string_view candidate : known) {
    size_t d = EditDistance(lower, candidate);
    if (d < best_distance) {
      best_distance = d;
      best = candidate;
    }
  }
  if (best.empty()) return "";
  return absl::StrCat("; did you mean '", best, "'?");
}

std::string Quoted(absl::Span<const absl::string_view> words) {
  std::vector<std::string> quoted;
  for (absl::string_view w : words) quoted.push_back(absl::StrCat("'", w, "'"));
  return absl::StrJoin(quoted, ", ");
}

std::string NodeKindName(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Map:
      return "a mapping";
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Null:
      return "nothing";
    case YAML::NodeType::Scalar: {
      // Long values are cut: the message must stay readable.
      const std::string& text = node.Scalar();
      if (text.size() > 60) return absl::StrCat("'", text.substr(0, 57), "...'");
      return absl::StrCat("'", text, "'");
    }
    default:
      return "an undefined value";
  }
}

absl::StatusOr<std::vector<Entry>> ReadMapping(const Context& ctx, const YAML::Node& node,
                                               absl::string_view label,
                                               absl::string_view expected) {
  if (!node.IsMap()) {
    return ErrorAt(ctx.At(node.Mark()), label,
                   absl::StrCat("expected ", expected, ", found ", NodeKindName(node)));
  }
  std::vector<Entry> entries;
  for (auto it = node.begin(); it != node.end(); ++it) {
    SourceLocation where = ctx.At(it->first.Mark());
    if (!it->first.IsScalar()) {
      return ErrorAt(where, label,
                     absl::StrCat("a key must be a plain word, found ", NodeKindName(it->first)));
    }
    std::string key = it->first.Scalar();
    for (const Entry& seen : entries) {
      if (seen.key == key) {
        return ErrorAt(where, label,
                       absl::StrCat("key '", key, "' appears twice (first at line ",
                                    seen.key_location.line, "); keep one"));
      }
    }
    entries.push_back(Entry{key, where, it->second});
  }
  return entries;
}

const Entry* Find(const std::vector<Entry>& entries, absl::string_view key) {
  for (const Entry& e : entries) {
    if (e.key == key) return &e;
  }
  return nullptr;
}

absl::Status CheckKnownKeys(const std::vector<Entry>& entries, absl::string_view label,
                            absl::string_view what, absl::Span<const absl::string_view> known) {
  for (const Entry& e : entries) {
    if (std::find(known.begin(), known.end(), e.key) != known.end()) continue;
    return ErrorAt(e.key_location, label,
                   absl::StrCat("unknown key '", e.key, "' in ", what, Suggestion(e.key, known),
                                " (known keys: ", absl::StrJoin(known, ", "), ")"));
  }
  return absl::OkStatus();
}

absl::Status MissingKey(const SourceLocation& where, absl::string_view label, absl::string_view key,
                        absl::string_view what, absl::string_view hint) {
  return ErrorAt(
      where, label,
      absl::StrCat("missing required key '", key, "' in ", what, hint.empty() ? "" : "; ", hint));
}

absl::Status WrongType(const Context& ctx, const Entry& e, absl::string_view label,
                       absl::string_view expected) {
  std::string found = NodeKindName(e.value);
  if (IsQuoted(e.value)) {
    found = absl::StrCat("the string \"", e.value.Scalar(), "\" (remove the quotes)");
  }
  return ErrorAt(ValueLocation(ctx, e), label,
                 absl::StrCat("key '", e.key, "' expects ", expected, ", found ", found));
}

absl::StatusOr<std::string> ReadString(const Context& ctx, const Entry& e,
                                       absl::string_view label) {
  if (!e.value.IsScalar() || (e.value.Scalar().empty() && !IsQuoted(e.value))) {
    return WrongType(ctx, e, label, "a string");
  }
  if (e.value.Scalar().empty()) {
    return ErrorAt(ValueLocation(ctx, e), label,
                   absl::StrCat("key '", e.key, "' expects a non-empty string, found \"\""));
  }
  return e.value.Scalar();
}

absl::StatusOr<int64_t> ReadInt(const Context& ctx, const Entry& e, absl::string_view label) {
  int64_t value = 0;
  if (!e.value.IsScalar() || IsQuoted(e.value) || !absl::SimpleAtoi(e.value.Scalar(), &value)) {
    return WrongType(ctx, e, label, "an integer");
  }
  return value;
}

absl::StatusOr<int64_t> ReadIntAtLeast(const Context& ctx, const Entry& e, absl::string_view label,
                                       int64_t min, absl::string_view why) {
  RANKOPT_ASSIGN_OR_RETURN(int64_t value, ReadInt(ctx, e, label));
  if (value < min) {
    return ErrorAt(ValueLocation(ctx, e), label,
                   absl::StrCat("key '", e.key, "' must be >= ", min, ", found ", value,
                                why.empty() ? "" : " (", why, why.empty() ? "" : ")"));
  }
  return value;
}

absl::StatusOr<uint64_t> ReadUint64(const Context& ctx, const Entry& e, absl::string_view label) {
  uint64_t value = 0;
  bool ok = e.value.IsScalar() && !IsQuoted(e.value);
  if (ok) {
    absl::string_view text = e.value.Scalar();
    ok = absl::ConsumePrefix(&text, "0x") || absl::ConsumePrefix(&text, "0X")
             ? absl::SimpleHexAtoi(text, &value)
             : absl::SimpleAtoi(text, &value);
  }
  if (!ok) return WrongType(ctx, e, label, "an unsigned 64-bit integer (decimal or 0x hex)");
  return value;
}

absl::StatusOr<double> ReadDouble(const Context& ctx, const Entry& e, absl::string_view label) {
  double value = 0;
  if (!e.value.IsScalar() || IsQuoted(e.value) || !ParseDouble(e.value.Scalar(), &value)) {
    return WrongType(ctx, e, label, "a number");
  }
  return value;
}

absl::StatusOr<double> ReadFiniteDouble(const Context& ctx, const Entry& e,
                                        absl::string_view label) {
  RANKOPT_ASSIGN_OR_RETURN(double value, ReadDouble(ctx, e, label));
  if (!std::isfinite(value)) {
    return ErrorAt(
        ValueLocation(ctx, e), label,
        absl::StrCat("key '", e.key, "' must be a finite number, found ", e.value.Scalar()));
  }
  return value;
}

absl::StatusOr<bool> ReadBool(const Context& ctx, const Entry& e, absl::string_view label) {
  if (e.value.IsScalar() && !IsQuoted(e.value)) {
    const std::string& s = e.value.Scalar();
    if (s == "true" || s == "True" || s == "TRUE") return true;
    if (s == "false" || s == "False" || s == "FALSE") return false;
  }
  return WrongType(ctx, e, label, "true or false");
}

absl::StatusOr<ConfigValue> ReadConfigValue(const Context& ctx, const Entry& e,
                                            absl::string_view label) {
  if (!e.value.IsScalar()) return WrongType(ctx, e, label, "a single value (number or string)");
  const std::string& s = e.value.Scalar();
  if (IsQuoted(e.value)) return ConfigValue(s);
  int64_t i = 0;
  if (absl::SimpleAtoi(s, &i)) return ConfigValue(i);
  double d = 0;
  if (ParseDouble(s, &d)) {
    if (!std::isfinite(d)) {
      return ErrorAt(ValueLocation(ctx, e), label,
                     absl::StrCat("default must be finite, found ", s,
                                  " (NaN and Inf values are what the default replaces)"));
    }
    return ConfigValue(d);
  }
  return ConfigValue(s);
}

std::string ResolvePath(const Context& ctx, const std::string& path) {
  std::filesystem::path p(path);
  if (p.is_absolute() || ctx.base_dir.empty()) return p.lexically_normal().string();
  return (std::filesystem::path(ctx.base_dir) / p).lexically_normal().string();
}

absl::StatusOr<std::vector<std::string>> ReadVocabularyFile(const Context& ctx, const Entry& e,
                                                            absl::string_view label,
                                                            const std::string& path) {
  std::error_code ignored;
  if (std::filesystem::is_directory(path, ignored)) {
    return ErrorAt(ValueLocation(ctx, e), label,
                   absl::StrCat("vocabulary_file '", e.value.Scalar(), "' (resolved to '", path,
                                "') is a directory; name a text file with one value per line"),
                   absl::StatusCode::kNotFound);
  }
  if (std::filesystem::exists(path, ignored) && !std::filesystem::is_regular_file(path, ignored)) {
    return ErrorAt(ValueLocation(ctx, e), label,
                   absl::StrCat("vocabulary_file '", e.value.Scalar(), "' (resolved to '", path,
                                "') is not a regular file (a FIFO, socket or device); name a "
                                "text file with one value per line"),
                   absl::StatusCode::kInvalidArgument);
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    int err = errno;
    return ErrorAt(ValueLocation(ctx, e), label,
                   absl::StrCat("cannot read vocabulary_file '", e.value.Scalar(),
                                "' (resolved to '", path, "'): ", std::strerror(err),
                                "; paths are relative to the config file's folder"),
                   absl::StatusCode::kNotFound);
  }
  std::vector<std::string> words;
  absl::flat_hash_map<std::string, int> first_line;
  std::string line;
  int line_number = 0;
  while (std::getline(in, line)) {
    ++line_number;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) {
      return ErrorAt(ValueLocation(ctx, e), label,
                     absl::StrCat("vocabulary_file '", path, "' line ", line_number,
                                  " is empty; write one value per line, no blank lines"));
    }
    auto [it, inserted] = first_line.emplace(line, line_number);
    if (!inserted) {
      return ErrorAt(ValueLocation(ctx, e), label,
                     absl::StrCat("vocabulary_file '", path, "' line ", line_number, ": '", line,
                                  "' repeats line ", it->second, "; each value must appear once"));
    }
    words.push_back(line);
  }
  if (in.bad()) {
    return ErrorAt(ValueLocation(ctx, e), label,
                   absl::StrCat("error reading vocabulary_file '", path, "'"),
                   absl::StatusCode::kNotFound);
  }
  if (words.empty()) {
    return ErrorAt(ValueLocation(ctx, e), label,
                   absl::StrCat("vocabulary_file '", path,
                                "' is empty; it needs one value per "
                                "line"));
  }
  return words;
}

}  // namespace rankopt::config_internal
