#include "rankopt/c.h"

#include <cstring>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "rankopt/model.h"
#include "rankopt/model_manager.h"
#include "rankopt/request_json.h"

struct rankopt_model {
  std::shared_ptr<const rankopt::Model> model;
};

struct rankopt_manager {
  std::unique_ptr<rankopt::ModelManager> manager;
};

namespace {

thread_local std::string last_error;

int Fail(const absl::Status& status) {
  last_error = std::string(status.message());
  return static_cast<int>(status.code());
}

int Fail(absl::StatusCode code, const std::string& message) {
  return Fail(absl::Status(code, message));
}

// Per-thread parse buffers: a warm thread parses and scores without allocating.
struct ThreadScratch {
  rankopt::RequestJsonParser parser;
  rankopt::Request request;
  rankopt::Scores scores;
  rankopt::ScoreOptions options;
};

int ScoreJson(const rankopt::Model& model, const char* json, size_t json_size, const char* head,
              float* scores, size_t capacity, size_t* count) {
  if (json == nullptr || count == nullptr || (scores == nullptr && capacity != 0)) {
    return Fail(absl::StatusCode::kInvalidArgument,
                "rankopt score: json and count must not be NULL, nor scores when capacity > 0");
  }
  thread_local ThreadScratch scratch;
  absl::Status status = scratch.parser.Parse(absl::string_view(json, json_size), &scratch.request);
  if (!status.ok()) {
    model.RecordRefused(status.code(), "bad_json");
    return Fail(status);
  }
  scratch.options.heads.resize(head == nullptr ? 0 : 1);
  if (head != nullptr) scratch.options.heads[0].assign(head);
  status = model.ScoreInto(scratch.request, scratch.options, &scratch.scores);
  if (!status.ok()) return Fail(status);
  const std::vector<float>& values = scratch.scores.values[0];
  *count = values.size();
  if (values.size() > capacity) {
    return Fail(absl::StatusCode::kOutOfRange,
                absl::StrCat("rankopt score: ", values.size(), " scores do not fit in capacity ",
                             capacity));
  }
  if (!values.empty()) std::memcpy(scores, values.data(), values.size() * sizeof(float));
  return RANKOPT_OK;
}

}  // namespace

extern "C" {

const char* rankopt_last_error(void) { return last_error.c_str(); }

const char* rankopt_status_name(int code) {
  static thread_local std::string name;
  name = absl::StatusCodeToString(static_cast<absl::StatusCode>(code));
  return name.c_str();
}

int rankopt_model_load(const char* path, int threads, rankopt_model** out) {
  if (path == nullptr || out == nullptr) {
    return Fail(absl::StatusCode::kInvalidArgument, "rankopt_model_load: NULL path or out");
  }
  *out = nullptr;
  rankopt::ModelOptions options;
  options.threads = threads;
  absl::StatusOr<std::shared_ptr<const rankopt::Model>> model = rankopt::Model::Load(path, options);
  if (!model.ok()) return Fail(model.status());
  *out = new rankopt_model{*std::move(model)};
  return RANKOPT_OK;
}

void rankopt_model_destroy(rankopt_model* model) { delete model; }

int rankopt_model_score_json(const rankopt_model* model, const char* json, size_t json_size,
                             const char* head, float* scores, size_t capacity, size_t* count) {
  if (model == nullptr) {
    return Fail(absl::StatusCode::kInvalidArgument, "rankopt_model_score_json: NULL model");
  }
  return ScoreJson(*model->model, json, json_size, head, scores, capacity, count);
}

const char* rankopt_model_name(const rankopt_model* model) {
  return model == nullptr ? "" : model->model->name().c_str();
}

const char* rankopt_model_version(const rankopt_model* model) {
  return model == nullptr ? "" : model->model->version().c_str();
}

size_t rankopt_model_num_heads(const rankopt_model* model) {
  return model == nullptr ? 0 : model->model->heads().size();
}

const char* rankopt_model_head(const rankopt_model* model, size_t index) {
  if (model == nullptr || index >= model->model->heads().size()) return nullptr;
  return model->model->heads()[index].c_str();
}

int rankopt_manager_create(const char* root, int threads, double poll_interval_s,
                           rankopt_manager** out) {
  if (root == nullptr || out == nullptr) {
    return Fail(absl::StatusCode::kInvalidArgument, "rankopt_manager_create: NULL root or out");
  }
  *out = nullptr;
  rankopt::ModelManagerOptions options;
  options.model.threads = threads;
  options.poll_interval_s = poll_interval_s;
  absl::StatusOr<std::unique_ptr<rankopt::ModelManager>> manager =
      rankopt::ModelManager::Create(root, std::move(options));
  if (!manager.ok()) return Fail(manager.status());
  *out = new rankopt_manager{*std::move(manager)};
  return RANKOPT_OK;
}

void rankopt_manager_destroy(rankopt_manager* manager) { delete manager; }

int rankopt_manager_reload(rankopt_manager* manager) {
  if (manager == nullptr) {
    return Fail(absl::StatusCode::kInvalidArgument, "rankopt_manager_reload: NULL manager");
  }
  const absl::Status status = manager->manager->Reload();
  return status.ok() ? RANKOPT_OK : Fail(status);
}

int rankopt_manager_score_json(const rankopt_manager* manager, const char* json,
                               size_t json_size, const char* head, float* scores,
                               size_t capacity, size_t* count) {
  if (manager == nullptr) {
    return Fail(absl::StatusCode::kInvalidArgument, "rankopt_manager_score_json: NULL manager");
  }
  const std::shared_ptr<const rankopt::Model> model = manager->manager->Current();
  return ScoreJson(*model, json, json_size, head, scores, capacity, count);
}

int rankopt_manager_metrics(const rankopt_manager* manager, char* buf, size_t buf_size,
                            size_t* size) {
  if (manager == nullptr || size == nullptr || (buf == nullptr && buf_size != 0)) {
    return Fail(absl::StatusCode::kInvalidArgument,
                "rankopt_manager_metrics: NULL manager or size, or NULL buf with buf_size > 0");
  }
  const std::string text = manager->manager->PrometheusText();
  *size = text.size() + 1;
  if (buf_size < text.size() + 1) {
    return Fail(absl::StatusCode::kOutOfRange,
                absl::StrCat("rankopt_manager_metrics: ", text.size() + 1,
                             " bytes needed, buffer has ", buf_size));
  }
  std::memcpy(buf, text.c_str(), text.size() + 1);
  return RANKOPT_OK;
}

}  // extern "C"
