// Entity and attribute operations of clause 5.6 (provision) and 5.7.1 (retrieve).
#include "api/broker.h"
#include "api/negotiation.h"
#include "api/options.h"
#include "api/problem.h"
#include "ngsild/ops.h"
#include "ngsild/parse.h"
#include "ngsild/projection.h"
#include "ngsild/render.h"

namespace civitas::api {
namespace {

using ngsild::Entity;
using ngsild::EntityFragment;
using ngsild::EntityPtr;
using storage::Outcome;
using storage::WriteOp;

Status NotFoundEntity(const std::string& id) {
  return Status::NotFound("entity '" + id + "' does not exist");
}

// Renders an UpdateResult (clause 5.2.18). The names are expanded IRIs: an UpdateResult carries
// no @context, and the ETSI conformance suite expects them so.
Json UpdateResultJson(const ngsild::UpdateResult& r) {
  Json out = Json::MakeObject();
  Json::Array updated;
  for (const auto& name : r.updated) updated.emplace_back(name);
  out.Set("updated", Json(std::move(updated)));
  Json::Array not_updated;
  for (const auto& [name, reason] : r.not_updated) {
    Json item = Json::MakeObject();
    item.Set("attributeName", name);
    item.Set("reason", reason);
    not_updated.push_back(std::move(item));
  }
  out.Set("notUpdated", Json(std::move(not_updated)));
  return out;
}

// Checks that a body's id (if any) matches the id in the path.
Status CheckBodyId(const EntityFragment& f, const std::string& id) {
  if (!f.id.empty() && f.id != id) {
    return Status::BadRequest("the id in the body differs from the id in the path");
  }
  return Status::Ok();
}

Status CheckEntityId(const std::string& id) {
  if (!ngsild::IsUri(id)) return Status::BadRequest("the entity id '" + id + "' is not a URI");
  return Status::Ok();
}

}  // namespace

void Broker::CreateEntity(const CallPtr& call) {
  ngsild::ParseOptions po;
  po.require_id_and_type = true;
  auto fragment = ngsild::ParseEntityBody(call->body, *call->ctx, po);
  if (!fragment.ok()) return Fail(call, fragment.status());
  auto f = std::make_shared<EntityFragment>(std::move(*fragment));
  std::string id = f->id;
  WriteOp op{call->rc.tenant, id,
             [f](const EntityPtr& current, Micros now) -> Result<Outcome> {
               if (current) return Status::AlreadyExists("entity '" + f->id + "' already exists");
               return Outcome::Put(ngsild::CreateEntity(std::move(*f), now));
             }};
  SubmitOne(call, std::move(op), [this, id](const CallPtr& c) {
    http::Response r;
    r.status = 201;
    r.AddHeader("Location", "/ngsi-ld/v1/entities/" + id);
    c->respond(Decorate(*c, std::move(r)));
  });
}

void Broker::RetrieveEntity(const CallPtr& call) {
  const std::string& id = call->segments[1];
  if (Status st = CheckEntityId(id); !st.ok()) return Fail(call, st);
  auto options = RenderOptionsFor(*call);
  if (!options.ok()) return Fail(call, options.status());
  if (call->rc.tenant_given && !store_.HasTenant(call->rc.tenant)) {
    return Fail(call, Status(ErrorCode::kNonexistentTenant,
                             "tenant '" + call->rc.tenant + "' does not exist"));
  }
  EntityPtr e = store_.Get(call->rc.tenant, id);
  if (!e) return Fail(call, NotFoundEntity(id));
  auto types = call->params.List("type");
  if (!types.empty()) {
    bool any = false;
    for (const auto& t : types) any = any || e->HasType(call->ctx->Expand(t));
    if (!any) return Fail(call, Status::NotFound("entity '" + id + "' has none of these types"));
  }
  if (!options->attrs.empty()) {
    bool any = false;
    for (const auto& a : options->attrs) any = any || e->FindSlot(a) != nullptr;
    if (!any) {
      return Fail(call, Status::NotFound("entity '" + id + "' has none of the attributes asked for"));
    }
  }
  const std::string tenant = call->rc.tenant;
  options->lookup = [this, tenant](const std::string& linked) {
    return store_.Get(tenant, linked);
  };
  if (call->accept == MediaType::kGeoJson) {
    auto gp = call->params.Get("geometryProperty");
    std::string geometry = call->ctx->Expand(gp ? *gp : "location");
    return Reply(call, 200, ngsild::RenderFeature(*e, *call->ctx, *options, geometry));
  }
  if (options->join == ngsild::Join::kFlat) {
    return Reply(call, 200, ngsild::RenderEntityFlat(*e, *call->ctx, *options));
  }
  Json body = ngsild::RenderEntity(*e, *call->ctx, *options);
  if (body.size() == (options->with_context ? 1u : 0u)) {
    return Fail(call, Status::NotFound("nothing of entity '" + id + "' is left after pick/omit"));
  }
  Reply(call, 200, body);
}

void Broker::DeleteEntity(const CallPtr& call) {
  std::string id = call->segments[1];
  if (Status st = CheckEntityId(id); !st.ok()) return Fail(call, st);
  WriteOp op{call->rc.tenant, id, [id](const EntityPtr& current, Micros) -> Result<Outcome> {
               if (!current) return NotFoundEntity(id);
               return Outcome::Delete();
             }};
  SubmitOne(call, std::move(op), [this](const CallPtr& c) { ReplyEmpty(c, 204); });
}

void Broker::ReplaceEntity(const CallPtr& call) {
  std::string id = call->segments[1];
  if (Status st = CheckEntityId(id); !st.ok()) return Fail(call, st);
  auto fragment = ngsild::ParseEntityBody(call->body, *call->ctx, {});
  if (!fragment.ok()) return Fail(call, fragment.status());
  if (Status st = CheckBodyId(*fragment, id); !st.ok()) return Fail(call, st);
  auto f = std::make_shared<EntityFragment>(std::move(*fragment));
  WriteOp op{call->rc.tenant, id, [f, id](const EntityPtr& current, Micros now) -> Result<Outcome> {
               if (!current) return NotFoundEntity(id);
               Entity e = *current;
               ngsild::ReplaceEntity(e, std::move(*f), now);
               return Outcome::Put(std::move(e));
             }};
  SubmitOne(call, std::move(op), [this](const CallPtr& c) { ReplyEmpty(c, 204); });
}

void Broker::MergeEntity(const CallPtr& call) {
  std::string id = call->segments[1];
  if (Status st = CheckEntityId(id); !st.ok()) return Fail(call, st);
  ngsild::ParseOptions po;
  po.partial = true;
  auto fragment = ngsild::ParseEntityBody(call->body, *call->ctx, po);
  if (!fragment.ok()) return Fail(call, fragment.status());
  if (Status st = CheckBodyId(*fragment, id); !st.ok()) return Fail(call, st);
  auto f = std::make_shared<EntityFragment>(std::move(*fragment));
  WriteOp op{call->rc.tenant, id, [f, id](const EntityPtr& current, Micros now) -> Result<Outcome> {
               if (!current) return NotFoundEntity(id);
               Entity e = *current;
               CIVITAS_RETURN_IF_ERROR(ngsild::MergeEntity(e, std::move(*f), now));
               return Outcome::Put(std::move(e));
             }};
  SubmitOne(call, std::move(op), [this](const CallPtr& c) { ReplyEmpty(c, 204); });
}

void Broker::AppendAttrs(const CallPtr& call) {
  std::string id = call->segments[1];
  if (Status st = CheckEntityId(id); !st.ok()) return Fail(call, st);
  auto fragment = ngsild::ParseEntityBody(call->body, *call->ctx, {});
  if (!fragment.ok()) return Fail(call, fragment.status());
  if (Status st = CheckBodyId(*fragment, id); !st.ok()) return Fail(call, st);
  auto f = std::make_shared<EntityFragment>(std::move(*fragment));
  bool no_overwrite = call->params.HasOption("noOverwrite");
  bool changes_meta = !f->types.empty() || f->has_scope;
  auto result = std::make_shared<ngsild::UpdateResult>();
  WriteOp op{call->rc.tenant, id,
             [f, id, no_overwrite, changes_meta, result](const EntityPtr& current,
                                                         Micros now) -> Result<Outcome> {
               if (!current) return NotFoundEntity(id);
               Entity e = *current;
               *result = ngsild::AppendAttributes(e, std::move(*f), no_overwrite, now);
               if (result->updated.empty() && !changes_meta) return Outcome::None();
               return Outcome::Put(std::move(e));
             }};
  SubmitOne(call, std::move(op), [this, result](const CallPtr& c) {
    if (result->all_ok()) return ReplyEmpty(c, 204);
    Reply(c, 207, UpdateResultJson(*result));
  });
}

void Broker::UpdateAttrs(const CallPtr& call) {
  std::string id = call->segments[1];
  if (Status st = CheckEntityId(id); !st.ok()) return Fail(call, st);
  auto fragment = ngsild::ParseEntityBody(call->body, *call->ctx, {});
  if (!fragment.ok()) return Fail(call, fragment.status());
  if (Status st = CheckBodyId(*fragment, id); !st.ok()) return Fail(call, st);
  auto f = std::make_shared<EntityFragment>(std::move(*fragment));
  bool changes_types = !f->types.empty();
  auto result = std::make_shared<ngsild::UpdateResult>();
  WriteOp op{call->rc.tenant, id,
             [f, id, result, changes_types](const EntityPtr& current,
                                            Micros now) -> Result<Outcome> {
               if (!current) return NotFoundEntity(id);
               Entity e = *current;
               *result = ngsild::UpdateAttributes(e, std::move(*f), now);
               bool scope_updated = f->has_scope && !current->scope.is_null();
               if (result->updated.empty() && !changes_types && !scope_updated) {
                 return Outcome::None();
               }
               return Outcome::Put(std::move(e));
             }};
  SubmitOne(call, std::move(op), [this, result](const CallPtr& c) {
    if (result->all_ok()) return ReplyEmpty(c, 204);
    Reply(c, 207, UpdateResultJson(*result));
  });
}

void Broker::PartialUpdateAttr(const CallPtr& call) {
  std::string id = call->segments[1];
  if (Status st = CheckEntityId(id); !st.ok()) return Fail(call, st);
  auto expanded = ngsild::ExpandAttributeName(call->segments[3], *call->ctx);
  if (!expanded.ok()) return Fail(call, expanded.status());
  std::string name = *expanded;
  ngsild::ParseOptions po;
  po.partial = true;
  auto instances = ngsild::ParseAttribute(name, call->body, *call->ctx, po);
  if (!instances.ok()) return Fail(call, instances.status());
  auto inst = std::make_shared<std::vector<ngsild::Attribute>>(std::move(*instances));
  WriteOp op{call->rc.tenant, id,
             [inst, id, name](const EntityPtr& current, Micros now) -> Result<Outcome> {
               if (!current) return NotFoundEntity(id);
               Entity e = *current;
               CIVITAS_RETURN_IF_ERROR(
                   ngsild::PartialUpdateAttribute(e, name, std::move(*inst), now));
               return Outcome::Put(std::move(e));
             }};
  SubmitOne(call, std::move(op), [this](const CallPtr& c) { ReplyEmpty(c, 204); });
}

void Broker::ReplaceAttr(const CallPtr& call) {
  std::string id = call->segments[1];
  if (Status st = CheckEntityId(id); !st.ok()) return Fail(call, st);
  auto expanded = ngsild::ExpandAttributeName(call->segments[3], *call->ctx);
  if (!expanded.ok()) return Fail(call, expanded.status());
  std::string name = *expanded;
  auto instances = ngsild::ParseAttribute(name, call->body, *call->ctx, {});
  if (!instances.ok()) return Fail(call, instances.status());
  auto inst = std::make_shared<std::vector<ngsild::Attribute>>(std::move(*instances));
  WriteOp op{call->rc.tenant, id,
             [inst, id, name](const EntityPtr& current, Micros now) -> Result<Outcome> {
               if (!current) return NotFoundEntity(id);
               Entity e = *current;
               CIVITAS_RETURN_IF_ERROR(ngsild::ReplaceAttribute(e, name, std::move(*inst), now));
               return Outcome::Put(std::move(e));
             }};
  SubmitOne(call, std::move(op), [this](const CallPtr& c) { ReplyEmpty(c, 204); });
}

void Broker::DeleteAttr(const CallPtr& call) {
  std::string id = call->segments[1];
  if (Status st = CheckEntityId(id); !st.ok()) return Fail(call, st);
  std::string name = "scope";
  if (call->segments[3] != "scope") {
    auto expanded = ngsild::ExpandAttributeName(call->segments[3], *call->ctx);
    if (!expanded.ok()) return Fail(call, expanded.status());
    name = *expanded;
  }
  std::string dataset(call->params.Get("datasetId").value_or(""));
  bool delete_all = call->params.Get("deleteAll").value_or("false") == "true";
  WriteOp op{call->rc.tenant, id,
             [id, name, dataset, delete_all](const EntityPtr& current,
                                             Micros now) -> Result<Outcome> {
               if (!current) return NotFoundEntity(id);
               Entity e = *current;
               CIVITAS_RETURN_IF_ERROR(ngsild::DeleteAttribute(e, name, dataset, delete_all, now));
               return Outcome::Put(std::move(e));
             }};
  SubmitOne(call, std::move(op), [this](const CallPtr& c) { ReplyEmpty(c, 204); });
}

}  // namespace civitas::api
