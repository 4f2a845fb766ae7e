#include "embedding/storage/table_memory.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>

#include "absl/strings/str_cat.h"

namespace rankopt {
namespace {

constexpr size_t kSmallAlignment = 64;

struct FreeDeleter {
  void operator()(uint8_t* p) const { std::free(p); }
};

struct UnmapDeleter {
  size_t bytes;
  void operator()(uint8_t* p) const { munmap(p, bytes); }
};

absl::Status OutOfMemory(absl::string_view owner, size_t bytes) {
  return absl::ResourceExhaustedError(
      absl::StrCat("embedding table '", owner, "': cannot allocate ", bytes, " bytes"));
}

// `zero_from`: the first byte that must read as zero (0: all of them).
absl::StatusOr<std::shared_ptr<uint8_t>> Allocate(absl::string_view owner, size_t bytes,
                                                  size_t zero_from) {
  if (bytes < kHugePageBytes) {
    const size_t rounded = (bytes + kSmallAlignment - 1) / kSmallAlignment * kSmallAlignment;
    if (rounded < bytes) return OutOfMemory(owner, bytes);
    auto* p = static_cast<uint8_t*>(std::aligned_alloc(kSmallAlignment, rounded));
    if (p == nullptr) return OutOfMemory(owner, rounded);
    std::memset(p + zero_from, 0, rounded - zero_from);
    return std::shared_ptr<uint8_t>(p, FreeDeleter());
  }
  // Over-map by one huge page, then trim both ends so that what is left starts 2 MiB aligned:
  // the kernel only backs whole, aligned 2 MiB ranges with huge pages. Anonymous memory is
  // zeroed, and the advice comes before any byte is touched.
  const size_t rounded = (bytes + kHugePageBytes - 1) / kHugePageBytes * kHugePageBytes;
  if (rounded < bytes || rounded + kHugePageBytes < rounded) return OutOfMemory(owner, bytes);
  void* raw = mmap(nullptr, rounded + kHugePageBytes, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (raw == MAP_FAILED) return OutOfMemory(owner, rounded);
  const uintptr_t begin = reinterpret_cast<uintptr_t>(raw);
  const uintptr_t aligned = (begin + kHugePageBytes - 1) / kHugePageBytes * kHugePageBytes;
  if (aligned > begin) munmap(raw, aligned - begin);
  const size_t tail = begin + kHugePageBytes - aligned;
  if (tail > 0) munmap(reinterpret_cast<void*>(aligned + rounded), tail);
  auto* p = reinterpret_cast<uint8_t*>(aligned);
  AdviseHugePages(p, rounded);
  return std::shared_ptr<uint8_t>(p, UnmapDeleter{rounded});
}

}  // namespace

absl::StatusOr<std::shared_ptr<uint8_t>> AllocateTableMemory(absl::string_view owner,
                                                             size_t bytes) {
  return Allocate(owner, bytes, 0);
}

absl::StatusOr<std::shared_ptr<uint8_t>> AllocateTableMemoryForOverwrite(absl::string_view owner,
                                                                         size_t bytes) {
  return Allocate(owner, bytes, bytes);
}

bool AdviseHugePages(const void* data, size_t size) {
  const uintptr_t begin = reinterpret_cast<uintptr_t>(data);
  const uintptr_t first = (begin + kHugePageBytes - 1) / kHugePageBytes * kHugePageBytes;
  const uintptr_t end = (begin + size) / kHugePageBytes * kHugePageBytes;
  if (size < kHugePageBytes || end <= first) return false;
  return madvise(reinterpret_cast<void*>(first), end - first, MADV_HUGEPAGE) == 0;
}

std::string TransparentHugePageMode() {
  std::ifstream in("/sys/kernel/mm/transparent_hugepage/enabled");
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  // The selected mode is bracketed: "always [madvise] never".
  const size_t open = text.find('[');
  const size_t close = text.find(']', open);
  if (open == std::string::npos || close == std::string::npos) return "unavailable";
  return text.substr(open + 1, close - open - 1);
}

void* MapFileReadOnly(int fd, size_t size) {
  if (size < kHugePageBytes) return ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
  // Reserve address space one huge page larger, map the file over its aligned part, and give the
  // rest back.
  const size_t page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
  const size_t length = (size + page - 1) / page * page;
  const size_t reserved = length + kHugePageBytes;
  void* reservation =
      ::mmap(nullptr, reserved, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (reservation == MAP_FAILED) return MAP_FAILED;
  const uintptr_t begin = reinterpret_cast<uintptr_t>(reservation);
  const uintptr_t aligned = (begin + kHugePageBytes - 1) / kHugePageBytes * kHugePageBytes;
  void* addr =
      ::mmap(reinterpret_cast<void*>(aligned), size, PROT_READ, MAP_PRIVATE | MAP_FIXED, fd, 0);
  if (addr == MAP_FAILED) {
    const int map_errno = errno;
    ::munmap(reservation, reserved);
    errno = map_errno;
    return MAP_FAILED;
  }
  if (aligned > begin) ::munmap(reservation, aligned - begin);
  const uintptr_t end = aligned + length;
  if (begin + reserved > end) ::munmap(reinterpret_cast<void*>(end), begin + reserved - end);
  return addr;
}


}  // namespace rankopt
