#include "ingest/registry.h"

#include <algorithm>
#include <mutex>
#include <set>

namespace civitas::ingest {
namespace {

// Separates the parts of a key; cannot occur in a service, path, apikey or device id that
// passed validation (control characters are rejected or, in headers, never arrive).
constexpr char kSep = '\x1f';
constexpr std::string_view kGroupRecord = "g/";
constexpr std::string_view kDeviceRecord = "d/";

std::string ScopePrefix(const Scope& s) { return s.service + kSep + s.subservice + kSep; }

}  // namespace

std::string Registry::GroupKey(const Scope& s, std::string_view resource,
                               std::string_view apikey) {
  return ScopePrefix(s) + std::string(resource) + kSep + std::string(apikey);
}

std::string Registry::DeviceKey(const Scope& s, std::string_view device_id) {
  return ScopePrefix(s) + std::string(device_id);
}

Status Registry::Restore(std::string_view key, std::string_view value) {
  auto json = ParseJson(value);
  if (!json.ok() || !json->is_object()) {
    return Status::Internal("corrupt provisioning record " + std::string(key));
  }
  Scope scope;
  scope.service = std::string(json->GetString("service"));
  std::string_view rest = key.substr(std::min(key.size(), kMetaPrefix.size()));
  std::unique_lock lock(mu_);
  if (rest.substr(0, kGroupRecord.size()) == kGroupRecord) {
    scope.subservice = std::string(json->GetString("subservice"));
    auto g = ParseServiceGroup(*json, scope);
    if (!g.ok()) return Status::Internal("provisioning record " + std::string(key) + ": " +
                                         g.status().detail());
    auto ptr = std::make_shared<const ServiceGroup>(std::move(*g));
    groups_[GroupKey(ptr->scope, ptr->resource, ptr->apikey)] = ptr;
    return Status::Ok();
  }
  if (rest.substr(0, kDeviceRecord.size()) == kDeviceRecord) {
    scope.subservice = std::string(json->GetString("service_path"));
    auto d = ParseDevice(*json, scope);
    if (!d.ok()) return Status::Internal("provisioning record " + std::string(key) + ": " +
                                         d.status().detail());
    auto ptr = std::make_shared<const Device>(std::move(*d));
    std::string dk = DeviceKey(ptr->scope, ptr->device_id);
    if (auto old = devices_.find(dk); old != devices_.end()) UnindexDeviceLocked(*old->second);
    devices_[dk] = ptr;
    IndexDeviceLocked(ptr);
    return Status::Ok();
  }
  return Status::Internal("unknown provisioning record " + std::string(key));
}

Status Registry::AddGroups(std::vector<ServiceGroup> groups) {
  std::unique_lock lock(mu_);
  std::set<std::string> seen;
  for (const auto& g : groups) {
    std::string k = GroupKey(g.scope, g.resource, g.apikey);
    if (groups_.count(k) != 0 || !seen.insert(k).second) {
      return Status::AlreadyExists("a service group with apikey " + g.apikey + " and resource " +
                                   (g.resource.empty() ? "\"\"" : g.resource) +
                                   " already exists in this service");
    }
  }
  // Durable first (all of them in one write), then visible.
  std::vector<std::pair<std::string, std::string>> records;
  for (const auto& g : groups) {
    records.emplace_back(std::string(kMetaPrefix) + std::string(kGroupRecord) +
                             GroupKey(g.scope, g.resource, g.apikey),
                         ToJsonString(ToJson(g)));
  }
  CIVITAS_RETURN_IF_ERROR(PutAll(records));
  for (auto& g : groups) {
    auto ptr = std::make_shared<const ServiceGroup>(std::move(g));
    groups_[GroupKey(ptr->scope, ptr->resource, ptr->apikey)] = std::move(ptr);
  }
  return Status::Ok();
}

std::vector<std::shared_ptr<const ServiceGroup>> Registry::ListGroups(
    const Scope& scope, std::optional<std::string_view> resource,
    std::optional<std::string_view> apikey) const {
  std::shared_lock lock(mu_);
  std::vector<GroupPtr> out;
  std::string prefix = ScopePrefix(scope);
  for (auto it = groups_.lower_bound(prefix);
       it != groups_.end() && it->first.compare(0, prefix.size(), prefix) == 0; ++it) {
    if (resource && it->second->resource != *resource) continue;
    if (apikey && it->second->apikey != *apikey) continue;
    out.push_back(it->second);
  }
  return out;
}

Status Registry::UpdateGroup(const Scope& scope, std::string_view resource,
                             std::string_view apikey, const Json& body) {
  std::unique_lock lock(mu_);
  std::string k = GroupKey(scope, resource, apikey);
  auto it = groups_.find(k);
  if (it == groups_.end()) {
    return Status::NotFound("no service group with apikey " + std::string(apikey) +
                            " and resource " + std::string(resource));
  }
  auto updated = UpdateServiceGroup(*it->second, body);
  if (!updated.ok()) return updated.status();
  auto ptr = std::make_shared<const ServiceGroup>(std::move(*updated));
  CIVITAS_RETURN_IF_ERROR(persistence_.put(std::string(kMetaPrefix) + std::string(kGroupRecord) + k,
                                           ToJsonString(ToJson(*ptr))));
  it->second = std::move(ptr);
  return Status::Ok();
}

Status Registry::DeleteGroup(const Scope& scope, std::string_view resource,
                             std::string_view apikey) {
  std::unique_lock lock(mu_);
  std::string k = GroupKey(scope, resource, apikey);
  auto it = groups_.find(k);
  if (it == groups_.end()) {
    return Status::NotFound("no service group with apikey " + std::string(apikey) +
                            " and resource " + std::string(resource));
  }
  CIVITAS_RETURN_IF_ERROR(
      persistence_.remove(std::string(kMetaPrefix) + std::string(kGroupRecord) + k));
  groups_.erase(it);
  return Status::Ok();
}

Status Registry::PutAll(const std::vector<std::pair<std::string, std::string>>& records) {
  if (persistence_.put_many) return persistence_.put_many(records);
  for (const auto& [key, value] : records) CIVITAS_RETURN_IF_ERROR(persistence_.put(key, value));
  return Status::Ok();
}

void Registry::IndexDeviceLocked(const DevicePtr& d) { by_device_id_[d->device_id].push_back(d); }

void Registry::UnindexDeviceLocked(const Device& d) {
  auto it = by_device_id_.find(d.device_id);
  if (it == by_device_id_.end()) return;
  auto& v = it->second;
  v.erase(std::remove_if(v.begin(), v.end(), [&](const DevicePtr& p) { return p.get() == &d; }),
          v.end());
  if (v.empty()) by_device_id_.erase(it);
}

Status Registry::AddDevices(std::vector<Device> devices) {
  std::unique_lock lock(mu_);
  std::set<std::string> seen;
  for (const auto& d : devices) {
    std::string k = DeviceKey(d.scope, d.device_id);
    if (devices_.count(k) != 0 || !seen.insert(k).second) {
      return Status::AlreadyExists("a device with id " + d.device_id +
                                   " already exists in this service and service path");
    }
  }
  std::vector<std::pair<std::string, std::string>> records;
  for (const auto& d : devices) {
    records.emplace_back(
        std::string(kMetaPrefix) + std::string(kDeviceRecord) + DeviceKey(d.scope, d.device_id),
        ToJsonString(ToJson(d)));
  }
  CIVITAS_RETURN_IF_ERROR(PutAll(records));
  for (auto& d : devices) {
    auto ptr = std::make_shared<const Device>(std::move(d));
    devices_[DeviceKey(ptr->scope, ptr->device_id)] = ptr;
    IndexDeviceLocked(ptr);
  }
  return Status::Ok();
}

std::vector<std::shared_ptr<const Device>> Registry::ListDevices(const Scope& scope) const {
  std::shared_lock lock(mu_);
  std::vector<DevicePtr> out;
  std::string prefix = ScopePrefix(scope);
  for (auto it = devices_.lower_bound(prefix);
       it != devices_.end() && it->first.compare(0, prefix.size(), prefix) == 0; ++it) {
    out.push_back(it->second);
  }
  return out;
}

std::shared_ptr<const Device> Registry::GetDevice(const Scope& scope,
                                                  std::string_view device_id) const {
  std::shared_lock lock(mu_);
  auto it = devices_.find(DeviceKey(scope, device_id));
  return it == devices_.end() ? nullptr : it->second;
}

Status Registry::UpdateDevice(const Scope& scope, std::string_view device_id, const Json& body) {
  std::unique_lock lock(mu_);
  std::string k = DeviceKey(scope, device_id);
  auto it = devices_.find(k);
  if (it == devices_.end()) return Status::NotFound("no device with id " + std::string(device_id));
  auto updated = ingest::UpdateDevice(*it->second, body);
  if (!updated.ok()) return updated.status();
  auto ptr = std::make_shared<const Device>(std::move(*updated));
  CIVITAS_RETURN_IF_ERROR(persistence_.put(
      std::string(kMetaPrefix) + std::string(kDeviceRecord) + k, ToJsonString(ToJson(*ptr))));
  UnindexDeviceLocked(*it->second);
  it->second = ptr;
  IndexDeviceLocked(ptr);
  return Status::Ok();
}

Status Registry::DeleteDevice(const Scope& scope, std::string_view device_id) {
  std::unique_lock lock(mu_);
  std::string k = DeviceKey(scope, device_id);
  auto it = devices_.find(k);
  if (it == devices_.end()) return Status::NotFound("no device with id " + std::string(device_id));
  CIVITAS_RETURN_IF_ERROR(
      persistence_.remove(std::string(kMetaPrefix) + std::string(kDeviceRecord) + k));
  UnindexDeviceLocked(*it->second);
  devices_.erase(it);
  return Status::Ok();
}

Registry::GroupPtr Registry::GroupForDeviceLocked(const Device& d,
                                                  std::string_view apikey) const {
  std::string_view wanted = d.apikey.empty() ? apikey : std::string_view(d.apikey);
  std::string prefix = ScopePrefix(d.scope);
  for (auto it = groups_.lower_bound(prefix);
       it != groups_.end() && it->first.compare(0, prefix.size(), prefix) == 0; ++it) {
    if (it->second->apikey == wanted) return it->second;
  }
  return nullptr;
}

Registry::Resolution Registry::Resolve(std::string_view apikey, std::string_view device_id) {
  Resolution r;
  GroupPtr autoprovision_group;
  {
    std::shared_lock lock(mu_);
    bool any_device = false;
    if (auto it = by_device_id_.find(std::string(device_id)); it != by_device_id_.end()) {
      for (const DevicePtr& d : it->second) {
        any_device = true;
        GroupPtr g = GroupForDeviceLocked(*d, apikey);
        // A device's own apikey decides; without one, its group's must be the one used.
        if ((!d->apikey.empty() && d->apikey == apikey) || (d->apikey.empty() && g != nullptr)) {
          r.device = {d, g};
          return r;
        }
      }
    }
    GroupPtr group;
    for (const auto& [k, g] : groups_) {
      if (g->apikey == apikey) {
        group = g;
        break;
      }
    }
    if (group == nullptr) {
      r.miss = any_device ? Miss::kWrongApikey : Miss::kUnknownApikey;
      r.detail = any_device ? "device " + std::string(device_id) + " does not use apikey " +
                                  std::string(apikey)
                            : "no service group or device has apikey " + std::string(apikey);
      return r;
    }
    if (!group->autoprovision) {
      r.miss = any_device ? Miss::kWrongApikey : Miss::kUnknownDevice;
      r.detail = "device " + std::string(device_id) + " is not provisioned for apikey " +
                 std::string(apikey);
      return r;
    }
    autoprovision_group = group;
  }
  std::unique_lock lock(mu_);
  std::string k = DeviceKey(autoprovision_group->scope, device_id);
  if (auto it = devices_.find(k); it != devices_.end()) {  // provisioned meanwhile
    r.device = {it->second, GroupForDeviceLocked(*it->second, apikey)};
    return r;
  }
  Json body = Json::MakeObject();
  body.Set("device_id", device_id);
  auto d = ParseDevice(body, autoprovision_group->scope);
  if (!d.ok()) {
    r.miss = Miss::kUnknownDevice;
    r.detail = "cannot provision device " + std::string(device_id) + ": " + d.status().detail();
    return r;
  }
  auto ptr = std::make_shared<const Device>(std::move(*d));
  Status st = persistence_.put(std::string(kMetaPrefix) + std::string(kDeviceRecord) + k,
                               ToJsonString(ToJson(*ptr)));
  if (!st.ok()) {
    r.miss = Miss::kStoreError;
    r.detail = "cannot provision device " + std::string(device_id) + ": " + st.detail();
    return r;
  }
  devices_[k] = ptr;
  IndexDeviceLocked(ptr);
  r.device = {ptr, autoprovision_group};
  r.provisioned = true;
  return r;
}

size_t Registry::group_count() const {
  std::shared_lock lock(mu_);
  return groups_.size();
}

size_t Registry::device_count() const {
  std::shared_lock lock(mu_);
  return devices_.size();
}

}  // namespace civitas::ingest
