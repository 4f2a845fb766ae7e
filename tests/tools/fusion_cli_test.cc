// The O2 epilogue and multi-table lookup fusions as a user sees them: `rankopt summarize` and
// `rankopt optimize` name, for a chain or a concat that does not fuse, the node and the condition
// that blocked it (a near miss). The near-miss model is the peer DIN (tests/data/peers/din.onnx)
// edited by the test: its output Sigmoid turned into a Softplus (an op the epilogue does not
// run), and its item/category concat reading the item embedding twice (a lookup read twice).
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <onnx/onnx_pb.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "tests/tools/cli_runner.h"

namespace rankopt {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::Not;

const std::string kData = RANKOPT_TESTDATA_DIR;
const std::string kConfigs = std::string(RANKOPT_TESTDATA_DIR) + "/../../configs";

class FusionCliTest : public ::testing::Test {
 protected:
  void SetUp() override { dir_ = FreshTestDir("rankopt_fusion_cli_test"); }
  void TearDown() override { fs::remove_all(dir_); }

  RunResult Run(const std::string& args) { return RunRankopt(dir_, args); }

  fs::path dir_;
};

TEST_F(FusionCliTest, SummarizeAndOptimizeNameNearMisses) {
  onnx::ModelProto model;
  {
    std::ifstream in(kData + "/peers/din.onnx", std::ios::binary);
    ASSERT_TRUE(model.ParseFromIstream(&in));
  }
  int edited = 0;
  for (onnx::NodeProto& node : *model.mutable_graph()->mutable_node()) {
    if (node.name() == "/Sigmoid_2") {
      node.set_op_type("Softplus");
      ++edited;
    }
    if (node.name() == "/Concat") {
      node.set_input(1, node.input(0));
      ++edited;
    }
  }
  ASSERT_EQ(edited, 2) << "the peer DIN has an output /Sigmoid_2 and an item/category /Concat";
  const std::string path = (dir_ / "din_edited.onnx").string();
  {
    std::ofstream out(path, std::ios::binary);
    ASSERT_TRUE(model.SerializeToOstream(&out));
  }
  const std::string epilogue_miss =
      "near miss at node '/Sigmoid_2' (layer '/fc3/Gemm'): its op Softplus is not one the "
      "epilogue runs";
  const std::string lookup_miss =
      "near miss at node '/item_emb/Gather' (concat '/Concat'): '/item_emb/Gather' is read "
      "elsewhere too";

  const RunResult summary = Run("summarize " + path);
  ASSERT_EQ(summary.exit_code, 0) << summary.err;
  EXPECT_THAT(summary.out, HasSubstr("fuse_gemm_epilogue: " + epilogue_miss)) << summary.out;
  EXPECT_THAT(summary.out, HasSubstr("fuse_multi_lookup: " + lookup_miss)) << summary.out;

  const RunResult opt =
      Run(absl::StrCat("optimize ", path, " --features ", kConfigs, "/din.yaml -O 2 -o ",
                       (dir_ / "din.rkp").string(), " --time-s 0 --int8 off --precision fp32"));
  ASSERT_EQ(opt.exit_code, 0) << opt.out << opt.err;
  EXPECT_THAT(opt.out, HasSubstr("    " + epilogue_miss)) << opt.out;
  EXPECT_THAT(opt.out, HasSubstr("    " + lookup_miss)) << opt.out;

  // The unedited model: both fuse, no near miss.
  const RunResult fused = Run(absl::StrCat(
      "optimize ", kData, "/peers/din.onnx --features ", kConfigs, "/din.yaml -O 2 -o ",
      (dir_ / "din_fused.rkp").string(), " --time-s 0 --int8 off --precision fp32"));
  ASSERT_EQ(fused.exit_code, 0) << fused.out << fused.err;
  EXPECT_THAT(fused.out, Not(HasSubstr("near miss at")));
  EXPECT_THAT(fused.out, HasSubstr("'/Concat': 2 lookups into [-1,32]")) << fused.out;
}

}  // namespace
}  // namespace rankopt
