// Fuzzes TF GraphDef import: the bytes as a .pb (binary, with the text fallback) and as a .pbtxt,
// then what a user does next with a graph that imported (fuzz/graph_follow_up.h).
#include <cstddef>
#include <cstdint>

#include "absl/strings/string_view.h"
#include "fuzz/graph_follow_up.h"
#include "graph/tf/graphdef_io.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view bytes(reinterpret_cast<const char*>(data), size);
  for (rankopt::GraphDefEncoding encoding :
       {rankopt::GraphDefEncoding::kDetect, rankopt::GraphDefEncoding::kText}) {
    absl::StatusOr<rankopt::Graph> graph = rankopt::ImportGraphDefBytes(bytes, encoding, "fuzz.pb");
    if (graph.ok()) rankopt::FuzzGraphFollowUp(*graph);
  }
  return 0;
}
