// Zipf-distributed ranks for benchmarks: P(k) proportional to 1 / k^s, k in [1, n].
//
// Rejection-inversion (W. Hormann, G. Derflinger, "Rejection-inversion to generate variates from
// monotone discrete distributions", ACM TOMACS 1996; the sampler of Apache Commons
// RNG/Math): O(1) memory and setup for any n and any s > 0 (s = 1 included), exact
// distribution, about 1.1 uniform draws and two log/exp per sample (~20-30 ns). A precomputed
// CDF with binary search needs 8 bytes per key (8 MB for 1M keys) and ~20 dependent cache misses
// per sample once the CDF leaves the caches.
//
// Rank 1 is the most frequent. To spread popular ranks over a key space, hash the rank (e.g.
// MakeCacheKey(version, rank bytes)); do not use the rank as an index into a table whose
// neighbouring rows share cache lines, or the hot set looks smaller than it is.
//
// Example:
//   ZipfGenerator zipf(/*n=*/1'000'000, /*s=*/1.1, /*seed=*/42);
//   uint64_t rank = zipf.Next();  // 1..n
//
// Thread-safety: a generator is not safe for concurrent use; give each thread its own (with
// its own seed).
#ifndef RANKOPT_BENCH_CACHE_ZIPF_H_
#define RANKOPT_BENCH_CACHE_ZIPF_H_

#include <algorithm>
#include <cmath>
#include <cstdint>

namespace rankopt {

// SplitMix64: a fast, statistically decent 64-bit generator for benchmark inputs (not crypto).
class SplitMix64 {
 public:
  explicit SplitMix64(uint64_t seed) : state_(seed) {}
  uint64_t Next() {
    uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  // Uniform in [0, 1) with 53 random bits.
  double NextDouble() { return static_cast<double>(Next() >> 11) * 0x1.0p-53; }

 private:
  uint64_t state_;
};

class ZipfGenerator {
 public:
  // REQUIRES: n >= 1, s > 0.
  ZipfGenerator(uint64_t n, double s, uint64_t seed)
      : n_(static_cast<double>(n)),
        s_(s),
        rng_(seed),
        h_integral_x1_(HIntegral(1.5) - 1.0),
        h_integral_n_(HIntegral(n_ + 0.5)),
        threshold_(2.0 - HIntegralInverse(HIntegral(2.5) - H(2.0))) {}

  // A rank in [1, n].
  uint64_t Next() {
    while (true) {
      const double u = h_integral_n_ + rng_.NextDouble() * (h_integral_x1_ - h_integral_n_);
      const double x = HIntegralInverse(u);
      double k = std::floor(x + 0.5);
      k = std::clamp(k, 1.0, n_);
      if (k - x <= threshold_ || u >= HIntegral(k + 0.5) - H(k)) {
        return static_cast<uint64_t>(k);
      }
    }
  }

  uint64_t n() const { return static_cast<uint64_t>(n_); }
  double s() const { return s_; }

 private:
  // H(x) = integral of h(t) = t^-s from 1 to x, written so s = 1 (log x) needs no special case.
  double HIntegral(double x) const {
    const double log_x = std::log(x);
    return Helper2((1.0 - s_) * log_x) * log_x;
  }
  double H(double x) const { return std::exp(-s_ * std::log(x)); }
  double HIntegralInverse(double x) const {
    double t = x * (1.0 - s_);
    if (t < -1.0) t = -1.0;  // Rounding can push t just past the pole.
    return std::exp(Helper1(t) * x);
  }
  // log1p(x) / x, accurate near 0.
  static double Helper1(double x) {
    if (std::abs(x) > 1e-8) return std::log1p(x) / x;
    return 1.0 - x * (0.5 - x * (1.0 / 3.0 - 0.25 * x));
  }
  // expm1(x) / x, accurate near 0.
  static double Helper2(double x) {
    if (std::abs(x) > 1e-8) return std::expm1(x) / x;
    return 1.0 + x * 0.5 * (1.0 + x * (1.0 / 3.0) * (1.0 + 0.25 * x));
  }

  double n_;
  double s_;
  SplitMix64 rng_;
  double h_integral_x1_;
  double h_integral_n_;
  double threshold_;
};

}  // namespace rankopt

#endif  // RANKOPT_BENCH_CACHE_ZIPF_H_
