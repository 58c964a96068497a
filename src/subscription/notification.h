#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/json.h"
#include "common/time.h"
#include "ngsild/entity.h"
#include "subscription/subscription.h"

namespace civitas::subscription {

// One change of one entity that a subscription is to be told about.
struct Event {
  ngsild::EntityPtr before;  // null when the entity was created
  ngsild::EntityPtr after;   // null when the entity was deleted
  // Expanded names of the attributes that changed (shared between the subscriptions that
  // watch every attribute); never null.
  std::shared_ptr<const std::vector<std::string>> changed =
      std::make_shared<const std::vector<std::string>>();
  uint32_t reason = 0;    // the Trigger that fired
  Micros at = 0;          // commit time
  bool streamed = false;  // already written to the event streams (before a retry)
};

// Compares the changes of one entity: the expanded names of the attributes created, updated
// (any member or sub-attribute other than the system timestamps differs) and deleted.
struct AttributeChanges {
  std::vector<std::string> created, updated, deleted;
};
AttributeChanges DiffAttributes(const ngsild::Entity* before, const ngsild::Entity* after);

// What changed in one entity, computed once per change and shared by every subscription: the
// attribute diff (updates) and the names involved (all of them for a creation or deletion).
struct ChangeSummary {
  AttributeChanges diff;
  std::shared_ptr<const std::vector<std::string>> names;
};
ChangeSummary Summarize(const ngsild::EntityPtr& before, const ngsild::EntityPtr& after);

// Decides whether a change concerns the subscription (its selectors, q, scopeQ, triggers and
// watched attributes) and returns the event to notify, or nothing.
std::optional<Event> MatchChange(const Subscription& s, const ngsild::EntityPtr& before,
                                 const ngsild::EntityPtr& after, Micros at,
                                 const ChangeSummary& summary);
inline std::optional<Event> MatchChange(const Subscription& s, const ngsild::EntityPtr& before,
                                        const ngsild::EntityPtr& after, Micros at) {
  return MatchChange(s, before, after, at, Summarize(before, after));
}

std::string_view TriggerName(uint32_t reason);

// Renders the entity of one event as the subscription asks (format, attributes, pick/omit,
// sysAttrs, showChanges, datasetId, lang, join through lookup): deleted attributes and
// instances appear with the value "urn:ngsi-ld:null", a deleted entity with deletedAt. With
// join "flat" the result may be an array: the entity and the entities it links to.
Json RenderEventEntity(const Subscription& s, const Event& event,
                       const std::function<ngsild::EntityPtr(const std::string&)>& lookup);

// The body of a Notification (clause 5.3.1) carrying data (rendered entities). With
// application/ld+json each entity carries the subscription's @context.
Json MakeNotification(const Subscription& s, std::string notification_id, Json::Array data,
                      std::string_view trigger_reason, Micros notified_at);

}  // namespace civitas::subscription
