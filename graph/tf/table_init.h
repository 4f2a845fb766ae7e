// Fills TensorFlow lookup tables at import: for every table initializer in the graph
// (InitializeTableFromTextFileV2 over an asset file, InitializeTableV2 / LookupTableImportV2 over
// constants) the contents are read and set on the HashTableV2 node it initializes
// (graph/ir/table_attrs.h), the way a TF session runs the SavedModel's init op at load.
#ifndef RANKOPT_GRAPH_TF_TABLE_INIT_H_
#define RANKOPT_GRAPH_TF_TABLE_INIT_H_

#include <string>

#include "absl/status/status.h"
#include "graph/ir/graph.h"

namespace rankopt {

// `model_dir`: where asset files are looked up (<model_dir>/assets/<basename of the path the
// graph names>, then that path itself); empty for a bare GraphDef. An initializer whose inputs
// are not constants is left alone (the table stays empty and fails at plan time if used);
// an asset that cannot be read or parsed, or duplicate keys, are errors naming the node and file.
absl::Status FillTables(Graph* graph, const std::string& model_dir);

}  // namespace rankopt

#endif  // RANKOPT_GRAPH_TF_TABLE_INIT_H_
