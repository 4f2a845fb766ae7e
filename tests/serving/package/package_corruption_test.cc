// A package never trusts its file: truncations, flipped bytes, edited manifests (with a valid
// checksum) and random corruptions are errors that name the part, never a crash.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <xxhash.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "serving/package/model_package.h"
#include "serving/package/package_manifest.pb.h"
#include "tests/serving/package/package_test_util.h"

namespace rankopt {
namespace {

using ::rankopt::package_test::EveryFieldPackage;
using ::rankopt::package_test::ExpectSameGraph;
using ::rankopt::package_test::ReadAll;
using ::rankopt::package_test::TempDir;
using ::rankopt::package_test::WriteAll;
using ::testing::AnyOf;
using ::testing::HasSubstr;
using ::testing::StartsWith;

constexpr char kName[] = "every.rkp";

uint64_t LoadU64(const std::string& bytes, size_t at) {
  uint64_t v;
  std::memcpy(&v, bytes.data() + at, sizeof(v));
  return v;
}

// `file` with its manifest replaced by `manifest` and the header's checksum rewritten to match;
// the bytes after the manifest follow unchanged. REQUIRES: the edit keeps the manifest's size
// (offsets are fixed64; edit strings to strings of the same length).
std::string WithManifest(const std::string& file, const package::PackageManifest& manifest) {
  std::string text;
  EXPECT_TRUE(manifest.SerializeToString(&text));
  const uint64_t old_size = LoadU64(file, 8);
  EXPECT_EQ(text.size(), old_size) << "the edit changed the manifest's size";
  std::string out = file.substr(0, 64);
  const uint64_t size = text.size();
  const uint64_t hash = XXH64(text.data(), text.size(), 0);
  std::memcpy(out.data() + 8, &size, 8);
  std::memcpy(out.data() + 16, &hash, 8);
  out += text;
  out += file.substr(64 + old_size);
  return out;
}

class PackageCorruptionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    package_ = EveryFieldPackage();
    const std::string path = dir_.File(kName);
    ASSERT_TRUE(WriteModelPackage(package_, path).ok());
    file_ = ReadAll(path);
    manifest_bytes_ = LoadU64(file_, 8);
    ASSERT_TRUE(manifest_.ParseFromArray(file_.data() + 64, static_cast<int>(manifest_bytes_)));
    ASSERT_EQ(manifest_.blobs_size(), 4);
    // Padding: the gaps between the manifest and the first blob and between blobs.
    is_padding_.assign(file_.size(), false);
    uint64_t end = 64 + manifest_bytes_;
    for (const package::BlobProto& blob : manifest_.blobs()) {
      for (uint64_t i = end; i < blob.offset(); ++i) is_padding_[i] = true;
      end = blob.offset() + blob.size();
    }
    ASSERT_EQ(end, file_.size());
    ASSERT_TRUE(ParseModelPackage(file_, kName).ok());
  }

  absl::Status Parse(const std::string& bytes) { return ParseModelPackage(bytes, kName).status(); }

  TempDir dir_;
  ModelPackage package_;
  std::string file_;
  uint64_t manifest_bytes_ = 0;
  package::PackageManifest manifest_;
  std::vector<bool> is_padding_;
};

TEST_F(PackageCorruptionTest, EveryTruncationIsAnError) {
  std::vector<size_t> lengths;
  for (size_t n = 0; n < std::min<size_t>(file_.size(), 64 + manifest_bytes_ + 64); ++n) {
    lengths.push_back(n);
  }
  for (int k = 0; k < 200; ++k) lengths.push_back(file_.size() * k / 200);
  for (const package::BlobProto& blob : manifest_.blobs()) {
    lengths.push_back(blob.offset());
    lengths.push_back(blob.offset() + blob.size() / 2);
  }
  lengths.push_back(file_.size() - 1);
  for (size_t n : lengths) {
    SCOPED_TRACE(n);
    absl::Status s = Parse(file_.substr(0, n));
    ASSERT_FALSE(s.ok());
    EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss) << s;
    EXPECT_THAT(std::string(s.message()), StartsWith(std::string(kName) + ": "));
    EXPECT_THAT(s.message(), HasSubstr("truncated"));
  }
  // Through the file path (mmap) as well.
  const std::string path = dir_.File("truncated.rkp");
  for (size_t n : {size_t{0}, size_t{63}, size_t{64}, static_cast<size_t>(64 + manifest_bytes_),
                   file_.size() - 1}) {
    WriteAll(path, file_.substr(0, n));
    absl::StatusOr<ModelPackage> read = ReadModelPackage(path);
    ASSERT_FALSE(read.ok()) << n;
    EXPECT_THAT(std::string(read.status().message()), StartsWith(path + ": ")) << n;
    EXPECT_THAT(read.status().message(), HasSubstr("truncated")) << n;
  }
  // And bytes appended.
  absl::Status longer = Parse(file_ + std::string(64, '\0'));
  ASSERT_FALSE(longer.ok());
  EXPECT_THAT(longer.message(), HasSubstr("64 bytes follow the end of the last blob"));
}

TEST_F(PackageCorruptionTest, EveryFlippedByteIsAnErrorNamingThePart) {
  auto flipped = [&](size_t at) {
    std::string bytes = file_;
    bytes[at] ^= 0x5a;
    return Parse(bytes);
  };
  for (size_t i = 0; i < 64; ++i) {
    SCOPED_TRACE(i);
    absl::Status s = flipped(i);
    ASSERT_FALSE(s.ok());
    if (i < 8) {
      EXPECT_THAT(s.message(), AnyOf(HasSubstr("RKPKG"), HasSubstr("header magic")));
    } else if (i < 24) {
      EXPECT_THAT(s.message(), HasSubstr("manifest"));
    } else {
      EXPECT_THAT(s.message(), HasSubstr("header reserved bytes at byte " + std::to_string(i)));
    }
  }
  for (int k = 0; k < 300; ++k) {
    const size_t at = 64 + manifest_bytes_ * k / 300;
    SCOPED_TRACE(at);
    absl::Status s = flipped(at);
    ASSERT_FALSE(s.ok());
    EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss);
    EXPECT_THAT(std::string(s.message()),
                StartsWith(std::string(kName) + ": manifest (" + std::to_string(manifest_bytes_) +
                           " bytes): xxh64 mismatch (stored 0x"));
    EXPECT_THAT(s.message(), HasSubstr("the file is corrupt or was modified after writing"));
  }
  for (int b = 0; b < manifest_.blobs_size(); ++b) {
    const package::BlobProto& blob = manifest_.blobs(b);
    for (uint64_t at :
         {blob.offset(), blob.offset() + blob.size() / 2, blob.offset() + blob.size() - 1}) {
      SCOPED_TRACE(at);
      absl::Status s = flipped(at);
      ASSERT_FALSE(s.ok());
      EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss);
      EXPECT_THAT(std::string(s.message()),
                  StartsWith(std::string(kName) + ": blob " + std::to_string(b) + " (" +
                             blob.name() + "): xxh64 mismatch (stored 0x"));
    }
  }
  int padding = 0;
  for (size_t at = 0; at < file_.size(); ++at) {
    if (!is_padding_[at]) continue;
    ++padding;
    absl::Status s = flipped(at);
    ASSERT_FALSE(s.ok()) << at;
    EXPECT_THAT(s.message(), HasSubstr("padding before blob")) << at;
  }
  EXPECT_GT(padding, 0);
}

struct ManifestEdit {
  const char* name;
  std::function<void(package::PackageManifest*, uint64_t file_size)> edit;
  const char* expected;
};

TEST_F(PackageCorruptionTest, EditedManifestsWithValidChecksumsAreSpecificErrors) {
  const std::vector<ManifestEdit> edits = {
      {"misaligned",
       [](package::PackageManifest* m, uint64_t) {
         m->mutable_blobs(1)->set_offset(m->blobs(1).offset() + 8);
       },
       "blob 1 (attrs/big_tensor): offset "},
      {"out of range",
       [](package::PackageManifest* m, uint64_t size) {
         m->mutable_blobs(2)->set_offset((size + 63) / 64 * 64);
       },
       "blob 2 (attrs/big_bool_tensor): bytes ["},
      {"far out of range",
       [](package::PackageManifest* m, uint64_t) {
         m->mutable_blobs(2)->set_offset(~uint64_t{63});
       },
       "extend past the end of the file"},
      {"overlapping",
       [](package::PackageManifest* m, uint64_t) {
         m->mutable_blobs(1)->set_offset(m->blobs(0).offset() + 64);
       },
       "overlaps blob 0 (w/value)"},
      {"inside the manifest",
       [](package::PackageManifest* m, uint64_t) { m->mutable_blobs(0)->set_offset(64); },
       "blob 0 (w/value): offset 64 lies inside the header or manifest"},
      {"size against dims",
       [](package::PackageManifest* m, uint64_t) { m->mutable_blobs(0)->set_dims(0, 5); },
       "blob 0 (w/value): size 2048 bytes, but float32 [5,128] needs 2560"},
      {"negative dims",
       [](package::PackageManifest* m, uint64_t) {
         m->mutable_blobs(0)->set_dims(0, -4);  // a 10-byte varint instead of 1 byte ...
         m->set_model_version(m->model_version().substr(9));  // ... so 9 bytes fewer here
       },
       "blob 0 (w/value): "},
      {"string blob",
       [](package::PackageManifest* m, uint64_t) {
         m->mutable_blobs(0)->set_dtype(package::DT_STRING);
       },
       "blob 0 (w/value): dtype string; a blob holds a fixed-width tensor"},
      {"unknown blob dtype",
       [](package::PackageManifest* m, uint64_t) {
         m->mutable_blobs(0)->set_dtype(static_cast<package::DataType>(99));
       },
       "blob 0 (w/value): dtype number 99 is unknown"},
      {"blob dtype against the tensor",
       [](package::PackageManifest* m, uint64_t) {
         m->mutable_blobs(0)->set_dtype(package::DT_INT32);
       },
       "manifest graph: node 'w' attr 'value': the tensor is float32 [4,128] but blob 0 is int32"},
      {"stored checksum",
       [](package::PackageManifest* m, uint64_t) { m->mutable_blobs(3)->set_xxh64(12345); },
       "blob 3 (attrs/tensors[1]): xxh64 mismatch (stored 0x0000000000003039, computed 0x"},
      {"blob index",
       [](package::PackageManifest* m, uint64_t) {
         for (package::NodeProto& n : *m->mutable_graph()->mutable_nodes()) {
           if (n.name() == "w") n.mutable_attrs(0)->mutable_value()->mutable_tensor()->set_blob(9);
         }
       },
       "node 'w' attr 'value': blob index 9 is out of range; the package has 4 blobs"},
      {"format version", [](package::PackageManifest* m, uint64_t) { m->set_format_version(2); },
       "package format version 2; this rankopt reads version 1"},
      {"output", [](package::PackageManifest* m, uint64_t) { m->set_outputs(0, "z"); },  // was "y"
       "every.rkp: output 'z'"},
      {"feature config",
       [](package::PackageManifest* m, uint64_t) {
         m->set_feature_config_yaml(std::string(m->feature_config_yaml().size(), '['));
       },
       "feature_config_yaml"},
  };
  for (const ManifestEdit& e : edits) {
    SCOPED_TRACE(e.name);
    package::PackageManifest m = manifest_;
    e.edit(&m, file_.size());
    absl::Status s = Parse(WithManifest(file_, m));
    ASSERT_FALSE(s.ok());
    EXPECT_THAT(std::string(s.message()), StartsWith(std::string(kName) + ": "));
    EXPECT_THAT(s.message(), HasSubstr(e.expected));
  }
  // A manifest that does not parse, with a valid checksum.
  std::string garbage = file_;
  const uint64_t hash_of_garbage = [&] {
    std::fill(garbage.begin() + 64, garbage.begin() + 64 + manifest_bytes_, '\xff');
    return XXH64(garbage.data() + 64, manifest_bytes_, 0);
  }();
  std::memcpy(garbage.data() + 16, &hash_of_garbage, 8);
  absl::Status s = Parse(garbage);
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(s.message(), HasSubstr("the manifest does not parse as a PackageManifest"));
}

// Random multi-byte corruptions: each is an error, or (only where every changed byte is padding)
// a package whose graph is the original. Then the same with the manifest checksum recomputed,
// which hands corrupt manifests to the protobuf parser and the decoder: never a crash.
TEST_F(PackageCorruptionTest, RandomCorruptionsNeverCrash) {
  std::mt19937_64 rng(20240501);
  auto corrupt = [&](std::string* bytes, size_t begin, size_t end, std::vector<size_t>* changed) {
    const int mode = static_cast<int>(rng() % 3);
    const size_t span = end - begin;
    if (mode == 0) {  // a few scattered bytes
      const int n = 1 + static_cast<int>(rng() % 8);
      for (int i = 0; i < n; ++i) {
        const size_t at = begin + rng() % span;
        (*bytes)[at] ^= static_cast<char>(1 + rng() % 255);
        changed->push_back(at);
      }
    } else if (mode == 1) {  // a run of random bytes
      const size_t at = begin + rng() % span;
      const size_t n = std::min<size_t>(1 + rng() % 32, end - at);
      for (size_t i = 0; i < n; ++i) {
        (*bytes)[at + i] = static_cast<char>(rng());
        changed->push_back(at + i);
      }
    } else {  // small integers, which protobuf varints and sizes are made of
      const size_t at = begin + rng() % span;
      (*bytes)[at] = static_cast<char>(rng() % 4 == 0 ? 0 : rng() % 130);
      changed->push_back(at);
    }
  };

  int errors = 0, unchanged = 0, padding_only = 0;
  for (int iteration = 0; iteration < 1000; ++iteration) {
    std::string bytes = file_;
    std::vector<size_t> changed;
    corrupt(&bytes, 0, bytes.size(), &changed);
    if (bytes == file_) {
      ++unchanged;
      continue;
    }
    absl::StatusOr<ModelPackage> read = ParseModelPackage(bytes, kName);
    if (!read.ok()) {
      ++errors;
      EXPECT_THAT(std::string(read.status().message()), StartsWith(std::string(kName) + ": "));
      continue;
    }
    ++padding_only;
    for (size_t at : changed) {
      EXPECT_TRUE(is_padding_[at] || bytes[at] == file_[at]) << "iteration " << iteration;
    }
    ExpectSameGraph(package_.graph, read->graph);
  }
  std::printf("random corruptions: %d errors, %d loaded (padding only), %d no-ops\n", errors,
              padding_only, unchanged);

  int manifest_errors = 0, manifest_loaded = 0;
  for (int iteration = 0; iteration < 1000; ++iteration) {
    std::string bytes = file_;
    std::vector<size_t> changed;
    corrupt(&bytes, 64, 64 + manifest_bytes_, &changed);
    const uint64_t hash = XXH64(bytes.data() + 64, manifest_bytes_, 0);
    std::memcpy(bytes.data() + 16, &hash, 8);
    absl::StatusOr<ModelPackage> read = ParseModelPackage(bytes, kName);
    if (read.ok()) {
      ++manifest_loaded;  // e.g. a changed name or value: valid, only different
      EXPECT_TRUE(read->graph.Validate().ok());
    } else {
      ++manifest_errors;
      EXPECT_THAT(std::string(read.status().message()), StartsWith(std::string(kName) + ": "));
    }
  }
  std::printf("manifest corruptions with a valid checksum: %d errors, %d loaded\n", manifest_errors,
              manifest_loaded);
  EXPECT_GT(manifest_errors, 0);
}

}  // namespace
}  // namespace rankopt
