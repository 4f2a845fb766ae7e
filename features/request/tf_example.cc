#include "features/request/tf_example.h"

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/inlined_vector.h"
#include "features/request/tf_example_wire.h"

namespace rankopt {
namespace {

namespace wire = tf_example_wire;

// One feature's values; strings are views into the example's bytes. Inline storage for the one
// value most features carry, so decoding asks the heap for nothing but the row's own strings.
struct FeatureValues {
  int kind = wire::kNone;
  absl::InlinedVector<absl::string_view, 1> strings;
  absl::InlinedVector<double, 1> floats;
  absl::InlinedVector<int64_t, 1> ints;

  // DecodeTfFeature's sink.
  void Kind(int k) {
    if (k != kind) {  // oneof: the last kind wins
      strings.clear();
      floats.clear();
      ints.clear();
      kind = k;
    }
  }
  void String(absl::string_view v) { strings.push_back(v); }
  void Float(float v) { floats.push_back(v); }
  void Int(int64_t v) { ints.push_back(v); }
};

FeatureValue ToValue(const FeatureValues& v) {
  switch (v.kind) {
    case wire::kBytes:
      if (v.strings.empty()) return std::monostate{};
      if (v.strings.size() == 1) return std::string(v.strings[0]);
      return std::vector<std::string>(v.strings.begin(), v.strings.end());
    case wire::kFloat:
      if (v.floats.empty()) return std::monostate{};
      if (v.floats.size() == 1) return v.floats[0];
      return std::vector<double>(v.floats.begin(), v.floats.end());
    case wire::kInt64:
      if (v.ints.empty()) return std::monostate{};
      if (v.ints.size() == 1) return v.ints[0];
      return std::vector<int64_t>(v.ints.begin(), v.ints.end());
    default:
      return std::monostate{};
  }
}

}  // namespace

absl::Status ParseTfExample(absl::string_view bytes, FeatureRow* row) {
  return wire::ForEachTfExampleFeature(
      bytes, [row](absl::string_view key, absl::string_view value, bool has_value) {
        FeatureValues values;
        if (has_value) {
          if (absl::Status s = wire::DecodeTfFeature(value, key, &values); !s.ok()) return s;
        }
        row->Set(key, ToValue(values));
        return absl::OkStatus();
      });
}

}  // namespace rankopt
