#include "api/iot.h"

#include <algorithm>
#include <cstdlib>
#include <memory>
#include <optional>
#include <utility>
#include <vector>

#include "common/json.h"

namespace civitas::api {
namespace {

using ingest::IngestOutcome;
using ingest::Scope;

// An IoT Agent error: {"name": NAME, "message": ...}.
http::Response Error(int status, std::string_view name, std::string_view message) {
  http::Response r;
  r.status = status;
  r.AddHeader("Content-Type", "application/json");
  Json body = Json::MakeObject();
  body.Set("name", name);
  body.Set("message", message);
  r.body = ToJsonString(body);
  return r;
}

http::Response JsonReply(int status, const Json& body) {
  http::Response r;
  r.status = status;
  r.AddHeader("Content-Type", "application/json");
  r.body = ToJsonString(body);
  return r;
}

http::Response Empty(int status) {
  http::Response r;
  r.status = status;
  return r;
}

struct Params {
  std::vector<std::pair<std::string, std::string>> items;
  std::optional<std::string_view> Get(std::string_view name) const {
    for (const auto& [k, v] : items) {
      if (k == name) return v;
    }
    return std::nullopt;
  }
};

// fiware-service: letters, digits and '_' (the IoT Agents' and Orion's rule), at most 50.
bool ValidService(std::string_view s) {
  if (s.size() > 50) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
  });
}

bool ValidServicePath(std::string_view s) {
  if (s.empty() || s[0] != '/' || s.size() > 256) return false;
  return std::all_of(s.begin(), s.end(), [](unsigned char c) { return c > 0x20 && c != 0x7f; });
}

Result<Scope> ScopeOf(const http::Request& req) {
  Scope scope;
  if (const std::string* s = req.FindHeader("fiware-service")) scope.service = *s;
  if (const std::string* p = req.FindHeader("fiware-servicepath"); p != nullptr && !p->empty()) {
    scope.subservice = *p;
  }
  if (!ValidService(scope.service)) {
    return Status::BadRequest("fiware-service must be letters, digits or '_' (at most 50)");
  }
  if (!ValidServicePath(scope.subservice)) {
    return Status::BadRequest("fiware-servicepath must start with '/'");
  }
  return scope;
}

// limit (default 20, as the IoT Agents) and offset of a listing.
Status Paging(const Params& params, size_t* limit, size_t* offset) {
  *limit = 20;
  *offset = 0;
  auto number = [](std::string_view s, size_t max, size_t* out) {
    if (s.empty() || s.size() > 9) return false;
    size_t v = 0;
    for (char c : s) {
      if (c < '0' || c > '9') return false;
      v = v * 10 + static_cast<size_t>(c - '0');
    }
    if (v > max) return false;
    *out = v;
    return true;
  };
  if (auto l = params.Get("limit"); l && !number(*l, 1000, limit)) {
    return Status::BadRequest("limit must be a number from 0 to 1000");
  }
  if (auto o = params.Get("offset"); o && !number(*o, 1000000000, offset)) {
    return Status::BadRequest("offset must be a non-negative number");
  }
  return Status::Ok();
}

http::Response FromStatus(const Status& st, std::string_view not_found,
                          std::string_view duplicate) {
  switch (st.code()) {
    case ErrorCode::kBadRequestData:
    case ErrorCode::kInvalidRequest:
      return Error(400, "WRONG_SYNTAX", st.detail());
    case ErrorCode::kResourceNotFound:
      return Error(404, not_found, st.detail());
    case ErrorCode::kAlreadyExists:
      return Error(409, duplicate, st.detail());
    case ErrorCode::kServiceUnavailable:
      return Error(503, "SERVICE_UNAVAILABLE", st.detail());
    default:
      return Error(500, "INTERNAL_ERROR", st.detail());
  }
}

// The array under `member` of a POST body ({"services": [...]} / {"devices": [...]}).
Result<const Json::Array*> Items(const Result<Json>& body, std::string_view member) {
  if (!body.ok()) return body.status();
  const Json* items = body->Find(member);
  if (items == nullptr || !items->is_array() || items->as_array().empty()) {
    return Status::BadRequest("the body must be an object with a non-empty \"" +
                              std::string(member) + "\" array");
  }
  return &items->as_array();
}

}  // namespace

IotApi::IotApi(ingest::Ingestor& ingestor, Metrics& metrics, size_t max_json_depth)
    : ingestor_(ingestor), metrics_(metrics), max_json_depth_(max_json_depth) {
  metric_services_ = metrics_.AddRoute("/iot/services");
  metric_devices_ = metrics_.AddRoute("/iot/devices");
  metric_device_ = metrics_.AddRoute("/iot/devices/{id}");
  metric_measures_ = metrics_.AddRoute("POST /iot/json|/iot/d");
  metric_other_ = metrics_.AddRoute("/iot other");
}

void IotApi::Handle(http::Request&& req, http::Responder respond) {
  const Micros start = NowMicros();
  int metric = metric_other_;
  // Every answer goes through here so that it is counted.
  auto reply = [this, start, &metric, &respond](http::Response r) {
    metrics_.Record(metric, r.status, NowMicros() - start);
    respond(std::move(r));
  };

  Params params;
  if (!http::ParseQuery(req.query, &params.items)) {
    reply(Error(400, "WRONG_SYNTAX", "malformed percent-encoding in the query"));
    return;
  }
  std::string_view path = req.path;
  if (path.size() > 1 && path.back() == '/') path.remove_suffix(1);
  const std::string& method = req.method;
  auto not_allowed = [&](std::string_view allow) {
    http::Response r = Error(405, "METHOD_NOT_ALLOWED", "use " + std::string(allow));
    r.AddHeader("Allow", std::string(allow));
    reply(std::move(r));
  };

  // Measures: the device is found by API key and id, not by the headers.
  if (path == "/iot/json" || path == "/iot/d") {
    metric = metric_measures_;
    const bool ul = path == "/iot/d";
    if (method != "POST" && !(ul && method == "GET")) {
      not_allowed(ul ? "POST, GET" : "POST");
      return;
    }
    auto k = params.Get("k");
    auto i = params.Get("i");
    if (!k || !i || k->empty() || i->empty()) {
      reply(Error(400, "MANDATORY_PARAMS_NOT_FOUND",
                  "the query parameters k (API key) and i (device id) are required"));
      return;
    }
    std::string payload;
    if (method == "GET") {
      auto d = params.Get("d");
      if (!d) {
        reply(Error(400, "MANDATORY_PARAMS_NOT_FOUND", "a GET measure needs the d parameter"));
        return;
      }
      payload = std::string(*d);
    } else {
      payload = std::move(req.body);
    }
    ingest::DeviceMessage m;
    m.transport = ingest::Transport::kHttp;
    m.format = ul ? ingest::PayloadFormat::kUltralight : ingest::PayloadFormat::kJson;
    m.apikey = std::string(*k);
    m.device_id = std::string(*i);
    m.payload = payload;
    m.received_at = start;
    // The completion may run later on the commit thread: it owns what it needs.
    auto shared_respond = std::make_shared<http::Responder>(std::move(respond));
    ingestor_.Ingest(m, [this, start, metric, shared_respond](ingest::IngestResult r) {
      http::Response resp;
      switch (r.outcome) {
        case IngestOutcome::kOk:
          resp = Empty(200);
          break;
        case IngestOutcome::kMalformed:
          resp = Error(400, "WRONG_SYNTAX", r.status.detail());
          break;
        case IngestOutcome::kUnknownApikey:
          resp = Error(404, "DEVICE_GROUP_NOT_FOUND", r.status.detail());
          break;
        case IngestOutcome::kUnknownDevice:
        case IngestOutcome::kWrongApikey:
          resp = Error(404, "DEVICE_NOT_FOUND", r.status.detail());
          break;
        case IngestOutcome::kStoreError:
          resp = FromStatus(r.status, "NOT_FOUND", "CONFLICT");
          break;
      }
      metrics_.Record(metric, resp.status, NowMicros() - start);
      (*shared_respond)(std::move(resp));
    });
    return;
  }

  if (path == "/iot/about") {
    if (method != "GET") return not_allowed("GET");
    Json about = Json::MakeObject();
    about.Set("libVersion", "civitas");
    about.Set("baseRoot", "/");
    about.Set("version", "civitas");
    reply(JsonReply(200, about));
    return;
  }

  auto scope = ScopeOf(req);
  const bool services = path == "/iot/services";
  const bool devices = path == "/iot/devices";
  const bool device = !services && !devices && path.substr(0, 13) == "/iot/devices/";
  if (!services && !devices && !device) {
    reply(Error(404, "NOT_FOUND", "no resource at " + std::string(path)));
    return;
  }
  metric = services ? metric_services_ : devices ? metric_devices_ : metric_device_;
  if (!scope.ok()) {
    reply(Error(400, "WRONG_SYNTAX", scope.status().detail()));
    return;
  }
  ingest::Registry& registry = ingestor_.registry();
  auto body = [&]() -> Result<Json> {
    auto j = ParseJson(req.body, max_json_depth_);
    if (!j.ok() || !j->is_object()) return Status::BadRequest("the body must be a JSON object");
    return j;
  };
  size_t limit = 0, offset = 0;

  if (services) {
    if (method == "POST") {
      Result<Json> parsed = body();  // owns what items points into
      auto items = Items(parsed, "services");
      if (!items.ok()) return reply(Error(400, "WRONG_SYNTAX", items.status().detail()));
      std::vector<ingest::ServiceGroup> groups;
      for (const Json& item : **items) {
        auto g = ingest::ParseServiceGroup(item, *scope);
        if (!g.ok()) return reply(Error(400, "WRONG_SYNTAX", g.status().detail()));
        groups.push_back(std::move(*g));
      }
      Status st = registry.AddGroups(std::move(groups));
      return reply(st.ok() ? Empty(201)
                           : FromStatus(st, "DEVICE_GROUP_NOT_FOUND", "DUPLICATE_GROUP"));
    }
    if (method == "GET") {
      if (Status st = Paging(params, &limit, &offset); !st.ok()) {
        return reply(Error(400, "WRONG_SYNTAX", st.detail()));
      }
      auto all = registry.ListGroups(*scope, params.Get("resource"), params.Get("apikey"));
      Json list = Json::MakeArray();
      for (size_t n = offset; n < all.size() && n < offset + limit; ++n) {
        list.Push(ingest::ToJson(*all[n]));
      }
      Json out = Json::MakeObject();
      out.Set("count", static_cast<int64_t>(all.size()));
      out.Set("services", std::move(list));
      return reply(JsonReply(200, out));
    }
    if (method == "PUT" || method == "DELETE") {
      auto apikey = params.Get("apikey");
      if (!apikey) {
        return reply(Error(400, "MANDATORY_PARAMS_NOT_FOUND", "the apikey parameter is required"));
      }
      // Without resource, the one group of the service with that API key.
      auto matches = registry.ListGroups(*scope, params.Get("resource"), apikey);
      if (matches.empty()) {
        return reply(Error(404, "DEVICE_GROUP_NOT_FOUND",
                           "no service group with apikey " + std::string(*apikey)));
      }
      if (matches.size() > 1) {
        return reply(Error(400, "MANDATORY_PARAMS_NOT_FOUND",
                           "several service groups use this apikey: give resource too"));
      }
      const std::string resource = matches[0]->resource;
      Status st;
      if (method == "PUT") {
        auto b = body();
        if (!b.ok()) return reply(Error(400, "WRONG_SYNTAX", b.status().detail()));
        st = registry.UpdateGroup(*scope, resource, *apikey, *b);
      } else {
        st = registry.DeleteGroup(*scope, resource, *apikey);
      }
      return reply(st.ok() ? Empty(204)
                           : FromStatus(st, "DEVICE_GROUP_NOT_FOUND", "DUPLICATE_GROUP"));
    }
    return not_allowed("GET, POST, PUT, DELETE");
  }

  if (devices) {
    if (method == "POST") {
      Result<Json> parsed = body();  // owns what items points into
      auto items = Items(parsed, "devices");
      if (!items.ok()) return reply(Error(400, "WRONG_SYNTAX", items.status().detail()));
      std::vector<ingest::Device> list;
      for (const Json& item : **items) {
        auto d = ingest::ParseDevice(item, *scope);
        if (!d.ok()) return reply(Error(400, "WRONG_SYNTAX", d.status().detail()));
        list.push_back(std::move(*d));
      }
      Status st = registry.AddDevices(std::move(list));
      return reply(st.ok() ? Empty(201)
                           : FromStatus(st, "DEVICE_NOT_FOUND", "DUPLICATE_DEVICE_ID"));
    }
    if (method == "GET") {
      if (Status st = Paging(params, &limit, &offset); !st.ok()) {
        return reply(Error(400, "WRONG_SYNTAX", st.detail()));
      }
      auto all = registry.ListDevices(*scope);
      Json list = Json::MakeArray();
      for (size_t n = offset; n < all.size() && n < offset + limit; ++n) {
        list.Push(ingest::ToJson(*all[n]));
      }
      Json out = Json::MakeObject();
      out.Set("count", static_cast<int64_t>(all.size()));
      out.Set("devices", std::move(list));
      return reply(JsonReply(200, out));
    }
    return not_allowed("GET, POST");
  }

  // /iot/devices/{id}
  std::string id;
  if (!http::PercentDecode(path.substr(13), &id, false) || id.empty() ||
      id.find('/') != std::string::npos) {
    return reply(Error(404, "DEVICE_NOT_FOUND", "no device at " + std::string(path)));
  }
  if (method == "GET") {
    auto d = registry.GetDevice(*scope, id);
    if (d == nullptr) return reply(Error(404, "DEVICE_NOT_FOUND", "no device with id " + id));
    return reply(JsonReply(200, ingest::ToJson(*d)));
  }
  if (method == "PUT") {
    auto b = body();
    if (!b.ok()) return reply(Error(400, "WRONG_SYNTAX", b.status().detail()));
    Status st = registry.UpdateDevice(*scope, id, *b);
    return reply(st.ok() ? Empty(204) : FromStatus(st, "DEVICE_NOT_FOUND", "DUPLICATE_DEVICE_ID"));
  }
  if (method == "DELETE") {
    Status st = registry.DeleteDevice(*scope, id);
    return reply(st.ok() ? Empty(204) : FromStatus(st, "DEVICE_NOT_FOUND", "DUPLICATE_DEVICE_ID"));
  }
  not_allowed("GET, PUT, DELETE");
}

}  // namespace civitas::api
