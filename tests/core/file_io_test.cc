#include "core/file_io.h"

#include <sys/stat.h>

#include <filesystem>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace rankopt {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

std::string TempPath(const std::string& name) {
  const ::testing::TestInfo* info = ::testing::UnitTest::GetInstance()->current_test_info();
  return (fs::path(::testing::TempDir()) / (std::string(info->name()) + "_" + name)).string();
}

TEST(FileIoTest, WritesAndReadsBack) {
  const std::string path = TempPath("file.txt");
  ASSERT_TRUE(WriteStringToFile(path, std::string("a\0b", 3)).ok());
  absl::StatusOr<std::string> read = ReadFileToString(path);
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(*read, std::string("a\0b", 3));
}

TEST(FileIoTest, MissingFileAndDirectory) {
  absl::StatusOr<std::string> missing = ReadFileToString(TempPath("nothing"));
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(missing.status().message()), HasSubstr("no such file"));
  absl::StatusOr<std::string> dir = ReadFileToString(::testing::TempDir());
  EXPECT_THAT(std::string(dir.status().message()), HasSubstr("is a directory"));
}

// A FIFO would block the read forever and /dev/zero never ends: both are refused before reading.
TEST(FileIoTest, RefusesWhatIsNotARegularFile) {
  const std::string fifo = TempPath("fifo");
  fs::remove(fifo);
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  for (const std::string& path : {fifo, std::string("/dev/zero")}) {
    SCOPED_TRACE(path);
    absl::StatusOr<std::string> read = ReadFileToString(path);
    EXPECT_EQ(read.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(read.status().message()),
                HasSubstr(path + ": is not a regular file"));
  }
  fs::remove(fifo);
}

}  // namespace
}  // namespace rankopt
