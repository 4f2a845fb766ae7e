// Feature-transform kernels next to the code a service writes by hand, in one binary.
//
//   build-*/bench/features/features_kernels_bench --benchmark_repetitions=5
//       --benchmark_report_aggregates_only=true
//
// items_per_second is values per second on one core. Pairs to compare:
//   BM_Xxh64Buckets / BM_TfFingerprint64Buckets  vs  BM_HandStdHashBuckets  (short strings)
//   BM_BucketizeBatch/N                          vs  BM_HandLinearScan/N   (N boundaries)
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "bench/bench_main.h"
#include "benchmark/benchmark.h"
#include "features/transforms/bucketize.h"
#include "features/transforms/hashing.h"

namespace rankopt {
namespace {

constexpr size_t kBatch = 4096;
constexpr int64_t kBuckets = 1000003;

// "item_123456"-style ids, 8 to 16 bytes.
const std::vector<std::string>& ShortStrings() {
  static const std::vector<std::string> strings = [] {
    std::mt19937 rng(42);
    std::uniform_int_distribution<int> digits(3, 11);
    std::vector<std::string> s;
    for (size_t i = 0; i < kBatch; ++i) {
      std::string x = "item_";
      const int n = digits(rng);
      for (int d = 0; d < n; ++d) x.push_back(static_cast<char>('0' + rng() % 10));
      s.push_back(std::move(x));
    }
    return s;
  }();
  return strings;
}

std::vector<absl::string_view> Views() {
  const auto& s = ShortStrings();
  return std::vector<absl::string_view>(s.begin(), s.end());
}

void BM_Xxh64Buckets(benchmark::State& state) {
  const std::vector<absl::string_view> values = Views();
  std::vector<int64_t> out(values.size());
  for (auto _ : state) {
    HashToBuckets(values, HashFunction::kXxh64, 17, kBuckets, absl::MakeSpan(out));
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations() * values.size());
}
BENCHMARK(BM_Xxh64Buckets);

void BM_TfFingerprint64Buckets(benchmark::State& state) {
  const std::vector<absl::string_view> values = Views();
  std::vector<int64_t> out(values.size());
  for (auto _ : state) {
    HashToBuckets(values, HashFunction::kTfFingerprint64, 0, kBuckets, absl::MakeSpan(out));
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations() * values.size());
}
BENCHMARK(BM_TfFingerprint64Buckets);

// By hand: the request's value arrives as a view, the service copies it into a std::string and
// calls std::hash, then % buckets.
void BM_HandStdHashBuckets(benchmark::State& state) {
  const std::vector<absl::string_view> values = Views();
  std::vector<int64_t> out(values.size());
  for (auto _ : state) {
    for (size_t i = 0; i < values.size(); ++i) {
      const std::string copy(values[i]);
      out[i] = static_cast<int64_t>(std::hash<std::string>{}(copy) % kBuckets);
    }
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations() * values.size());
}
BENCHMARK(BM_HandStdHashBuckets);

std::vector<float> Boundaries(size_t n) {
  std::vector<float> b(n);
  for (size_t i = 0; i < n; ++i) b[i] = static_cast<float>(i) * 10.0f;
  return b;
}

std::vector<float> Values(size_t n) {
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> dist(-10.0f, static_cast<float>(n) * 10.0f + 10.0f);
  std::vector<float> v(kBatch);
  for (float& x : v) x = dist(rng);
  return v;
}

void BucketizeWith(benchmark::State& state, BucketizeKernel kernel) {
  if (!BucketizeKernelSupported(kernel)) {
    state.SkipWithError("kernel not supported on this CPU");
    return;
  }
  const size_t n = static_cast<size_t>(state.range(0));
  const std::vector<float> b = Boundaries(n);
  const std::vector<float> v = Values(n);
  std::vector<int64_t> out(v.size());
  for (auto _ : state) {
    BucketizeBatchWith(kernel, v, b, absl::MakeSpan(out));
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations() * v.size());
}

void BM_BucketizeBatch(benchmark::State& state) { BucketizeWith(state, BucketizeKernel::kAuto); }
BENCHMARK(BM_BucketizeBatch)->Arg(10)->Arg(1000);

void BM_BucketizeScalarSearch(benchmark::State& state) {
  BucketizeWith(state, BucketizeKernel::kScalar);
}
BENCHMARK(BM_BucketizeScalarSearch)->Arg(10)->Arg(1000);

void BM_BucketizeAvx2(benchmark::State& state) { BucketizeWith(state, BucketizeKernel::kAvx2); }
BENCHMARK(BM_BucketizeAvx2)->Arg(10)->Arg(1000);

// By hand: walk the boundaries until the first one above the value.
void BM_HandLinearScan(benchmark::State& state) {
  const size_t n = static_cast<size_t>(state.range(0));
  const std::vector<float> b = Boundaries(n);
  const std::vector<float> v = Values(n);
  std::vector<int64_t> out(v.size());
  for (auto _ : state) {
    for (size_t i = 0; i < v.size(); ++i) {
      int64_t k = 0;
      while (k < static_cast<int64_t>(b.size()) && b[k] <= v[i]) ++k;
      out[i] = k;
    }
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations() * v.size());
}
BENCHMARK(BM_HandLinearScan)->Arg(10)->Arg(1000);

// By hand, the better version: std::upper_bound per value.
void BM_HandUpperBound(benchmark::State& state) {
  const size_t n = static_cast<size_t>(state.range(0));
  const std::vector<float> b = Boundaries(n);
  const std::vector<float> v = Values(n);
  std::vector<int64_t> out(v.size());
  for (auto _ : state) {
    for (size_t i = 0; i < v.size(); ++i) {
      out[i] = std::upper_bound(b.begin(), b.end(), v[i]) - b.begin();
    }
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations() * v.size());
}
BENCHMARK(BM_HandUpperBound)->Arg(10)->Arg(1000);

}  // namespace
}  // namespace rankopt

int main(int argc, char** argv) {
  rankopt::WarnIfUnoptimizedBuild();
  return rankopt::RunRegisteredBenchmarks(argc, argv);
}
