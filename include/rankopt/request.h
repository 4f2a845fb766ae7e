// A ranking request as raw feature values: one user (+ context) and N candidate items.
//
// A service fills Request directly (no text on the hot path); the command line, tests and HTTP
// front ends parse the JSON form with request_json.h. FeatureTransformer (features/pipeline/)
// turns a Request into the id and dense columns a model consumes.
//
// Thread-safety: plain values; concurrent const access is safe, mutation needs external locking.
#ifndef RANKOPT_INCLUDE_RANKOPT_REQUEST_H_
#define RANKOPT_INCLUDE_RANKOPT_REQUEST_H_

#include <cstdint>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "absl/strings/string_view.h"

namespace rankopt {

// One raw feature value. std::monostate means "missing" (the config's default applies).
// Strings are arbitrary bytes (no UTF-8 requirement): hashed features hash them as given.
using FeatureValue =
    std::variant<std::monostate, int64_t, double, std::string, std::vector<int64_t>,
                 std::vector<double>, std::vector<std::string>>;

// "missing", "int", "float", "string", "int list", "float list", "string list": for messages.
absl::string_view FeatureValueTypeName(const FeatureValue& value);

// The features of one user, context or candidate: name -> value.
//
// A flat vector of (name, value) in insertion order. Rows hold ~10 features, where a linear scan
// over contiguous entries beats hashing the name; FeatureTransformer reads entries in order and
// never calls Find per feature, so lookups stay off the hot path anyway.
class FeatureRow {
 public:
  using Entry = std::pair<std::string, FeatureValue>;

  FeatureRow() = default;
  // Example: FeatureRow row({{"user_id", int64_t{472}}, {"city", std::string("Paris")}});
  FeatureRow(std::initializer_list<Entry> entries);

  // Sets `name` to `value`, replacing an existing value of that name.
  void Set(absl::string_view name, FeatureValue value);
  // Appends without checking for an existing `name`. REQUIRES: `name` not in the row (else the
  // transformer reports a duplicate). For services filling rows from a fixed schema.
  void Append(std::string name, FeatureValue value) {
    entries_.emplace_back(std::move(name), std::move(value));
  }
  // The value of `name`, or nullptr when absent.
  const FeatureValue* Find(absl::string_view name) const;
  FeatureValue* FindMutable(absl::string_view name);

  // Removes every entry, keeping capacity.
  void Clear() { entries_.clear(); }
  size_t size() const { return entries_.size(); }
  bool empty() const { return entries_.empty(); }
  const std::vector<Entry>& entries() const { return entries_; }

 private:
  std::vector<Entry> entries_;
};

// One user and context, scored against every candidate.
struct Request {
  FeatureRow user;
  FeatureRow context;
  std::vector<FeatureRow> candidates;
  // Serialized tf.Example candidates (tensorflow/core/example/example.proto; TF Serving's
  // {"b64": ...} form): empty, or one per entry of `candidates`, whose features join that row's
  // (a name in both is an error; an empty string adds none). The feature pipeline decodes them
  // straight into the model's columns, never building FeatureRows: the fast way to send
  // tf.Examples. Meaning as ParseTfExample's (one value: a scalar, several: a list, an empty list:
  // missing, a key written twice: its last entry). Example:
  //   request.candidates.resize(examples.size());  // the rows may stay empty
  //   request.candidate_examples = examples;       // serialized tf.Examples
  std::vector<std::string> candidate_examples;
  // Optional click/conversion labels, one per candidate (0 or 1), for accuracy gates
  // (`rankopt optimize --sample`); empty when the request carries none. In JSON, a candidate's
  // "label" key (reserved: never a feature).
  std::vector<float> labels;
};

}  // namespace rankopt

#endif  // RANKOPT_INCLUDE_RANKOPT_REQUEST_H_
