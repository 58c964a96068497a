// Discovery (clauses 5.7.5-5.7.10): /types and /attributes, answered from the store's Catalog,
// which is kept exact by every commit.
#include <random>

#include "api/broker.h"
#include "api/problem.h"

namespace civitas::api {
namespace {

std::string RandomUrn(std::string_view kind) {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  char buf[40];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(rng()));
  return "urn:ngsi-ld:" + std::string(kind) + ":" + buf;
}

Json Strings(const std::vector<std::string>& v) {
  Json::Array a;
  for (const auto& s : v) a.emplace_back(s);
  return Json(std::move(a));
}

Json Keys(const std::map<std::string, int64_t>& m, const jsonld::Context* ctx) {
  Json::Array a;
  for (const auto& [k, n] : m) a.emplace_back(ctx ? ctx->Compact(k) : k);
  return Json(std::move(a));
}

}  // namespace

Status Broker::CheckTenantForRead(const Call& call) const {
  if (call.rc.tenant_given && !store_.HasTenant(call.rc.tenant)) {
    return Status(ErrorCode::kNonexistentTenant, "tenant '" + call.rc.tenant + "' does not exist");
  }
  return Status::Ok();
}

void Broker::ListTypes(const CallPtr& call) {
  if (Status st = CheckTenantForRead(*call); !st.ok()) return Fail(call, st);
  const jsonld::Context& ctx = *call->ctx;
  const auto& catalog = store_.catalog();
  if (call->params.Get("details").value_or("false") == "true") {
    Json::Array out;
    for (const auto& [type, use] : catalog.AllTypes(call->rc.tenant)) {
      Json t = Json::MakeObject();
      t.Set("id", type);
      t.Set("type", "EntityType");
      t.Set("typeName", ctx.Compact(type));
      Json::Array names;
      for (const auto& [attr, kinds] : use.attributes) names.emplace_back(ctx.Compact(attr));
      t.Set("attributeNames", Json(std::move(names)));
      out.push_back(std::move(t));
    }
    return Reply(call, 200, Json(std::move(out)));
  }
  Json list = Json::MakeObject();
  list.Set("id", RandomUrn("EntityTypeList"));
  list.Set("type", "EntityTypeList");
  Json::Array names;
  for (const auto& type : catalog.Types(call->rc.tenant)) names.emplace_back(ctx.Compact(type));
  list.Set("typeList", Json(std::move(names)));
  Reply(call, 200, list);
}

void Broker::GetType(const CallPtr& call) {
  if (Status st = CheckTenantForRead(*call); !st.ok()) return Fail(call, st);
  const jsonld::Context& ctx = *call->ctx;
  std::string type = ctx.Expand(call->segments[1]);
  auto use = store_.catalog().Type(call->rc.tenant, type);
  if (!use) return Fail(call, Status::NotFound("no entity has type '" + call->segments[1] + "'"));
  Json info = Json::MakeObject();
  info.Set("id", type);
  info.Set("type", "EntityTypeInfo");
  info.Set("typeName", ctx.Compact(type));
  info.Set("entityCount", Json(use->entities));
  Json::Array details;
  for (const auto& [attr, kinds] : use->attributes) {
    Json a = Json::MakeObject();
    a.Set("id", attr);
    a.Set("type", "Attribute");
    a.Set("attributeName", ctx.Compact(attr));
    a.Set("attributeTypes", Keys(kinds, nullptr));
    details.push_back(std::move(a));
  }
  info.Set("attributeDetails", Json(std::move(details)));
  Reply(call, 200, info);
}

void Broker::ListAttributes(const CallPtr& call) {
  if (Status st = CheckTenantForRead(*call); !st.ok()) return Fail(call, st);
  const jsonld::Context& ctx = *call->ctx;
  const auto& catalog = store_.catalog();
  if (call->params.Get("details").value_or("false") == "true") {
    Json::Array out;
    for (const auto& [attr, use] : catalog.AllAttributes(call->rc.tenant)) {
      Json a = Json::MakeObject();
      a.Set("id", attr);
      a.Set("type", "Attribute");
      a.Set("attributeName", ctx.Compact(attr));
      a.Set("typeNames", Keys(use.types, &ctx));
      out.push_back(std::move(a));
    }
    return Reply(call, 200, Json(std::move(out)));
  }
  Json list = Json::MakeObject();
  list.Set("id", RandomUrn("AttributeList"));
  list.Set("type", "AttributeList");
  Json::Array names;
  for (const auto& attr : catalog.Attributes(call->rc.tenant))
    names.emplace_back(ctx.Compact(attr));
  list.Set("attributeList", Json(std::move(names)));
  Reply(call, 200, list);
}

void Broker::GetAttribute(const CallPtr& call) {
  if (Status st = CheckTenantForRead(*call); !st.ok()) return Fail(call, st);
  const jsonld::Context& ctx = *call->ctx;
  std::string attr = ctx.Expand(call->segments[1]);
  auto use = store_.catalog().Attribute(call->rc.tenant, attr);
  if (!use) {
    return Fail(call, Status::NotFound("no entity has attribute '" + call->segments[1] + "'"));
  }
  Json a = Json::MakeObject();
  a.Set("id", attr);
  a.Set("type", "Attribute");
  a.Set("attributeName", ctx.Compact(attr));
  a.Set("attributeCount", Json(use->entities));
  a.Set("attributeTypes", Keys(use->kinds, nullptr));
  a.Set("typeNames", Keys(use->types, &ctx));
  Reply(call, 200, a);
}

}  // namespace civitas::api
