#include "rankopt/model_manager.h"

#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <mutex>
#include <optional>
#include <system_error>
#include <thread>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "rankopt/model_stats.h"
#include "rankopt/status_macros.h"

namespace rankopt {
namespace {

constexpr char kPackageFile[] = "model.rkp";

// A version folder's package as last seen: a rejected version is tried again only once its file
// changed (a deploy that was still copying it).
struct FileIdentity {
  uint64_t size = 0;
  int64_t mtime_ns = 0;
  int64_t ctime_ns = 0;
  uint64_t inode = 0;
  uint64_t device = 0;
  friend bool operator==(const FileIdentity& a, const FileIdentity& b) {
    return a.size == b.size && a.mtime_ns == b.mtime_ns && a.ctime_ns == b.ctime_ns &&
           a.inode == b.inode && a.device == b.device;
  }
  friend bool operator!=(const FileIdentity& a, const FileIdentity& b) { return !(a == b); }
};

std::optional<FileIdentity> Identify(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) return std::nullopt;
  FileIdentity id;
  id.size = static_cast<uint64_t>(st.st_size);
  id.mtime_ns = static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
  id.ctime_ns = static_cast<int64_t>(st.st_ctim.tv_sec) * 1000000000 + st.st_ctim.tv_nsec;
  id.inode = static_cast<uint64_t>(st.st_ino);
  id.device = static_cast<uint64_t>(st.st_dev);
  return id;
}

struct VersionDir {
  uint64_t version = 0;
  std::string package;
};

// The numeric version folders under `root` that hold a model.rkp, newest first; `root` itself
// (as version 0) when it is a package file.
absl::StatusOr<std::vector<VersionDir>> ListVersions(const std::string& root, bool single_file) {
  if (single_file) return std::vector<VersionDir>{{0, root}};
  std::error_code ec;
  std::filesystem::directory_iterator it(root, ec);
  if (ec) {
    return absl::NotFoundError(absl::StrCat("model directory '", root,
                                            "' cannot be read: ", ec.message(),
                                            "; expected <root>/<version>/model.rkp"));
  }
  std::vector<VersionDir> versions;
  for (const std::filesystem::directory_entry& entry : it) {
    uint64_t version = 0;
    const std::string name = entry.path().filename().string();
    if (!absl::SimpleAtoi(name, &version) ||
        name.find_first_not_of("0123456789") != std::string::npos) {
      continue;
    }
    std::error_code dir_ec;
    if (!entry.is_directory(dir_ec)) continue;
    const std::string package = (entry.path() / kPackageFile).string();
    if (!std::filesystem::exists(package, dir_ec)) continue;
    versions.push_back({version, package});
  }
  std::sort(versions.begin(), versions.end(),
            [](const VersionDir& a, const VersionDir& b) { return a.version > b.version; });
  return versions;
}

}  // namespace

struct ModelManager::State {
  std::string root;
  bool single_file = false;  // root is one package file
  ModelManagerOptions options;

  // std::mutex rather than Abseil's: Debian's Abseil is not built for TSan, which then cannot
  // see its lock ordering (the TSan job runs these tests).
  mutable std::mutex mu;
  std::shared_ptr<const Model> current;  // guarded by mu
  uint64_t current_version = 0;          // guarded by mu
  ModelManagerCounters counters;         // guarded by mu

  std::mutex reload_mu;  // one reload at a time
  absl::flat_hash_map<uint64_t, FileIdentity> rejected;  // guarded by reload_mu
  std::string current_path;                              // guarded by reload_mu
  FileIdentity current_identity;     // guarded by reload_mu: current_path before its load
  bool current_change_seen = false;  // guarded by reload_mu

  std::mutex stop_mu;
  std::condition_variable stop_cv;
  bool stop = false;  // guarded by stop_mu
  std::thread poller;

  void Log(const std::string& line) {
    if (options.log) {
      options.log(line);
    } else {
      std::cerr << "rankopt: " << line << "\n";
    }
  }

  // Loads and warms up one version; the model, or the reason it is rejected (`*identity` set
  // when it is another model than `serving`).
  absl::StatusOr<std::shared_ptr<const Model>> LoadVersion(const VersionDir& dir,
                                                           const Model* serving, bool* identity) {
    ModelOptions model_options = options.model;
    if (!single_file) model_options.version_label = absl::StrCat(dir.version);
    RANKOPT_ASSIGN_OR_RETURN(std::shared_ptr<const Model> model,
                             Model::Load(dir.package, model_options));
    if (serving != nullptr && !options.allow_model_change) {
      if (model->name() != serving->name()) {
        *identity = true;
        return absl::FailedPreconditionError(absl::StrCat(
            dir.package, ": the package is model '", model->name(), "' but '", serving->name(),
            "' is served here; a version of another model is not swapped in (set "
            "ModelManagerOptions::allow_model_change, or rankopt serve --allow-model-change, to "
            "replace the model on purpose)"));
      }
      if (model->heads() != serving->heads()) {
        *identity = true;
        return absl::FailedPreconditionError(absl::StrCat(
            dir.package, ": the package's output heads are [", absl::StrJoin(model->heads(), ", "),
            "] but the served version's are [", absl::StrJoin(serving->heads(), ", "),
            "]; a version with other heads is not swapped in (set "
            "ModelManagerOptions::allow_model_change, or rankopt serve --allow-model-change, to "
            "change them on purpose)"));
      }
    }
    for (size_t i = 0; i < options.warmup_requests.size(); ++i) {
      absl::Status status = model->WarmUp(options.warmup_requests[i]);
      if (!status.ok()) {
        return absl::Status(status.code(), absl::StrCat(dir.package, ": warm-up request ", i,
                                                        " of the manager failed: ",
                                                        status.message()));
      }
    }
    return model;
  }

  absl::Status Reload() {
    std::lock_guard<std::mutex> reload_lock(reload_mu);
    RANKOPT_ASSIGN_OR_RETURN(std::vector<VersionDir> versions, ListVersions(root, single_file));
    uint64_t serving = 0;
    std::shared_ptr<const Model> serving_model;
    {
      std::lock_guard<std::mutex> lock(mu);
      serving = current_version;
      serving_model = current;
    }
    const bool have = serving_model != nullptr;
    // The serving version's file replaced or changed in place, or its mapping no longer verifies:
    // that version is loaded again (and swapped in if it verifies).
    bool current_changed = false;
    if (have) {
      const std::optional<FileIdentity> id = Identify(current_path);
      const absl::Status bytes = serving_model->CheckPackage(0);
      current_changed = !id.has_value() || *id != current_identity || !bytes.ok();
      if (current_changed && !current_change_seen) {
        current_change_seen = true;
        Log(absl::StrCat(
            "the package of the serving version ", single_file ? root : absl::StrCat(serving),
            " changed under it (", !bytes.ok() ? bytes.message() : "replaced or rewritten", "); ",
            serving_model->package_mapped()
                ? "its mapping answers DATA_LOSS until a version that verifies is loaded"
                : "its verified copy keeps serving until the new file verifies",
            ". Publish packages by rename"));
        std::lock_guard<std::mutex> lock(mu);
        ++counters.package_changes;
      }
    }
    absl::Status first_error = absl::OkStatus();
    for (const VersionDir& dir : versions) {
      if (have && dir.version < serving) break;
      if (have && dir.version == serving && !current_changed) break;
      const std::optional<FileIdentity> id = Identify(dir.package);
      if (!id.has_value()) continue;  // vanished or not a regular file
      auto it = rejected.find(dir.version);
      if (it != rejected.end() && it->second == *id) continue;  // unchanged since rejected
      bool identity = false;
      absl::StatusOr<std::shared_ptr<const Model>> model =
          LoadVersion(dir, serving_model.get(), &identity);
      if (!model.ok()) {
        rejected[dir.version] = *id;
        const std::string message = absl::StrCat(
            single_file ? root : absl::StrCat("version ", dir.version), " rejected, still serving ",
            have ? absl::StrCat("version ", serving_model->version()) : std::string("nothing"),
            ": ", model.status().message());
        Log(message);
        {
          std::lock_guard<std::mutex> lock(mu);
          ++counters.rejected;
          if (identity) ++counters.identity_rejected;
          counters.last_error = message;
        }
        if (first_error.ok()) first_error = absl::Status(model.status().code(), message);
        continue;
      }
      rejected.erase(dir.version);
      current_path = dir.package;
      current_identity = *id;
      current_change_seen = false;
      std::shared_ptr<const Model> old;
      {
        std::lock_guard<std::mutex> lock(mu);
        old = std::move(current);
        current = *std::move(model);
        current_version = dir.version;
        ++counters.loads;
        counters.current_version = absl::StrCat(dir.version);
      }
      // `old` is released here; calls still holding it finish on it and free it last.
      return absl::OkStatus();
    }
    if (!have && first_error.ok()) {
      return absl::NotFoundError(absl::StrCat("model directory '", root,
                                              "' has no version to serve; expected "
                                              "<root>/<version>/model.rkp with a numeric version"));
    }
    return first_error;
  }

  // Every poll_interval_s: Reload. In between, in ticks of at most 0.25 s, a scrub slice of a
  // mapped serving package; a change it finds reloads at once.
  void Poll() {
    using Clock = std::chrono::steady_clock;
    const double tick_s = options.scrub_bytes_per_s > 0 ? std::min(options.poll_interval_s, 0.25)
                                                        : options.poll_interval_s;
    const auto tick = std::chrono::duration<double>(tick_s);
    const auto interval = std::chrono::duration_cast<Clock::duration>(
        std::chrono::duration<double>(options.poll_interval_s));
    Clock::time_point next_poll = Clock::now() + interval;
    std::unique_lock<std::mutex> lock(stop_mu);
    while (!stop_cv.wait_for(lock, tick, [this] { return stop; })) {
      lock.unlock();
      bool reload = Clock::now() >= next_poll;
      if (options.scrub_bytes_per_s > 0) {
        const std::shared_ptr<const Model> model = Current();
        if (model->package_mapped() &&
            !model->CheckPackage(static_cast<uint64_t>(options.scrub_bytes_per_s * tick_s)).ok()) {
          reload = true;
        }
      }
      if (reload) {
        (void)Reload();  // errors are logged and counted
        next_poll = Clock::now() + interval;
      }
      lock.lock();
    }
  }

  std::shared_ptr<const Model> Current() const {
    std::lock_guard<std::mutex> lock(mu);
    return current;
  }
};

absl::StatusOr<std::unique_ptr<ModelManager>> ModelManager::Create(const std::string& root,
                                                                   ModelManagerOptions options) {
  if (!(options.poll_interval_s >= 0)) {
    return absl::InvalidArgumentError(absl::StrCat("poll_interval_s is ", options.poll_interval_s,
                                                   "; expected >= 0 (0 = no polling)"));
  }
  if (!(options.scrub_bytes_per_s >= 0) || std::isinf(options.scrub_bytes_per_s)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "scrub_bytes_per_s is ", options.scrub_bytes_per_s, "; expected a finite rate >= 0"));
  }
  auto state = std::make_unique<State>();
  state->root = root;
  std::error_code ec;
  state->single_file = std::filesystem::is_regular_file(root, ec);
  if (!state->single_file && std::filesystem::exists(root, ec) &&
      !std::filesystem::is_directory(root, ec)) {
    return absl::InvalidArgumentError(absl::StrCat(
        root, ": is not a regular file (a FIFO, socket or device) nor a directory; expected a "
              "package file or a directory of versions <root>/<version>/model.rkp"));
  }
  state->options = std::move(options);
  absl::Status status = state->Reload();
  {
    std::lock_guard<std::mutex> lock(state->mu);
    if (state->current == nullptr) {
      return status.ok() ? absl::NotFoundError(absl::StrCat("no loadable version under '", root,
                                                           "'"))
                         : status;
    }
  }
  std::unique_ptr<ModelManager> manager(new ModelManager(std::move(state)));
  if (manager->state_->options.poll_interval_s > 0) {
    State* s = manager->state_.get();
    s->poller = std::thread([s] { s->Poll(); });
  }
  return manager;
}

ModelManager::ModelManager(std::unique_ptr<State> state) : state_(std::move(state)) {}

ModelManager::~ModelManager() {
  {
    std::lock_guard<std::mutex> lock(state_->stop_mu);
    state_->stop = true;
  }
  state_->stop_cv.notify_all();
  if (state_->poller.joinable()) state_->poller.join();
}

std::shared_ptr<const Model> ModelManager::Current() const { return state_->Current(); }

absl::Status ModelManager::Reload() { return state_->Reload(); }

ModelManagerCounters ModelManager::counters() const {
  std::lock_guard<std::mutex> lock(state_->mu);
  return state_->counters;
}

std::string ModelManager::PrometheusText() const {
  std::shared_ptr<const Model> model = Current();
  const ModelManagerCounters c = counters();
  const std::string labels = absl::StrCat("model=\"", PrometheusLabelValue(model->name()), "\"");
  std::string out = model->stats().PrometheusText(absl::StrCat(
      labels, ",version=\"", PrometheusLabelValue(model->version()), "\""));
  absl::StrAppend(&out, "# HELP rankopt_model_loads_total Versions loaded and swapped in.\n",
                  "# TYPE rankopt_model_loads_total counter\n", "rankopt_model_loads_total{",
                  labels, "} ", c.loads, "\n");
  absl::StrAppend(&out,
                  "# HELP rankopt_model_rejected_total Versions that failed to load or warm "
                  "up.\n",
                  "# TYPE rankopt_model_rejected_total counter\n", "rankopt_model_rejected_total{",
                  labels, "} ", c.rejected, "\n");
  absl::StrAppend(&out,
                  "# HELP rankopt_model_identity_rejected_total Versions rejected for another "
                  "model name or other output heads.\n",
                  "# TYPE rankopt_model_identity_rejected_total counter\n",
                  "rankopt_model_identity_rejected_total{", labels, "} ", c.identity_rejected,
                  "\n");
  absl::StrAppend(&out,
                  "# HELP rankopt_model_package_changes_total Times the serving version's "
                  "package file changed under it.\n",
                  "# TYPE rankopt_model_package_changes_total counter\n",
                  "rankopt_model_package_changes_total{", labels, "} ", c.package_changes, "\n");
  absl::StrAppend(&out, "# HELP rankopt_model_version The version folder being served.\n",
                  "# TYPE rankopt_model_version gauge\n", "rankopt_model_version{", labels, "} ",
                  c.current_version.empty() ? "0" : c.current_version, "\n");
  return out;
}

}  // namespace rankopt
