// A raw feature value as the per-kind transforms read it (feature_values.h): its kind and a span
// of its elements, over a FeatureValue of a FeatureRow or over values decoded from a serialized
// tf.Example (strings as views into the example's bytes). Both convert without copying, so the
// FeatureRow path and the tf.Example path run the same transforms. Internal to features/pipeline.
#ifndef RANKOPT_FEATURES_PIPELINE_VALUE_VIEW_H_
#define RANKOPT_FEATURES_PIPELINE_VALUE_VIEW_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <variant>
#include <vector>

#include "absl/strings/string_view.h"
#include "rankopt/request.h"

namespace rankopt::transformer_internal {

struct ValueView {
  // FeatureValue's alternative index, so FeatureValueTypeName's words name a view's type too.
  enum Kind : int {
    kMissing = 0,
    kInt = 1,
    kFloat = 2,
    kString = 3,
    kIntList = 4,
    kFloatList = 5,
    kStringList = 6,
  };

  Kind kind = kMissing;
  size_t size = 0;  // elements: 1 for scalars, 0 when missing
  const int64_t* ints = nullptr;
  const double* floats = nullptr;
  const std::string* strings = nullptr;      // a FeatureValue's strings, or
  const absl::string_view* views = nullptr;  // views (tf.Example bytes)

  ValueView() = default;
  // Implicit: the view of `*value`; null is missing. REQUIRES: `*value` outlives the view.
  ValueView(const FeatureValue* value) {  // NOLINT(google-explicit-constructor)
    if (value == nullptr) return;
    kind = static_cast<Kind>(value->index());
    size = 1;
    switch (kind) {
      case kMissing:
        size = 0;
        break;
      case kInt:
        ints = &std::get<int64_t>(*value);
        break;
      case kFloat:
        floats = &std::get<double>(*value);
        break;
      case kString:
        strings = &std::get<std::string>(*value);
        break;
      case kIntList:
        ints = std::get<std::vector<int64_t>>(*value).data();
        size = std::get<std::vector<int64_t>>(*value).size();
        break;
      case kFloatList:
        floats = std::get<std::vector<double>>(*value).data();
        size = std::get<std::vector<double>>(*value).size();
        break;
      case kStringList:
        strings = std::get<std::vector<std::string>>(*value).data();
        size = std::get<std::vector<std::string>>(*value).size();
        break;
    }
  }

  bool missing() const { return kind == kMissing; }
  // REQUIRES: a string kind, i < size.
  absl::string_view string(size_t i) const {
    return views != nullptr ? views[i] : absl::string_view(strings[i]);
  }
  // "missing", "int", ... "string list" (FeatureValueTypeName's words).
  absl::string_view TypeName() const {
    static constexpr absl::string_view kNames[] = {"missing",  "int",        "float",      "string",
                                                   "int list", "float list", "string list"};
    return kNames[kind];
  }
};

}  // namespace rankopt::transformer_internal

#endif  // RANKOPT_FEATURES_PIPELINE_VALUE_VIEW_H_
