// Limits with clear errors, each tested at its boundary (the limit itself passes, one more fails):
// candidates per request, sequence length, per-request memory, package bytes, graph nodes, tensor
// bytes. And faults: a served package file truncated in place gives DataLoss errors (never a
// crash, never scores from damaged bytes).
#include <sys/stat.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "features/config/feature_config.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "rankopt/model.h"
#include "serving/package/model_package.h"
#include "tests/serving/din_package.h"

namespace rankopt {
namespace {

using ::testing::HasSubstr;

class ModelLimitsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<ModelPackage> package = BuildDinPackage(TableQuantizationMode::kOff, "1");
    ASSERT_TRUE(package.ok()) << package.status();
    path_ = absl::StrCat(FreshTempDir("model_limits_test"), "/din.rkp");
    ASSERT_TRUE(WriteModelPackage(*package, path_).ok());
    nodes_ = static_cast<int64_t>(package->graph.num_nodes());
    absl::StatusOr<std::vector<Request>> requests = DinRequests();
    ASSERT_TRUE(requests.ok());
    request_ = (*requests)[0];
    absl::StatusOr<ModelPackage> read = ReadModelPackage(path_);
    ASSERT_TRUE(read.ok());
    for (const Node& node : read->graph.nodes()) {
      for (const auto& [name, value] : node.attrs.entries()) {
        if (const Tensor* t = std::get_if<Tensor>(&value)) {
          largest_tensor_ = std::max<uint64_t>(largest_tensor_, t->ByteSize());
        }
      }
    }
    struct stat st;
    ASSERT_EQ(::stat(path_.c_str(), &st), 0);
    file_bytes_ = static_cast<uint64_t>(st.st_size);
  }

  std::string path_;
  int64_t nodes_ = 0;
  uint64_t largest_tensor_ = 0;
  uint64_t file_bytes_ = 0;
  Request request_;
};

TEST_F(ModelLimitsTest, SequenceLengthAtTheBoundary) {
  size_t longest = 0;
  for (const FeatureRow::Entry& e : request_.user.entries()) {
    if (const auto* ids = std::get_if<std::vector<int64_t>>(&e.second)) {
      longest = std::max(longest, ids->size());
    }
  }
  ASSERT_GT(longest, 1u);
  ModelOptions options;
  options.max_sequence_length = static_cast<int64_t>(longest);
  absl::StatusOr<std::shared_ptr<const Model>> model = Model::Load(path_, options);
  ASSERT_TRUE(model.ok()) << model.status();
  EXPECT_TRUE((*model)->Score(request_).ok());
  options.max_sequence_length = static_cast<int64_t>(longest) - 1;
  options.warm_up = false;
  model = Model::Load(path_, options);
  ASSERT_TRUE(model.ok()) << model.status();
  absl::StatusOr<Scores> scores = (*model)->Score(request_);
  ASSERT_FALSE(scores.ok());
  EXPECT_EQ(scores.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(scores.status().message(),
              HasSubstr(absl::StrCat(" has ", longest, " elements; at most ", longest - 1)));
  EXPECT_THAT(scores.status().message(), HasSubstr("user."));
}

TEST_F(ModelLimitsTest, LoadLimitsAtTheBoundary) {
  ModelOptions options;
  options.max_graph_nodes = nodes_;
  options.max_tensor_bytes = largest_tensor_;
  options.max_package_bytes = file_bytes_;
  EXPECT_TRUE(Model::Load(path_, options).ok());

  ModelOptions nodes = options;
  nodes.max_graph_nodes = nodes_ - 1;
  absl::StatusOr<std::shared_ptr<const Model>> model = Model::Load(path_, nodes);
  ASSERT_FALSE(model.ok());
  EXPECT_THAT(model.status().message(), HasSubstr("max_graph_nodes"));

  ModelOptions tensor = options;
  tensor.max_tensor_bytes = largest_tensor_ - 1;
  model = Model::Load(path_, tensor);
  ASSERT_FALSE(model.ok());
  EXPECT_THAT(model.status().message(), HasSubstr("max_tensor_bytes"));

  ModelOptions file = options;
  file.max_package_bytes = file_bytes_ - 1;
  model = Model::Load(path_, file);
  ASSERT_FALSE(model.ok());
  EXPECT_THAT(model.status().message(), HasSubstr("max_file_bytes"));
}

TEST_F(ModelLimitsTest, RequestMemoryCapIsAnErrorNotAnOom) {
  ModelOptions options;
  options.max_request_bytes = 1024;
  options.warm_up = false;
  absl::StatusOr<std::shared_ptr<const Model>> model = Model::Load(path_, options);
  ASSERT_TRUE(model.ok()) << model.status();
  absl::StatusOr<Scores> scores = (*model)->Score(request_);
  ASSERT_FALSE(scores.ok());
  EXPECT_EQ(scores.status().code(), absl::StatusCode::kResourceExhausted);
}

TEST_F(ModelLimitsTest, MappedPackageTruncatedWhileServedGivesDataLoss) {
  ModelOptions mapped;
  mapped.copy_package_below_bytes = 0;
  absl::StatusOr<std::shared_ptr<const Model>> model = Model::Load(path_, mapped);
  ASSERT_TRUE(model.ok()) << model.status();
  ASSERT_TRUE((*model)->Score(request_).ok());
  // A careless deploy: the file overwritten in place (truncated first).
  ASSERT_EQ(::truncate(path_.c_str(), 0), 0);
  for (int i = 0; i < 3; ++i) {
    absl::StatusOr<Scores> scores = (*model)->Score(request_);
    ASSERT_FALSE(scores.ok());
    EXPECT_EQ(scores.status().code(), absl::StatusCode::kDataLoss);
    EXPECT_THAT(scores.status().message(), HasSubstr("truncated or overwritten in place"));
  }
  EXPECT_EQ((*model)->stats().errors(absl::StatusCode::kDataLoss), 3);
}

TEST_F(ModelLimitsTest, CopiedPackageIsUnaffectedByTruncation) {
  absl::StatusOr<std::shared_ptr<const Model>> model = Model::Load(path_);  // the default: a copy
  ASSERT_TRUE(model.ok()) << model.status();
  EXPECT_FALSE((*model)->package_mapped());
  absl::StatusOr<Scores> before = (*model)->Score(request_);
  ASSERT_TRUE(before.ok()) << before.status();
  ASSERT_EQ(::truncate(path_.c_str(), 0), 0);
  absl::StatusOr<Scores> after = (*model)->Score(request_);
  ASSERT_TRUE(after.ok()) << after.status();
  EXPECT_EQ(after->values, before->values);
  EXPECT_TRUE((*model)->CheckPackage(1 << 30).ok());
}

// One policy for out-of-range ids: configs/din.yaml says item_id has 500000 buckets, the mini
// table has 1000 rows. An id past the rows (inside num_buckets) is defaulted (id 0) and counted
// just as one past num_buckets; before, it failed the whole request.
TEST_F(ModelLimitsTest, IdPastTheTableRowsIsDefaultedAndCounted) {
  absl::StatusOr<std::shared_ptr<const Model>> model = Model::Load(path_);
  ASSERT_TRUE(model.ok()) << model.status();
  size_t item_feature = 0;
  {
    absl::StatusOr<ModelPackage> package = ReadModelPackage(path_);
    ASSERT_TRUE(package.ok());
    absl::StatusOr<FeatureConfig> config = ParseFeatureConfig(package->feature_config_yaml, "din");
    ASSERT_TRUE(config.ok());
    for (size_t f = 0; f < config->features.size(); ++f) {
      if (config->features[f].name == "item_id") item_feature = f;
    }
    ASSERT_EQ(config->features[item_feature].categorical.num_buckets, 500000);
  }
  auto with_item = [&](int64_t id) {
    Request r = request_;
    r.candidates.resize(1);
    *r.candidates[0].FindMutable("item_id") = id;
    return r;
  };
  absl::StatusOr<Scores> zero = (*model)->Score(with_item(0));
  absl::StatusOr<Scores> last_row = (*model)->Score(with_item(999));
  ASSERT_TRUE(zero.ok() && last_row.ok()) << zero.status() << last_row.status();
  EXPECT_EQ((*model)->stats().out_of_range(item_feature), 0);
  for (int64_t id : {int64_t{1000}, int64_t{499999}, int64_t{500000}, int64_t{-1}}) {
    SCOPED_TRACE(id);
    absl::StatusOr<Scores> scores = (*model)->Score(with_item(id));
    ASSERT_TRUE(scores.ok()) << scores.status();
    EXPECT_EQ(scores->values, zero->values);
  }
  EXPECT_NE(last_row->values, zero->values);
  EXPECT_EQ((*model)->stats().out_of_range(item_feature), 4);
}

}  // namespace
}  // namespace rankopt
