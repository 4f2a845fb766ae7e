// rankopt._native: the pybind11 module under python/rankopt/__init__.py. It converts Python
// values (request dicts, numpy feeds) into the library's types while holding the GIL, releases
// the GIL for the library call, and hands results back as numpy arrays that own the library's
// buffers (no copy after the library's own). Every library error becomes rankopt.Error with the
// library's message.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <limits>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "core/tensor.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/message.h"
#include "graph/analysis/graph_summary.h"
#include "graph/io/model_io.h"
#include "graph/passes/pass_report.h"
#include "rankopt/model.h"
#include "rankopt/model_manager.h"
#include "rankopt/request.h"
#include "rankopt/request_json.h"
#include "serving/model_source.h"
#include "serving/optimize.h"
#include "serving/optimize_report_text.h"
#include "serving/prune_model.h"
#include "serving/scorer.h"
#include "tools/command_line.h"
#include "tools/optimize_spec.h"

#ifndef RANKOPT_VERSION
#define RANKOPT_VERSION "unknown"
#endif

namespace py = pybind11;

namespace rankopt {
namespace {

// Raised as rankopt.Error; what() is the library's message.
class StatusError : public std::runtime_error {
 public:
  explicit StatusError(const absl::Status& status)
      : std::runtime_error(std::string(status.message())) {}
  explicit StatusError(const std::string& message) : std::runtime_error(message) {}
};

void ThrowIfError(const absl::Status& status) {
  if (!status.ok()) throw StatusError(status);
}

template <typename T>
T ValueOrThrow(absl::StatusOr<T> value) {
  ThrowIfError(value.status());
  return *std::move(value);
}

// ---- protobuf messages as dicts (the same fields as the commands' --json, int64 as int) ----

py::object FieldValue(const google::protobuf::Message& m,
                      const google::protobuf::FieldDescriptor* f, int index);

py::dict MessageToDict(const google::protobuf::Message& m) {
  using google::protobuf::FieldDescriptor;
  py::dict out;
  const google::protobuf::Descriptor* d = m.GetDescriptor();
  const google::protobuf::Reflection* r = m.GetReflection();
  for (int i = 0; i < d->field_count(); ++i) {
    const FieldDescriptor* f = d->field(i);
    if (f->is_repeated()) {
      py::list values;
      for (int k = 0; k < r->FieldSize(m, f); ++k) values.append(FieldValue(m, f, k));
      out[py::str(f->name())] = std::move(values);
      continue;
    }
    // As --json prints (always_print_primitive_fields): unset messages and unset optional
    // scalars are left out; other scalars appear with their default.
    if (f->has_presence() && !r->HasField(m, f)) continue;
    out[py::str(f->name())] = FieldValue(m, f, -1);
  }
  return out;
}

py::object FieldValue(const google::protobuf::Message& m,
                      const google::protobuf::FieldDescriptor* f, int index) {
  using google::protobuf::FieldDescriptor;
  const google::protobuf::Reflection* r = m.GetReflection();
  const bool rep = index >= 0;
  switch (f->cpp_type()) {
    case FieldDescriptor::CPPTYPE_INT32:
      return py::int_(rep ? r->GetRepeatedInt32(m, f, index) : r->GetInt32(m, f));
    case FieldDescriptor::CPPTYPE_INT64:
      return py::int_(rep ? r->GetRepeatedInt64(m, f, index) : r->GetInt64(m, f));
    case FieldDescriptor::CPPTYPE_UINT32:
      return py::int_(rep ? r->GetRepeatedUInt32(m, f, index) : r->GetUInt32(m, f));
    case FieldDescriptor::CPPTYPE_UINT64:
      return py::int_(rep ? r->GetRepeatedUInt64(m, f, index) : r->GetUInt64(m, f));
    case FieldDescriptor::CPPTYPE_DOUBLE:
      return py::float_(rep ? r->GetRepeatedDouble(m, f, index) : r->GetDouble(m, f));
    case FieldDescriptor::CPPTYPE_FLOAT:
      return py::float_(rep ? r->GetRepeatedFloat(m, f, index) : r->GetFloat(m, f));
    case FieldDescriptor::CPPTYPE_BOOL:
      return py::bool_(rep ? r->GetRepeatedBool(m, f, index) : r->GetBool(m, f));
    case FieldDescriptor::CPPTYPE_ENUM:
      return py::str((rep ? r->GetRepeatedEnum(m, f, index) : r->GetEnum(m, f))->name());
    case FieldDescriptor::CPPTYPE_STRING: {
      const std::string s = rep ? r->GetRepeatedString(m, f, index) : r->GetString(m, f);
      if (f->type() == FieldDescriptor::TYPE_BYTES) return py::bytes(s);
      return py::str(s);
    }
    case FieldDescriptor::CPPTYPE_MESSAGE:
      return MessageToDict(rep ? r->GetRepeatedMessage(m, f, index) : r->GetMessage(m, f));
  }
  return py::none();
}

// ---- requests: Python dicts (the JSON shape) to Request ----

// Where a value sits, for messages: "candidates[3].price".
std::string Place(const std::string& section, int64_t candidate, const std::string& name) {
  if (candidate < 0) return absl::StrCat(section, ".", name);
  return absl::StrCat("candidates[", candidate, "].", name);
}

enum class Kind { kInt, kFloat, kString, kOther };

// The kind of one scalar: Python int/float/str/bytes or a numpy integer/float scalar. bool is
// kOther (as true/false are an error in the JSON form).
Kind ScalarKind(py::handle v) {
  if (PyBool_Check(v.ptr())) return Kind::kOther;
  if (PyLong_Check(v.ptr())) return Kind::kInt;
  if (PyFloat_Check(v.ptr())) return Kind::kFloat;
  if (PyUnicode_Check(v.ptr()) || PyBytes_Check(v.ptr())) return Kind::kString;
  if (py::isinstance<py::array>(v) || !py::hasattr(v, "dtype")) return Kind::kOther;
  const char kind = py::cast<py::dtype>(v.attr("dtype")).kind();
  if (kind == 'i' || kind == 'u') return Kind::kInt;
  if (kind == 'f') return Kind::kFloat;
  return Kind::kOther;
}

absl::Status ToInt(py::handle v, const std::string& where, int64_t* out) {
  PyObject* index = PyNumber_Index(v.ptr());
  if (index == nullptr) {
    PyErr_Clear();
    return absl::InvalidArgumentError(absl::StrCat(where, ": expected an integer"));
  }
  int overflow = 0;
  const long long value = PyLong_AsLongLongAndOverflow(index, &overflow);
  Py_DECREF(index);
  if (overflow != 0 || (value == -1 && PyErr_Occurred())) {
    PyErr_Clear();
    return absl::InvalidArgumentError(
        absl::StrCat(where, ": integer outside the int64 range (send ids that large as strings)"));
  }
  *out = value;
  return absl::OkStatus();
}

std::string ToBytes(py::handle v) {
  if (PyBytes_Check(v.ptr())) return std::string(py::cast<py::bytes>(v));
  return py::cast<std::string>(v);  // str: UTF-8
}

std::string TypeName(py::handle v) { return py::str(py::type::of(v).attr("__name__")); }

absl::Status ToFeatureValue(py::handle v, const std::string& where, FeatureValue* out) {
  if (v.is_none()) {
    *out = std::monostate();
    return absl::OkStatus();
  }
  switch (ScalarKind(v)) {
    case Kind::kInt: {
      int64_t i = 0;
      if (absl::Status s = ToInt(v, where, &i); !s.ok()) return s;
      *out = i;
      return absl::OkStatus();
    }
    case Kind::kFloat:
      *out = py::cast<double>(v);
      return absl::OkStatus();
    case Kind::kString:
      *out = ToBytes(v);
      return absl::OkStatus();
    case Kind::kOther:
      break;
  }
  if (!py::isinstance<py::list>(v) && !py::isinstance<py::tuple>(v) &&
      !py::isinstance<py::array>(v)) {
    return absl::InvalidArgumentError(absl::StrCat(
        where, ": expected an int, float, str, bytes, None or a list of one kind, got ",
        TypeName(v)));
  }
  if (py::isinstance<py::array>(v) && py::cast<py::array>(v).ndim() != 1) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, ": expected a 1-D array, got ", py::cast<py::array>(v).ndim(), "-D"));
  }
  // One kind per list: ints; ints and floats (-> floats); strings. [] is an empty int list.
  std::vector<py::handle> items;
  py::object holder = py::reinterpret_borrow<py::object>(v);
  if (py::isinstance<py::array>(v)) holder = v.attr("tolist")();
  for (py::handle item : holder) items.push_back(item);
  bool any_float = false, any_int = false, any_string = false;
  for (size_t k = 0; k < items.size(); ++k) {
    switch (ScalarKind(items[k])) {
      case Kind::kInt:
        any_int = true;
        break;
      case Kind::kFloat:
        any_float = true;
        break;
      case Kind::kString:
        any_string = true;
        break;
      case Kind::kOther:
        return absl::InvalidArgumentError(absl::StrCat(
            where, "[", k, "]: expected an int, float or str, got ", TypeName(items[k])));
    }
  }
  if (any_string && (any_int || any_float)) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, ": a list mixes strings and numbers; use one kind"));
  }
  if (any_string) {
    std::vector<std::string> values;
    values.reserve(items.size());
    for (py::handle item : items) values.push_back(ToBytes(item));
    *out = std::move(values);
  } else if (any_float) {
    std::vector<double> values;
    values.reserve(items.size());
    for (py::handle item : items) values.push_back(py::cast<double>(item));
    *out = std::move(values);
  } else {
    std::vector<int64_t> values(items.size());
    for (size_t k = 0; k < items.size(); ++k) {
      if (absl::Status s = ToInt(items[k], absl::StrCat(where, "[", k, "]"), &values[k]); !s.ok()) {
        return s;
      }
    }
    *out = std::move(values);
  }
  return absl::OkStatus();
}

absl::Status ToFeatureRow(py::handle v, const std::string& section, int64_t candidate,
                          FeatureRow* row) {
  const std::string where = candidate < 0 ? section : absl::StrCat("candidates[", candidate, "]");
  if (v.is_none()) return absl::OkStatus();
  if (!py::isinstance<py::dict>(v)) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, ": expected a dict of feature name -> value, got ", TypeName(v)));
  }
  for (auto item : py::cast<py::dict>(v)) {
    if (!PyUnicode_Check(item.first.ptr())) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": feature names must be str, got ", TypeName(item.first)));
    }
    std::string name = py::cast<std::string>(item.first);
    FeatureValue value;
    if (absl::Status s = ToFeatureValue(item.second, Place(section, candidate, name), &value);
        !s.ok()) {
      return s;
    }
    row->Append(std::move(name), std::move(value));
  }
  return absl::OkStatus();
}

// A request dict {"user", "context", "candidates"} (each optional), or its JSON text.
absl::Status ToRequest(py::handle v, Request* out) {
  *out = Request();
  if (PyUnicode_Check(v.ptr()) || PyBytes_Check(v.ptr())) {
    absl::StatusOr<Request> parsed = ParseRequestJson(ToBytes(v));
    if (!parsed.ok()) return parsed.status();
    *out = *std::move(parsed);
    return absl::OkStatus();
  }
  if (!py::isinstance<py::dict>(v)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "a request is a dict {\"user\": {...}, \"context\": {...}, \"candidates\": [...]} or its "
        "JSON text, got ",
        TypeName(v)));
  }
  for (auto item : py::cast<py::dict>(v)) {
    const std::string key = py::str(item.first);
    if (key == "user") {
      if (absl::Status s = ToFeatureRow(item.second, "user", -1, &out->user); !s.ok()) return s;
    } else if (key == "context") {
      if (absl::Status s = ToFeatureRow(item.second, "context", -1, &out->context); !s.ok()) {
        return s;
      }
    } else if (key == "candidates") {
      if (item.second.is_none()) continue;
      if (!py::isinstance<py::list>(item.second) && !py::isinstance<py::tuple>(item.second)) {
        return absl::InvalidArgumentError(
            absl::StrCat("candidates: expected a list of dicts, got ", TypeName(item.second)));
      }
      int64_t k = 0;
      for (py::handle row : item.second) {
        out->candidates.emplace_back();
        if (absl::Status s = ToFeatureRow(row, "candidates", k++, &out->candidates.back());
            !s.ok()) {
          return s;
        }
      }
    } else {
      return absl::InvalidArgumentError(absl::StrCat(
          "unknown request key '", key, "' (expected \"user\", \"context\", \"candidates\")"));
    }
  }
  return absl::OkStatus();
}

// One request or a list of them.
std::vector<Request> ToRequests(py::handle v) {
  std::vector<Request> requests;
  if (py::isinstance<py::list>(v) || py::isinstance<py::tuple>(v)) {
    int64_t k = 0;
    for (py::handle item : v) {
      requests.emplace_back();
      absl::Status s = ToRequest(item, &requests.back());
      if (!s.ok()) throw StatusError(absl::StrCat("requests[", k, "]: ", s.message()));
      ++k;
    }
    return requests;
  }
  requests.emplace_back();
  ThrowIfError(ToRequest(v, &requests.back()));
  return requests;
}

// ---- tensors ----

DType DTypeOfArray(const py::array& a, const std::string& name) {
  // The descriptor's fields read directly: no Python attribute lookups per feed. Only fields at
  // the same offset in numpy 1.x's and 2.x's PyArray_Descr are read (kind, byteorder, type_num;
  // numpy 2 moved elsize), so a module built with Debian's pybind11 2.10 also runs under numpy 2.
  const auto* descr = py::detail::array_descriptor_proxy(py::detail::array_proxy(a.ptr())->descr);
  const char order = descr->byteorder;
  auto fail = [&]() -> DType {
    throw StatusError(absl::StrCat("feed '", name, "': numpy dtype ",
                                   std::string(py::str(py::handle(a.dtype()))),
                                   " has no rankopt dtype (float32/64, float16, int8..64, "
                                   "uint8..64, bool in native byte order)"));
  };
  if (order == '>') return fail();
  // numpy's NPY_TYPES numbers, fixed since numpy 1.0.
  constexpr bool kLong64 = sizeof(long) == 8;
  switch (descr->type_num) {
    case 0: return DType::kBool;      // NPY_BOOL
    case 1: return DType::kInt8;      // NPY_BYTE
    case 2: return DType::kUInt8;     // NPY_UBYTE
    case 3: return DType::kInt16;     // NPY_SHORT
    case 4: return DType::kUInt16;    // NPY_USHORT
    case 5: return DType::kInt32;     // NPY_INT
    case 6: return DType::kUInt32;    // NPY_UINT
    case 7: return kLong64 ? DType::kInt64 : DType::kInt32;     // NPY_LONG
    case 8: return kLong64 ? DType::kUInt64 : DType::kUInt32;   // NPY_ULONG
    case 9: return DType::kInt64;     // NPY_LONGLONG
    case 10: return DType::kUInt64;   // NPY_ULONGLONG
    case 11: return DType::kFloat32;  // NPY_FLOAT
    case 12: return DType::kFloat64;  // NPY_DOUBLE
    case 23: return DType::kFloat16;  // NPY_HALF
    default: return fail();
  }
}

py::dtype NumpyDType(DType dtype) {
  switch (dtype) {
    case DType::kFloat32:
      return py::dtype::of<float>();
    case DType::kFloat64:
      return py::dtype::of<double>();
    case DType::kFloat16:
      return py::dtype("float16");
    case DType::kInt8:
      return py::dtype::of<int8_t>();
    case DType::kUInt8:
      return py::dtype::of<uint8_t>();
    case DType::kInt16:
      return py::dtype::of<int16_t>();
    case DType::kUInt16:
      return py::dtype::of<uint16_t>();
    case DType::kInt32:
      return py::dtype::of<int32_t>();
    case DType::kUInt32:
      return py::dtype::of<uint32_t>();
    case DType::kInt64:
      return py::dtype::of<int64_t>();
    case DType::kUInt64:
      return py::dtype::of<uint64_t>();
    case DType::kBool:
      return py::dtype::of<bool>();
    default:
      throw StatusError(
          absl::StrCat("an output of dtype ", DTypeName(dtype), " has no numpy dtype"));
  }
}

// A numpy array that owns `tensor` (moved to the heap): no copy of its bytes.
py::array TensorToNumpy(Tensor tensor) {
  if (tensor.dtype() == DType::kString) {
    py::list values;
    for (const std::string& s : tensor.strings()) values.append(py::bytes(s));
    return py::array(py::module_::import("numpy").attr("array")(values, "object"))
        .attr("reshape")(tensor.dims());
  }
  const py::dtype dtype = NumpyDType(tensor.dtype());
  auto* owned = new Tensor(std::move(tensor));
  py::capsule owner(owned, [](void* p) { delete static_cast<Tensor*>(p); });
  const std::vector<int64_t>& dims = owned->dims();
  // Strides given, not derived from the descriptor's elsize (another offset under numpy 2).
  std::vector<py::ssize_t> strides(dims.size());
  py::ssize_t stride = static_cast<py::ssize_t>(DTypeSize(owned->dtype()));
  for (size_t i = dims.size(); i-- > 0;) {
    strides[i] = stride;
    stride *= static_cast<py::ssize_t>(dims[i]);
  }
  return py::array(dtype, std::vector<py::ssize_t>(dims.begin(), dims.end()), std::move(strides),
                   owned->bytes().data(), owner);
}

// A float array that owns `values` (moved to the heap).
py::array VectorToNumpy(std::vector<float> values) {
  auto* owned = new std::vector<float>(std::move(values));
  py::capsule owner(owned, [](void* p) { delete static_cast<std::vector<float>*>(p); });
  return py::array_t<float>({static_cast<py::ssize_t>(owned->size())}, {sizeof(float)},
                            owned->data(), owner);
}

// Feeds of a {name: array-like} dict: views of the arrays (converted only when not C-contiguous
// and aligned, or not arrays); `keep` holds the arrays while the views are used.
std::vector<NamedTensorView> ToFeeds(const py::dict& feeds, std::vector<py::array>* keep) {
  std::vector<NamedTensorView> views;
  views.reserve(feeds.size());
  keep->reserve(feeds.size());
  for (auto item : feeds) {
    if (!PyUnicode_Check(item.first.ptr())) {
      throw StatusError(absl::StrCat("feed names must be str, got ", TypeName(item.first)));
    }
    std::string name = py::cast<std::string>(item.first);
    // C-contiguous and aligned, as the kernels read them; any other array is copied once.
    py::array a = py::array::ensure(
        item.second, py::array::c_style | py::detail::npy_api::NPY_ARRAY_ALIGNED_);
    if (!a) {
      PyErr_Clear();
      throw StatusError(
          absl::StrCat("feed '", name, "': expected a numpy array, got ", TypeName(item.second)));
    }
    NamedTensorView view;
    view.view.dtype = DTypeOfArray(a, name);
    for (py::ssize_t d = 0; d < a.ndim(); ++d) view.view.dims.push_back(a.shape(d));
    view.view.data = const_cast<void*>(a.data());
    view.name = std::move(name);
    views.push_back(std::move(view));
    keep->push_back(std::move(a));
  }
  return views;
}

// ---- Model ----

struct ModelArgs {
  std::vector<std::string> outputs;
  int threads = 1;
  int64_t user_cache_mb = 0;
  int64_t item_cache_mb = 0;
  int64_t max_candidates = 100000;
  int64_t chunk_rows = 0;
  bool warm_up = true;
  bool verify_checksums = true;
};

ModelOptions ToModelOptions(const ModelArgs& args) {
  if (args.threads < 1) throw StatusError(absl::StrCat("threads: ", args.threads, " < 1"));
  if (args.user_cache_mb < 0 || args.item_cache_mb < 0 || args.chunk_rows < 0 ||
      args.max_candidates < 1) {
    throw StatusError(
        "user_cache_mb, item_cache_mb and chunk_rows must be >= 0, max_candidates >= 1");
  }
  ModelOptions o;
  o.threads = args.threads;
  o.user_cache.capacity_bytes = static_cast<size_t>(args.user_cache_mb) << 20;
  o.item_cache.capacity_bytes = static_cast<size_t>(args.item_cache_mb) << 20;
  o.max_candidates = args.max_candidates;
  o.chunk_rows = args.chunk_rows;
  o.warm_up = args.warm_up;
  o.verify_checksums = args.verify_checksums;
  return o;
}

// What `run` runs on: the model's graph as `rankopt run` runs it (whole, on the calling thread).
struct GraphRunner {
  ModelSource source;
  std::unique_ptr<Scorer> scorer;
};

absl::StatusOr<std::unique_ptr<GraphRunner>> MakeGraphRunner(const std::string& path,
                                                             std::vector<std::string> outputs) {
  auto runner = std::make_unique<GraphRunner>();
  absl::StatusOr<ModelSource> source = LoadModelSource(path);
  if (!source.ok()) return source.status();
  runner->source = *std::move(source);
  ScorerOptions options;
  options.outputs = outputs.empty() ? runner->source.outputs : std::move(outputs);
  options.separability = Separability::kNever;
  absl::StatusOr<std::unique_ptr<Scorer>> scorer =
      Scorer::Create(&runner->source.graph, std::nullopt, options);
  if (!scorer.ok()) {
    return absl::Status(scorer.status().code(),
                        absl::StrCat(path, ": ", scorer.status().message()));
  }
  runner->scorer = *std::move(scorer);
  return runner;
}

class PyModel {
 public:
  // A package (Model::Load, scoring) or a model file (graph-level run only).
  PyModel(const std::string& path, const ModelArgs& args) : path_(path), outputs_(args.outputs) {
    const ModelOptions options = ToModelOptions(args);
    absl::Status status;
    {
      py::gil_scoped_release release;
      if (IsModelPackageFile(path)) {
        absl::StatusOr<std::shared_ptr<const Model>> model = Model::Load(path, options);
        if (model.ok()) model_ = *std::move(model);
        status = model.status();
      } else {
        absl::StatusOr<std::unique_ptr<GraphRunner>> runner = MakeGraphRunner(path, outputs_);
        if (runner.ok()) runner_ = *std::move(runner);
        status = runner.status();
      }
    }
    ThrowIfError(status);
    if (model_ != nullptr && !outputs_.empty()) {
      throw StatusError(absl::StrCat(path,
                                     ": outputs= does not apply to a package (its heads "
                                     "are fixed by rankopt.optimize)"));
    }
  }
  explicit PyModel(std::shared_ptr<const Model> model)
      : path_(model->path()), model_(std::move(model)) {}

  const std::string& path() const { return path_; }
  bool is_package() const { return model_ != nullptr; }

  std::vector<std::string> heads() {
    if (model_ != nullptr) return model_->heads();
    return runner_->scorer->outputs();
  }

  py::dict Score(py::handle request, std::vector<std::string> heads) {
    if (model_ == nullptr) {
      throw StatusError(absl::StrCat(
          path_,
          " is a model file, not a package: score() transforms raw features with the "
          "package's feature config; rankopt.optimize(...) it first (run() takes graph "
          "inputs on both)"));
    }
    const std::vector<Request> requests = ToRequests(request);
    ScoreOptions options;
    options.heads = std::move(heads);
    std::vector<Scores> scores(requests.size());
    absl::Status status;
    {
      py::gil_scoped_release release;
      for (size_t k = 0; k < requests.size() && status.ok(); ++k) {
        status = model_->ScoreInto(requests[k], options, &scores[k]);
        if (!status.ok() && requests.size() > 1) {
          status =
              absl::Status(status.code(), absl::StrCat("requests[", k, "]: ", status.message()));
        }
      }
    }
    ThrowIfError(status);
    py::dict out;
    if (scores.size() == 1) {
      for (size_t h = 0; h < scores[0].heads.size(); ++h) {
        out[py::str(scores[0].heads[h])] = VectorToNumpy(std::move(scores[0].values[h]));
      }
      return out;
    }
    // A list: every request's candidates, in order, one array per head.
    const std::vector<std::string> names =
        scores.empty() ? (options.heads.empty() ? model_->heads() : options.heads)
                       : scores[0].heads;
    for (size_t h = 0; h < names.size(); ++h) {
      std::vector<float> all;
      for (const Scores& s : scores) all.insert(all.end(), s.values[h].begin(), s.values[h].end());
      out[py::str(names[h])] = VectorToNumpy(std::move(all));
    }
    return out;
  }

  py::dict Run(const py::dict& feeds) {
    const Scorer& scorer = RunScorer();
    std::vector<py::array> keep;
    const std::vector<NamedTensorView> views = ToFeeds(feeds, &keep);
    std::vector<Tensor> outputs;
    absl::Status status;
    {
      py::gil_scoped_release release;
      status = scorer.Run(views, &outputs);
    }
    ThrowIfError(status);
    py::dict out;
    for (size_t k = 0; k < outputs.size(); ++k) {
      out[py::str(scorer.outputs()[k])] = TensorToNumpy(std::move(outputs[k]));
    }
    return out;
  }

  // Per-call seconds of the C++ run alone (the feeds converted once), for bench/python/.
  std::vector<double> TimeRunNative(const py::dict& feeds, int64_t iterations) {
    const Scorer& scorer = RunScorer();
    std::vector<py::array> keep;
    const std::vector<NamedTensorView> views = ToFeeds(feeds, &keep);
    std::vector<double> seconds;
    seconds.reserve(static_cast<size_t>(std::max<int64_t>(iterations, 0)));
    absl::Status status;
    {
      py::gil_scoped_release release;
      std::vector<Tensor> outputs;
      for (int64_t i = 0; i < iterations && status.ok(); ++i) {
        const auto start = std::chrono::steady_clock::now();
        status = scorer.Run(views, &outputs);
        seconds.push_back(
            std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
      }
    }
    ThrowIfError(status);
    return seconds;
  }

  py::list Inputs() {
    py::list out;
    for (const ExecutionPlan::Input& input : RunScorer().plan().inputs()) {
      py::dict d;
      d["name"] = input.name;
      d["dtype"] = std::string(DTypeName(input.dtype));
      if (!input.shape.known_rank()) {
        d["shape"] = py::none();
      } else {
        py::list dims;
        for (int64_t dim : input.shape.dims()) {
          if (dim < 0) {
            dims.append(py::none());
          } else {
            dims.append(dim);
          }
        }
        d["shape"] = py::tuple(dims);
      }
      out.append(std::move(d));
    }
    return out;
  }

  std::vector<std::string> Outputs() { return RunScorer().outputs(); }

  py::dict Stats() const {
    py::dict out;
    if (model_ == nullptr) return out;
    const ModelStats& s = model_->stats();
    out["requests"] = s.requests();
    out["candidates"] = s.candidates();
    out["errors"] = s.errors();
    out["latency_sum_s"] = s.latency_sum_seconds();
    py::list buckets;
    const std::vector<int64_t> cumulative = s.LatencyCumulative();
    for (size_t k = 0; k < cumulative.size(); ++k) {
      const double le = k < kLatencyBucketsSeconds.size() ? kLatencyBucketsSeconds[k]
                                                          : std::numeric_limits<double>::infinity();
      buckets.append(py::make_tuple(le, cumulative[k]));
    }
    out["latency_buckets"] = buckets;
    py::dict features;
    for (size_t f = 0; f < s.features().size(); ++f) {
      py::dict d;
      d["defaults_applied"] = s.defaults_applied(f);
      d["out_of_range"] = s.out_of_range(f);
      features[py::str(s.features()[f])] = d;
    }
    out["features"] = features;
    py::dict caches;
    for (const auto& [name, c] : s.Caches()) {
      py::dict d;
      d["hits"] = c.hits;
      d["misses"] = c.misses;
      d["inserts"] = c.inserts;
      d["evictions"] = c.evictions;
      d["expirations"] = c.expirations;
      d["rejections"] = c.rejections;
      d["bytes"] = c.bytes;
      d["entries"] = c.entries;
      d["capacity_bytes"] = c.capacity_bytes;
      d["hit_rate"] = c.hit_rate();
      caches[py::str(name)] = d;
    }
    out["caches"] = caches;
    out["prometheus"] = s.PrometheusText(
        absl::StrCat("model=\"", PrometheusLabelValue(model_->name()), "\",version=\"",
                     PrometheusLabelValue(model_->version()), "\""));
    return out;
  }

  py::object Name() const { return model_ ? py::object(py::str(model_->name())) : py::none(); }
  py::object Version() const {
    return model_ ? py::object(py::str(model_->version())) : py::none();
  }

 private:
  // The graph runner; for a package, loaded at the first call that needs it.
  const Scorer& RunScorer() {
    absl::Status status;
    {
      py::gil_scoped_release release;
      std::lock_guard<std::mutex> lock(runner_mu_);
      if (runner_ == nullptr) {
        absl::StatusOr<std::unique_ptr<GraphRunner>> runner = MakeGraphRunner(path_, outputs_);
        if (runner.ok()) runner_ = *std::move(runner);
        status = runner.status();
      }
    }
    ThrowIfError(status);
    return *runner_->scorer;
  }

  std::string path_;
  std::vector<std::string> outputs_;
  std::shared_ptr<const Model> model_;
  std::mutex runner_mu_;
  std::unique_ptr<GraphRunner> runner_;  // set once under runner_mu_, then immutable
};

class PyModelManager {
 public:
  PyModelManager(const std::string& root, double poll_s, const ModelArgs& args) {
    if (!(poll_s >= 0)) throw StatusError(absl::StrCat("poll_s: ", poll_s, " is not >= 0"));
    ModelManagerOptions options;
    options.model = ToModelOptions(args);
    options.poll_interval_s = poll_s;
    absl::StatusOr<std::unique_ptr<ModelManager>> manager;
    {
      py::gil_scoped_release release;
      manager = ModelManager::Create(root, std::move(options));
    }
    manager_ = ValueOrThrow(std::move(manager));
  }
  ~PyModelManager() {
    py::gil_scoped_release release;  // the poll thread may be loading; it never takes the GIL
    manager_.reset();
  }

  std::unique_ptr<PyModel> Current() const {
    return std::make_unique<PyModel>(manager_->Current());
  }
  void Reload() {
    absl::Status status;
    {
      py::gil_scoped_release release;
      status = manager_->Reload();
    }
    ThrowIfError(status);
  }
  py::dict Counters() const {
    const ModelManagerCounters c = manager_->counters();
    py::dict d;
    d["loads"] = c.loads;
    d["rejected"] = c.rejected;
    d["current_version"] = c.current_version;
    d["last_error"] = c.last_error;
    return d;
  }

 private:
  std::unique_ptr<ModelManager> manager_;
};

// ---- functions ----

py::dict Summarize(const std::string& path) {
  absl::StatusOr<GraphSummaryProto> summary;
  {
    py::gil_scoped_release release;
    absl::StatusOr<Graph> graph = LoadModel(path);
    summary =
        graph.ok() ? SummarizeModel(*graph) : absl::StatusOr<GraphSummaryProto>(graph.status());
  }
  return MessageToDict(ValueOrThrow(std::move(summary)));
}

py::dict Prune(const std::string& path, std::vector<std::string> outputs,
               std::vector<std::string> inputs, const std::string& out) {
  if (outputs.empty()) throw StatusError("outputs: name at least one tensor to keep");
  PassOptions options;
  options.outputs = std::move(outputs);
  options.inputs = std::move(inputs);
  absl::StatusOr<PruneModelResult> result;
  {
    py::gil_scoped_release release;
    result = PruneModelFile(path, options, out);
  }
  const PruneModelResult r = ValueOrThrow(std::move(result));
  py::dict d;
  d["pass"] = r.report.pass;
  d["changed"] = r.report.changed;
  d["nodes_before"] = r.report.nodes_before;
  d["nodes_after"] = r.report.nodes_after;
  d["params_before"] = r.report.params_before;
  d["params_after"] = r.report.params_after;
  d["ops_before"] = py::cast(
      std::map<std::string, int64_t>(r.report.ops_before.begin(), r.report.ops_before.end()));
  d["ops_after"] = py::cast(
      std::map<std::string, int64_t>(r.report.ops_after.begin(), r.report.ops_after.end()));
  d["notes"] = r.report.notes;
  d["out"] = out;
  d["format"] = std::string(ModelFormatName(r.format));
  d["text"] = FormatPassReport(r.report);
  return d;
}

py::tuple Optimize(const std::string& model, const std::string& features, const std::string& out,
                   const std::string& sample, std::vector<std::string> outputs,
                   const std::string& level, const std::string& int8, const std::string& precision,
                   const std::string& name, const std::string& version, int64_t candidates,
                   int threads, double time_s) {
  OptimizeModelOptions o;
  o.model_path = model;
  o.config_path = features;
  o.out_path = out;
  o.sample_path = sample;
  o.outputs = std::move(outputs);
  o.level = ValueOrThrow(ParseOptLevel(level));
  absl::StatusOr<TableQuantizationMode> mode = ParseTableQuantizationMode(int8);
  if (!mode.ok()) throw StatusError(absl::StrCat("int8: ", mode.status().message()));
  o.int8 = *mode;
  absl::StatusOr<PrecisionMode> precision_mode = ParsePrecisionMode(precision);
  if (!precision_mode.ok()) {
    throw StatusError(absl::StrCat("precision: ", precision_mode.status().message()));
  }
  o.precision = *precision_mode;
  o.name = name.empty() ? DefaultModelName(model) : name;
  o.version = version;
  if (candidates < 0 || candidates > (int64_t{1} << 20)) {
    throw StatusError(absl::StrCat("candidates: ", candidates, " is not in [0, 1048576]"));
  }
  if (threads < 1 || threads > 1024) {
    throw StatusError(absl::StrCat("threads: ", threads, " is not in [1, 1024]"));
  }
  if (!(time_s >= 0) || time_s > 600) {
    throw StatusError(absl::StrCat("time_s: ", time_s, " is not a number of seconds in [0, 600]"));
  }
  o.candidates = candidates;
  o.threads = threads;
  o.time_s = time_s;
  absl::StatusOr<OptimizeResult> result;
  {
    py::gil_scoped_release release;
    result = OptimizeModel(o);
  }
  const OptimizeResult r = ValueOrThrow(std::move(result));
  return py::make_tuple(MessageToDict(r.report), FormatOptimizeReport(r.report, r.int8_text));
}

// JSON lines of requests (dicts or JSON text), for optimize's sample.
std::string RequestsToJsonLines(py::handle requests) {
  std::string out;
  for (const Request& request : ToRequests(requests)) {
    out += ValueOrThrow(RequestToJson(request));
    out += "\n";
  }
  return out;
}

}  // namespace
}  // namespace rankopt

PYBIND11_MODULE(_native, m) {
  using namespace rankopt;
  m.doc() = "rankopt's native module; use the rankopt package, which wraps it.";
  m.attr("__version__") = RANKOPT_VERSION;
  py::register_exception<StatusError>(m, "Error");

  m.def("summarize", &Summarize, py::arg("path"));
  m.def("prune", &Prune, py::arg("path"), py::arg("outputs"), py::arg("inputs"), py::arg("out"));
  m.def("optimize", &Optimize, py::arg("model"), py::arg("features"), py::arg("out"),
        py::arg("sample"), py::arg("outputs"), py::arg("level"), py::arg("int8"), py::arg("precision"), py::arg("name"),
        py::arg("version"), py::arg("candidates"), py::arg("threads"), py::arg("time_s"));
  m.def("optimize_help", [] { return FormatCommandHelp(OptimizeCommandSpec()); });
  m.def("optimize_build_warnings", &OptimizeBuildWarnings);
  m.def("default_model_name", &DefaultModelName);
  m.def("requests_to_json_lines", &RequestsToJsonLines, py::arg("requests"));

  py::class_<PyModel>(m, "Model")
      .def(py::init([](const std::string& path, std::vector<std::string> outputs, int threads,
                       int64_t user_cache_mb, int64_t item_cache_mb, int64_t max_candidates,
                       int64_t chunk_rows, bool warm_up, bool verify_checksums) {
             ModelArgs args{std::move(outputs), threads,    user_cache_mb, item_cache_mb,
                            max_candidates,     chunk_rows, warm_up,       verify_checksums};
             return std::make_unique<PyModel>(path, args);
           }),
           py::arg("path"), py::arg("outputs"), py::arg("threads"), py::arg("user_cache_mb"),
           py::arg("item_cache_mb"), py::arg("max_candidates"), py::arg("chunk_rows"),
           py::arg("warm_up"), py::arg("verify_checksums"))
      .def_property_readonly("path", &PyModel::path)
      .def_property_readonly("is_package", &PyModel::is_package)
      .def_property_readonly("name", &PyModel::Name)
      .def_property_readonly("version", &PyModel::Version)
      .def_property_readonly("heads", &PyModel::heads)
      .def_property_readonly("inputs", &PyModel::Inputs)
      .def_property_readonly("outputs", &PyModel::Outputs)
      .def("score", &PyModel::Score, py::arg("request"), py::arg("heads"))
      .def("run", &PyModel::Run, py::arg("feeds"))
      .def("time_run_native", &PyModel::TimeRunNative, py::arg("feeds"), py::arg("iterations"))
      .def("stats", &PyModel::Stats);

  py::class_<PyModelManager>(m, "ModelManager")
      .def(py::init([](const std::string& root, double poll_s, int threads, int64_t user_cache_mb,
                       int64_t item_cache_mb) {
             ModelArgs args;
             args.threads = threads;
             args.user_cache_mb = user_cache_mb;
             args.item_cache_mb = item_cache_mb;
             return std::make_unique<PyModelManager>(root, poll_s, args);
           }),
           py::arg("root"), py::arg("poll_s"), py::arg("threads"), py::arg("user_cache_mb"),
           py::arg("item_cache_mb"))
      .def("current", &PyModelManager::Current)
      .def("reload", &PyModelManager::Reload)
      .def("counters", &PyModelManager::Counters);
}
