// fuzz_entity: a request body through the NGSI-LD entity pipeline, with the core context.
//
// Properties checked on every body the parser accepts:
//  - storage: DeserializeEntity(SerializeEntity(e)) serializes back to the same record;
//  - rendering: every format gives JSON that parses again;
//  - GET then PUT: an entity rendered in normalized form, parsed again, is the same entity;
//  - after create, append, update, replace and merge: no empty attribute slots, distinct
//    datasetIds per attribute, system timestamps on every instance, and every instance has a
//    valid type and exactly the value member of that type.

#include <memory>
#include <set>
#include <string>
#include <utility>

#include "check.h"
#include "common/json.h"
#include "common/log.h"
#include "jsonld/context.h"
#include "ngsild/entity.h"
#include "ngsild/ops.h"
#include "ngsild/parse.h"
#include "ngsild/render.h"
#include "targets.h"

namespace civitas::fuzz {
namespace {

using ngsild::Entity;
using ngsild::EntityFragment;
using ngsild::Format;

constexpr Micros kCreated = 1'704'067'200'000'000;  // 2024-01-01T00:00:00Z
constexpr Micros kModified = kCreated + 1'500;      // 1.5 ms later
constexpr std::string_view kValueMembers[] = {"value",     "object",     "languageMap", "vocab",
                                              "valueList", "objectList", "json"};
// Depth for parsing what the code under test produced (deeper than its input by a few levels).
constexpr size_t kOutputDepth = 512;

// The core context of a registry whose fetcher always fails (as src/ngsild/parse_test.cc).
const jsonld::Context& Core() {
  static const std::shared_ptr<const jsonld::Context> core = [] {
    SetLogLevel(LogLevel::kError);
    jsonld::ContextRegistry registry({}, [](const std::string&) -> Result<std::string> {
      return Status(ErrorCode::kLdContextNotAvailable, "offline");
    });
    return registry.Core();
  }();
  return *core;
}

// The entity the update operations apply to: one attribute of each common kind, a
// multi-instance attribute and sub-attributes, so that fragments naming them merge into
// something.
const Entity& Base() {
  static const Entity base = [] {
    auto body = ParseJson(R"({"id":"urn:ngsi-ld:Base:1","type":"Base","scope":"/a",
      "name":{"type":"Property","value":"base","observedAt":"2024-01-01T00:00:00Z",
              "unitCode":"C62","quality":{"type":"Property","value":1}},
      "speed":[{"type":"Property","value":1},
               {"type":"Property","value":2,"datasetId":"urn:ngsi-ld:ds:2"}],
      "owner":{"type":"Relationship","object":"urn:ngsi-ld:Person:1",
               "since":{"type":"Property","value":"2020"}},
      "location":{"type":"GeoProperty","value":{"type":"Point","coordinates":[1,2]}},
      "label":{"type":"LanguageProperty","languageMap":{"en":"one","fr":"un"}},
      "category":{"type":"VocabProperty","vocab":"Shop"},
      "list":{"type":"ListProperty","valueList":[1,2,3]},
      "doc":{"type":"JsonProperty","json":{"a":1}}})");
    FUZZ_CHECK(body.ok(), body.status().detail());
    auto f = ngsild::ParseEntityBody(*body, Core(), {.require_id_and_type = true});
    FUZZ_CHECK(f.ok(), f.status().detail());
    return ngsild::CreateEntity(std::move(*f), kCreated);
  }();
  return base;
}

void CheckStorageRoundTrip(const Entity& e) {
  std::string record = ngsild::SerializeEntity(e);
  auto back = ngsild::DeserializeEntity(record);
  FUZZ_CHECK(back.ok(), back.status().detail() + "\nrecord: " + record);
  std::string again = ngsild::SerializeEntity(*back);
  FUZZ_CHECK(again == record, "record:  " + record + "\nagain:   " + again);
}

std::string Render(const Entity& e, Format format, bool sys_attrs, std::string lang) {
  ngsild::RenderOptions o;
  o.format = format;
  o.sys_attrs = sys_attrs;
  o.lang = std::move(lang);
  std::string text = ToJsonString(ngsild::RenderEntity(e, Core(), o));
  auto parsed = ParseJson(text, kOutputDepth);
  FUZZ_CHECK(parsed.ok(), parsed.status().detail() + "\nrendered: " + text);
  return text;
}

void CheckRenders(const Entity& e) {
  Render(e, Format::kNormalized, /*sys_attrs=*/true, "");
  Render(e, Format::kNormalized, /*sys_attrs=*/false, "fr,en;q=0.5");
  Render(e, Format::kConcise, /*sys_attrs=*/false, "");
  Render(e, Format::kKeyValues, /*sys_attrs=*/false, "");
}

void CheckInvariants(const Entity& e, const char* after) {
  std::string where = std::string("after ") + after + ": " + ngsild::SerializeEntity(e);
  std::set<std::string> names;
  for (const auto& slot : e.attrs) {
    FUZZ_CHECK(names.insert(slot.name).second, "attribute listed twice; " + where);
    FUZZ_CHECK(!slot.instances.empty(), "attribute without instances; " + where);
    std::set<std::string> dataset_ids;
    for (const auto& inst : slot.instances) {
      FUZZ_CHECK(inst.is_object(), "instance is not an object; " + where);
      FUZZ_CHECK(dataset_ids.insert(std::string(ngsild::DatasetIdOf(inst))).second,
                 "two instances with one datasetId; " + where);
      FUZZ_CHECK(inst.created_at != 0 && inst.modified_at >= inst.created_at &&
                     inst.Find("createdAt") == nullptr && inst.Find("modifiedAt") == nullptr,
                 "instance without system times, or with them as members; " + where);
      ngsild::AttrKind kind;
      FUZZ_CHECK(ngsild::ParseAttrKind(inst.GetString("type"), &kind),
                 "instance without a valid type; " + where);
      for (std::string_view member : kValueMembers) {
        FUZZ_CHECK((inst.Find(member) != nullptr) == (member == ngsild::ValueMember(kind)),
                   "a " + std::string(ngsild::AttrKindName(kind)) + " with" +
                       (inst.Find(member) != nullptr ? " " : "out ") + "\"" + std::string(member) +
                       "\"; " + where);
      }
    }
  }
}

void CheckEntity(const Entity& e, const char* after) {
  CheckInvariants(e, after);
  CheckStorageRoundTrip(e);
  CheckRenders(e);
}

// A client that GETs an entity (normalized) and PUTs it back must not change it.
void CheckRenderParseRoundTrip(const Entity& e) {
  std::string text = ToJsonString(ngsild::RenderEntity(e, Core(), {}));
  auto body = ParseJson(text, kOutputDepth);
  FUZZ_CHECK(body.ok(), body.status().detail() + "\nrendered: " + text);
  auto f = ngsild::ParseEntityBody(*body, Core(), {.require_id_and_type = true});
  FUZZ_CHECK(f.ok(),
             "rendered entity does not parse: " + f.status().detail() + "\nrendered: " + text);
  std::string before = ngsild::SerializeEntity(e);
  std::string after = ngsild::SerializeEntity(ngsild::CreateEntity(std::move(*f), kCreated));
  FUZZ_CHECK(before == after, "rendered: " + text + "\nbefore: " + before + "\nafter:  " + after);
}

}  // namespace

void FuzzEntity(std::string_view data) {
  auto body = ParseJson(data);
  if (!body.ok()) return;
  const jsonld::Context& ctx = Core();

  // Normal mode (POST /entities, PUT, POST and PATCH .../attrs): require_id_and_type only adds
  // a final check, so one parse serves creation and the updates.
  auto fragment = ngsild::ParseEntityBody(*body, ctx, {});
  if (fragment.ok()) {
    const EntityFragment& f = *fragment;
    if (!f.id.empty() && !f.types.empty()) {
      Entity e = ngsild::CreateEntity(f, kCreated);
      CheckEntity(e, "create");
      CheckRenderParseRoundTrip(e);
    }
    Entity appended = Base();
    (void)ngsild::AppendAttributes(appended, f, /*no_overwrite=*/false, kModified);
    CheckEntity(appended, "append");
    Entity appended_no_overwrite = Base();
    (void)ngsild::AppendAttributes(appended_no_overwrite, f, /*no_overwrite=*/true, kModified);
    CheckEntity(appended_no_overwrite, "append noOverwrite");
    Entity updated = Base();
    (void)ngsild::UpdateAttributes(updated, f, kModified);
    CheckEntity(updated, "update");
    Entity replaced = Base();
    ngsild::ReplaceEntity(replaced, f, kModified);
    CheckEntity(replaced, "replace");
  }

  // Partial mode (PATCH /entities/{id}, merge).
  auto partial = ngsild::ParseEntityBody(*body, ctx, {.partial = true});
  if (partial.ok()) {
    Entity merged = Base();
    // On an error the entity is partly changed and the caller discards it.
    if (ngsild::MergeEntity(merged, std::move(*partial), kModified).ok()) {
      CheckEntity(merged, "merge");
    }
  }
}

}  // namespace civitas::fuzz
