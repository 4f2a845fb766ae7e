// A small flag parser for rankopt's subcommands: positional arguments plus `--flag value`,
// `--flag=value` and boolean `--flag`. Absl's flags are process-global, which fits one command,
// not a tool with subcommands that each take their own flags.
#ifndef RANKOPT_TOOLS_COMMAND_LINE_H_
#define RANKOPT_TOOLS_COMMAND_LINE_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace rankopt {

struct FlagSpec {
  std::string name;   // without dashes: "outputs"
  std::string alias;  // optional short form without dash: "o"
  bool takes_value = true;
  std::string value_name;  // for help: "NAMES"
  std::string help;
};

class CommandLine {
 public:
  // Parses args (after the subcommand). Errors name the unknown flag or the flag missing a value.
  static absl::StatusOr<CommandLine> Parse(const std::vector<std::string>& args,
                                           const std::vector<FlagSpec>& specs);

  const std::vector<std::string>& positional() const { return positional_; }
  bool Has(absl::string_view flag) const;
  // The flag's last value, or `fallback` when absent.
  std::string Get(absl::string_view flag, std::string fallback = "") const;
  // Comma-separated values of every occurrence: `--outputs a,b --outputs c` -> {a, b, c}.
  std::vector<std::string> GetList(absl::string_view flag) const;
  // The flag as an integer in [min, max], or `fallback` when absent; an error names the flag,
  // the value and the range.
  absl::StatusOr<int64_t> GetInt(absl::string_view flag, int64_t fallback, int64_t min,
                                 int64_t max) const;

 private:
  std::vector<std::string> positional_;
  std::map<std::string, std::vector<std::string>, std::less<>> values_;
};

// "  --outputs NAMES   what it does" lines for a command's --help.
std::string FormatFlagHelp(const std::vector<FlagSpec>& specs);

// What a subcommand is: everything its --help prints, and the flags it takes.
struct CommandSpec {
  std::string name;         // "prune"
  std::string usage;        // "rankopt prune MODEL --outputs NAMES [--inputs NAMES] -o OUT"
  std::string description;  // what --help prints between the usage line and the flags
  // Every command gets --help/-h: last, unless listed here (to keep its place in the help).
  std::vector<FlagSpec> flags;
};

// The full --help text: "usage: ...", the description, the flags (with --help).
std::string FormatCommandHelp(const CommandSpec& spec);

// The opening every command shares. Parses `args` against spec.flags plus --help. Returns true
// with `line` filled when the command should go on; false with `exit_code` set when it should
// return at once: kExitUsage after printing the parse error to stderr, kExitOk after printing
// the help to stdout.
//   CommandLine line;
//   int exit_code;
//   if (!OpenCommand(Spec(), args, &line, &exit_code)) return exit_code;
bool OpenCommand(const CommandSpec& spec, const std::vector<std::string>& args, CommandLine* line,
                 int* exit_code);

// Prints "usage: rankopt ...  (why)" to stderr; returns kExitUsage.
int UsageError(const CommandSpec& spec, absl::string_view why);

}  // namespace rankopt

#endif  // RANKOPT_TOOLS_COMMAND_LINE_H_
