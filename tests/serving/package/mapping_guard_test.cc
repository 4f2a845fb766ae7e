// A package file truncated in place while its mapping is in use: reading the mapping does not
// kill the process (SIGBUS is handled), the blobs read as zeros, and MappingDamaged says so. A
// SIGBUS outside guarded mappings still ends the process as before.
#include "serving/package/mapping_guard.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "serving/package/model_package.h"
#include "tests/serving/package/package_test_util.h"

namespace rankopt {
namespace {

std::string TempPath(const std::string& name) {
  return (std::filesystem::temp_directory_path() /
          absl::StrCat("rankopt_mapping_guard_", ::getpid(), "_", name))
      .string();
}

// Sums every byte of every fixed-width constant: touches every blob page.
uint64_t TouchConstants(const Graph& graph) {
  uint64_t sum = 0;
  for (const Node& node : graph.nodes()) {
    for (const auto& [name, value] : node.attrs.entries()) {
      if (const Tensor* t = std::get_if<Tensor>(&value); t != nullptr) {
        for (char c : t->bytes()) sum += static_cast<unsigned char>(c);
      }
    }
  }
  return sum;
}

TEST(MappingGuardTest, TruncatedPackageReadsAsZerosAndIsMarkedDamaged) {
  const std::string path = TempPath("every.rkp");
  ASSERT_TRUE(WriteModelPackage(package_test::EveryFieldPackage(), path).ok());
  ReadPackageOptions mapped;
  mapped.copy_below_bytes = 0;
  absl::StatusOr<ModelPackage> read = ReadModelPackage(path, mapped);
  ASSERT_TRUE(read.ok()) << read.status();
  ASSERT_NE(read->mapping_guard, kNoGuard);
  const uint64_t before = TouchConstants(read->graph);
  EXPECT_GT(before, 0u);
  EXPECT_FALSE(MappingDamaged(read->mapping_guard));

  // In place, as a careless deploy (cp over the file) would.
  ASSERT_EQ(::truncate(path.c_str(), 0), 0);
  const uint64_t after = TouchConstants(read->graph);  // would be SIGBUS unguarded
  EXPECT_TRUE(MappingDamaged(read->mapping_guard));
  EXPECT_LT(after, before);  // the blobs now read as zeros (inline constants are copies)
  std::filesystem::remove(path);
}

TEST(MappingGuardDeathTest, UnguardedSigbusStillEndsTheProcess) {
  const std::string path = TempPath("plain.bin");
  {
    std::ofstream out(path, std::ios::binary);
    out << std::string(8192, 'x');
  }
  // Install our handler first, so the test shows it passes foreign faults on.
  const int slot = GuardMapping(reinterpret_cast<void*>(4096), 4096);
  UnguardMapping(slot);
  EXPECT_DEATH(
      {
        const int fd = ::open(path.c_str(), O_RDONLY);
        void* addr = ::mmap(nullptr, 8192, PROT_READ, MAP_PRIVATE, fd, 0);
        ::ftruncate(::open(path.c_str(), O_WRONLY), 0);
        volatile const char* p = static_cast<const char*>(addr);
        (void)p[4096];
      },
      "");
  std::filesystem::remove(path);
}

}  // namespace
}  // namespace rankopt
