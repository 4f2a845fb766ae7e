// What `rankopt optimize --help` prints, shared by the command and the Python module's
// rankopt.optimize docstring (python/), so the two cannot drift apart.
#ifndef RANKOPT_TOOLS_OPTIMIZE_SPEC_H_
#define RANKOPT_TOOLS_OPTIMIZE_SPEC_H_

#include "tools/command_line.h"

namespace rankopt {

// The optimize command's usage, description and flags (FormatCommandHelp prints them).
const CommandSpec& OptimizeCommandSpec();

}  // namespace rankopt

#endif  // RANKOPT_TOOLS_OPTIMIZE_SPEC_H_
