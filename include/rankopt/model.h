// The serving API: a loaded model package scored from many threads.
//
// Example:
//   RANKOPT_ASSIGN_OR_RETURN(std::shared_ptr<const Model> model, Model::Load("din.rkp"));
//   Request request = ...;  // one user, N candidates
//   RANKOPT_ASSIGN_OR_RETURN(Scores scores, model->Score(request));
//   absl::Span<const float> ctr = scores.head(0);  // N scores
//
// A Model is immutable and safe for concurrent use. Each call borrows a scoring context (the
// transformed request, the graph feeds and the output buffers) from the model's pool and returns
// it, so after a few calls per thread ScoreInto asks the heap for nothing.
#ifndef RANKOPT_INCLUDE_RANKOPT_MODEL_H_
#define RANKOPT_INCLUDE_RANKOPT_MODEL_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "rankopt/model_stats.h"
#include "rankopt/request.h"

namespace rankopt {

// A result cache of a Model (sharded, LRU or CLOCK): off (capacity_bytes 0) by default.
struct CacheOptions {
  // Byte budget (entry charges: the cached tensors plus ~250 bytes of bookkeeping); 0 = off.
  size_t capacity_bytes = 0;
  // Entries older than this (since computed) are recomputed. InfiniteDuration(): no TTL.
  absl::Duration ttl = absl::InfiniteDuration();
  enum class Eviction { kLru, kClock };
  Eviction eviction = Eviction::kLru;
  // Warm start at Load: compute and store the results of the package's warm-up requests and of
  // `prefill_requests` (requests as JSON, like the package's warm-up requests: e.g. the hottest
  // users).
  bool prefill_from_warmup_requests = true;
  std::vector<std::string> prefill_requests;
};

// Embedding tables served from a Redis Cluster: a package whose tables were made remote
// (`rankopt optimize --tables-remote`, `rankopt tables publish -o`). Ignored for a package without
// remote tables. Scores equal the local tables' bit for bit; only failures differ (on_failure).
struct RemoteTableOptions {
  // Cluster nodes "HOST:PORT[,HOST:PORT...]" (any that answer); empty: the ones the package was
  // published to.
  std::string redis;
  // Per read/write of a node's pipelined batch (and per connect): a stalled node is cut off
  // after about this, per attempt.
  absl::Duration timeout = absl::Milliseconds(100);
  // What a request gets when rows cannot be fetched (a timeout, a lost node, a missing row):
  // kFail: the request fails with UNAVAILABLE (DATA_LOSS for a missing row); kDefaultRow: those
  // rows are the table's default row (all values 0) and counted
  // (rankopt_remote_rows_defaulted_total). A row of the wrong size always fails the request.
  enum class FailurePolicy { kFail, kDefaultRow };
  FailurePolicy on_failure = FailurePolicy::kFail;
  // The local row cache in front of the cluster (serving/remote/row_cache.h: each row costs its
  // bytes plus ~9 bytes; split over the tables by their size); a hit never touches the network.
  // 0 = off.
  size_t cache_bytes = size_t{64} << 20;
};


struct ModelOptions {
  // Threads that score the candidate chunks of one request (the caller's thread included).
  int threads = 1;
  // Candidate rows per chunk; 0 = automatic.
  int64_t chunk_rows = 0;
  // Bytes one request may use for the executor's intermediate tensors; 0 = no cap. A request over
  // it fails with ResourceExhausted instead of exhausting memory.
  size_t max_request_bytes = size_t{1} << 30;
  // Requests with more candidates are rejected (InvalidArgument).
  int64_t max_candidates = 100000;
  // Requests with a list feature value (a behaviour sequence) of more elements are rejected
  // (InvalidArgument) before any work; the feature config's max_len then pads/truncates.
  int64_t max_sequence_length = 10000;
  // Load limits: the package file, its graph, any single tensor.
  uint64_t max_package_bytes = uint64_t{64} << 30;
  int64_t max_graph_nodes = 1 << 20;
  uint64_t max_tensor_bytes = uint64_t{16} << 30;
  // Verify every blob's checksum at load.
  bool verify_checksums = true;
  // A package file smaller than this is read into private memory at load: nothing done to the
  // file afterwards (cp over it, writes in place, truncation) reaches the loaded model. A larger
  // one is mapped; then every Score checks (one fstat) that the file has not changed since its
  // checksums were verified, and fails with DataLoss once it has. 0 = map every package.
  uint64_t copy_package_below_bytes = uint64_t{1} << 30;
  // The version this model reports (version(), answers, metrics); empty = the package's own
  // (package_version()). ModelManager sets it to the version folder.
  std::string version_label;
  // Run the package's warm-up requests (if any) before Load returns.
  bool warm_up = true;
  // User-side result cache: the request-level part of an O2 graph (what the user and context
  // features alone determine: DIN's behaviour embeddings, the user half of a split first dense
  // layer) computed once per distinct user and reused across requests. Scores are bitwise equal
  // with it on or off. Keyed by the model's identity and the bytes of every user-part input;
  // lives in the Model, so a new version starts empty. Not applicable (stays off) to a graph
  // without request-level part.
  CacheOptions user_cache;
  // Item cache: the item-level part of an O2 graph (what one candidate's item features alone
  // determine: ESMM's item half of each tower's first dense layer) computed once per distinct
  // item row and reused across candidates and requests; only missed rows are computed, in one
  // batch. Scores are bitwise equal with it on or off. Keyed by the model's identity and the bytes of the row's item-part inputs;
  // lives in the Model, so a new version starts empty. Not applicable (stays off) to a graph
  // whose item part only reads tables (DIN) or has none. Combines with user_cache.
  CacheOptions item_cache;
  // Remote embedding tables (packages that name them): the cluster, timeout, failure policy and
  // local row cache. With user_cache / item_cache on, the cached parts are those that read no
  // remote row (the rows are fetched per request and fed whole), and a request with a defaulted
  // row caches nothing.
  RemoteTableOptions remote_tables;
};

struct ScoreOptions {
  // Output heads to return, by name; empty = every head, in package order.
  std::vector<std::string> heads;
};

// One raw feature a request sends, as the package's feature config reads it: for front ends that
// describe the model or split a flat row into user, context and candidate features (TF Serving's
// REST API in `rankopt serve`). Derived features (crosses, sequence lengths) are not listed.
struct ModelFeature {
  enum class Side { kUser, kContext, kItem };
  std::string name;
  Side side = Side::kItem;
  // The value type the config reads: "string" (hashed or vocabulary categoricals, which take
  // integers too, and numbers sent as strings), "int64" (identity ids) or "float".
  std::string dtype;
  bool list = false;  // a sequence: a list of values per row
};

// One score vector per requested head, each with one value per candidate.
struct Scores {
  std::vector<std::string> heads;
  std::vector<std::vector<float>> values;

  absl::Span<const float> head(size_t i) const { return values[i]; }
  // nullptr when absent.
  const std::vector<float>* Find(std::string_view head) const;
};

class Model {
 public:
  // Loads a package (`rankopt optimize -o`), builds its feature transformer and plan,
  // and (options.warm_up) runs its warm-up requests. Errors name the file and what is wrong.
  static absl::StatusOr<std::shared_ptr<const Model>> Load(const std::string& path,
                                                           const ModelOptions& options = {});

  ~Model();
  Model(const Model&) = delete;
  Model& operator=(const Model&) = delete;

  // Scores every candidate of `request`. Errors: a bad request (feature types, too many
  // candidates, a second user), a memory cap exceeded, an unknown head. Thread-safe.
  absl::StatusOr<Scores> Score(const Request& request, const ScoreOptions& options = {}) const;
  // Score into `scores`, reusing its vectors: the allocation-free path for a caller that keeps
  // one Scores per thread.
  absl::Status ScoreInto(const Request& request, const ScoreOptions& options,
                         Scores* scores) const;

  // Scores `request` and discards the result, without counting it in stats(): warm-up before a
  // model takes traffic (the per-thread executor state and the context pool grow here).
  absl::Status WarmUp(const Request& request) const;

  // Checks that the package's bytes are still those verified at load. For a mapped package: the
  // file (one fstat) and up to `scrub_bytes` more of its blobs' checksums, continuing where the
  // last call stopped (a background scrub calls this at a bounded rate). DataLoss, naming what
  // changed, once they are not (every Score fails from then on); OK for a copied package.
  // Thread-safe.
  absl::Status CheckPackage(uint64_t scrub_bytes = 0) const;
  // Whether the package is mapped from its file (ModelOptions::copy_package_below_bytes).
  bool package_mapped() const;

  const std::string& name() const;
  // ModelOptions::version_label, or the package's version when that is empty.
  const std::string& version() const;
  // The version written into the package (`rankopt optimize --model-version`).
  const std::string& package_version() const;
  const std::string& path() const;
  // The output heads, in package order.
  const std::vector<std::string>& heads() const;
  // The raw features of the package's feature config, in config order.
  const std::vector<ModelFeature>& features() const;
  // The package's warm-up requests (JSON).
  const std::vector<std::string>& warmup_requests() const;

  // Counters of this model's calls (and of its caches: stats().Caches()).
  const ModelStats& stats() const;
  // Counts in stats() a request its front end refused before calling Score (a body that does not
  // parse, over a size limit, another model's name), so that rankopt_errors_total holds every
  // failed request by reason. Score counts its own failures (reason "score"). Thread-safe.
  void RecordRefused(absl::StatusCode code, std::string_view reason) const;
  // Whether the user-side cache is on (ModelOptions::user_cache set and the graph splits).
  bool user_cache_enabled() const;
  // Whether the item cache is on (ModelOptions::item_cache set and the graph splits).
  bool item_cache_enabled() const;

 private:
  struct State;
  explicit Model(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

}  // namespace rankopt

#endif  // RANKOPT_INCLUDE_RANKOPT_MODEL_H_
