// Serialized tf.Example (tensorflow/core/example/example.proto) -> FeatureRow, without protobuf:
// a bounds-checked reader of the wire format, so an untrusted request never reaches a generated
// parser and features/ stays free of graph/tf.
//
//   tf.Example feature           FeatureRow value
//   bytes_list  [v]              std::string v
//   int64_list  [v]              int64_t v
//   float_list  [v]              double v (the float widened exactly)
//   a list of 2 or more values   std::vector<std::string | int64_t | double>
//   an empty list / no kind      std::monostate (missing: the config's default applies, as
//                                ParseExample's default_value does)
// A key written twice means its last entry (protobuf's map rule). Unknown fields are skipped.
//
// Example:
//   FeatureRow row;
//   RANKOPT_RETURN_IF_ERROR(ParseTfExample(bytes, &row));
//
// Stateless; safe for concurrent use.
#ifndef RANKOPT_FEATURES_REQUEST_TF_EXAMPLE_H_
#define RANKOPT_FEATURES_REQUEST_TF_EXAMPLE_H_

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "rankopt/request.h"

namespace rankopt {

// Adds every feature of the serialized tf.Example `bytes` to `row` (replacing values of the same
// name). Errors (InvalidArgument) name the feature and the byte offset where the bytes are
// malformed: truncated varints or lengths, wrong wire types. Names and values are taken as bytes
// (no UTF-8 check). On error `row` holds the features read before the fault.
absl::Status ParseTfExample(absl::string_view bytes, FeatureRow* row);

}  // namespace rankopt

#endif  // RANKOPT_FEATURES_REQUEST_TF_EXAMPLE_H_
