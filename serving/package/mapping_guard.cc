#include "serving/package/mapping_guard.h"

#include <signal.h>
#include <sys/mman.h>

#include <atomic>
#include <cstdint>
#include <mutex>

namespace rankopt {
namespace {

struct Slot {
  std::atomic<uintptr_t> begin{0};
  std::atomic<uintptr_t> end{0};
  std::atomic<bool> damaged{false};
  std::atomic<bool> used{false};
};

Slot g_slots[kMaxGuardedMappings];
struct sigaction g_previous;
std::once_flag g_install_once;

void OnSigbus(int signo, siginfo_t* info, void* context) {
  const uintptr_t address = reinterpret_cast<uintptr_t>(info->si_addr);
  for (Slot& slot : g_slots) {
    const uintptr_t begin = slot.begin.load(std::memory_order_acquire);
    const uintptr_t end = slot.end.load(std::memory_order_acquire);
    if (begin == 0 || address < begin || address >= end) continue;
    // Zero pages over the whole mapping: every later read sees zeros, never another SIGBUS.
    void* zeros = ::mmap(reinterpret_cast<void*>(begin), end - begin, PROT_READ,
                         MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
    if (zeros != MAP_FAILED) {
      slot.damaged.store(true, std::memory_order_release);
      return;  // the faulting load runs again and reads zero
    }
    break;
  }
  // Not ours (or the remap failed): what would have happened without us.
  if (g_previous.sa_flags & SA_SIGINFO) {
    if (g_previous.sa_sigaction != nullptr) {
      g_previous.sa_sigaction(signo, info, context);
      return;
    }
  } else if (g_previous.sa_handler != SIG_DFL && g_previous.sa_handler != SIG_IGN &&
             g_previous.sa_handler != nullptr) {
    g_previous.sa_handler(signo);
    return;
  }
  // Default action: restore it and return; the fault repeats and ends the process with SIGBUS.
  struct sigaction default_action = {};
  default_action.sa_handler = SIG_DFL;
  ::sigaction(SIGBUS, &default_action, nullptr);
}

void Install() {
  struct sigaction action = {};
  action.sa_sigaction = OnSigbus;
  action.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_RESTART;
  sigemptyset(&action.sa_mask);
  ::sigaction(SIGBUS, &action, &g_previous);
}

}  // namespace

int GuardMapping(void* addr, size_t size) {
  std::call_once(g_install_once, Install);
  for (int i = 0; i < kMaxGuardedMappings; ++i) {
    bool expected = false;
    if (!g_slots[i].used.compare_exchange_strong(expected, true, std::memory_order_acq_rel)) {
      continue;
    }
    const uintptr_t begin = reinterpret_cast<uintptr_t>(addr);
    g_slots[i].damaged.store(false, std::memory_order_relaxed);
    g_slots[i].end.store(begin + size, std::memory_order_release);
    g_slots[i].begin.store(begin, std::memory_order_release);
    return i;
  }
  return kNoGuard;
}

void UnguardMapping(int slot) {
  if (slot < 0 || slot >= kMaxGuardedMappings) return;
  g_slots[slot].begin.store(0, std::memory_order_release);
  g_slots[slot].end.store(0, std::memory_order_release);
  g_slots[slot].used.store(false, std::memory_order_release);
}

bool MappingDamaged(int slot) {
  if (slot < 0 || slot >= kMaxGuardedMappings) return false;
  return g_slots[slot].damaged.load(std::memory_order_acquire);
}

}  // namespace rankopt
