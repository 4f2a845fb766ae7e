// Pooled embedding lookup throughput (embedding/kernels/lookup.h) next to the machine's measured
// memory bandwidth, its random-line ceiling and a plain loop, in one run.
//
//   ninja -C build embedding_lookup_bench && build/bench/embedding/embedding_lookup_bench
//   ... --benchmark_filter='Stream|Bag/int8/d16/b50/1G' --benchmark_repetitions=5
//       --benchmark_report_aggregates_only=true
//
// Names: Bag/<dtype>/d<dim>/b<bag size>/<L2|1G>/<uniform|zipf>/<kernel|plain>[/4k|/file|/pad32]
//        /manual_time[/threads:2].
//   bytes_per_second = row bytes the lookups read (ids x row_bytes), not cache lines moved;
//   lines_per_second = 64-byte lines the rows span (what DRAM actually delivers: a 24-byte int8
//     row costs one line, two when it straddles a line boundary);
//   huge_pct = % of the table's bytes the kernel maps with 2 MiB pages (from /proc/self/smaps);
//   L2 = 1000-row table; 1G = a 1 GiB table (rows = 2^30 / row_bytes);
//   zipf = ids ~ Zipf(s = 1) by rank, ranks scattered over the table by a bijective hash;
//   plain = gather + dequantize + sum written the obvious way, same inputs;
//   default memory = AllocateTableMemory (embedding/storage/table_memory.h: 2 MiB aligned,
//     madvise(MADV_HUGEPAGE)), what an owned EmbeddingTable gets;
//   4k = the same table on 4 KiB pages (MADV_NOHUGEPAGE; an owned table before table_memory.h);
//   file = the table written to a table file and mapped back by MappedTableFile::Open;
//   pad32 = int8 rows padded from 24 to 32 bytes (row_bytes = 32), so no row spans two lines;
//   threads:2 = two threads on the same table, each on its own ids; rates are the sum.
// Timing (manual_time): clean bursts of >= 6400 lookups, see CleanBursts; clean_pct = % of
// attempts kept. Rates are the machine's when the benchmark's threads have their CPUs, whatever
// else runs on it.
// Stream/copy, /triad, /read: memcpy of 1 GiB (STREAM counts 2 x 1 GiB), a = b + s * c over
// 3 x 512 MiB (3 x), a read-only sum over 1 GiB; single-threaded, over CPU time. Stream/copy8M:
// clean bursts of 8 MiB copies, 1 and 2 threads. The random-line ceiling: RandomLines loads one
// 8-byte word from each of 6400 random 64-byte lines of 1 GiB per burst (independent loads:
// out-of-order execution overlaps them); RandomLinesPrefetch does the same with a software prefetch
// into L2 kPrefetchDistance loads ahead, as the lookup kernels do (RandomLinesPrefetchL1: into L1,
// prefetcht0, what the kernels did before). A lookup whose row fits one line cannot beat that rate
// in lines per second.
// Tables are random bytes (finite values), built in about a second; one large table lives at a
// time.
#include <sys/mman.h>
#include <unistd.h>
#include <xmmintrin.h>

#include <algorithm>
#include <atomic>
#include <barrier>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "bench/bench_main.h"
#include "benchmark/benchmark.h"
#include "embedding/kernels/lookup.h"
#include "embedding/kernels/lookup_internal.h"
#include "embedding/storage/embedding_table.h"
#include "embedding/storage/table_file.h"
#include "embedding/storage/table_memory.h"
#include "embedding/table_view.h"

namespace rankopt {
namespace {

constexpr size_t kGiB = size_t{1} << 30;
constexpr int64_t kBagsPerIter = 128;
constexpr size_t kIdPool = size_t{1} << 21;  // 16 MiB of ids: streamed, never cache-resident.
constexpr size_t kBurstLookups = kBagsPerIter * 50;  // Rows one timed burst reads (at least).

enum class Memory {
  kHuge,  // AllocateTableMemory: huge pages for >= 2 MiB.
  k4k,    // mmap + MADV_NOHUGEPAGE.
  kFile,  // Written to a table file, mapped back by MappedTableFile::Open.
};

void Die(const std::string& what) {
  std::fprintf(stderr, "%s\n", what.c_str());
  std::abort();
}

std::shared_ptr<uint8_t> Allocate(size_t bytes, Memory memory) {
  if (memory == Memory::k4k) {
    void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) Die("mmap of " + std::to_string(bytes) + " bytes failed");
    madvise(p, bytes, MADV_NOHUGEPAGE);
    return std::shared_ptr<uint8_t>(static_cast<uint8_t*>(p),
                                    [bytes](uint8_t* q) { munmap(q, bytes); });
  }
  absl::StatusOr<std::shared_ptr<uint8_t>> p = AllocateTableMemory("bench", bytes);
  if (!p.ok()) Die(std::string(p.status().message()));
  return *std::move(p);
}

// Bytes of [data, data + size) mapped with 2 MiB pages (anonymous or file), from smaps.
size_t HugeBytes(const void* data, size_t size) {
  std::ifstream in("/proc/self/smaps");
  const uintptr_t lo = reinterpret_cast<uintptr_t>(data), hi = lo + size;
  size_t kib = 0;
  bool overlaps = false;
  std::string line;
  while (std::getline(in, line)) {
    unsigned long begin, end;
    long value;
    char dash;
    if (std::sscanf(line.c_str(), "%lx%c%lx ", &begin, &dash, &end) == 3 && dash == '-') {
      overlaps = begin < hi && end > lo;  // Whole-VMA figures: the table owns its VMAs.
    } else if (overlaps && (std::sscanf(line.c_str(), "AnonHugePages: %ld", &value) == 1 ||
                            std::sscanf(line.c_str(), "FilePmdMapped: %ld", &value) == 1)) {
      kib += static_cast<size_t>(value);
    }
  }
  return kib * 1024;
}

uint64_t SplitMix(uint64_t& s) {
  uint64_t z = (s += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

// Random finite values: fp32 in [-0.5, 0.5), fp16 in [-2, 2) (no inf/NaN/subnormal), int8 codes
// with scale in [0.001, 0.002) and bias in [-0.5, 0.5).
void FillRandom(TableDType dtype, int64_t rows, int64_t dim, size_t row_bytes, uint8_t* data) {
  uint64_t s = 42;
  const size_t bytes = static_cast<size_t>(rows) * row_bytes;
  uint64_t* words = reinterpret_cast<uint64_t*>(data);
  for (size_t i = 0; i < bytes / 8; ++i) {
    uint64_t r = SplitMix(s);
    if (dtype == TableDType::kFloat32) {
      r = (r & 0x007fffff007fffffull) | 0x3e0000003e000000ull;  // Exponent of 2^-3.
    } else if (dtype == TableDType::kFloat16) {
      r = (r & 0x87ff87ff87ff87ffull) | 0x3000300030003000ull;
    }
    words[i] = r;
  }
  if (dtype == TableDType::kInt8RowWise) {
    for (int64_t r = 0; r < rows; ++r) {
      const uint64_t x = SplitMix(s);
      const Int8RowTail tail{0.001f * (1.0f + static_cast<float>(x & 0xffff) / 65536.0f),
                             static_cast<float>((x >> 16) & 0xffff) / 65536.0f - 0.5f};
      std::memcpy(data + r * row_bytes + dim, &tail, sizeof(tail));
    }
  }
}

// Writes the table to a temporary table file, maps it back (checksums verified) and unlinks it
// (the mapping keeps the pages).
std::shared_ptr<const EmbeddingTable> ThroughTableFile(const TableView& v,
                                                       std::shared_ptr<uint8_t> bytes) {
  absl::StatusOr<EmbeddingTable> table =
      EmbeddingTable::FromExternal("bench", v.dtype, v.rows, v.dim, v.row_bytes, v.data,
                                   static_cast<size_t>(v.rows) * v.row_bytes, std::move(bytes));
  if (!table.ok()) Die(std::string(table.status().message()));
  const char* tmp = std::getenv("TMPDIR");
  const std::string path = std::string(tmp != nullptr ? tmp : "/tmp") + "/lookup_bench." +
                           std::to_string(getpid()) + ".rkemb";
  const EmbeddingTable* tables[] = {&*table};
  if (absl::Status s = WriteTableFile(path, tables); !s.ok()) Die(std::string(s.message()));
  absl::StatusOr<MappedTableFile> file = MappedTableFile::Open(path);
  std::remove(path.c_str());
  if (!file.ok()) Die(std::string(file.status().message()));
  return file->tables()[0];
}

struct Table {
  TableDType dtype;
  int64_t dim;
  bool large;
  Memory memory;
  size_t row_bytes;
  std::shared_ptr<const void> owner;
  TableView view;
  double huge_pct;
};

// The one table alive: a benchmark that needs another frees it first (1 GiB tables).
// row_align > 1 pads rows to a multiple of it (int8 rows of 24 B -> 32 B: no row spans 2 lines).
// Threads of one benchmark ask for the same table; the lock makes the first one build it.
const Table& GetTable(TableDType dtype, int64_t dim, bool large, Memory memory, size_t row_align) {
  static std::mutex mu;
  static Table current{};
  std::lock_guard<std::mutex> lock(mu);
  const size_t row_bytes = (RowBytes(dtype, dim) + row_align - 1) / row_align * row_align;
  if (current.owner && current.dtype == dtype && current.dim == dim && current.large == large &&
      current.memory == memory && current.row_bytes == row_bytes) {
    return current;
  }
  current.owner.reset();
  const int64_t rows = large ? static_cast<int64_t>(kGiB / row_bytes) : 1000;
  const size_t bytes = static_cast<size_t>(rows) * row_bytes;
  std::shared_ptr<uint8_t> buffer = Allocate(bytes, memory);
  FillRandom(dtype, rows, dim, row_bytes, buffer.get());
  current = Table{dtype, dim, large, memory, row_bytes, {}, {}, 0.0};
  current.view = TableView{dtype, rows, dim, row_bytes, buffer.get()};
  if (memory == Memory::kFile) {
    std::shared_ptr<const EmbeddingTable> mapped = ThroughTableFile(current.view, buffer);
    buffer.reset();
    current.view = mapped->view();
    current.owner = std::move(mapped);
  } else {
    current.owner = std::move(buffer);
  }
  current.huge_pct =
      100.0 * static_cast<double>(HugeBytes(current.view.data, bytes)) / static_cast<double>(bytes);
  return current;
}

enum class Dist { kUniform, kZipf };

// kIdPool ids over [0, rows), cached per (rows, dist).
const std::vector<int64_t>& GetIds(int64_t rows, Dist dist) {
  static std::mutex mu;
  static int64_t cached_rows = -1;
  static Dist cached_dist = Dist::kUniform;
  static std::vector<int64_t> ids;
  std::lock_guard<std::mutex> lock(mu);
  if (rows == cached_rows && dist == cached_dist) return ids;
  ids.resize(kIdPool);
  std::mt19937_64 rng(7);
  if (dist == Dist::kUniform) {
    std::uniform_int_distribution<int64_t> u(0, rows - 1);
    for (auto& id : ids) id = u(rng);
  } else {
    // Rank k with probability ~ 1 / (k + 1.5): inverse CDF of the continuous 1/x density, then
    // a bijection rank -> row (multiply by a prime coprime with rows) so hot rows are scattered
    // like hashed feature ids, not packed into a few cache lines.
    uint64_t prime = 2654435761ull;
    while (std::gcd(prime, static_cast<uint64_t>(rows)) != 1) prime += 2;
    std::uniform_real_distribution<double> u(0.0, 1.0);
    const double log_n = std::log(static_cast<double>(rows) + 1.0);
    for (auto& id : ids) {
      const uint64_t rank =
          std::min<uint64_t>(static_cast<uint64_t>(std::exp(u(rng) * log_n)) - 1, rows - 1);
      id = static_cast<int64_t>(rank * prime % static_cast<uint64_t>(rows));
    }
  }
  cached_rows = rows;
  cached_dist = dist;
  return ids;
}

// Where thread `thread` of `threads` starts in the id pool (disjoint stretches).
size_t FirstId(const benchmark::State& state) {
  return kIdPool / static_cast<size_t>(state.threads()) * static_cast<size_t>(state.thread_index());
}

int64_t Nanos(clockid_t clock) {
  timespec t;
  clock_gettime(clock, &t);
  return int64_t{t.tv_sec} * 1000000000 + t.tv_nsec;
}

// Preemption-filtered timing, for a machine shared with other work: there wall time measures the
// neighbours, and the CPU time of two threads does not say whether they ran at the same time.
// Each iteration repeats its burst of work (tens of microseconds) until a clean attempt: all
// threads start it together (a barrier) and each keeps its CPU throughout (thread CPU time >= 95%
// of wall time). The iteration's time is that attempt's slowest thread (UseManualTime), so rates
// are what the hardware does with `threads` threads really running at once. clean_pct says how
// many attempts were kept.
class CleanBursts {
 public:
  // The instance for `threads` threads, shared by the threads of one benchmark.
  static CleanBursts& For(int threads) {
    static std::mutex mu;
    static std::map<int, std::unique_ptr<CleanBursts>> all;
    std::lock_guard<std::mutex> lock(mu);
    std::unique_ptr<CleanBursts>& b = all[threads];
    if (!b) b.reset(new CleanBursts(threads));
    return *b;
  }

  // Every thread calls Start before its first Run of a benchmark run.
  void Start(const benchmark::State& state) {
    if (state.thread_index() == 0) {
      for (Slot& s : slots_) {
        s.dirty.store(0);
        s.max_ns.store(0);
      }
    }
    barrier_.arrive_and_wait();
  }

  // Runs burst() (in every thread) until an attempt is clean; returns its seconds. `attempt`
  // (starting at 0) and `dirty` are the calling thread's counters.
  template <typename F>
  double Run(const benchmark::State& state, int64_t* attempt, int64_t* dirty, const F& burst) {
    for (;;) {
      Slot& slot = slots_[*attempt & 1];
      barrier_.arrive_and_wait();
      // The other slot was last read before this attempt's barrier: reset it for the next one.
      if (state.thread_index() == 0) {
        Slot& next = slots_[(*attempt + 1) & 1];
        next.dirty.store(0);
        next.max_ns.store(0);
      }
      // The CPU clock (a system call) brackets the wall clock (vDSO), outside the timed span.
      const int64_t cpu0 = Nanos(CLOCK_THREAD_CPUTIME_ID), wall0 = Nanos(CLOCK_MONOTONIC);
      burst();
      const int64_t wall = Nanos(CLOCK_MONOTONIC) - wall0;
      const int64_t cpu = Nanos(CLOCK_THREAD_CPUTIME_ID) - cpu0;
      if (cpu * 20 < wall * 19) slot.dirty.fetch_add(1);
      int64_t seen = slot.max_ns.load();
      while (wall > seen && !slot.max_ns.compare_exchange_weak(seen, wall)) {
      }
      barrier_.arrive_and_wait();
      ++*attempt;
      if (slot.dirty.load() == 0) return static_cast<double>(slot.max_ns.load()) * 1e-9;
      ++*dirty;
    }
  }

 private:
  explicit CleanBursts(int threads) : barrier_(threads) {}

  struct Slot {
    std::atomic<int> dirty{0};
    std::atomic<int64_t> max_ns{0};
  };
  std::barrier<> barrier_;
  Slot slots_[2];  // Attempt k uses slots_[k % 2].
};

// The benchmark loop: one clean burst of `work` per iteration.
template <typename F>
void Iterate(benchmark::State& state, const F& work) {
  CleanBursts& sync = CleanBursts::For(state.threads());
  sync.Start(state);
  int64_t attempt = 0, dirty = 0;
  for (auto _ : state) state.SetIterationTime(sync.Run(state, &attempt, &dirty, work));
  state.counters["clean_pct"] =
      benchmark::Counter(100.0 * static_cast<double>(attempt - dirty) /
                             static_cast<double>(std::max<int64_t>(attempt, 1)),
                         benchmark::Counter::kAvgThreads);
}

// Distinct 64-byte lines the rows of `ids` span (per lookup, counting each row on its own).
double LinesPerLookup(const TableView& t) {
  double lines = 0;
  for (int64_t r = 0; r < 64; ++r) {  // Row offsets mod 64 repeat with period <= 64 rows.
    const size_t begin = r * t.row_bytes;
    lines += static_cast<double>((begin + t.row_bytes - 1) / 64 - begin / 64 + 1);
  }
  return lines / 64;
}

float PlainHalf(uint16_t h) { return HalfToFloat(h); }

// The obvious loop: zero the bag, then for each id add the dequantized row.
bool PlainBag(const TableView& t, const int64_t* ids, const int32_t* lengths, int64_t num_bags,
              float* out) {
  int64_t pos = 0;
  for (int64_t b = 0; b < num_bags; ++b) {
    float* o = out + b * t.dim;
    for (int64_t d = 0; d < t.dim; ++d) o[d] = 0.0f;
    for (int32_t k = 0; k < lengths[b]; ++k) {
      const int64_t id = ids[pos++];
      if (id < 0 || id >= t.rows) return false;
      const uint8_t* row = t.data + id * t.row_bytes;
      if (t.dtype == TableDType::kFloat32) {
        const float* v = reinterpret_cast<const float*>(row);
        for (int64_t d = 0; d < t.dim; ++d) o[d] += v[d];
      } else if (t.dtype == TableDType::kFloat16) {
        const uint16_t* v = reinterpret_cast<const uint16_t*>(row);
        for (int64_t d = 0; d < t.dim; ++d) o[d] += PlainHalf(v[d]);
      } else {
        float scale, bias;
        std::memcpy(&scale, row + t.dim, 4);
        std::memcpy(&bias, row + t.dim + 4, 4);
        for (int64_t d = 0; d < t.dim; ++d) o[d] += scale * row[d] + bias;
      }
    }
  }
  return true;
}

struct BagCase {
  TableDType dtype;
  int64_t dim;
  int32_t bag;
  bool large;
  Dist dist;
  bool plain = false;
  Memory memory = Memory::kHuge;
  size_t row_align = 1;
};

void BM_Bag(benchmark::State& state, BagCase c) {
  const Table& table = GetTable(c.dtype, c.dim, c.large, c.memory, c.row_align);
  const std::vector<int64_t>& ids = GetIds(table.view.rows, c.dist);
  const std::vector<int32_t> lengths(kBagsPerIter, c.bag);
  std::vector<float> out(kBagsPerIter * c.dim);
  const size_t per_call = kBagsPerIter * c.bag;
  // Enough calls that a burst reads kBurstLookups rows.
  const size_t calls = std::max<size_t>(1, kBurstLookups / per_call);
  size_t offset = FirstId(state);
  bool ok = true;
  Iterate(state, [&] {
    for (size_t k = 0; k < calls; ++k) {
      if (offset + per_call > ids.size()) offset = 0;
      const int64_t* batch = ids.data() + offset;
      ok &= c.plain ? PlainBag(table.view, batch, lengths.data(), kBagsPerIter, out.data())
                    : Bag(table.view, absl::MakeConstSpan(batch, per_call), lengths, nullptr,
                          Pooling::kSum, out.data());
      benchmark::DoNotOptimize(out.data());
      benchmark::ClobberMemory();
      offset += per_call;
    }
  });
  if (!ok) state.SkipWithError("lookup failed");
  const double lookups = static_cast<double>(state.iterations()) * calls * per_call;
  state.SetBytesProcessed(static_cast<int64_t>(lookups * table.view.row_bytes));
  state.counters["lookups_per_second"] = benchmark::Counter(lookups, benchmark::Counter::kIsRate);
  state.counters["lines_per_second"] =
      benchmark::Counter(lookups * LinesPerLookup(table.view), benchmark::Counter::kIsRate);
  if (c.large) {
    state.counters["huge_pct"] =
        benchmark::Counter(table.huge_pct, benchmark::Counter::kAvgThreads);
  }
}

// Each thread copies its own 1 GiB / threads.
void BM_StreamCopy(benchmark::State& state) {
  const size_t bytes = kGiB / static_cast<size_t>(state.threads());
  std::shared_ptr<uint8_t> src = Allocate(bytes, Memory::kHuge);
  std::shared_ptr<uint8_t> dst = Allocate(bytes, Memory::kHuge);
  std::memset(src.get(), 1, bytes);
  std::memset(dst.get(), 2, bytes);
  for (auto _ : state) {
    std::memcpy(dst.get(), src.get(), bytes);
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * 2 * bytes));
}

// Bursts of 8 MiB copies (each thread its own 512 MiB source and destination, cold chunks).
void BM_StreamCopyBursts(benchmark::State& state) {
  constexpr size_t kBytes = kGiB / 2, kChunk = size_t{8} << 20;
  std::shared_ptr<uint8_t> src = Allocate(kBytes, Memory::kHuge);
  std::shared_ptr<uint8_t> dst = Allocate(kBytes, Memory::kHuge);
  std::memset(src.get(), 1, kBytes);
  std::memset(dst.get(), 2, kBytes);
  size_t offset = 0;
  Iterate(state, [&] {
    std::memcpy(dst.get() + offset, src.get() + offset, kChunk);
    benchmark::ClobberMemory();
    offset = (offset + kChunk) % kBytes;
  });
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * 2 * kChunk));
}

void BM_StreamTriad(benchmark::State& state) {
  const size_t n = kGiB / 2 / sizeof(float);
  std::shared_ptr<uint8_t> a = Allocate(n * 4, Memory::kHuge);
  std::shared_ptr<uint8_t> b = Allocate(n * 4, Memory::kHuge);
  std::shared_ptr<uint8_t> c = Allocate(n * 4, Memory::kHuge);
  float* pa = reinterpret_cast<float*>(a.get());
  const float* pb = reinterpret_cast<const float*>(b.get());
  const float* pc = reinterpret_cast<const float*>(c.get());
  std::memset(a.get(), 0, n * 4);
  std::memset(b.get(), 0, n * 4);
  std::memset(c.get(), 0, n * 4);
  const float s = 3.0f;
  for (auto _ : state) {
    for (size_t i = 0; i < n; ++i) pa[i] = pb[i] + s * pc[i];
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * 3 * n * 4));
}

void BM_StreamRead(benchmark::State& state) {
  std::shared_ptr<uint8_t> a = Allocate(kGiB, Memory::kHuge);
  std::memset(a.get(), 1, kGiB);
  const uint64_t* p = reinterpret_cast<const uint64_t*>(a.get());
  for (auto _ : state) {
    uint64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    for (size_t i = 0; i < kGiB / 8; i += 4) {
      s0 += p[i];
      s1 += p[i + 1];
      s2 += p[i + 2];
      s3 += p[i + 3];
    }
    benchmark::DoNotOptimize(s0 + s1 + s2 + s3);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * kGiB));
}

// The random-line ceiling: one 8-byte load from each of per_iter random lines of a 1 GiB buffer
// on huge pages (the memory a large table gets), ids streamed from the same pool as the bags.
enum class LinePrefetch { kNone, kL2, kL1 };

void BM_RandomLines(benchmark::State& state, LinePrefetch prefetch) {
  static std::mutex mu;
  static std::shared_ptr<uint8_t> buffer;
  {
    std::lock_guard<std::mutex> lock(mu);
    if (!buffer) {
      buffer = Allocate(kGiB, Memory::kHuge);
      std::memset(buffer.get(), 1, kGiB);
    }
  }
  const uint8_t* data = buffer.get();
  const std::vector<int64_t>& ids = GetIds(kGiB / 64, Dist::kUniform);
  constexpr size_t kPerIter = kBurstLookups;
  constexpr size_t kAhead = lookup_internal::kPrefetchDistance;
  size_t offset = FirstId(state);
  Iterate(state, [&] {
    if (offset + kPerIter + kAhead > ids.size()) offset = 0;
    const int64_t* batch = ids.data() + offset;
    uint64_t s = 0;
    for (size_t i = 0; i < kPerIter; ++i) {
      const char* ahead = reinterpret_cast<const char*>(data + batch[i + kAhead] * 64);
      if (prefetch == LinePrefetch::kL2) _mm_prefetch(ahead, _MM_HINT_T1);
      if (prefetch == LinePrefetch::kL1) _mm_prefetch(ahead, _MM_HINT_T0);
      uint64_t word;
      std::memcpy(&word, data + batch[i] * 64, sizeof(word));
      s += word;
    }
    benchmark::DoNotOptimize(s);
    offset += kPerIter;
  });
  const double lines = static_cast<double>(state.iterations()) * kPerIter;
  state.SetBytesProcessed(static_cast<int64_t>(lines * 64));
  state.counters["lines_per_second"] = benchmark::Counter(lines, benchmark::Counter::kIsRate);
}

const char* DTypeLabel(TableDType d) {
  switch (d) {
    case TableDType::kFloat32:
      return "fp32";
    case TableDType::kFloat16:
      return "fp16";
    case TableDType::kInt8RowWise:
      return "int8";
  }
  return "?";
}

std::string BagName(TableDType dtype, int64_t dim, int32_t bag, bool large, Dist dist, bool plain) {
  return std::string("Bag/") + DTypeLabel(dtype) + "/d" + std::to_string(dim) + "/b" +
         std::to_string(bag) + "/" + (large ? "1G" : "L2") + "/" +
         (dist == Dist::kZipf ? "zipf" : "uniform") + "/" + (plain ? "plain" : "kernel");
}

void AddBag(const std::string& name, const BagCase& c, int threads = 1) {
  benchmark::internal::Benchmark* b = benchmark::RegisterBenchmark(name.c_str(), BM_Bag, c);
  b->UseManualTime();
  if (threads > 1) b->Threads(threads);
}

void RegisterAll() {
  benchmark::RegisterBenchmark("Stream/copy", BM_StreamCopy)->Unit(benchmark::kMillisecond);
  benchmark::RegisterBenchmark("Stream/triad", BM_StreamTriad)->Unit(benchmark::kMillisecond);
  benchmark::RegisterBenchmark("Stream/read", BM_StreamRead)->Unit(benchmark::kMillisecond);
  for (int threads : {1, 2}) {
    std::vector<benchmark::internal::Benchmark*> added = {
        benchmark::RegisterBenchmark("Stream/copy8M", BM_StreamCopyBursts),
        benchmark::RegisterBenchmark("Stream/RandomLines", BM_RandomLines, LinePrefetch::kNone),
        benchmark::RegisterBenchmark("Stream/RandomLinesPrefetch", BM_RandomLines,
                                     LinePrefetch::kL2),
        benchmark::RegisterBenchmark("Stream/RandomLinesPrefetchL1", BM_RandomLines,
                                     LinePrefetch::kL1)};
    for (benchmark::internal::Benchmark* b : added) {
      b->UseManualTime();
      if (threads > 1) b->Threads(threads);
    }
  }
  // Grouped by table so each table is built once.
  for (bool large : {false, true}) {
    for (TableDType dtype :
         {TableDType::kInt8RowWise, TableDType::kFloat32, TableDType::kFloat16}) {
      for (int64_t dim : {8, 16, 32, 64}) {
        for (Dist dist : {Dist::kUniform, Dist::kZipf}) {
          for (int32_t bag : {1, 20, 50}) {
            for (bool plain : {false, true}) {
              AddBag(BagName(dtype, dim, bag, large, dist, plain),
                     BagCase{dtype, dim, bag, large, dist, plain});
            }
          }
          // Two threads on the key case: one core's miss buffers cap the single-thread rate.
          if (large && dim == 16) {
            AddBag(BagName(dtype, dim, 50, large, dist, false),
                   BagCase{dtype, dim, 50, large, dist}, 2);
          }
        }
      }
    }
  }
  // The key case on 4 KiB pages, and mapped from a table file.
  for (Memory memory : {Memory::k4k, Memory::kFile}) {
    for (TableDType dtype : {TableDType::kInt8RowWise, TableDType::kFloat32}) {
      for (Dist dist : {Dist::kUniform, Dist::kZipf}) {
        BagCase c{dtype, 16, 50, true, dist};
        c.memory = memory;
        AddBag(
            BagName(dtype, 16, 50, true, dist, false) + (memory == Memory::k4k ? "/4k" : "/file"),
            c);
      }
    }
  }
  // int8 rows padded from 24 to 32 bytes (what storage could choose via TableView::row_bytes).
  for (Dist dist : {Dist::kUniform, Dist::kZipf}) {
    BagCase c{TableDType::kInt8RowWise, 16, 50, true, dist};
    c.row_align = 32;
    for (int threads : {1, 2}) {
      AddBag(BagName(TableDType::kInt8RowWise, 16, 50, true, dist, false) + "/pad32", c, threads);
    }
  }
}

}  // namespace
}  // namespace rankopt

int main(int argc, char** argv) {
  rankopt::WarnIfUnoptimizedBuild();
  std::printf("lookup kernels: %s; transparent huge pages: %s\n",
              std::string(rankopt::LookupIsaName()).c_str(),
              rankopt::TransparentHugePageMode().c_str());
  rankopt::RegisterAll();
  return rankopt::RunRegisteredBenchmarks(argc, argv);
}
