#include "serving/remote/row_cache.h"

#include <algorithm>
#include <cstring>
#include <new>
#include <thread>

#include "absl/strings/str_cat.h"

namespace rankopt {

namespace {

// A full table gets this many ways per row, so that hashing's uneven sets still hold (nearly)
// every row.
constexpr double kFullSlack = 1.5;

uint64_t Mix(int64_t id) {
  uint64_t x = static_cast<uint64_t>(id) * 0x9E3779B97F4A7C15ull;
  x ^= x >> 29;
  x *= 0xBF58476D1CE4E5B9ull;
  return x ^ (x >> 32);
}

}  // namespace

struct RowCache::Table {
  struct alignas(8) Set {
    std::atomic<uint8_t> lock{0};
    uint8_t referenced = 0;  // bit w: way w was hit since the hand last passed it
    uint8_t hand = 0;
    int64_t ids[kWays] = {-1, -1, -1, -1, -1, -1, -1, -1};
  };
  size_t row_bytes = 0;
  uint64_t num_sets = 0;
  std::unique_ptr<Set[]> sets;
  std::unique_ptr<uint8_t[]> rows;  // num_sets * kWays rows

  size_t SetOf(int64_t id) const {
    return static_cast<size_t>((static_cast<unsigned __int128>(Mix(id)) * num_sets) >> 64);
  }
  uint8_t* Row(size_t set, int way) const {
    return rows.get() + (set * kWays + static_cast<size_t>(way)) * row_bytes;
  }
  static void Lock(Set& s) {
    for (int spins = 0; s.lock.exchange(1, std::memory_order_acquire) != 0; ++spins) {
      // The holder copies one row; if it was descheduled, let it run.
      if (spins > 64) std::this_thread::yield();
    }
  }
  static void Unlock(Set& s) { s.lock.store(0, std::memory_order_release); }
  static size_t SetCost(size_t row_bytes) { return sizeof(Set) + kWays * row_bytes; }
};

RowCache::~RowCache() = default;

size_t RowCache::BytesToHoldAll(absl::Span<const TableShape> tables) {
  size_t bytes = 0;
  for (const TableShape& t : tables) {
    const auto sets = static_cast<size_t>(static_cast<double>(t.rows) * kFullSlack / kWays) + 1;
    bytes += sets * Table::SetCost(t.row_bytes);
  }
  return bytes;
}

absl::StatusOr<std::unique_ptr<RowCache>> RowCache::Create(absl::Span<const TableShape> tables,
                                                           size_t capacity_bytes) {
  for (size_t t = 0; t < tables.size(); ++t) {
    if (tables[t].row_bytes == 0 || tables[t].rows < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("row cache: table ", t, " has ", tables[t].rows, " rows of ",
                       tables[t].row_bytes, " bytes; expected rows >= 0 and row bytes > 0"));
    }
  }
  std::unique_ptr<RowCache> cache(new RowCache());
  cache->capacity_bytes_ = capacity_bytes;
  std::vector<size_t> budget(tables.size(), 0);
  std::vector<bool> capped(tables.size(), false);
  size_t remaining = capacity_bytes;
  // Small tables first, held whole while each costs no more than an equal share of what is left:
  // their rows are few and each is read by many requests (categories, brands, slots).
  std::vector<size_t> order(tables.size());
  for (size_t t = 0; t < order.size(); ++t) order[t] = t;
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return BytesToHoldAll(tables.subspan(a, 1)) < BytesToHoldAll(tables.subspan(b, 1));
  });
  for (size_t k = 0; k < order.size(); ++k) {
    const size_t t = order[k];
    const size_t full = BytesToHoldAll(tables.subspan(t, 1));
    if (full > remaining / (order.size() - k)) break;
    budget[t] = full;
    capped[t] = true;
    remaining -= full;
  }
  // The others: water-filling, shares in proportion to table bytes, capped at a full table.
  for (bool changed = true; changed;) {
    changed = false;
    double total = 0;
    for (size_t t = 0; t < tables.size(); ++t) {
      if (!capped[t]) total += static_cast<double>(tables[t].rows) * tables[t].row_bytes;
    }
    if (total <= 0) break;
    for (size_t t = 0; t < tables.size(); ++t) {
      if (capped[t]) continue;
      const size_t full = BytesToHoldAll(tables.subspan(t, 1));
      const double share = static_cast<double>(remaining) *
                           (static_cast<double>(tables[t].rows) * tables[t].row_bytes) / total;
      if (share >= static_cast<double>(full)) {
        budget[t] = full;
        capped[t] = true;
        remaining -= full;
        changed = true;
        break;  // the others' shares grow: recompute
      }
      budget[t] = static_cast<size_t>(share);
    }
  }
  for (size_t t = 0; t < tables.size(); ++t) {
    auto table = std::make_unique<Table>();
    table->row_bytes = tables[t].row_bytes;
    table->num_sets = budget[t] / Table::SetCost(tables[t].row_bytes);
    if (table->num_sets > 0) {
      // Allocated up front; a budget the host cannot give is an error, not a crash.
      table->sets.reset(new (std::nothrow) Table::Set[table->num_sets]);
      // Not zeroed: a way's row is read only after its id was written with it.
      table->rows.reset(new (std::nothrow) uint8_t[table->num_sets * kWays * table->row_bytes]);
      if (table->sets == nullptr || table->rows == nullptr) {
        return absl::ResourceExhaustedError(
            absl::StrCat("row cache: cannot allocate ", budget[t], " bytes for table ", t,
                         " (RemoteTableOptions::cache_bytes / --remote-cache-mb ",
                         capacity_bytes >> 20, " MiB in all); lower it"));
      }
    }
    cache->tables_.push_back(std::move(table));
  }
  return cache;
}

void RowCache::LookupBatch(int table, absl::Span<const int64_t> ids, uint8_t* rows,
                           absl::Span<uint8_t> hit) {
  Table& t = *tables_[static_cast<size_t>(table)];
  if (t.num_sets == 0) {
    std::fill(hit.begin(), hit.end(), 0);
    misses_.fetch_add(ids.size(), std::memory_order_relaxed);
    return;
  }
  constexpr size_t kAhead = 8;  // sets prefetched ahead, so their cache misses overlap
  for (size_t i = 0; i < std::min(kAhead, ids.size()); ++i) {
    __builtin_prefetch(&t.sets[t.SetOf(ids[i])]);
  }
  uint64_t hits = 0;
  for (size_t i = 0; i < ids.size(); ++i) {
    if (i + kAhead < ids.size()) __builtin_prefetch(&t.sets[t.SetOf(ids[i + kAhead])]);
    const int64_t id = ids[i];
    const size_t si = t.SetOf(id);
    Table::Set& set = t.sets[si];
    hit[i] = 0;
    Table::Lock(set);
    for (int w = 0; w < kWays; ++w) {
      if (set.ids[w] != id) continue;
      std::memcpy(rows + i * t.row_bytes, t.Row(si, w), t.row_bytes);
      set.referenced |= static_cast<uint8_t>(1u << w);
      hit[i] = 1;
      ++hits;
      break;
    }
    Table::Unlock(set);
  }
  hits_.fetch_add(hits, std::memory_order_relaxed);
  misses_.fetch_add(ids.size() - hits, std::memory_order_relaxed);
}

void RowCache::Insert(int table, int64_t id, const uint8_t* row) {
  Table& t = *tables_[static_cast<size_t>(table)];
  if (t.num_sets == 0) return;
  const size_t si = t.SetOf(id);
  Table::Set& set = t.sets[si];
  bool evicted = false;
  bool added = false;
  Table::Lock(set);
  int way = -1;
  for (int w = 0; w < kWays && way < 0; ++w) {
    if (set.ids[w] == id) way = w;
  }
  for (int w = 0; w < kWays && way < 0; ++w) {
    if (set.ids[w] < 0) {
      way = w;
      added = true;
    }
  }
  while (way < 0) {
    const uint8_t bit = static_cast<uint8_t>(1u << set.hand);
    if ((set.referenced & bit) == 0) {
      way = set.hand;
      evicted = true;
    } else {
      set.referenced &= static_cast<uint8_t>(~bit);
    }
    set.hand = static_cast<uint8_t>((set.hand + 1) % kWays);
  }
  set.ids[way] = id;
  set.referenced &= static_cast<uint8_t>(~(1u << way));
  std::memcpy(t.Row(si, way), row, t.row_bytes);
  Table::Unlock(set);
  inserts_.fetch_add(1, std::memory_order_relaxed);
  if (evicted) evictions_.fetch_add(1, std::memory_order_relaxed);
  if (added) entries_.fetch_add(1, std::memory_order_relaxed);
}

CacheCounters RowCache::Counters() const {
  CacheCounters c;
  c.hits = hits_.load(std::memory_order_relaxed);
  c.misses = misses_.load(std::memory_order_relaxed);
  c.inserts = inserts_.load(std::memory_order_relaxed);
  c.evictions = evictions_.load(std::memory_order_relaxed);
  c.entries = entries_.load(std::memory_order_relaxed);
  c.capacity_bytes = capacity_bytes_;
  for (const auto& t : tables_) {
    c.bytes += t->num_sets * Table::SetCost(t->row_bytes);  // allocated up front
  }
  return c;
}

size_t RowCache::table_capacity_rows(int table) const {
  return tables_[static_cast<size_t>(table)]->num_sets * kWays;
}

}  // namespace rankopt
