// TF Serving's REST API (tensorflow_serving/g3doc/api_rest.md) over a served Model: the JSON
// bodies of :predict, :classify and :regress turned into one rankopt Request, and the answers
// (predictions, outputs, results, model status, metadata, errors) written as TF Serving writes
// them, so an existing TF Serving client needs only the address changed. No sockets here:
// http_server.cc routes the requests.
//
// How a TF Serving body maps to a Request (one user/context, N candidates):
//   - Each instance (row format), each position of the columns (columnar format) or each example
//     (:classify/:regress) is one candidate.
//   - Features the package's config marks `side: user` or `side: context` are taken once: from the
//     first instance that sends them (columnar: a scalar, a one-entry column, or a column whose
//     entries are all equal). Every other instance that sends one must send the same value, else
//     400 ("instances[3].user_id differs from instances[0]: ... send one request per user").
//     :classify/:regress may send them in "context" instead.
//   - Other features (item side, or names the config does not know) go to the candidate.
//   - {"b64": "..."} as a feature's value is that feature's bytes (a string). As a whole instance,
//     or as the value of a name the config does not know (a serialized-example input such as
//     "examples"), it is a serialized tf.Example whose features join the row. When every feature
//     of the model is an item feature (a lifted TF export's), the bytes ride in
//     Request::candidate_examples and the feature pipeline decodes them straight into the
//     model's columns (its errors, e.g. a string for a numeric feature, are 400s naming the
//     feature and candidates[i]; a feature both in the example and beside it is one). Otherwise
//     they are decoded here (features/request/tf_example.h) so user/context features can be
//     routed and checked equal.
//   - A non-object instance (or an unnamed "inputs" column) is the value of the model's only
//     feature; with several features each instance must be an object.
// Values: integers, floats, strings, {"b64"}, flat lists of one kind (ints and floats mix into
// floats), null (missing: the config's default). Nested lists, booleans and strings sent for
// numeric features (or floats for string or id features) are 400 errors naming the place.
//
// Signatures: a head's name answers that head alone (TF exports one signature per head of a
// multi-head estimator); "" and "serving_default" (and TF's method names
// "tensorflow/serving/predict", ".../classify", ".../regress", and an Estimator export's
// "predict", "classification", "regression") answer every head. Heads are one score per candidate,
// so a prediction is a number, or an object of head -> number with several heads.
//
// Thread-safe: the parsers keep one simdjson parser per thread.
#ifndef RANKOPT_SERVING_HTTP_TF_SERVING_API_H_
#define RANKOPT_SERVING_HTTP_TF_SERVING_API_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "rankopt/model.h"
#include "rankopt/request.h"

namespace rankopt {

// The request format of :predict, which decides the answer's: row ("instances" ->
// "predictions") or columnar ("inputs" -> "outputs").
enum class TfPredictFormat { kRow, kColumnar };

// A parsed TF Serving request.
struct TfServingRequest {
  Request request;
  TfPredictFormat format = TfPredictFormat::kRow;
  std::vector<std::string> heads;  // the signature's heads (ScoreOptions::heads)
};

// True when a POST :predict body is TF Serving's rather than the native request JSON
// (request_json.h): its first top-level key is "instances", "inputs" or "signature_name". Scans
// only up to that key.
bool IsTfServingPredictBody(absl::string_view body);

// Parses a :predict body ({"signature_name", "instances" | "inputs"}) for `model` into `out`.
// Errors (InvalidArgument) name the place: "instances[2].price: found a string, expected a
// number (DT_FLOAT)".
absl::Status ParseTfPredictRequest(absl::string_view body, const Model& model,
                                   TfServingRequest* out);

// Parses a :classify or :regress body ({"signature_name", "context", "examples"}) into `out`.
// `regress` requires the signature to have one head.
absl::Status ParseTfExamplesRequest(absl::string_view body, const Model& model, bool regress,
                                    TfServingRequest* out);

// The heads `signature_name` answers (see the file comment); InvalidArgument naming the
// signatures there are.
absl::StatusOr<std::vector<std::string>> TfSignatureHeads(const Model& model,
                                                          absl::string_view signature_name);

// {"predictions": [...]} (row) or {"outputs": ...} (columnar) for `scores`.
std::string TfPredictResponse(TfPredictFormat format, const Scores& scores);
// {"results": [[["<head>", score], ...], ...]}: one label/score pair per head for each example.
std::string TfClassifyResponse(const Scores& scores);
// {"results": [score, ...]}. REQUIRES: one head.
std::string TfRegressResponse(const Scores& scores);
// GetModelStatusResponse as TF Serving prints it: {"model_version_status": [{"version": ...,
// "state": "AVAILABLE", "status": {"error_code": "OK", "error_message": ""}}]}. `leading` (JSON
// members, "" for none) comes first inside the object (rankopt's own name/version/heads).
std::string TfModelStatusResponse(const Model& model, absl::string_view leading);
// GetModelMetadataResponse: {"model_spec": ..., "metadata": {"signature_def": {"signature_def":
// {"serving_default": {"inputs": ..., "outputs": ..., "method_name": ...}, ...}}}}. Inputs are
// the features (DT_STRING / DT_INT64 / DT_FLOAT, shape [-1] or [-1, -1] for sequences), outputs
// the heads (DT_FLOAT, [-1]).
std::string TfModelMetadataResponse(const Model& model);
// {"error": "<message>"}: TF Serving's error body.
std::string TfErrorBody(absl::string_view message);

// A version path segment as TF Serving reads it: false unless all decimal digits (TF Serving
// answers 400 "Failed to convert version: X to numeric.").
bool IsTfServingVersion(absl::string_view version);

}  // namespace rankopt

#endif  // RANKOPT_SERVING_HTTP_TF_SERVING_API_H_
