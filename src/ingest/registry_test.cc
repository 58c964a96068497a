#include "ingest/registry.h"

#include <gtest/gtest.h>

#include <map>

namespace civitas::ingest {
namespace {

Json J(std::string_view text) {
  auto j = ParseJson(text);
  EXPECT_TRUE(j.ok()) << text;
  return j.ok() ? *j : Json();
}

// An in-memory stand-in for the store's meta records.
struct FakeMeta {
  std::map<std::string, std::string> records;
  bool fail = false;
  int batches = 0;
  RegistryPersistence persistence() {
    return {[this](const std::string& k, const std::string& v) {
              if (fail) return Status::Internal("disk full");
              records[k] = v;
              return Status::Ok();
            },
            [this](const std::string& k) {
              records.erase(k);
              return Status::Ok();
            },
            [this](const std::vector<std::pair<std::string, std::string>>& rs) {
              if (fail) return Status::Internal("disk full");
              ++batches;
              for (const auto& [k, v] : rs) records[k] = v;
              return Status::Ok();
            }};
  }
};

ServiceGroup Group(std::string_view json, Scope scope = {"city", "/"}) {
  auto g = ParseServiceGroup(J(json), scope);
  EXPECT_TRUE(g.ok()) << g.status().detail();
  return *g;
}

Device Dev(std::string_view json, Scope scope = {"city", "/"}) {
  auto d = ParseDevice(J(json), scope);
  EXPECT_TRUE(d.ok()) << d.status().detail();
  return *d;
}

TEST(Registry, CrudAndDuplicates) {
  FakeMeta meta;
  Registry r(meta.persistence());
  ASSERT_TRUE(r.AddGroups({Group(R"({"apikey": "k1", "resource": "/iot/json"})")}).ok());
  EXPECT_EQ(r.AddGroups({Group(R"({"apikey": "k1", "resource": "/iot/json"})")}).code(),
            ErrorCode::kAlreadyExists);
  // Same apikey and resource in another service is another group.
  EXPECT_TRUE(r.AddGroups({Group(R"({"apikey": "k1", "resource": "/iot/json"})", {"other", "/"})}).ok());
  EXPECT_EQ(r.ListGroups({"city", "/"}, std::nullopt, std::nullopt).size(), 1u);
  EXPECT_EQ(r.ListGroups({"city", "/"}, "/iot/d", std::nullopt).size(), 0u);
  EXPECT_TRUE(r.UpdateGroup({"city", "/"}, "/iot/json", "k1", J(R"({"entity_type": "Sensor"})")).ok());
  EXPECT_EQ(r.ListGroups({"city", "/"}, std::nullopt, "k1")[0]->entity_type, "Sensor");
  EXPECT_EQ(r.UpdateGroup({"city", "/"}, "/iot/json", "nope", J("{}")).code(),
            ErrorCode::kResourceNotFound);

  ASSERT_TRUE(r.AddDevices({Dev(R"({"device_id": "d1"})"), Dev(R"({"device_id": "d2"})")}).ok());
  // All or nothing: d3 is not added because d1 exists.
  EXPECT_EQ(r.AddDevices({Dev(R"({"device_id": "d3"})"), Dev(R"({"device_id": "d1"})")}).code(),
            ErrorCode::kAlreadyExists);
  EXPECT_EQ(r.GetDevice({"city", "/"}, "d3"), nullptr);
  EXPECT_EQ(r.ListDevices({"city", "/"}).size(), 2u);
  EXPECT_EQ(r.ListDevices({"city", "/other"}).size(), 0u);
  EXPECT_TRUE(r.DeleteDevice({"city", "/"}, "d2").ok());
  EXPECT_EQ(r.DeleteDevice({"city", "/"}, "d2").code(), ErrorCode::kResourceNotFound);
  EXPECT_TRUE(r.DeleteGroup({"other", "/"}, "/iot/json", "k1").ok());
  EXPECT_EQ(meta.records.size(), 2u);  // one group, one device
}

TEST(Registry, ABatchOfDevicesIsOneDurableWriteAndNothingOnFailure) {
  FakeMeta meta;
  Registry r(meta.persistence());
  std::vector<Device> many;
  for (int i = 0; i < 50; ++i) many.push_back(Dev("{\"device_id\": \"d" + std::to_string(i) + "\"}"));
  ASSERT_TRUE(r.AddDevices(many).ok());
  EXPECT_EQ(meta.batches, 1);
  EXPECT_EQ(meta.records.size(), 50u);
  meta.fail = true;
  EXPECT_EQ(r.AddDevices({Dev(R"({"device_id": "x1"})"), Dev(R"({"device_id": "x2"})")}).code(),
            ErrorCode::kInternalError);
  EXPECT_EQ(r.GetDevice({"city", "/"}, "x1"), nullptr);  // not visible when not durable
  EXPECT_EQ(r.ListDevices({"city", "/"}).size(), 50u);
}

TEST(Registry, RestoresFromItsRecords) {
  FakeMeta meta;
  {
    Registry r(meta.persistence());
    ASSERT_TRUE(r.AddGroups({Group(R"({"apikey": "k1", "entity_type": "Sensor"})", {"city", "/air"})}).ok());
    ASSERT_TRUE(r.AddDevices({Dev(R"({"device_id": "d1", "attributes": [{"object_id": "t", "name": "temperature", "type": "Number"}]})", {"city", "/air"})}).ok());
  }
  Registry again(meta.persistence());
  for (const auto& [k, v] : meta.records) ASSERT_TRUE(again.Restore(k, v).ok()) << k;
  auto d = again.GetDevice({"city", "/air"}, "d1");
  ASSERT_NE(d, nullptr);
  EXPECT_EQ(d->attributes[0].name, "temperature");
  auto res = again.Resolve("k1", "d1");
  ASSERT_EQ(res.miss, Registry::Miss::kNone);
  EXPECT_EQ(res.device.group->entity_type, "Sensor");
  EXPECT_FALSE(again.Restore("iot/g/x", "{not json").ok());
}

TEST(Registry, ResolveByApikeyAndDevice) {
  FakeMeta meta;
  Registry r(meta.persistence());
  ASSERT_TRUE(r.AddGroups({Group(R"({"apikey": "k1"})"), Group(R"({"apikey": "k2"})", {"city", "/b"})}).ok());
  ASSERT_TRUE(r.AddDevices({Dev(R"({"device_id": "d1"})"),
                            Dev(R"({"device_id": "own", "apikey": "private"})")}).ok());
  EXPECT_EQ(r.Resolve("k1", "d1").miss, Registry::Miss::kNone);
  EXPECT_EQ(r.Resolve("k2", "d1").miss, Registry::Miss::kWrongApikey);  // d1 is in k1's scope
  EXPECT_EQ(r.Resolve("zz", "d1").miss, Registry::Miss::kWrongApikey);
  EXPECT_EQ(r.Resolve("zz", "d9").miss, Registry::Miss::kUnknownApikey);
  EXPECT_EQ(r.Resolve("k1", "d9").miss, Registry::Miss::kUnknownDevice);  // autoprovision off
  EXPECT_EQ(r.Resolve("private", "own").miss, Registry::Miss::kNone);
  EXPECT_EQ(r.Resolve("k1", "own").miss, Registry::Miss::kWrongApikey);
}

TEST(Registry, AutoprovisionCreatesTheDeviceDurably) {
  FakeMeta meta;
  Registry r(meta.persistence());
  ASSERT_TRUE(r.AddGroups({Group(R"({"apikey": "k1", "autoprovision": true, "entity_type": "Sensor"})",
                                 {"city", "/air"})}).ok());
  auto res = r.Resolve("k1", "new1");
  ASSERT_EQ(res.miss, Registry::Miss::kNone);
  EXPECT_TRUE(res.provisioned);
  EXPECT_EQ(res.device.device->scope.service, "city");
  EXPECT_EQ(res.device.device->scope.subservice, "/air");
  EXPECT_NE(r.GetDevice({"city", "/air"}, "new1"), nullptr);
  EXPECT_EQ(meta.records.size(), 2u);
  auto second = r.Resolve("k1", "new1");
  EXPECT_FALSE(second.provisioned);
  meta.fail = true;
  EXPECT_EQ(r.Resolve("k1", "new2").miss, Registry::Miss::kStoreError);
  EXPECT_EQ(r.GetDevice({"city", "/air"}, "new2"), nullptr);
}

}  // namespace
}  // namespace civitas::ingest
