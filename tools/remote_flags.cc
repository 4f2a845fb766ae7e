#include "tools/remote_flags.h"

#include <cstdint>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace rankopt {

std::vector<FlagSpec> RemoteTableFlagSpecs() {
  return {
      {"redis", "", true, "HOST:PORT,...",
       "remote tables: the Redis Cluster to read them from (default: the one the package "
       "names)"},
      {"remote-timeout-ms", "", true, "MS",
       "remote tables: per-call timeout of a node's batch (default 100)"},
      {"remote-on-failure", "", true, "fail|default_row",
       "remote tables: on a timeout, lost node or missing row fail the request (default, "
       "UNAVAILABLE) or serve the table's default row (zeros), counted in "
       "rankopt_remote_rows_defaulted_total"},
      {"remote-cache-mb", "", true, "MB",
       "remote tables: local row cache per model version, in MiB (default 64; 0 = off)"},
  };
}

absl::StatusOr<RemoteTableOptions> ReadRemoteTableFlags(const CommandLine& line) {
  RemoteTableOptions remote;
  remote.redis = line.Get("redis", remote.redis);
  absl::StatusOr<int64_t> timeout_ms =
      line.GetInt("remote-timeout-ms", absl::ToInt64Milliseconds(remote.timeout), 1, 600000);
  if (!timeout_ms.ok()) return timeout_ms.status();
  absl::StatusOr<int64_t> cache_mb = line.GetInt(
      "remote-cache-mb", static_cast<int64_t>(remote.cache_bytes >> 20), 0, int64_t{1} << 20);
  if (!cache_mb.ok()) return cache_mb.status();
  remote.timeout = absl::Milliseconds(*timeout_ms);
  remote.cache_bytes = static_cast<size_t>(*cache_mb) << 20;
  const std::string on_failure = line.Get("remote-on-failure", "fail");
  if (on_failure != "fail" && on_failure != "default_row") {
    return absl::InvalidArgumentError(
        absl::StrCat("--remote-on-failure: '", on_failure, "'; expected fail or default_row"));
  }
  remote.on_failure = on_failure == "fail" ? RemoteTableOptions::FailurePolicy::kFail
                                           : RemoteTableOptions::FailurePolicy::kDefaultRow;
  return remote;
}

}  // namespace rankopt
