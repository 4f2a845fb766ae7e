// Inputs the fuzz targets (fuzz/) found crashing the analyses, kept in tests/data/fuzz/ and fed
// the way the target fed them. Run under scripts/sanitize.sh asan to see memory errors.
#include <string>

#include "absl/strings/str_cat.h"
#include "core/file_io.h"
#include "graph/analysis/graph_summary.h"
#include "graph/analysis/shape_inference.h"
#include "graph/tf/graphdef_io.h"
#include "gtest/gtest.h"

namespace rankopt {
namespace {

std::string FuzzInput(const std::string& target, const std::string& name) {
  absl::StatusOr<std::string> bytes =
      ReadFileToString(absl::StrCat(RANKOPT_TESTDATA_DIR, "/fuzz/", target, "/", name));
  EXPECT_TRUE(bytes.ok()) << bytes.status();
  return bytes.ok() ? *bytes : std::string();
}

// frozen_abs_graph.pb (Const -> Identity -> Abs): Identity's integer value was copied from a
// reference into the value map while the insertion rehashed it (heap-use-after-free).
TEST(FuzzRegressionTest, IdentityIntValueSurvivesRehash) {
  absl::StatusOr<Graph> graph = ImportGraphDefBytes(
      FuzzInput("tf_graphdef_fuzz", "identity_int_value_rehash.pb"), GraphDefEncoding::kDetect);
  ASSERT_TRUE(graph.ok()) << graph.status();
  absl::StatusOr<ShapeMap> shapes = InferShapes(*graph);
  ASSERT_TRUE(shapes.ok()) << shapes.status();
  EXPECT_TRUE(SummarizeGraph(*graph).ok());
}

}  // namespace
}  // namespace rankopt
