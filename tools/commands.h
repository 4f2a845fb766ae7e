// The rankopt subcommands. Each takes the arguments after its name, prints its report to
// stdout and errors to stderr, and returns the process exit code.
#ifndef RANKOPT_TOOLS_COMMANDS_H_
#define RANKOPT_TOOLS_COMMANDS_H_

#include <string>
#include <vector>

#include "absl/status/status.h"

namespace rankopt {

inline constexpr int kExitOk = 0;
inline constexpr int kExitError = 1;  // the command ran into bad input or a failed step
inline constexpr int kExitUsage = 2;  // the command line itself is wrong

struct Command {
  const char* name;
  const char* summary;
  int (*run)(const std::vector<std::string>& args);
};

int RunSummarize(const std::vector<std::string>& args);
int RunPrune(const std::vector<std::string>& args);
int RunFeatures(const std::vector<std::string>& args);
int RunQuantize(const std::vector<std::string>& args);
int RunRun(const std::vector<std::string>& args);
int RunBench(const std::vector<std::string>& args);
int RunOptimize(const std::vector<std::string>& args);
int RunServe(const std::vector<std::string>& args);
int RunLift(const std::vector<std::string>& args);
int RunTables(const std::vector<std::string>& args);

// Prints "rankopt <command>: error: <message>" as one line on stderr; returns kExitError.
int ReportError(const char* command, const absl::Status& status);

}  // namespace rankopt

#endif  // RANKOPT_TOOLS_COMMANDS_H_
