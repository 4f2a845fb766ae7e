#include "serving/package/model_package.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <xxhash.h>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "tests/serving/package/package_test_util.h"

namespace rankopt {
namespace {

using ::rankopt::package_test::EveryFieldPackage;
using ::rankopt::package_test::ExpectSamePackage;
using ::rankopt::package_test::ReadAll;
using ::rankopt::package_test::TempDir;
using ::rankopt::package_test::TestData;
using ::rankopt::package_test::WriteAll;
using ::testing::HasSubstr;
using ::testing::StartsWith;

uint64_t LoadU64(const std::string& bytes, size_t at) {
  uint64_t v;
  std::memcpy(&v, bytes.data() + at, sizeof(v));
  return v;
}

// The blob-backed tensors of a graph (every fixed-width tensor of kPackageBlobMinBytes or more).
std::vector<Tensor> BlobTensors(const Graph& graph) {
  std::vector<Tensor> out;
  for (const Node& node : graph.nodes()) {
    for (const auto& [name, value] : node.attrs.entries()) {
      std::vector<Tensor> tensors;
      if (const Tensor* t = std::get_if<Tensor>(&value)) tensors.push_back(*t);
      if (const auto* list = std::get_if<std::vector<Tensor>>(&value)) tensors = *list;
      for (const Tensor& t : tensors) {
        if (IsFixedWidth(t.dtype()) && t.ByteSize() >= kPackageBlobMinBytes) out.push_back(t);
      }
    }
  }
  return out;
}

TEST(ModelPackageTest, WritesAndReadsBackEveryField) {
  TempDir dir;
  const std::string path = dir.File("every.rkp");
  const ModelPackage package = EveryFieldPackage();
  ASSERT_TRUE(WriteModelPackage(package, path).ok());
  // The temporary file was renamed into place: nothing else is left.
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir.path()),
                          std::filesystem::directory_iterator()),
            1);

  const std::string bytes = ReadAll(path);
  ASSERT_GE(bytes.size(), 64u);
  EXPECT_EQ(bytes.substr(0, 8), std::string("RKPKG\0\0\1", 8));
  const uint64_t manifest_bytes = LoadU64(bytes, 8);
  EXPECT_EQ(LoadU64(bytes, 16), XXH64(bytes.data() + 64, manifest_bytes, 0));
  EXPECT_EQ(bytes.substr(24, 40), std::string(40, '\0'));

  absl::StatusOr<ModelPackage> read = ReadModelPackage(path);
  ASSERT_TRUE(read.ok()) << read.status();
  ExpectSamePackage(package, *read);
  const std::vector<Tensor> blobs = BlobTensors(read->graph);
  ASSERT_EQ(blobs.size(), 5u);  // w twice (one blob), big_tensor, big_bool_tensor, tensors[1]
  for (const Tensor& t : blobs) {
    EXPECT_EQ(reinterpret_cast<uintptr_t>(t.bytes().data()) % 64, 0u);
  }
  // The same from bytes in memory.
  absl::StatusOr<ModelPackage> parsed = ParseModelPackage(bytes, "every.rkp");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  ExpectSamePackage(package, *parsed);
  for (const Tensor& t : BlobTensors(parsed->graph)) {
    EXPECT_EQ(reinterpret_cast<uintptr_t>(t.bytes().data()) % 64, 0u);
  }

  // Writing is deterministic, and overwriting an existing package works.
  ASSERT_TRUE(WriteModelPackage(*read, path).ok());
  EXPECT_EQ(ReadAll(path), bytes);
}

TEST(ModelPackageTest, BlobViewsOutliveThePackage) {
  TempDir dir;
  const std::string path = dir.File("every.rkp");
  const ModelPackage package = EveryFieldPackage();
  ASSERT_TRUE(WriteModelPackage(package, path).ok());
  Tensor w;
  {
    absl::StatusOr<ModelPackage> read = ReadModelPackage(path);
    ASSERT_TRUE(read.ok()) << read.status();
    w = *read->graph.FindNode("w")->attrs.Get<Tensor>("value");
  }
  std::filesystem::remove(path);  // the mapping stays valid after the file is gone
  EXPECT_EQ(w, *package.graph.FindNode("w")->attrs.Get<Tensor>("value"));
}

TEST(ModelPackageTest, EmptyGraphHasNoBlobs) {
  TempDir dir;
  const std::string path = dir.File("empty.rkp");
  ModelPackage package;
  package.model_name = "empty";
  ASSERT_TRUE(WriteModelPackage(package, path).ok());
  const std::string bytes = ReadAll(path);
  EXPECT_EQ(bytes.size(), 64 + LoadU64(bytes, 8));  // header and manifest, nothing after
  absl::StatusOr<ModelPackage> read = ReadModelPackage(path);
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(read->model_name, "empty");
  EXPECT_EQ(read->graph.num_nodes(), 0u);
}

TEST(ModelPackageTest, Limits) {
  TempDir dir;
  const std::string path = dir.File("every.rkp");
  ASSERT_TRUE(WriteModelPackage(EveryFieldPackage(), path).ok());
  const std::string bytes = ReadAll(path);

  ReadPackageOptions options;
  options.max_file_bytes = bytes.size() - 1;
  absl::StatusOr<ModelPackage> read = ReadModelPackage(path, options);
  ASSERT_FALSE(read.ok());
  EXPECT_EQ(read.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(read.status().message()),
              StartsWith(path + ": the file is " + std::to_string(bytes.size()) +
                         " bytes, more than the limit of " + std::to_string(bytes.size() - 1) +
                         " (ReadPackageOptions::max_file_bytes)"));
  EXPECT_THAT(ParseModelPackage(bytes, "mem.rkp", options).status().message(),
              HasSubstr("max_file_bytes"));
  options.max_file_bytes = bytes.size();
  EXPECT_TRUE(ReadModelPackage(path, options).ok());

  options = ReadPackageOptions();
  options.max_graph_nodes = 3;
  read = ReadModelPackage(path, options);
  ASSERT_FALSE(read.ok());
  EXPECT_THAT(std::string(read.status().message()),
              StartsWith(path + ": manifest graph: the graph has 4 nodes, more than the limit of "
                                "3 (ReadPackageOptions::max_graph_nodes)"));
  EXPECT_THAT(ParseModelPackage(bytes, "mem.rkp", options).status().message(),
              HasSubstr("max_graph_nodes"));

  options = ReadPackageOptions();
  options.max_manifest_bytes = 100;
  read = ReadModelPackage(path, options);
  ASSERT_FALSE(read.ok());
  EXPECT_THAT(read.status().message(), HasSubstr("more than the limit of 100"));
  EXPECT_THAT(read.status().message(), HasSubstr("max_manifest_bytes"));
}

TEST(ModelPackageTest, ChecksumsCanBeSkippedForTrustedFiles) {
  TempDir dir;
  const std::string path = dir.File("every.rkp");
  ASSERT_TRUE(WriteModelPackage(EveryFieldPackage(), path).ok());
  std::string bytes = ReadAll(path);
  bytes[bytes.size() - 1] ^= 0x01;  // inside the last blob
  WriteAll(path, bytes);
  absl::StatusOr<ModelPackage> read = ReadModelPackage(path);
  ASSERT_FALSE(read.ok());
  EXPECT_EQ(read.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(read.status().message(), HasSubstr("xxh64 mismatch"));
  ReadPackageOptions trusted;
  trusted.verify_checksums = false;
  EXPECT_TRUE(ReadModelPackage(path, trusted).ok());
}

TEST(ModelPackageTest, ReadErrorsNameTheFile) {
  TempDir dir;
  absl::StatusOr<ModelPackage> missing = ReadModelPackage(dir.File("nope.rkp"));
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(missing.status().message(), HasSubstr("nope.rkp: no such file"));

  absl::StatusOr<ModelPackage> onnx = ReadModelPackage(TestData("peers/din.onnx"));
  ASSERT_FALSE(onnx.ok());
  EXPECT_EQ(onnx.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(onnx.status().message(),
              HasSubstr("din.onnx: not a rankopt model package (it does not start with"));

  absl::StatusOr<ModelPackage> directory = ReadModelPackage(dir.path());
  ASSERT_FALSE(directory.ok());
  EXPECT_THAT(directory.status().message(), HasSubstr("not a regular file"));

  WriteAll(dir.File("short.rkp"), "RKPKG");
  absl::StatusOr<ModelPackage> short_file = ReadModelPackage(dir.File("short.rkp"));
  ASSERT_FALSE(short_file.ok());
  EXPECT_EQ(short_file.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(short_file.status().message(),
              HasSubstr("short.rkp: the file is 5 bytes; a package starts with a 64-byte header"));
  EXPECT_FALSE(ParseModelPackage("", "empty").ok());
}

TEST(ModelPackageTest, WriteRejectsWhatWouldNotReadBack) {
  TempDir dir;
  const std::string path = dir.File("bad.rkp");
  {
    ModelPackage package = EveryFieldPackage();
    package.outputs.push_back("no_such_output");
    absl::Status s = WriteModelPackage(package, path);
    ASSERT_FALSE(s.ok());
    EXPECT_THAT(s.message(), HasSubstr("bad.rkp: output 'no_such_output'"));
  }
  {
    ModelPackage package = EveryFieldPackage();
    package.feature_config_yaml = "features: [";
    absl::Status s = WriteModelPackage(package, path);
    ASSERT_FALSE(s.ok());
    EXPECT_THAT(s.message(), HasSubstr("feature_config_yaml"));
  }
  {
    ModelPackage package = EveryFieldPackage();
    package.graph.FindMutableNode("mm")->inputs[1].port = 5;
    absl::Status s = WriteModelPackage(package, path);
    ASSERT_FALSE(s.ok());
    EXPECT_THAT(s.message(), HasSubstr("bad.rkp: the graph would not load back"));
  }
  {
    ModelPackage package = EveryFieldPackage();
    package.graph.FindMutableNode("x")->attrs.Set("shape", Shape({-2}));
    absl::Status s = WriteModelPackage(package, path);
    ASSERT_FALSE(s.ok());
    EXPECT_THAT(s.message(), HasSubstr("node 'x' attr 'shape'"));
  }
  EXPECT_FALSE(std::filesystem::exists(path));
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir.path()),
                          std::filesystem::directory_iterator()),
            0);
  absl::Status no_dir = WriteModelPackage(EveryFieldPackage(), dir.File("no/such/dir.rkp"));
  ASSERT_FALSE(no_dir.ok());
  EXPECT_THAT(no_dir.message(), HasSubstr("no/such/dir.rkp"));
}

TEST(HashSourceModelTest, FilesAndDirectories) {
  TempDir dir;
  const std::string onnx = TestData("peers/din.onnx");
  const std::string bytes = ReadAll(onnx);
  absl::StatusOr<uint64_t> file_hash = HashSourceModel(onnx);
  ASSERT_TRUE(file_hash.ok()) << file_hash.status();
  EXPECT_EQ(*file_hash, XXH64(bytes.data(), bytes.size(), 0));

  const std::string model = dir.File("saved_model");
  std::filesystem::create_directories(model + "/variables");
  WriteAll(model + "/saved_model.pb", "graph bytes");
  WriteAll(model + "/variables/variables.index", "index");
  WriteAll(model + "/variables/variables.data-00000-of-00001", std::string(3000000, 'v'));
  absl::StatusOr<uint64_t> a = HashSourceModel(model);
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(*HashSourceModel(model), *a);
  // What the hash covers, spelled out: relative path, NUL, size, bytes; in path order.
  XXH64_state_t* state = XXH64_createState();
  XXH64_reset(state, 0);
  for (const auto& [name, contents] : std::vector<std::pair<std::string, std::string>>{
           {"saved_model.pb", "graph bytes"},
           {"variables/variables.data-00000-of-00001", std::string(3000000, 'v')},
           {"variables/variables.index", "index"}}) {
    XXH64_update(state, name.data(), name.size() + 1);  // with the NUL
    const uint64_t size = contents.size();
    XXH64_update(state, &size, sizeof(size));
    XXH64_update(state, contents.data(), contents.size());
  }
  EXPECT_EQ(*a, XXH64_digest(state));
  XXH64_freeState(state);

  WriteAll(model + "/variables/variables.index", "indeX");
  EXPECT_NE(*HashSourceModel(model), *a);
  WriteAll(model + "/variables/variables.index", "index");
  std::filesystem::rename(model + "/saved_model.pb", model + "/saved_model2.pb");
  EXPECT_NE(*HashSourceModel(model), *a);

  absl::StatusOr<uint64_t> missing = HashSourceModel(dir.File("missing.pb"));
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(missing.status().message(), HasSubstr("missing.pb"));
}

}  // namespace
}  // namespace rankopt
