#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/json.h"
#include "common/status.h"
#include "ingest/mapping.h"
#include "ingest/provisioning.h"

namespace civitas::ingest {

// Durable records for the registry: the entity store's meta records in the server.
struct RegistryPersistence {
  std::function<Status(const std::string& key, const std::string& value)> put;
  std::function<Status(const std::string& key)> remove;
  // Several records atomically (one fsync for a whole POST of devices); optional: without it,
  // records are put one by one.
  std::function<Status(const std::vector<std::pair<std::string, std::string>>& records)> put_many;
};

// Every provisioned service group and device, in memory, written through to durable records
// (one per group or device, JSON, under kMetaPrefix) before a change is visible. Thread-safe:
// provisioning takes an exclusive lock, resolving measures a shared one.
class Registry {
 public:
  static constexpr std::string_view kMetaPrefix = "iot/";

  explicit Registry(RegistryPersistence persistence) : persistence_(std::move(persistence)) {}

  // Start-up: one durable record (key under kMetaPrefix, value as written). Fails on a record
  // that does not parse (a corrupt store should stop the server, not lose devices silently).
  Status Restore(std::string_view key, std::string_view value);

  // Groups are identified by (scope, resource, apikey), devices by (scope, device_id). Adding
  // is all-or-nothing: AlreadyExists if any exists (or appears twice in the request).
  Status AddGroups(std::vector<ServiceGroup> groups);
  // apikey / resource: filters, nullopt for any.
  std::vector<std::shared_ptr<const ServiceGroup>> ListGroups(
      const Scope& scope, std::optional<std::string_view> resource,
      std::optional<std::string_view> apikey) const;
  // NotFound when no group matches; BadRequestData for an invalid update.
  Status UpdateGroup(const Scope& scope, std::string_view resource, std::string_view apikey,
                     const Json& body);
  Status DeleteGroup(const Scope& scope, std::string_view resource, std::string_view apikey);

  Status AddDevices(std::vector<Device> devices);
  std::vector<std::shared_ptr<const Device>> ListDevices(const Scope& scope) const;
  std::shared_ptr<const Device> GetDevice(const Scope& scope, std::string_view device_id) const;
  Status UpdateDevice(const Scope& scope, std::string_view device_id, const Json& body);
  Status DeleteDevice(const Scope& scope, std::string_view device_id);

  // Why a measure found no device.
  enum class Miss { kNone, kUnknownApikey, kUnknownDevice, kWrongApikey, kStoreError };
  struct Resolution {
    ResolvedDevice device;  // set when miss == kNone
    Miss miss = Miss::kNone;
    bool provisioned = false;  // created now by autoprovisioning
    std::string detail;
  };
  // The device that sends with this API key and id: a device whose own apikey (or, without
  // one, its group's) is `apikey`. An unknown device of a group with autoprovision is
  // provisioned (durably) on the spot, in the group's scope.
  Resolution Resolve(std::string_view apikey, std::string_view device_id);

  size_t group_count() const;
  size_t device_count() const;

 private:
  using GroupPtr = std::shared_ptr<const ServiceGroup>;
  using DevicePtr = std::shared_ptr<const Device>;

  static std::string GroupKey(const Scope& s, std::string_view resource, std::string_view apikey);
  static std::string DeviceKey(const Scope& s, std::string_view device_id);
  GroupPtr GroupForDeviceLocked(const Device& d, std::string_view apikey) const;
  void IndexDeviceLocked(const DevicePtr& d);
  void UnindexDeviceLocked(const Device& d);
  Status PutAll(const std::vector<std::pair<std::string, std::string>>& records);

  RegistryPersistence persistence_;
  mutable std::shared_mutex mu_;
  std::map<std::string, GroupPtr> groups_;    // by GroupKey
  std::map<std::string, DevicePtr> devices_;  // by DeviceKey
  // device_id -> the devices with that id (in any scope), for resolving measures.
  std::unordered_map<std::string, std::vector<DevicePtr>> by_device_id_;
};

}  // namespace civitas::ingest
