// Helpers shared by the model package tests: a small graph that uses every AttrValue type, a
// field-by-field graph comparison, temp directories and whole-file access.
#ifndef RANKOPT_TESTS_SERVING_PACKAGE_PACKAGE_TEST_UTIL_H_
#define RANKOPT_TESTS_SERVING_PACKAGE_PACKAGE_TEST_UTIL_H_

#include <string>

#include "graph/ir/graph.h"
#include "serving/package/model_package.h"

namespace rankopt::package_test {

std::string TestData(const std::string& relative);
// The repository root (tests/data/../..).
std::string RepoRoot();

// An ONNX-format graph: x (Placeholder) -> MatMul by w (Const [4, 128] float32, a blob) ->
// "attrs", a custom-domain node with one attribute of every AttrValue type (ints, floats, bools,
// strings, dtypes, shapes of unknown rank / scalar / partial, small inline and blob-sized
// tensors, string, bool and empty tensors, an empty Tensor(), every list kind, a tensor list
// holding a copy of w, an opaque value), an omitted optional input, a control input, two
// outputs; a graph output, a signature and a frozen variable. Four distinct blobs.
Graph EveryAttrGraph();

// A package around EveryAttrGraph with every field set (the DIN feature config as YAML).
ModelPackage EveryFieldPackage();

// EXPECTs every field of `actual` equal to `expected` (node source_index: -1 after loading).
void ExpectSameGraph(const Graph& expected, const Graph& actual);
void ExpectSamePackage(const ModelPackage& expected, const ModelPackage& actual);

// A fresh directory for the current test, removed when the object goes away.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string File(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

std::string ReadAll(const std::string& path);
void WriteAll(const std::string& path, const std::string& bytes);

}  // namespace rankopt::package_test

#endif  // RANKOPT_TESTS_SERVING_PACKAGE_PACKAGE_TEST_UTIL_H_
