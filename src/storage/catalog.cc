#include "storage/catalog.h"

#include <set>

namespace civitas::storage {
namespace {

// Adds delta to m[key], erasing the entry when it reaches zero.
template <typename Map>
void Bump(Map& m, const std::string& key, int64_t delta) {
  auto it = m.try_emplace(key, 0).first;
  it->second += delta;
  if (it->second <= 0) m.erase(it);
}

// True if a and b contribute the same to the catalog: same types, same attributes in the same
// order with the same kinds.
bool SameShape(const ngsild::Entity& a, const ngsild::Entity& b) {
  if (a.types != b.types || a.attrs.size() != b.attrs.size()) return false;
  for (size_t i = 0; i < a.attrs.size(); ++i) {
    const auto& x = a.attrs[i];
    const auto& y = b.attrs[i];
    if (x.name != y.name || x.instances.size() != y.instances.size()) return false;
    for (size_t k = 0; k < x.instances.size(); ++k) {
      if (x.instances[k].GetString("type") != y.instances[k].GetString("type")) return false;
    }
  }
  return true;
}

}  // namespace

void Catalog::Update(std::string_view tenant, const ngsild::Entity* before,
                     const ngsild::Entity* after) {
  if (before != nullptr && after != nullptr && SameShape(*before, *after)) return;
  if (before != nullptr) Apply(tenant, *before, -1);
  if (after != nullptr) Apply(tenant, *after, +1);
}

void Catalog::Apply(std::string_view tenant_name, const ngsild::Entity& e, int sign) {
  std::lock_guard<std::mutex> lock(mu_);
  auto tit = tenants_.find(tenant_name);
  if (tit == tenants_.end()) tit = tenants_.emplace(std::string(tenant_name), Tenant{}).first;
  Tenant& t = tit->second;
  for (const auto& type : e.types) {
    TypeUse& use = t.types[type];
    use.entities += sign;
    for (const auto& slot : e.attrs) {
      std::set<std::string> kinds;
      for (const auto& inst : slot.instances) kinds.emplace(inst.GetString("type"));
      auto& per_kind = use.attributes[slot.name];
      for (const auto& k : kinds) Bump(per_kind, k, sign);
      if (per_kind.empty()) use.attributes.erase(slot.name);
    }
    if (use.entities <= 0) t.types.erase(type);
  }
  for (const auto& slot : e.attrs) {
    AttributeUse& use = t.attributes[slot.name];
    use.entities += sign;
    std::set<std::string> kinds;
    for (const auto& inst : slot.instances) kinds.emplace(inst.GetString("type"));
    for (const auto& k : kinds) Bump(use.kinds, k, sign);
    for (const auto& type : e.types) Bump(use.types, type, sign);
    if (use.entities <= 0) t.attributes.erase(slot.name);
  }
}

std::vector<std::string> Catalog::Types(std::string_view tenant) const {
  std::vector<std::string> out;
  for (const auto& [name, use] : AllTypes(tenant)) out.push_back(name);
  return out;
}

std::optional<Catalog::TypeUse> Catalog::Type(std::string_view tenant,
                                              std::string_view type) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto tit = tenants_.find(tenant);
  if (tit == tenants_.end()) return std::nullopt;
  auto it = tit->second.types.find(std::string(type));
  if (it == tit->second.types.end()) return std::nullopt;
  return it->second;
}

std::map<std::string, Catalog::TypeUse> Catalog::AllTypes(std::string_view tenant) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto tit = tenants_.find(tenant);
  if (tit == tenants_.end()) return {};
  return tit->second.types;
}

std::vector<std::string> Catalog::Attributes(std::string_view tenant) const {
  std::vector<std::string> out;
  for (const auto& [name, use] : AllAttributes(tenant)) out.push_back(name);
  return out;
}

std::optional<Catalog::AttributeUse> Catalog::Attribute(std::string_view tenant,
                                                        std::string_view attr) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto tit = tenants_.find(tenant);
  if (tit == tenants_.end()) return std::nullopt;
  auto it = tit->second.attributes.find(std::string(attr));
  if (it == tit->second.attributes.end()) return std::nullopt;
  return it->second;
}

std::map<std::string, Catalog::AttributeUse> Catalog::AllAttributes(
    std::string_view tenant) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto tit = tenants_.find(tenant);
  if (tit == tenants_.end()) return {};
  return tit->second.attributes;
}

}  // namespace civitas::storage
