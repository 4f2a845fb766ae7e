// The shared ends of the Google Benchmark mains in bench/: a warning when the numbers would not
// mean anything (no optimization, or assertions on), and Initialize -> reject unknown flags ->
// run -> shut down.
#ifndef RANKOPT_BENCH_BENCH_MAIN_H_
#define RANKOPT_BENCH_BENCH_MAIN_H_

#include <cstdio>

#include "benchmark/benchmark.h"

namespace rankopt {

inline void WarnIfUnoptimizedBuild() {
#if defined(RANKOPT_UNOPTIMIZED_BUILD) || !defined(NDEBUG)
  std::printf(
      "WARNING: built without optimization or with assertions on; numbers are not meaningful. "
      "Configure with -DCMAKE_BUILD_TYPE=Release.\n");
#endif
}

// Runs the registered benchmarks; 1 when argv has flags Google Benchmark does not know.
inline int RunRegisteredBenchmarks(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}

}  // namespace rankopt

#endif  // RANKOPT_BENCH_BENCH_MAIN_H_
