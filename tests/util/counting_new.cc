#include "tests/util/counting_new.h"

#include <execinfo.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <new>

namespace {

std::atomic<bool> g_counting{false};
std::atomic<int64_t> g_news{0};

// Call stacks of the first kMaxSites counted allocations, when g_recording (fixed storage: the
// recording must not allocate).
constexpr int kMaxSites = 8;
constexpr int kSiteFrames = 16;
std::atomic<bool> g_recording{false};
std::atomic<int> g_sites{0};
void* g_site_frames[kMaxSites][kSiteFrames];
int g_site_depth[kMaxSites];
thread_local bool t_in_backtrace = false;

void RecordSite() {
  if (t_in_backtrace) return;
  const int i = g_sites.fetch_add(1, std::memory_order_relaxed);
  if (i >= kMaxSites) return;
  t_in_backtrace = true;
  g_site_depth[i] = backtrace(g_site_frames[i], kSiteFrames);
  t_in_backtrace = false;
}

void* Allocate(std::size_t size, std::size_t alignment) {
  if (g_counting.load(std::memory_order_relaxed)) {
    g_news.fetch_add(1, std::memory_order_relaxed);
    if (g_recording.load(std::memory_order_relaxed)) RecordSite();
  }
  if (size == 0) size = 1;
  if (alignment <= alignof(std::max_align_t)) return std::malloc(size);
  return std::aligned_alloc(alignment, (size + alignment - 1) / alignment * alignment);
}

void* AllocateOrThrow(std::size_t size, std::size_t alignment) {
  void* p = Allocate(size, alignment);
  if (p == nullptr) throw std::bad_alloc();
  return p;
}

}  // namespace

// Not under TSan: its runtime owns operator new/delete. The counts are then 0 (the Release build
// is where allocation counts are asserted).
#if defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define RANKOPT_UNDER_TSAN 1
#endif
#endif
#if defined(__SANITIZE_THREAD__)
#define RANKOPT_UNDER_TSAN 1
#endif
#ifndef RANKOPT_UNDER_TSAN
void* operator new(std::size_t n) { return AllocateOrThrow(n, 0); }
void* operator new[](std::size_t n) { return AllocateOrThrow(n, 0); }
void* operator new(std::size_t n, std::align_val_t a) {
  return AllocateOrThrow(n, static_cast<std::size_t>(a));
}
void* operator new[](std::size_t n, std::align_val_t a) {
  return AllocateOrThrow(n, static_cast<std::size_t>(a));
}
void* operator new(std::size_t n, const std::nothrow_t&) noexcept { return Allocate(n, 0); }
void* operator new[](std::size_t n, const std::nothrow_t&) noexcept { return Allocate(n, 0); }
void* operator new(std::size_t n, std::align_val_t a, const std::nothrow_t&) noexcept {
  return Allocate(n, static_cast<std::size_t>(a));
}
void* operator new[](std::size_t n, std::align_val_t a, const std::nothrow_t&) noexcept {
  return Allocate(n, static_cast<std::size_t>(a));
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, std::align_val_t, const std::nothrow_t&) noexcept { std::free(p); }
#endif

namespace rankopt {

int64_t CountAllocations(absl::FunctionRef<void()> f) {
  g_news = 0;
  g_counting = true;
  f();
  g_counting = false;
  return g_news.load();
}

void PrintAllocationSites(absl::FunctionRef<void()> f) {
  void* frames[1];
  backtrace(frames, 1);  // loads libgcc's unwinder now, not while counting
  g_sites = 0;
  g_recording = true;
  const int64_t count = CountAllocations(f);
  g_recording = false;
  const int sites = std::min<int>(g_sites.load(), kMaxSites);
  std::printf("%lld allocation(s); the call stacks of the first %d:\n",
              static_cast<long long>(count), sites);
  for (int i = 0; i < sites; ++i) {
    std::printf("allocation %d:\n", i);
    std::fflush(stdout);
    backtrace_symbols_fd(g_site_frames[i], g_site_depth[i], STDOUT_FILENO);
  }
}

}  // namespace rankopt
