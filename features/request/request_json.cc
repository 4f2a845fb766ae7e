#include "rankopt/request_json.h"

#include <simdjson.h>

#include <charconv>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>
#include <string_view>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "core/utf8.h"
#include "features/request/tf_example.h"
#include "rankopt/status_macros.h"

namespace rankopt {
namespace {

namespace dom = simdjson::dom;

absl::string_view ToAbsl(std::string_view s) { return absl::string_view(s.data(), s.size()); }

absl::string_view ElementTypeName(dom::element_type type) {
  switch (type) {
    case dom::element_type::ARRAY:
      return "an array";
    case dom::element_type::OBJECT:
      return "an object";
    case dom::element_type::INT64:
    case dom::element_type::UINT64:
      return "an integer";
    case dom::element_type::DOUBLE:
      return "a float";
    case dom::element_type::STRING:
      return "a string";
    case dom::element_type::BOOL:
      return "a boolean";
    case dom::element_type::NULL_VALUE:
      return "null";
  }
  return "an unknown JSON value";
}

absl::Status InvalidAt(absl::string_view where, absl::string_view message) {
  return absl::InvalidArgumentError(absl::StrCat(where, ": ", message));
}

// Converts one JSON array into a typed list. `where` names the feature for errors.
absl::Status ArrayToValue(dom::array array, absl::string_view where, FeatureValue* out) {
  // First pass decides the kind, so the list is built once with its final type.
  bool has_int = false, has_float = false, has_string = false;
  size_t index = 0;
  for (dom::element item : array) {
    const dom::element_type type = item.type();
    switch (type) {
      case dom::element_type::INT64:
        has_int = true;
        break;
      case dom::element_type::DOUBLE:
        has_float = true;
        break;
      case dom::element_type::STRING:
        has_string = true;
        break;
      case dom::element_type::UINT64:
        return InvalidAt(absl::StrCat(where, "[", index, "]"),
                         "integer outside the int64 range; send ids that large as strings");
      default:
        return InvalidAt(absl::StrCat(where, "[", index, "]"),
                         absl::StrCat("found ", ElementTypeName(type),
                                      " inside a list; lists hold only integers, floats or "
                                      "strings (use [] for an empty list, null for a missing "
                                      "feature)"));
    }
    if (has_string && (has_int || has_float)) {
      return InvalidAt(where, absl::StrCat("mixed list: element ", index,
                                           " mixes strings and numbers; a list holds one kind"));
    }
    ++index;
  }
  if (has_string) {
    std::vector<std::string> list;
    list.reserve(index);
    for (dom::element item : array) list.emplace_back(item.get_string().value_unsafe());
    *out = std::move(list);
  } else if (has_float) {
    std::vector<double> list;
    list.reserve(index);
    // Integers in a float list are widened: [1, 2.5] is a float list.
    for (dom::element item : array) {
      list.push_back(item.type() == dom::element_type::INT64
                         ? static_cast<double>(item.get_int64().value_unsafe())
                         : item.get_double().value_unsafe());
    }
    *out = std::move(list);
  } else {
    std::vector<int64_t> list;
    list.reserve(index);
    for (dom::element item : array) list.push_back(item.get_int64().value_unsafe());
    *out = std::move(list);
  }
  return absl::OkStatus();
}

absl::Status ElementToValue(dom::element element, absl::string_view where, FeatureValue* out) {
  switch (element.type()) {
    case dom::element_type::INT64:
      *out = element.get_int64().value_unsafe();
      return absl::OkStatus();
    case dom::element_type::UINT64:
      return InvalidAt(where, absl::StrCat("integer ", element.get_uint64().value_unsafe(),
                                           " is outside the int64 range; send ids that large "
                                           "as strings"));
    case dom::element_type::DOUBLE:
      *out = element.get_double().value_unsafe();
      return absl::OkStatus();
    case dom::element_type::STRING:
      *out = std::string(element.get_string().value_unsafe());
      return absl::OkStatus();
    case dom::element_type::NULL_VALUE:
      *out = std::monostate();
      return absl::OkStatus();
    case dom::element_type::ARRAY:
      return ArrayToValue(element.get_array().value_unsafe(), where, out);
    case dom::element_type::BOOL:
      return InvalidAt(where,
                       "found a boolean; feature values are integers, floats, strings or "
                       "lists of one of them (send 0/1)");
    case dom::element_type::OBJECT:
      return InvalidAt(where,
                       "found a nested object; feature values are integers, floats, "
                       "strings or lists of one of them");
  }
  return InvalidAt(where, "unsupported JSON value");
}

// Fills `row` from a JSON object; `section` is "user", "context" or "candidates[3]". `label`
// (candidates only, else null) takes a "label" key's value, 0 or 1; NaN when there is none.
// `example` (candidates only, else null): a {"b64": ...} candidate's serialized tf.Example bytes,
// decoded later by the feature pipeline (`*example_seen` set); other sections' are read into `row`.
absl::Status ObjectToRow(dom::element element, absl::string_view section, FeatureRow* row,
                         float* label = nullptr, std::string* example = nullptr,
                         bool* example_seen = nullptr) {
  row->Clear();
  if (label != nullptr) *label = std::numeric_limits<float>::quiet_NaN();
  if (element.type() == dom::element_type::NULL_VALUE) return absl::OkStatus();
  if (element.type() != dom::element_type::OBJECT) {
    return InvalidAt(section, absl::StrCat("expected an object of feature name -> value, found ",
                                           ElementTypeName(element.type())));
  }
  dom::object object = element.get_object().value_unsafe();
  if (object.size() == 1 && ToAbsl((*object.begin()).key) == "b64") {
    // TF Serving's binary form: a base64 serialized tf.Example.
    const std::string where = absl::StrCat(section, ".b64");
    dom::element value = (*object.begin()).value;
    if (value.type() != dom::element_type::STRING) {
      return InvalidAt(where, absl::StrCat("expected a base64 string (a serialized tf.Example), "
                                           "found ",
                                           ElementTypeName(value.type())));
    }
    std::string local;
    std::string* bytes = example != nullptr ? example : &local;
    if (!absl::Base64Unescape(ToAbsl(value.get_string().value_unsafe()), bytes)) {
      return InvalidAt(where, "not valid base64 (a serialized tf.Example is expected)");
    }
    if (example != nullptr) {
      *example_seen = true;
      return absl::OkStatus();
    }
    if (absl::Status s = ParseTfExample(*bytes, row); !s.ok()) {
      row->Clear();
      return InvalidAt(where, s.message());
    }
    return absl::OkStatus();
  }
  // Small rows check duplicates by scanning; a set keeps huge (hostile) rows linear.
  const bool use_set = object.size() > 16;
  absl::flat_hash_set<absl::string_view> seen;
  for (dom::key_value_pair field : object) {
    const absl::string_view name = ToAbsl(field.key);
    if (label != nullptr && name == "label") {
      double v = -1;
      if (field.value.is_number()) v = field.value.get_double().value_unsafe();
      if (v != 0.0 && v != 1.0) {
        return InvalidAt(absl::StrCat(section, ".label"),
                         "a candidate's label must be the number 0 or 1");
      }
      *label = static_cast<float>(v);
      continue;
    }
    const bool duplicate = use_set ? !seen.insert(name).second : row->Find(name) != nullptr;
    if (duplicate) {
      return InvalidAt(absl::StrCat(section, ".", name),
                       "feature given twice; each name may appear once per row");
    }
    FeatureValue value;
    RANKOPT_RETURN_IF_ERROR(ElementToValue(field.value, absl::StrCat(section, ".", name), &value));
    row->Append(std::string(name), std::move(value));
  }
  return absl::OkStatus();
}

absl::Status ParseError(simdjson::error_code error, absl::string_view json) {
  if (error == simdjson::UTF8_ERROR) {
    return absl::InvalidArgumentError(
        absl::StrCat("request is not valid UTF-8 (invalid byte at offset ", FindInvalidUtf8(json),
                     "); JSON must be UTF-8: send binary ids through the C++ Request, which "
                     "hashes arbitrary bytes"));
  }
  if (error == simdjson::EMPTY) {
    return absl::InvalidArgumentError("empty request: expected a JSON object");
  }
  if (error == simdjson::NUMBER_ERROR || error == simdjson::NUMBER_OUT_OF_RANGE) {
    // simdjson reports integers beyond 64 bits and floats beyond double as NUMBER_ERROR.
    return absl::InvalidArgumentError(
        "invalid JSON: a number is malformed or outside the int64 range (integers) or the double "
        "range (floats); send ids that large as strings");
  }
  return absl::InvalidArgumentError(absl::StrCat("invalid JSON: ", simdjson::error_message(error)));
}

}  // namespace

struct RequestJsonParser::Impl {
  dom::parser parser;
};

RequestJsonParser::RequestJsonParser() : impl_(std::make_unique<Impl>()) {}
RequestJsonParser::~RequestJsonParser() = default;

absl::Status RequestJsonParser::Parse(absl::string_view json, Request* out) {
  out->user.Clear();
  out->context.Clear();
  out->candidates.clear();
  out->candidate_examples.clear();
  out->labels.clear();
  dom::element root;
  if (simdjson::error_code error = impl_->parser.parse(json.data(), json.size()).get(root)) {
    return ParseError(error, json);
  }
  if (root.type() != dom::element_type::OBJECT) {
    return absl::InvalidArgumentError(absl::StrCat(
        "request must be a JSON object {\"user\": {...}, \"context\": {...}, \"candidates\": "
        "[...]}, found ",
        ElementTypeName(root.type())));
  }
  bool seen_user = false, seen_context = false, seen_candidates = false;
  // A named object: a range-for over value_unsafe() of a temporary result would dangle.
  const dom::object sections = root.get_object().value_unsafe();
  for (dom::key_value_pair field : sections) {
    const absl::string_view key = ToAbsl(field.key);
    bool* seen = key == "user"         ? &seen_user
                 : key == "context"    ? &seen_context
                 : key == "candidates" ? &seen_candidates
                                       : nullptr;
    if (seen == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat("unknown request key '", key,
                       "'; a request has only \"user\", \"context\" and \"candidates\""));
    }
    if (*seen) return InvalidAt(key, "given twice");
    *seen = true;
    if (key == "user") {
      RANKOPT_RETURN_IF_ERROR(ObjectToRow(field.value, "user", &out->user));
    } else if (key == "context") {
      RANKOPT_RETURN_IF_ERROR(ObjectToRow(field.value, "context", &out->context));
    } else if (field.value.type() != dom::element_type::NULL_VALUE) {
      if (field.value.type() != dom::element_type::ARRAY) {
        return InvalidAt("candidates", absl::StrCat("expected an array of objects, found ",
                                                    ElementTypeName(field.value.type())));
      }
      dom::array candidates = field.value.get_array().value_unsafe();
      out->candidates.resize(candidates.size());
      // Every candidate gets a slot for a serialized tf.Example; dropped again when none sends one.
      out->candidate_examples.resize(candidates.size());
      bool any_example = false;
      std::vector<float> labels(candidates.size());
      size_t labelled = 0;
      size_t index = 0;
      for (dom::element candidate : candidates) {
        if (candidate.type() != dom::element_type::OBJECT) {
          return InvalidAt(absl::StrCat("candidates[", index, "]"),
                           absl::StrCat("expected an object of feature name -> value, found ",
                                        ElementTypeName(candidate.type())));
        }
        RANKOPT_RETURN_IF_ERROR(ObjectToRow(candidate, absl::StrCat("candidates[", index, "]"),
                                            &out->candidates[index], &labels[index],
                                            &out->candidate_examples[index], &any_example));
        if (!std::isnan(labels[index])) ++labelled;
        ++index;
      }
      if (labelled > 0 && labelled < labels.size()) {
        size_t missing = 0;
        while (!std::isnan(labels[missing])) ++missing;
        return InvalidAt(absl::StrCat("candidates[", missing, "]"),
                         absl::StrCat("has no \"label\" but ", labelled, " of ", labels.size(),
                                      " candidates do; label every candidate or none"));
      }
      if (labelled > 0) out->labels = std::move(labels);
      if (!any_example) out->candidate_examples.clear();
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<Request> RequestJsonParser::Parse(absl::string_view json) {
  Request request;
  RANKOPT_RETURN_IF_ERROR(Parse(json, &request));
  return request;
}

absl::StatusOr<Request> ParseRequestJson(absl::string_view json) {
  RequestJsonParser parser;
  return parser.Parse(json);
}

absl::StatusOr<std::vector<RequestLine>> ParseRequestJsonLines(absl::string_view text,
                                                               absl::string_view source_name) {
  RequestJsonParser parser;
  std::vector<RequestLine> requests;
  int line_number = 0;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == absl::string_view::npos) end = text.size();
    absl::string_view line = text.substr(start, end - start);
    start = end + 1;
    ++line_number;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.find_first_not_of(" \t") == absl::string_view::npos) continue;
    RequestLine parsed;
    parsed.line = line_number;
    if (absl::Status status = parser.Parse(line, &parsed.request); !status.ok()) {
      return absl::Status(status.code(),
                          absl::StrCat(source_name, ":", line_number, ": ", status.message()));
    }
    requests.push_back(std::move(parsed));
  }
  return requests;
}

absl::StatusOr<std::vector<RequestLine>> ReadRequestJsonLines(const std::string& path) {
  // A FIFO would block the open forever and a device (/dev/zero) never ends.
  std::error_code ec;
  if (std::filesystem::exists(path, ec) && !std::filesystem::is_regular_file(path, ec)) {
    return absl::InvalidArgumentError(
        absl::StrCat(path,
                     ": is not a regular file (a directory, FIFO, socket or device); "
                     "expected a requests file, one JSON request per line"));
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::NotFoundError(absl::StrCat(path, ": cannot open the requests file"));
  }
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) return absl::DataLossError(absl::StrCat(path, ": read failed"));
  return ParseRequestJsonLines(text.str(), path);
}

namespace {

absl::Status AppendString(absl::string_view text, absl::string_view where, std::string* out) {
  if (const int64_t bad = FindInvalidUtf8(text); bad >= 0) {
    return InvalidAt(where, absl::StrCat("string is not valid UTF-8 (invalid byte at offset ", bad,
                                         "); JSON cannot carry it"));
  }
  AppendJsonString(text, out);
  return absl::OkStatus();
}

// Shortest round-trip text, with ".0" added where it would otherwise read back as an integer.
absl::Status AppendDouble(double v, absl::string_view where, std::string* out) {
  if (!std::isfinite(v)) {
    return InvalidAt(where, absl::StrCat("float ", v,
                                         " has no JSON form (JSON has no NaN or "
                                         "infinity); send null for a missing value"));
  }
  char buf[32];
  const std::to_chars_result r = std::to_chars(buf, buf + sizeof(buf), v);
  const absl::string_view text(buf, static_cast<size_t>(r.ptr - buf));
  out->append(text.data(), text.size());
  if (text.find_first_of(".e") == absl::string_view::npos) out->append(".0");
  return absl::OkStatus();
}

absl::Status AppendValue(const FeatureValue& value, absl::string_view where, std::string* out) {
  if (std::holds_alternative<std::monostate>(value)) {
    out->append("null");
  } else if (const int64_t* i = std::get_if<int64_t>(&value)) {
    absl::StrAppend(out, *i);
  } else if (const double* d = std::get_if<double>(&value)) {
    RANKOPT_RETURN_IF_ERROR(AppendDouble(*d, where, out));
  } else if (const std::string* s = std::get_if<std::string>(&value)) {
    RANKOPT_RETURN_IF_ERROR(AppendString(*s, where, out));
  } else if (const auto* ints = std::get_if<std::vector<int64_t>>(&value)) {
    out->push_back('[');
    for (size_t k = 0; k < ints->size(); ++k) {
      if (k > 0) out->push_back(',');
      absl::StrAppend(out, (*ints)[k]);
    }
    out->push_back(']');
  } else if (const auto* doubles = std::get_if<std::vector<double>>(&value)) {
    out->push_back('[');
    for (size_t k = 0; k < doubles->size(); ++k) {
      if (k > 0) out->push_back(',');
      RANKOPT_RETURN_IF_ERROR(AppendDouble((*doubles)[k], absl::StrCat(where, "[", k, "]"), out));
    }
    out->push_back(']');
  } else if (const auto* strings = std::get_if<std::vector<std::string>>(&value)) {
    out->push_back('[');
    for (size_t k = 0; k < strings->size(); ++k) {
      if (k > 0) out->push_back(',');
      RANKOPT_RETURN_IF_ERROR(AppendString((*strings)[k], absl::StrCat(where, "[", k, "]"), out));
    }
    out->push_back(']');
  }
  return absl::OkStatus();
}

absl::Status AppendRow(const FeatureRow& row, absl::string_view section, std::string* out) {
  out->push_back('{');
  absl::flat_hash_set<absl::string_view> seen;
  bool first = true;
  for (const FeatureRow::Entry& entry : row.entries()) {
    const std::string where = absl::StrCat(section, ".", entry.first);
    if (!seen.insert(entry.first).second) {
      return InvalidAt(where, "feature given twice; each name may appear once per row");
    }
    if (!first) out->push_back(',');
    first = false;
    RANKOPT_RETURN_IF_ERROR(AppendString(entry.first, where, out));
    out->push_back(':');
    RANKOPT_RETURN_IF_ERROR(AppendValue(entry.second, where, out));
  }
  out->push_back('}');
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::string> RequestToJson(const Request& request) {
  std::string out = "{\"user\":";
  RANKOPT_RETURN_IF_ERROR(AppendRow(request.user, "user", &out));
  out.append(",\"context\":");
  RANKOPT_RETURN_IF_ERROR(AppendRow(request.context, "context", &out));
  out.append(",\"candidates\":[");
  if (!request.candidate_examples.empty() &&
      request.candidate_examples.size() != request.candidates.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("the request has ", request.candidate_examples.size(),
                     " candidate_examples for ", request.candidates.size(), " candidates"));
  }
  for (size_t i = 0; i < request.candidates.size(); ++i) {
    if (i > 0) out.push_back(',');
    const std::string section = absl::StrCat("candidates[", i, "]");
    if (!request.candidate_examples.empty() && !request.candidate_examples[i].empty()) {
      if (!request.candidates[i].empty() || i < request.labels.size()) {
        return InvalidAt(section,
                         "has a serialized tf.Example and features or a label beside it; JSON's "
                         "{\"b64\": ...} candidate holds the tf.Example alone");
      }
      absl::StrAppend(&out, "{\"b64\":\"", absl::Base64Escape(request.candidate_examples[i]),
                      "\"}");
      continue;
    }
    RANKOPT_RETURN_IF_ERROR(AppendRow(request.candidates[i], section, &out));
    if (i < request.labels.size()) {
      out.pop_back();  // the row's '}'
      if (out.back() != '{') out.push_back(',');
      absl::StrAppend(&out, "\"label\":", request.labels[i] != 0.0f ? 1 : 0, "}");
    }
  }
  out.append("]}");
  return out;
}

int64_t FindInvalidUtf8(absl::string_view bytes) {
  for (size_t i = 0; i < bytes.size();) {
    const size_t length = Utf8SequenceLength(bytes, i);
    if (length == 0) return static_cast<int64_t>(i);
    i += length;
  }
  return -1;
}

void AppendJsonString(absl::string_view text, std::string* out) {
  static constexpr char kHex[] = "0123456789abcdef";
  out->push_back('"');
  for (size_t i = 0; i < text.size();) {
    const char c = text[i];
    if (static_cast<unsigned char>(c) >= 0x80) {
      // A well-formed sequence as it is; any other byte as U+FFFD (JSON must be UTF-8).
      const size_t length = Utf8SequenceLength(text, i);
      if (length == 0) {
        out->append("\\ufffd");
        ++i;
      } else {
        out->append(text.data() + i, length);
        i += length;
      }
      continue;
    }
    switch (c) {
      case '"':
        out->append("\\\"");
        break;
      case '\\':
        out->append("\\\\");
        break;
      case '\n':
        out->append("\\n");
        break;
      case '\r':
        out->append("\\r");
        break;
      case '\t':
        out->append("\\t");
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          out->append("\\u00");
          out->push_back(kHex[(c >> 4) & 0xF]);
          out->push_back(kHex[c & 0xF]);
        } else {
          out->push_back(c);
        }
    }
    ++i;
  }
  out->push_back('"');
}

}  // namespace rankopt
