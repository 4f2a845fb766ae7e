// Shared helpers of the math kernel tests: node building, tensors and running one kernel.
#ifndef RANKOPT_TESTS_GRAPH_KERNELS_MATH_MATH_TEST_UTIL_H_
#define RANKOPT_TESTS_GRAPH_KERNELS_MATH_MATH_TEST_UTIL_H_

#include <optional>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "tests/graph/kernels/kernel_test_harness.h"

namespace rankopt {
namespace math_test {

inline const KernelRegistry& Registry() { return RegistryOf<RegisterMathKernels>(); }

inline Node MakeNode(std::string op, AttrMap attrs = {}) {
  Node node;
  node.name = "n";
  node.op = std::move(op);
  node.attrs = std::move(attrs);
  return node;
}

template <typename T>
Tensor T_(std::vector<int64_t> dims, std::vector<T> values) {
  absl::StatusOr<Tensor> t = Tensor::FromValues<T>(std::move(dims), values);
  EXPECT_TRUE(t.ok()) << t.status();
  return *t;
}
inline Tensor F(std::vector<int64_t> dims, std::vector<float> v) { return T_<float>(dims, v); }
inline Tensor I32(std::vector<int64_t> dims, std::vector<int32_t> v) {
  return T_<int32_t>(dims, v);
}
inline Tensor I64(std::vector<int64_t> dims, std::vector<int64_t> v) {
  return T_<int64_t>(dims, v);
}
inline Tensor B(std::vector<int64_t> dims, std::vector<uint8_t> v) {
  absl::StatusOr<Tensor> t = Tensor::FromBytes(
      DType::kBool, dims, absl::string_view(reinterpret_cast<const char*>(v.data()), v.size()));
  EXPECT_TRUE(t.ok()) << t.status();
  return *t;
}

// Runs `node` and returns output `index`; fails the test on error.
inline Tensor Run1(const Node& node, ModelFormat format,
                   const std::vector<std::optional<Tensor>>& inputs,
                   std::vector<bool> constant = {}, size_t index = 0) {
  absl::StatusOr<std::vector<Tensor>> out =
      RunKernel(Registry(), node, format, inputs, std::move(constant));
  EXPECT_TRUE(out.ok()) << out.status();
  if (!out.ok() || out->size() <= index) return Tensor();
  return (*out)[index];
}

inline absl::Status RunStatus(const Node& node, ModelFormat format,
                              const std::vector<std::optional<Tensor>>& inputs,
                              std::vector<bool> constant = {}) {
  return RunKernel(Registry(), node, format, inputs, std::move(constant)).status();
}

template <typename T>
std::vector<T> Values(const Tensor& t) {
  absl::Span<const T> v = t.values<T>();
  return std::vector<T>(v.begin(), v.end());
}

inline constexpr ModelFormat kOnnx = ModelFormat::kOnnx;
inline constexpr ModelFormat kTf = ModelFormat::kTfGraphDef;

}  // namespace math_test
}  // namespace rankopt

#endif  // RANKOPT_TESTS_GRAPH_KERNELS_MATH_MATH_TEST_UTIL_H_
