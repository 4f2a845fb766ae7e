// Turns a raw Request into the columns a model's graph inputs take: int64 ids (for embedding
// lookups) and float32 values, user/context columns once per request, item columns once per
// candidate. Driven by a FeatureConfig, validated and planned once at Create.
//
// Example:
//   RANKOPT_ASSIGN_OR_RETURN(FeatureConfig config, LoadFeatureConfig("configs/esmm.yaml"));
//   RANKOPT_ASSIGN_OR_RETURN(FeatureTransformer transformer,
//                            FeatureTransformer::Create(std::move(config)));
//   TransformedRequest out;  // keep one per thread: its buffers are reused
//   RANKOPT_RETURN_IF_ERROR(transformer.Transform(request, &out));
//   const FeatureColumn* item_ids = out.FindColumn("item_id");  // [N] int64
//
// Semantics (TF-compatible where TF has the op):
//   categorical hash:       HashBytes(string) or HashInteger(int, as_decimal) % hash_buckets.
//   categorical vocabulary: index in the vocabulary (integers looked up as their decimal text);
//                           unknown -> size + hash % oov_buckets (or the default if none).
//   categorical identity:   the integer itself; outside [0, num_buckets) -> default (counted in
//                           out_of_range).
//   numeric:                int, float (or text when from_string) -> normalize -> float value,
//                           or Bucketize(normalized, boundaries) id. NaN/Inf -> default (the
//                           default is a raw value and goes through the same steps).
//   sequence:               the surviving elements (the last max_len when keep_last) transformed
//                           like a categorical, then padding_id; longer lists count as truncated.
//   sequence_length:        the valid length of `length_of` after truncation (DIN's hist_len).
//   cross:                  CombineHashes over the crossed values % hash_buckets: raw strings/ints
//                           of hashed categoricals, ids of vocabulary/identity/bucketized ones;
//                           tf_fingerprint64 crosses use TF's key and int casts (sparse_cross).
//                           A missing crossed value gives the cross its default (id 0).
//   missing value (absent or std::monostate) -> the feature's default, counted.
//   request.candidate_examples (serialized tf.Examples): decoded straight into the columns, with
//                           ParseTfExample's meaning (tf_example.h: one value -> a scalar,
//                           several -> a list, an empty list -> missing, a key written twice ->
//                           its last entry) and the row rules below; one difference: a sequence
//                           feature's one-value list is a sequence of one (tf.Example has no
//                           scalars). A malformed example -> InvalidArgument "candidates[i]:
//                           malformed tf.Example: ..." naming the feature and byte offset.
//                           Errors come candidate by candidate (the row path reads every example
//                           before transforming, so with several bad candidates the two may name
//                           different ones first).
//   wrong value type, unknown feature (unless ignore_unknown_features), a feature sent in the
//   wrong section, a computed feature (cross, sequence_length) sent, a feature both in
//   candidates[i] and candidate_examples[i] -> InvalidArgument naming the
//   feature and "user", "context" or "candidates[i]".
//   no candidates -> item columns with 0 rows.
// Several numeric/id features may fill columns of one [B, C] input (input_column); if any of them
// is an item feature the column is item-side and request-level values are broadcast into every
// row (DIN's `dense`: columns 0-1 user, 2-3 item).
//
// Thread-safety: a FeatureTransformer is immutable after Create; Transform is safe to call from
// many threads at once, each with its own TransformedRequest.
#ifndef RANKOPT_FEATURES_PIPELINE_FEATURE_TRANSFORMER_H_
#define RANKOPT_FEATURES_PIPELINE_FEATURE_TRANSFORMER_H_

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "core/dtype.h"
#include "features/config/feature_config.h"
#include "features/pipeline/value_view.h"
#include "rankopt/request.h"

namespace rankopt {

// One graph input's tensor for one request.
struct FeatureColumn {
  std::string input;  // the graph input name
  // kItem: num_candidates rows; kUser/kContext: 1 row (the graph broadcasts it).
  FeatureSide side = FeatureSide::kUser;
  DType dtype = DType::kInt64;  // kInt64: `ids` holds the data; kFloat32: `values` does
  // [rows], [rows, max_len] (sequences) or [rows, C] (inputs shared by C features).
  std::vector<int64_t> dims;
  std::vector<int64_t> ids;
  std::vector<float> values;
  // The embedding table the ids index ("" for float columns or when the features disagree).
  // Columns naming the same table share one lookup table.
  std::string table;
  // The features that fill it; for shared inputs in column order (features[k] is column k).
  std::vector<std::string> features;
  // Anything a reader of the column should know ("user columns 0-1 broadcast into every row").
  std::string note;

  int64_t rows() const { return dims.empty() ? 0 : dims[0]; }
  // Elements per row: 1, max_len or C.
  int64_t width() const { return dims.size() < 2 ? 1 : dims[1]; }
};

// What happened to one feature's values in one request.
struct FeatureStats {
  std::string feature;
  int64_t defaults_applied = 0;  // missing, NaN/Inf, or unknown vocabulary value without OOV
  int64_t truncated = 0;         // sequences longer than max_len
  int64_t out_of_range = 0;      // identity ids outside [0, num_buckets) (replaced by default)
};

// The transformed request: one column per graph input, plus per-feature stats. Reuse one per
// thread: Transform keeps its buffers, so the same request shape allocates nothing again.
struct TransformedRequest {
  int64_t num_candidates = 0;
  std::vector<FeatureColumn> columns;  // in config order of each input's first feature
  std::vector<FeatureStats> stats;     // one per config feature, in config order

  // The column of graph input `input`, or nullptr.
  const FeatureColumn* FindColumn(absl::string_view input) const;
  // The stats of `feature`, or nullptr.
  const FeatureStats* FindStats(absl::string_view feature) const;

  // FeatureTransformer's working memory; not part of the result.
  struct Scratch {
    std::vector<transformer_internal::ValueView> slots;  // per feature: its value in the row
    std::vector<uint8_t> sent;                  // per feature: 0, 1 (in the row), 2 (example)
    std::vector<int64_t> lengths;               // per feature: valid sequence length
    std::array<std::vector<int32_t>, 3> order;  // per side: last row's entry -> feature index
    std::vector<int64_t> broadcast_ids;         // per feature: request-level value copied
    std::vector<float> broadcast_values;        //   into every row of an item column
    std::vector<uint64_t> cross_hashes;
    // A candidate's serialized tf.Example, decoded: its values (strings as views into the
    // request's bytes), per feature where they are, and per entry position the key seen there
    // last and its feature (examples of one request list their keys in the same order).
    struct ExampleSlot {
      int kind = 0;  // tf_example_wire::FeatureKind
      uint32_t begin = 0, count = 0;
    };
    std::vector<int64_t> example_ints;
    std::vector<double> example_floats;
    std::vector<absl::string_view> example_strings;
    std::vector<ExampleSlot> example_slots;  // per feature
    // The features the current example sent: the first num_example_features entries (sized
    // for every feature once, as each is listed at most once per example).
    std::vector<int> example_features;
    size_t num_example_features = 0;
    std::vector<std::string> example_keys;
    std::vector<int32_t> example_order;
    uint64_t owner = 0;  // id of the transformer that laid out `columns`
  } scratch;
};

class FeatureTransformer {
 public:
  // Validates `config` for transformation (inputs, columns, references) and plans every feature.
  // Errors name the feature and its config location.
  static absl::StatusOr<FeatureTransformer> Create(FeatureConfig config);

  FeatureTransformer(FeatureTransformer&&) noexcept;
  FeatureTransformer& operator=(FeatureTransformer&&) noexcept;
  ~FeatureTransformer();

  // Transforms `request` into `out` (its previous contents are overwritten, buffers reused).
  // On error `out` is in an unspecified but valid state.
  absl::Status Transform(const Request& request, TransformedRequest* out) const;

  // The config it was created from.
  const FeatureConfig& config() const;

  struct State;  // opaque: the plans, defined in feature_transformer.cc

 private:
  explicit FeatureTransformer(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

}  // namespace rankopt

#endif  // RANKOPT_FEATURES_PIPELINE_FEATURE_TRANSFORMER_H_
