// ContextRegistry: resolution of @context values, the remote document cache and the store of the
// /jsonldContexts API. One mutex guards all maps; it is never held while the fetcher or the
// persistence callbacks run, nor while a context is being built.

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <future>
#include <list>
#include <random>

#include "common/log.h"
#include "jsonld/context.h"
#include "jsonld/context_builder.h"
#include "jsonld/core_context.h"
#include "jsonld/iri.h"

namespace civitas::jsonld {
namespace {

using DocPtr = std::shared_ptr<const Json>;

// The localId under which the built-in core context is listed.
constexpr std::string_view kCoreLocalId = "core";

enum class Kind { kHosted, kCached, kImplicit };

std::string_view KindName(Kind k) {
  switch (k) {
    case Kind::kHosted:
      return "Hosted";
    case Kind::kCached:
      return "Cached";
    case Kind::kImplicit:
      return "ImplicitlyCreated";
  }
  return "";
}

// One stored context.
struct Entry {
  Kind kind = Kind::kCached;
  std::string local_id;
  std::string url;     // Cached: the URL it was fetched from
  std::string tenant;  // Hosted, ImplicitlyCreated
  DocPtr context;      // the "@context" value
  Micros created_at = 0;
  Micros last_usage = 0;
  Micros expires_at = 0;  // Cached: when to fetch again; 0: never
  int64_t hits = 0;
  bool pinned = false;      // Cached by Preload: never evicted nor expired
  std::string content_key;  // ImplicitlyCreated: tenant '\0' serialized value
};

void Touch(Entry& e, Micros now) {
  ++e.hits;
  e.last_usage = now;
}

Status NotAvailable(std::string detail) {
  return Status(ErrorCode::kLdContextNotAvailable, std::move(detail));
}

const char* ValueKind(const Json& v) {
  if (v.is_null()) return "null";
  if (v.is_bool()) return "a boolean";
  if (v.is_number()) return "a number";
  return "this value";
}

// The loader of a trial build: accepts every URL-shaped string without fetching it.
Result<DocPtr> TrialLoad(const std::string& url) {
  static const DocPtr kEmpty = std::make_shared<const Json>(Json::MakeObject());
  if (IsCoreContextUrl(url)) return DocPtr();
  bool relative = false;
  if (HostedContextId(url, &relative).has_value() || IsHttpUrl(url)) return kEmpty;
  return Status::BadRequest("invalid @context: '" + url.substr(0, 200) +
                            "' is not an absolute http(s) URL");
}

// Checks a @context value as far as possible without fetching anything: its shape and its term
// definitions. BadRequestData when invalid.
Status ValidateContextValue(const Json& value) {
  ContextBuilder builder(nullptr, TrialLoad, 1 << 20);
  Status st = builder.Process(value);
  if (!st.ok() && st.code() != ErrorCode::kBadRequestData) {
    return Status::BadRequest(st.detail());
  }
  return st;
}

// Parses a context document ({"@context": ...}) and validates its @context value. BadRequestData
// (or InvalidRequest from the JSON parser) when invalid.
Result<DocPtr> ParseContextDocument(std::string_view text, size_t max_bytes) {
  if (text.size() > max_bytes) {
    return Status::BadRequest("the document is larger than " + std::to_string(max_bytes) +
                              " bytes");
  }
  Result<Json> doc = ParseJson(text);
  if (!doc.ok()) return doc.status();
  if (!doc->is_object()) return Status::BadRequest("the document is not a JSON object");
  Json* value = doc->Find("@context");
  if (value == nullptr) return Status::BadRequest("the document has no \"@context\" member");
  CIVITAS_RETURN_IF_ERROR(ValidateContextValue(*value));
  return std::make_shared<const Json>(std::move(*value));
}

std::string ContentKey(std::string_view tenant, const Json& value) {
  std::string key(tenant);
  key.push_back('\0');
  AppendJson(key, value);
  return key;
}

}  // namespace

class ContextRegistry::Impl {
 public:
  Impl(Options options, ContextFetcher fetcher, ContextPersistence persistence);

  std::shared_ptr<const Context> Core() const { return core_; }
  Result<std::shared_ptr<const Context>> Resolve(const Json& value, std::string_view tenant);
  Status Preload(const std::string& url, const std::string& document);
  Result<std::string> StoreImplicit(const Json& value, std::string_view tenant);
  Result<std::string> AddHosted(const Json& body, std::string_view tenant);
  Json List(bool details, std::string_view kind, std::string_view tenant);
  Result<Json> Get(std::string_view id, bool details, std::string_view tenant);
  Status Delete(std::string_view id, bool reload, std::string_view tenant);
  Status Restore(const std::string& id, const std::string& record);

 private:
  // What one Resolve used: dependency keys ("C" core, "U"+url Cached, "L"+localId stored) and
  // the earliest expiry among them.
  struct Usage {
    std::vector<std::string> deps;
    Micros expires_at = 0;
    bool Add(std::string dep) {
      if (std::find(deps.begin(), deps.end(), dep) != deps.end()) return false;
      deps.push_back(std::move(dep));
      return true;
    }
    void Expires(Micros t) {
      if (t != 0 && (expires_at == 0 || t < expires_at)) expires_at = t;
    }
  };
  struct CachedSlot {
    Entry entry;
    std::list<std::string>::iterator lru;
  };
  struct Resolved {
    std::shared_ptr<const Context> ctx;
    std::vector<std::string> deps;
    Micros expires_at = 0;
    std::list<std::string>::iterator lru;
  };

  Micros Now() const { return options_.clock ? options_.clock() : NowMicros(); }
  Micros ExpiryFrom(Micros now) const {
    int64_t ttl = options_.cached_ttl.count();
    return ttl > 0 ? now + ttl * 1'000'000 : 0;
  }
  void CountCore(Micros now) {
    core_hits_.fetch_add(1, std::memory_order_relaxed);
    core_last_usage_.store(now, std::memory_order_relaxed);
  }

  Result<DocPtr> Load(const std::string& url, std::string_view tenant, Usage* usage);
  Result<DocPtr> LoadRemote(const std::string& url, Usage* usage);
  Result<DocPtr> FetchDocument(const std::string& url);  // no lock held

  std::string UrlOf(const Entry& e) const;
  Json DetailsOf(const Entry& e) const;
  Json CoreDetails() const;
  std::string NewIdLocked();
  Entry* FindLocalLocked(std::string_view id_or_url, std::string_view tenant);
  CachedSlot* FindCachedLocked(std::string_view id_or_url);
  Entry& InsertCachedLocked(const std::string& url, DocPtr doc, bool pinned, Micros now);
  void EraseCachedLocked(std::string url);  // by value: callers pass entry members
  void EraseLocalLocked(std::string id);    // by value: callers pass entry members
  void TouchDepLocked(const std::string& dep, Micros now);
  void InvalidateLocked(std::string_view dep);

  const Options options_;
  const ContextFetcher fetcher_;
  const ContextPersistence persistence_;
  std::shared_ptr<const Context> core_;
  Micros core_created_at_ = 0;
  std::atomic<int64_t> core_hits_{0};
  std::atomic<Micros> core_last_usage_{0};

  std::mutex mu_;
  std::mt19937_64 rng_;  // GUARDED_BY(mu_)
  // Cached documents by URL, most recently used first in cached_lru_.
  std::unordered_map<std::string, CachedSlot, StringHash, StringEq> cached_;
  std::list<std::string> cached_lru_;
  std::unordered_map<std::string, std::string, StringHash, StringEq> cached_by_id_;
  // Fetches under way; others asking for the same URL wait for them.
  std::unordered_map<std::string, std::shared_future<Result<DocPtr>>, StringHash, StringEq>
      inflight_;
  // Hosted and ImplicitlyCreated entries by localId.
  std::unordered_map<std::string, Entry, StringHash, StringEq> local_;
  std::unordered_map<std::string, std::string, StringHash, StringEq> implicit_by_content_;
  // Resolve cache by tenant '\0' serialized value, most recently used first.
  std::unordered_map<std::string, Resolved, StringHash, StringEq> resolved_;
  std::list<std::string> resolved_lru_;
  // Bumped whenever a stored entry is replaced or removed, so a build that raced with it does not
  // enter the Resolve cache.
  uint64_t generation_ = 0;
};

ContextRegistry::Impl::Impl(Options options, ContextFetcher fetcher, ContextPersistence persistence)
    : options_(std::move(options)),
      fetcher_(std::move(fetcher)),
      persistence_(std::move(persistence)),
      rng_(std::random_device{}()) {
  core_created_at_ = Now();
  Result<std::shared_ptr<Context>> core = ContextBuilder::BuildCore(CoreContextDocument());
  if (core.ok()) {
    core_ = std::move(core).value();
  } else {
    // Only a broken build can get here; keep working with the default vocabulary alone.
    Log(LogLevel::kError, "jsonld: the embedded core @context is invalid",
        {{"error", core.status().detail()}});
    ContextBuilder empty(nullptr, TrialLoad, 0);
    core_ = empty.Finish(Json(std::string(kCoreContextUrl)));
  }
}

Result<std::shared_ptr<const Context>> ContextRegistry::Impl::Resolve(const Json& value,
                                                                      std::string_view tenant) {
  Micros now = Now();
  if (value.is_null() || (value.is_string() && value.as_string() == kCoreContextUrl)) {
    CountCore(now);
    return core_;
  }
  std::string key = ContentKey(tenant, value);
  uint64_t generation;
  {
    std::lock_guard lock(mu_);
    if (auto it = resolved_.find(key); it != resolved_.end()) {
      Resolved& r = it->second;
      if (r.expires_at == 0 || now < r.expires_at) {
        resolved_lru_.splice(resolved_lru_.begin(), resolved_lru_, r.lru);
        for (const std::string& dep : r.deps) TouchDepLocked(dep, now);
        return r.ctx;
      }
      resolved_lru_.erase(r.lru);
      resolved_.erase(it);
    }
    generation = generation_;
  }

  // Report mistakes in the request's own value before fetching anything it refers to.
  CIVITAS_RETURN_IF_ERROR(ValidateContextValue(value));
  Usage usage;
  ContextBuilder builder(
      core_.get(),
      [this, tenant, &usage](const std::string& url) { return Load(url, tenant, &usage); },
      options_.max_remote_depth);
  CIVITAS_RETURN_IF_ERROR(builder.Process(value));
  std::shared_ptr<const Context> ctx = builder.Finish(value);

  if (options_.max_cached_contexts > 0) {
    std::lock_guard lock(mu_);
    if (generation == generation_ && !resolved_.contains(key)) {
      resolved_lru_.push_front(key);
      resolved_.emplace(std::move(key), Resolved{ctx, std::move(usage.deps), usage.expires_at,
                                                 resolved_lru_.begin()});
      while (resolved_.size() > options_.max_cached_contexts) {
        resolved_.erase(resolved_lru_.back());
        resolved_lru_.pop_back();
      }
    }
  }
  return ctx;
}

Result<DocPtr> ContextRegistry::Impl::Load(const std::string& url, std::string_view tenant,
                                           Usage* usage) {
  Micros now = Now();
  if (IsCoreContextUrl(url)) {
    if (usage->Add("C")) CountCore(now);
    return DocPtr();
  }
  bool relative = false;
  if (std::optional<std::string_view> id = HostedContextId(url, &relative); id.has_value()) {
    std::lock_guard lock(mu_);
    auto it = local_.find(*id);
    if (it != local_.end() && it->second.tenant == tenant) {
      if (usage->Add("L" + it->first)) Touch(it->second, now);
      return it->second.context;
    }
    // An absolute URL may be another broker's; a relative one can only be ours.
    if (relative) return NotAvailable("no stored @context '" + url + "'");
  }
  if (!IsHttpUrl(url)) {
    return Status::BadRequest("invalid @context: '" + url.substr(0, 200) +
                              "' is not an absolute http(s) URL");
  }
  return LoadRemote(url, usage);
}

Result<DocPtr> ContextRegistry::Impl::LoadRemote(const std::string& url, Usage* usage) {
  Micros now = Now();
  std::string dep = "U" + url;
  std::shared_future<Result<DocPtr>> pending;
  std::promise<Result<DocPtr>> promise;
  bool fetch = false;
  DocPtr stale;
  {
    std::lock_guard lock(mu_);
    if (auto it = cached_.find(url); it != cached_.end()) {
      Entry& e = it->second.entry;
      if (e.expires_at == 0 || now < e.expires_at) {
        if (usage->Add(dep)) Touch(e, now);
        usage->Expires(e.expires_at);
        cached_lru_.splice(cached_lru_.begin(), cached_lru_, it->second.lru);
        return e.context;
      }
      stale = e.context;
    }
    if (auto it = inflight_.find(url); it != inflight_.end()) {
      pending = it->second;
    } else {
      fetch = true;
      inflight_.emplace(url, promise.get_future().share());
    }
  }

  if (!fetch) {
    Result<DocPtr> result = pending.get();
    if (!result.ok()) return result;
    std::lock_guard lock(mu_);
    if (auto it = cached_.find(url); it != cached_.end()) {
      if (usage->Add(dep)) Touch(it->second.entry, now);
      usage->Expires(it->second.entry.expires_at);
    }
    return result;
  }

  Result<DocPtr> result = FetchDocument(url);
  {
    std::lock_guard lock(mu_);
    inflight_.erase(url);
    if (result.ok()) {
      Entry& e = InsertCachedLocked(url, result.value(), false, now);
      if (usage->Add(dep)) Touch(e, now);
      usage->Expires(e.expires_at);
    } else if (stale != nullptr) {
      Log(LogLevel::kWarn, "jsonld: re-fetching an expired @context failed; using the old copy",
          {{"url", url}, {"error", result.status().detail()}});
      if (auto it = cached_.find(url); it != cached_.end()) {
        Entry& e = it->second.entry;
        // Try again later, not on every request while the server is down.
        e.expires_at = now + std::min<int64_t>(options_.cached_ttl.count(), 300) * 1'000'000;
        if (usage->Add(dep)) Touch(e, now);
        usage->Expires(e.expires_at);
      }
      result = stale;
    }
  }
  promise.set_value(result);
  return result;
}

Result<DocPtr> ContextRegistry::Impl::FetchDocument(const std::string& url) {
  if (!fetcher_) return NotAvailable("cannot fetch @context '" + url + "': no fetcher");
  Result<std::string> text = Status::Internal("the fetcher failed");
  try {
    text = fetcher_(url);
  } catch (...) {
    // The fetcher should not throw; if it does, the waiters must still be released.
    text = Status::Internal("the fetcher threw an exception");
  }
  if (!text.ok()) {
    Log(LogLevel::kWarn, "jsonld: fetching a @context failed",
        {{"url", url}, {"error", text.status().detail()}});
    return NotAvailable("cannot fetch @context '" + url + "': " + text.status().detail());
  }
  Result<DocPtr> doc = ParseContextDocument(*text, options_.max_document_bytes);
  if (!doc.ok()) {
    return NotAvailable("@context '" + url + "' is not usable: " + doc.status().detail());
  }
  return doc;
}

Status ContextRegistry::Impl::Preload(const std::string& url, const std::string& document) {
  if (IsCoreContextUrl(url)) return Status::BadRequest("the core @context is built in");
  if (!IsHttpUrl(url)) return Status::BadRequest("'" + url + "' is not an absolute http(s) URL");
  Result<DocPtr> doc = ParseContextDocument(document, options_.max_document_bytes);
  if (!doc.ok()) {
    return Status::BadRequest("preloaded @context '" + url + "': " + doc.status().detail());
  }
  std::lock_guard lock(mu_);
  InsertCachedLocked(url, doc.value(), true, Now());
  return Status::Ok();
}

Result<std::string> ContextRegistry::Impl::StoreImplicit(const Json& value,
                                                         std::string_view tenant) {
  if (value.is_null()) return std::string(kCoreContextUrl);
  if (value.is_string()) return value.as_string();
  if (!value.is_object() && !value.is_array()) {
    return Status::BadRequest(std::string("invalid @context: it must be a URL, an object or an "
                                          "array, not ") +
                              ValueKind(value));
  }
  CIVITAS_RETURN_IF_ERROR(ValidateContextValue(value));
  std::string key = ContentKey(tenant, value);
  Entry e;
  {
    std::lock_guard lock(mu_);
    if (auto it = implicit_by_content_.find(key); it != implicit_by_content_.end()) {
      if (auto l = local_.find(it->second); l != local_.end()) return UrlOf(l->second);
    }
    e.local_id = NewIdLocked();
  }
  e.kind = Kind::kImplicit;
  e.tenant = std::string(tenant);
  e.context = std::make_shared<const Json>(value);
  e.created_at = Now();
  e.content_key = key;
  if (persistence_.save) {
    Json record = Json::MakeObject();
    record.Set("kind", Json(KindName(e.kind)));
    record.Set("tenant", Json(e.tenant));
    record.Set("createdAt", Json(e.created_at));
    record.Set("@context", value);
    CIVITAS_RETURN_IF_ERROR(persistence_.save(e.local_id, ToJsonString(record)));
  }

  std::string url;
  std::string duplicate;  // our entry lost a race with the same content: drop it
  std::vector<std::string> evicted;
  {
    std::lock_guard lock(mu_);
    auto it = implicit_by_content_.find(key);
    if (it != implicit_by_content_.end() && local_.contains(it->second)) {
      url = UrlOf(local_.at(it->second));
      duplicate = e.local_id;
    } else {
      std::string id = e.local_id;
      url = UrlOf(e);
      implicit_by_content_.insert_or_assign(key, id);
      local_.emplace(id, std::move(e));
      size_t count = 0;
      for (const auto& [_, l] : local_) count += l.kind == Kind::kImplicit ? 1 : 0;
      while (count > options_.max_implicit_contexts) {
        const Entry* oldest = nullptr;
        for (const auto& [_, l] : local_) {
          if (l.kind != Kind::kImplicit || l.local_id == id) continue;
          Micros used = std::max(l.last_usage, l.created_at);
          if (oldest == nullptr || used < std::max(oldest->last_usage, oldest->created_at)) {
            oldest = &l;
          }
        }
        if (oldest == nullptr) break;
        evicted.push_back(oldest->local_id);
        EraseLocalLocked(oldest->local_id);
        --count;
      }
    }
  }
  if (persistence_.remove) {
    if (!duplicate.empty()) evicted.push_back(duplicate);
    for (const std::string& id : evicted) {
      Status st = persistence_.remove(id);
      if (!st.ok()) {
        Log(LogLevel::kWarn, "jsonld: removing an implicitly created @context failed",
            {{"id", id}, {"error", st.detail()}});
      }
    }
  }
  return url;
}

Result<std::string> ContextRegistry::Impl::AddHosted(const Json& body, std::string_view tenant) {
  if (!body.is_object()) {
    return Status::InvalidRequest("the payload must be a JSON object with an \"@context\" member");
  }
  const Json* value = body.Find("@context");
  if (value == nullptr) return Status::InvalidRequest("the payload has no \"@context\" member");
  if (!value->is_object() && !value->is_string() && !value->is_array()) {
    return Status::BadRequest(std::string("invalid @context: it must be an object, a URL or an "
                                          "array, not ") +
                              ValueKind(*value));
  }
  CIVITAS_RETURN_IF_ERROR(ValidateContextValue(*value));

  Entry e;
  e.kind = Kind::kHosted;
  e.tenant = std::string(tenant);
  e.context = std::make_shared<const Json>(*value);
  e.created_at = Now();
  {
    std::lock_guard lock(mu_);
    e.local_id = NewIdLocked();
  }
  if (persistence_.save) {
    Json record = Json::MakeObject();
    record.Set("kind", Json(KindName(e.kind)));
    record.Set("tenant", Json(e.tenant));
    record.Set("createdAt", Json(e.created_at));
    record.Set("@context", *value);
    CIVITAS_RETURN_IF_ERROR(persistence_.save(e.local_id, ToJsonString(record)));
  }
  std::string id = e.local_id;
  std::lock_guard lock(mu_);
  local_.emplace(id, std::move(e));
  return id;
}

Json ContextRegistry::Impl::List(bool details, std::string_view kind, std::string_view tenant) {
  auto want = [kind](Kind k) { return kind.empty() || kind == KindName(k); };
  Json out = Json::MakeArray();
  if (want(Kind::kCached)) out.Push(details ? CoreDetails() : Json(kCoreContextUrl));

  std::lock_guard lock(mu_);
  std::vector<const Entry*> entries;
  for (const auto& [_, e] : local_) {
    if (e.tenant == tenant && want(e.kind)) entries.push_back(&e);
  }
  auto by_creation = [](const Entry* a, const Entry* b) {
    if (a->created_at != b->created_at) return a->created_at < b->created_at;
    return a->local_id < b->local_id;
  };
  std::sort(entries.begin(), entries.end(), by_creation);
  size_t locals = entries.size();
  if (want(Kind::kCached)) {
    for (const auto& [_, slot] : cached_) entries.push_back(&slot.entry);
    std::sort(entries.begin() + static_cast<ptrdiff_t>(locals), entries.end(), by_creation);
  }
  for (const Entry* e : entries) out.Push(details ? DetailsOf(*e) : Json(UrlOf(*e)));
  return out;
}

Result<Json> ContextRegistry::Impl::Get(std::string_view id, bool details,
                                        std::string_view tenant) {
  Micros now = Now();
  if (IsCoreContextUrl(id) || id == kCoreLocalId) {
    if (!details) {
      return Status::NotSupported(
          "the core @context is a Cached entry: only its metadata (details=true) is served");
    }
    Json out = CoreDetails();
    CountCore(now);
    return out;
  }
  std::lock_guard lock(mu_);
  if (Entry* e = FindLocalLocked(id, tenant); e != nullptr) {
    Json out;
    if (details) {
      out = DetailsOf(*e);
    } else {
      out = Json::MakeObject();
      out.Set("@context", *e->context);
    }
    if (e->kind == Kind::kImplicit) Touch(*e, now);
    return out;
  }
  if (CachedSlot* slot = FindCachedLocked(id); slot != nullptr) {
    if (!details) {
      return Status::NotSupported(
          "a Cached @context is not served, only its metadata (details=true)");
    }
    Json out = DetailsOf(slot->entry);
    Touch(slot->entry, now);
    return out;
  }
  return Status::NotFound("no stored @context '" + std::string(id) + "'");
}

Status ContextRegistry::Impl::Delete(std::string_view id, bool reload, std::string_view tenant) {
  if (id.empty()) return Status::BadRequest("no @context identifier given");
  if (IsCoreContextUrl(id) || id == kCoreLocalId) {
    if (reload) return Status::Ok();  // built in: there is nothing to download
    return Status::BadRequest("the core @context cannot be deleted");
  }
  std::string local_id;
  std::string url;
  bool pinned = false;
  {
    std::lock_guard lock(mu_);
    if (Entry* e = FindLocalLocked(id, tenant); e != nullptr) {
      if (reload) {
        return Status::BadRequest("only Cached @contexts can be reloaded; '" + std::string(id) +
                                  "' is " + std::string(KindName(e->kind)));
      }
      local_id = e->local_id;
    } else if (CachedSlot* slot = FindCachedLocked(id); slot != nullptr) {
      url = slot->entry.url;
      pinned = slot->entry.pinned;
      if (!reload) {
        EraseCachedLocked(url);
        return Status::Ok();
      }
    } else if (reload) {
      return Status::BadRequest("there is no Cached @context '" + std::string(id) + "' to reload");
    } else {
      return Status::NotFound("no stored @context '" + std::string(id) + "'");
    }
  }

  if (!local_id.empty()) {
    if (persistence_.remove) CIVITAS_RETURN_IF_ERROR(persistence_.remove(local_id));
    std::lock_guard lock(mu_);
    EraseLocalLocked(local_id);
    return Status::Ok();
  }

  // Reload a Cached entry: download it again and replace it; on failure keep it.
  Result<DocPtr> doc = FetchDocument(url);
  if (!doc.ok()) return doc.status();
  std::lock_guard lock(mu_);
  InsertCachedLocked(url, doc.value(), pinned, Now());
  return Status::Ok();
}

Status ContextRegistry::Impl::Restore(const std::string& id, const std::string& record) {
  auto unreadable = [&id](std::string_view why) {
    return Status::InvalidRequest("unreadable @context record '" + id + "': " + std::string(why));
  };
  if (id.empty()) return unreadable("empty id");
  Result<Json> parsed = ParseJson(record);
  if (!parsed.ok()) return unreadable(parsed.status().detail());
  const Json& r = parsed.value();
  Entry e;
  std::string_view kind = r.GetString("kind");
  if (kind == KindName(Kind::kHosted)) {
    e.kind = Kind::kHosted;
  } else if (kind == KindName(Kind::kImplicit)) {
    e.kind = Kind::kImplicit;
  } else {
    return unreadable("unknown kind");
  }
  const Json* value = r.Find("@context");
  if (value == nullptr) return unreadable("no @context");
  const Json* created = r.Find("createdAt");
  e.local_id = id;
  e.tenant = std::string(r.GetString("tenant"));
  e.context = std::make_shared<const Json>(*value);
  e.created_at = created != nullptr && created->is_int() ? created->as_int() : Now();
  if (e.kind == Kind::kImplicit) e.content_key = ContentKey(e.tenant, *value);

  std::lock_guard lock(mu_);
  if (local_.contains(id)) EraseLocalLocked(id);
  if (e.kind == Kind::kImplicit) implicit_by_content_.insert_or_assign(e.content_key, id);
  local_.emplace(id, std::move(e));
  return Status::Ok();
}

std::string ContextRegistry::Impl::UrlOf(const Entry& e) const {
  if (e.kind == Kind::kCached) return e.url;
  std::string_view base = options_.public_base_url;
  while (base.ends_with('/')) base.remove_suffix(1);
  std::string url(base);
  url.append(kJsonldContextsPath).append(e.local_id);
  return url;
}

Json ContextRegistry::Impl::DetailsOf(const Entry& e) const {
  Json d = Json::MakeObject();
  d.Set("URL", Json(UrlOf(e)));
  d.Set("localId", Json(e.local_id));
  d.Set("kind", Json(KindName(e.kind)));
  d.Set("createdAt", Json(FormatDateTime(e.created_at)));
  if (e.expires_at != 0) d.Set("expiresAt", Json(FormatDateTime(e.expires_at)));
  if (e.last_usage != 0) d.Set("lastUsage", Json(FormatDateTime(e.last_usage)));
  d.Set("numberOfHits", Json(e.hits));
  if (e.pinned) {
    Json extra = Json::MakeObject();
    extra.Set("preloaded", Json(true));
    d.Set("extraInfo", std::move(extra));
  }
  return d;
}

Json ContextRegistry::Impl::CoreDetails() const {
  Json d = Json::MakeObject();
  d.Set("URL", Json(kCoreContextUrl));
  d.Set("localId", Json(kCoreLocalId));
  d.Set("kind", Json(KindName(Kind::kCached)));
  d.Set("createdAt", Json(FormatDateTime(core_created_at_)));
  Micros last = core_last_usage_.load(std::memory_order_relaxed);
  if (last != 0) d.Set("lastUsage", Json(FormatDateTime(last)));
  d.Set("numberOfHits", Json(core_hits_.load(std::memory_order_relaxed)));
  Json extra = Json::MakeObject();
  extra.Set("builtIn", Json(true));
  d.Set("extraInfo", std::move(extra));
  return d;
}

std::string ContextRegistry::Impl::NewIdLocked() {
  for (;;) {
    char buf[33];
    std::snprintf(buf, sizeof buf, "%016llx%016llx", static_cast<unsigned long long>(rng_()),
                  static_cast<unsigned long long>(rng_()));
    std::string id(buf, 32);
    if (!local_.contains(id) && !cached_by_id_.contains(id) && id != kCoreLocalId) return id;
  }
}

Entry* ContextRegistry::Impl::FindLocalLocked(std::string_view id_or_url, std::string_view tenant) {
  std::string_view id = id_or_url;
  bool relative = false;
  if (std::optional<std::string_view> h = HostedContextId(id_or_url, &relative); h.has_value()) {
    id = *h;
  }
  auto it = local_.find(id);
  if (it == local_.end() || it->second.tenant != tenant) return nullptr;
  return &it->second;
}

ContextRegistry::Impl::CachedSlot* ContextRegistry::Impl::FindCachedLocked(
    std::string_view id_or_url) {
  if (auto it = cached_.find(id_or_url); it != cached_.end()) return &it->second;
  if (auto id = cached_by_id_.find(id_or_url); id != cached_by_id_.end()) {
    if (auto it = cached_.find(id->second); it != cached_.end()) return &it->second;
  }
  return nullptr;
}

Entry& ContextRegistry::Impl::InsertCachedLocked(const std::string& url, DocPtr doc, bool pinned,
                                                 Micros now) {
  if (auto it = cached_.find(url); it != cached_.end()) {
    Entry& e = it->second.entry;
    e.context = std::move(doc);
    e.created_at = now;
    e.pinned = e.pinned || pinned;
    e.expires_at = e.pinned ? 0 : ExpiryFrom(now);
    cached_lru_.splice(cached_lru_.begin(), cached_lru_, it->second.lru);
    InvalidateLocked("U" + url);
    return e;
  }
  Entry e;
  e.kind = Kind::kCached;
  e.local_id = NewIdLocked();
  e.url = url;
  e.context = std::move(doc);
  e.created_at = now;
  e.pinned = pinned;
  e.expires_at = pinned ? 0 : ExpiryFrom(now);
  cached_lru_.push_front(url);
  cached_by_id_.emplace(e.local_id, url);
  auto [it, _] = cached_.emplace(url, CachedSlot{std::move(e), cached_lru_.begin()});
  Entry& inserted = it->second.entry;

  // Evict the least recently used unpinned documents beyond the bound (never the new one).
  auto victim = std::prev(cached_lru_.end());
  while (cached_.size() > options_.max_cached_documents && victim != cached_lru_.begin()) {
    auto current = victim--;
    auto slot = cached_.find(*current);
    if (slot->second.entry.pinned) continue;
    std::string evicted = *current;
    EraseCachedLocked(evicted);
  }
  return inserted;
}

void ContextRegistry::Impl::EraseCachedLocked(std::string url) {
  auto it = cached_.find(url);
  if (it == cached_.end()) return;
  cached_by_id_.erase(it->second.entry.local_id);
  cached_lru_.erase(it->second.lru);
  cached_.erase(it);
  InvalidateLocked("U" + url);
}

void ContextRegistry::Impl::EraseLocalLocked(std::string id) {
  auto it = local_.find(id);
  if (it == local_.end()) return;
  if (it->second.kind == Kind::kImplicit) {
    auto c = implicit_by_content_.find(it->second.content_key);
    if (c != implicit_by_content_.end() && c->second == id) implicit_by_content_.erase(c);
  }
  local_.erase(it);
  InvalidateLocked("L" + id);
}

void ContextRegistry::Impl::TouchDepLocked(const std::string& dep, Micros now) {
  if (dep.empty()) return;
  std::string_view key = std::string_view(dep).substr(1);
  switch (dep[0]) {
    case 'C':
      CountCore(now);
      break;
    case 'U':
      if (auto it = cached_.find(key); it != cached_.end()) {
        Touch(it->second.entry, now);
        cached_lru_.splice(cached_lru_.begin(), cached_lru_, it->second.lru);
      }
      break;
    case 'L':
      if (auto it = local_.find(key); it != local_.end()) Touch(it->second, now);
      break;
    default:
      break;
  }
}

void ContextRegistry::Impl::InvalidateLocked(std::string_view dep) {
  ++generation_;
  for (auto it = resolved_.begin(); it != resolved_.end();) {
    const std::vector<std::string>& deps = it->second.deps;
    if (std::find(deps.begin(), deps.end(), dep) != deps.end()) {
      resolved_lru_.erase(it->second.lru);
      it = resolved_.erase(it);
    } else {
      ++it;
    }
  }
}

// --- ContextRegistry: the public face forwards to Impl. ---

ContextRegistry::ContextRegistry(Options options, ContextFetcher fetcher,
                                 ContextPersistence persistence)
    : impl_(
          std::make_shared<Impl>(std::move(options), std::move(fetcher), std::move(persistence))) {}

std::shared_ptr<const Context> ContextRegistry::Core() const { return impl_->Core(); }

Result<std::shared_ptr<const Context>> ContextRegistry::Resolve(const Json& context_value) {
  return impl_->Resolve(context_value, {});
}
Result<std::shared_ptr<const Context>> ContextRegistry::Resolve(const Json& context_value,
                                                                std::string_view tenant) {
  return impl_->Resolve(context_value, tenant);
}

Status ContextRegistry::Preload(const std::string& url, const std::string& document) {
  return impl_->Preload(url, document);
}

Result<std::string> ContextRegistry::StoreImplicit(const Json& context_value,
                                                   std::string_view tenant) {
  return impl_->StoreImplicit(context_value, tenant);
}

Result<std::string> ContextRegistry::AddHosted(const Json& body) {
  return impl_->AddHosted(body, {});
}
Result<std::string> ContextRegistry::AddHosted(const Json& body, std::string_view tenant) {
  return impl_->AddHosted(body, tenant);
}

Json ContextRegistry::List(bool details, std::string_view kind_filter) const {
  return impl_->List(details, kind_filter, {});
}
Json ContextRegistry::List(bool details, std::string_view kind_filter,
                           std::string_view tenant) const {
  return impl_->List(details, kind_filter, tenant);
}

Result<Json> ContextRegistry::Get(std::string_view id_or_url, bool details) const {
  return impl_->Get(id_or_url, details, {});
}
Result<Json> ContextRegistry::Get(std::string_view id_or_url, bool details,
                                  std::string_view tenant) const {
  return impl_->Get(id_or_url, details, tenant);
}

Status ContextRegistry::Delete(std::string_view id_or_url, bool reload) {
  return impl_->Delete(id_or_url, reload, {});
}
Status ContextRegistry::Delete(std::string_view id_or_url, bool reload, std::string_view tenant) {
  return impl_->Delete(id_or_url, reload, tenant);
}

Status ContextRegistry::Restore(const std::string& id, const std::string& record) {
  return impl_->Restore(id, record);
}

}  // namespace civitas::jsonld
