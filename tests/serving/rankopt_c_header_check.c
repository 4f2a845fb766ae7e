/* Compiled as C: rankopt/c.h is a C header (no C++ in it), and its functions link from C. */
#include "rankopt/c.h"

#include <stddef.h>

int rankopt_c_header_check(const char* path, float* scores, size_t capacity, size_t* count);

/* Loads `path`, scores one empty-candidate request and destroys the model; returns the status. */
int rankopt_c_header_check(const char* path, float* scores, size_t capacity, size_t* count) {
  rankopt_model* model = NULL;
  int status = rankopt_model_load(path, 1, &model);
  if (status != RANKOPT_OK) return status;
  static const char kJson[] = "{\"user\":{},\"context\":{},\"candidates\":[]}";
  status = rankopt_model_score_json(model, kJson, sizeof(kJson) - 1, NULL, scores, capacity, count);
  rankopt_model_destroy(model);
  return status;
}
