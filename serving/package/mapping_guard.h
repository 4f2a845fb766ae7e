// Survives a mapped package file being truncated under a running service. Reading a page of a
// file mapping past the file's new end raises SIGBUS, which would kill the process. A guarded
// mapping's SIGBUS is handled instead: the handler replaces the whole mapping with zero pages
// (the faulting load then reads zeros) and marks it damaged, and whoever reads the mapping checks
// MappingDamaged() after the reads and turns the result into an error (Model::Score returns
// DataLoss rather than scores computed from zeros). SIGBUS outside guarded mappings goes to the
// handler that was installed before (or kills the process as by default).
//
// Thread-safety: all functions are safe to call concurrently; the handler is async-signal-safe
// (atomics and mmap only).
#ifndef RANKOPT_SERVING_PACKAGE_MAPPING_GUARD_H_
#define RANKOPT_SERVING_PACKAGE_MAPPING_GUARD_H_

#include <cstddef>

namespace rankopt {

// At most this many mappings are guarded at once; later ones are not (kNoGuard).
inline constexpr int kMaxGuardedMappings = 256;
inline constexpr int kNoGuard = -1;

// Guards [addr, addr + size) (page aligned, a private file mapping); installs the SIGBUS handler
// on first use. Returns the guard's slot, or kNoGuard when every slot is taken.
int GuardMapping(void* addr, size_t size);
// Stops guarding (before the mapping is unmapped). kNoGuard is a no-op.
void UnguardMapping(int slot);
// Whether a SIGBUS hit the mapping of `slot` (its contents are zeros since). False for kNoGuard.
bool MappingDamaged(int slot);

}  // namespace rankopt

#endif  // RANKOPT_SERVING_PACKAGE_MAPPING_GUARD_H_
