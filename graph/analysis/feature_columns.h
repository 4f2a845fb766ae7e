// The TF feature columns a graph computes, recognised from their ops: hashed
// (StringToHashBucketFast), vocabulary (LookupTableFindV2 over a filled table), bucketized
// (Bucketize, BoostedTreesBucketize), crossed (SparseCross*), and the tf.Example parse that feeds
// them. For `rankopt summarize`; the lift pass (part 1 of issue 17) does the rewriting.
#ifndef RANKOPT_GRAPH_ANALYSIS_FEATURE_COLUMNS_H_
#define RANKOPT_GRAPH_ANALYSIS_FEATURE_COLUMNS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "graph/ir/graph.h"

namespace rankopt {

struct FeatureColumnInfo {
  std::string kind;  // "hashed", "vocabulary", "bucketized", "crossed", "tf.Example parse"
  std::string node;  // the op's node
  std::string op;
  std::vector<std::string> inputs;  // the graph inputs / signature keys it reads, nearest first
  int64_t buckets = -1;             // hash buckets, vocabulary entries, boundaries + 1; -1 unknown
  std::string detail;               // "asset vocab.txt", "3 features", ...
};

// In graph order. Never fails: what it cannot tell stays empty.
std::vector<FeatureColumnInfo> FindFeatureColumns(const Graph& graph);

}  // namespace rankopt

#endif  // RANKOPT_GRAPH_ANALYSIS_FEATURE_COLUMNS_H_
