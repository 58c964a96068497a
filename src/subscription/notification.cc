#include "subscription/notification.h"

#include <algorithm>

namespace civitas::subscription {
namespace {

constexpr std::string_view kNull = "urn:ngsi-ld:null";

// Equal as attribute instances, members in any order. The system times are not members, so a
// new modifiedAt alone does not make an instance different.
bool SameInstance(const Json& a, const Json& b) {
  if (!a.is_object() || !b.is_object()) return a == b;
  if (a.size() != b.size()) return false;
  for (const auto& [key, value] : a.as_object()) {
    const Json* other = b.Find(key);
    if (other == nullptr) return false;
    bool equal = ngsild::IsCoreAttributeMember(key) ? value == *other : SameInstance(value, *other);
    if (!equal) return false;
  }
  return true;
}

bool SameSlot(const ngsild::AttributeSlot& a, const ngsild::AttributeSlot& b) {
  if (a.instances.size() != b.instances.size()) return false;
  for (const auto& inst : a.instances) {
    int i = ngsild::FindInstance(b, ngsild::DatasetIdOf(inst));
    if (i < 0 || !SameInstance(inst, b.instances[static_cast<size_t>(i)])) return false;
  }
  return true;
}

bool Watched(const Subscription& s, const std::string& name) {
  return s.watched.empty() ||
         std::find(s.watched.begin(), s.watched.end(), name) != s.watched.end();
}

void KeepWatched(const Subscription& s, std::vector<std::string>* names) {
  std::erase_if(*names, [&s](const std::string& n) { return !Watched(s, n); });
}

std::string PreviousMember(std::string_view value_member) {
  std::string out = "previous";
  out += static_cast<char>(std::toupper(static_cast<unsigned char>(value_member[0])));
  out.append(value_member.substr(1));
  return out;
}

std::string_view ValueMemberOf(const Json& instance) {
  ngsild::AttrKind kind;
  if (!ngsild::ParseAttrKind(instance.GetString("type"), &kind)) return "value";
  return ngsild::ValueMember(kind);
}

bool DatasetSelected(const Subscription& s, std::string_view dataset_id) {
  if (s.dataset_ids.empty()) return true;
  for (const auto& d : s.dataset_ids) {
    if ((d == "@none" && dataset_id.empty()) || d == dataset_id) return true;
  }
  return false;
}

}  // namespace

AttributeChanges DiffAttributes(const ngsild::Entity* before, const ngsild::Entity* after) {
  // Instances are compared by datasetId: a new instance is a creation, a removed one a
  // deletion, a changed one an update (a name may be in several lists).
  AttributeChanges out;
  if (after != nullptr) {
    for (const auto& slot : after->attrs) {
      const ngsild::AttributeSlot* old = before ? before->FindSlot(slot.name) : nullptr;
      if (old == nullptr) {
        out.created.push_back(slot.name);
        continue;
      }
      bool created = false, updated = false, deleted = false;
      for (const auto& inst : slot.instances) {
        int i = ngsild::FindInstance(*old, ngsild::DatasetIdOf(inst));
        if (i < 0) {
          created = true;
        } else if (!SameInstance(old->instances[static_cast<size_t>(i)], inst)) {
          updated = true;
        }
      }
      for (const auto& inst : old->instances) {
        if (ngsild::FindInstance(slot, ngsild::DatasetIdOf(inst)) < 0) deleted = true;
      }
      if (created) out.created.push_back(slot.name);
      if (updated) out.updated.push_back(slot.name);
      if (deleted) out.deleted.push_back(slot.name);
    }
  }
  if (before != nullptr) {
    for (const auto& slot : before->attrs) {
      if (after == nullptr || after->FindSlot(slot.name) == nullptr) {
        out.deleted.push_back(slot.name);
      }
    }
  }
  return out;
}

ChangeSummary Summarize(const ngsild::EntityPtr& before, const ngsild::EntityPtr& after) {
  ChangeSummary out;
  auto names = std::make_shared<std::vector<std::string>>();
  if (before && after) {
    out.diff = DiffAttributes(before.get(), after.get());
    for (const auto* list : {&out.diff.created, &out.diff.updated, &out.diff.deleted}) {
      for (const auto& n : *list) {
        if (std::find(names->begin(), names->end(), n) == names->end()) names->push_back(n);
      }
    }
  } else {
    for (const auto& slot : (after ? after : before)->attrs) names->push_back(slot.name);
  }
  out.names = std::move(names);
  return out;
}

std::optional<Event> MatchChange(const Subscription& s, const ngsild::EntityPtr& before,
                                 const ngsild::EntityPtr& after, Micros at,
                                 const ChangeSummary& summary) {
  if (s.time_interval != 0) return std::nullopt;
  const ngsild::Entity& e = after ? *after : *before;
  if (!s.Selects(e)) return std::nullopt;
  Event ev;
  ev.before = before;
  ev.after = after;
  ev.at = at;
  // Every subscription that watches all attributes shares the change's list of names.
  auto watched_names = [&]() -> std::shared_ptr<const std::vector<std::string>> {
    if (s.watched.empty()) return summary.names;
    auto names = std::make_shared<std::vector<std::string>>(*summary.names);
    KeepWatched(s, names.get());
    return names;
  };
  if (!before || !after) {
    const uint32_t entity_trigger = before ? kEntityDeleted : kEntityCreated;
    const uint32_t attribute_trigger = before ? kAttributeDeleted : kAttributeCreated;
    if (s.triggers & entity_trigger) {
      ev.reason = entity_trigger;
      ev.changed = watched_names();
    } else if (s.triggers & attribute_trigger) {
      ev.changed = watched_names();
      if (ev.changed->empty()) return std::nullopt;
      ev.reason = attribute_trigger;
    } else {
      return std::nullopt;
    }
    return ev;
  }
  const AttributeChanges& diff = summary.diff;
  bool all = s.watched.empty();
  auto relevant = [&](uint32_t trigger, const std::vector<std::string>& names) {
    if (!(s.triggers & trigger)) {
      all = all && names.empty();
      return false;
    }
    return std::any_of(names.begin(), names.end(),
                       [&s](const std::string& n) { return Watched(s, n); });
  };
  bool created = relevant(kAttributeCreated, diff.created);
  bool updated = relevant(kAttributeUpdated, diff.updated);
  bool deleted = relevant(kAttributeDeleted, diff.deleted);
  ev.reason = created   ? kAttributeCreated
              : updated ? kAttributeUpdated
              : deleted ? kAttributeDeleted
                        : 0;
  if (ev.reason == 0) return std::nullopt;
  if (all) {
    ev.changed = summary.names;  // the common case: no copy
    return ev;
  }
  auto names = std::make_shared<std::vector<std::string>>();
  auto take = [&](bool fired, const std::vector<std::string>& list) {
    if (!fired) return;
    for (const auto& n : list) {
      if (Watched(s, n) && std::find(names->begin(), names->end(), n) == names->end()) {
        names->push_back(n);
      }
    }
  };
  take(created, diff.created);
  take(updated, diff.updated);
  take(deleted, diff.deleted);
  ev.changed = std::move(names);
  return ev;
}

std::string_view TriggerName(uint32_t reason) {
  switch (reason) {
    case kEntityCreated:
      return "entityCreated";
    case kEntityDeleted:
      return "entityDeleted";
    case kAttributeCreated:
      return "attributeCreated";
    case kAttributeUpdated:
      return "attributeUpdated";
    case kAttributeDeleted:
      return "attributeDeleted";
  }
  return "timeInterval";
}

Json RenderEventEntity(const Subscription& s, const Event& event,
                       const std::function<ngsild::EntityPtr(const std::string&)>& lookup) {
  const NotificationParams& np = s.notification;
  const bool entity_deleted = !event.after;
  ngsild::Entity view;
  if (entity_deleted) {
    view.id = event.before->id;
    view.types = event.before->types;
    view.scope = event.before->scope;
    view.created_at = event.before->created_at;
    view.modified_at = event.before->modified_at;
  } else {
    view = *event.after;
  }
  if (!s.dataset_ids.empty()) {
    for (auto& slot : view.attrs) {
      std::erase_if(slot.instances, [&s](const Json& inst) {
        return !DatasetSelected(s, ngsild::DatasetIdOf(inst));
      });
    }
    std::erase_if(view.attrs,
                  [](const ngsild::AttributeSlot& slot) { return slot.instances.empty(); });
  }

  const bool show_nulls = !(entity_deleted && event.reason == kEntityDeleted && !np.show_changes);
  if (event.before) {
    for (const auto& name : *event.changed) {
      const ngsild::AttributeSlot* old = event.before->FindSlot(name);
      if (old == nullptr) continue;
      ngsild::AttributeSlot* now = view.FindSlot(name);
      const bool whole = now == nullptr;
      for (const auto& inst : old->instances) {
        std::string_view dataset = ngsild::DatasetIdOf(inst);
        if (!DatasetSelected(s, dataset)) continue;
        std::string_view member = ValueMemberOf(inst);
        int i = now ? ngsild::FindInstance(*now, dataset) : -1;
        if (i >= 0) {
          // Still there: with showChanges, the previous value beside the current one.
          Json& cur = now->instances[static_cast<size_t>(i)];
          if (np.show_changes && event.after && !SameInstance(inst, cur)) {
            if (const Json* prev = inst.Find(member)) cur.Set(PreviousMember(member), *prev);
          }
          continue;
        }
        if (!show_nulls) continue;
        // A whole attribute that is gone is one null instance; an instance that is gone while
        // others remain is a null instance with its datasetId.
        if (whole && now != nullptr) break;  // already shown
        ngsild::Attribute gone(Json::MakeObject());
        gone.Set("type", inst.Find("type") ? *inst.Find("type") : Json("Property"));
        if (member == "languageMap") {
          Json map = Json::MakeObject();
          map.Set("@none", Json(kNull));
          gone.Set(member, std::move(map));
        } else {
          gone.Set(member, Json(kNull));
        }
        if (!dataset.empty() && !whole) gone.Set("datasetId", Json(dataset));
        if (np.show_changes) {
          if (const Json* prev = inst.Find(member)) gone.Set(PreviousMember(member), *prev);
        }
        if (np.sys_attrs) {
          gone.created_at = inst.created_at;
          gone.modified_at = inst.modified_at;
          gone.Set("deletedAt", Json(FormatDateTime(event.at)));
        }
        if (now == nullptr) {
          view.attrs.push_back({name, {}});
          now = &view.attrs.back();
        }
        now->instances.push_back(std::move(gone));
      }
    }
  }

  ngsild::RenderOptions o;
  o.format = np.format;
  o.sys_attrs = np.sys_attrs;
  o.attrs = np.attributes;
  o.pick = np.pick;
  o.omit = np.omit;
  o.lang = s.lang;
  o.join = np.join;
  o.join_level = np.join_level;
  o.lookup = lookup;
  if (o.join == ngsild::Join::kFlat && !entity_deleted) {
    return ngsild::RenderEntityFlat(view, *s.ctx, o);
  }
  Json out = ngsild::RenderEntity(view, *s.ctx, o);
  if (np.sys_attrs && np.format == ngsild::Format::kKeyValues) {
    // Notifications carry the system timestamps in every format when asked for.
    out.Set("createdAt", Json(FormatDateTime(view.created_at)));
    out.Set("modifiedAt", Json(FormatDateTime(view.modified_at)));
  }
  if (entity_deleted) out.Set("deletedAt", Json(FormatDateTime(event.at)));
  return out;
}

Json MakeNotification(const Subscription& s, std::string notification_id, Json::Array data,
                      std::string_view trigger_reason, Micros notified_at) {
  if (s.notification.accept == "application/ld+json") {
    for (auto& e : data) {
      if (e.is_object()) e.Set("@context", Json(s.context_url));
    }
  }
  Json n = Json::MakeObject();
  n.Set("id", Json(std::move(notification_id)));
  n.Set("type", Json("Notification"));
  n.Set("subscriptionId", Json(s.id));
  n.Set("notifiedAt", Json(FormatDateTime(notified_at)));
  n.Set("data", Json(std::move(data)));
  n.Set("triggerReason", Json(trigger_reason));
  return n;
}

}  // namespace civitas::subscription
