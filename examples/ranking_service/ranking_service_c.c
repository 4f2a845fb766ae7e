/* The C ABI on one request: load a package, score the first line of a JSON-lines file, print the
 * scores.  ranking_service_c MODEL.rkp REQUESTS.jsonl */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rankopt/c.h"

int main(int argc, char** argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: ranking_service_c MODEL.rkp REQUESTS.jsonl\n");
    return 2;
  }
  FILE* f = fopen(argv[2], "rb");
  if (f == NULL) {
    fprintf(stderr, "ranking_service_c: cannot open %s\n", argv[2]);
    return 1;
  }
  static char line[1 << 20];
  if (fgets(line, sizeof(line), f) == NULL) {
    fprintf(stderr, "ranking_service_c: %s is empty\n", argv[2]);
    fclose(f);
    return 1;
  }
  fclose(f);

  rankopt_model* model = NULL;
  int status = rankopt_model_load(argv[1], 1, &model);
  if (status != RANKOPT_OK) {
    fprintf(stderr, "ranking_service_c: %s: %s\n", rankopt_status_name(status),
            rankopt_last_error());
    return 1;
  }
  float scores[4096];
  size_t count = 0;
  status = rankopt_model_score_json(model, line, strlen(line), NULL, scores, 4096, &count);
  if (status != RANKOPT_OK) {
    fprintf(stderr, "ranking_service_c: %s: %s\n", rankopt_status_name(status),
            rankopt_last_error());
    rankopt_model_destroy(model);
    return 1;
  }
  printf("%s version %s, head %s: %zu scores:", rankopt_model_name(model),
         rankopt_model_version(model), rankopt_model_head(model, 0), count);
  for (size_t i = 0; i < count && i < 8; ++i) printf(" %.6f", scores[i]);
  printf("\n");
  rankopt_model_destroy(model);
  return 0;
}
