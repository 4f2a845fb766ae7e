// Lift: a TensorFlow graph's feature transforms become a feature config, and the graph is cut
// where they end, so the native pipeline (features/) does the hashing, vocabularies and
// bucketizing and the graph starts at ids and floats (`rankopt lift MODEL -o DIR`).
//
// Per raw input (a signature input: a Placeholder, or an output of ParseExample/ParseExampleV2)
// the lifter follows the values forward through the ops it models, to the first tensor the rest
// of the graph reads. That tensor becomes a new graph input `lifted/<feature>` and the feature's
// config entry says how the request value becomes it:
//
//   graph pattern                                          feature config
//   int64 read as is                                       categorical, ids: passthrough
//   float (or Cast int -> float) read as is                numeric
//   StringToHashBucketFast(x), over AsString(int x)        categorical hash, tf_fingerprint64
//                                                          (hash_integers_as_decimal)
//   LookupTableFindV2 on a HashTableV2 filled by           categorical vocabulary (the file
//     InitializeTableFromTextFileV2 (assets/),             written beside the config); unknown
//     LookupTableImportV2 or InitializeTableV2 constants;  values: the table default or, with
//     + StringToHashBucketFast OOV (IdTableWithHashBuckets) oov_buckets, size + hash % oov
//   (x - c) / d with constant c, d > 0 (tf.Transform         numeric, normalize: standard
//     scale_to_z_score included)
//   Bucketize(x), UpperBound(b, x), tf.Transform           numeric boundaries (equal: above)
//     apply_buckets (BoostedTreesBucketize, a lower_bound,
//     over negated reversed boundaries)
//   LowerBound(b, x)                                       numeric boundaries, boundary_equal:
//                                                          below
//   a string read as ids of one vocabulary in several     categorical vocabulary + the dropped
//     forms (to_sparse_input's sparse indices and          value ("") as the last entry; each
//     looked-up values per scope, SparseToDense ids):      form rebuilt in-graph from the ids
//     what SparseCross and the embedding/linear combiners  (Where/GatherNd/SelectV2 on int64),
//     read                                                 so crosses and combiners run on them
//   SparseCross (hashed, TF's hash_key) whose inputs are  cross, tf_fingerprint64 (in
//     all such strings' sparse ids                         LiftResult::crosses); its sparse
//                                                          output rebuilt in-graph, rows with an
//                                                          absent value masked
// Constants are read through the small constant chains tf.Transform writes (sorts, reversals,
// shapes, sqrt). Anything else stays in the graph: the raw input is kept and LiftResult::kept
// says why (the op that was not modeled, or a value read in two different ways).
//
// Example:
//   RANKOPT_ASSIGN_OR_RETURN(Graph graph, LoadModel("export/1576111633"));
//   RANKOPT_ASSIGN_OR_RETURN(LiftResult lift, LiftFeatureTransforms(graph));
//   RANKOPT_RETURN_IF_ERROR(WriteLift(lift, "out/"));  // out/features.yaml, out/model/
//
// Stateless; safe for concurrent use on different graphs.
#ifndef RANKOPT_SERVING_LIFT_TF_LIFT_H_
#define RANKOPT_SERVING_LIFT_TF_LIFT_H_

#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "features/config/feature_config.h"
#include "graph/ir/graph.h"

namespace rankopt {

struct LiftOptions {
  // The signature whose inputs are the raw features. "": serving_default when present, else the
  // first signature; a graph without signatures uses its Placeholders.
  std::string signature;
  // The signature outputs to keep (keys); empty: all. A tf.Transform graph's label output
  // (taxi's tips_xf) reads features the model reads too; leaving it out lifts them. For a graph
  // without signatures (a GraphDef): the output tensors, as Graph::ResolveTensor takes them;
  // required there unless the graph has outputs.
  std::vector<std::string> outputs;
  // FeatureConfig::model of the result.
  std::string model_name = "lifted";
};

// One raw input whose transform moved into the config.
struct LiftedFeature {
  std::string feature;      // the request key (the signature input key)
  std::string graph_input;  // the new Placeholder, "lifted/<feature>"
  std::string cut_tensor;   // the tensor it replaces (several: joined with ", ")
  std::string how;          // "vocabulary of 11 + 10 OOV buckets", ...
  // Each tensor of the original graph the lifted input replaces, and the cut graph's tensor in
  // its place (the lifted input, a view of it, or the sparse ids rebuilt from it).
  std::vector<std::pair<std::string, std::string>> cuts;
};

// One raw input left in the graph, and why.
struct KeptFeature {
  std::string feature;
  std::string reason;
  bool unread = false;  // nothing in the graph reads it: no graph input stays for it
};

struct LiftResult {
  Graph graph{ModelFormat::kTfSavedModel};  // the cut graph, pruned to the signature's outputs
  // Every lifted feature (side: item; vocabularies inline, and vocabulary_file set to the file
  // name WriteLift gives them). ignore_unknown_features is set when the graph reads some raw
  // input not at all (as ParseExample ignores extra features). Not validated by
  // ParseFeatureConfig until written and read back.
  FeatureConfig config;
  std::vector<LiftedFeature> lifted;  // per raw input
  // Native `cross` features (computed, not sent): SparseCross nodes whose inputs all lifted.
  // feature is the cross's config name; cuts are the SparseCross outputs.
  std::vector<LiftedFeature> crosses;
  std::vector<KeptFeature> kept;
};

// Finds, lifts and cuts as described above. Errors (InvalidArgument/NotFound) name the node or
// asset: a signature that does not exist, a vocabulary file that cannot be read. A graph with
// nothing to lift is not an error (every input is in `kept`).
absl::StatusOr<LiftResult> LiftFeatureTransforms(const Graph& graph,
                                                 const LiftOptions& options = {});

// Writes <dir>/features.yaml (vocabularies as <dir>/<feature>.vocab, one value a line) and the
// cut graph: <dir>/model/ for a SavedModel, <dir>/model.pb (.pbtxt) for a GraphDef. Then loads
// features.yaml back to check it. Creates `dir`.
absl::Status WriteLift(const LiftResult& result, const std::string& dir);

// The text report: lifted features (input, how) and kept ones (why).
std::string LiftReportText(const LiftResult& result);

}  // namespace rankopt

#endif  // RANKOPT_SERVING_LIFT_TF_LIFT_H_
