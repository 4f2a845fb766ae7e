// Memory for embedding table rows, on transparent huge pages when the table is large.
//
// Why: lookups read random rows, so a large table misses the TLB on nearly every row. On 4 KiB
// pages a 1 GiB table needs 262144 TLB entries; on 2 MiB pages, 512 (the L2 TLB holds them all).
// Measured on 1 GiB tables, dim 16, bags of 50: 2.3-2.7x the lookup rate of 4 KiB pages, int8 and
// fp32 (bench/embedding/lookup_bench.cc, .../4k variants).
//
// Regions of kHugePageBytes or more are 2 MiB aligned and advised with madvise(MADV_HUGEPAGE)
// before their first touch, which is what THP mode "madvise" (a common default) needs; in mode
// "always" it changes nothing, in mode "never" the kernel ignores it. The advice is a hint: no
// error comes from it.
//
// Thread-safety: the functions are safe to call concurrently.
#ifndef RANKOPT_EMBEDDING_STORAGE_TABLE_MEMORY_H_
#define RANKOPT_EMBEDDING_STORAGE_TABLE_MEMORY_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace rankopt {

inline constexpr size_t kHugePageBytes = size_t{2} << 20;

// Zeroed storage of at least `bytes` bytes (bytes >= 1), 64-byte aligned; 2 MiB aligned and advised
// onto huge pages when bytes >= kHugePageBytes. The deleter frees it (munmap or free).
// Errors (ResourceExhausted) name `owner` (a table name) and the size.
absl::StatusOr<std::shared_ptr<uint8_t>> AllocateTableMemory(absl::string_view owner, size_t bytes);
// The same for a caller that writes all of the first `bytes` bytes itself (a copy of a file): only
// the alignment tail past them is zeroed, not the whole buffer before it is overwritten.
absl::StatusOr<std::shared_ptr<uint8_t>> AllocateTableMemoryForOverwrite(absl::string_view owner,
                                                                         size_t bytes);

// Advises the whole 2 MiB pages inside [data, data + size) onto transparent huge pages. For a
// mapping that is not yet touched (a fresh mmap). Returns whether any page was advised and the
// kernel accepted it.
bool AdviseHugePages(const void* data, size_t size);

// Maps the first `size` bytes of the open file `fd` read-only and private. A file of
// kHugePageBytes or more is mapped at a 2 MiB aligned address: the kernel can back file pages with
// huge pages (large page-cache folios, a PMD mapping) only where virtual address and file offset
// agree mod 2 MiB. Returns MAP_FAILED with errno set; unmap with munmap(addr, size).
void* MapFileReadOnly(int fd, size_t size);

// The selected mode in /sys/kernel/mm/transparent_hugepage/enabled ("always", "madvise",
// "never"), or "unavailable" when the file cannot be read. For reports.
std::string TransparentHugePageMode();

}  // namespace rankopt

#endif  // RANKOPT_EMBEDDING_STORAGE_TABLE_MEMORY_H_
