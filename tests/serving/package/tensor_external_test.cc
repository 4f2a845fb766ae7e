// Tensor::FromExternal (core/tensor.h): the no-copy view model packages build their blob
// tensors with. Tested here, next to its only user.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace rankopt {
namespace {

using ::testing::HasSubstr;

TEST(TensorFromExternalTest, ViewsTheBytesAndKeepsTheOwnerAlive) {
  auto owner = std::make_shared<std::vector<float>>(std::vector<float>{1, 2, 3, 4, 5, 6});
  const char* data = reinterpret_cast<const char*>(owner->data());
  std::weak_ptr<std::vector<float>> watch = owner;
  absl::StatusOr<Tensor> t =
      Tensor::FromExternal(DType::kFloat32, {2, 3}, absl::string_view(data, 24), std::move(owner));
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->bytes().data(), data);  // no copy
  EXPECT_EQ(t->bytes().size(), 24u);
  EXPECT_EQ(t->ByteSize(), 24u);
  EXPECT_EQ(t->num_elements(), 6);
  EXPECT_EQ(t->values<float>()[5], 6.0f);
  EXPECT_EQ(*t, *Tensor::FromValues<float>({2, 3}, {1, 2, 3, 4, 5, 6}));

  Tensor copy = *t;
  EXPECT_EQ(copy.bytes().data(), data);
  t = absl::CancelledError("dropped");
  EXPECT_FALSE(watch.expired());  // the copy holds the owner
  EXPECT_EQ(copy.values<float>()[0], 1.0f);
  Tensor moved = std::move(copy);
  EXPECT_EQ(moved.bytes().data(), data);
  moved = Tensor();
  EXPECT_TRUE(watch.expired());  // the last view is gone, and the owner with it
}

TEST(TensorFromExternalTest, ChecksLikeFromBytes) {
  static const char kBytes[16] = {};
  absl::StatusOr<Tensor> wrong_size =
      Tensor::FromExternal(DType::kInt64, {3}, absl::string_view(kBytes, 16), nullptr);
  ASSERT_FALSE(wrong_size.ok());
  EXPECT_THAT(wrong_size.status().message(), HasSubstr("needs 24 bytes"));
  EXPECT_FALSE(
      Tensor::FromExternal(DType::kString, {1}, absl::string_view(kBytes, 1), nullptr).ok());
  EXPECT_FALSE(
      Tensor::FromExternal(DType::kInt8, {-16}, absl::string_view(kBytes, 16), nullptr).ok());
  EXPECT_FALSE(Tensor::FromExternal(DType::kInt8, {int64_t{1} << 62, 8},
                                    absl::string_view(kBytes, 16), nullptr)
                   .ok());
  // No owner: static memory that outlives every copy.
  absl::StatusOr<Tensor> unowned =
      Tensor::FromExternal(DType::kInt32, {2, 2}, absl::string_view(kBytes, 16), nullptr);
  ASSERT_TRUE(unowned.ok()) << unowned.status();
  EXPECT_EQ(unowned->bytes().data(), kBytes);
  absl::StatusOr<Tensor> empty =
      Tensor::FromExternal(DType::kFloat32, {0, 4}, absl::string_view(), nullptr);
  ASSERT_TRUE(empty.ok()) << empty.status();
  EXPECT_EQ(empty->ByteSize(), 0u);
  EXPECT_TRUE(empty->bytes().empty());
}

TEST(TensorFromExternalTest, OwnedTensorsBehaveAsBefore) {
  absl::StatusOr<Tensor> t = Tensor::FromValues<int16_t>({2}, {7, -7});
  ASSERT_TRUE(t.ok());
  Tensor moved = *std::move(t);
  EXPECT_EQ(moved.ByteSize(), 4u);
  Tensor from = moved;
  Tensor to = std::move(from);
  EXPECT_TRUE(from.bytes().empty());  // a moved-from tensor holds nothing
  EXPECT_EQ(from.ByteSize(), 0u);
  EXPECT_EQ(to, moved);
  absl::StatusOr<Tensor> s = Tensor::FromStrings({2}, {"ab", "c"});
  ASSERT_TRUE(s.ok());
  EXPECT_TRUE(s->bytes().empty());
  EXPECT_EQ(s->ByteSize(), 3u);
  EXPECT_EQ(Tensor().ByteSize(), 0u);
}

}  // namespace
}  // namespace rankopt
