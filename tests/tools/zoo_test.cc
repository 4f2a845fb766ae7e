// The model zoo (tests/data/zoo, made by bench/zoo/make_zoo.py): every model, exported at opsets
// 13 and 17, runs through the rankopt command at -O 0 and at -O 2 (its user/context inputs
// request-level) and matches PyTorch eager within 1e-5 relative. The models.json entries under
// "expected_failures" must still fail with the reason given there, so that the test notices when
// one starts to work (then delete its entry).
#include <gtest/gtest.h>
#include <simdjson.h>
#include <sys/wait.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <ostream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "tests/tools/cli_runner.h"

namespace rankopt {
namespace {

namespace fs = std::filesystem;

const std::string kZoo = std::string(RANKOPT_TESTDATA_DIR) + "/zoo";

// One model at one opset, with what models.json says about it.
struct ZooCase {
  std::string model;
  std::string opset;
  std::string onnx;
  std::string ref;
  std::string request_inputs;
  size_t outputs = 0;
  std::string expected_failure[3];  // by -O level (0 and 2 used); empty: must pass
};

// gtest prints the case by name instead of its bytes.
void PrintTo(const ZooCase& c, std::ostream* os) { *os << c.model << " opset " << c.opset; }

// A string, or an integer as text (models.json's opsets and levels are either).
std::string Text(simdjson::dom::element v) {
  if (v.is_int64()) return std::to_string(int64_t(v));
  return std::string(std::string_view(v));
}

// The cases of models.json; empty (and the manifest test fails) when it cannot be read.
std::vector<ZooCase> LoadZoo() {
  std::vector<ZooCase> cases;
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  if (parser.load(kZoo + "/models.json").get(doc) != simdjson::SUCCESS) return cases;
  for (simdjson::dom::object m : doc["models"].get_array()) {
    const std::string name = Text(m["name"]);
    const std::string ref = kZoo + "/" + Text(m["files"]["ref"]["file"]);
    const std::string request_inputs = Text(m["request_inputs"]);
    const size_t outputs = simdjson::dom::array(m["outputs"]).size();
    for (auto [key, file] : simdjson::dom::object(m["files"])) {
      if (key.rfind("op", 0) != 0) continue;
      cases.push_back({name, std::string(key.substr(2)), kZoo + "/" + Text(file["file"]), ref,
                       request_inputs, outputs, {}});
    }
  }
  for (simdjson::dom::object e : doc["expected_failures"].get_array()) {
    const std::string model = Text(e["model"]);
    const std::string opset = Text(e["opset"]);
    const std::string level = Text(e["level"]);
    const std::string reason = Text(e["reason"]);
    for (ZooCase& c : cases) {
      if (c.model != model || (opset != "*" && opset != c.opset)) continue;
      for (int l : {0, 2}) {
        if (level == "*" || level == std::to_string(l)) c.expected_failure[l] = reason;
      }
    }
  }
  return cases;
}

// Every "max relative error vs reference: X" of a `run` printout (as in cli_test.cc).
std::vector<double> RelativeErrors(const std::string& out) {
  std::vector<double> errors;
  const std::string key = "max relative error vs reference: ";
  for (size_t at = out.find(key); at != std::string::npos; at = out.find(key, at + 1)) {
    errors.push_back(std::strtod(out.c_str() + at + key.size(), nullptr));
  }
  return errors;
}

class ZooTest : public ::testing::TestWithParam<ZooCase> {
 protected:
  void SetUp() override {
    dir_ = FreshTestDir("rankopt_zoo_test",
                        absl::StrCat("_", GetParam().model, "_", GetParam().opset));
  }
  void TearDown() override { fs::remove_all(dir_); }

  // Runs `rankopt <args>` (args are shell words the test controls), capturing both streams.
  RunResult Run(const std::string& args) { return RunRankopt(dir_, args); }

  fs::path dir_;
};

TEST(ZooManifestTest, ListsTheZoo) {
  const std::vector<ZooCase> cases = LoadZoo();
  EXPECT_GE(cases.size(), 40u) << kZoo << "/models.json: regenerate with bench/zoo/make_zoo.py";
  for (const ZooCase& c : cases) {
    EXPECT_TRUE(fs::exists(c.onnx)) << c.onnx;
    EXPECT_TRUE(fs::exists(c.ref)) << c.ref;
    EXPECT_GT(c.outputs, 0u) << c.model;
    EXPECT_FALSE(c.request_inputs.empty()) << c.model;
  }
}

TEST_P(ZooTest, MatchesPyTorchAtO0AndO2) {
  const ZooCase& c = GetParam();
  for (int level : {0, 2}) {
    SCOPED_TRACE(absl::StrCat(c.onnx, " -O ", level));
    std::string args = absl::StrCat("run ", c.onnx, " --inputs ", c.ref, " -O ", level);
    if (level == 2) absl::StrAppend(&args, " --request-inputs '", c.request_inputs, "'");
    const RunResult r = Run(args);
    const std::vector<double> errors = RelativeErrors(r.out);
    double worst = 0;
    for (double e : errors) worst = std::max(worst, e);
    const bool matches = r.exit_code == 0 && errors.size() == c.outputs && worst < 1e-5;
    const std::string& expected = c.expected_failure[level];
    if (!expected.empty()) {
      EXPECT_FALSE(matches) << "now runs and matches PyTorch: delete its expected_failures entry "
                               "in models.json";
      EXPECT_NE((r.err + r.out).find(expected), std::string::npos)
          << "fails for another reason than \"" << expected << "\":\n"
          << r.err << r.out.substr(0, 2000);
      continue;
    }
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(errors.size(), c.outputs) << r.out;
    for (double e : errors) EXPECT_LT(e, 1e-5);
  }
}

INSTANTIATE_TEST_SUITE_P(Zoo, ZooTest, ::testing::ValuesIn(LoadZoo()),
                         [](const ::testing::TestParamInfo<ZooCase>& info) {
                           return absl::StrCat(info.param.model, "_op", info.param.opset);
                         });
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(ZooTest);

}  // namespace
}  // namespace rankopt
