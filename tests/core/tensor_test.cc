#include "core/tensor.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

namespace rankopt {
namespace {

TEST(TensorTest, FromValuesRoundTripsAndShares) {
  std::vector<float> v = {0.5f, 2.0f, -1.0f, 3.0f};
  absl::StatusOr<Tensor> t = Tensor::FromValues<float>({2, 2}, v);
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->dtype(), DType::kFloat32);
  EXPECT_EQ(t->num_elements(), 4);
  EXPECT_EQ(t->ByteSize(), 16u);
  EXPECT_EQ(std::vector<float>(t->values<float>().begin(), t->values<float>().end()), v);
  Tensor copy = *t;
  EXPECT_EQ(copy, *t);
  EXPECT_EQ(copy.bytes().data(), t->bytes().data());  // storage is shared, not copied
}

TEST(TensorTest, RejectsSizeMismatch) {
  std::vector<int64_t> v = {1, 2, 3};
  absl::StatusOr<Tensor> t = Tensor::FromValues<int64_t>({2, 2}, v);
  ASSERT_FALSE(t.ok());
  EXPECT_NE(t.status().message().find("needs 32 bytes"), std::string::npos) << t.status();
  EXPECT_FALSE(Tensor::FromBytes(DType::kString, {1}, "x").ok());
  EXPECT_FALSE(Tensor::FromStrings({3}, {"a", "b"}).ok());
}

// A bool is read as C++ bool, which only 0 and 1 may be: raw bytes from a model or a package
// (ONNX raw_data, a TF tensor_content) are normalized, any nonzero byte true (a fuzzed ONNX Loop
// condition of byte 0x11 was undefined behaviour in the importer).
TEST(TensorTest, BoolBytesAreNormalized) {
  const std::string raw("\x00\x11\x01\xff", 4);
  absl::StatusOr<Tensor> t = Tensor::FromBytes(DType::kBool, {4}, raw);
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->bytes(), std::string("\x00\x01\x01\x01", 4));
  EXPECT_EQ(std::vector<bool>(t->values<bool>().begin(), t->values<bool>().end()),
            std::vector<bool>({false, true, true, true}));
  // External bytes are a view: kept as they are (their readers check them: the package
  // decoder's CheckBools, the ONNX external-data reader).
  auto keep = std::make_shared<std::string>(raw);
  absl::StatusOr<Tensor> e = Tensor::FromExternal(DType::kBool, {4}, *keep, keep);
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_EQ(e->bytes().data(), keep->data());
}

TEST(TensorTest, StringsCompareByValue) {
  absl::StatusOr<Tensor> a = Tensor::FromStrings({2}, {"ab", "c"});
  absl::StatusOr<Tensor> b = Tensor::FromStrings({2}, {"ab", "c"});
  absl::StatusOr<Tensor> c = Tensor::FromStrings({2}, {"ab", "d"});
  ASSERT_TRUE(a.ok() && b.ok() && c.ok());
  EXPECT_EQ(*a, *b);
  EXPECT_NE(*a, *c);
  EXPECT_EQ(a->ByteSize(), 3u);
}

}  // namespace
}  // namespace rankopt
