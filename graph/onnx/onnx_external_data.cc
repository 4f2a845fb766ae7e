#include "graph/onnx/onnx_external_data.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "core/dtype.h"
#include "core/shape.h"
#include "graph/onnx/onnx_convert.h"
#include "rankopt/status_macros.h"

namespace rankopt {
namespace {

using onnx::TensorProto;

// The parsed external_data entries of one tensor.
struct ExternalRecord {
  std::string location;
  uint64_t offset = 0;
  bool has_length = false;
  uint64_t length = 0;
};

absl::StatusOr<ExternalRecord> ParseRecord(const TensorProto& proto, absl::string_view what) {
  ExternalRecord record;
  bool has_location = false, has_offset = false;
  for (const onnx::StringStringEntryProto& entry : proto.external_data()) {
    const std::string& key = entry.key();
    bool* seen = key == "location" ? &has_location
                 : key == "offset" ? &has_offset
                 : key == "length" ? &record.has_length
                                   : nullptr;
    if (seen == nullptr) continue;  // "checksum" and keys of later ONNX versions
    if (*seen) {
      return absl::InvalidArgumentError(
          absl::StrCat(what, ": external_data has the key '", key, "' twice"));
    }
    *seen = true;
    if (key == "location") {
      record.location = entry.value();
      continue;
    }
    uint64_t* value = key == "offset" ? &record.offset : &record.length;
    if (!absl::SimpleAtoi(entry.value(), value)) {
      return absl::InvalidArgumentError(absl::StrCat(what, ": external_data '", key, "' is '",
                                                     entry.value(),
                                                     "'; expected a non-negative integer"));
    }
  }
  if (!has_location || record.location.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        what, ": data_location is EXTERNAL but external_data names no 'location' (the data file, "
              "relative to the model's directory)"));
  }
  return record;
}

// `location` as a path inside `dir`, or an error when it could leave it.
absl::StatusOr<std::string> ResolveInside(const std::string& dir, const std::string& location,
                                          absl::string_view what) {
  const std::filesystem::path relative(location);
  bool escapes = relative.is_absolute() || relative.has_root_name();
  for (const std::filesystem::path& part : relative) escapes |= part == "..";
  if (escapes || location.find('\0') != std::string::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, ": external data location '", location,
                     "' is not a relative path inside the model's directory (no absolute path, "
                     "no '..')"));
  }
  return (dir.empty() ? relative : std::filesystem::path(dir) / relative).string();
}

}  // namespace

bool IsOnnxExternal(const TensorProto& proto) {
  return proto.data_location() == TensorProto::EXTERNAL || proto.external_data_size() > 0;
}

OnnxExternalData::OnnxExternalData(std::string model_dir) : dir_(std::move(model_dir)) {}

absl::StatusOr<const OnnxExternalData::File*> OnnxExternalData::Open(const std::string& location,
                                                                     absl::string_view what) {
  auto it = files_.find(location);
  if (it != files_.end()) return &it->second;
  RANKOPT_ASSIGN_OR_RETURN(std::string path, ResolveInside(dir_, location, what));
  // O_NONBLOCK: a FIFO in place of the data file must not hang the import (it is refused below).
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) {
    return absl::NotFoundError(absl::StrCat(what, ": cannot open its external data file ", path,
                                            ": ", std::strerror(errno),
                                            " (it is expected beside the model)"));
  }
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    close(fd);
    return absl::InvalidArgumentError(
        absl::StrCat(what, ": external data file ", path, " is not a regular file"));
  }
  File file;
  file.size = static_cast<uint64_t>(st.st_size);
  if (file.size > 0) {
    void* addr = mmap(nullptr, file.size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (addr == MAP_FAILED) {
      const int error = errno;
      close(fd);
      return absl::ResourceExhaustedError(absl::StrCat(what, ": cannot map ", path, " (",
                                                       file.size, " bytes): ",
                                                       std::strerror(error)));
    }
    const size_t size = file.size;
    file.mapping = std::shared_ptr<const void>(
        addr, [size](const void* p) { munmap(const_cast<void*>(p), size); });
  }
  close(fd);
  return &files_.emplace(location, std::move(file)).first->second;
}

absl::StatusOr<Tensor> OnnxExternalData::Load(const TensorProto& proto, absl::string_view what) {
  if (proto.has_raw_data()) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, " has both raw_data and external_data; expected one of them"));
  }
  if (proto.has_segment()) {
    return absl::UnimplementedError(
        absl::StrCat(what, " is a segment of a larger tensor, which is not supported"));
  }
  absl::StatusOr<DType> dtype = DTypeFromOnnx(proto.data_type());
  if (!dtype.ok()) {
    return absl::Status(dtype.status().code(), absl::StrCat(what, ": ", dtype.status().message()));
  }
  if (*dtype == DType::kString) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, " is a string tensor with external data; ONNX keeps strings inline"));
  }
  std::vector<int64_t> dims(proto.dims().begin(), proto.dims().end());
  absl::StatusOr<int64_t> count = CheckedNumElements(dims);
  const uint64_t width = DTypeSize(*dtype);
  if (!count.ok() || static_cast<uint64_t>(*count) >
                         std::numeric_limits<uint64_t>::max() / std::max<uint64_t>(width, 1)) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, ": bad dims ", Shape(dims).ToString()));
  }
  const uint64_t bytes = static_cast<uint64_t>(*count) * width;
  RANKOPT_ASSIGN_OR_RETURN(ExternalRecord record, ParseRecord(proto, what));
  if (record.has_length && record.length != bytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        what, ": external_data length is ", record.length, " bytes but its dtype and shape ",
        Shape(dims).ToString(), " need ", bytes));
  }
  RANKOPT_ASSIGN_OR_RETURN(const File* file, Open(record.location, what));
  if (record.offset > file->size || bytes > file->size - record.offset) {
    return absl::InvalidArgumentError(absl::StrCat(
        what, ": external data [", record.offset, ", ", record.offset, " + ", bytes,
        ") is past the end of '", record.location, "' (", file->size, " bytes)"));
  }
  if (bytes == 0) return Tensor::FromBytes(*dtype, std::move(dims), "");
  const char* data = static_cast<const char*>(file->mapping.get()) + record.offset;
  const absl::string_view view(data, bytes);
  // Unaligned data, and bools (whose bytes must be 0 or 1 to be read as bool: FromBytes makes
  // any nonzero byte 1), are copied; the rest stays a view into the mapping.
  if (record.offset % width != 0 || *dtype == DType::kBool) {
    return Tensor::FromBytes(*dtype, std::move(dims), view);
  }
  return Tensor::FromExternal(*dtype, std::move(dims), view, file->mapping);
}

absl::Status WriteOnnxExternalData(const Graph& graph, const std::string& model_path,
                                   onnx::ModelProto* model) {
  onnx::GraphProto* g = model->mutable_graph();
  bool any_external = false;
  for (const TensorProto& init : g->initializer()) any_external |= IsOnnxExternal(init);
  if (!any_external) return absl::OkStatus();

  absl::flat_hash_map<std::string, const Tensor*> values;
  for (const Node& node : graph.nodes()) {
    if (node.op != kConstOp) continue;
    const Tensor* value = node.attrs.Get<Tensor>("value");
    if (value == nullptr) continue;
    values[node.output_names.empty() ? node.name : node.output_names[0]] = value;
  }
  const std::string data_path = absl::StrCat(model_path, ".data");
  const std::string location =
      absl::StrCat(std::filesystem::path(model_path).filename().string(), ".data");
  // A temporary name, then rename: the file being replaced may be mapped by the graph itself.
  const std::string temp_path = absl::StrCat(data_path, ".tmp");
  std::ofstream out(temp_path, std::ios::binary | std::ios::trunc);
  if (!out) {
    return absl::PermissionDeniedError(absl::StrCat(temp_path, ": cannot open for writing"));
  }
  uint64_t offset = 0;
  for (TensorProto& init : *g->mutable_initializer()) {
    absl::string_view bytes;
    if (IsOnnxExternal(init)) {
      auto it = values.find(init.name());
      if (it == values.end()) {
        return absl::InternalError(absl::StrCat(
            "cannot export initializer '", init.name(),
            "' to external data: the graph has no Const of that name to take its bytes from"));
      }
      bytes = it->second->bytes();
    } else if (init.has_raw_data() && init.raw_data().size() >= kMinExternalBytes) {
      bytes = init.raw_data();
    } else {
      continue;
    }
    const uint64_t padding = (64 - offset % 64) % 64;
    out.write(std::string(padding, '\0').data(), static_cast<std::streamsize>(padding));
    offset += padding;
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    const uint64_t length = bytes.size();
    init.clear_raw_data();
    init.clear_external_data();
    init.set_data_location(TensorProto::EXTERNAL);
    for (const auto& [key, value] :
         {std::pair<const char*, std::string>{"location", location},
          {"offset", absl::StrCat(offset)},
          {"length", absl::StrCat(length)}}) {
      onnx::StringStringEntryProto* entry = init.add_external_data();
      entry->set_key(key);
      entry->set_value(value);
    }
    offset += length;
  }
  out.close();
  if (!out) return absl::DataLossError(absl::StrCat(temp_path, ": write failed"));
  if (std::rename(temp_path.c_str(), data_path.c_str()) != 0) {
    return absl::PermissionDeniedError(absl::StrCat("cannot rename ", temp_path, " to ", data_path,
                                                    ": ", std::strerror(errno)));
  }
  return absl::OkStatus();
}

}  // namespace rankopt
