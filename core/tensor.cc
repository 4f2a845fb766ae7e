#include "core/tensor.h"

#include "absl/strings/str_cat.h"
#include "core/shape.h"
#include "rankopt/status_macros.h"

namespace rankopt {

namespace {

// The element count of a fixed-width `dtype` tensor of `dims` held in `size` bytes.
absl::StatusOr<int64_t> CheckFixedWidth(DType dtype, const std::vector<int64_t>& dims,
                                        size_t size) {
  if (!IsFixedWidth(dtype)) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot build a ", DTypeName(dtype),
                     " tensor from raw bytes; expected a numeric or bool "
                     "type"));
  }
  RANKOPT_ASSIGN_OR_RETURN(int64_t n, CheckedNumElements(dims));
  const size_t width = DTypeSize(dtype);
  if (static_cast<uint64_t>(n) > size / width || n * width != size) {
    return absl::InvalidArgumentError(
        absl::StrCat("tensor data is ", size, " bytes but shape ", Shape(dims).ToString(), " of ",
                     DTypeName(dtype), " needs ", static_cast<uint64_t>(n) * width, " bytes"));
  }
  return n;
}

}  // namespace

absl::StatusOr<Tensor> Tensor::FromBytes(DType dtype, std::vector<int64_t> dims,
                                         absl::string_view bytes) {
  RANKOPT_ASSIGN_OR_RETURN(int64_t n, CheckFixedWidth(dtype, dims, bytes.size()));
  Tensor t;
  t.dtype_ = dtype;
  t.dims_ = std::move(dims);
  t.num_elements_ = n;
  auto owned = std::make_shared<std::string>(bytes);
  if (dtype == DType::kBool) {
    // A bool is one byte that must be 0 or 1 to be read as bool; a model's or package's raw
    // bytes can hold anything, and any nonzero byte means true (as numpy and TF read them).
    for (char& c : *owned) c = c != 0 ? 1 : 0;
  }
  t.data_ = std::shared_ptr<const char>(owned, owned->data());
  t.size_ = owned->size();
  return t;
}

absl::StatusOr<Tensor> Tensor::FromExternal(DType dtype, std::vector<int64_t> dims,
                                            absl::string_view bytes,
                                            std::shared_ptr<const void> keepalive) {
  RANKOPT_ASSIGN_OR_RETURN(int64_t n, CheckFixedWidth(dtype, dims, bytes.size()));
  Tensor t;
  t.dtype_ = dtype;
  t.dims_ = std::move(dims);
  t.num_elements_ = n;
  // Aliasing constructor: points at the caller's bytes, owns (a share of) keepalive.
  t.data_ = std::shared_ptr<const char>(std::move(keepalive), bytes.data());
  t.size_ = bytes.size();
  return t;
}

absl::StatusOr<Tensor> Tensor::FromStrings(std::vector<int64_t> dims,
                                           std::vector<std::string> values) {
  RANKOPT_ASSIGN_OR_RETURN(int64_t n, CheckedNumElements(dims));
  if (static_cast<uint64_t>(n) != values.size()) {
    return absl::InvalidArgumentError(absl::StrCat("string tensor has ", values.size(),
                                                   " values but shape ", Shape(dims).ToString(),
                                                   " needs ", n));
  }
  Tensor t;
  t.dtype_ = DType::kString;
  t.dims_ = std::move(dims);
  t.num_elements_ = n;
  t.strings_ = std::make_shared<const std::vector<std::string>>(std::move(values));
  return t;
}

absl::string_view Tensor::bytes() const {
  return data_ ? absl::string_view(data_.get(), size_) : absl::string_view();
}

absl::Span<const std::string> Tensor::strings() const {
  return strings_ ? absl::Span<const std::string>(*strings_) : absl::Span<const std::string>();
}

size_t Tensor::ByteSize() const {
  if (data_) return size_;
  size_t total = 0;
  for (const std::string& s : strings()) total += s.size();
  return total;
}

bool operator==(const Tensor& a, const Tensor& b) {
  if (a.dtype_ != b.dtype_ || a.dims_ != b.dims_) return false;
  if (a.dtype_ == DType::kString) {
    absl::Span<const std::string> x = a.strings(), y = b.strings();
    return std::equal(x.begin(), x.end(), y.begin(), y.end());
  }
  return a.bytes() == b.bytes();
}

}  // namespace rankopt
