// The parts of remote tables that need no server: cluster slot routing (CRC16, hash tags),
// endpoint parsing, the RESP reply reader (every kind, values read in place, partial and bad
// bytes), key escaping, the remote lookup kernels against the local ones (bit for bit,
// and their errors), and the graph rewrite on the DIN and ESMM packages.
#include "serving/remote/remote_graph.h"

#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "embedding/remote/redis_cluster.h"
#include "embedding/storage/embedding_table.h"
#include "graph/exec/execution_plan.h"
#include "graph/kernels/embedding/embedding_kernels.h"
#include "gtest/gtest.h"
#include "tests/serving/din_package.h"

namespace rankopt {
namespace {

TEST(RedisSlotTest, MatchesTheClusterSpec) {
  // The spec's CRC16 check value, and slots redis-cli reports (CLUSTER KEYSLOT).
  EXPECT_EQ(RedisCrc16("123456789"), 0x31C3);
  // A prefix's CRC carried over the rest routes as the whole key (RemoteTables' slots).
  for (const char* id : {"0", "7", "123456", "99999999999"}) {
    const std::string prefix = "rankopt:din:3:item%2Femb:";
    EXPECT_EQ(RedisCrc16Update(RedisCrc16(prefix), id) & (kRedisClusterSlots - 1),
              RedisKeySlot(prefix + id))
        << id;
  }
  EXPECT_EQ(RedisKeySlot("foo"), 12182);
  EXPECT_EQ(RedisKeySlot("bar"), 5061);
  EXPECT_EQ(RedisKeySlot("{user1000}.following"), RedisKeySlot("{user1000}.followers"));
  EXPECT_EQ(RedisKeySlot("{user1000}.following"), RedisKeySlot("user1000"));
  // An empty tag {} hashes the whole key; only the first tag counts.
  EXPECT_EQ(RedisKeySlot("foo{}{bar}"), RedisCrc16("foo{}{bar}") % 16384);
  EXPECT_EQ(RedisKeySlot("foo{{bar}}zap"), RedisKeySlot("{bar"));
}

TEST(RedisEndpointsTest, ParsesAndRejects) {
  absl::StatusOr<std::vector<RedisEndpoint>> e = ParseRedisEndpoints("127.0.0.1:7000, ::1:7001");
  ASSERT_TRUE(e.ok()) << e.status();
  ASSERT_EQ(e->size(), 2u);
  EXPECT_EQ((*e)[0].ToString(), "127.0.0.1:7000");
  EXPECT_EQ((*e)[1].host, "::1");
  for (const char* bad : {"", "localhost", "h:0", "h:70000", ":7000", "h:x"}) {
    EXPECT_FALSE(ParseRedisEndpoints(bad).ok()) << bad;
  }
}

TEST(RedisClusterTest, NoServerIsUnavailableQuickly) {
  RedisClusterOptions o;
  o.seeds = {{"127.0.0.1", 1}};  // nothing listens on port 1
  o.connect_timeout = absl::Milliseconds(100);
  absl::StatusOr<std::unique_ptr<RedisCluster>> c = RedisCluster::Connect(o);
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), absl::StatusCode::kUnavailable) << c.status();
}

TEST(RespReaderTest, ParsesEachKindAndReadsValuesInPlace) {
  // A pipelined stream as a server sends it: every reply kind, one after the other.
  const std::string row("\x01\x02\r\n\x00\xff", 6);  // CR LF and NUL inside a value are data
  const std::string stream = "$6\r\n" + row + "\r\n" + "$3\r\nabc\r\n" + "$-1\r\n" + "+OK\r\n" +
                             "-MOVED 3999 127.0.0.1:7002\r\n" + ":-42\r\n" +
                             "*2\r\n*1\r\n$1\r\nx\r\n:7\r\n" + "$0\r\n\r\n";
  uint8_t out[6] = {0};
  size_t at = 0;
  RedisReply r;
  auto next = [&](uint8_t* value_out, size_t value_size) {
    const int64_t n =
        ParseRespReply(stream.data() + at, stream.size() - at, &r, value_out, value_size);
    EXPECT_GT(n, 0) << "at byte " << at;
    at += n > 0 ? static_cast<size_t>(n) : 0;
  };
  next(out, 6);  // the row, in place
  EXPECT_EQ(r.kind, RedisReply::Kind::kString);
  EXPECT_TRUE(r.in_place);
  EXPECT_TRUE(r.str.empty());
  EXPECT_EQ(std::string(reinterpret_cast<char*>(out), 6), row);
  uint8_t untouched[6] = {9, 9, 9, 9, 9, 9};
  next(untouched, 6);  // 3 bytes where 6 were expected: to str, value_out untouched
  EXPECT_EQ(r.kind, RedisReply::Kind::kString);
  EXPECT_FALSE(r.in_place);
  EXPECT_EQ(r.str, "abc");
  EXPECT_EQ(untouched[0], 9);
  next(untouched, 6);
  EXPECT_EQ(r.kind, RedisReply::Kind::kNil);
  EXPECT_FALSE(r.in_place);
  next(nullptr, 0);
  EXPECT_EQ(r.kind, RedisReply::Kind::kStatus);
  EXPECT_EQ(r.str, "OK");
  next(nullptr, 0);
  EXPECT_EQ(r.kind, RedisReply::Kind::kError);
  EXPECT_EQ(r.str, "MOVED 3999 127.0.0.1:7002");
  next(nullptr, 0);
  EXPECT_EQ(r.kind, RedisReply::Kind::kInteger);
  EXPECT_EQ(r.integer, -42);
  next(nullptr, 0);
  EXPECT_EQ(r.kind, RedisReply::Kind::kArray);
  next(nullptr, 0);
  EXPECT_EQ(r.kind, RedisReply::Kind::kString);
  EXPECT_EQ(r.str, "");
  EXPECT_EQ(at, stream.size());

  // Every proper prefix of every reply is incomplete (0) and writes nothing to value_out.
  for (const std::string& reply :
       {std::string("$6\r\n") + row + "\r\n", std::string("*2\r\n*1\r\n$1\r\nx\r\n:7\r\n"),
        std::string("-ERR x\r\n"), std::string(":12\r\n")}) {
    for (size_t cut = 0; cut < reply.size(); ++cut) {
      uint8_t dest[6] = {7, 7, 7, 7, 7, 7};
      EXPECT_EQ(ParseRespReply(reply.data(), cut, &r, dest, 6), 0) << reply << " cut " << cut;
      EXPECT_EQ(r.kind, RedisReply::Kind::kFailed);
      EXPECT_EQ(dest[0], 7);
    }
  }
}

TEST(RespReaderTest, BytesThatAreNotRespAreRefused) {
  RedisReply r;
  for (const std::string& bad :
       {std::string("?what\r\n"), std::string("$abc\r\n"), std::string("$-2\r\n"),
        std::string("$3\r\nabcX\r\n"),     // the value's CRLF is missing
        std::string("$999999999999\r\n"),  // beyond 512 MB
        std::string(":12a\r\n"), std::string(":\r\n"), std::string("+OK\rX"),
        std::string(":99999999999999999999\r\n"),  // beyond int64
        std::string("*1\r\n?\r\n"),
        std::string("*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n:1\r\n")}) {  // too deep
    EXPECT_EQ(ParseRespReply(bad.data(), bad.size(), &r), -1) << bad;
    EXPECT_EQ(r.kind, RedisReply::Kind::kFailed);
  }
}

TEST(RemoteKeysTest, EscapesWhatWouldChangeRoutingOrMatching) {
  EXPECT_EQ(RemoteKeyPrefix("din", "3", "item_emb"), "rankopt:din:3:item_emb:");
  EXPECT_EQ(RemoteKeyPrefix("a:b", "{1}", "t*?[x] %"),
            "rankopt:a%3Ab:%7B1%7D:t%2A%3F%5Bx%5D%20%25:");
  EXPECT_EQ(RemoteVersionPattern("din", "3"), "rankopt:din:3:*");
  // No hash tag: rows of one table land in many slots.
  EXPECT_NE(RedisKeySlot(RemoteKeyPrefix("din", "{1}", "t") + "1"),
            RedisKeySlot(RemoteKeyPrefix("din", "{1}", "t") + "2"));
}

// ids [2, 3] int64 -> lookup in a 10 x 5 int8 table, locally and through fetched rows.
class RemoteKernelTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::vector<float> values(10 * 5);
    for (size_t i = 0; i < values.size(); ++i)
      values[i] = 0.37f * static_cast<float>(i % 13) - 1.1f;
    absl::StatusOr<EmbeddingTable> fp32 = EmbeddingTable::FromFloat32("t", 10, 5, values);
    ASSERT_TRUE(fp32.ok());
    absl::StatusOr<EmbeddingTable> int8 = EmbeddingTable::Quantize(*fp32, TableDType::kInt8RowWise);
    ASSERT_TRUE(int8.ok());
    table_ = std::string(reinterpret_cast<const char*>(int8->bytes().data()), int8->byte_size());
  }

  static Node Placeholder(const std::string& name, DType dtype, Shape shape) {
    Node n;
    n.name = name;
    n.op = std::string(kPlaceholderOp);
    n.attrs.Set("dtype", dtype);
    n.attrs.Set("shape", std::move(shape));
    return n;
  }

  // Runs the local or remote lookup of `ids`.
  absl::Status Run(bool remote, const std::vector<int64_t>& ids, const std::vector<int64_t>& keys,
                   std::vector<float>* out) {
    const size_t row_bytes = RowBytes(TableDType::kInt8RowWise, 5);
    Graph g(ModelFormat::kTfGraphDef);
    EXPECT_TRUE(g.AddNode(Placeholder("ids", DType::kInt64, Shape({2, 3}))).ok());
    Node lookup;
    lookup.name = "lookup";
    lookup.attrs.Set(std::string(kEmbeddingTableDTypeAttr), std::string("int8"));
    lookup.attrs.Set(std::string(kEmbeddingTableDimAttr), int64_t{5});
    std::vector<char> rows;
    if (remote) {
      EXPECT_TRUE(g.AddNode(Placeholder("rows", DType::kUInt8, Shape({-1, 13}))).ok());
      EXPECT_TRUE(g.AddNode(Placeholder("keys", DType::kInt64, Shape({-1}))).ok());
      lookup.op = std::string(kRemoteEmbeddingLookupOp);
      lookup.inputs = {{"rows", 0}, {"ids", 0}, {"keys", 0}};
      lookup.attrs.Set(std::string(kEmbeddingTableRowsAttr), int64_t{10});
      for (const int64_t k : keys) {
        rows.insert(rows.end(), table_.data() + k * row_bytes, table_.data() + (k + 1) * row_bytes);
      }
    } else {
      Node c;
      c.name = "table";
      c.op = std::string(kConstOp);
      c.attrs.Set("value", *Tensor::FromBytes(DType::kUInt8, {10, 13}, table_));
      EXPECT_TRUE(g.AddNode(std::move(c)).ok());
      lookup.op = std::string(kEmbeddingLookupOp);
      lookup.inputs = {{"table", 0}, {"ids", 0}};
    }
    EXPECT_TRUE(g.AddNode(std::move(lookup)).ok());
    absl::StatusOr<std::unique_ptr<const ExecutionPlan>> plan =
        ExecutionPlan::Create(g, {.outputs = {"lookup"}});
    if (!plan.ok()) return plan.status();
    std::vector<NamedTensorView> feeds;
    std::vector<int64_t> ids_copy = ids;
    std::vector<int64_t> keys_copy = keys;
    feeds.push_back({"ids", TensorView{DType::kInt64, {2, 3}, ids_copy.data()}});
    if (remote) {
      feeds.push_back(
          {"rows",
           TensorView{DType::kUInt8, {static_cast<int64_t>(keys.size()), 13}, rows.data()}});
      feeds.push_back(
          {"keys",
           TensorView{DType::kInt64, {static_cast<int64_t>(keys.size())}, keys_copy.data()}});
    }
    std::vector<Tensor> outputs;
    absl::Status s = (*plan)->Run(feeds, &outputs);
    if (!s.ok()) return s;
    const absl::Span<const float> v = outputs[0].values<float>();
    out->assign(v.begin(), v.end());
    return absl::OkStatus();
  }

  std::string table_;
};

TEST_F(RemoteKernelTest, FetchedRowsGiveTheLocalLookupBitForBit) {
  const std::vector<int64_t> ids = {7, 0, 7, 9, 3, 0};
  std::vector<float> local, remote;
  ASSERT_TRUE(Run(false, ids, {}, &local).ok());
  ASSERT_TRUE(Run(true, ids, {0, 3, 7, 9}, &remote).ok());
  ASSERT_EQ(local.size(), 30u);
  ASSERT_EQ(remote.size(), local.size());
  EXPECT_EQ(std::memcmp(local.data(), remote.data(), local.size() * sizeof(float)), 0);
  // Extra fetched rows are harmless.
  ASSERT_TRUE(Run(true, ids, {0, 1, 2, 3, 7, 8, 9}, &remote).ok());
  EXPECT_EQ(std::memcmp(local.data(), remote.data(), local.size() * sizeof(float)), 0);
}

TEST_F(RemoteKernelTest, BadIdsAreErrorsNeverWrongRows) {
  std::vector<float> out;
  // Out of the table: the local kernel's error.
  absl::Status s = Run(true, {7, 0, 7, 10, 3, 0}, {0, 3, 7}, &out);
  EXPECT_EQ(s.code(), absl::StatusCode::kOutOfRange) << s;
  EXPECT_NE(s.message().find("outside the table's rows [0, 10)"), std::string::npos) << s;
  // In the table but not fetched.
  s = Run(true, {7, 0, 7, 9, 3, 0}, {0, 3, 7}, &out);
  EXPECT_EQ(s.code(), absl::StatusCode::kInternal) << s;
  EXPECT_NE(s.message().find("id 9"), std::string::npos) << s;
}

TEST(RemoteGraphTest, DinAndEsmmTablesMoveAndDescribeBack) {
  for (const bool esmm : {false, true}) {
    for (const TableQuantizationMode mode :
         {TableQuantizationMode::kOff, TableQuantizationMode::kForce}) {
      absl::StatusOr<ModelPackage> package =
          esmm ? BuildEsmmPackage(mode, "1") : BuildDinPackage(mode, "1");
      ASSERT_TRUE(package.ok()) << package.status();
      std::vector<std::string> skipped;
      absl::StatusOr<std::vector<RemotableTable>> tables =
          FindRemotableTables(package->graph, "m", "1", {}, &skipped);
      ASSERT_TRUE(tables.ok()) << tables.status();
      EXPECT_FALSE(tables->empty());
      for (const std::string& why : skipped) ADD_FAILURE() << "kept local: " << why;
      Graph graph = package->graph;
      ASSERT_TRUE(MakeTablesRemote(*tables, "127.0.0.1:7000", &graph).ok());
      absl::StatusOr<std::vector<RemoteTableDesc>> described = DescribeRemoteTables(graph);
      ASSERT_TRUE(described.ok()) << described.status();
      ASSERT_EQ(described->size(), tables->size());
      for (size_t i = 0; i < tables->size(); ++i) {
        const RemoteTableDesc& a = (*tables)[i].desc;
        const RemoteTableDesc& b = (*described)[i];
        EXPECT_EQ(a.table, b.table);
        EXPECT_EQ(a.ReadyMarker(), b.ReadyMarker());
        EXPECT_EQ(b.redis, "127.0.0.1:7000");
        EXPECT_FALSE(b.sources.empty());
      }
      // No table constant is left behind, and the graph still plans.
      for (const Node& n : graph.nodes()) {
        EXPECT_NE(n.op, kEmbeddingLookupOp);
        EXPECT_NE(n.op, kEmbeddingBagOp);
      }
      EXPECT_TRUE(ExecutionPlan::Create(graph, {.outputs = package->outputs}).ok());
      // Unknown names are errors naming the tables.
      EXPECT_FALSE(FindRemotableTables(package->graph, "m", "1", {"nope"}, &skipped).ok());
    }
  }
}

}  // namespace
}  // namespace rankopt
