#include "storage/entity_store.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <future>
#include <random>

namespace civitas::storage {
namespace {

class EntityStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("civitas_store_test_" + std::to_string(::getpid()) + "_" +
            std::to_string(std::random_device{}()));
  }
  void TearDown() override {
    store_.reset();
    std::filesystem::remove_all(dir_);
  }

  void Open() {
    store_.reset();
    auto backend = OpenRocksDb({dir_.string()});
    ASSERT_TRUE(backend.ok()) << backend.status().detail();
    auto store = EntityStore::Open(std::move(*backend), {});
    ASSERT_TRUE(store.ok()) << store.status().detail();
    store_ = std::move(*store);
  }

  // Submits ops and waits for their statuses.
  std::vector<Status> Run(std::vector<WriteOp> ops) {
    std::promise<std::vector<Status>> p;
    auto f = p.get_future();
    store_->Submit(std::move(ops), [&p](std::vector<Status> s) { p.set_value(std::move(s)); });
    return f.get();
  }

  static WriteOp Put(std::string tenant, std::string id, int64_t value) {
    return {tenant, id, [id, value](const EntityPtr& cur, Micros now) -> Result<Outcome> {
              ngsild::Entity e = cur ? *cur : ngsild::Entity{};
              e.id = id;
              e.types = {"https://example.org/T"};
              if (!cur) e.created_at = now;
              e.modified_at = now;
              Json inst = Json::MakeObject();
              inst.Set("type", "Property");
              inst.Set("value", Json(value));
              e.attrs = {{"https://example.org/v", {inst}}};
              return Outcome::Put(std::move(e));
            }};
  }

  static int64_t ValueOf(const EntityPtr& e) {
    return e->attrs.at(0).instances.at(0).Find("value")->as_int();
  }

  std::filesystem::path dir_;
  std::unique_ptr<EntityStore> store_;
};

TEST_F(EntityStoreTest, WritesAreVisibleAndSurviveReopen) {
  Open();
  auto st = Run({Put("", "urn:a", 1), Put("t1", "urn:a", 2), Put("", "urn:b", 3)});
  for (const auto& s : st) EXPECT_TRUE(s.ok());
  EXPECT_EQ(ValueOf(store_->Get("", "urn:a")), 1);
  EXPECT_EQ(ValueOf(store_->Get("t1", "urn:a")), 2);
  EXPECT_TRUE(store_->HasTenant("t1"));
  EXPECT_FALSE(store_->HasTenant("t2"));
  Open();
  EXPECT_EQ(ValueOf(store_->Get("", "urn:b")), 3);
  EXPECT_EQ(ValueOf(store_->Get("t1", "urn:a")), 2);
  EXPECT_EQ(store_->Count(""), 2u);
  EXPECT_TRUE(store_->HasTenant("t1"));
}

TEST_F(EntityStoreTest, OpsInOneBatchSeeEachOtherInOrder) {
  Open();
  WriteOp inc{"", "urn:c", [](const EntityPtr& cur, Micros) -> Result<Outcome> {
                if (!cur) return Status::NotFound("missing");
                ngsild::Entity e = *cur;
                auto& v = e.attrs[0].instances[0];
                v.Set("value", Json(v.Find("value")->as_int() + 1));
                return Outcome::Put(std::move(e));
              }};
  auto st = Run({inc, Put("", "urn:c", 10), inc, inc});
  EXPECT_EQ(st[0].code(), ErrorCode::kResourceNotFound);
  EXPECT_TRUE(st[1].ok() && st[2].ok() && st[3].ok());
  EXPECT_EQ(ValueOf(store_->Get("", "urn:c")), 12);
}

TEST_F(EntityStoreTest, DeleteRemovesDurably) {
  Open();
  ASSERT_TRUE(Run({Put("", "urn:d", 1)})[0].ok());
  WriteOp del{"", "urn:d", [](const EntityPtr&, Micros) -> Result<Outcome> {
                return Outcome::Delete();
              }};
  ASSERT_TRUE(Run({del})[0].ok());
  EXPECT_EQ(store_->Get("", "urn:d"), nullptr);
  Open();
  EXPECT_EQ(store_->Get("", "urn:d"), nullptr);
}

class RecordingListener : public ChangeListener {
 public:
  void OnPrepare(const std::vector<Change>& changes, Backend::Batch* batch) override {
    batch->push_back({Backend::Op::Kind::kPut, "meta", "listener/" + std::to_string(++n_), "x"});
  }
  void OnCommitted(const std::vector<Change>& changes) override {
    for (const auto& c : changes) kinds.push_back(c.kind);
  }
  std::vector<Change::Kind> kinds;
  int n_ = 0;
};

TEST_F(EntityStoreTest, ChangeStreamInCommitOrderAndSameBatch) {
  Open();
  RecordingListener listener;
  store_->AddListener(&listener);
  WriteOp del{"", "urn:e", [](const EntityPtr&, Micros) -> Result<Outcome> {
                return Outcome::Delete();
              }};
  Run({Put("", "urn:e", 1), Put("", "urn:e", 2), del});
  ASSERT_EQ(listener.kinds.size(), 3u);
  EXPECT_EQ(listener.kinds[0], Change::Kind::kCreated);
  EXPECT_EQ(listener.kinds[1], Change::Kind::kUpdated);
  EXPECT_EQ(listener.kinds[2], Change::Kind::kDeleted);
  int meta = 0;
  ASSERT_TRUE(store_->ScanMeta("listener/", [&](std::string_view, std::string_view) {
    ++meta;
    return Status::Ok();
  }).ok());
  EXPECT_EQ(meta, 1);
}

TEST_F(EntityStoreTest, PutMetasWritesEveryRecordDurably) {
  Open();
  ASSERT_TRUE(store_->PutMetas({{"batch/a", "1"}, {"batch/b", "2"}, {"other/c", "3"}}).ok());
  Open();  // reopen: the records survived
  std::vector<std::string> seen;
  ASSERT_TRUE(store_->ScanMeta("batch/", [&](std::string_view k, std::string_view v) {
    seen.push_back(std::string(k) + "=" + std::string(v));
    return Status::Ok();
  }).ok());
  EXPECT_EQ(seen, (std::vector<std::string>{"batch/a=1", "batch/b=2"}));
}

TEST_F(EntityStoreTest, ConcurrentSubmittersAllCommitted) {
  Open();
  constexpr int kThreads = 4, kPer = 500;
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPer; ++i) {
        auto st = Run({Put("", "urn:t" + std::to_string(t) + ":" + std::to_string(i), i)});
        if (st[0].ok()) ++ok;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(ok.load(), kThreads * kPer);
  EXPECT_EQ(store_->Count(""), static_cast<size_t>(kThreads * kPer));
  EXPECT_LT(store_->stats().commits, static_cast<uint64_t>(kThreads * kPer));
  Open();
  EXPECT_EQ(store_->Count(""), static_cast<size_t>(kThreads * kPer));
}

TEST_F(EntityStoreTest, SubmitAfterCloseFails) {
  Open();
  store_->Close();
  auto st = Run({Put("", "urn:z", 1)});
  EXPECT_EQ(st[0].code(), ErrorCode::kServiceUnavailable);
}

}  // namespace
}  // namespace civitas::storage
