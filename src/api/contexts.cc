// The /jsonldContexts API (clause 5.13). The registry implements the semantics; this maps
// parameters and results to HTTP.
#include "api/broker.h"
#include "api/problem.h"

namespace civitas::api {
namespace {

// A boolean query parameter: absent gives false; anything but true/false is an error.
Result<bool> BoolParam(const QueryParams& p, std::string_view name) {
  auto v = p.Get(name);
  if (!v || *v == "false") return false;
  if (*v == "true") return true;
  return Status::BadRequest(std::string(name) + " must be true or false");
}

}  // namespace

void Broker::ListContexts(const CallPtr& call) {
  auto details = BoolParam(call->params, "details");
  if (!details.ok()) return Fail(call, details.status());
  std::string kind(call->params.Get("kind").value_or(""));
  if (!kind.empty() && !jsonld::IsContextKind(kind)) {
    return Fail(call, Status::BadRequest("kind must be Hosted, Cached or ImplicitlyCreated"));
  }
  http::Response r;
  r.AddHeader("Content-Type", "application/json");
  r.body = ToJsonString(contexts_.List(*details, kind, call->rc.tenant));
  call->respond(Decorate(*call, std::move(r)));
}

void Broker::AddContext(const CallPtr& call) {
  auto id = contexts_.AddHosted(call->body, call->rc.tenant);
  if (!id.ok()) return Fail(call, id.status());
  http::Response r;
  r.status = 201;
  r.AddHeader("Location", std::string(jsonld::kJsonldContextsPath) + *id);
  call->respond(Decorate(*call, std::move(r)));
}

void Broker::GetContext(const CallPtr& call) {
  auto details = BoolParam(call->params, "details");
  if (!details.ok()) return Fail(call, details.status());
  auto doc = contexts_.Get(call->segments[1], *details, call->rc.tenant);
  if (!doc.ok()) return Fail(call, doc.status());
  http::Response r;
  r.AddHeader("Content-Type", "application/json");
  r.body = ToJsonString(*doc);
  call->respond(Decorate(*call, std::move(r)));
}

void Broker::DeleteContext(const CallPtr& call) {
  auto reload = BoolParam(call->params, "reload");
  if (!reload.ok()) return Fail(call, reload.status());
  Status st = contexts_.Delete(call->segments[1], *reload, call->rc.tenant);
  if (!st.ok()) return Fail(call, st);
  ReplyEmpty(call, 204);
}

}  // namespace civitas::api
