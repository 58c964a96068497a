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
  WriteOp op{call->rc.tenant, id, [f](const EntityPtr& current, Micros now) -> Result<Outcome> {
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
      return Fail(call,
                  Status::NotFound("entity '" + id + "' has none of the attributes asked for"));
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

void Broker::ModifyEntity(const CallPtr& call, const std::string& id, Mutation mutate,
                          std::function<void(const CallPtr&)> on_ok) {
  WriteOp op{
      call->rc.tenant, id,
      [id, mutate = std::move(mutate)](const EntityPtr& current, Micros now) -> Result<Outcome> {
        if (!current) return NotFoundEntity(id);
        Entity e = *current;
        auto changed = mutate(e, now);
        if (!changed.ok()) return changed.status();
        if (!*changed) return Outcome::None();
        return Outcome::Put(std::move(e));
      }};
  SubmitOne(call, std::move(op), std::move(on_ok));
}

void Broker::ReplaceEntity(const CallPtr& call) {
  std::string id = call->segments[1];
  if (Status st = CheckEntityId(id); !st.ok()) return Fail(call, st);
  auto fragment = ngsild::ParseEntityBody(call->body, *call->ctx, {});
  if (!fragment.ok()) return Fail(call, fragment.status());
  if (Status st = CheckBodyId(*fragment, id); !st.ok()) return Fail(call, st);
  auto f = std::make_shared<EntityFragment>(std::move(*fragment));
  ModifyEntity(
      call, id,
      [f](Entity& e, Micros now) -> Result<bool> {
        ngsild::ReplaceEntity(e, std::move(*f), now);
        return true;
      },
      [this](const CallPtr& c) { ReplyEmpty(c, 204); });
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
  ModifyEntity(
      call, id,
      [f](Entity& e, Micros now) -> Result<bool> {
        CIVITAS_RETURN_IF_ERROR(ngsild::MergeEntity(e, std::move(*f), now));
        return true;
      },
      [this](const CallPtr& c) { ReplyEmpty(c, 204); });
}

void Broker::AppendAttrs(const CallPtr& call) { AppendOrUpdateAttrs(call, /*update=*/false); }

void Broker::UpdateAttrs(const CallPtr& call) { AppendOrUpdateAttrs(call, /*update=*/true); }

// POST (append) and PATCH (update) of /entities/{id}/attrs: 204, or 207 with the UpdateResult.
void Broker::AppendOrUpdateAttrs(const CallPtr& call, bool update) {
  std::string id = call->segments[1];
  if (Status st = CheckEntityId(id); !st.ok()) return Fail(call, st);
  auto fragment = ngsild::ParseEntityBody(call->body, *call->ctx, {});
  if (!fragment.ok()) return Fail(call, fragment.status());
  if (Status st = CheckBodyId(*fragment, id); !st.ok()) return Fail(call, st);
  auto f = std::make_shared<EntityFragment>(std::move(*fragment));
  bool no_overwrite = call->params.HasOption("noOverwrite");
  auto result = std::make_shared<ngsild::UpdateResult>();
  ModifyEntity(
      call, id,
      [f, update, no_overwrite, result](Entity& e, Micros now) -> Result<bool> {
        std::vector<std::string> types_before = e.types;
        Json scope_before = e.scope;
        *result = update ? ngsild::UpdateAttributes(e, std::move(*f), now)
                         : ngsild::AppendAttributes(e, std::move(*f), no_overwrite, now);
        return !result->updated.empty() || e.types != types_before || !(e.scope == scope_before);
      },
      [this, result](const CallPtr& c) {
        if (result->all_ok()) return ReplyEmpty(c, 204);
        Reply(c, 207, UpdateResultJson(*result));
      });
}

void Broker::PartialUpdateAttr(const CallPtr& call) { WriteAttribute(call, /*partial=*/true); }

void Broker::ReplaceAttr(const CallPtr& call) { WriteAttribute(call, /*partial=*/false); }

// PATCH (partial: merge into the instances) and PUT (replace them) of
// /entities/{id}/attrs/{attrId}; both need the attribute to exist.
void Broker::WriteAttribute(const CallPtr& call, bool partial) {
  std::string id = call->segments[1];
  if (Status st = CheckEntityId(id); !st.ok()) return Fail(call, st);
  auto name = ngsild::ExpandAttributeName(call->segments[3], *call->ctx);
  if (!name.ok()) return Fail(call, name.status());
  ngsild::ParseOptions po;
  po.partial = partial;
  auto instances = ngsild::ParseAttribute(*name, call->body, *call->ctx, po);
  if (!instances.ok()) return Fail(call, instances.status());
  auto inst = std::make_shared<std::vector<ngsild::Attribute>>(std::move(*instances));
  ModifyEntity(
      call, id,
      [inst, partial, name = *name](Entity& e, Micros now) -> Result<bool> {
        CIVITAS_RETURN_IF_ERROR(partial
                                    ? ngsild::PartialUpdateAttribute(e, name, std::move(*inst), now)
                                    : ngsild::ReplaceAttribute(e, name, std::move(*inst), now));
        return true;
      },
      [this](const CallPtr& c) { ReplyEmpty(c, 204); });
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
  ModifyEntity(
      call, id,
      [name, dataset, delete_all](Entity& e, Micros now) -> Result<bool> {
        CIVITAS_RETURN_IF_ERROR(ngsild::DeleteAttribute(e, name, dataset, delete_all, now));
        return true;
      },
      [this](const CallPtr& c) { ReplyEmpty(c, 204); });
}

}  // namespace civitas::api
