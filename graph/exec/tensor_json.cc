#include "graph/exec/tensor_json.h"

#include <simdjson.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <string_view>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "core/shape.h"
#include "rankopt/status_macros.h"

namespace rankopt {
namespace {

namespace dom = simdjson::dom;

constexpr DType kJsonDTypes[] = {DType::kFloat32, DType::kFloat64, DType::kInt8,  DType::kUInt8,
                                 DType::kInt16,   DType::kUInt16,  DType::kInt32, DType::kUInt32,
                                 DType::kInt64,   DType::kUInt64,  DType::kBool,  DType::kString};

absl::string_view ToAbsl(std::string_view s) { return absl::string_view(s.data(), s.size()); }

absl::Status Invalid(absl::string_view where, absl::string_view message) {
  return absl::InvalidArgumentError(absl::StrCat(where, ": ", message));
}

// Writes `data` as little-endian T into `bytes`; integers must fit T exactly, floats are rounded
// to T.
template <typename T>
absl::Status Fill(dom::array data, absl::string_view where, std::string* bytes) {
  bytes->resize(data.size() * sizeof(T));
  size_t i = 0;
  for (dom::element item : data) {
    T value{};
    const dom::element_type type = item.type();
    if constexpr (std::is_floating_point_v<T>) {
      double d;
      if (item.get(d) != simdjson::SUCCESS) {
        return Invalid(where, absl::StrCat("data[", i, "] is not a number"));
      }
      value = static_cast<T>(d);
    } else if constexpr (std::is_same_v<T, bool>) {
      bool b;
      int64_t n;
      if (item.get(b) == simdjson::SUCCESS) {
        value = b;
      } else if (item.get(n) == simdjson::SUCCESS && (n == 0 || n == 1)) {
        value = n == 1;
      } else {
        return Invalid(where, absl::StrCat("data[", i, "] is not a boolean (true, false, 0, 1)"));
      }
    } else {
      bool ok = false;
      int64_t n = 0;
      uint64_t u = 0;
      if (type == dom::element_type::INT64 && item.get(n) == simdjson::SUCCESS) {
        ok = std::is_signed_v<T>
                 ? n >= static_cast<int64_t>(std::numeric_limits<T>::min()) &&
                       n <= static_cast<int64_t>(std::numeric_limits<T>::max())
                 : n >= 0 && static_cast<uint64_t>(n) <=
                                 static_cast<uint64_t>(std::numeric_limits<T>::max());
        value = static_cast<T>(n);
      } else if (type == dom::element_type::UINT64 && item.get(u) == simdjson::SUCCESS) {
        ok = u <= static_cast<uint64_t>(std::numeric_limits<T>::max());
        value = static_cast<T>(u);
      }
      if (!ok) {
        return Invalid(where, absl::StrCat("data[", i, "] is not an integer in the range of ",
                                           DTypeName(DTypeOf<T>())));
      }
    }
    std::memcpy(bytes->data() + i * sizeof(T), &value, sizeof(T));
    ++i;
  }
  return absl::OkStatus();
}

absl::Status FillAs(DType dtype, dom::array data, absl::string_view where, std::string* bytes) {
  switch (dtype) {
    case DType::kFloat32:
      return Fill<float>(data, where, bytes);
    case DType::kFloat64:
      return Fill<double>(data, where, bytes);
    case DType::kInt8:
      return Fill<int8_t>(data, where, bytes);
    case DType::kUInt8:
      return Fill<uint8_t>(data, where, bytes);
    case DType::kInt16:
      return Fill<int16_t>(data, where, bytes);
    case DType::kUInt16:
      return Fill<uint16_t>(data, where, bytes);
    case DType::kInt32:
      return Fill<int32_t>(data, where, bytes);
    case DType::kUInt32:
      return Fill<uint32_t>(data, where, bytes);
    case DType::kInt64:
      return Fill<int64_t>(data, where, bytes);
    case DType::kUInt64:
      return Fill<uint64_t>(data, where, bytes);
    case DType::kBool:
      return Fill<bool>(data, where, bytes);
    default:
      return Invalid(where, absl::StrCat("dtype ", DTypeName(dtype), " cannot be read"));
  }
}

absl::StatusOr<Tensor> ParseTensor(dom::element element, absl::string_view where) {
  dom::object object;
  if (element.get(object) != simdjson::SUCCESS) {
    return Invalid(where, "expected an object {\"dtype\", \"dims\", \"data\"}");
  }
  DType dtype = DType::kFloat32;
  std::string_view dtype_name;
  if (simdjson::error_code e = object["dtype"].get(dtype_name); e == simdjson::SUCCESS) {
    dtype = DType::kInvalid;
    for (DType candidate : kJsonDTypes) {
      if (DTypeName(candidate) == ToAbsl(dtype_name)) dtype = candidate;
    }
    if (dtype == DType::kInvalid) {
      return Invalid(where, absl::StrCat("unknown dtype '", ToAbsl(dtype_name),
                                         "'; expected float32, float64, int64, int32, bool, ..."));
    }
  } else if (e != simdjson::NO_SUCH_FIELD) {
    return Invalid(where, "\"dtype\" must be a string");
  }
  dom::array dims_json;
  if (object["dims"].get(dims_json) != simdjson::SUCCESS) {
    return Invalid(where, "\"dims\" must be an array of sizes");
  }
  std::vector<int64_t> dims;
  for (dom::element d : dims_json) {
    int64_t size;
    if (d.get(size) != simdjson::SUCCESS || size < 0) {
      return Invalid(where, "\"dims\" must hold non-negative integers");
    }
    dims.push_back(size);
  }
  absl::StatusOr<int64_t> n = CheckedNumElements(dims);
  if (!n.ok()) return Invalid(where, n.status().message());
  dom::array data;
  if (object["data"].get(data) != simdjson::SUCCESS) {
    return Invalid(where, "\"data\" must be an array of numbers");
  }
  if (static_cast<int64_t>(data.size()) != *n) {
    return Invalid(where, absl::StrCat("\"data\" has ", data.size(), " values, but dims [",
                                       absl::StrJoin(dims, ","), "] need ", *n));
  }
  if (dtype == DType::kString) {
    std::vector<std::string> strings;
    for (dom::element e : data) {
      std::string_view s;
      if (e.get(s) != simdjson::SUCCESS) {
        return Invalid(where, "\"data\" of a string tensor must hold strings");
      }
      strings.emplace_back(s);
    }
    return Tensor::FromStrings(std::move(dims), std::move(strings));
  }
  std::string bytes;
  RANKOPT_RETURN_IF_ERROR(FillAs(dtype, data, where, &bytes));
  return Tensor::FromBytes(dtype, std::move(dims), bytes);
}

absl::StatusOr<std::vector<NamedTensor>> ParseSection(dom::object section,
                                                      absl::string_view where) {
  std::vector<NamedTensor> out;
  for (dom::key_value_pair field : section) {
    const std::string name(field.key);
    RANKOPT_ASSIGN_OR_RETURN(Tensor t,
                             ParseTensor(field.value, absl::StrCat(where, " '", name, "'")));
    NamedTensor named{name, std::move(t), {}};
    if (named.tensor.dtype() == DType::kString) {
      for (const std::string& v : named.tensor.strings()) named.string_views.emplace_back(v);
    }
    out.push_back(std::move(named));
  }
  return out;
}

}  // namespace

absl::StatusOr<TensorJsonDocument> ParseTensorJson(absl::string_view json,
                                                   absl::string_view where) {
  dom::parser parser;
  dom::element root;
  if (simdjson::error_code e =
          parser.parse(simdjson::padded_string(json.data(), json.size())).get(root);
      e != simdjson::SUCCESS) {
    return Invalid(where, absl::StrCat("not valid JSON: ", simdjson::error_message(e)));
  }
  dom::object object;
  if (root.get(object) != simdjson::SUCCESS) {
    return Invalid(where, "expected an object {\"inputs\": {NAME: {dtype, dims, data}}}");
  }
  TensorJsonDocument doc;
  dom::object inputs;
  if (object["inputs"].get(inputs) != simdjson::SUCCESS) {
    return Invalid(where, "missing the \"inputs\" object {NAME: {dtype, dims, data}}");
  }
  RANKOPT_ASSIGN_OR_RETURN(doc.inputs, ParseSection(inputs, absl::StrCat(where, ": input")));
  dom::object reference;
  if (simdjson::error_code e = object["reference_outputs"].get(reference); e == simdjson::SUCCESS) {
    RANKOPT_ASSIGN_OR_RETURN(doc.reference_outputs,
                             ParseSection(reference, absl::StrCat(where, ": reference output")));
  } else if (e != simdjson::NO_SUCH_FIELD) {
    return Invalid(where, "\"reference_outputs\" must be an object");
  }
  return doc;
}

std::vector<NamedTensorView> FeedsOf(const std::vector<NamedTensor>& tensors) {
  std::vector<NamedTensorView> feeds;
  feeds.reserve(tensors.size());
  for (const NamedTensor& t : tensors) {
    TensorView v;
    v.dtype = t.tensor.dtype();
    v.dims.assign(t.tensor.dims().begin(), t.tensor.dims().end());
    v.data = t.tensor.dtype() == DType::kString
                 ? static_cast<void*>(const_cast<absl::string_view*>(t.string_views.data()))
                 : static_cast<void*>(const_cast<char*>(t.tensor.bytes().data()));
    feeds.push_back({t.name, std::move(v)});
  }
  return feeds;
}

std::vector<TensorJsonRequest> SplitTensorJsonRequests(const std::string& path,
                                                       const std::string& text) {
  if (ParseTensorJson(text, path).ok()) return {{1, path, text}};
  std::vector<TensorJsonRequest> requests;
  int number = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++number;
    if (line.find_first_not_of(" \t\r") == absl::string_view::npos) continue;
    requests.push_back({number, absl::StrCat(path, ":", number), std::string(line)});
  }
  if (requests.size() <= 1) return {{1, path, text}};  // report the whole document's error
  return requests;
}

}  // namespace rankopt
