// The remote-table flags `serve`, `run` and `bench` share (--redis, --remote-timeout-ms,
// --remote-on-failure, --remote-cache-mb) and their reading into RemoteTableOptions.
#ifndef RANKOPT_TOOLS_REMOTE_FLAGS_H_
#define RANKOPT_TOOLS_REMOTE_FLAGS_H_

#include <vector>

#include "absl/status/statusor.h"
#include "rankopt/model.h"
#include "tools/command_line.h"

namespace rankopt {

std::vector<FlagSpec> RemoteTableFlagSpecs();

// The flags given, over RemoteTableOptions' defaults. Errors name the flag, the value and the
// range expected.
absl::StatusOr<RemoteTableOptions> ReadRemoteTableFlags(const CommandLine& line);

}  // namespace rankopt

#endif  // RANKOPT_TOOLS_REMOTE_FLAGS_H_
