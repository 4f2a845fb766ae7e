#include "graph/tf/graphdef_io.h"

#include <cstring>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "google/protobuf/text_format.h"
#include "google/protobuf/unknown_field_set.h"
#include "google/protobuf/util/message_differencer.h"
#include "graph/tf/tensorflow_subset.pb.h"
#include "graph/tf/tf_convert.h"
#include "gtest/gtest.h"
#include "tests/graph/tf/tf_test_util.h"

namespace rankopt {
namespace {

using ::rankopt::testing::FilesEndingWith;
using ::rankopt::testing::ReadAll;
using ::rankopt::testing::TempDir;
using ::rankopt::testing::TestData;
using ::rankopt::testing::WriteAll;
using ::testing::HasSubstr;

tf::GraphDef ParseGraphDef(const std::string& path) {
  tf::GraphDef graph_def;
  EXPECT_TRUE(graph_def.ParseFromString(ReadAll(path))) << path;
  return graph_def;
}

void ExpectByteIdenticalRoundTrip(const std::string& path, const TempDir& tmp) {
  absl::StatusOr<Graph> graph = ImportGraphDefFile(path);
  ASSERT_TRUE(graph.ok()) << graph.status();
  EXPECT_EQ(graph->format(), ModelFormat::kTfGraphDef);
  const std::string out = tmp.File("roundtrip.pb");
  ASSERT_TRUE(ExportGraphDefFile(*graph, out).ok());
  EXPECT_TRUE(ReadAll(out) == ReadAll(path)) << path << " did not round-trip byte-identically";
}

// Fields TF has and our schema subset leaves out (NodeDef.experimental_debug_info = 6,
// GraphDef.debug_info = 5, anything newer) must survive import and export, also when the graph
// was edited in between.
TEST(GraphDefIoTest, UnknownFieldsSurviveAnEditedRoundTrip) {
  TempDir tmp;
  tf::GraphDef in = ParseGraphDef(TestData("tf/dense.pb"));
  ASSERT_GE(in.node_size(), 2);
  const std::string kept_name = in.node(0).name();
  in.mutable_node(0)
      ->GetReflection()
      ->MutableUnknownFields(in.mutable_node(0))
      ->AddLengthDelimited(6, "debug info of node 0");
  in.GetReflection()->MutableUnknownFields(&in)->AddLengthDelimited(5, "graph debug info");
  in.GetReflection()->MutableUnknownFields(&in)->AddVarint(999, 42);
  WriteAll(tmp.File("in.pb"), in.SerializeAsString());

  absl::StatusOr<Graph> graph = ImportGraphDefFile(tmp.File("in.pb"));
  ASSERT_TRUE(graph.ok()) << graph.status();
  Node* edited = graph->FindMutableNode(in.node(1).name());
  ASSERT_NE(edited, nullptr);
  edited->device = "/device:CPU:0";  // an edit elsewhere must not drop what we don't model
  ASSERT_TRUE(ExportGraphDefFile(*graph, tmp.File("out.pb")).ok());

  tf::GraphDef out = ParseGraphDef(tmp.File("out.pb"));
  const google::protobuf::UnknownFieldSet& graph_unknown =
      out.GetReflection()->GetUnknownFields(out);
  ASSERT_EQ(graph_unknown.field_count(), 2);
  EXPECT_EQ(graph_unknown.field(0).number(), 5);
  EXPECT_EQ(graph_unknown.field(0).length_delimited(), "graph debug info");
  EXPECT_EQ(graph_unknown.field(1).number(), 999);
  EXPECT_EQ(graph_unknown.field(1).varint(), 42u);
  const tf::NodeDef* kept = nullptr;
  for (const tf::NodeDef& node : out.node()) {
    if (node.name() == kept_name) kept = &node;
  }
  ASSERT_NE(kept, nullptr);
  const google::protobuf::UnknownFieldSet& node_unknown =
      kept->GetReflection()->GetUnknownFields(*kept);
  ASSERT_EQ(node_unknown.field_count(), 1);
  EXPECT_EQ(node_unknown.field(0).number(), 6);
  EXPECT_EQ(node_unknown.field(0).length_delimited(), "debug info of node 0");
}

TEST(GraphDefIoTest, FixturesRoundTripByteIdentical) {
  TempDir tmp;
  std::vector<std::string> files = FilesEndingWith(TestData("tf"), ".pb");
  ASSERT_GE(files.size(), 9u);
  for (const std::string& path : files) ExpectByteIdenticalRoundTrip(path, tmp);
}

TEST(GraphDefIoTest, SharedModelsRoundTripByteIdentical) {
  if (!rankopt::testing::SharedDirPresent()) GTEST_SKIP() << "no " << RANKOPT_SHARED_DIR;
  TempDir tmp;
  std::vector<std::string> files =
      FilesEndingWith(std::string(RANKOPT_SHARED_DIR) + "/models/tf", ".pb");
  ASSERT_FALSE(files.empty());
  for (const std::string& path : files) ExpectByteIdenticalRoundTrip(path, tmp);
}

TEST(GraphDefIoTest, DecodesConstAndPlaceholderAttrs) {
  const std::string path = TestData("tf/dense.pb");
  absl::StatusOr<Graph> graph = ImportGraphDefFile(path);
  ASSERT_TRUE(graph.ok()) << graph.status();

  const Node* kernel = graph->FindNode("dense/kernel");
  ASSERT_NE(kernel, nullptr);
  EXPECT_EQ(kernel->op, "Const");
  ASSERT_NE(kernel->attrs.Get<DType>("dtype"), nullptr);
  EXPECT_EQ(*kernel->attrs.Get<DType>("dtype"), DType::kFloat32);
  const Tensor* value = kernel->attrs.Get<Tensor>("value");
  ASSERT_NE(value, nullptr);
  EXPECT_EQ(value->dtype(), DType::kFloat32);
  EXPECT_EQ(value->dims(), (std::vector<int64_t>{784, 10}));
  // Reference: the raw tensor_content of the NodeDef, read with the proto API.
  tf::GraphDef graph_def = ParseGraphDef(path);
  const tf::NodeDef& node_def = graph_def.node(kernel->source_index);
  ASSERT_EQ(node_def.name(), "dense/kernel");
  for (const tf::AttrEntry& attr : node_def.attr()) {
    if (attr.key() != "value") continue;
    ASSERT_EQ(attr.value().tensor().tensor_content().size(), 784u * 10u * 4u);
    EXPECT_TRUE(value->bytes() == attr.value().tensor().tensor_content());
  }

  const Node* input = graph->FindNode("input_4");
  ASSERT_NE(input, nullptr);
  EXPECT_EQ(input->op, "Placeholder");
  ASSERT_NE(input->attrs.Get<Shape>("shape"), nullptr);
  EXPECT_EQ(*input->attrs.Get<Shape>("shape"), Shape({Shape::kUnknownDim, 784}));
  EXPECT_EQ(*input->attrs.Get<DType>("dtype"), DType::kFloat32);

  const Node* matmul = graph->FindNode("dense/MatMul");
  ASSERT_NE(matmul, nullptr);
  ASSERT_EQ(matmul->inputs.size(), 2u);
  EXPECT_EQ(matmul->inputs[0].node, "input_4");
}

TEST(GraphDefIoTest, TextRoundTripParsesBackEqual) {
  TempDir tmp;
  tf::GraphDef original = ParseGraphDef(TestData("tf/batch_norm.pb"));
  std::string text;
  ASSERT_TRUE(google::protobuf::TextFormat::PrintToString(original, &text));
  const std::string in = tmp.File("model.pbtxt");
  WriteAll(in, text);

  absl::StatusOr<Graph> graph = ImportGraphDefFile(in);
  ASSERT_TRUE(graph.ok()) << graph.status();
  EXPECT_EQ(graph->format(), ModelFormat::kTfGraphDefText);
  const std::string out = tmp.File("out.pbtxt");
  ASSERT_TRUE(ExportGraphDefFile(*graph, out).ok());
  tf::GraphDef reparsed;
  ASSERT_TRUE(google::protobuf::TextFormat::ParseFromString(ReadAll(out), &reparsed));
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(original, reparsed));

  // Text content under a binary extension is detected too.
  const std::string disguised = tmp.File("model.pb");
  WriteAll(disguised, text);
  absl::StatusOr<Graph> again = ImportGraphDefFile(disguised);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->format(), ModelFormat::kTfGraphDefText);
  EXPECT_EQ(again->num_nodes(), graph->num_nodes());
}

TEST(GraphDefIoTest, EditedGraphExportsChangesAndKeepsTheRest) {
  TempDir tmp;
  absl::StatusOr<Graph> graph = ImportGraphDefFile(TestData("tf/dense.pb"));
  ASSERT_TRUE(graph.ok()) << graph.status();
  Node* bias = graph->FindMutableNode("dense/bias");
  ASSERT_NE(bias, nullptr);
  const std::vector<float> ones(10, 1.0f);
  absl::StatusOr<Tensor> t = Tensor::FromValues<float>({10}, ones);
  ASSERT_TRUE(t.ok());
  bias->attrs.Set("value", *t);
  Node extra;
  extra.name = "extra";
  extra.op = "Identity";
  extra.inputs.push_back({"dense/MatMul", 0});
  extra.control_inputs.push_back("input_4");
  extra.attrs.Set("T", DType::kFloat32);
  ASSERT_TRUE(graph->AddNode(extra).ok());

  const std::string out = tmp.File("edited.pb");
  ASSERT_TRUE(ExportGraphDefFile(*graph, out).ok());
  tf::GraphDef original = ParseGraphDef(TestData("tf/dense.pb"));
  tf::GraphDef edited = ParseGraphDef(out);
  ASSERT_EQ(edited.node_size(), original.node_size() + 1);
  for (int i = 0; i < original.node_size(); ++i) {
    if (original.node(i).name() == "dense/bias") {
      const tf::NodeDef& node = edited.node(i);
      bool found = false;
      for (const tf::AttrEntry& attr : node.attr()) {
        if (attr.key() != "value") continue;
        found = true;
        absl::StatusOr<Tensor> decoded = TensorFromTf(attr.value().tensor());
        ASSERT_TRUE(decoded.ok());
        EXPECT_EQ(*decoded, *t);
      }
      EXPECT_TRUE(found);
    } else {
      EXPECT_TRUE(
          google::protobuf::util::MessageDifferencer::Equals(original.node(i), edited.node(i)))
          << original.node(i).name();
    }
  }
  const tf::NodeDef& added = edited.node(original.node_size());
  EXPECT_EQ(added.name(), "extra");
  EXPECT_THAT(std::vector<std::string>(added.input().begin(), added.input().end()),
              ::testing::ElementsAre("dense/MatMul", "^input_4"));
}

TEST(GraphDefIoTest, BadFilesGiveOneLineErrors) {
  TempDir tmp;
  absl::StatusOr<Graph> missing = ImportGraphDefFile(tmp.File("nope.pb"));
  ASSERT_FALSE(missing.ok());
  EXPECT_THAT(missing.status().message(), HasSubstr("nope.pb"));

  const std::string empty = tmp.File("empty.pb");
  WriteAll(empty, "");
  absl::StatusOr<Graph> empty_graph = ImportGraphDefFile(empty);
  ASSERT_FALSE(empty_graph.ok());
  EXPECT_THAT(empty_graph.status().message(), HasSubstr("empty file"));

  const std::string garbage = tmp.File("garbage.pb");
  WriteAll(garbage, std::string("\xff\xff\xff\xff\x01\x02garbage\x00\x07", 16));
  absl::StatusOr<Graph> garbage_graph = ImportGraphDefFile(garbage);
  ASSERT_FALSE(garbage_graph.ok());
  EXPECT_THAT(garbage_graph.status().message(), HasSubstr("not a TensorFlow GraphDef"));
  EXPECT_THAT(garbage_graph.status().message(), HasSubstr("garbage.pb"));

  const std::string bytes = ReadAll(TestData("tf/dense.pb"));
  const std::string truncated = tmp.File("truncated.pb");
  WriteAll(truncated, bytes.substr(0, bytes.size() / 2));
  absl::StatusOr<Graph> truncated_graph = ImportGraphDefFile(truncated);
  ASSERT_FALSE(truncated_graph.ok());
  EXPECT_THAT(truncated_graph.status().message(), HasSubstr("not a TensorFlow GraphDef"));

  const std::string bad_text = tmp.File("bad.pbtxt");
  WriteAll(bad_text, "node { name: \"a\" op: \n");
  absl::StatusOr<Graph> bad_text_graph = ImportGraphDefFile(bad_text);
  ASSERT_FALSE(bad_text_graph.ok());
  EXPECT_THAT(bad_text_graph.status().message(), HasSubstr("bad.pbtxt"));
}

// Bytes in memory import like the file they came from; `origin` names them in errors.
TEST(GraphDefIoTest, ImportsBytesLikeTheFile) {
  const std::string path = TestData("tf/dense.pb");
  const std::string bytes = ReadAll(path);
  absl::StatusOr<Graph> from_file = ImportGraphDefFile(path);
  absl::StatusOr<Graph> from_bytes = ImportGraphDefBytes(bytes, GraphDefEncoding::kDetect);
  ASSERT_TRUE(from_file.ok()) << from_file.status();
  ASSERT_TRUE(from_bytes.ok()) << from_bytes.status();
  EXPECT_EQ(from_bytes->format(), ModelFormat::kTfGraphDef);
  ASSERT_EQ(from_bytes->num_nodes(), from_file->num_nodes());
  absl::StatusOr<tf::GraphDef> a = GraphDefFromGraph(*from_file);
  absl::StatusOr<tf::GraphDef> b = GraphDefFromGraph(*from_bytes);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->SerializeAsString(), b->SerializeAsString());

  std::string text;
  ASSERT_TRUE(google::protobuf::TextFormat::PrintToString(*a, &text));
  absl::StatusOr<Graph> from_text = ImportGraphDefBytes(text, GraphDefEncoding::kText);
  ASSERT_TRUE(from_text.ok()) << from_text.status();
  EXPECT_EQ(from_text->format(), ModelFormat::kTfGraphDefText);
  absl::StatusOr<Graph> detected = ImportGraphDefBytes(text, GraphDefEncoding::kDetect);
  ASSERT_TRUE(detected.ok()) << detected.status();
  EXPECT_EQ(detected->format(), ModelFormat::kTfGraphDefText);

  absl::StatusOr<Graph> binary_as_text =
      ImportGraphDefBytes(bytes, GraphDefEncoding::kText, "blob://dense");
  ASSERT_FALSE(binary_as_text.ok());
  EXPECT_THAT(binary_as_text.status().message(), HasSubstr("blob://dense"));
  EXPECT_THAT(binary_as_text.status().message(), HasSubstr("text format"));
  absl::StatusOr<Graph> empty = ImportGraphDefBytes("", GraphDefEncoding::kDetect, "blob://x");
  ASSERT_FALSE(empty.ok());
  EXPECT_THAT(empty.status().message(), HasSubstr("blob://x: empty"));
}

// Damaged files must give an error or a valid graph, never a crash (run under ASan to see UB).
TEST(GraphDefIoTest, DamagedFixturesNeverCrash) {
  TempDir tmp;
  const std::string path = tmp.File("damaged.pb");
  int rejected = 0;
  for (const std::string& fixture : FilesEndingWith(TestData("tf"), ".pb")) {
    const std::string bytes = ReadAll(fixture);
    for (int i = 1; i <= 16; ++i) {
      const size_t at = bytes.size() * i / 17;
      WriteAll(path, bytes.substr(0, at));
      absl::StatusOr<Graph> truncated = ImportGraphDefFile(path);
      rejected += !truncated.ok();
      std::string flipped = bytes;
      flipped[at] = static_cast<char>(flipped[at] ^ (0x11 << (i % 4)));
      WriteAll(path, flipped);
      absl::StatusOr<Graph> graph = ImportGraphDefFile(path);
      if (graph.ok()) {
        EXPECT_TRUE(ExportGraphDefFile(*graph, tmp.File("out.pb")).ok());
      }
    }
  }
  EXPECT_GT(rejected, 100);
}

tf::NodeDef* AddNodeDef(tf::GraphDef* graph_def, const std::string& name, const std::string& op,
                        std::vector<std::string> inputs) {
  tf::NodeDef* node = graph_def->add_node();
  node->set_name(name);
  node->set_op(op);
  for (std::string& input : inputs) node->add_input(std::move(input));
  return node;
}

std::string ImportError(const TempDir& tmp, const tf::GraphDef& graph_def,
                        const std::string& name) {
  const std::string path = tmp.File(name);
  WriteAll(path, graph_def.SerializeAsString());
  absl::StatusOr<Graph> graph = ImportGraphDefFile(path);
  EXPECT_FALSE(graph.ok()) << name;
  std::string message(graph.status().message());
  EXPECT_THAT(message, HasSubstr(path));
  return message;
}

TEST(GraphDefIoTest, BadGraphsNameFileAndNode) {
  TempDir tmp;
  tf::GraphDef dangling;
  AddNodeDef(&dangling, "x", "Placeholder", {});
  AddNodeDef(&dangling, "relu", "Relu", {"x", "ghost:1"});
  EXPECT_THAT(ImportError(tmp, dangling, "dangling.pb"), HasSubstr("ghost"));

  tf::GraphDef dangling_control;
  AddNodeDef(&dangling_control, "x", "Placeholder", {"^phantom"});
  EXPECT_THAT(ImportError(tmp, dangling_control, "control.pb"), HasSubstr("phantom"));

  tf::GraphDef duplicate;
  AddNodeDef(&duplicate, "x", "Placeholder", {});
  AddNodeDef(&duplicate, "x", "Relu", {});
  EXPECT_THAT(ImportError(tmp, duplicate, "duplicate.pb"), HasSubstr("duplicate node name 'x'"));

  tf::GraphDef cycle;
  AddNodeDef(&cycle, "a", "Relu", {"b"});
  AddNodeDef(&cycle, "b", "Relu", {"a"});
  std::string message = ImportError(tmp, cycle, "cycle.pb");
  EXPECT_THAT(message, ::testing::AnyOf(HasSubstr("'a'"), HasSubstr("'b'")));

  tf::GraphDef bad_attr;
  tf::NodeDef* c = AddNodeDef(&bad_attr, "c", "Const", {});
  tf::AttrEntry* attr = c->add_attr();
  attr->set_key("value");
  attr->mutable_value()->mutable_tensor()->set_dtype(tf::DT_FLOAT);
  attr->mutable_value()->mutable_tensor()->mutable_tensor_shape()->add_dim()->set_size(4);
  attr->mutable_value()->mutable_tensor()->set_tensor_content("abc");
  message = ImportError(tmp, bad_attr, "bad_attr.pb");
  EXPECT_THAT(message, HasSubstr("'c'"));
  EXPECT_THAT(message, HasSubstr("tensor_content"));

  // A while loop's NextIteration -> Merge back edge is not a cycle.
  tf::GraphDef loop;
  AddNodeDef(&loop, "enter", "Placeholder", {});
  AddNodeDef(&loop, "merge", "Merge", {"enter", "next"});
  AddNodeDef(&loop, "next", "NextIteration", {"merge"});
  const std::string loop_path = tmp.File("loop.pb");
  WriteAll(loop_path, loop.SerializeAsString());
  EXPECT_TRUE(ImportGraphDefFile(loop_path).ok());
}

tf::TensorProto FloatProto(std::vector<int64_t> dims, std::vector<float> values) {
  tf::TensorProto proto;
  proto.set_dtype(tf::DT_FLOAT);
  for (int64_t d : dims) proto.mutable_tensor_shape()->add_dim()->set_size(d);
  for (float v : values) proto.add_float_val(v);
  return proto;
}

TEST(TfConvertTest, TensorProtoSplatAndTypedValues) {
  absl::StatusOr<Tensor> splat = TensorFromTf(FloatProto({2, 3}, {1.5f, 2.5f}));
  ASSERT_TRUE(splat.ok()) << splat.status();
  EXPECT_THAT(std::vector<float>(splat->values<float>().begin(), splat->values<float>().end()),
              ::testing::ElementsAre(1.5f, 2.5f, 2.5f, 2.5f, 2.5f, 2.5f));

  absl::StatusOr<Tensor> zeros = TensorFromTf(FloatProto({3}, {}));
  ASSERT_TRUE(zeros.ok());
  EXPECT_THAT(std::vector<float>(zeros->values<float>().begin(), zeros->values<float>().end()),
              ::testing::ElementsAre(0.0f, 0.0f, 0.0f));

  EXPECT_FALSE(TensorFromTf(FloatProto({2}, {1, 2, 3})).ok());  // more values than elements
  EXPECT_FALSE(TensorFromTf(FloatProto({-1, 2}, {1})).ok());    // unknown dim
  EXPECT_FALSE(TensorFromTf(FloatProto({int64_t{1} << 40}, {1})).ok());  // absurd splat

  tf::TensorProto half;
  half.set_dtype(tf::DT_HALF);
  half.mutable_tensor_shape()->add_dim()->set_size(2);
  half.add_half_val(0x3c00);  // 1.0 in fp16
  half.add_half_val(0xc000);  // -2.0
  absl::StatusOr<Tensor> h = TensorFromTf(half);
  ASSERT_TRUE(h.ok());
  EXPECT_EQ(h->dtype(), DType::kFloat16);
  EXPECT_THAT(std::vector<uint16_t>(h->values<uint16_t>().begin(), h->values<uint16_t>().end()),
              ::testing::ElementsAre(0x3c00, 0xc000));

  tf::TensorProto strings;
  strings.set_dtype(tf::DT_STRING);
  strings.mutable_tensor_shape()->add_dim()->set_size(2);
  strings.add_string_val("ab");
  strings.add_string_val(std::string("c\0d", 3));
  absl::StatusOr<Tensor> s = TensorFromTf(strings);
  ASSERT_TRUE(s.ok());
  EXPECT_THAT(std::vector<std::string>(s->strings().begin(), s->strings().end()),
              ::testing::ElementsAre("ab", std::string("c\0d", 3)));

  tf::TensorProto int8;
  int8.set_dtype(tf::DT_INT8);
  int8.mutable_tensor_shape()->add_dim()->set_size(2);
  int8.add_int_val(-3);
  int8.add_int_val(7);
  absl::StatusOr<Tensor> i8 = TensorFromTf(int8);
  ASSERT_TRUE(i8.ok());
  EXPECT_THAT(std::vector<int8_t>(i8->values<int8_t>().begin(), i8->values<int8_t>().end()),
              ::testing::ElementsAre(-3, 7));

  // Encoding from scratch round-trips.
  absl::StatusOr<Tensor> back = TensorFromTf(TensorToTf(*splat));
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, *splat);
  EXPECT_EQ(TensorToTf(*splat).tensor_content().size(), 24u);
}

TEST(TfConvertTest, AttrKinds) {
  tf::AttrValue empty_list;
  empty_list.mutable_list();
  absl::StatusOr<AttrValue> list = AttrFromTf(empty_list);
  ASSERT_TRUE(list.ok());
  ASSERT_NE(std::get_if<std::vector<int64_t>>(&*list), nullptr);
  EXPECT_TRUE(std::get<std::vector<int64_t>>(*list).empty());

  tf::AttrValue complex;
  complex.mutable_tensor()->set_dtype(tf::DT_COMPLEX64);
  complex.mutable_tensor()->add_scomplex_val(1.0f);
  complex.mutable_tensor()->add_scomplex_val(2.0f);
  absl::StatusOr<AttrValue> opaque = AttrFromTf(complex);
  ASSERT_TRUE(opaque.ok());
  const OpaqueAttr* o = std::get_if<OpaqueAttr>(&*opaque);
  ASSERT_NE(o, nullptr);
  EXPECT_EQ(o->kind, "tensor");
  absl::StatusOr<tf::AttrValue> reencoded = AttrToTf(*opaque);
  ASSERT_TRUE(reencoded.ok());
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(*reencoded, complex));

  tf::AttrValue func;
  func.mutable_func()->set_name("f");
  absl::StatusOr<AttrValue> f = AttrFromTf(func);
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(std::get<OpaqueAttr>(*f).kind, "func");

  tf::AttrValue qtype;
  qtype.set_type(tf::DT_QINT8);
  EXPECT_EQ(std::get<OpaqueAttr>(*AttrFromTf(qtype)).kind, "type");

  tf::AttrValue shape;
  shape.mutable_shape()->set_unknown_rank(true);
  EXPECT_EQ(std::get<Shape>(*AttrFromTf(shape)), Shape::UnknownRank());

  tf::AttrValue types;
  types.mutable_list()->add_type(tf::DT_FLOAT);
  types.mutable_list()->add_type(tf::DT_INT64);
  EXPECT_EQ(std::get<std::vector<DType>>(*AttrFromTf(types)),
            (std::vector<DType>{DType::kFloat32, DType::kInt64}));
}

}  // namespace
}  // namespace rankopt
