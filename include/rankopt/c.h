/* The C ABI of rankopt's serving library, for services that are not written in C++.
 *
 * Every function returns a status code (RANKOPT_OK, or one of the codes below, equal to
 * absl::StatusCode's numbers); on failure rankopt_last_error() holds the message for the calling
 * thread until its next failing call. Handles are safe for concurrent use from many threads
 * (score); create and destroy must not race with other calls on the same handle.
 *
 *   rankopt_model* model = NULL;
 *   if (rankopt_model_load("din.rkp", 1, &model) != RANKOPT_OK) {
 *     fprintf(stderr, "%s\n", rankopt_last_error());
 *   }
 *   float scores[200];
 *   size_t count = 0;
 *   rankopt_model_score_json(model, json, strlen(json), NULL, scores, 200, &count);
 *   rankopt_model_destroy(model);
 */
#ifndef RANKOPT_INCLUDE_RANKOPT_C_H_
#define RANKOPT_INCLUDE_RANKOPT_C_H_

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

enum {
  RANKOPT_OK = 0,
  RANKOPT_CANCELLED = 1,
  RANKOPT_UNKNOWN = 2,
  RANKOPT_INVALID_ARGUMENT = 3,
  RANKOPT_NOT_FOUND = 5,
  RANKOPT_RESOURCE_EXHAUSTED = 8,
  RANKOPT_FAILED_PRECONDITION = 9,
  RANKOPT_OUT_OF_RANGE = 11,
  RANKOPT_UNIMPLEMENTED = 12,
  RANKOPT_INTERNAL = 13,
  RANKOPT_DATA_LOSS = 15
};

typedef struct rankopt_model rankopt_model;
typedef struct rankopt_manager rankopt_manager;

/* The message of this thread's last failed call ("" when none). */
const char* rankopt_last_error(void);
/* "OK", "INVALID_ARGUMENT", ... */
const char* rankopt_status_name(int code);

/* Loads a model package (.rkp) scoring each request's candidates on `threads` threads. */
int rankopt_model_load(const char* path, int threads, rankopt_model** out);
void rankopt_model_destroy(rankopt_model* model);

/* Scores one JSON request (the format `rankopt run --requests` reads, one request) and writes
 * the scores of output head `head` (NULL: the first head) to scores[0 .. *count). Fails with
 * RANKOPT_OUT_OF_RANGE, *count set to the number needed, when `capacity` is too small. */
int rankopt_model_score_json(const rankopt_model* model, const char* json, size_t json_size,
                             const char* head, float* scores, size_t capacity, size_t* count);

/* The model's name, version and output heads; strings live as long as the model. */
const char* rankopt_model_name(const rankopt_model* model);
const char* rankopt_model_version(const rankopt_model* model);
size_t rankopt_model_num_heads(const rankopt_model* model);
const char* rankopt_model_head(const rankopt_model* model, size_t index); /* NULL if out of range */

/* A model directory served with hot reload (<root>/<version>/model.rkp): polls every
 * `poll_interval_s` seconds (0: only on rankopt_manager_reload). */
int rankopt_manager_create(const char* root, int threads, double poll_interval_s,
                           rankopt_manager** out);
void rankopt_manager_destroy(rankopt_manager* manager);
int rankopt_manager_reload(rankopt_manager* manager);
/* As rankopt_model_score_json, on the version being served. */
int rankopt_manager_score_json(const rankopt_manager* manager, const char* json,
                               size_t json_size, const char* head, float* scores,
                               size_t capacity, size_t* count);
/* The stats in Prometheus text format, copied into buf (NUL-terminated); *size is set to the
 * bytes needed including the NUL, and RANKOPT_OUT_OF_RANGE returned when buf_size is smaller. */
int rankopt_manager_metrics(const rankopt_manager* manager, char* buf, size_t buf_size,
                            size_t* size);

#ifdef __cplusplus
}
#endif

#endif /* RANKOPT_INCLUDE_RANKOPT_C_H_ */
