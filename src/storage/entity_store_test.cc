#include "storage/entity_store.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <future>
#include <mutex>
#include <random>
#include <thread>

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

  // wrap: optionally wraps the RocksDB backend (see GatedBackend).
  void Open(const std::function<std::unique_ptr<Backend>(std::unique_ptr<Backend>)>& wrap = {}) {
    store_.reset();
    auto backend = OpenRocksDb({dir_.string()});
    ASSERT_TRUE(backend.ok()) << backend.status().detail();
    std::unique_ptr<Backend> b = std::move(*backend);
    if (wrap) b = wrap(std::move(b));
    auto store = EntityStore::Open(std::move(b), {});
    ASSERT_TRUE(store.ok()) << store.status().detail();
    store_ = std::move(*store);
  }

  // Submits ops; the future gets their statuses.
  std::future<std::vector<Status>> Start(std::vector<WriteOp> ops) {
    auto p = std::make_shared<std::promise<std::vector<Status>>>();
    auto f = p->get_future();
    store_->Submit(std::move(ops), [p](std::vector<Status> s) { p->set_value(std::move(s)); });
    return f;
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
  WriteOp del{"", "urn:d",
              [](const EntityPtr&, Micros) -> Result<Outcome> { return Outcome::Delete(); }};
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
  WriteOp del{"", "urn:e",
              [](const EntityPtr&, Micros) -> Result<Outcome> { return Outcome::Delete(); }};
  Run({Put("", "urn:e", 1), Put("", "urn:e", 2), del});
  ASSERT_EQ(listener.kinds.size(), 3u);
  EXPECT_EQ(listener.kinds[0], Change::Kind::kCreated);
  EXPECT_EQ(listener.kinds[1], Change::Kind::kUpdated);
  EXPECT_EQ(listener.kinds[2], Change::Kind::kDeleted);
  int meta = 0;
  ASSERT_TRUE(store_
                  ->ScanMeta("listener/",
                             [&](std::string_view, std::string_view) {
                               ++meta;
                               return Status::Ok();
                             })
                  .ok());
  EXPECT_EQ(meta, 1);
}

TEST_F(EntityStoreTest, PutMetasWritesEveryRecordDurably) {
  Open();
  ASSERT_TRUE(store_->PutMetas({{"batch/a", "1"}, {"batch/b", "2"}, {"other/c", "3"}}).ok());
  Open();  // reopen: the records survived
  std::vector<std::string> seen;
  ASSERT_TRUE(store_
                  ->ScanMeta("batch/",
                             [&](std::string_view k, std::string_view v) {
                               seen.push_back(std::string(k) + "=" + std::string(v));
                               return Status::Ok();
                             })
                  .ok());
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

// A backend whose commits wait at a gate: the test sees a commit start, then lets it finish
// (or fail).
class GatedBackend : public Backend {
 public:
  explicit GatedBackend(std::unique_ptr<Backend> inner) : inner_(std::move(inner)) {}
  Status Commit(const Batch& batch, bool sync) override {
    std::unique_lock<std::mutex> lock(mu_);
    ++started_;
    cv_.notify_all();
    cv_.wait(lock, [&] { return opened_ >= started_; });
    if (fail_next_) {
      fail_next_ = false;
      return Status::Internal("disk on fire");
    }
    lock.unlock();
    return inner_->Commit(batch, sync);
  }
  Status Scan(std::string_view space,
              const std::function<Status(std::string_view, std::string_view)>& fn) override {
    return inner_->Scan(space, fn);
  }
  uint64_t DiskBytes() override { return inner_->DiskBytes(); }

  void WaitStarted(int n) {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return started_ >= n; });
  }
  // Lets the next commit through; fail: it fails instead of writing.
  void Open(bool fail = false) {
    std::lock_guard<std::mutex> lock(mu_);
    ++opened_;
    fail_next_ = fail;
    cv_.notify_all();
  }
  void OpenAll() {
    std::lock_guard<std::mutex> lock(mu_);
    opened_ = 1 << 30;
    cv_.notify_all();
  }

 private:
  std::unique_ptr<Backend> inner_;
  std::mutex mu_;
  std::condition_variable cv_;
  int started_ = 0, opened_ = 0;
  bool fail_next_ = false;
};

class CountingListener : public ChangeListener {
 public:
  void OnPrepare(const std::vector<Change>&, Backend::Batch*) override { ++prepared; }
  void OnCommitted(const std::vector<Change>&) override { ++committed; }
  void OnAborted() override { ++aborted; }
  std::atomic<int> prepared{0}, committed{0}, aborted{0};
};

// Adds one to the value of the entity; records the value it found (-1: none).
WriteOp Increment(std::string id, std::atomic<int64_t>* seen) {
  return {"", id, [id, seen](const EntityPtr& cur, Micros now) -> Result<Outcome> {
            if (!cur) {
              *seen = -1;
              return Status::NotFound("missing");
            }
            ngsild::Entity e = *cur;
            auto& v = e.attrs[0].instances[0];
            *seen = v.Find("value")->as_int();
            v.Set("value", Json(*seen + 1));
            e.modified_at = now;
            return Outcome::Put(std::move(e));
          }};
}

TEST_F(EntityStoreTest, NextRoundIsPreparedOnTopOfTheRoundBeingSynced) {
  GatedBackend* gate = nullptr;
  Open([&](std::unique_ptr<Backend> inner) {
    auto g = std::make_unique<GatedBackend>(std::move(inner));
    gate = g.get();
    return g;
  });
  CountingListener listener;
  store_->AddListener(&listener);
  auto first = Start({Put("", "urn:p", 1)});
  gate->WaitStarted(1);  // round 1 is being made durable
  std::atomic<int64_t> seen{0};
  auto second = Start({Increment("urn:p", &seen)});
  // Round 2 is prepared on round 1's state while round 1 is still not durable: nobody sees
  // it, and nobody is told it is done.
  for (int i = 0; i < 500 && listener.prepared < 2; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  EXPECT_EQ(listener.prepared.load(), 2);
  EXPECT_EQ(seen.load(), 1);
  EXPECT_EQ(store_->Get("", "urn:p"), nullptr);
  EXPECT_EQ(listener.committed.load(), 0);
  EXPECT_EQ(first.wait_for(std::chrono::milliseconds(20)), std::future_status::timeout);
  gate->OpenAll();
  EXPECT_TRUE(first.get()[0].ok());
  EXPECT_TRUE(second.get()[0].ok());
  EXPECT_EQ(ValueOf(store_->Get("", "urn:p")), 2);
  EXPECT_EQ(listener.committed.load(), 2);
  EXPECT_EQ(listener.aborted.load(), 0);
  store_.reset();  // before the listener
  Open();
  EXPECT_EQ(ValueOf(store_->Get("", "urn:p")), 2);
}

TEST_F(EntityStoreTest, FailedCommitFailsTheRoundsPreparedOnTopOfIt) {
  GatedBackend* gate = nullptr;
  Open([&](std::unique_ptr<Backend> inner) {
    auto g = std::make_unique<GatedBackend>(std::move(inner));
    gate = g.get();
    return g;
  });
  CountingListener listener;
  store_->AddListener(&listener);
  gate->Open();
  ASSERT_TRUE(Run({Put("", "urn:f", 10)})[0].ok());
  auto doomed = Start({Put("", "urn:f", 20)});
  gate->WaitStarted(2);
  std::atomic<int64_t> seen{0};
  auto on_top = Start({Increment("urn:f", &seen)});
  for (int i = 0; i < 500 && listener.prepared < 3; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  ASSERT_EQ(listener.prepared.load(), 3);
  EXPECT_EQ(seen.load(), 20);  // built on the write that is about to fail
  gate->Open(/*fail=*/true);
  gate->OpenAll();
  EXPECT_EQ(doomed.get()[0].code(), ErrorCode::kInternalError);
  EXPECT_EQ(on_top.get()[0].code(), ErrorCode::kInternalError);
  EXPECT_EQ(ValueOf(store_->Get("", "urn:f")), 10);
  EXPECT_EQ(store_->stats().failed_commits, 1u);
  // The next write starts again from the durable state, after listeners forgot theirs.
  auto after = Run({Increment("urn:f", &seen)});
  EXPECT_TRUE(after[0].ok());
  EXPECT_EQ(seen.load(), 10);
  EXPECT_EQ(listener.aborted.load(), 1);
  EXPECT_EQ(listener.committed.load(), 2);
  EXPECT_EQ(ValueOf(store_->Get("", "urn:f")), 11);
  store_.reset();
  Open();
  EXPECT_EQ(ValueOf(store_->Get("", "urn:f")), 11);
}

TEST_F(EntityStoreTest, SubmitAfterCloseFails) {
  Open();
  store_->Close();
  auto st = Run({Put("", "urn:z", 1)});
  EXPECT_EQ(st[0].code(), ErrorCode::kServiceUnavailable);
}

}  // namespace
}  // namespace civitas::storage
