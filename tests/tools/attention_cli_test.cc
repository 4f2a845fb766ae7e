// The target-attention fusion as a user sees it: `rankopt summarize` says which DIN attention
// blocks of the zoo fuse at -O 2 and in which form, and for a block that does not fuse both
// `summarize` and `optimize` name the node and the condition that blocked it (a near miss). The
// near-miss model is the peer DIN (tests/data/peers/din.onnx) with its attention input's q - k
// turned into q + k, written by the test.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <onnx/onnx_pb.h>
#include <sys/wait.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "tests/tools/cli_runner.h"

namespace rankopt {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

const std::string kData = RANKOPT_TESTDATA_DIR;
const std::string kConfigs = std::string(RANKOPT_TESTDATA_DIR) + "/../../configs";

class AttentionCliTest : public ::testing::Test {
 protected:
  void SetUp() override { dir_ = FreshTestDir("rankopt_attention_cli_test"); }
  void TearDown() override { fs::remove_all(dir_); }

  // Runs `rankopt <args>` (shell words the test controls), capturing both streams.
  RunResult Run(const std::string& args) { return RunRankopt(dir_, args); }

  fs::path dir_;
};

TEST_F(AttentionCliTest, SummarizeSaysHowEachZooDinAttentionFuses) {
  const struct {
    std::string model;
    std::string form;
  } cases[] = {
      {"din_prelu3", "([q, k, q-k, q*k], d = 16, 3 hidden layers prelu/prelu/prelu, mask mul)"},
      {"din_dice2_softmax",
       "([q, k, q*k], d = 16, 2 hidden layers dice/dice, mask where fill -4.29497e+09, softmax)"},
      {"din_sigmoid1_softmax",
       "([q, k], d = 16, 1 hidden layers sigmoid, mask where_not fill -inf, softmax)"},
      {"din_prelu2_qkprod",
       "([q, k, q*k], d = 16, 2 hidden layers prelu/prelu, mask where fill 0)"},
  };
  for (const auto& c : cases) {
    const RunResult r = Run(absl::StrCat("summarize ", kData, "/zoo/", c.model, "_op13.onnx"));
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_THAT(r.out, HasSubstr("O2 fusion patterns (fused blocks and near misses)")) << c.model;
    EXPECT_THAT(r.out, HasSubstr(absl::StrCat("fuse_attention_pooling: /Squeeze_1: attention over "
                                              "/Concat_1 fused ",
                                              c.form)))
        << c.model << "\n"
        << r.out;
    EXPECT_THAT(r.out, ::testing::Not(HasSubstr("near miss at"))) << c.model;
  }
}

TEST_F(AttentionCliTest, SummarizeAndOptimizeNameANearMiss) {
  onnx::ModelProto model;
  {
    std::ifstream in(kData + "/peers/din.onnx", std::ios::binary);
    ASSERT_TRUE(model.ParseFromIstream(&in));
  }
  int edited = 0;
  for (onnx::NodeProto& node : *model.mutable_graph()->mutable_node()) {
    if (node.op_type() == "Sub" && node.name() == "/Sub") {
      node.set_op_type("Add");
      ++edited;
    }
  }
  ASSERT_EQ(edited, 1) << "the peer DIN's attention has one Sub (q - k)";
  const std::string path = (dir_ / "din_q_plus_k.onnx").string();
  {
    std::ofstream out(path, std::ios::binary);
    ASSERT_TRUE(model.SerializeToOstream(&out));
  }
  const std::string near_miss =
      "near miss at node '/Concat_2' (pooling '/Squeeze_1'): first-layer input Concat has term 2 "
      "('/Sub', Add) that is neither q, k, q-k, k-q nor q*k";

  const RunResult summary = Run("summarize " + path);
  ASSERT_EQ(summary.exit_code, 0) << summary.err;
  EXPECT_THAT(summary.out, HasSubstr("fuse_attention_pooling: not applicable: 1 target attention "
                                     "block(s) did not fuse; near misses below"));
  EXPECT_THAT(summary.out, HasSubstr("fuse_attention_pooling: " + near_miss)) << summary.out;

  const RunResult opt =
      Run(absl::StrCat("optimize ", path, " --features ", kConfigs, "/din.yaml -O 2 -o ",
                       (dir_ / "din.rkp").string(), " --time-s 0"));
  ASSERT_EQ(opt.exit_code, 0) << opt.out << opt.err;
  EXPECT_THAT(opt.out, HasSubstr("    " + near_miss)) << opt.out;
  EXPECT_THAT(opt.out, HasSubstr("not applicable: 1 target attention block(s) did not fuse"));

  // The unedited model fuses: no near miss, and the optimize step is effective.
  const RunResult fused =
      Run(absl::StrCat("optimize ", kData, "/peers/din.onnx --features ", kConfigs,
                       "/din.yaml -O 2 -o ", (dir_ / "din_fused.rkp").string(), " --time-s 0"));
  ASSERT_EQ(fused.exit_code, 0) << fused.out << fused.err;
  EXPECT_THAT(fused.out, ::testing::Not(HasSubstr("near miss at")));
  EXPECT_THAT(fused.out, HasSubstr("attention over /Concat_1 fused ([q, k, q-k, q*k]"));
}

}  // namespace
}  // namespace rankopt
