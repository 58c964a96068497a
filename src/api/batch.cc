// Batch entity operations (clauses 5.6.7-5.6.10 and 5.6.20): every entity of the request is one
// WriteOp, and all of them are committed in one group commit. An invalid entity fails only
// itself.
#include "api/broker.h"
#include "api/negotiation.h"
#include "api/problem.h"
#include "ngsild/ops.h"
#include "ngsild/parse.h"

namespace civitas::api {
namespace {

using ngsild::Entity;
using ngsild::EntityFragment;
using ngsild::EntityPtr;
using storage::Outcome;
using storage::WriteOp;

enum class BatchKind { kCreate, kUpsert, kUpdate, kDelete, kMerge };

// The outcome of each entity of a batch, in request order.
struct Item {
  std::string id;
  Status status;         // a parse error, or filled from the store
  bool created = false;  // upsert: the entity did not exist
  bool partial = false;  // update with noOverwrite: some attributes were left as they were
  bool submitted = false;
};

Json BatchResult(const std::vector<Item>& items) {
  Json::Array success, errors;
  std::vector<std::string> seen;
  for (const auto& item : items) {
    if (item.status.ok()) {
      if (std::find(seen.begin(), seen.end(), item.id) == seen.end()) {
        seen.push_back(item.id);
        success.emplace_back(item.id);
      }
      continue;
    }
    Json e = Json::MakeObject();
    e.Set("entityId", item.id);
    e.Set("error", ProblemJson(item.status));
    errors.push_back(std::move(e));
  }
  Json out = Json::MakeObject();
  out.Set("success", Json(std::move(success)));
  out.Set("errors", Json(std::move(errors)));
  return out;
}

}  // namespace

void Broker::BatchOperation(const CallPtr& call) {
  const std::string& op = call->segments[1];
  BatchKind kind;
  if (op == "create")
    kind = BatchKind::kCreate;
  else if (op == "upsert")
    kind = BatchKind::kUpsert;
  else if (op == "update")
    kind = BatchKind::kUpdate;
  else if (op == "delete")
    kind = BatchKind::kDelete;
  else if (op == "merge")
    kind = BatchKind::kMerge;
  else
    return Fail(call, Status::NotFound("no entity operation '" + op + "'"));

  if (!call->body.is_array()) {
    return Fail(call, Status::InvalidRequest("the body of a batch operation must be an array"));
  }
  if (call->body.size() == 0) return Fail(call, Status::BadRequest("the batch is empty"));
  bool upsert_update = call->params.HasOption("update");
  bool no_overwrite = call->params.HasOption("noOverwrite");
  const std::string* ct = call->request.FindHeader("content-type");
  bool ld = ct != nullptr && MediaTypeOf(*ct) == "application/ld+json";

  auto items = std::make_shared<std::vector<Item>>(call->body.size());
  std::vector<WriteOp> ops;
  std::vector<size_t> op_item;  // ops[i] reports into (*items)[op_item[i]]
  for (size_t i = 0; i < call->body.size(); ++i) {
    const Json& element = call->body.as_array()[i];
    Item& item = (*items)[i];
    if (kind == BatchKind::kDelete) {
      if (!element.is_string() || !ngsild::IsUri(element.as_string())) {
        item.id = element.is_string() ? element.as_string() : "";
        item.status = Status::BadRequest("an entity id must be a URI");
        continue;
      }
      item.id = element.as_string();
      std::string id = item.id;
      ops.push_back({call->rc.tenant, id, [id](const EntityPtr& cur, Micros) -> Result<Outcome> {
                       if (!cur) return Status::NotFound("entity '" + id + "' does not exist");
                       return Outcome::Delete();
                     }});
      op_item.push_back(i);
      continue;
    }
    if (element.is_object()) item.id = std::string(element.GetString("id"));
    // The element's own @context (application/ld+json) or the request's.
    std::shared_ptr<const jsonld::Context> ctx = call->ctx;
    if (element.is_object()) {
      const Json* element_ctx = element.Find("@context");
      if (ld && element_ctx == nullptr) {
        item.status = Status::BadRequest("with application/ld+json every entity needs @context");
        continue;
      }
      if (!ld && element_ctx != nullptr) {
        item.status = Status::BadRequest("with application/json an entity cannot have @context");
        continue;
      }
      if (element_ctx != nullptr) {
        auto resolved = contexts_.Resolve(*element_ctx, call->rc.tenant);
        if (!resolved.ok()) {
          item.status = resolved.status();
          continue;
        }
        ctx = std::move(*resolved);
      }
    }
    ngsild::ParseOptions po;
    po.require_id_and_type = kind == BatchKind::kCreate || kind == BatchKind::kUpsert;
    po.partial = kind == BatchKind::kMerge;
    auto fragment = ngsild::ParseEntityBody(element, *ctx, po);
    if (!fragment.ok()) {
      item.status = fragment.status();
      continue;
    }
    if (fragment->id.empty()) {
      item.status = Status::BadRequest("the entity has no id");
      continue;
    }
    auto f = std::make_shared<EntityFragment>(std::move(*fragment));
    std::string id = f->id;
    auto* items_ptr = items.get();
    WriteOp wop{call->rc.tenant, id, nullptr};
    switch (kind) {
      case BatchKind::kCreate:
        wop.apply = [f](const EntityPtr& cur, Micros now) -> Result<Outcome> {
          if (cur) return Status::AlreadyExists("entity '" + f->id + "' already exists");
          return Outcome::Put(ngsild::CreateEntity(std::move(*f), now));
        };
        break;
      case BatchKind::kUpsert:
        wop.apply = [f, upsert_update, items_ptr, i](const EntityPtr& cur,
                                                     Micros now) -> Result<Outcome> {
          if (!cur) {
            (*items_ptr)[i].created = true;
            return Outcome::Put(ngsild::CreateEntity(std::move(*f), now));
          }
          Entity e = *cur;
          if (upsert_update) {
            ngsild::AppendAttributes(e, std::move(*f), false, now);
          } else {
            ngsild::ReplaceEntity(e, std::move(*f), now);
          }
          return Outcome::Put(std::move(e));
        };
        break;
      case BatchKind::kUpdate:
        wop.apply = [f, no_overwrite, items_ptr, i](const EntityPtr& cur,
                                                    Micros now) -> Result<Outcome> {
          if (!cur) return Status::NotFound("entity '" + f->id + "' does not exist");
          Entity e = *cur;
          bool changes_meta = !f->types.empty() || f->has_scope;
          auto r = ngsild::AppendAttributes(e, std::move(*f), no_overwrite, now);
          if (!r.all_ok()) (*items_ptr)[i].partial = true;
          if (r.updated.empty() && !changes_meta) return Outcome::None();
          return Outcome::Put(std::move(e));
        };
        break;
      case BatchKind::kMerge:
        wop.apply = [f](const EntityPtr& cur, Micros now) -> Result<Outcome> {
          if (!cur) return Status::NotFound("entity '" + f->id + "' does not exist");
          Entity e = *cur;
          CIVITAS_RETURN_IF_ERROR(ngsild::MergeEntity(e, std::move(*f), now));
          return Outcome::Put(std::move(e));
        };
        break;
      case BatchKind::kDelete:
        break;
    }
    ops.push_back(std::move(wop));
    op_item.push_back(i);
  }
  for (size_t i : op_item) (*items)[i].submitted = true;

  auto finish = [this, call, items, kind]() {
    bool all_ok = true, any_created = false;
    for (const auto& item : *items) {
      all_ok = all_ok && item.status.ok();
      any_created = any_created || item.created;
    }
    if (!all_ok) return Reply(call, 207, BatchResult(*items));
    if (kind == BatchKind::kCreate || (kind == BatchKind::kUpsert && any_created)) {
      Json::Array ids;
      std::vector<std::string> seen;
      for (const auto& item : *items) {
        if (kind == BatchKind::kUpsert && !item.created) continue;
        if (std::find(seen.begin(), seen.end(), item.id) != seen.end()) continue;
        seen.push_back(item.id);
        ids.emplace_back(item.id);
      }
      return Reply(call, 201, Json(std::move(ids)));
    }
    ReplyEmpty(call, 204);
  };
  if (ops.empty()) return finish();
  store_.Submit(std::move(ops), [items, op_item, finish](std::vector<Status> statuses) {
    for (size_t k = 0; k < statuses.size(); ++k) {
      Item& item = (*items)[op_item[k]];
      item.status = statuses[k];
      // The attributes that could be updated were; the entity still reports the others.
      if (item.status.ok() && item.partial) {
        item.status = Status::BadRequest("some attributes exist and noOverwrite was given");
      }
    }
    finish();
  });
}

}  // namespace civitas::api
