// Serves the newest valid version of a model from a directory of versions, like TF Serving's
// version folders: <root>/<version>/model.rkp, where <version> is a decimal number. Load() (or the
// poll thread, or Reload()) looks for the highest version not yet tried; it loads and warms it up
// in the background and then swaps it in atomically. Calls in flight finish on the old version,
// which is freed when its last call returns. A version that fails to load (truncated, corrupt
// checksum, bad graph, failed warm-up) is rejected: the error goes to the log and the stats, it
// is not tried again, and the current version keeps serving.
//
// The serving version's file is watched too: when it is replaced or changed in place (its inode,
// size, mtime or ctime move) or a scrub of a mapped package finds a blob whose checksum no longer
// matches, the poll loads that version again and swaps it in if it verifies; until then a copied
// package (the default below ModelOptions::copy_package_below_bytes) keeps serving its verified
// copy and a mapped one answers DataLoss. A new version must be the same model (its name and
// output heads) unless allow_model_change. `root` may also be one package file, watched the same
// way. Publish new versions by rename: write a version folder (or a file next to the package) and
// `mv` it into place.
//
// Example:
//   RANKOPT_ASSIGN_OR_RETURN(std::unique_ptr<ModelManager> manager,
//                            ModelManager::Create("/models/din", {.poll_interval_s = 10}));
//   std::shared_ptr<const Model> model = manager->Current();  // hold it for one request
//   RANKOPT_ASSIGN_OR_RETURN(Scores scores, model->Score(request));
#ifndef RANKOPT_INCLUDE_RANKOPT_MODEL_MANAGER_H_
#define RANKOPT_INCLUDE_RANKOPT_MODEL_MANAGER_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "rankopt/model.h"
#include "rankopt/request.h"

namespace rankopt {

struct ModelManagerOptions {
  ModelOptions model;
  // Seconds between directory polls; 0 = no poll thread (call Reload()).
  double poll_interval_s = 0;
  // Warm-up requests used in addition to the package's own.
  std::vector<Request> warmup_requests;
  // Where load errors go besides the stats (default: stderr, one line each).
  std::function<void(const std::string&)> log;
  // Accept a version whose model name or output heads differ from the serving version's. Off:
  // such a version is rejected (counted in identity_rejected, logged) and the old one keeps
  // serving, so a package dropped into the wrong directory is never served.
  bool allow_model_change = false;
  // Checksum scrub of a mapped package's blobs on the poll thread, in bytes per second (0 = off).
  // A copied package needs none.
  double scrub_bytes_per_s = 64 << 20;
};

// What the manager did, for stats and tests.
struct ModelManagerCounters {
  int64_t loads = 0;     // versions loaded and swapped in
  int64_t rejected = 0;  // versions that failed to load or warm up (identity_rejected included)
  int64_t identity_rejected = 0;  // versions of another model name or other output heads
  int64_t package_changes = 0;    // times the serving version's file changed under it
  std::string current_version;
  std::string last_error;  // of the last rejected version
};

class ModelManager {
 public:
  // Loads the newest loadable version synchronously; an error when none loads (each rejected
  // version's error is in the message). Starts the poll thread when poll_interval_s > 0.
  static absl::StatusOr<std::unique_ptr<ModelManager>> Create(const std::string& root,
                                                              ModelManagerOptions options = {});
  ~ModelManager();  // stops the poll thread

  // The serving version; never null. Hold the pointer for the duration of one request.
  std::shared_ptr<const Model> Current() const;

  // Scans the directory now and, if a newer version than the current one exists and loads,
  // swaps it in (synchronously). Returns OK when nothing newer exists or the swap happened; the
  // load error when the newest untried version was rejected (the old version keeps serving).
  absl::Status Reload();

  ModelManagerCounters counters() const;
  // Prometheus text of the current model's stats plus the manager's counters.
  std::string PrometheusText() const;

  struct State;

 private:
  explicit ModelManager(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

}  // namespace rankopt

#endif  // RANKOPT_INCLUDE_RANKOPT_MODEL_MANAGER_H_
