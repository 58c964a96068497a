#include <rocksdb/db.h>
#include <rocksdb/memtablerep.h>
#include <rocksdb/options.h>
#include <rocksdb/table.h>
#include <rocksdb/utilities/options_util.h>
#include <rocksdb/write_batch.h>

#include <filesystem>
#include <map>

#include "storage/backend.h"

namespace civitas::storage {
namespace {

// The key spaces are RocksDB column families, created on first open.
constexpr const char* kSpaces[] = {"entities", "meta", "temporal"};

class RocksDbBackend final : public Backend {
 public:
  ~RocksDbBackend() override {
    for (auto* h : handles_) db_->DestroyColumnFamilyHandle(h);
    handles_.clear();
    if (db_) db_->Close();
  }

  static Result<std::unique_ptr<Backend>> Open(const RocksDbOptions& o) {
    std::error_code ec;
    std::filesystem::create_directories(o.path, ec);
    if (ec) return Status::Internal("cannot create data directory " + o.path + ": " + ec.message());
    rocksdb::Options options;
    options.create_if_missing = true;
    options.create_missing_column_families = true;
    options.IncreaseParallelism(2);
    options.max_total_wal_size = 256 << 20;
    options.compression = rocksdb::kLZ4Compression;
    options.bottommost_compression = rocksdb::kZSTD;
    rocksdb::BlockBasedTableOptions table;
    table.block_cache = rocksdb::NewLRUCache(o.block_cache_bytes);
    table.block_size = 16 << 10;
    // The broker never reads from RocksDB on the request path (current state is in memory; the
    // store is read once, at start), so the memtable only needs cheap inserts: a vector sorted
    // at flush instead of the default skip list, whose O(log n) inserts were the largest cost
    // on the commit thread.
    options.allow_concurrent_memtable_write = false;
    rocksdb::ColumnFamilyOptions cf_options(options);
    cf_options.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
    cf_options.compression = rocksdb::kLZ4Compression;
    cf_options.memtable_factory = std::make_shared<rocksdb::VectorRepFactory>();

    std::vector<rocksdb::ColumnFamilyDescriptor> families;
    families.emplace_back(rocksdb::kDefaultColumnFamilyName, cf_options);
    for (const char* s : kSpaces) families.emplace_back(s, cf_options);

    auto backend = std::unique_ptr<RocksDbBackend>(new RocksDbBackend());
    rocksdb::DB* db = nullptr;
    rocksdb::Status st = rocksdb::DB::Open(options, o.path, families, &backend->handles_, &db);
    if (!st.ok()) return Status::Internal("cannot open store at " + o.path + ": " + st.ToString());
    backend->db_.reset(db);
    for (size_t i = 0; i < std::size(kSpaces); ++i) {
      backend->spaces_[kSpaces[i]] = backend->handles_[i + 1];
    }
    return std::unique_ptr<Backend>(std::move(backend));
  }

  Status Commit(const Batch& batch, bool sync) override {
    rocksdb::WriteBatch wb;
    for (const auto& op : batch) {
      auto* cf = Space(op.space);
      if (cf == nullptr) return Status::Internal("unknown key space " + op.space);
      rocksdb::Status st = op.kind == Op::Kind::kPut ? wb.Put(cf, op.key, op.value)
                                                     : wb.Delete(cf, op.key);
      if (!st.ok()) return Status::Internal("write batch: " + st.ToString());
    }
    rocksdb::WriteOptions wo;
    wo.sync = sync;
    rocksdb::Status st = db_->Write(wo, &wb);
    if (!st.ok()) return Status::Internal("store write failed: " + st.ToString());
    return Status::Ok();
  }

  Status Scan(std::string_view space,
              const std::function<Status(std::string_view, std::string_view)>& fn) override {
    auto* cf = Space(space);
    if (cf == nullptr) return Status::Internal("unknown key space " + std::string(space));
    rocksdb::ReadOptions ro;
    ro.fill_cache = false;
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro, cf));
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      CIVITAS_RETURN_IF_ERROR(fn(std::string_view(it->key().data(), it->key().size()),
                                 std::string_view(it->value().data(), it->value().size())));
    }
    if (!it->status().ok()) return Status::Internal("store scan: " + it->status().ToString());
    return Status::Ok();
  }

  uint64_t DiskBytes() override {
    uint64_t total = 0;
    for (auto& [name, cf] : spaces_) {
      uint64_t v = 0;
      if (db_->GetIntProperty(cf, rocksdb::DB::Properties::kTotalSstFilesSize, &v)) total += v;
    }
    return total;
  }

 private:
  RocksDbBackend() = default;

  rocksdb::ColumnFamilyHandle* Space(std::string_view name) {
    auto it = spaces_.find(std::string(name));
    return it == spaces_.end() ? nullptr : it->second;
  }

  std::unique_ptr<rocksdb::DB> db_;
  std::vector<rocksdb::ColumnFamilyHandle*> handles_;
  std::map<std::string, rocksdb::ColumnFamilyHandle*> spaces_;
};

}  // namespace

Result<std::unique_ptr<Backend>> OpenRocksDb(const RocksDbOptions& options) {
  return RocksDbBackend::Open(options);
}

}  // namespace civitas::storage
