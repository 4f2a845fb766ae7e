// Where a TensorFlow lookup table's contents live in the IR: the importer reads each table's
// initializer (an asset file or constants) at load and sets these two attributes on the
// HashTableV2 node, so the table kernel, the lift pass and summaries need no init graph.
#ifndef RANKOPT_GRAPH_IR_TABLE_ATTRS_H_
#define RANKOPT_GRAPH_IR_TABLE_ATTRS_H_

namespace rankopt {

// Tensor attributes of equal length: keys (the table's key_dtype), values (its value_dtype).
inline constexpr char kTableKeysAttr[] = "_rankopt_table_keys";
inline constexpr char kTableValuesAttr[] = "_rankopt_table_values";
// String attribute: where the contents came from ("asset vocab.txt", "constants").
inline constexpr char kTableSourceAttr[] = "_rankopt_table_source";

}  // namespace rankopt

#endif  // RANKOPT_GRAPH_IR_TABLE_ATTRS_H_
