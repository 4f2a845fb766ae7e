// A bounds-checked reader of serialized tf.Example protos (tensorflow/core/example/example.proto:
// Example{features: Features{map<string, Feature> feature}}, Feature = oneof bytes_list /
// float_list / int64_list), without protobuf's generated code: ParseExample kernels read
// examples straight from their request bytes, and bytes values stay views into them.
// Thread-safe (no state). Malformed input -> an InvalidArgument status, never a crash.
#ifndef RANKOPT_GRAPH_KERNELS_FEATURES_TF_EXAMPLE_H_
#define RANKOPT_GRAPH_KERNELS_FEATURES_TF_EXAMPLE_H_

#include <cstdint>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace rankopt {

// One decoded Feature. Views point into the serialized bytes.
struct ExampleFeature {
  enum class Kind { kEmpty, kBytes, kFloat, kInt64 };
  Kind kind = Kind::kEmpty;  // kEmpty: a Feature with no list set
  std::vector<absl::string_view> bytes;
  std::vector<float> floats;
  std::vector<int64_t> ints;

  // "bytes_list", "float_list", "int64_list" or "no list".
  absl::string_view KindName() const;
  size_t size() const;
  void Clear();
};

// Calls `visit(key, feature_bytes)` for every map entry of the Example, in wire order (a key
// may repeat; protobuf's map semantics make the last one win). Errors on malformed wire data.
absl::Status ForEachExampleFeature(
    absl::string_view example,
    absl::FunctionRef<absl::Status(absl::string_view key, absl::string_view feature)> visit);

// Decodes one serialized Feature into `out` (cleared first).
absl::Status DecodeExampleFeature(absl::string_view feature, ExampleFeature* out);

}  // namespace rankopt

#endif  // RANKOPT_GRAPH_KERNELS_FEATURES_TF_EXAMPLE_H_
