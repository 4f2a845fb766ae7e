#include "tools/command_line.h"

#include <algorithm>
#include <iostream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "tools/commands.h"

namespace rankopt {
namespace {

const FlagSpec* FindSpec(const std::vector<FlagSpec>& specs, absl::string_view name) {
  for (const FlagSpec& spec : specs) {
    if (spec.name == name || (!spec.alias.empty() && spec.alias == name)) return &spec;
  }
  return nullptr;
}

std::string KnownFlags(const std::vector<FlagSpec>& specs) {
  return absl::StrJoin(specs, ", ", [](std::string* out, const FlagSpec& spec) {
    absl::StrAppend(out, "--", spec.name);
  });
}

}  // namespace

absl::StatusOr<CommandLine> CommandLine::Parse(const std::vector<std::string>& args,
                                               const std::vector<FlagSpec>& specs) {
  CommandLine line;
  bool only_positional = false;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (only_positional || arg.size() < 2 || arg[0] != '-') {
      line.positional_.push_back(arg);
      continue;
    }
    if (arg == "--") {
      only_positional = true;
      continue;
    }
    absl::string_view body = absl::string_view(arg).substr(arg[1] == '-' ? 2 : 1);
    std::string name(body), value;
    bool has_inline_value = false;
    if (size_t eq = body.find('='); eq != absl::string_view::npos) {
      name = std::string(body.substr(0, eq));
      value = std::string(body.substr(eq + 1));
      has_inline_value = true;
    }
    const FlagSpec* spec = FindSpec(specs, name);
    if (spec == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat("unknown flag '", arg, "'; this command takes ", KnownFlags(specs)));
    }
    if (!spec->takes_value) {
      if (has_inline_value) {
        return absl::InvalidArgumentError(absl::StrCat("flag --", spec->name, " takes no value"));
      }
      line.values_[spec->name].push_back("true");
      continue;
    }
    if (!has_inline_value) {
      if (i + 1 == args.size()) {
        return absl::InvalidArgumentError(
            absl::StrCat("flag --", spec->name, " needs a value (", spec->value_name, ")"));
      }
      value = args[++i];
    }
    line.values_[spec->name].push_back(value);
  }
  return line;
}

bool CommandLine::Has(absl::string_view flag) const { return values_.find(flag) != values_.end(); }

std::string CommandLine::Get(absl::string_view flag, std::string fallback) const {
  auto it = values_.find(flag);
  return it == values_.end() ? fallback : it->second.back();
}

std::vector<std::string> CommandLine::GetList(absl::string_view flag) const {
  std::vector<std::string> out;
  auto it = values_.find(flag);
  if (it == values_.end()) return out;
  for (const std::string& value : it->second) {
    for (absl::string_view part : absl::StrSplit(value, ',', absl::SkipWhitespace())) {
      out.emplace_back(part);
    }
  }
  return out;
}

std::string FormatFlagHelp(const std::vector<FlagSpec>& specs) {
  std::vector<std::string> heads;
  size_t width = 0;
  for (const FlagSpec& spec : specs) {
    std::string head =
        absl::StrCat(spec.alias.empty() ? "" : absl::StrCat("-", spec.alias, ", "), "--", spec.name,
                     spec.takes_value ? absl::StrCat(" ", spec.value_name) : "");
    width = std::max(width, head.size());
    heads.push_back(std::move(head));
  }
  std::string out;
  for (size_t i = 0; i < specs.size(); ++i) {
    absl::StrAppend(&out, "  ", heads[i], std::string(width - heads[i].size() + 3, ' '),
                    specs[i].help, "\n");
  }
  return out;
}

namespace {

// `flags` with --help/-h last, unless a command lists it itself (where its help shows it).
std::vector<FlagSpec> WithHelpFlag(const std::vector<FlagSpec>& flags) {
  std::vector<FlagSpec> all = flags;
  for (const FlagSpec& f : flags) {
    if (f.name == "help") return all;
  }
  all.push_back({"help", "h", false, "", "show this help"});
  return all;
}

}  // namespace

std::string FormatCommandHelp(const CommandSpec& spec) {
  return absl::StrCat("usage: ", spec.usage, "\n\n", spec.description, "\n\nflags:\n",
                      FormatFlagHelp(WithHelpFlag(spec.flags)));
}

bool OpenCommand(const CommandSpec& spec, const std::vector<std::string>& args, CommandLine* line,
                 int* exit_code) {
  absl::StatusOr<CommandLine> parsed = CommandLine::Parse(args, WithHelpFlag(spec.flags));
  if (!parsed.ok()) {
    ReportError(spec.name.c_str(), parsed.status());
    *exit_code = kExitUsage;
    return false;
  }
  if (parsed->Has("help")) {
    std::cout << FormatCommandHelp(spec);
    *exit_code = kExitOk;
    return false;
  }
  *line = *std::move(parsed);
  return true;
}

int UsageError(const CommandSpec& spec, absl::string_view why) {
  std::cerr << "usage: " << spec.usage << "  (" << why << ")\n";
  return kExitUsage;
}

absl::StatusOr<int64_t> CommandLine::GetInt(absl::string_view flag, int64_t fallback,
                                            int64_t min, int64_t max) const {
  if (!Has(flag)) return fallback;
  const std::string text = Get(flag);
  int64_t v = 0;
  if (!absl::SimpleAtoi(text, &v) || v < min || v > max) {
    return absl::InvalidArgumentError(absl::StrCat("--", flag, ": '", text,
                                                   "' is not an integer in [", min, ", ", max,
                                                   "]"));
  }
  return v;
}

}  // namespace rankopt
