#include "graph/tf/checkpoint_reader.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <memory>
#include <system_error>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "graph/tf/crc32c.h"
#include "graph/tf/tf_convert.h"
#include "leveldb/env.h"
#include "leveldb/iterator.h"
#include "leveldb/options.h"
#include "leveldb/table.h"
#include "rankopt/status_macros.h"

namespace rankopt {
namespace {

constexpr absl::string_view kObjectGraphKey = "_CHECKPOINTABLE_OBJECT_GRAPH";
// TF never writes more shards than this; a larger count is a corrupt header.
constexpr int kMaxShards = 1 << 20;

bool ReadVarint64(absl::string_view* in, uint64_t* value) {
  uint64_t result = 0;
  for (int shift = 0; shift <= 63 && !in->empty(); shift += 7) {
    uint64_t byte = static_cast<unsigned char>((*in)[0]);
    in->remove_prefix(1);
    result |= (byte & 0x7f) << shift;
    if ((byte & 0x80) == 0) {
      *value = result;
      return true;
    }
  }
  return false;
}

// TF's bundle encoding of a string tensor: a varint64 length per element, the masked crc32c of
// the lengths (each as a little-endian uint32, or uint64 when larger), then the element bytes.
// The entry's crc32c extends that crc over the stored length checksum and the element bytes.
absl::StatusOr<std::vector<std::string>> DecodeStrings(absl::string_view data, int64_t count,
                                                       uint32_t* crc) {
  absl::string_view in = data;
  std::vector<uint64_t> lengths;
  uint64_t total = 0;
  *crc = 0;
  for (int64_t i = 0; i < count; ++i) {
    uint64_t length = 0;
    if (!ReadVarint64(&in, &length)) return absl::DataLossError("truncated string lengths");
    if (length > data.size() || total + length > data.size()) {
      return absl::DataLossError(absl::StrCat("string element ", i, " has length ", length,
                                              ", past the end of the entry"));
    }
    total += length;
    lengths.push_back(length);
    if (length <= std::numeric_limits<uint32_t>::max()) {
      uint32_t length32 = static_cast<uint32_t>(length);
      *crc = Crc32cExtend(*crc, absl::string_view(reinterpret_cast<const char*>(&length32), 4));
    } else {
      *crc = Crc32cExtend(*crc, absl::string_view(reinterpret_cast<const char*>(&length), 8));
    }
  }
  if (in.size() < 4) return absl::DataLossError("truncated string length checksum");
  uint32_t stored_length_crc = 0;
  std::memcpy(&stored_length_crc, in.data(), 4);
  if (stored_length_crc != Crc32cMask(*crc)) {
    return absl::DataLossError("string length checksum mismatch");
  }
  *crc = Crc32cExtend(*crc, in.substr(0, 4));
  in.remove_prefix(4);
  if (in.size() != total) {
    return absl::DataLossError(
        absl::StrCat("string bytes are ", in.size(), " long, lengths say ", total));
  }
  std::vector<std::string> values;
  values.reserve(count);
  for (uint64_t length : lengths) {
    values.emplace_back(in.substr(0, length));
    in.remove_prefix(length);
  }
  *crc = Crc32cExtend(*crc, data.substr(data.size() - total));
  return values;
}

}  // namespace

absl::StatusOr<CheckpointReader> CheckpointReader::Open(const std::string& prefix) {
  const std::string path = prefix + ".index";
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) {
    return absl::NotFoundError(absl::StrCat(
        path,
        ": no such file; expected a TensorFlow V2 checkpoint index (a SavedModel keeps it "
        "at variables/variables.index)"));
  }
  leveldb::Env* env = leveldb::Env::Default();
  uint64_t file_size = 0;
  leveldb::Status s = env->GetFileSize(path, &file_size);
  leveldb::RandomAccessFile* raw_file = nullptr;
  if (s.ok()) s = env->NewRandomAccessFile(path, &raw_file);
  if (!s.ok()) return absl::NotFoundError(absl::StrCat(path, ": ", s.ToString()));
  std::unique_ptr<leveldb::RandomAccessFile> file(raw_file);
  leveldb::Table* raw_table = nullptr;
  s = leveldb::Table::Open(leveldb::Options(), file.get(), file_size, &raw_table);
  if (!s.ok()) {
    return absl::DataLossError(
        absl::StrCat(path, ": not a checkpoint index (LevelDB table): ", s.ToString()));
  }
  std::unique_ptr<leveldb::Table> table(raw_table);

  CheckpointReader reader;
  reader.prefix_ = prefix;
  bool have_header = false;
  leveldb::ReadOptions read_options;
  read_options.verify_checksums = true;
  std::unique_ptr<leveldb::Iterator> it(table->NewIterator(read_options));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    const std::string key = it->key().ToString();
    const leveldb::Slice value = it->value();
    if (key.empty()) {
      tf::BundleHeaderProto header;
      if (!header.ParseFromArray(value.data(), static_cast<int>(value.size()))) {
        return absl::DataLossError(absl::StrCat(path, ": corrupt BundleHeaderProto"));
      }
      if (header.num_shards() < 1 || header.num_shards() > kMaxShards) {
        return absl::DataLossError(absl::StrCat(path, ": header says ", header.num_shards(),
                                                " shards; expected 1 to ", kMaxShards));
      }
      if (header.endianness() != tf::BundleHeaderProto::LITTLE) {
        return absl::UnimplementedError(
            absl::StrCat(path, ": big-endian checkpoints are not supported"));
      }
      reader.num_shards_ = header.num_shards();
      have_header = true;
      continue;
    }
    tf::BundleEntryProto entry;
    if (!entry.ParseFromArray(value.data(), static_cast<int>(value.size()))) {
      return absl::DataLossError(
          absl::StrCat(path, ": corrupt BundleEntryProto for variable '", key, "'"));
    }
    reader.entries_.emplace(key, std::move(entry));
  }
  if (!it->status().ok()) {
    return absl::DataLossError(absl::StrCat(path, ": ", it->status().ToString()));
  }
  if (!have_header) {
    return absl::DataLossError(absl::StrCat(path,
                                            ": no bundle header (empty key); not a "
                                            "TensorFlow V2 checkpoint index"));
  }
  for (const auto& [key, entry] : reader.entries_) {
    if (entry.shard_id() < 0 || entry.shard_id() >= reader.num_shards_ || entry.offset() < 0 ||
        entry.size() < 0) {
      return absl::DataLossError(
          absl::StrCat(path, ": variable '", key, "' has shard ", entry.shard_id(), " (of ",
                       reader.num_shards_, "), offset ", entry.offset(), ", size ", entry.size()));
    }
  }
  return reader;
}

std::vector<std::string> CheckpointReader::Keys() const {
  std::vector<std::string> keys;
  keys.reserve(entries_.size());
  for (const auto& [key, entry] : entries_) keys.push_back(key);
  std::sort(keys.begin(), keys.end());
  return keys;
}

const tf::BundleEntryProto* CheckpointReader::FindEntry(absl::string_view key) const {
  auto it = entries_.find(key);
  return it == entries_.end() ? nullptr : &it->second;
}

std::string CheckpointReader::ShardPath(int shard) const {
  char suffix[64];
  std::snprintf(suffix, sizeof(suffix), ".data-%05d-of-%05d", shard, num_shards_);
  return prefix_ + suffix;
}

absl::StatusOr<Tensor> CheckpointReader::Read(absl::string_view key) const {
  const tf::BundleEntryProto* entry = FindEntry(key);
  if (entry == nullptr) {
    std::vector<std::string> keys = Keys();
    if (keys.size() > 8) keys.resize(8);
    return absl::NotFoundError(absl::StrCat(
        prefix_, ".index: no variable '", key, "' in the checkpoint (it has ", entries_.size(),
        " keys: ", absl::StrJoin(keys, ", "), entries_.size() > 8 ? ", ..." : "", ")"));
  }
  const std::string where = absl::StrCat(prefix_, " variable '", key, "'");
  if (entry->slices_size() > 0) {
    return absl::UnimplementedError(
        absl::StrCat(where, ": partitioned (sliced) variables are not supported"));
  }
  std::optional<DType> dtype = DTypeFromTf(entry->dtype());
  if (!dtype || !(IsFixedWidth(*dtype) || *dtype == DType::kString)) {
    return absl::UnimplementedError(
        absl::StrCat(where, ": dtype ", tf::DataType_Name(entry->dtype()), " is not supported"));
  }
  absl::StatusOr<Shape> shape = ShapeFromTf(entry->shape());
  if (!shape.ok() || !shape->IsFullyDefined()) {
    return absl::DataLossError(absl::StrCat(where, ": shape is not fully defined"));
  }
  absl::StatusOr<int64_t> count = CheckedNumElements(shape->dims());
  if (!count.ok()) return absl::DataLossError(absl::StrCat(where, ": ", count.status().message()));
  if (IsFixedWidth(*dtype)) {
    const int64_t element_size = static_cast<int64_t>(DTypeSize(*dtype));
    if (*count > std::numeric_limits<int64_t>::max() / element_size ||
        *count * element_size != entry->size()) {
      return absl::DataLossError(absl::StrCat(where, ": size ", entry->size(),
                                              " bytes does not match ", DTypeName(*dtype),
                                              " shape ", shape->ToString()));
    }
  }
  const std::string shard_path = ShardPath(entry->shard_id());
  std::error_code ec;
  const uintmax_t file_size = std::filesystem::file_size(shard_path, ec);
  if (ec) {
    return absl::NotFoundError(absl::StrCat(shard_path, ": cannot read data shard for variable '",
                                            key, "': ", ec.message()));
  }
  if (static_cast<uint64_t>(entry->offset()) > file_size ||
      static_cast<uint64_t>(entry->size()) > file_size - entry->offset()) {
    return absl::DataLossError(absl::StrCat(where, ": bytes [", entry->offset(), ", +",
                                            entry->size(), ") lie past the end of ", shard_path,
                                            " (", file_size, " bytes)"));
  }
  std::string bytes(static_cast<size_t>(entry->size()), '\0');
  std::ifstream in(shard_path, std::ios::binary);
  in.seekg(entry->offset());
  in.read(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!in) return absl::DataLossError(absl::StrCat(shard_path, ": read failed for '", key, "'"));

  if (*dtype == DType::kString) {
    uint32_t crc = 0;
    absl::StatusOr<std::vector<std::string>> values = DecodeStrings(bytes, *count, &crc);
    if (!values.ok()) {
      return absl::DataLossError(absl::StrCat(where, ": ", values.status().message()));
    }
    if (Crc32cMask(crc) != entry->crc32c()) {
      return absl::DataLossError(
          absl::StrCat(where, ": crc32c mismatch in ", shard_path, "; the checkpoint is corrupt"));
    }
    return Tensor::FromStrings(shape->dims(), *std::move(values));
  }
  if (Crc32cMask(Crc32c(bytes)) != entry->crc32c()) {
    return absl::DataLossError(
        absl::StrCat(where, ": crc32c mismatch in ", shard_path, "; the checkpoint is corrupt"));
  }
  return Tensor::FromBytes(*dtype, shape->dims(), bytes);
}

absl::StatusOr<absl::flat_hash_map<std::string, std::string>> CheckpointReader::VariableKeysByName()
    const {
  absl::flat_hash_map<std::string, std::string> keys;
  if (!Contains(kObjectGraphKey)) return keys;
  RANKOPT_ASSIGN_OR_RETURN(Tensor tensor, Read(kObjectGraphKey));
  if (tensor.dtype() != DType::kString || tensor.num_elements() != 1) {
    return absl::DataLossError(
        absl::StrCat(prefix_, ": ", kObjectGraphKey, " is not a scalar string"));
  }
  tf::TrackableObjectGraph graph;
  if (!graph.ParseFromString(tensor.strings()[0])) {
    return absl::DataLossError(
        absl::StrCat(prefix_, ": ", kObjectGraphKey, " is not a TrackableObjectGraph"));
  }
  for (const auto& node : graph.nodes()) {
    for (const auto& attribute : node.attributes()) {
      if (attribute.name() == "VARIABLE_VALUE" && !attribute.full_name().empty()) {
        keys.emplace(attribute.full_name(), attribute.checkpoint_key());
      }
    }
  }
  return keys;
}

}  // namespace rankopt
