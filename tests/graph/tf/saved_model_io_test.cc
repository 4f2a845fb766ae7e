#include "graph/tf/saved_model_io.h"

#include <filesystem>
#include <set>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "graph/tf/checkpoint_reader.h"
#include "graph/tf/crc32c.h"
#include "graph/tf/tensorflow_subset.pb.h"
#include "gtest/gtest.h"
#include "tests/graph/tf/tf_test_util.h"

namespace rankopt {
namespace {

using ::rankopt::testing::ReadAll;
using ::rankopt::testing::TempDir;
using ::rankopt::testing::TestData;
using ::rankopt::testing::WriteAll;
using ::testing::HasSubstr;

const char kHalfPlusTwo[] = "savedmodel/saved_model_half_plus_two_cpu/00000123";
const char kHalfPlusTwoTf2[] = "savedmodel/saved_model_half_plus_two_tf2_cpu/00000123";
const char kDeepFm[] = "savedmodel/deepctr_deepfm/serving_raw/1593253204";

float ScalarOf(const Graph& graph, const std::string& name) {
  const Node* node = graph.FindNode(name);
  EXPECT_NE(node, nullptr) << name;
  if (node == nullptr) return -1;
  EXPECT_EQ(node->op, "Const") << name;
  const Tensor* value = node->attrs.Get<Tensor>("value");
  EXPECT_NE(value, nullptr) << name;
  if (value == nullptr || value->dtype() != DType::kFloat32 || value->num_elements() != 1) {
    ADD_FAILURE() << name << " is not a float scalar";
    return -1;
  }
  return value->values<float>()[0];
}

const Signature* FindSignature(const Graph& graph, const std::string& key) {
  for (const Signature& s : graph.signatures()) {
    if (s.key == key) return &s;
  }
  return nullptr;
}

int CountOps(const Graph& graph, const std::string& op) {
  int n = 0;
  for (const Node& node : graph.nodes()) n += node.op == op;
  return n;
}

void CopyTree(const std::string& from, const std::string& to) {
  std::filesystem::copy(from, to, std::filesystem::copy_options::recursive);
  for (const auto& entry : std::filesystem::recursive_directory_iterator(to)) {
    std::filesystem::permissions(entry.path(), std::filesystem::perms::owner_write,
                                 std::filesystem::perm_options::add);
  }
}

TEST(Crc32cTest, KnownVectors) {
  EXPECT_EQ(Crc32c("123456789"), 0xe3069283u);            // the CRC-32C check value
  EXPECT_EQ(Crc32c(std::string(32, '\0')), 0x8a9136aau);  // RFC 3720 B.4
  EXPECT_EQ(Crc32cExtend(Crc32c("1234"), "56789"), Crc32c("123456789"));
}

TEST(CheckpointReaderTest, ReadsTf1AndTf2Checkpoints) {
  absl::StatusOr<CheckpointReader> tf1 =
      CheckpointReader::Open(TestData(kHalfPlusTwo) + "/variables/variables");
  ASSERT_TRUE(tf1.ok()) << tf1.status();
  EXPECT_THAT(tf1->Keys(), ::testing::ElementsAre("a", "a2", "b", "c", "c2"));
  absl::StatusOr<Tensor> a = tf1->Read("a");
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->values<float>()[0], 0.5f);
  EXPECT_FALSE(tf1->Read("zzz").ok());

  absl::StatusOr<CheckpointReader> tf2 =
      CheckpointReader::Open(TestData(kHalfPlusTwoTf2) + "/variables/variables");
  ASSERT_TRUE(tf2.ok()) << tf2.status();
  // The object graph is a string tensor: this exercises the bundle string decoding and its crc.
  auto keys = tf2->VariableKeysByName();
  ASSERT_TRUE(keys.ok()) << keys.status();
  ASSERT_TRUE(keys->contains("b"));
  EXPECT_EQ(keys->at("b"), "b/.ATTRIBUTES/VARIABLE_VALUE");

  EXPECT_FALSE(CheckpointReader::Open(TestData(kHalfPlusTwo) + "/nothing/here").ok());
}

TEST(SavedModelIoTest, HalfPlusTwoFreezesCheckpointValues) {
  absl::StatusOr<Graph> graph = ImportSavedModel(TestData(kHalfPlusTwo));
  ASSERT_TRUE(graph.ok()) << graph.status();
  EXPECT_EQ(graph->format(), ModelFormat::kTfSavedModel);
  // a*x + b with a = 0.5 and b = 2 (the checkpoint values, not the initializers).
  EXPECT_EQ(ScalarOf(*graph, "a"), 0.5f);
  EXPECT_EQ(ScalarOf(*graph, "b"), 2.0f);
  EXPECT_THAT(graph->frozen_variables(),
              ::testing::UnorderedElementsAre("a", "a2", "b", "c", "c2"));
  // The asset-path variable is only initialized, never read by a signature: it stays.
  EXPECT_EQ(CountOps(*graph, "VariableV2"), 1);
  EXPECT_EQ(graph->FindNode("filename_tensor")->op, "VariableV2");

  const Signature* serving = FindSignature(*graph, "serving_default");
  ASSERT_NE(serving, nullptr);
  ASSERT_EQ(serving->inputs.size(), 1u);
  EXPECT_EQ(serving->inputs[0].key, "x");
  EXPECT_EQ(serving->inputs[0].ref, (TensorRef{"x", 0}));
  ASSERT_EQ(serving->outputs.size(), 1u);
  EXPECT_EQ(serving->outputs[0].key, "y");
  EXPECT_EQ(serving->outputs[0].ref, (TensorRef{"y", 0}));
  EXPECT_EQ(serving->outputs[0].dtype, DType::kFloat32);
  absl::StatusOr<TensorRef> y = graph->ResolveTensor("y");
  ASSERT_TRUE(y.ok());
  EXPECT_NE(graph->FindNode(y->node), nullptr);

  SavedModelOptions options;
  options.tags = "gpu";
  absl::StatusOr<Graph> none = ImportSavedModel(TestData(kHalfPlusTwo), options);
  ASSERT_FALSE(none.ok());
  EXPECT_THAT(none.status().message(), HasSubstr("[serve]"));
}

TEST(SavedModelIoTest, DeepFmFreezesEveryVariable) {
  const std::string dir = TestData(kDeepFm);
  absl::StatusOr<Graph> graph = ImportSavedModel(dir);
  ASSERT_TRUE(graph.ok()) << graph.status();
  EXPECT_EQ(CountOps(*graph, "VariableV2") + CountOps(*graph, "VarHandleOp"), 0);
  ASSERT_FALSE(graph->frozen_variables().empty());

  absl::StatusOr<CheckpointReader> reader = CheckpointReader::Open(dir + "/variables/variables");
  ASSERT_TRUE(reader.ok());
  tf::SavedModel saved_model;
  ASSERT_TRUE(saved_model.ParseFromString(ReadAll(dir + "/saved_model.pb")));
  int variables = 0;
  for (const tf::NodeDef& node_def : saved_model.meta_graphs(0).graph_def().node()) {
    if (node_def.op() != "VariableV2" && node_def.op() != "VarHandleOp") continue;
    ++variables;
    const Node* node = graph->FindNode(node_def.name());
    ASSERT_NE(node, nullptr);
    ASSERT_EQ(node->op, "Const") << node_def.name();
    const Tensor* value = node->attrs.Get<Tensor>("value");
    ASSERT_NE(value, nullptr);
    // The declared variable shape, read independently from the NodeDef.
    std::vector<int64_t> dims;
    for (const tf::AttrEntry& attr : node_def.attr()) {
      if (attr.key() != "shape") continue;
      for (const auto& dim : attr.value().shape().dim()) dims.push_back(dim.size());
    }
    EXPECT_EQ(value->dims(), dims) << node_def.name();
    const tf::BundleEntryProto* entry = reader->FindEntry(node_def.name());
    ASSERT_NE(entry, nullptr) << node_def.name();
    EXPECT_EQ(static_cast<int64_t>(value->ByteSize()), entry->size()) << node_def.name();
  }
  EXPECT_EQ(static_cast<int>(graph->frozen_variables().size()), variables);
}

TEST(SavedModelIoTest, CorruptDataFailsCrc) {
  TempDir tmp;
  const std::string dir = tmp.File("model");
  CopyTree(TestData(kHalfPlusTwo), dir);
  const std::string data = dir + "/variables/variables.data-00000-of-00001";
  std::string bytes = ReadAll(data);
  ASSERT_FALSE(bytes.empty());
  const std::string original = bytes;
  bytes[0] ^= 0x40;
  WriteAll(data, bytes);
  absl::StatusOr<Graph> graph = ImportSavedModel(dir);
  ASSERT_FALSE(graph.ok());
  EXPECT_THAT(graph.status().message(), HasSubstr("crc32c"));

  WriteAll(data, original.substr(0, 4));  // truncated shard
  graph = ImportSavedModel(dir);
  ASSERT_FALSE(graph.ok());
  EXPECT_THAT(graph.status().message(), HasSubstr("past the end"));
}

TEST(SavedModelIoTest, MissingCheckpointOrEntryIsAnError) {
  TempDir tmp;
  const std::string dir = tmp.File("model");
  CopyTree(TestData(kHalfPlusTwo), dir);
  std::filesystem::remove_all(dir + "/variables");
  absl::StatusOr<Graph> graph = ImportSavedModel(dir);
  ASSERT_FALSE(graph.ok());
  EXPECT_THAT(graph.status().message(), HasSubstr("variables.index"));

  // A variable the checkpoint does not hold, on the path of a signature output.
  const std::string dir2 = tmp.File("model2");
  CopyTree(TestData(kHalfPlusTwo), dir2);
  tf::SavedModel saved_model;
  ASSERT_TRUE(saved_model.ParseFromString(ReadAll(dir2 + "/saved_model.pb")));
  tf::GraphDef* graph_def = saved_model.mutable_meta_graphs(0)->mutable_graph_def();
  tf::NodeDef* w = graph_def->add_node();
  w->set_name("w_missing");
  w->set_op("VariableV2");
  tf::NodeDef* read = graph_def->add_node();
  read->set_name("w_read");
  read->set_op("Identity");
  read->add_input("w_missing");
  tf::SignatureDefEntry* sig = saved_model.mutable_meta_graphs(0)->add_signature_def();
  sig->set_key("uses_w");
  tf::TensorInfoEntry* out = sig->mutable_value()->add_outputs();
  out->set_key("w");
  out->mutable_value()->set_name("w_read:0");
  WriteAll(dir2 + "/saved_model.pb", saved_model.SerializeAsString());
  graph = ImportSavedModel(dir2);
  ASSERT_FALSE(graph.ok());
  EXPECT_THAT(graph.status().message(), HasSubstr("'w_missing'"));

  EXPECT_FALSE(ImportSavedModel(tmp.File("no_such_dir")).ok());
}

TEST(SavedModelIoTest, Tf2FunctionsAreInlinedAndFrozen) {
  absl::StatusOr<Graph> graph = ImportSavedModel(TestData(kHalfPlusTwoTf2));
  ASSERT_TRUE(graph.ok()) << graph.status();
  EXPECT_EQ(CountOps(*graph, "StatefulPartitionedCall"), 0);
  EXPECT_EQ(CountOps(*graph, "PartitionedCall"), 0);
  EXPECT_EQ(ScalarOf(*graph, "a"), 0.5f);
  EXPECT_EQ(ScalarOf(*graph, "b"), 2.0f);
  EXPECT_EQ(ScalarOf(*graph, "c"), 3.0f);
  EXPECT_TRUE(graph->Validate().ok());

  const Signature* regress = FindSignature(*graph, "regress_x_to_y");
  ASSERT_NE(regress, nullptr);
  ASSERT_EQ(regress->outputs.size(), 1u);
  const Node* out = graph->FindNode(regress->outputs[0].ref.node);
  ASSERT_NE(out, nullptr);
  // Every signature output reaches frozen constants and no resource reads remain on its path.
  std::vector<std::string> stack = {out->name};
  bool reaches_a = false;
  std::set<std::string> seen;
  while (!stack.empty()) {
    std::string name = stack.back();
    stack.pop_back();
    if (!seen.insert(name).second) continue;
    const Node* node = graph->FindNode(name);
    ASSERT_NE(node, nullptr) << name;
    EXPECT_NE(node->op, "ReadVariableOp") << name;
    reaches_a |= name == "a";
    for (const TensorRef& ref : node->inputs) stack.push_back(ref.node);
  }
  EXPECT_TRUE(reaches_a);
}

TEST(SavedModelIoTest, ExportReimports) {
  TempDir tmp;
  for (const char* model : {kHalfPlusTwo, kHalfPlusTwoTf2}) {
    absl::StatusOr<Graph> graph = ImportSavedModel(TestData(model));
    ASSERT_TRUE(graph.ok()) << graph.status();
    EXPECT_FALSE(ExportSavedModel(*graph, TestData(model)).ok());  // never over the source

    const std::string out = tmp.File(std::filesystem::path(model).parent_path().filename());
    absl::Status exported = ExportSavedModel(*graph, out);
    ASSERT_TRUE(exported.ok()) << exported;
    EXPECT_FALSE(std::filesystem::exists(out + "/variables"));
    absl::StatusOr<Graph> again = ImportSavedModel(out);
    ASSERT_TRUE(again.ok()) << again.status();
    EXPECT_EQ(again->num_nodes(), graph->num_nodes());
    EXPECT_EQ(ScalarOf(*again, "a"), 0.5f);
    const Signature* before = FindSignature(*graph, "regress_x_to_y");
    const Signature* after = FindSignature(*again, "regress_x_to_y");
    ASSERT_NE(before, nullptr);
    ASSERT_NE(after, nullptr);
    EXPECT_EQ(after->outputs[0].ref, before->outputs[0].ref);

    tf::SavedModel written;
    ASSERT_TRUE(written.ParseFromString(ReadAll(out + "/saved_model.pb")));
    ASSERT_EQ(written.meta_graphs_size(), 1);
    EXPECT_FALSE(written.meta_graphs(0).has_saver_def());
  }
}

TEST(SavedModelIoTest, EverySharedModelImportsAndValidates) {
  if (!rankopt::testing::SharedDirPresent()) GTEST_SKIP() << "no " << RANKOPT_SHARED_DIR;
  int models = 0;
  for (const std::string& pb : rankopt::testing::FilesEndingWith(
           std::string(RANKOPT_SHARED_DIR) + "/models/savedmodel", "/saved_model.pb")) {
    const std::string dir = std::filesystem::path(pb).parent_path().string();
    absl::StatusOr<Graph> graph = ImportSavedModel(dir);
    ASSERT_TRUE(graph.ok()) << graph.status();
    EXPECT_TRUE(graph->Validate().ok()) << dir;
    ++models;
  }
  EXPECT_GE(models, 4);
  for (const std::string& pb :
       rankopt::testing::FilesEndingWith(std::string(RANKOPT_SHARED_DIR) + "/models/tf", ".pb")) {
    absl::StatusOr<Graph> graph = ImportGraphDefFile(pb);
    ASSERT_TRUE(graph.ok()) << graph.status();
    EXPECT_TRUE(graph->Validate().ok()) << pb;
  }
}

}  // namespace
}  // namespace rankopt

namespace rankopt {
namespace {

tf::NodeDef* AddNode(tf::GraphDef* g, const std::string& name, const std::string& op,
                     std::vector<std::string> inputs) {
  tf::NodeDef* node = g->add_node();
  node->set_name(name);
  node->set_op(op);
  for (std::string& input : inputs) node->add_input(std::move(input));
  return node;
}

tf::AttrValue* AddAttr(tf::NodeDef* node, const std::string& key) {
  tf::AttrEntry* entry = node->add_attr();
  entry->set_key(key);
  return entry->mutable_value();
}

void AddSignature(tf::MetaGraphDef* meta, const std::string& output) {
  tf::SignatureDefEntry* sig = meta->add_signature_def();
  sig->set_key("serving_default");
  tf::TensorInfoEntry* out = sig->mutable_value()->add_outputs();
  out->set_key("out");
  out->mutable_value()->set_name(output);
}

// A SavedModel dir holding `saved_model` and, when `with_checkpoint`, half_plus_two's variables.
std::string WriteModel(const TempDir& tmp, const std::string& name,
                       const tf::SavedModel& saved_model, bool with_checkpoint) {
  const std::string dir = tmp.File(name);
  std::filesystem::create_directories(dir);
  if (with_checkpoint) {
    std::filesystem::copy(TestData(kHalfPlusTwo) + "/variables", dir + "/variables",
                          std::filesystem::copy_options::recursive);
  }
  WriteAll(dir + "/saved_model.pb", saved_model.SerializeAsString());
  return dir;
}

TEST(SavedModelIoTest, ResourceVariablesFreezeIntoConstIdentityAndGatherV2) {
  TempDir tmp;
  tf::SavedModel saved_model;
  tf::MetaGraphDef* meta = saved_model.add_meta_graphs();
  meta->mutable_meta_info_def()->add_tags("serve");
  tf::GraphDef* g = meta->mutable_graph_def();
  tf::NodeDef* var = AddNode(g, "handle", "VarHandleOp", {});
  AddAttr(var, "dtype")->set_type(tf::DT_FLOAT);
  AddAttr(var, "shared_name")->set_s("a");  // the checkpoint key
  AddNode(g, "ids", "Placeholder", {});
  AddAttr(AddNode(g, "read", "ReadVariableOp", {"handle"}), "dtype")->set_type(tf::DT_FLOAT);
  tf::NodeDef* gather = AddNode(g, "gather", "ResourceGather", {"handle", "ids"});
  AddAttr(gather, "batch_dims")->set_i(0);
  AddAttr(gather, "Tindices")->set_type(tf::DT_INT64);
  AddNode(g, "sum", "AddV2", {"read", "gather"});
  AddSignature(meta, "sum:0");

  absl::StatusOr<Graph> graph = ImportSavedModel(WriteModel(tmp, "ok", saved_model, true));
  ASSERT_TRUE(graph.ok()) << graph.status();
  EXPECT_EQ(ScalarOf(*graph, "handle"), 0.5f);
  EXPECT_THAT(graph->frozen_variables(), ::testing::ElementsAre("handle"));
  EXPECT_EQ(graph->FindNode("read")->op, "Identity");
  EXPECT_EQ(*graph->FindNode("read")->attrs.Get<DType>("T"), DType::kFloat32);
  const Node* g2 = graph->FindNode("gather");
  EXPECT_EQ(g2->op, "GatherV2");
  ASSERT_EQ(g2->inputs.size(), 3u);
  EXPECT_EQ(g2->inputs[0].node, "handle");
  EXPECT_EQ(*g2->attrs.Get<DType>("Tindices"), DType::kInt64);
  const Node* axis = graph->FindNode(g2->inputs[2].node);
  ASSERT_NE(axis, nullptr);
  EXPECT_EQ(axis->op, "Const");
  EXPECT_EQ(axis->attrs.Get<Tensor>("value")->values<int32_t>()[0], 0);

  AddAttr(g->mutable_node(3), "batch_dims")->set_i(1);  // duplicate key: rejected by import
  EXPECT_FALSE(ImportSavedModel(WriteModel(tmp, "dup", saved_model, true)).ok());
  g->mutable_node(3)->mutable_attr()->RemoveLast();
  g->mutable_node(3)->mutable_attr(0)->mutable_value()->set_i(1);
  absl::StatusOr<Graph> batched = ImportSavedModel(WriteModel(tmp, "batched", saved_model, true));
  ASSERT_FALSE(batched.ok());
  EXPECT_THAT(batched.status().message(), HasSubstr("batch_dims"));
}

// main: x -> call(f) -> out. f splits its arg in 3 (a number_attr output list) and returns
// part 2 through a nested call of g (identity).
tf::SavedModel CallModel(bool with_split_opdef) {
  tf::SavedModel saved_model;
  tf::MetaGraphDef* meta = saved_model.add_meta_graphs();
  meta->mutable_meta_info_def()->add_tags("serve");
  tf::OpList* ops = meta->mutable_meta_info_def()->mutable_stripped_op_list();
  if (with_split_opdef) {
    tf::OpDef* split = ops->add_op();
    split->set_name("Split");
    split->add_input_arg()->set_name("split_dim");
    split->add_input_arg()->set_name("value");
    tf::OpDef::ArgDef* output = split->add_output_arg();
    output->set_name("output");
    output->set_number_attr("num_split");
  }
  tf::OpDef* constant = ops->add_op();
  constant->set_name("Const");
  constant->add_output_arg()->set_name("output");
  tf::OpDef* identity = ops->add_op();
  identity->set_name("Identity");
  identity->add_input_arg()->set_name("input");
  identity->add_output_arg()->set_name("output");

  tf::GraphDef* g = meta->mutable_graph_def();
  AddNode(g, "x", "Placeholder", {});
  tf::NodeDef* call = AddNode(g, "call", "StatefulPartitionedCall", {"x"});
  AddAttr(call, "f")->mutable_func()->set_name("f");
  AddNode(g, "out", "Identity", {"call:0"});
  AddSignature(meta, "call:0");

  tf::FunctionDef* f = g->mutable_library()->add_function();
  f->mutable_signature()->set_name("f");
  f->mutable_signature()->add_input_arg()->set_name("arg");
  f->mutable_signature()->add_output_arg()->set_name("result");
  tf::NodeDef axis;
  axis.set_name("axis");
  axis.set_op("Const");
  *f->add_node_def() = axis;
  tf::NodeDef split;
  split.set_name("split");
  split.set_op("Split");
  split.add_input("axis:output:0");
  split.add_input("arg");
  tf::AttrEntry* n = split.add_attr();
  n->set_key("num_split");
  n->mutable_value()->set_i(3);
  *f->add_node_def() = split;
  tf::NodeDef inner;
  inner.set_name("inner");
  inner.set_op("PartitionedCall");
  inner.add_input("split:output:2");
  tf::AttrEntry* fn = inner.add_attr();
  fn->set_key("f");
  fn->mutable_value()->mutable_func()->set_name("g");
  *f->add_node_def() = inner;
  tf::StringEntry* ret = f->add_ret();
  ret->set_key("result");
  ret->set_value("inner:output:0");

  tf::FunctionDef* gf = g->mutable_library()->add_function();
  gf->mutable_signature()->set_name("g");
  gf->mutable_signature()->add_input_arg()->set_name("v");
  gf->mutable_signature()->add_output_arg()->set_name("output");
  tf::NodeDef id;
  id.set_name("id");
  id.set_op("Identity");
  id.add_input("v");
  *gf->add_node_def() = id;
  tf::StringEntry* gret = gf->add_ret();
  gret->set_key("output");
  gret->set_value("id:output:0");
  return saved_model;
}

TEST(SavedModelIoTest, InlinesNestedCallsAndMapsListOutputs) {
  TempDir tmp;
  absl::StatusOr<Graph> graph = ImportSavedModel(WriteModel(tmp, "calls", CallModel(true), false));
  ASSERT_TRUE(graph.ok()) << graph.status();
  EXPECT_EQ(CountOps(*graph, "StatefulPartitionedCall") + CountOps(*graph, "PartitionedCall"), 0);
  const Node* split = graph->FindNode("call/split");
  ASSERT_NE(split, nullptr);
  EXPECT_EQ(split->inputs[0], (TensorRef{"call/axis", 0}));
  EXPECT_EQ(split->inputs[1], (TensorRef{"x", 0}));
  const Node* id = graph->FindNode("call/inner/id");
  ASSERT_NE(id, nullptr);
  EXPECT_EQ(id->inputs[0], (TensorRef{"call/split", 2}));
  EXPECT_EQ(graph->FindNode("out")->inputs[0], (TensorRef{"call/inner/id", 0}));
  ASSERT_EQ(graph->signatures().size(), 1u);
  EXPECT_EQ(graph->signatures()[0].outputs[0].ref, (TensorRef{"call/inner/id", 0}));

  // Without Split's OpDef (TF2 exports strip the op list) the importer's table of multi-output
  // ops maps "split:output:2" the same way.
  absl::StatusOr<Graph> stripped =
      ImportSavedModel(WriteModel(tmp, "no_opdef", CallModel(false), false));
  ASSERT_TRUE(stripped.ok()) << stripped.status();
  ASSERT_NE(stripped->FindNode("call/inner/id"), nullptr);
  EXPECT_EQ(stripped->FindNode("call/inner/id")->inputs[0], (TensorRef{"call/split", 2}));
}

}  // namespace
}  // namespace rankopt
