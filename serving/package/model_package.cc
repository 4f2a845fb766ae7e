#include "serving/package/model_package.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include <algorithm>
#include <atomic>
#include <bit>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <limits>
#include <memory>
#include <numeric>
#include <utility>

#include "absl/strings/str_cat.h"
#include "core/shape.h"
#include "embedding/storage/table_memory.h"
#include "features/config/feature_config.h"
#include "rankopt/status_macros.h"
#include "serving/package/graph_codec.h"
#include "serving/package/mapping_guard.h"
#include "serving/package/package_manifest.pb.h"

namespace rankopt {
namespace {

static_assert(std::endian::native == std::endian::little,
              "packages are little-endian and their blobs are mapped as they are");

constexpr char kMagic[8] = {'R', 'K', 'P', 'K', 'G', '\0', '\0', '\1'};
constexpr uint64_t kHeaderBytes = 64;
constexpr uint64_t kBlobAlignment = 64;
// protobuf parses at most INT_MAX bytes.
constexpr uint64_t kMaxManifestBytes = std::numeric_limits<int>::max();

uint64_t AlignUp(uint64_t n) { return (n + kBlobAlignment - 1) / kBlobAlignment * kBlobAlignment; }

uint64_t LoadU64(const uint8_t* p) {
  uint64_t v;
  std::memcpy(&v, p, sizeof(v));
  return v;
}

void StoreU64(uint64_t v, char* p) { std::memcpy(p, &v, sizeof(v)); }

std::string Hex(uint64_t v) { return absl::StrCat("0x", absl::Hex(v, absl::kZeroPad16)); }

absl::string_view View(std::string_view s) { return absl::string_view(s.data(), s.size()); }

absl::Status Prefix(const absl::Status& status, absl::string_view prefix) {
  return absl::Status(status.code(), absl::StrCat(prefix, ": ", status.message()));
}

// ---- writing ----

// Closes the descriptor and removes the temporary file unless Commit() renamed it into place.
class TempFile {
 public:
  TempFile(std::string path, int fd) : path_(std::move(path)), fd_(fd) {}
  ~TempFile() {
    if (fd_ >= 0) ::close(fd_);
    if (!committed_) std::remove(path_.c_str());
  }
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;

  absl::Status Write(const void* data, size_t size) {
    const char* p = static_cast<const char*>(data);
    while (size > 0) {
      const ssize_t n = ::write(fd_, p, std::min<size_t>(size, size_t{1} << 30));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        return absl::UnavailableError(
            absl::StrCat(path_, ": write failed: ", std::strerror(n < 0 ? errno : EIO)));
      }
      p += n;
      size -= static_cast<size_t>(n);
    }
    return absl::OkStatus();
  }

  absl::Status WriteZeros(uint64_t size) {
    static constexpr char kZeros[kBlobAlignment] = {};
    while (size > 0) {
      const uint64_t n = std::min<uint64_t>(size, sizeof(kZeros));
      RANKOPT_RETURN_IF_ERROR(Write(kZeros, n));
      size -= n;
    }
    return absl::OkStatus();
  }

  // Flushes to disk (so a crash after the rename cannot leave an empty package) and renames.
  absl::Status Commit(const std::string& final_path) {
    if (::fsync(fd_) != 0) {
      return absl::UnavailableError(absl::StrCat(path_, ": fsync failed: ", std::strerror(errno)));
    }
    const int fd = fd_;
    fd_ = -1;
    if (::close(fd) != 0) {
      return absl::UnavailableError(absl::StrCat(path_, ": close failed: ", std::strerror(errno)));
    }
    if (std::rename(path_.c_str(), final_path.c_str()) != 0) {
      return absl::UnavailableError(
          absl::StrCat(final_path, ": cannot rename ", path_, " onto it: ", std::strerror(errno)));
    }
    committed_ = true;
    return absl::OkStatus();
  }

 private:
  std::string path_;
  int fd_;
  bool committed_ = false;
};

absl::StatusOr<std::unique_ptr<TempFile>> CreateTempFileNextTo(const std::string& path) {
  static std::atomic<uint64_t> counter{0};
  const std::string tmp =
      absl::StrCat(path, ".tmp.", ::getpid(), ".", counter.fetch_add(1, std::memory_order_relaxed));
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
  if (fd < 0) {
    return absl::UnavailableError(
        absl::StrCat(tmp, ": cannot create (for ", path, "): ", std::strerror(errno)));
  }
  return std::make_unique<TempFile>(tmp, fd);
}

// ---- reading ----

// A read-only private mapping, unmapped when the last tensor viewing it is gone; guarded against
// the file shrinking under it (mapping_guard.h).
class Mapping {
 public:
  Mapping(void* addr, size_t size)
      : addr_(addr), size_(size), guard_(GuardMapping(addr, size)) {}
  ~Mapping() {
    UnguardMapping(guard_);
    ::munmap(addr_, size_);
  }
  Mapping(const Mapping&) = delete;
  Mapping& operator=(const Mapping&) = delete;
  const uint8_t* data() const { return static_cast<const uint8_t*>(addr_); }
  int guard() const { return guard_; }

 private:
  void* addr_;
  size_t size_;
  int guard_;
};

absl::Status Corrupt(absl::string_view name, absl::string_view what) {
  return absl::DataLossError(
      absl::StrCat(name, ": ", what, "; the file is corrupt or was modified after writing"));
}

absl::Status Truncated(absl::string_view name, absl::string_view what) {
  return absl::DataLossError(
      absl::StrCat(name, ": ", what, "; the file is truncated (or its header is corrupt)"));
}

absl::Status Invalid(absl::string_view name, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat(name, ": ", what));
}

// "blob 3 (item_emb/value)".
std::string BlobWhere(int index, const package::BlobProto& blob) {
  return absl::StrCat("blob ", index, " (", blob.name(), ")");
}

absl::Status CheckZeros(const uint8_t* data, uint64_t begin, uint64_t end, absl::string_view name,
                        absl::string_view what) {
  for (uint64_t i = begin; i < end; ++i) {
    if (data[i] != 0) {
      return Corrupt(name, absl::StrCat(what, " at byte ", i, " is ", static_cast<int>(data[i]),
                                        ", expected zero"));
    }
  }
  return absl::OkStatus();
}

// What both the reader and the writer hold a package's graph to, beyond DecodeGraph: the output
// heads resolve and the feature config parses.
absl::Status CheckContents(const ModelPackage& package, absl::string_view name) {
  for (const std::string& output : package.outputs) {
    if (absl::StatusOr<TensorRef> ref = package.graph.ResolveTensor(output); !ref.ok()) {
      return Prefix(ref.status(), absl::StrCat(name, ": output '", output, "'"));
    }
  }
  if (!package.feature_config_yaml.empty()) {
    absl::StatusOr<FeatureConfig> config = ParseFeatureConfig(
        package.feature_config_yaml, absl::StrCat(name, ": feature_config_yaml"));
    if (!config.ok()) return config.status();
  }
  return absl::OkStatus();
}

// Decodes a package image. `data` is 64-byte aligned; `keepalive` owns it.
absl::StatusOr<ModelPackage> DecodePackage(
    const uint8_t* data, uint64_t size, std::shared_ptr<const void> keepalive,
    absl::string_view name, const ReadPackageOptions& options,
    std::vector<MappedPackageFile::Blob>* blob_list = nullptr) {
  // Header.
  if (size < kHeaderBytes) {
    return Truncated(name, absl::StrCat("the file is ", size, " bytes; a package starts with a ",
                                        kHeaderBytes, "-byte header"));
  }
  if (std::memcmp(data, kMagic, 5) != 0) {
    return Invalid(name, "not a rankopt model package (it does not start with \"RKPKG\")");
  }
  if (std::memcmp(data, kMagic, sizeof(kMagic)) != 0) {
    return Invalid(name,
                   absl::StrCat("header magic bytes 5..7 are ", static_cast<int>(data[5]), ",",
                                static_cast<int>(data[6]), ",", static_cast<int>(data[7]),
                                ", expected 0,0,1 (a package of another format "
                                "generation, or a corrupt header)"));
  }
  const uint64_t manifest_bytes = LoadU64(data + 8);
  const uint64_t stored_manifest_hash = LoadU64(data + 16);
  RANKOPT_RETURN_IF_ERROR(CheckZeros(data, 24, kHeaderBytes, name, "header reserved bytes"));
  if (manifest_bytes > size - kHeaderBytes) {
    return Truncated(
        name, absl::StrCat("the header says the manifest is ", manifest_bytes, " bytes but only ",
                           size - kHeaderBytes, " bytes follow the header"));
  }
  const uint64_t manifest_limit = std::min(options.max_manifest_bytes, kMaxManifestBytes);
  if (manifest_bytes > manifest_limit) {
    return Invalid(
        name, absl::StrCat("the manifest is ", manifest_bytes, " bytes, more than the limit of ",
                           manifest_limit, " (ReadPackageOptions::max_manifest_bytes)"));
  }
  const uint8_t* manifest_data = data + kHeaderBytes;
  const uint64_t manifest_hash = XXH64(manifest_data, manifest_bytes, 0);
  if (manifest_hash != stored_manifest_hash) {
    return Corrupt(name,
                   absl::StrCat("manifest (", manifest_bytes, " bytes): xxh64 mismatch (stored ",
                                Hex(stored_manifest_hash), ", computed ", Hex(manifest_hash), ")"));
  }
  package::PackageManifest manifest;
  if (!manifest.ParseFromArray(manifest_data, static_cast<int>(manifest_bytes))) {
    return Corrupt(name, "the manifest does not parse as a PackageManifest");
  }
  if (manifest.format_version() != kPackageFormatVersion) {
    return Invalid(name, absl::StrCat("package format version ", manifest.format_version(),
                                      "; this rankopt reads version ", kPackageFormatVersion,
                                      " (rewrite the package with this rankopt)"));
  }

  // Blob directory: every entry on its own, then the layout as a whole.
  const uint64_t manifest_end = kHeaderBytes + manifest_bytes;
  const int num_blobs = manifest.blobs_size();
  std::vector<DType> dtypes(num_blobs);
  for (int i = 0; i < num_blobs; ++i) {
    const package::BlobProto& blob = manifest.blobs(i);
    const std::string where = absl::StrCat(name, ": ", BlobWhere(i, blob));
    absl::StatusOr<DType> dtype = FromDataType(blob.dtype());
    if (!dtype.ok()) return Prefix(dtype.status(), where);
    if (!IsFixedWidth(*dtype)) {
      return absl::InvalidArgumentError(absl::StrCat(where, ": dtype ", DTypeName(*dtype),
                                                     "; a blob holds a fixed-width tensor"));
    }
    dtypes[i] = *dtype;
    absl::StatusOr<int64_t> n = CheckedNumElements(blob.dims());
    if (!n.ok()) return Prefix(n.status(), where);
    const uint64_t width = DTypeSize(*dtype);
    if (static_cast<uint64_t>(*n) > blob.size() / width ||
        static_cast<uint64_t>(*n) * width != blob.size()) {
      return absl::InvalidArgumentError(absl::StrCat(
          where, ": size ", blob.size(), " bytes, but ", DTypeName(*dtype), " ",
          Shape(std::vector<int64_t>(blob.dims().begin(), blob.dims().end())).ToString(), " needs ",
          static_cast<uint64_t>(*n) * width));
    }
    if (blob.size() == 0) {
      return absl::InvalidArgumentError(absl::StrCat(where, ": empty; blobs are never empty"));
    }
    if (blob.offset() % kBlobAlignment != 0) {
      return absl::InvalidArgumentError(absl::StrCat(where, ": offset ", blob.offset(),
                                                     " is not a multiple of ", kBlobAlignment));
    }
    if (blob.offset() < manifest_end) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": offset ", blob.offset(),
                       " lies inside the header or manifest (which end at ", manifest_end, ")"));
    }
    if (blob.offset() > size || blob.size() > size - blob.offset()) {
      return Truncated(name, absl::StrCat(BlobWhere(i, blob), ": bytes [", blob.offset(), ", ",
                                          blob.offset(), " + ", blob.size(),
                                          ") extend past the end of the file (", size, " bytes)"));
    }
  }
  std::vector<int> order(num_blobs);
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(),
            [&](int a, int b) { return manifest.blobs(a).offset() < manifest.blobs(b).offset(); });
  uint64_t end = manifest_end;
  for (int k = 0; k < num_blobs; ++k) {
    const int i = order[k];
    const package::BlobProto& blob = manifest.blobs(i);
    if (blob.offset() < end) {
      const int prev = order[k - 1];  // k > 0: offset >= manifest_end was checked
      return absl::InvalidArgumentError(absl::StrCat(
          name, ": ", BlobWhere(i, blob), " at [", blob.offset(), ", ", blob.offset() + blob.size(),
          ") overlaps ", BlobWhere(prev, manifest.blobs(prev)), " which ends at ", end));
    }
    RANKOPT_RETURN_IF_ERROR(CheckZeros(data, end, blob.offset(), name,
                                       absl::StrCat("padding before ", BlobWhere(i, blob))));
    end = blob.offset() + blob.size();
  }
  if (end != size) {
    return Corrupt(
        name,
        absl::StrCat(size - end, size - end == 1 ? " byte follows" : " bytes follow",
                     " the end of the last blob (", end, "); a package ends with its last blob"));
  }
  if (options.verify_checksums) {
    for (int i = 0; i < num_blobs; ++i) {
      const package::BlobProto& blob = manifest.blobs(i);
      const uint64_t computed = XXH64(data + blob.offset(), blob.size(), 0);
      if (computed != blob.xxh64()) {
        return Corrupt(name, absl::StrCat(BlobWhere(i, blob), ": xxh64 mismatch (stored ",
                                          Hex(blob.xxh64()), ", computed ", Hex(computed), ")"));
      }
    }
  }

  // The blobs as views into `data`, then the graph over them.
  std::vector<Tensor> blobs;
  blobs.reserve(num_blobs);
  for (int i = 0; i < num_blobs; ++i) {
    const package::BlobProto& blob = manifest.blobs(i);
    if (blob.size() > options.max_tensor_bytes) {
      return Invalid(name, absl::StrCat(BlobWhere(i, blob), " is ", blob.size(),
                                        " bytes, more than the limit of ", options.max_tensor_bytes,
                                        " (ReadPackageOptions::max_tensor_bytes)"));
    }
    absl::StatusOr<Tensor> t = Tensor::FromExternal(
        dtypes[i], std::vector<int64_t>(blob.dims().begin(), blob.dims().end()),
        absl::string_view(reinterpret_cast<const char*>(data + blob.offset()), blob.size()),
        keepalive);
    if (!t.ok()) return Prefix(t.status(), absl::StrCat(name, ": ", BlobWhere(i, blob)));
    blobs.push_back(*std::move(t));
    if (blob_list != nullptr) {
      blob_list->push_back({BlobWhere(i, blob), data + blob.offset(), blob.size(), blob.xxh64()});
    }
  }
  DecodeGraphOptions decode_options;
  decode_options.max_nodes = options.max_graph_nodes;
  absl::StatusOr<Graph> graph = DecodeGraph(manifest.graph(), blobs, decode_options);
  if (!graph.ok()) return Prefix(graph.status(), absl::StrCat(name, ": manifest graph"));

  ModelPackage package;
  package.format_version = manifest.format_version();
  package.model_name = manifest.model_name();
  package.model_version = manifest.model_version();
  package.source_path = manifest.source_path();
  package.source_format = manifest.source_format();
  package.source_hash = manifest.source_hash();
  package.created_by = manifest.created_by();
  package.feature_config_yaml = manifest.feature_config_yaml();
  package.graph = *std::move(graph);
  package.outputs.assign(manifest.outputs().begin(), manifest.outputs().end());
  package.request_level_inputs.assign(manifest.request_level_inputs().begin(),
                                      manifest.request_level_inputs().end());
  package.opt_level = manifest.opt_level();
  package.int8_mode = manifest.int8_mode();
  package.warmup_requests.assign(manifest.warmup_requests().begin(),
                                 manifest.warmup_requests().end());
  package.report_json = manifest.report_json();
  RANKOPT_RETURN_IF_ERROR(CheckContents(package, name));
  return package;
}

int64_t Nanos(const struct timespec& t) {
  return static_cast<int64_t>(t.tv_sec) * 1000000000 + t.tv_nsec;
}

}  // namespace

MappedPackageFile::MappedPackageFile(std::string path, int fd, int guard,
                                     std::shared_ptr<const void> keepalive, std::vector<Blob> blobs,
                                     const struct stat& baseline)
    : path_(std::move(path)),
      fd_(fd),
      guard_(guard),
      keepalive_(std::move(keepalive)),
      blobs_(std::move(blobs)),
      size_(static_cast<uint64_t>(baseline.st_size)),
      mtime_ns_(Nanos(baseline.st_mtim)),
      ctime_ns_(Nanos(baseline.st_ctim)),
      scrub_state_(XXH64_createState(),
                   [](void* s) { XXH64_freeState(static_cast<XXH64_state_t*>(s)); }) {}

MappedPackageFile::~MappedPackageFile() {
  if (fd_ >= 0) ::close(fd_);
}

void MappedPackageFile::MarkChanged(std::string reason) const {
  std::lock_guard<std::mutex> lock(reason_mu_);
  if (reason_.empty()) reason_ = std::move(reason);
  changed_.store(true, std::memory_order_release);
}

std::string MappedPackageFile::reason() const {
  std::lock_guard<std::mutex> lock(reason_mu_);
  return reason_;
}

bool MappedPackageFile::Changed() const {
  if (changed_.load(std::memory_order_acquire)) return true;
  if (MappingDamaged(guard_)) {
    MarkChanged("the file was truncated under the mapping (its pages now read as zeros)");
    return true;
  }
  struct stat st;
  if (::fstat(fd_, &st) != 0) {
    MarkChanged(absl::StrCat("fstat failed: ", std::strerror(errno)));
    return true;
  }
  const uint64_t size = static_cast<uint64_t>(st.st_size);
  const int64_t mtime = Nanos(st.st_mtim);
  const int64_t ctime = Nanos(st.st_ctim);
  if (size != size_ || mtime != mtime_ns_ || ctime != ctime_ns_) {
    MarkChanged(absl::StrCat("the file changed in place since it was verified (size ", size_,
                             " -> ", size, " bytes, mtime ", mtime_ns_, " -> ", mtime,
                             " ns, ctime ", ctime_ns_, " -> ", ctime, " ns)"));
    return true;
  }
  return false;
}

absl::Status MappedPackageFile::Scrub(uint64_t max_bytes) {
  std::lock_guard<std::mutex> lock(mu_);
  auto* state = static_cast<XXH64_state_t*>(scrub_state_.get());
  while (max_bytes > 0 && !blobs_.empty() && state != nullptr &&
         !changed_.load(std::memory_order_acquire)) {
    const Blob& blob = blobs_[scrub_blob_];
    if (scrub_offset_ == 0) XXH64_reset(state, 0);
    const uint64_t n = std::min(max_bytes, blob.size - scrub_offset_);
    XXH64_update(state, blob.data + scrub_offset_, n);
    scrub_offset_ += n;
    max_bytes -= n;
    scrubbed_.fetch_add(n, std::memory_order_relaxed);
    if (scrub_offset_ < blob.size) break;
    const uint64_t computed = XXH64_digest(state);
    scrub_offset_ = 0;
    scrub_blob_ = (scrub_blob_ + 1) % blobs_.size();
    if (scrub_blob_ == 0) passes_.fetch_add(1, std::memory_order_relaxed);
    if (computed != blob.xxh64 && !MappingDamaged(guard_)) {
      MarkChanged(absl::StrCat(blob.name, ": xxh64 mismatch on scrub (stored ", Hex(blob.xxh64),
                               ", computed ", Hex(computed), ")"));
    }
  }
  if (Changed()) {
    return absl::DataLossError(
        absl::StrCat(path_, ": ", reason(), "; the mapped package can no longer be trusted"));
  }
  return absl::OkStatus();
}

namespace {

// Reads [0, size) of `fd` into `out`; false when the file ends early.
absl::Status ReadAll(int fd, uint8_t* out, uint64_t size, const std::string& path) {
  uint64_t done = 0;
  while (done < size) {
    const ssize_t n = ::pread(fd, out + done, std::min<uint64_t>(size - done, uint64_t{1} << 30),
                              static_cast<off_t>(done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      return absl::UnavailableError(
          absl::StrCat(path, ": read failed at byte ", done, ": ", std::strerror(errno)));
    }
    if (n == 0) {
      return Truncated(path, absl::StrCat("the file ended at byte ", done, " while ", size,
                                          " bytes were being read (it shrank)"));
    }
    done += static_cast<uint64_t>(n);
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status WriteModelPackage(const ModelPackage& package, const std::string& path) {
  package::PackageManifest manifest;
  std::vector<EncodedBlob> blobs;
  if (absl::Status s = EncodeGraph(package.graph, manifest.mutable_graph(), &blobs); !s.ok()) {
    return Prefix(s, path);
  }
  // Decode what was encoded (blobs are shared, not copied), so a package that writes also reads.
  {
    std::vector<Tensor> views;
    views.reserve(blobs.size());
    for (const EncodedBlob& b : blobs) views.push_back(b.tensor);
    absl::StatusOr<Graph> back = DecodeGraph(manifest.graph(), views, {});
    if (!back.ok()) {
      return Prefix(back.status(), absl::StrCat(path, ": the graph would not load back"));
    }
  }
  RANKOPT_RETURN_IF_ERROR(CheckContents(package, path));

  manifest.set_format_version(kPackageFormatVersion);
  manifest.set_model_name(package.model_name);
  manifest.set_model_version(package.model_version);
  manifest.set_source_path(package.source_path);
  manifest.set_source_format(package.source_format);
  manifest.set_source_hash(package.source_hash);
  manifest.set_created_by(package.created_by);
  manifest.set_feature_config_yaml(package.feature_config_yaml);
  for (const std::string& s : package.outputs) manifest.add_outputs(s);
  for (const std::string& s : package.request_level_inputs) manifest.add_request_level_inputs(s);
  manifest.set_opt_level(package.opt_level);
  manifest.set_int8_mode(package.int8_mode);
  for (const std::string& s : package.warmup_requests) manifest.add_warmup_requests(s);
  manifest.set_report_json(package.report_json);
  for (const EncodedBlob& b : blobs) {
    package::BlobProto* blob = manifest.add_blobs();
    const absl::string_view bytes = b.tensor.bytes();
    // Non-zero placeholder: a fixed64 of any non-zero value is 9 bytes, so the manifest's size
    // does not change when the real offsets replace it.
    blob->set_offset(kHeaderBytes);
    blob->set_size(bytes.size());
    blob->set_xxh64(XXH64(bytes.data(), bytes.size(), 0));
    blob->set_dtype(ToDataType(b.tensor.dtype()));
    for (int64_t d : b.tensor.dims()) blob->add_dims(d);
    blob->set_name(b.name);
  }
  const uint64_t manifest_bytes = manifest.ByteSizeLong();
  if (manifest_bytes > kMaxManifestBytes) {
    return Invalid(path, absl::StrCat("the manifest would be ", manifest_bytes, " bytes; at most ",
                                      kMaxManifestBytes, " are supported"));
  }
  uint64_t offset = AlignUp(kHeaderBytes + manifest_bytes);
  for (int i = 0; i < manifest.blobs_size(); ++i) {
    package::BlobProto* blob = manifest.mutable_blobs(i);
    blob->set_offset(offset);
    offset = AlignUp(offset + blob->size());
  }
  std::string manifest_text;
  if (!manifest.SerializeToString(&manifest_text) || manifest_text.size() != manifest_bytes) {
    return absl::InternalError(absl::StrCat(path, ": the manifest serialized to ",
                                            manifest_text.size(), " bytes, expected ",
                                            manifest_bytes));
  }
  char header[kHeaderBytes] = {};
  std::memcpy(header, kMagic, sizeof(kMagic));
  StoreU64(manifest_bytes, header + 8);
  StoreU64(XXH64(manifest_text.data(), manifest_text.size(), 0), header + 16);

  RANKOPT_ASSIGN_OR_RETURN(std::unique_ptr<TempFile> file, CreateTempFileNextTo(path));
  RANKOPT_RETURN_IF_ERROR(file->Write(header, sizeof(header)));
  RANKOPT_RETURN_IF_ERROR(file->Write(manifest_text.data(), manifest_text.size()));
  uint64_t written = kHeaderBytes + manifest_bytes;
  for (int i = 0; i < manifest.blobs_size(); ++i) {
    const package::BlobProto& blob = manifest.blobs(i);
    RANKOPT_RETURN_IF_ERROR(file->WriteZeros(blob.offset() - written));
    RANKOPT_RETURN_IF_ERROR(file->Write(blobs[i].tensor.bytes().data(), blob.size()));
    written = blob.offset() + blob.size();
  }
  return file->Commit(path);
}

absl::StatusOr<ModelPackage> ReadModelPackage(const std::string& path,
                                              const ReadPackageOptions& options) {
  // O_NONBLOCK: opening a FIFO must not wait for a writer (it is refused below).
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) {
    return errno == ENOENT ? absl::NotFoundError(absl::StrCat(path, ": no such file"))
                           : absl::UnavailableError(
                                 absl::StrCat(path, ": cannot open: ", std::strerror(errno)));
  }
  struct stat st;
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return Invalid(path,
                   "not a regular file (a directory, FIFO, socket or device); a package is "
                   "a file written by `rankopt optimize`");
  }
  const uint64_t size = static_cast<uint64_t>(st.st_size);
  if (size > options.max_file_bytes) {
    ::close(fd);
    return Invalid(path,
                   absl::StrCat("the file is ", size, " bytes, more than the limit of ",
                                options.max_file_bytes, " (ReadPackageOptions::max_file_bytes)"));
  }
  if (size < kHeaderBytes) {
    ::close(fd);
    return Truncated(path, absl::StrCat("the file is ", size, " bytes; a package starts with a ",
                                        kHeaderBytes, "-byte header"));
  }
  if (size < options.copy_below_bytes) {
    // Private memory: the package verified here is the package served, whatever happens to the
    // file later.
    absl::StatusOr<std::shared_ptr<uint8_t>> buffer =
        AllocateTableMemoryForOverwrite(View(path), size);
    if (!buffer.ok()) {
      ::close(fd);
      return buffer.status();
    }
    absl::Status read = ReadAll(fd, buffer->get(), size, path);
    ::close(fd);
    RANKOPT_RETURN_IF_ERROR(read);
    const uint8_t* data = buffer->get();
    return DecodePackage(data, size, *std::move(buffer), path, options);
  }
  void* addr = MapFileReadOnly(fd, size);
  const int map_errno = errno;
  if (addr == MAP_FAILED) {
    ::close(fd);
    return absl::UnavailableError(absl::StrCat(path, ": mmap failed: ", std::strerror(map_errno)));
  }
  auto mapping = std::make_shared<const Mapping>(addr, size);
  const int guard = mapping->guard();
  // Before the checksum pass faults the pages in, so they can come as huge pages.
  AdviseHugePages(addr, size);
  const uint8_t* data = mapping->data();
  std::vector<MappedPackageFile::Blob> blobs;
  absl::StatusOr<ModelPackage> package = DecodePackage(data, size, mapping, path, options, &blobs);
  if (!package.ok()) {
    ::close(fd);
    return package.status();
  }
  if (MappingDamaged(guard)) {
    ::close(fd);
    return Truncated(path, "the file shrank while it was being read");
  }
  package->mapping_guard = guard;
  // `st` was taken before the checksums were verified: a change since then shows in it.
  package->mapped_file = std::make_shared<MappedPackageFile>(path, fd, guard, std::move(mapping),
                                                             std::move(blobs), st);
  return package;
}

absl::StatusOr<ModelPackage> ParseModelPackage(std::string_view bytes, const std::string& name,
                                               const ReadPackageOptions& options) {
  if (bytes.size() > options.max_file_bytes) {
    return Invalid(name,
                   absl::StrCat("the package is ", bytes.size(), " bytes, more than the limit of ",
                                options.max_file_bytes, " (ReadPackageOptions::max_file_bytes)"));
  }
  if (bytes.size() < kHeaderBytes) {
    return Truncated(
        name, absl::StrCat("the package is ", bytes.size(), " bytes; a package starts with a ",
                           kHeaderBytes, "-byte header"));
  }
  // Blobs are used in place, so they need the file's alignment.
  RANKOPT_ASSIGN_OR_RETURN(std::shared_ptr<uint8_t> buffer,
                           AllocateTableMemoryForOverwrite(View(name), bytes.size()));
  std::memcpy(buffer.get(), bytes.data(), bytes.size());
  const uint8_t* data = buffer.get();
  return DecodePackage(data, bytes.size(), std::move(buffer), View(name), options);
}

absl::StatusOr<uint64_t> HashSourceModel(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const fs::file_status status = fs::status(path, ec);
  if (ec || !fs::exists(status)) {
    return ec && ec != std::errc::no_such_file_or_directory
               ? absl::UnavailableError(absl::StrCat(path, ": cannot stat: ", ec.message()))
               : absl::NotFoundError(absl::StrCat(path, ": no such file or directory"));
  }
  std::unique_ptr<XXH64_state_t, decltype(&XXH64_freeState)> state(XXH64_createState(),
                                                                   &XXH64_freeState);
  if (state == nullptr) return absl::ResourceExhaustedError("XXH64_createState failed");
  XXH64_reset(state.get(), 0);
  auto hash_file = [&](const std::string& file) -> absl::Status {
    std::FILE* f = std::fopen(file.c_str(), "rb");
    if (f == nullptr) {
      return absl::UnavailableError(absl::StrCat(file, ": cannot open: ", std::strerror(errno)));
    }
    std::vector<char> buffer(size_t{1} << 20);
    size_t n;
    while ((n = std::fread(buffer.data(), 1, buffer.size(), f)) > 0) {
      XXH64_update(state.get(), buffer.data(), n);
    }
    const bool failed = std::ferror(f) != 0;
    std::fclose(f);
    if (failed) return absl::UnavailableError(absl::StrCat(file, ": read failed"));
    return absl::OkStatus();
  };
  if (fs::is_regular_file(status)) {
    RANKOPT_RETURN_IF_ERROR(hash_file(path));
    return XXH64_digest(state.get());
  }
  if (!fs::is_directory(status)) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": neither a regular file nor a directory"));
  }
  std::vector<std::pair<std::string, std::string>> files;  // (relative, full)
  fs::recursive_directory_iterator it(path, ec), end;
  for (; !ec && it != end; it.increment(ec)) {
    if (!it->is_regular_file(ec) || ec) continue;
    files.emplace_back(fs::relative(it->path(), path, ec).generic_string(), it->path().string());
    if (ec) break;
  }
  if (ec) return absl::UnavailableError(absl::StrCat(path, ": cannot list: ", ec.message()));
  std::sort(files.begin(), files.end());
  for (const auto& [relative, full] : files) {
    XXH64_update(state.get(), relative.data(), relative.size());
    const char nul = '\0';
    XXH64_update(state.get(), &nul, 1);
    const uint64_t file_size = fs::file_size(full, ec);
    if (ec) return absl::UnavailableError(absl::StrCat(full, ": cannot stat: ", ec.message()));
    XXH64_update(state.get(), &file_size, sizeof(file_size));
    RANKOPT_RETURN_IF_ERROR(hash_file(full));
  }
  return XXH64_digest(state.get());
}

}  // namespace rankopt
