// Graph-level requests for the Scorer: named input tensors as JSON (the peer reference files,
// `rankopt run --inputs`, `rankopt bench --requests`, `rankopt quantize --sample`), so that the
// tools read them through serving/ rather than reaching into the executor (graph/exec).
#ifndef RANKOPT_SERVING_GRAPH_INPUTS_H_
#define RANKOPT_SERVING_GRAPH_INPUTS_H_

#include "graph/exec/tensor_json.h"  // IWYU pragma: export

#endif  // RANKOPT_SERVING_GRAPH_INPUTS_H_
