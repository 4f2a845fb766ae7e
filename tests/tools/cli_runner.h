// What the command-line tests share: the `rankopt` command of this build run with both streams
// captured, a fresh directory per test, file helpers, and the one-line error check. Header-only;
// the tests that include it define RANKOPT_BINARY_DIR (every test target does).
#ifndef RANKOPT_TESTS_TOOLS_CLI_RUNNER_H_
#define RANKOPT_TESTS_TOOLS_CLI_RUNNER_H_

#include <sys/wait.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace rankopt {

// The exit code (-1 when killed by a signal) and what the command printed.
struct RunResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};

inline std::string ReadFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

inline void WriteFile(const std::filesystem::path& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary);
  out << bytes;
}

// An empty directory for the running test: <tmp>/<prefix>_<gtest seed>_<test name><suffix>.
inline std::filesystem::path FreshTestDir(const std::string& prefix,
                                          const std::string& suffix = "") {
  const ::testing::UnitTest& unit = *::testing::UnitTest::GetInstance();
  const std::filesystem::path dir =
      std::filesystem::temp_directory_path() /
      absl::StrCat(prefix, "_", unit.random_seed(), "_",
                   unit.current_test_info() != nullptr ? unit.current_test_info()->name() : "",
                   suffix);
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

// Runs `<prefix>rankopt <args>` through the shell (args are shell words the test controls), its
// stdout and stderr captured through files in `dir`.
inline RunResult RunRankopt(const std::filesystem::path& dir, const std::string& args,
                            const std::string& prefix = "") {
  const std::filesystem::path out = dir / "stdout.txt", err = dir / "stderr.txt";
  const std::string command = absl::StrCat(prefix, RANKOPT_BINARY_DIR, "/tools/rankopt ", args,
                                           " >", out.string(), " 2>", err.string());
  const int status = std::system(command.c_str());
  RunResult result;
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  result.out = ReadFile(out);
  result.err = ReadFile(err);
  return result;
}

// Expects a failed run: exit `code` and exactly one stderr line containing every fragment.
inline void ExpectOneLineError(const RunResult& r, int code,
                               const std::vector<std::string>& fragments) {
  EXPECT_EQ(r.exit_code, code) << r.out << r.err;
  const std::vector<std::string> lines = absl::StrSplit(r.err, '\n', absl::SkipEmpty());
  EXPECT_EQ(lines.size(), 1u) << r.err;
  for (const std::string& f : fragments) EXPECT_THAT(r.err, ::testing::HasSubstr(f));
}

}  // namespace rankopt

#endif  // RANKOPT_TESTS_TOOLS_CLI_RUNNER_H_
