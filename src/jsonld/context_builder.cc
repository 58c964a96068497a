#include "jsonld/context_builder.h"

#include <algorithm>
#include <utility>

namespace civitas::jsonld {
namespace {

// Defining a term first defines the terms its IRI refers to (its prefix, a term used as its
// @id), recursively. Real contexts need a few levels; the bound keeps a long chain
// ({"a0": "a1:x", "a1": "a2:x", ...}) from exhausting the stack.
constexpr int kMaxDefinitionDepth = 256;

Status Invalid(std::string detail) { return Status::BadRequest("invalid @context: " + detail); }

std::string Quoted(std::string_view s) {
  std::string out = "'";
  out.append(s.substr(0, 200));
  out += '\'';
  return out;
}

const char* KindName(const Json& v) {
  switch (v.kind()) {
    case Json::Kind::kNull:
      return "null";
    case Json::Kind::kBool:
      return "a boolean";
    case Json::Kind::kInt:
    case Json::Kind::kDouble:
      return "a number";
    case Json::Kind::kString:
      return "a string";
    case Json::Kind::kArray:
      return "an array";
    case Json::Kind::kObject:
      return "an object";
    case Json::Kind::kRaw:
      return "JSON text";
  }
  return "?";
}

}  // namespace

ContextBuilder::ContextBuilder(const Context* core, ContextLoader loader, int max_remote_depth)
    : core_(core), loader_(std::move(loader)), max_remote_depth_(max_remote_depth) {}

Status ContextBuilder::Process(const Json& value) {
  std::vector<std::string> stack;
  return ProcessValue(value, 0, stack, false);
}

Status ContextBuilder::ProcessValue(const Json& value, int depth, std::vector<std::string>& stack,
                                    bool in_array) {
  switch (value.kind()) {
    case Json::Kind::kNull:
      // JSON-LD: null resets the active context. The core is merged afterwards, so this only
      // drops the user definitions made so far.
      terms_.clear();
      vocab_.reset();
      return Status::Ok();
    case Json::Kind::kString: {
      const std::string& url = value.as_string();
      if (!IsCoreContextUrl(url)) {
        if (std::find(stack.begin(), stack.end(), url) != stack.end()) {
          return Status(ErrorCode::kLdContextNotAvailable,
                        "remote @context " + Quoted(url) + " includes itself (cycle)");
        }
        if (depth >= max_remote_depth_) {
          return Status(ErrorCode::kLdContextNotAvailable,
                        "remote @context " + Quoted(url) + " is nested deeper than " +
                            std::to_string(max_remote_depth_) + " levels");
        }
      }
      Result<std::shared_ptr<const Json>> doc = loader_(url);
      if (!doc.ok()) return doc.status();
      if (*doc == nullptr) return Status::Ok();  // the core: merged last anyway
      // Keep the document alive while its members are referenced by the Local maps below.
      std::shared_ptr<const Json> keep = *doc;
      stack.push_back(url);
      Status st = ProcessValue(*keep, depth + 1, stack, false);
      stack.pop_back();
      return st;
    }
    case Json::Kind::kObject:
      return ProcessObject(value);
    case Json::Kind::kArray:
      if (in_array) return Invalid("an array cannot contain another array");
      for (const Json& item : value.as_array()) {
        CIVITAS_RETURN_IF_ERROR(ProcessValue(item, depth, stack, true));
      }
      return Status::Ok();
    default:
      return Invalid(std::string("a context must be a URL, an object or an array, not ") +
                     KindName(value));
  }
}

Status ContextBuilder::ProcessObject(const Json& object) {
  Local local;
  local.members.reserve(object.size());
  for (const auto& [key, v] : object.as_object()) local.members[key] = &v;

  // "@vocab" first: definitions without "@id" in this same object depend on it.
  if (const Json* vocab = object.Find("@vocab"); vocab != nullptr) {
    if (vocab->is_null() || (vocab->is_string() && vocab->as_string().empty())) {
      vocab_.reset();
    } else if (vocab->is_string()) {
      Result<std::string> iri = ExpandIri(vocab->as_string(), local, {});
      if (!iri.ok()) return iri.status();
      if (iri->starts_with('@')) return Invalid("@vocab cannot be a keyword");
      vocab_ = std::move(iri).value();
    } else {
      return Invalid(std::string("@vocab must be a string or null, not ") + KindName(*vocab));
    }
  }
  // Other keys that start with '@' (@version, @base, @language, @direction, @protected,
  // @propagate, @import, unknown ones) are accepted and ignored.
  for (const auto& [key, v] : object.as_object()) {
    if (key.empty() || key[0] == '@') continue;
    CIVITAS_RETURN_IF_ERROR(DefineTerm(key, local));
  }
  return Status::Ok();
}

Status ContextBuilder::DefineTerm(std::string_view term, Local& local) {
  int& state = local.state[term];
  if (state == 2) return Status::Ok();
  if (state == 1) return Invalid("cyclic IRI mapping involving term " + Quoted(term));
  if (definition_depth_ >= kMaxDefinitionDepth) {
    return Invalid("term definitions depend on each other more than " +
                   std::to_string(kMaxDefinitionDepth) + " levels deep (at term " + Quoted(term) +
                   ")");
  }
  state = 1;
  ++definition_depth_;
  struct DepthGuard {
    int& depth;
    ~DepthGuard() { --depth; }
  } depth_guard{definition_depth_};
  auto done = [&local, term]() { local.state[term] = 2; };

  const Json& value = *local.members.at(term);
  std::optional<std::string_view> id;
  bool unset = false;
  bool simple = false;
  const Json* type = nullptr;
  const Json* container = nullptr;
  std::optional<bool> prefix_flag;

  switch (value.kind()) {
    case Json::Kind::kNull:
      unset = true;
      break;
    case Json::Kind::kString:
      id = value.as_string();
      simple = true;
      break;
    case Json::Kind::kObject: {
      if (value.Find("@reverse") != nullptr) {
        // Reverse properties have no place in NGSI-LD: the term is ignored.
        terms_.erase(std::string(term));
        done();
        return Status::Ok();
      }
      if (const Json* v = value.Find("@id"); v != nullptr) {
        if (v->is_null()) {
          unset = true;
        } else if (v->is_string()) {
          id = v->as_string();
        } else {
          return Invalid("@id of term " + Quoted(term) + " must be a string or null");
        }
      }
      type = value.Find("@type");
      if (type != nullptr && !type->is_string()) {
        return Invalid("@type of term " + Quoted(term) + " must be a string");
      }
      container = value.Find("@container");
      if (container != nullptr && !container->is_string() && !container->is_null()) {
        if (!container->is_array()) {
          return Invalid("@container of term " + Quoted(term) + " must be a string or array");
        }
        for (const Json& c : container->as_array()) {
          if (!c.is_string()) {
            return Invalid("@container of term " + Quoted(term) + " must hold strings");
          }
        }
      }
      if (const Json* p = value.Find("@prefix"); p != nullptr && p->is_bool()) {
        prefix_flag = p->as_bool();
      }
      // A scoped "@context" is accepted and ignored (it is never fetched).
      break;
    }
    default:
      return Invalid("the definition of term " + Quoted(term) +
                     " must be a string, an object or null, not " + KindName(value));
  }

  if (unset) {
    terms_.erase(std::string(term));
    done();
    return Status::Ok();
  }

  Def def;
  if (id.has_value()) {
    if (id->starts_with('@')) {
      // A keyword alias ("id": "@id"). Aliasing @context, or "@"-strings that are not keywords,
      // are ignored as JSON-LD prescribes.
      if (!HasKeywordForm(*id) || *id == "@context") {
        done();
        return Status::Ok();
      }
      def.def.iri = std::string(*id);
    } else {
      Result<std::string> iri = ExpandIri(*id, local, term);
      if (!iri.ok()) return iri.status();
      def.def.iri = std::move(iri).value();
    }
  } else if (size_t colon = term.find(':'); colon != std::string_view::npos && colon > 0) {
    Result<std::string> iri = ExpandIri(term, local, term);
    if (!iri.ok()) return iri.status();
    def.def.iri = std::move(iri).value();
  } else {
    def.def.iri = CurrentVocab() + std::string(term);
  }

  if (type != nullptr) {
    const std::string& t = type->as_string();
    if (t.empty()) return Invalid("@type of term " + Quoted(term) + " is empty");
    if (t[0] == '@') {
      def.def.type = t;
    } else {
      Result<std::string> iri = ExpandIri(t, local, term);
      if (!iri.ok()) return iri.status();
      def.def.type = std::move(iri).value();
    }
  }
  if (container != nullptr) {
    if (container->is_string()) {
      def.def.container = container->as_string();
    } else if (container->is_array()) {
      for (const Json& c : container->as_array()) {
        if (c.as_string() != "@set" || def.def.container.empty()) def.def.container = c.as_string();
      }
    }
  }
  bool term_can_prefix = term.find_first_of(":/") == std::string_view::npos;
  bool iri_can_prefix = !def.def.iri.starts_with('@');
  def.prefix = term_can_prefix && iri_can_prefix &&
               (simple ? EndsWithGenDelim(def.def.iri) : prefix_flag.value_or(false));
  terms_.insert_or_assign(std::string(term), std::move(def));
  done();
  return Status::Ok();
}

Result<std::string> ContextBuilder::ExpandIri(std::string_view value, Local& local,
                                              std::string_view defining) {
  if (value.empty()) return Invalid("an IRI mapping is empty");
  if (value[0] == '@') return std::string(value);
  if (value != defining && local.members.contains(value)) {
    CIVITAS_RETURN_IF_ERROR(DefineTerm(value, local));
  }
  if (auto it = terms_.find(value); it != terms_.end()) return it->second.def.iri;

  size_t colon = value.find(':');
  if (colon != std::string_view::npos && colon > 0) {
    std::string_view prefix = value.substr(0, colon);
    std::string_view suffix = value.substr(colon + 1);
    if (prefix == "_" || suffix.starts_with("//")) return std::string(value);
    if (prefix != defining && local.members.contains(prefix)) {
      CIVITAS_RETURN_IF_ERROR(DefineTerm(prefix, local));
    }
    if (auto it = terms_.find(prefix); it != terms_.end() && !it->second.def.iri.starts_with('@')) {
      return it->second.def.iri + std::string(suffix);
    }
    // Lenient: the core is merged last, but its prefixes ("ngsi-ld:", "geojson:") are what a
    // user context means when it uses them without defining them.
    if (core_ != nullptr) {
      const TermDefinition* t = core_->FindTerm(prefix);
      if (t != nullptr && !t->iri.starts_with('@')) return t->iri + std::string(suffix);
    }
    if (HasScheme(value)) return std::string(value);
  } else if (core_ != nullptr) {
    if (const TermDefinition* t = core_->FindTerm(value); t != nullptr) return t->iri;
  }
  return CurrentVocab() + std::string(value);
}

const std::string& ContextBuilder::CurrentVocab() const {
  static const std::string kDefault(kDefaultVocab);
  if (vocab_.has_value()) return *vocab_;
  if (core_ != nullptr) return core_->vocab_;
  return kDefault;
}

std::shared_ptr<Context> ContextBuilder::Finish(Json source) {
  auto ctx = std::make_shared<Context>();
  ctx->source_ = std::move(source);
  ctx->terms_.reserve(terms_.size() + (core_ != nullptr ? core_->terms_.size() : 0));
  for (const auto& [term, def] : terms_) ctx->terms_.emplace(term, def.def);
  if (core_ != nullptr) {
    for (const auto& [term, def] : core_->terms_) ctx->terms_.insert_or_assign(term, def);
  }
  if (vocab_.has_value()) {
    ctx->vocab_ = *vocab_;
  } else {
    ctx->vocab_ = core_ != nullptr ? core_->vocab_ : std::string(kDefaultVocab);
  }

  // Best term per IRI: a user term before a core term (but the core aliases of keywords first),
  // then the shortest, then the lexicographically least.
  auto is_user = [this](const std::string& term) {
    return core_ == nullptr || !core_->terms_.contains(term);
  };
  struct Candidate {
    const std::string* term;
    int rank;
  };
  std::unordered_map<std::string_view, Candidate> best;
  best.reserve(ctx->terms_.size());
  for (const auto& [term, def] : ctx->terms_) {
    if (def.iri.empty()) continue;
    bool user = is_user(term);
    int rank = def.iri.starts_with('@') ? (user ? 1 : 0) : (user ? 0 : 1);
    auto [it, inserted] = best.try_emplace(def.iri, Candidate{&term, rank});
    if (inserted) continue;
    const Candidate& cur = it->second;
    if (rank < cur.rank ||
        (rank == cur.rank && (term.size() < cur.term->size() ||
                              (term.size() == cur.term->size() && term < *cur.term)))) {
      it->second = Candidate{&term, rank};
    }
  }
  ctx->iri_to_term_.reserve(best.size());
  for (const auto& [iri, cand] : best) ctx->iri_to_term_.emplace(std::string(iri), *cand.term);

  for (const auto& [term, def] : terms_) {
    if (def.prefix && is_user(term)) ctx->prefixes_.emplace_back(def.def.iri, term);
  }
  if (core_ != nullptr) {
    ctx->prefixes_.insert(ctx->prefixes_.end(), core_->prefixes_.begin(), core_->prefixes_.end());
  }
  std::sort(ctx->prefixes_.begin(), ctx->prefixes_.end());
  return ctx;
}

Result<std::shared_ptr<Context>> ContextBuilder::BuildCore(std::string_view document) {
  Result<Json> doc = ParseJson(document);
  if (!doc.ok()) return Status::Internal("core @context: " + doc.status().detail());
  const Json* value = doc->Find("@context");
  if (value == nullptr) return Status::Internal("core @context: no \"@context\" member");
  ContextBuilder builder(
      nullptr,
      [](const std::string& url) -> Result<std::shared_ptr<const Json>> {
        return Status::Internal("core @context refers to " + url);
      },
      0);
  CIVITAS_RETURN_IF_ERROR(builder.Process(*value));
  std::shared_ptr<Context> ctx = builder.Finish(Json(std::string(kCoreContextUrl)));
  ctx->is_core_ = true;
  return ctx;
}

}  // namespace civitas::jsonld
