// TF Serving's REST bodies <-> rankopt Requests and Scores (tf_serving_api.h).
#include "serving/http/tf_serving_api.h"

#include <simdjson.h>

#include <charconv>
#include <cmath>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "features/request/tf_example.h"
#include "rankopt/request_json.h"

namespace rankopt {
namespace {

namespace dom = simdjson::dom;

absl::string_view ToAbsl(std::string_view s) { return absl::string_view(s.data(), s.size()); }

absl::Status InvalidAt(absl::string_view where, absl::string_view message) {
  return absl::InvalidArgumentError(absl::StrCat(where, ": ", message));
}

absl::string_view TypeName(dom::element_type type) {
  switch (type) {
    case dom::element_type::ARRAY:
      return "a list";
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

absl::string_view TfDtype(const ModelFeature& f) {
  if (f.dtype == "float") return "DT_FLOAT";
  if (f.dtype == "int64") return "DT_INT64";
  return "DT_STRING";
}

dom::parser& ThreadParser() {
  thread_local dom::parser parser;
  return parser;
}

absl::Status ParseJson(absl::string_view body, dom::element* root) {
  simdjson::error_code error = ThreadParser().parse(body.data(), body.size()).get(*root);
  if (error != simdjson::SUCCESS) {
    return absl::InvalidArgumentError(
        absl::StrCat("the request body is not valid JSON: ", simdjson::error_message(error)));
  }
  if (root->type() != dom::element_type::OBJECT) {
    return absl::InvalidArgumentError(
        absl::StrCat("the request body must be a JSON object, found ", TypeName(root->type())));
  }
  return absl::OkStatus();
}

// {"b64": "..."} (its only key): the base64 text in `text`.
bool IsB64(dom::element e, std::string_view* text = nullptr) {
  if (e.type() != dom::element_type::OBJECT) return false;
  dom::object object = e.get_object().value_unsafe();
  if (object.size() != 1 || (*object.begin()).key != "b64") return false;
  if (text != nullptr) {
    dom::element v = (*object.begin()).value;
    *text =
        v.type() == dom::element_type::STRING ? v.get_string().value_unsafe() : std::string_view();
  }
  return true;
}

// The bytes of a {"b64": ...} object; TF Serving accepts the standard and the web-safe alphabet.
absl::Status DecodeB64(dom::element e, absl::string_view where, std::string* out) {
  dom::element v = (*e.get_object().value_unsafe().begin()).value;
  if (v.type() != dom::element_type::STRING) {
    return InvalidAt(absl::StrCat(where, ".b64"),
                     absl::StrCat("expected a base64 string, found ", TypeName(v.type())));
  }
  const absl::string_view text = ToAbsl(v.get_string().value_unsafe());
  if (!absl::Base64Unescape(text, out) && !absl::WebSafeBase64Unescape(text, out)) {
    return InvalidAt(absl::StrCat(where, ".b64"), "not valid base64");
  }
  return absl::OkStatus();
}

// One JSON value -> a FeatureValue: numbers, strings, {"b64"} bytes, flat lists, null.
absl::Status ElementToValue(dom::element e, absl::string_view where, FeatureValue* out) {
  switch (e.type()) {
    case dom::element_type::INT64:
      *out = e.get_int64().value_unsafe();
      return absl::OkStatus();
    case dom::element_type::DOUBLE:
      *out = e.get_double().value_unsafe();
      return absl::OkStatus();
    case dom::element_type::STRING:
      *out = std::string(e.get_string().value_unsafe());
      return absl::OkStatus();
    case dom::element_type::NULL_VALUE:
      *out = std::monostate{};
      return absl::OkStatus();
    case dom::element_type::UINT64:
      return InvalidAt(where, "integer outside the int64 range; send ids that large as strings");
    case dom::element_type::BOOL:
      return InvalidAt(where, "found a boolean; features are numbers, strings or lists of them");
    case dom::element_type::OBJECT: {
      if (!IsB64(e)) {
        return InvalidAt(where,
                         "found an object; only {\"b64\": \"...\"} (binary bytes) is an "
                         "object value");
      }
      std::string bytes;
      if (absl::Status s = DecodeB64(e, where, &bytes); !s.ok()) return s;
      *out = std::move(bytes);
      return absl::OkStatus();
    }
    case dom::element_type::ARRAY:
      break;
  }
  bool has_int = false, has_float = false, has_string = false;
  size_t n = 0;
  const dom::array e_array = e.get_array().value_unsafe();
  for (dom::element item : e_array) {
    const dom::element_type t = item.type();
    if (t == dom::element_type::INT64) {
      has_int = true;
    } else if (t == dom::element_type::DOUBLE) {
      has_float = true;
    } else if (t == dom::element_type::STRING || IsB64(item)) {
      has_string = true;
    } else {
      return InvalidAt(absl::StrCat(where, "[", n, "]"),
                       absl::StrCat("found ", TypeName(t),
                                    " inside a list; a feature's list holds numbers or strings "
                                    "(nested lists are not features)"));
    }
    if (has_string && (has_int || has_float)) {
      return InvalidAt(where, "a list mixes strings and numbers; a list holds one kind");
    }
    ++n;
  }
  dom::array array = e.get_array().value_unsafe();
  if (has_string) {
    std::vector<std::string> list;
    list.reserve(n);
    size_t i = 0;
    for (dom::element item : array) {
      if (item.type() == dom::element_type::STRING) {
        list.emplace_back(item.get_string().value_unsafe());
      } else {
        std::string bytes;
        if (absl::Status s = DecodeB64(item, absl::StrCat(where, "[", i, "]"), &bytes); !s.ok()) {
          return s;
        }
        list.push_back(std::move(bytes));
      }
      ++i;
    }
    *out = std::move(list);
  } else if (has_float) {
    std::vector<double> list;
    list.reserve(n);
    for (dom::element item : array) {
      list.push_back(item.type() == dom::element_type::INT64
                         ? static_cast<double>(item.get_int64().value_unsafe())
                         : item.get_double().value_unsafe());
    }
    *out = std::move(list);
  } else {
    std::vector<int64_t> list;
    list.reserve(n);
    for (dom::element item : array) list.push_back(item.get_int64().value_unsafe());
    *out = std::move(list);
  }
  return absl::OkStatus();
}

// Fits `v` to what `f` reads: TF's dtype (a string for a number is refused here, naming the
// place), a one-element list for a scalar feature (tf.Example's form) unwrapped, a scalar for a
// list feature wrapped.
absl::Status FitToFeature(const ModelFeature& f, absl::string_view where, FeatureValue* v) {
  const bool is_string = std::holds_alternative<std::string>(*v) ||
                         std::holds_alternative<std::vector<std::string>>(*v);
  const bool is_float =
      std::holds_alternative<double>(*v) || std::holds_alternative<std::vector<double>>(*v);
  if (is_string && f.dtype != "string") {
    return InvalidAt(where, absl::StrCat("found a string for feature '", f.name,
                                         "', expected a number (", TfDtype(f), ")"));
  }
  if (is_float && f.dtype != "float") {
    return InvalidAt(
        where, absl::StrCat("found a float for feature '", f.name, "', expected ",
                            f.dtype == "string" ? "a string or an integer" : "an integer id", " (",
                            TfDtype(f), ")"));
  }
  if (!f.list) {
    if (auto* l = std::get_if<std::vector<int64_t>>(v); l != nullptr && l->size() == 1) {
      *v = (*l)[0];
    } else if (auto* d = std::get_if<std::vector<double>>(v); d != nullptr && d->size() == 1) {
      *v = (*d)[0];
    } else if (auto* s = std::get_if<std::vector<std::string>>(v); s != nullptr && s->size() == 1) {
      *v = std::string((*s)[0]);
    }
    const bool still_list = std::holds_alternative<std::vector<int64_t>>(*v) ||
                            std::holds_alternative<std::vector<double>>(*v) ||
                            std::holds_alternative<std::vector<std::string>>(*v);
    if (still_list) {
      return InvalidAt(where,
                       absl::StrCat("found a list for feature '", f.name,
                                    "', which takes one value per instance (", TfDtype(f), ")"));
    }
  } else if (auto* i = std::get_if<int64_t>(v)) {
    *v = std::vector<int64_t>{*i};
  } else if (auto* d = std::get_if<double>(v)) {
    *v = std::vector<double>{*d};
  } else if (auto* s = std::get_if<std::string>(v)) {
    *v = std::vector<std::string>{std::move(*s)};
  }
  return absl::OkStatus();
}

// Builds the Request: routes each feature of candidate i to the user, context or candidate row.
class RequestBuilder {
 public:
  RequestBuilder(const Model& model, absl::string_view section, Request* request)
      : model_(model), section_(section), request_(request) {
    examples_as_bytes_ = true;
    for (const ModelFeature& f : model.features()) {
      by_name_.emplace(f.name, &f);
      examples_as_bytes_ &= f.side == ModelFeature::Side::kItem;
    }
    request_->user.Clear();
    request_->context.Clear();
    request_->candidates.clear();
    request_->candidate_examples.clear();
    request_->labels.clear();
  }

  const ModelFeature* Find(absl::string_view name) const {
    auto it = by_name_.find(name);
    return it == by_name_.end() ? nullptr : it->second;
  }

  void Resize(size_t n) { request_->candidates.resize(n); }
  size_t size() const { return request_->candidates.size(); }

  std::string Where(size_t i, absl::string_view name) const {
    return absl::StrCat(section_, "[", i, "].", name);
  }

  // Adds feature `name` of candidate `i`. `where` names it for errors.
  absl::Status Add(size_t i, absl::string_view name, FeatureValue value, absl::string_view where) {
    const ModelFeature* f = Find(name);
    if (f != nullptr) {
      if (absl::Status s = FitToFeature(*f, where, &value); !s.ok()) return s;
    }
    if (f == nullptr || f->side == ModelFeature::Side::kItem) {
      request_->candidates[i].Set(name, std::move(value));
      return absl::OkStatus();
    }
    FeatureRow& row = f->side == ModelFeature::Side::kUser ? request_->user : request_->context;
    const FeatureValue* have = row.Find(name);
    if (have == nullptr) {
      row.Append(std::string(name), std::move(value));
      first_.emplace(std::string(name), i);
      return absl::OkStatus();
    }
    if (*have != value) {
      const size_t first = first_[std::string(name)];
      return InvalidAt(
          where,
          absl::StrCat("differs from ", Where(first, name), ": '", name, "' is a ",
                       f->side == ModelFeature::Side::kUser ? "user" : "context",
                       " feature, taken once per request from the first instance that sends it "
                       "and scored against every candidate; send one request per user/context"));
    }
    return absl::OkStatus();
  }

  // Adds every feature of the serialized tf.Example in the {"b64"} object `e` to candidate i.
  // When every feature of the model is an item feature (a lifted TF export's), the bytes go to
  // Request::candidate_examples, decoded by the feature pipeline straight into the columns (a
  // second example of one candidate is appended: serialized messages concatenated merge, as
  // reading them one after the other would). Otherwise they are read here, so user and context
  // features can be routed and checked equal.
  absl::Status AddExample(size_t i, dom::element e, absl::string_view where) {
    if (examples_as_bytes_) {
      std::vector<std::string>& examples = request_->candidate_examples;
      if (examples.empty()) examples.resize(size());
      if (examples[i].empty()) return DecodeB64(e, where, &examples[i]);
      std::string more;
      if (absl::Status s = DecodeB64(e, where, &more); !s.ok()) return s;
      examples[i].append(more);
      return absl::OkStatus();
    }
    std::string bytes;
    if (absl::Status s = DecodeB64(e, where, &bytes); !s.ok()) return s;
    FeatureRow row;
    if (absl::Status s = ParseTfExample(bytes, &row); !s.ok()) {
      return InvalidAt(absl::StrCat(where, ".b64"), s.message());
    }
    for (const FeatureRow::Entry& entry : row.entries()) {
      const std::string at = absl::StrCat(where, ".b64 feature '", entry.first, "'");
      if (absl::Status s = Add(i, entry.first, entry.second, at); !s.ok()) return s;
    }
    return absl::OkStatus();
  }

  // One JSON field `name: value` of candidate i: a tf.Example when `value` is {"b64"} and the
  // config does not know `name`, else a feature value.
  absl::Status AddField(size_t i, absl::string_view name, dom::element value) {
    // Formatted into a reused buffer: a field costs no allocation for its place.
    where_.clear();
    absl::StrAppend(&where_, section_, "[", i, "].", name);
    const absl::string_view where = where_;
    if (Find(name) == nullptr && IsB64(value)) return AddExample(i, value, where);
    FeatureValue v;
    if (absl::Status s = ElementToValue(value, where, &v); !s.ok()) return s;
    return Add(i, name, std::move(v), where);
  }

  // A whole instance that is not an object of named inputs.
  absl::Status AddUnnamed(size_t i, dom::element value) {
    const std::string where = absl::StrCat(section_, "[", i, "]");
    if (IsB64(value)) return AddExample(i, value, where);
    if (model_.features().size() != 1) {
      std::vector<std::string> names;
      for (const ModelFeature& f : model_.features()) names.push_back(f.name);
      return InvalidAt(
          where, absl::StrCat("found ", TypeName(value.type()), "; this model has ", names.size(),
                              " named inputs (", absl::StrJoin(names, ", "),
                              "), so each instance must be an object of input name -> value, or "
                              "a serialized tf.Example {\"b64\": \"...\"}"));
    }
    const ModelFeature& only = model_.features()[0];
    FeatureValue v;
    if (absl::Status s = ElementToValue(value, where, &v); !s.ok()) return s;
    return Add(i, only.name, std::move(v), where);
  }

 private:
  const Model& model_;
  const std::string section_;
  Request* request_;
  absl::flat_hash_map<absl::string_view, const ModelFeature*> by_name_;
  absl::flat_hash_map<std::string, size_t> first_;
  std::string where_;               // AddField's place
  bool examples_as_bytes_ = false;  // see AddExample
};

absl::Status ReadSignature(dom::element value, std::string* out) {
  if (value.type() != dom::element_type::STRING) {
    return absl::InvalidArgumentError(
        absl::StrCat("signature_name: expected a string, found ", TypeName(value.type())));
  }
  *out = std::string(value.get_string().value_unsafe());
  return absl::OkStatus();
}

absl::Status ParseRows(dom::element instances, RequestBuilder* b) {
  if (instances.type() != dom::element_type::ARRAY) {
    return absl::InvalidArgumentError(
        absl::StrCat("instances: expected a list with one entry per instance, found ",
                     TypeName(instances.type())));
  }
  dom::array rows = instances.get_array().value_unsafe();
  b->Resize(rows.size());
  size_t i = 0;
  for (dom::element row : rows) {
    if (row.type() == dom::element_type::OBJECT && !IsB64(row)) {
      const dom::object row_object = row.get_object().value_unsafe();
      for (dom::key_value_pair field : row_object) {
        if (absl::Status s = b->AddField(i, ToAbsl(field.key), field.value); !s.ok()) return s;
      }
    } else if (absl::Status s = b->AddUnnamed(i, row); !s.ok()) {
      return s;
    }
    ++i;
  }
  return absl::OkStatus();
}

// A column holds one entry per instance unless it is one value: a scalar, {"b64"}, or a flat
// list given for a list feature.
bool IsPerInstance(const ModelFeature* f, dom::element column) {
  if (column.type() != dom::element_type::ARRAY) return false;
  if (f == nullptr || !f->list) return true;
  dom::array a = column.get_array().value_unsafe();
  return a.size() > 0 && (*a.begin()).type() == dom::element_type::ARRAY;
}

absl::Status ParseColumns(dom::element inputs, RequestBuilder* b) {
  if (inputs.type() != dom::element_type::OBJECT || IsB64(inputs)) {
    // One unnamed input: a list of instances of the model's only input (or of tf.Examples).
    if (inputs.type() != dom::element_type::ARRAY) {
      return absl::InvalidArgumentError(absl::StrCat(
          "inputs: expected an object of input name -> column, or a list (the column of a "
          "model's only input), found ",
          TypeName(inputs.type())));
    }
    dom::array rows = inputs.get_array().value_unsafe();
    b->Resize(rows.size());
    size_t i = 0;
    for (dom::element row : rows) {
      if (absl::Status s = b->AddUnnamed(i++, row); !s.ok()) return s;
    }
    return absl::OkStatus();
  }
  // The number of instances: the length of the per-instance columns of candidate features (all
  // equal); without any, the longest user/context column; without columns, one.
  dom::object columns = inputs.get_object().value_unsafe();
  size_t n = 0;
  std::string n_from;
  size_t shared_n = 0;
  for (dom::key_value_pair field : columns) {
    const absl::string_view name = ToAbsl(field.key);
    const ModelFeature* f = b->Find(name);
    if (!IsPerInstance(f, field.value)) continue;
    const size_t len = field.value.get_array().value_unsafe().size();
    if (f != nullptr && f->side != ModelFeature::Side::kItem) {
      shared_n = std::max(shared_n, len);
      continue;
    }
    if (n_from.empty()) {
      n = len;
      n_from = std::string(name);
    } else if (len != n) {
      return InvalidAt(absl::StrCat("inputs.", name),
                       absl::StrCat("has ", len, " entries but inputs.", n_from, " has ", n,
                                    "; the candidate features' columns have one entry per "
                                    "instance"));
    }
  }
  if (n_from.empty()) n = std::max<size_t>(shared_n, 1);
  b->Resize(n);
  for (dom::key_value_pair field : columns) {
    const absl::string_view name = ToAbsl(field.key);
    const ModelFeature* f = b->Find(name);
    const bool shared = f != nullptr && f->side != ModelFeature::Side::kItem;
    if (IsPerInstance(f, field.value)) {
      dom::array column = field.value.get_array().value_unsafe();
      if (column.size() != n && !(shared && column.size() == 1)) {
        return InvalidAt(absl::StrCat("inputs.", name),
                         absl::StrCat("has ", column.size(), " entries, expected ", n,
                                      shared ? " (or 1: a user/context feature)" : ""));
      }
      size_t i = 0;
      for (dom::element value : column) {
        if (absl::Status s = b->AddField(i++, name, value); !s.ok()) return s;
      }
    } else if (shared) {
      if (absl::Status s = b->AddField(0, name, field.value); !s.ok()) return s;
    } else {
      // One value for every candidate.
      for (size_t i = 0; i < n; ++i) {
        if (absl::Status s = b->AddField(i, name, field.value); !s.ok()) return s;
      }
    }
  }
  return absl::OkStatus();
}

void AppendNumber(float v, std::string* out) {
  if (std::isnan(v)) {
    out->append("NaN");
    return;
  }
  if (std::isinf(v)) {
    out->append(v > 0 ? "Infinity" : "-Infinity");
    return;
  }
  char buf[32];
  const std::to_chars_result r = std::to_chars(buf, buf + sizeof(buf), v);
  out->append(buf, r.ptr);
}

void AppendList(const std::vector<float>& values, std::string* out) {
  out->push_back('[');
  for (size_t i = 0; i < values.size(); ++i) {
    if (i > 0) out->append(", ");
    AppendNumber(values[i], out);
  }
  out->push_back(']');
}

// A TensorInfo as TF Serving prints it (proto3 JSON: int64 sizes as strings).
void AppendTensorInfo(absl::string_view dtype, int rank, absl::string_view name, std::string* out) {
  absl::StrAppend(out, "{\"dtype\": \"", dtype, "\", \"tensor_shape\": {\"dim\": [");
  for (int d = 0; d < rank; ++d) {
    if (d > 0) out->append(", ");
    out->append("{\"size\": \"-1\", \"name\": \"\"}");
  }
  out->append("], \"unknown_rank\": false}, \"name\": ");
  AppendJsonString(name, out);
  out->push_back('}');
}

void AppendSignature(const Model& model, const std::vector<std::string>& heads, std::string* out) {
  out->append("{\"inputs\": {");
  bool first = true;
  for (const ModelFeature& f : model.features()) {
    if (!first) out->append(", ");
    first = false;
    AppendJsonString(f.name, out);
    out->append(": ");
    AppendTensorInfo(TfDtype(f), f.list ? 2 : 1, absl::StrCat(f.name, ":0"), out);
  }
  out->append("}, \"outputs\": {");
  for (size_t h = 0; h < heads.size(); ++h) {
    if (h > 0) out->append(", ");
    AppendJsonString(heads[h], out);
    out->append(": ");
    AppendTensorInfo("DT_FLOAT", 1, absl::StrCat(heads[h], ":0"), out);
  }
  out->append("}, \"method_name\": \"tensorflow/serving/predict\"}");
}

bool IsDefaultSignature(absl::string_view name) {
  // TF's default key, its method names, and the signatures an Estimator export adds.
  return name.empty() || name == "serving_default" || name == "tensorflow/serving/predict" ||
         name == "tensorflow/serving/classify" || name == "tensorflow/serving/regress" ||
         name == "predict" || name == "classification" || name == "regression";
}

}  // namespace

bool IsTfServingPredictBody(absl::string_view body) {
  size_t i = 0;
  auto skip_space = [&] {
    while (i < body.size() && absl::ascii_isspace(static_cast<unsigned char>(body[i]))) ++i;
  };
  skip_space();
  if (i >= body.size() || body[i] != '{') return false;  // not an object: the native errors
  ++i;
  skip_space();
  if (i >= body.size() || body[i] != '"') return false;
  const size_t close = body.find('"', i + 1);
  if (close == absl::string_view::npos) return false;
  const absl::string_view key = body.substr(i + 1, close - i - 1);
  return key == "instances" || key == "inputs" || key == "signature_name";
}

absl::StatusOr<std::vector<std::string>> TfSignatureHeads(const Model& model,
                                                          absl::string_view signature_name) {
  for (const std::string& head : model.heads()) {
    if (head == signature_name) return std::vector<std::string>{head};
  }
  if (IsDefaultSignature(signature_name)) return model.heads();
  std::vector<std::string> names = {"serving_default"};
  if (model.heads().size() > 1)
    names.insert(names.end(), model.heads().begin(), model.heads().end());
  return absl::InvalidArgumentError(absl::StrCat(
      "Serving signature name: \"", signature_name,
      "\" not found in signature def; this model's signatures are ", absl::StrJoin(names, ", ")));
}

absl::Status ParseTfPredictRequest(absl::string_view body, const Model& model,
                                   TfServingRequest* out) {
  dom::element root;
  if (absl::Status s = ParseJson(body, &root); !s.ok()) return s;
  std::string signature;
  dom::element instances, inputs;
  bool has_instances = false, has_inputs = false;
  const dom::object root_object = root.get_object().value_unsafe();
  for (dom::key_value_pair field : root_object) {
    const absl::string_view key = ToAbsl(field.key);
    if (key == "signature_name") {
      if (absl::Status s = ReadSignature(field.value, &signature); !s.ok()) return s;
    } else if (key == "instances") {
      instances = field.value;
      has_instances = true;
    } else if (key == "inputs") {
      inputs = field.value;
      has_inputs = true;
    } else {
      return absl::InvalidArgumentError(absl::StrCat(
          "unknown key '", key,
          "' in the request; a TF Serving predict request has \"signature_name\" and "
          "\"instances\" (row format) or \"inputs\" (columnar format); rankopt's own request "
          "has \"user\", \"context\" and \"candidates\""));
    }
  }
  if (has_instances == has_inputs) {
    return absl::InvalidArgumentError(
        has_instances ? "the request has both \"instances\" and \"inputs\"; it can have either "
                        "of them but not both"
                      : "the request has neither \"instances\" (row format) nor \"inputs\" "
                        "(columnar format)");
  }
  absl::StatusOr<std::vector<std::string>> heads = TfSignatureHeads(model, signature);
  if (!heads.ok()) return heads.status();
  out->heads = *std::move(heads);
  out->format = has_instances ? TfPredictFormat::kRow : TfPredictFormat::kColumnar;
  RequestBuilder b(model, has_instances ? "instances" : "inputs", &out->request);
  return has_instances ? ParseRows(instances, &b) : ParseColumns(inputs, &b);
}

absl::Status ParseTfExamplesRequest(absl::string_view body, const Model& model, bool regress,
                                    TfServingRequest* out) {
  dom::element root;
  if (absl::Status s = ParseJson(body, &root); !s.ok()) return s;
  std::string signature;
  dom::element examples, context;
  bool has_examples = false, has_context = false;
  const dom::object root_object = root.get_object().value_unsafe();
  for (dom::key_value_pair field : root_object) {
    const absl::string_view key = ToAbsl(field.key);
    if (key == "signature_name") {
      if (absl::Status s = ReadSignature(field.value, &signature); !s.ok()) return s;
    } else if (key == "examples") {
      examples = field.value;
      has_examples = true;
    } else if (key == "context") {
      context = field.value;
      has_context = true;
    } else {
      return absl::InvalidArgumentError(absl::StrCat(
          "unknown key '", key, "' in the request; a ", regress ? "regress" : "classify",
          " request has \"signature_name\", \"context\" and \"examples\""));
    }
  }
  if (!has_examples) {
    return absl::InvalidArgumentError("the request has no \"examples\" (a list of examples)");
  }
  if (examples.type() != dom::element_type::ARRAY) {
    return absl::InvalidArgumentError(
        absl::StrCat("examples: expected a list of examples, found ", TypeName(examples.type())));
  }
  if (has_context && context.type() != dom::element_type::OBJECT) {
    return absl::InvalidArgumentError(absl::StrCat(
        "context: expected an object of feature name -> value, found ", TypeName(context.type())));
  }
  absl::StatusOr<std::vector<std::string>> heads = TfSignatureHeads(model, signature);
  if (!heads.ok()) return heads.status();
  if (regress && heads->size() != 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "regress answers one value per example, and signature '",
        signature.empty() ? "serving_default" : signature, "' has ", heads->size(), " heads (",
        absl::StrJoin(*heads, ", "), "); name one of them as \"signature_name\""));
  }
  out->heads = *std::move(heads);
  out->format = TfPredictFormat::kRow;
  RequestBuilder b(model, "examples", &out->request);
  dom::array rows = examples.get_array().value_unsafe();
  b.Resize(rows.size());
  size_t i = 0;
  for (dom::element row : rows) {
    if (IsB64(row)) {
      if (absl::Status s = b.AddExample(i, row, absl::StrCat("examples[", i, "]")); !s.ok()) {
        return s;
      }
    } else if (row.type() != dom::element_type::OBJECT) {
      return InvalidAt(absl::StrCat("examples[", i, "]"),
                       absl::StrCat("expected an object of feature name -> value, found ",
                                    TypeName(row.type())));
    } else {
      const dom::object row_object = row.get_object().value_unsafe();
      for (dom::key_value_pair field : row_object) {
        const absl::string_view name = ToAbsl(field.key);
        if (has_context &&
            context.get_object().value_unsafe()[field.key].error() == simdjson::SUCCESS) {
          return InvalidAt(b.Where(i, name),
                           "also given in \"context\"; features that appear in the context must "
                           "not appear in the examples");
        }
        if (absl::Status s = b.AddField(i, name, field.value); !s.ok()) return s;
      }
    }
    ++i;
  }
  if (has_context) {
    // Common to every example: user/context features once, the others in every candidate.
    const dom::object context_object = context.get_object().value_unsafe();
    for (dom::key_value_pair field : context_object) {
      const absl::string_view name = ToAbsl(field.key);
      const ModelFeature* f = b.Find(name);
      const bool shared = f != nullptr && f->side != ModelFeature::Side::kItem;
      for (size_t k = 0; k < (shared ? std::min<size_t>(1, b.size()) : b.size()); ++k) {
        FeatureValue v;
        const std::string where = absl::StrCat("context.", name);
        if (absl::Status s = ElementToValue(field.value, where, &v); !s.ok()) return s;
        if (absl::Status s = b.Add(k, name, std::move(v), where); !s.ok()) return s;
      }
    }
  }
  return absl::OkStatus();
}

std::string TfPredictResponse(TfPredictFormat format, const Scores& scores) {
  const bool row = format == TfPredictFormat::kRow;
  std::string out = row ? "{\"predictions\": " : "{\"outputs\": ";
  const size_t heads = scores.heads.size();
  if (heads == 1) {
    AppendList(scores.values[0], &out);
  } else if (!row) {
    out.push_back('{');
    for (size_t h = 0; h < heads; ++h) {
      if (h > 0) out.append(", ");
      AppendJsonString(scores.heads[h], &out);
      out.append(": ");
      AppendList(scores.values[h], &out);
    }
    out.push_back('}');
  } else {
    out.push_back('[');
    const size_t n = heads == 0 ? 0 : scores.values[0].size();
    for (size_t i = 0; i < n; ++i) {
      if (i > 0) out.append(", ");
      out.push_back('{');
      for (size_t h = 0; h < heads; ++h) {
        if (h > 0) out.append(", ");
        AppendJsonString(scores.heads[h], &out);
        out.append(": ");
        AppendNumber(scores.values[h][i], &out);
      }
      out.push_back('}');
    }
    out.push_back(']');
  }
  out.append("}\n");
  return out;
}

std::string TfClassifyResponse(const Scores& scores) {
  std::string out = "{\"results\": [";
  const size_t n = scores.heads.empty() ? 0 : scores.values[0].size();
  for (size_t i = 0; i < n; ++i) {
    if (i > 0) out.append(", ");
    out.push_back('[');
    for (size_t h = 0; h < scores.heads.size(); ++h) {
      if (h > 0) out.append(", ");
      out.push_back('[');
      AppendJsonString(scores.heads[h], &out);
      out.append(", ");
      AppendNumber(scores.values[h][i], &out);
      out.push_back(']');
    }
    out.push_back(']');
  }
  out.append("]}\n");
  return out;
}

std::string TfRegressResponse(const Scores& scores) {
  std::string out = "{\"results\": ";
  AppendList(scores.values.empty() ? std::vector<float>{} : scores.values[0], &out);
  out.append("}\n");
  return out;
}

std::string TfModelStatusResponse(const Model& model, absl::string_view leading) {
  std::string out = "{";
  if (!leading.empty()) absl::StrAppend(&out, leading, ", ");
  out.append("\"model_version_status\": [{\"version\": ");
  AppendJsonString(model.version(), &out);
  out.append(
      ", \"state\": \"AVAILABLE\", \"status\": {\"error_code\": \"OK\", \"error_message\": "
      "\"\"}}]}\n");
  return out;
}

std::string TfModelMetadataResponse(const Model& model) {
  std::string out = "{\"model_spec\": {\"name\": ";
  AppendJsonString(model.name(), &out);
  out.append(", \"signature_name\": \"\", \"version\": ");
  AppendJsonString(model.version(), &out);
  out.append("}, \"metadata\": {\"signature_def\": {\"signature_def\": {\"serving_default\": ");
  AppendSignature(model, model.heads(), &out);
  if (model.heads().size() > 1) {
    for (const std::string& head : model.heads()) {
      out.append(", ");
      AppendJsonString(head, &out);
      out.append(": ");
      AppendSignature(model, {head}, &out);
    }
  }
  out.append("}}}}\n");
  return out;
}

std::string TfErrorBody(absl::string_view message) {
  std::string out = "{\"error\": ";
  AppendJsonString(message, &out);
  out.append("}\n");
  return out;
}

bool IsTfServingVersion(absl::string_view version) {
  if (version.empty() || version.size() > 18) return false;
  for (char c : version) {
    if (!absl::ascii_isdigit(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

}  // namespace rankopt
