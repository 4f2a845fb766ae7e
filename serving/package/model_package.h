// The model package (.rkp): one file a service deploys. A small protobuf manifest (format
// version, model name and version, source model hash, feature config, the optimized graph with
// its plan options, warm-up requests, the optimize report, a blob directory with xxh64 checksums)
// followed by 64-byte aligned blobs (embedding tables and weights) that load by mmap with no copy:
// the loaded graph's large constants are views into the mapping, kept alive by the tensors.
//
// File layout (little-endian):
//   [0, 8)    magic "RKPKG\0\0\1"
//   [8, 16)   uint64 manifest size M
//   [16, 24)  uint64 xxh64 (seed 0) of the manifest bytes
//   [24, 64)  zero
//   [64, 64+M) the PackageManifest (serving/package/package_manifest.proto)
//   then the blobs, each at an offset that is a multiple of 64, zero padding between them; the
//   file ends at the end of the last blob.
// Loading never trusts the file: the header, the manifest checksum, every blob's offset, size,
// alignment, overlap and checksum, every tensor's dtype, dims and byte size, the graph (Validate)
// and the feature config are checked before use; any failure is an error naming the file and what
// was wrong, never a crash.
#ifndef RANKOPT_SERVING_PACKAGE_MODEL_PACKAGE_H_
#define RANKOPT_SERVING_PACKAGE_MODEL_PACKAGE_H_

#include <sys/stat.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "graph/ir/graph.h"

namespace rankopt {

inline constexpr uint32_t kPackageFormatVersion = 1;

// The file under a mapped package, as it was when its blobs were verified: says whether the bytes
// the mapping shows may have changed since (a `cp` over the file or a write in place changes the
// file's size, mtime or ctime before it changes a byte; a truncation also drops the mapping's
// pages, see mapping_guard.h), and re-verifies the blobs' checksums a slice at a time (a scrub).
// Once changed it stays changed: nothing computed from the mapping may be served after that.
// Thread-safety: safe for concurrent use.
class MappedPackageFile {
 public:
  struct Blob {
    std::string name;  // "blob 3 (item_emb/value)"
    const uint8_t* data = nullptr;
    uint64_t size = 0;
    uint64_t xxh64 = 0;
  };
  // Takes `fd` (open on the mapped file; closed by the destructor); `keepalive` owns the mapping
  // (guarded by `guard`); `baseline` is the file's fstat taken before the blobs were verified.
  MappedPackageFile(std::string path, int fd, int guard, std::shared_ptr<const void> keepalive,
                    std::vector<Blob> blobs, const struct stat& baseline);
  ~MappedPackageFile();
  MappedPackageFile(const MappedPackageFile&) = delete;
  MappedPackageFile& operator=(const MappedPackageFile&) = delete;

  // True when the mapped bytes may no longer be the verified ones: the file's size, mtime or
  // ctime moved (one fstat), its mapping lost pages, or a scrub found a mismatch. Sticky.
  bool Changed() const;
  // Verifies up to `max_bytes` more of the blobs' checksums, continuing where the last call
  // stopped and starting over after the last blob. DataLoss naming the blob when one no longer
  // matches, or when Changed(); OK otherwise.
  absl::Status Scrub(uint64_t max_bytes);
  // Bytes hashed by Scrub so far; complete passes over every blob.
  uint64_t scrubbed_bytes() const { return scrubbed_.load(std::memory_order_relaxed); }
  uint64_t scrub_passes() const { return passes_.load(std::memory_order_relaxed); }
  const std::string& path() const { return path_; }
  // Why Changed() is true ("" while it is not).
  std::string reason() const;

 private:
  void MarkChanged(std::string reason) const;

  const std::string path_;
  const int fd_;
  const int guard_;
  const std::shared_ptr<const void> keepalive_;
  const std::vector<Blob> blobs_;
  const uint64_t size_;
  const int64_t mtime_ns_;
  const int64_t ctime_ns_;
  mutable std::atomic<bool> changed_{false};
  mutable std::mutex reason_mu_;
  mutable std::string reason_;  // guarded by reason_mu_
  std::mutex mu_;               // guards the scrub cursor below
  size_t scrub_blob_ = 0;
  uint64_t scrub_offset_ = 0;
  std::shared_ptr<void> scrub_state_;  // XXH64_state_t of the blob being scrubbed
  std::atomic<uint64_t> scrubbed_{0};
  std::atomic<uint64_t> passes_{0};
};

// Thread-safety: the functions are safe to call concurrently; a loaded ModelPackage is immutable
// data, safe for concurrent reads.

// Everything a package holds, in memory.
struct ModelPackage {
  uint32_t format_version = kPackageFormatVersion;
  std::string model_name;     // e.g. "din"
  std::string model_version;  // e.g. "1" or a date; free text
  std::string source_path;    // the model optimize read (informational)
  std::string source_format;  // ModelFormatName of the source
  uint64_t source_hash = 0;   // xxh64 of the source model's bytes (all files of a SavedModel)
  std::string created_by;     // "rankopt 0.1.0"
  // The feature config as YAML (FeatureConfigToYaml): requests are transformed with it.
  std::string feature_config_yaml;
  // The optimized graph, ready to plan (passes already run, tables possibly quantized).
  Graph graph{ModelFormat::kOnnx};
  // PlanOptions::outputs: the output heads, in order.
  std::vector<std::string> outputs;
  // Graph inputs that are request-level (ChunkedRunnerOptions::request_level_inputs).
  std::vector<std::string> request_level_inputs;
  std::string opt_level;  // "O2"
  std::string int8_mode;  // "off", "auto", "force"
  // Requests to warm a freshly loaded model with, one JSON request per entry (the format of
  // rankopt/request_json.h).
  std::vector<std::string> warmup_requests;
  // ReadModelPackage: the guard of the file's mapping (mapping_guard.h), kNoGuard otherwise. While
  // the package's graph is alive, MappingDamaged(mapping_guard) says whether the file was
  // truncated under the mapping (its blobs then read as zeros; nothing computed from them since
  // may be served).
  int mapping_guard = -1;
  // ReadModelPackage of a mapped package (ReadPackageOptions::copy_below_bytes): its file, to
  // check that the mapped bytes are still the verified ones. Null for a package copied into
  // memory (nothing outside can change it) and for ParseModelPackage.
  std::shared_ptr<MappedPackageFile> mapped_file;
  // The optimize report as JSON, for `rankopt summarize`-like inspection; may be empty.
  std::string report_json;
};

// Fixed-width tensors of at least this many bytes become blobs; smaller ones stay inline in the
// manifest.
inline constexpr size_t kPackageBlobMinBytes = 1024;

// Writes `package` to `path` (a temporary file next to it, then rename, so a reader never sees a
// half-written package). The graph is checked the way ReadModelPackage checks it (decoded back,
// Validate, outputs resolve, the feature config parses), so a package that writes also reads.
// Errors: an attribute the codec cannot store, an invalid graph or config, an I/O error.
absl::Status WriteModelPackage(const ModelPackage& package, const std::string& path);

struct ReadPackageOptions {
  // Verify every blob's xxh64 at load (reads every byte once). Off only for trusted files.
  bool verify_checksums = true;
  // Largest file accepted.
  uint64_t max_file_bytes = uint64_t{64} << 30;
  // Largest graph accepted (nodes).
  int64_t max_graph_nodes = 1 << 20;
  // Largest manifest accepted (protobuf parses it into memory; it cannot exceed 2 GiB).
  uint64_t max_manifest_bytes = uint64_t{1} << 30;
  // Largest single tensor (a blob: an embedding table or a weight) accepted.
  uint64_t max_tensor_bytes = uint64_t{16} << 30;
  // A file smaller than this is read into private memory (and verified there): nothing done to
  // the file afterwards (cp over it, a write in place, a truncation) reaches the loaded package.
  // Larger files are mapped, and their MappedPackageFile watches for such changes. 0 = map
  // every file.
  uint64_t copy_below_bytes = uint64_t{1} << 30;
};

// Reads `path` (a regular file, its size checked before any read) into private memory when it is
// smaller than options.copy_below_bytes, else maps it, and decodes it. The returned graph's blob
// tensors point into that memory (64-byte aligned, read-only), which stays alive while any of
// them is. A file of 2 MiB or more is mapped 2 MiB aligned and advised onto transparent huge pages
// (embedding/storage/table_memory.h). Writers replace a package by rename; a mapped one changed
// in place is caught by its mapped_file.
// Errors name the file and the offending part ("blob 3 (item_emb.weight/value): xxh64
// mismatch"): DataLoss for damaged bytes (truncation, checksums, non-zero padding),
// InvalidArgument for content that is not a valid package or exceeds a limit, NotFound.
absl::StatusOr<ModelPackage> ReadModelPackage(const std::string& path,
                                              const ReadPackageOptions& options = {});

// Same, from bytes in memory (copied once into an aligned buffer); `name` names them in errors.
// For fuzzing and tests.
absl::StatusOr<ModelPackage> ParseModelPackage(std::string_view bytes, const std::string& name,
                                               const ReadPackageOptions& options = {});

// xxh64 (seed 0) of a model as optimize read it. A file: the hash of its bytes (what `xxh64sum`
// prints). A directory (SavedModel): every regular file under it in sorted relative path order,
// each hashed as its relative path ('/'-separated), a NUL byte, its size as a little-endian
// uint64, then its bytes. Errors name the path (NotFound when it does not exist).
absl::StatusOr<uint64_t> HashSourceModel(const std::string& path);

}  // namespace rankopt

#endif  // RANKOPT_SERVING_PACKAGE_MODEL_PACKAGE_H_
