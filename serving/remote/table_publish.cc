#include "serving/remote/table_publish.h"

#include <algorithm>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "rankopt/status_macros.h"
#include "serving/package/model_package.h"

#define XXH_INLINE_ALL
#include <xxhash.h>

namespace rankopt {

namespace {

// The first failed reply of `replies` as a status, or OK when every reply is `ok`.
absl::Status FirstFailure(const std::vector<RedisReply>& replies, const char* what,
                          bool (*ok)(const RedisReply&)) {
  for (const RedisReply& r : replies) {
    if (ok(r)) continue;
    return absl::UnavailableError(
        absl::StrCat(what, " failed: ",
                     r.kind == RedisReply::Kind::kFailed || r.kind == RedisReply::Kind::kError
                         ? r.str
                         : "unexpected reply"));
  }
  return absl::OkStatus();
}

bool IsOk(const RedisReply& r) { return r.kind == RedisReply::Kind::kStatus; }
bool IsNumber(const RedisReply& r) { return r.kind == RedisReply::Kind::kInteger; }

absl::Status SetOne(RedisCluster* cluster, const std::string& key, const std::string& value) {
  std::vector<RedisReply> replies;
  cluster->Execute({RedisCommand{key, {"SET", key, value}}}, &replies);
  return FirstFailure(replies, absl::StrCat("SET ", key).c_str(), IsOk);
}

// Writes rows [from, rows) in batches, #progress after each.
absl::Status WriteRows(const RemotableTable& t, int64_t from, RedisCluster* cluster,
                       const PublishOptions& options, int64_t* written) {
  const RemoteTableDesc& d = t.desc;
  const std::string progress_key = absl::StrCat(d.key_prefix, "#progress");
  const char* bytes = t.value.bytes().data();
  std::vector<std::string> keys;
  std::vector<RedisCommand> commands;
  std::vector<RedisReply> replies;
  int64_t last_report = from;
  for (int64_t begin = from; begin < d.rows; begin += options.batch_rows) {
    const int64_t end = std::min(d.rows, begin + options.batch_rows);
    keys.clear();
    commands.clear();
    for (int64_t id = begin; id < end; ++id) keys.push_back(absl::StrCat(d.key_prefix, id));
    for (int64_t id = begin; id < end; ++id) {
      const std::string& key = keys[static_cast<size_t>(id - begin)];
      commands.push_back(RedisCommand{
          key, {"SET", key, absl::string_view(bytes + static_cast<size_t>(id) * d.row_bytes,
                                             d.row_bytes)}});
    }
    cluster->Execute(commands, &replies);
    RANKOPT_RETURN_IF_ERROR(FirstFailure(
        replies, absl::StrCat("writing rows [", begin, ", ", end, ") of '", d.table, "'").c_str(),
        IsOk));
    RANKOPT_RETURN_IF_ERROR(SetOne(cluster, progress_key, absl::StrCat(end)));
    *written += end - begin;
    if (options.progress && (end == d.rows || end - last_report >= d.rows / 10)) {
      options.progress(absl::StrCat(d.table, ": ", end, " / ", d.rows, " rows written"));
      last_report = end;
    }
  }
  return absl::OkStatus();
}

// Reads every row back: the count and xxh64 must be the package's.
absl::Status VerifyRows(const RemotableTable& t, RedisCluster* cluster,
                        const PublishOptions& options) {
  const RemoteTableDesc& d = t.desc;
  XXH64_state_t* state = XXH64_createState();
  std::unique_ptr<XXH64_state_t, XXH_errorcode (*)(XXH64_state_t*)> owner(state, XXH64_freeState);
  XXH64_reset(state, 0);
  std::vector<std::string> keys;
  std::vector<RedisReply> replies;
  int64_t present = 0;
  for (int64_t begin = 0; begin < d.rows; begin += options.batch_rows) {
    const int64_t end = std::min(d.rows, begin + options.batch_rows);
    keys.clear();
    for (int64_t id = begin; id < end; ++id) keys.push_back(absl::StrCat(d.key_prefix, id));
    cluster->Get(keys, &replies);
    for (size_t i = 0; i < replies.size(); ++i) {
      const RedisReply& r = replies[i];
      if (r.kind == RedisReply::Kind::kFailed || r.kind == RedisReply::Kind::kError) {
        return absl::UnavailableError(
            absl::StrCat("verifying '", d.table, "': reading ", keys[i], " failed: ", r.str));
      }
      if (r.kind != RedisReply::Kind::kString || r.str.size() != d.row_bytes) {
        return absl::DataLossError(absl::StrCat(
            "verifying '", d.table, "': ", keys[i],
            r.kind == RedisReply::Kind::kNil ? " is missing"
                                             : absl::StrCat(" has ", r.str.size(), " bytes"),
            "; expected a ", d.row_bytes, "-byte row"));
      }
      ++present;
      XXH64_update(state, r.str.data(), r.str.size());
    }
  }
  const uint64_t hash = XXH64_digest(state);
  if (present != d.rows || hash != d.xxh64) {
    return absl::DataLossError(absl::StrCat(
        "verifying '", d.table, "': read back ", present, " rows with xxh64 ", absl::Hex(hash),
        "; the package has ", d.rows, " rows with xxh64 ", absl::Hex(d.xxh64)));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<PublishReport> PublishTables(const Graph& graph, const std::string& model,
                                            const std::string& version, RedisCluster* cluster,
                                            const PublishOptions& options) {
  if (options.batch_rows < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("batch rows is ", options.batch_rows, "; expected >= 1"));
  }
  if (model.empty() || version.empty()) {
    return absl::InvalidArgumentError(
        "the package needs a model name and version to publish its tables under");
  }
  PublishReport report;
  RANKOPT_ASSIGN_OR_RETURN(report.remotable,
                           FindRemotableTables(graph, model, version, options.tables,
                                               &report.skipped));
  for (const RemotableTable& t : report.remotable) {
    const RemoteTableDesc& d = t.desc;
    PublishedTable out;
    out.desc = d;
    out.bytes = static_cast<uint64_t>(d.rows) * d.row_bytes;
    const std::string ready_key = absl::StrCat(d.key_prefix, "#ready");
    const std::string progress_key = absl::StrCat(d.key_prefix, "#progress");
    std::vector<RedisReply> replies;
    cluster->Get(std::vector<std::string>{ready_key, progress_key}, &replies);
    for (const RedisReply& r : replies) {
      if (r.kind == RedisReply::Kind::kFailed || r.kind == RedisReply::Kind::kError) {
        return absl::UnavailableError(
            absl::StrCat("reading the markers of '", d.table, "' failed: ", r.str));
      }
    }
    if (replies[0].kind == RedisReply::Kind::kString) {
      if (replies[0].str != d.ReadyMarker()) {
        return absl::FailedPreconditionError(absl::StrCat(
            "table '", d.table, "' of ", model, " version ", version,
            " is already published with other content (", replies[0].str, " vs ",
            d.ReadyMarker(), "): publish under a new version, or `rankopt tables drop` first"));
      }
      out.already_published = true;
      if (options.progress) options.progress(absl::StrCat(d.table, ": already published"));
      report.tables.push_back(std::move(out));
      continue;
    }
    int64_t from = 0;
    if (replies[1].kind == RedisReply::Kind::kString &&
        absl::SimpleAtoi(replies[1].str, &from) && from > 0 && from <= d.rows) {
      out.rows_resumed = from;
      if (options.progress) {
        options.progress(absl::StrCat(d.table, ": resuming at row ", from, " of ", d.rows));
      }
    } else {
      from = 0;
    }
    RANKOPT_RETURN_IF_ERROR(WriteRows(t, from, cluster, options, &out.rows_written));
    absl::Status verified = VerifyRows(t, cluster, options);
    if (!verified.ok()) {
      // Start over next time: the rows in the cluster are not the package's.
      (void)SetOne(cluster, progress_key, "0");
      return verified;
    }
    RANKOPT_RETURN_IF_ERROR(SetOne(cluster, ready_key, d.ReadyMarker()));
    if (options.progress) {
      options.progress(absl::StrCat(d.table, ": ", d.rows, " rows verified (xxh64 ",
                                    absl::Hex(d.xxh64, absl::kZeroPad16), "), ready"));
    }
    report.tables.push_back(std::move(out));
  }
  return report;
}

absl::StatusOr<int64_t> DropVersion(RedisCluster* cluster, const std::string& model,
                                    const std::string& version) {
  const std::string pattern = RemoteVersionPattern(model, version);
  std::vector<std::string> keys;
  for (const RedisEndpoint& node : cluster->Primaries()) {
    RANKOPT_RETURN_IF_ERROR(cluster->ScanNode(node, pattern, 1000, &keys));
  }
  // Markers first: from here on no model load accepts the version.
  std::stable_partition(keys.begin(), keys.end(), [](const std::string& k) {
    return absl::EndsWith(k, ":#ready");
  });
  int64_t dropped = 0;
  std::vector<RedisCommand> commands;
  std::vector<RedisReply> replies;
  constexpr size_t kBatch = 2000;
  for (size_t begin = 0; begin < keys.size(); begin += kBatch) {
    const size_t end = std::min(keys.size(), begin + kBatch);
    commands.clear();
    for (size_t i = begin; i < end; ++i) commands.push_back(RedisCommand{keys[i], {"UNLINK", keys[i]}});
    cluster->Execute(commands, &replies);
    RANKOPT_RETURN_IF_ERROR(FirstFailure(replies, "UNLINK", IsNumber));
    for (const RedisReply& r : replies) dropped += r.integer;
  }
  return dropped;
}

namespace {

absl::StatusOr<std::unique_ptr<RedisCluster>> ConnectTo(const std::string& redis,
                                                       absl::Duration timeout) {
  RedisClusterOptions options;
  RANKOPT_ASSIGN_OR_RETURN(options.seeds, ParseRedisEndpoints(redis));
  options.timeout = timeout;
  options.connect_timeout = timeout;
  absl::StatusOr<std::unique_ptr<RedisCluster>> cluster = RedisCluster::Connect(options);
  if (!cluster.ok()) {
    return absl::UnavailableError(
        absl::StrCat("Redis Cluster at ", redis, ": ", cluster.status().message()));
  }
  return cluster;
}

}  // namespace

absl::StatusOr<PublishReport> PublishPackage(const PublishPackageOptions& options) {
  RANKOPT_ASSIGN_OR_RETURN(ModelPackage package, ReadModelPackage(options.package_path));
  RANKOPT_ASSIGN_OR_RETURN(std::unique_ptr<RedisCluster> cluster,
                           ConnectTo(options.redis, options.timeout));
  absl::StatusOr<PublishReport> report =
      PublishTables(package.graph, package.model_name, package.model_version, cluster.get(),
                    options.publish);
  if (!report.ok()) {
    return absl::Status(report.status().code(),
                        absl::StrCat(options.package_path, ": ", report.status().message()));
  }
  if (!options.remote_package_path.empty()) {
    RANKOPT_RETURN_IF_ERROR(MakeTablesRemote(report->remotable, options.redis, &package.graph));
    RANKOPT_RETURN_IF_ERROR(WriteModelPackage(package, options.remote_package_path));
  }
  return report;
}

absl::StatusOr<int64_t> DropPublishedVersion(const std::string& redis, const std::string& model,
                                             const std::string& version) {
  RANKOPT_ASSIGN_OR_RETURN(std::unique_ptr<RedisCluster> cluster,
                           ConnectTo(redis, absl::Seconds(2)));
  return DropVersion(cluster.get(), model, version);
}

}  // namespace rankopt
