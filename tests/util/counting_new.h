// Counts heap allocations for tests that assert a hot path allocates nothing. Linking
// counting_new.cc replaces the global operator new/delete of the test binary with counting
// versions, so a binary using this is its own executable.
//
// TBB's task objects do not come through operator new: libtbb takes its memory from tbbmalloc
// (scalable_malloc, loaded with dlopen), and parallel_for's tasks from per-thread small-object
// pools that refill from it only when empty. Under gdb, breakpoints on malloc, scalable_malloc
// and scalable_aligned_malloc saw no call in warm 2-thread runs, so these counts miss nothing.
#ifndef RANKOPT_TESTS_UTIL_COUNTING_NEW_H_
#define RANKOPT_TESTS_UTIL_COUNTING_NEW_H_

#include <cstdint>

#include "absl/functional/function_ref.h"

namespace rankopt {

// Allocations made through operator new, on any thread, while `f` runs.
int64_t CountAllocations(absl::FunctionRef<void()> f);

// Runs `f` counting, and prints the call stacks of the first allocations it makes (symbolize
// with `addr2line -f -i -C -e <test binary> <offsets>`).
void PrintAllocationSites(absl::FunctionRef<void()> f);

}  // namespace rankopt

#endif  // RANKOPT_TESTS_UTIL_COUNTING_NEW_H_
