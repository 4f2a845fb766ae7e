// Publishing a package's embedding tables into a Redis Cluster, and dropping a published version
// (`rankopt tables publish|drop`).
//
// Publish, per table (keys as serving/remote/remote_graph.h names them): rows are written in
// pipelined batches of SETs, and after each acknowledged batch the table's #progress marker
// records how many rows are in, so an interrupted publish resumes there. Then every row is read
// back and its count and xxh64 compared with the package's; only then is the #ready marker
// ("dtype rows dim xxh64") written. Serving refuses a table without a matching #ready, so a
// half-published version is never served. Publishing again is idempotent: a table whose #ready
// matches is left alone; one whose #ready differs (another build under the same version) is an
// error, never overwritten.
//
// Drop removes the #ready markers of a version first (no new model loads it), then every key of
// the version on every primary (SCAN + UNLINK in pipelined batches).
#ifndef RANKOPT_SERVING_REMOTE_TABLE_PUBLISH_H_
#define RANKOPT_SERVING_REMOTE_TABLE_PUBLISH_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "embedding/remote/redis_cluster.h"
#include "graph/ir/graph.h"
#include "serving/remote/remote_graph.h"

namespace rankopt {

struct PublishOptions {
  // Tables to publish by name; empty: every table that can move (FindRemotableTables).
  std::vector<std::string> tables;
  // Rows per pipelined batch.
  int64_t batch_rows = 2000;
  // Called with a line of progress now and then (may be empty).
  std::function<void(const std::string&)> progress;
};

struct PublishedTable {
  RemoteTableDesc desc;
  int64_t rows_written = 0;  // this run
  int64_t rows_resumed = 0;  // already in from an interrupted run
  bool already_published = false;
  uint64_t bytes = 0;
};

struct PublishReport {
  std::vector<PublishedTable> tables;
  std::vector<std::string> skipped;  // tables that cannot move, with why
  std::vector<RemotableTable> remotable;  // what MakeTablesRemote takes to name them remotely
};

// Publishes the tables of `graph` (model `model`, version `version`). Errors: Unavailable when
// the cluster does not take or return rows, DataLoss when the rows read back differ,
// FailedPrecondition when the version holds another build's table.
absl::StatusOr<PublishReport> PublishTables(const Graph& graph, const std::string& model,
                                            const std::string& version, RedisCluster* cluster,
                                            const PublishOptions& options);

// Removes every key of model `model` version `version`; returns how many.
absl::StatusOr<int64_t> DropVersion(RedisCluster* cluster, const std::string& model,
                                    const std::string& version);

// `rankopt tables publish PACKAGE --redis ... [-o REMOTE.rkp]`: reads the package (a local one:
// its tables inside), publishes its tables under its model name and version and, with
// `remote_package_path`, writes the package again with the published tables named instead of
// carried (as `rankopt optimize --tables-remote` would).
struct PublishPackageOptions {
  std::string package_path;
  std::string redis;  // "HOST:PORT,..."
  PublishOptions publish;
  std::string remote_package_path;  // empty: none
  absl::Duration timeout = absl::Seconds(2);
};
absl::StatusOr<PublishReport> PublishPackage(const PublishPackageOptions& options);

// `rankopt tables drop`: DropVersion on the cluster at `redis`.
absl::StatusOr<int64_t> DropPublishedVersion(const std::string& redis, const std::string& model,
                                             const std::string& version);

}  // namespace rankopt

#endif  // RANKOPT_SERVING_REMOTE_TABLE_PUBLISH_H_
