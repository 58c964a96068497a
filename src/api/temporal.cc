// The temporal API (clauses 5.6.11-5.6.17 provision, 5.7.3-5.7.4 consumption) over the
// temporal store: history uploads, deletions, retrieval and queries in the normalized,
// simplified (temporalValues) and aggregated (aggregatedValues) representations.
#include <algorithm>
#include <cstdlib>
#include <iterator>
#include <limits>

#include "api/broker.h"
#include "api/negotiation.h"
#include "api/options.h"
#include "api/problem.h"
#include "ngsild/parse.h"
#include "ngsild/projection.h"
#include "ngsild/render.h"
#include "query/order.h"
#include "query/selector.h"
#include "temporal/aggregate.h"
#include "temporal/record.h"
#include "temporal/temporal_store.h"

namespace civitas::api {
namespace {

using temporal::AggrMethod;
using temporal::HistoryPtr;
using temporal::Sample;

constexpr Micros kMinTime = std::numeric_limits<Micros>::min();
constexpr Micros kMaxTime = std::numeric_limits<Micros>::max();
constexpr int64_t kDefaultLimit = 20;
constexpr int64_t kMaxLimit = 1000;

enum class TimeProperty { kObservedAt, kCreatedAt, kModifiedAt, kDeletedAt };
enum class Representation { kNormalized, kSimplified, kAggregated };

// What a temporal retrieval or query asks for, from the URL (and the body's temporalQ).
struct TemporalQuery {
  Micros from = kMinTime;  // [from, to)
  Micros to = kMaxTime;
  bool has_timerel = false;
  TimeProperty property = TimeProperty::kObservedAt;
  std::optional<size_t> last_n;
  Representation rep = Representation::kNormalized;
  std::vector<AggrMethod> methods;
  temporal::Duration period;
  bool sys_attrs = false;
  std::vector<std::string> attrs;     // expanded; empty: all
  std::vector<std::string> datasets;  // datasetId filter ("" for the default); empty: all
  size_t max_instances = 10000;       // per entity in one response (clause 6.3.10)
  std::shared_ptr<const ngsild::Projection> pick, omit;
  bool has_q = false;  // the entity filter has a q: match it on the latest instances

  bool Wants(const temporal::Series& s) const {
    return datasets.empty() ||
           std::find(datasets.begin(), datasets.end(), s.dataset) != datasets.end();
  }
};

// The instant of s by p. deletedAt: the time of a deletion (only deletions have one; they are
// kept apart by AttributeSamples).
Micros TimeOf(const Sample& s, TimeProperty p) {
  switch (p) {
    case TimeProperty::kCreatedAt:
      return s.created_at;
    case TimeProperty::kModifiedAt:
      return s.modified_at;
    default:
      return s.time;
  }
}

Status Unsupported(std::string_view what) {
  return Status(ErrorCode::kNotImplemented,
                std::string(what) + " is not implemented by this version of Civitas");
}

// The time filter: timerel, timeAt, endTimeAt, timeproperty, lastN (strings from the URL or
// from a temporalQ object).
Status ApplyTimeFilter(std::optional<std::string_view> timerel,
                       std::optional<std::string_view> time_at,
                       std::optional<std::string_view> end_time_at,
                       std::optional<std::string_view> timeproperty,
                       std::optional<std::string_view> last_n, TemporalQuery* q) {
  if (timeproperty) {
    if (*timeproperty == "observedAt") {
      q->property = TimeProperty::kObservedAt;
    } else if (*timeproperty == "createdAt") {
      q->property = TimeProperty::kCreatedAt;
    } else if (*timeproperty == "modifiedAt") {
      q->property = TimeProperty::kModifiedAt;
    } else if (*timeproperty == "deletedAt") {
      q->property = TimeProperty::kDeletedAt;
    } else {
      return Status::BadRequest(
          "timeproperty must be observedAt, createdAt, modifiedAt or deletedAt");
    }
  }
  if (last_n) {
    std::string text(*last_n);
    char* end = nullptr;
    long long n = std::strtoll(text.c_str(), &end, 10);
    if (text.empty() || *end != '\0' || n <= 0) {
      return Status::BadRequest("lastN must be a positive integer");
    }
    q->last_n = static_cast<size_t>(n);
  }
  if (!timerel) {
    if (time_at || end_time_at) return Status::BadRequest("timeAt needs timerel");
    return Status::Ok();
  }
  q->has_timerel = true;
  if (!time_at) return Status::BadRequest("timerel needs timeAt");
  auto at = ParseDateTime(*time_at);
  if (!at) return Status::BadRequest("timeAt is not a DateTime: '" + std::string(*time_at) + "'");
  if (*timerel == "before") {
    q->to = *at;
  } else if (*timerel == "after") {
    q->from = *at;
  } else if (*timerel == "between") {
    if (!end_time_at) return Status::BadRequest("timerel=between needs endTimeAt");
    auto end = ParseDateTime(*end_time_at);
    if (!end) return Status::BadRequest("endTimeAt is not a DateTime");
    if (*end <= *at) return Status::BadRequest("endTimeAt must be after timeAt");
    q->from = *at;
    q->to = *end;
  } else {
    return Status::BadRequest("timerel must be before, after or between");
  }
  return Status::Ok();
}

Result<TemporalQuery> QueryFromParams(const Call& call, size_t max_instances) {
  const auto& p = call.params;
  TemporalQuery q;
  q.max_instances = std::max<size_t>(1, max_instances);
  for (const char* feature : {"csf", "scopeQ", "join"}) {
    if (p.Has(feature)) {
      return Unsupported(std::string("the query parameter '") + feature + "' on the temporal API");
    }
  }
  CIVITAS_RETURN_IF_ERROR(ApplyTimeFilter(p.Get("timerel"), p.Get("timeAt"), p.Get("endTimeAt"),
                                          p.Get("timeproperty"), p.Get("lastN"), &q));
  // format takes precedence over the representation words in options (clause 6.3.12).
  std::vector<std::string> options = p.List("options");
  std::vector<std::string> format = p.List("format");
  if (!format.empty()) {
    std::erase_if(options, [](const std::string& o) {
      return o == "temporalValues" || o == "aggregatedValues" || o == "normalized";
    });
    for (const auto& f : format) options.push_back(f);
  }
  bool simplified = false, aggregated = false;
  for (const auto& o : options) {
    if (o == "temporalValues") {
      simplified = true;
    } else if (o == "aggregatedValues") {
      aggregated = true;
    } else if (o == "sysAttrs") {
      q.sys_attrs = true;
    } else if (o == "normalized") {
    } else {
      return Status::InvalidRequest("unknown option '" + o + "' for the temporal API");
    }
  }
  if (simplified && aggregated) {
    return Status::BadRequest("temporalValues and aggregatedValues exclude each other");
  }
  q.rep = simplified   ? Representation::kSimplified
          : aggregated ? Representation::kAggregated
                       : Representation::kNormalized;
  if (aggregated) {
    auto methods = p.List("aggrMethods");
    if (methods.empty()) return Status::BadRequest("aggregatedValues needs aggrMethods");
    for (const auto& m : methods) {
      AggrMethod method;
      if (!temporal::ParseAggrMethod(m, &method)) {
        return Status::BadRequest("unknown aggregation method '" + m + "'");
      }
      q.methods.push_back(method);
    }
    if (auto d = p.Get("aggrPeriodDuration")) {
      auto duration = temporal::ParseDuration(*d);
      if (!duration.ok()) return duration.status();
      q.period = *duration;
    }
  }
  for (const auto& a : p.List("attrs")) q.attrs.push_back(call.ctx->Expand(a));
  q.has_q = p.Has("q");
  for (const auto& d : p.List("datasetId")) q.datasets.push_back(d == "@none" ? "" : d);
  auto expand = [&call](std::string_view n) { return call.ctx->Expand(n); };
  for (auto [name, target] : {std::pair{"pick", &q.pick}, std::pair{"omit", &q.omit}}) {
    if (auto text = p.Get(name)) {
      auto parsed = ngsild::ParseProjection(*text, expand);
      if (!parsed.ok()) return parsed.status();
      *target = std::move(*parsed);
    }
  }
  if (q.pick && q.omit) {
    for (const auto& item : q.pick->items) {
      if (q.omit->Contains(item.name)) {
        return Status::BadRequest("'" + item.name + "' is both picked and omitted");
      }
    }
  }
  if ((q.pick || q.omit) && !q.attrs.empty()) {
    return Status::BadRequest("attrs cannot be combined with pick or omit");
  }
  return q;
}

// The samples of one series that pass the time filter, in the series' order. By deletedAt,
// only the deletions (at their instant).
Result<std::vector<Sample>> SelectedSamples(const temporal::Series& s, const TemporalQuery& q) {
  const bool by_instant = q.property == TimeProperty::kObservedAt;
  const bool deletions = q.property == TimeProperty::kDeletedAt;
  auto samples = by_instant || deletions ? s.Read(q.from, q.to) : s.Read(kMinTime, kMaxTime);
  if (!samples.ok()) return samples.status();
  std::erase_if(*samples, [&](const Sample& x) {
    Micros t = TimeOf(x, q.property);
    return (deletions && !temporal::IsDeletion(x)) || t < q.from || t >= q.to;
  });
  return samples;
}

// The samples of one attribute (every datasetId) that pass the time filter, in time order.
// By deletedAt, only the deletions.
Result<std::vector<Sample>> AttributeSamples(const temporal::History& h, const std::string& attr,
                                             const TemporalQuery& q) {
  std::vector<Sample> out;
  for (const temporal::SeriesPtr& s : h.series) {
    if (s->attr != attr || !q.Wants(*s)) continue;
    auto samples = SelectedSamples(*s, q);
    if (!samples.ok()) return samples.status();
    std::move(samples->begin(), samples->end(), std::back_inserter(out));
  }
  std::stable_sort(out.begin(), out.end(), [&](const Sample& a, const Sample& b) {
    Micros ta = TimeOf(a, q.property), tb = TimeOf(b, q.property);
    return ta != tb ? ta < tb : a.instance < b.instance;
  });
  if (q.last_n && out.size() > *q.last_n) out.erase(out.begin(), out.end() - *q.last_n);
  return out;
}

// Whether the entity has an instance the query selects (of an attribute in q.attrs, of a
// wanted datasetId, in the time interval), that is whether rendering it would show an instance
// (or, aggregated, a period) of some attribute. pick and omit are not looked at.
Result<bool> HasInstances(const temporal::History& h, const TemporalQuery& q) {
  for (const temporal::SeriesPtr& s : h.series) {
    if (!q.attrs.empty() && std::find(q.attrs.begin(), q.attrs.end(), s->attr) == q.attrs.end()) {
      continue;
    }
    if (!q.Wants(*s)) continue;
    if (q.property == TimeProperty::kObservedAt) {
      auto any = s->HasInstantIn(q.from, q.to);
      if (!any.ok()) return any.status();
      if (*any) return true;
      continue;
    }
    auto selected = SelectedSamples(*s, q);
    if (!selected.ok()) return selected.status();
    if (!selected->empty()) return true;
  }
  return false;
}

std::string_view SimplifiedMember(std::string_view kind) {
  if (kind == "Relationship") return "objects";
  if (kind == "LanguageProperty") return "languageMaps";
  if (kind == "VocabProperty") return "vocabs";
  if (kind == "ListProperty") return "valueLists";
  if (kind == "ListRelationship") return "objectLists";
  if (kind == "JsonProperty") return "jsons";
  return "values";
}

// The bounds of aggregation periods as JSON strings. The entities of one answer mostly share
// their periods, so their bounds are formatted once per answer, not once per entity.
class PeriodLabels {
 public:
  // Makes the labels of these periods, unless they are those of the last call.
  void Prepare(const std::vector<temporal::Period>& periods) {
    auto same = [](const temporal::Period& a, const temporal::Period& b) {
      return a.start == b.start && a.end == b.end;
    };
    if (std::equal(periods.begin(), periods.end(), periods_.begin(), periods_.end(), same)) {
      return;
    }
    periods_ = periods;
    starts_.clear();
    ends_.clear();
    for (const auto& p : periods) {
      starts_.push_back(Quoted(p.start));
      ends_.push_back(Quoted(p.end));
    }
  }
  // The JSON text of period i's start and end (after Prepare).
  const std::string& start(size_t i) const { return starts_[i]; }
  const std::string& end(size_t i) const { return ends_[i]; }

 private:
  static std::string Quoted(Micros t) {
    std::string out;
    AppendJsonString(out, temporal::FormatInstant(t));
    return out;
  }

  std::vector<temporal::Period> periods_;
  std::vector<std::string> starts_, ends_;
};

// Aggregates the attribute's samples per period. Uses the chunk pre-aggregates where a whole
// chunk lies inside one period and the methods allow it.
Result<Json> AggregateAttribute(const temporal::History& h, const std::string& attr,
                                const TemporalQuery& q, std::string_view kind,
                                PeriodLabels& labels) {
  bool needs_distinct =
      std::find(q.methods.begin(), q.methods.end(), AggrMethod::kDistinctCount) != q.methods.end();
  const bool by_instant = q.property == TimeProperty::kObservedAt && !q.last_n;
  // The interval: the query's, or the attribute's whole history.
  Micros first = kMaxTime, last = kMinTime;
  if (by_instant) {
    // From the chunk headers, without decoding what lies wholly inside the query's interval.
    for (const temporal::SeriesPtr& s : h.series) {
      if (s->attr != attr || !q.Wants(*s)) continue;
      auto range = s->InstantRange(q.from, q.to);
      if (!range.ok()) return range.status();
      if (!*range) continue;
      first = std::min(first, (*range)->first);
      last = std::max(last, (*range)->second);
    }
  } else {
    for (const temporal::SeriesPtr& s : h.series) {
      if (s->attr != attr) continue;
      for (const auto& c : s->chunks) {
        first = std::min(first, c.stats.first_time);
        last = std::max(last, c.stats.last_time);
      }
      for (const auto& x : s->open) {
        first = std::min(first, TimeOf(x, q.property));
        last = std::max(last, TimeOf(x, q.property));
      }
    }
  }
  if (!by_instant && (q.from != kMinTime || q.to != kMaxTime || !q.datasets.empty())) {
    auto in_range = AttributeSamples(h, attr, q);
    if (!in_range.ok()) return in_range.status();
    first = kMaxTime;
    last = kMinTime;
    for (const auto& x : *in_range) {
      first = std::min(first, TimeOf(x, q.property));
      last = std::max(last, TimeOf(x, q.property));
    }
  }
  Json out = Json::MakeObject();
  out.Set("type", Json(kind));
  if (first > last) return out;
  // Periods start at the attribute's first instance in the queried interval and end after its
  // last one, as the ETSI suite expects (timeAt only bounds the interval).
  Micros from = std::max(q.from, first);
  Micros to = std::min(q.to, last == kMaxTime ? last : last + 1);
  if (from >= to) return out;
  auto periods = temporal::MakePeriods(from, to, q.period);
  if (!periods.ok()) return periods.status();
  std::vector<temporal::Accumulator> acc(periods->size(), temporal::Accumulator(needs_distinct));
  auto period_of = [&](Micros t) -> int {
    auto it = std::upper_bound(periods->begin(), periods->end(), t,
                               [](Micros v, const temporal::Period& p) { return v < p.start; });
    if (it == periods->begin()) return -1;
    --it;
    return t < it->end ? static_cast<int>(it - periods->begin()) : -1;
  };
  if (by_instant && q.datasets.empty()) {
    std::vector<const temporal::Series*> series;
    for (const temporal::SeriesPtr& s : h.series) {
      if (s->attr == attr) series.push_back(s.get());
    }
    auto by_period = temporal::AggregateByInstant(series, *periods, needs_distinct);
    if (!by_period.ok()) return by_period.status();
    acc = std::move(*by_period);
  } else {
    auto samples = AttributeSamples(h, attr, q);
    if (!samples.ok()) return samples.status();
    for (const auto& x : *samples) {
      int p = period_of(TimeOf(x, q.property));
      if (p >= 0) acc[p].Add(x);
    }
  }
  // Each method's [value, start, end] triples, written as JSON text in one pass: there is one
  // per period per entity, and a node per element would cost more than the aggregation.
  labels.Prepare(*periods);
  for (AggrMethod m : q.methods) {
    std::string values;
    values.reserve(periods->size() * 56);
    values.push_back('[');
    for (size_t i = 0; i < periods->size(); ++i) {
      if (i > 0) values.push_back(',');
      values.push_back('[');
      AppendJson(values, acc[i].Value(m));
      values.push_back(',');
      values.append(labels.start(i));
      values.push_back(',');
      // Over the whole history, the interval ends with the last instance (included).
      if (q.period.zero() && q.to == kMaxTime && (*periods)[i].end == last + 1) {
        AppendJsonString(values, temporal::FormatInstant(last));
      } else {
        values.append(labels.end(i));
      }
      values.push_back(']');
    }
    values.push_back(']');
    out.Set(temporal::AggrMethodName(m), Json::Raw(std::move(values)));
  }
  return out;
}

// The kind of an attribute ("Property", "Relationship", ...): that its first series with a
// sample records (Series::recorded_kind, kept by the store: nothing is decoded here).
std::string_view RecordedKind(const temporal::History& h, const std::string& attr) {
  for (const temporal::SeriesPtr& s : h.series) {
    if (s->attr != attr) continue;
    if (s->recorded_kind) return ngsild::AttrKindName(*s->recorded_kind);
  }
  return "Property";
}

// The instance range of a response cut at the instance limit (clause 6.3.10): its bounds in
// the order the instances were taken (most recent first with lastN), and the size.
struct Truncation {
  bool truncated = false;
  Micros start = 0, end = 0;
  std::string size = "*";
  size_t attributes = 0;  // attributes rendered with at least one instance (or period)
  // Inputs. collect: only gather the instants of the instances that would be rendered (no
  // rendering, no cut). forced_cut: cut at this instant instead of at the entity's own limit
  // (a query cuts all its entities at one instant).
  std::vector<Micros>* collect = nullptr;
  std::optional<Micros> forced_cut;

  std::string Header() const {
    return "date-time " + temporal::FormatInstant(start) + "-" + temporal::FormatInstant(end) +
           "/" + size;
  }
};

// Renders one entity's history. When its instances (all attributes together) exceed
// q.max_instances, keeps the oldest (the most recent with lastN) up to the limit, so that every
// attribute is complete over one time range, and describes that range in *trunc.
// labels: kept across the calls of one answer (optional).
Result<Json> RenderHistory(const temporal::History& h, const TemporalQuery& q,
                           const jsonld::Context& ctx, bool with_context, Truncation* trunc,
                           PeriodLabels* labels = nullptr) {
  ngsild::Entity e;
  e.id = h.id;
  e.types = h.types;
  // Attributes in the order first seen, each once.
  std::vector<std::string> attrs;
  for (const temporal::SeriesPtr& s : h.series) {
    if (!q.attrs.empty() && std::find(q.attrs.begin(), q.attrs.end(), s->attr) == q.attrs.end()) {
      continue;
    }
    if (!q.Wants(*s)) continue;
    // The scope's series is the entity member "scope" for pick and omit.
    const std::string member =
        s->attr == temporal::TemporalStore::kScopeAttr ? std::string("scope") : s->attr.str();
    if (q.pick && !q.pick->Contains(member)) continue;
    if (q.omit && q.omit->Contains(member)) continue;
    if (std::find(attrs.begin(), attrs.end(), s->attr) == attrs.end()) attrs.push_back(s->attr);
  }
  ngsild::RenderOptions options;
  options.sys_attrs = q.sys_attrs;
  options.pick = q.pick;
  options.omit = q.omit;
  Json out = ngsild::RenderEntity(e, ctx, options);
  out.Erase("createdAt");
  out.Erase("modifiedAt");
  if (q.rep == Representation::kAggregated) {
    PeriodLabels own;
    for (const auto& attr : attrs) {
      auto agg = AggregateAttribute(h, attr, q, RecordedKind(h, attr), labels ? *labels : own);
      if (!agg.ok()) return agg.status();
      if (agg->size() > 1) ++trunc->attributes;
      out.Set(ctx.Compact(attr), std::move(*agg));
    }
    if (with_context) out.Set("@context", ctx.source());
    return out;
  }

  std::vector<std::vector<Sample>> per_attr;
  size_t total = 0;
  for (const auto& attr : attrs) {
    auto samples = AttributeSamples(h, attr, q);
    if (!samples.ok()) return samples.status();
    total += samples->size();
    per_attr.push_back(std::move(*samples));
  }
  if (trunc->collect != nullptr) {
    for (const auto& v : per_attr) {
      for (const auto& x : v) trunc->collect->push_back(TimeOf(x, q.property));
    }
    return out;
  }
  if (trunc->forced_cut) {
    const bool recent_first = q.last_n.has_value();
    const Micros cut = *trunc->forced_cut;
    size_t erased = 0;
    for (auto& v : per_attr) {
      erased += std::erase_if(v, [&](const Sample& x) {
        Micros t = TimeOf(x, q.property);
        return recent_first ? t < cut : t > cut;
      });
    }
    trunc->truncated = erased > 0;
  } else if (total > q.max_instances) {
    // The cut-off: the time of the limit-th instance in taking order.
    std::vector<Micros> times;
    for (const auto& v : per_attr) {
      for (const auto& x : v) times.push_back(TimeOf(x, q.property));
    }
    const bool recent_first = q.last_n.has_value();
    if (recent_first) {
      std::sort(times.begin(), times.end(), std::greater<>());
    } else {
      std::sort(times.begin(), times.end());
    }
    const Micros cut = times[q.max_instances - 1];
    size_t kept = 0;
    for (auto& v : per_attr) {
      std::erase_if(v, [&](const Sample& x) {
        Micros t = TimeOf(x, q.property);
        return recent_first ? t < cut : t > cut;
      });
      kept += v.size();
    }
    // Equal times at the cut can leave more than the limit: drop from the far end.
    for (auto& v : per_attr) {
      while (kept > q.max_instances && !v.empty() &&
             TimeOf(recent_first ? v.front() : v.back(), q.property) == cut) {
        if (recent_first) {
          v.erase(v.begin());
        } else {
          v.pop_back();
        }
        --kept;
      }
    }
    trunc->truncated = true;
    if (recent_first) {
      trunc->start = q.to != kMaxTime ? q.to : times.front();
      trunc->end = cut;
      trunc->size = std::to_string(*q.last_n);
    } else {
      trunc->start = q.from != kMinTime ? q.from : times.front();
      trunc->end = cut;
    }
  }

  for (size_t a = 0; a < attrs.size(); ++a) {
    const std::string& attr = attrs[a];
    const std::string name = ctx.Compact(attr);
    std::vector<Sample>* samples = &per_attr[a];
    if (!samples->empty()) ++trunc->attributes;
    if (samples->empty()) {
      // Cut away entirely: present, and empty, so the client sees it was cut; in the simplified
      // representation an attribute is an object even then (clause 4.5.9).
      if (!trunc->truncated) continue;
      if (q.rep == Representation::kSimplified) {
        const std::string_view kind = RecordedKind(h, attr);
        Json group = Json::MakeObject();
        group.Set("type", Json(kind));
        group.Set(SimplifiedMember(kind), Json::MakeArray());
        out.Set(name, std::move(group));
      } else {
        out.Set(name, Json::MakeArray());
      }
      continue;
    }
    Json::Array instances;
    for (const auto& s : *samples) {
      ngsild::AttributeSlot slot{attr, {temporal::InstanceFromSample(s)}};
      instances.push_back(ngsild::RenderAttribute(slot, ctx, options));
    }
    if (q.rep == Representation::kSimplified) {
      // One simplified object per datasetId (in the order first seen); an array when several.
      std::vector<std::string> datasets;
      std::vector<Json> groups;
      for (size_t i = 0; i < instances.size(); ++i) {
        std::string dataset(instances[i].GetString("datasetId"));
        size_t g = std::find(datasets.begin(), datasets.end(), dataset) - datasets.begin();
        ngsild::AttrKind k = ngsild::AttrKind::kProperty;
        ngsild::ParseAttrKind(instances[i].GetString("type"), &k);
        if (g == datasets.size()) {
          datasets.push_back(dataset);
          Json group = Json::MakeObject();
          group.Set("type", Json(ngsild::AttrKindName(k)));
          if (!dataset.empty()) group.Set("datasetId", dataset);
          group.Set(SimplifiedMember(ngsild::AttrKindName(k)), Json::MakeArray());
          groups.push_back(std::move(group));
        }
        const std::string_view member = ngsild::ValueMember(k);
        const Json* v = instances[i].Find(member);
        Json::Array pair;
        // Plain values for Property, GeoProperty and Relationship; the other kinds keep their
        // value member ({"languageMap": ...}), as the ETSI suite expects.
        if (k == ngsild::AttrKind::kProperty || k == ngsild::AttrKind::kGeoProperty ||
            k == ngsild::AttrKind::kRelationship) {
          pair.push_back(v ? *v : Json());
        } else {
          Json wrapped = Json::MakeObject();
          wrapped.Set(member, v ? *v : Json());
          pair.push_back(std::move(wrapped));
        }
        const Json* at =
            q.property == TimeProperty::kObservedAt ? instances[i].Find("observedAt") : nullptr;
        pair.push_back(at != nullptr && at->is_string()
                           ? *at
                           : Json(temporal::FormatInstant(TimeOf((*samples)[i], q.property))));
        Json* list = groups[g].Find(SimplifiedMember(groups[g].GetString("type")));
        list->Push(Json(std::move(pair)));
      }
      if (groups.size() == 1) {
        out.Set(name, std::move(groups[0]));
      } else {
        out.Set(name, Json(Json::Array(std::make_move_iterator(groups.begin()),
                                       std::make_move_iterator(groups.end()))));
      }
    } else {
      out.Set(name, Json(std::move(instances)));
    }
  }
  if (with_context) out.Set("@context", ctx.source());
  return out;
}

Status CheckEntityId(const std::string& id) {
  if (!ngsild::IsUri(id)) return Status::BadRequest("the entity id '" + id + "' is not a URI");
  return Status::Ok();
}

// The attributes of a temporal entity body: each member an instance or an array of instances.
Result<std::vector<temporal::TemporalStore::Instance>> ParseInstances(const Json& body,
                                                                      const jsonld::Context& ctx) {
  std::vector<temporal::TemporalStore::Instance> out;
  ngsild::ParseOptions po;
  for (const auto& [name, value] : body.as_object()) {
    if (name == "id" || name == "type" || name == "@context" || name == "scope" ||
        name == "createdAt" || name == "modifiedAt") {
      continue;
    }
    auto iri = ngsild::ExpandAttributeName(name, ctx);
    if (!iri.ok()) return iri.status();
    auto one = [&](const Json& v) -> Status {
      if (!v.is_object()) {
        return Status::BadRequest("each instance of '" + name + "' must be an object");
      }
      auto parsed = ngsild::ParseAttribute(*iri, v, ctx, po);
      if (!parsed.ok()) return parsed.status();
      for (auto& inst : *parsed) out.push_back({*iri, std::move(inst)});
      return Status::Ok();
    };
    if (value.is_array()) {
      if (value.as_array().empty()) {
        return Status::BadRequest("attribute '" + name + "' has no instances");
      }
      for (const auto& v : value.as_array()) CIVITAS_RETURN_IF_ERROR(one(v));
    } else {
      CIVITAS_RETURN_IF_ERROR(one(value));
    }
  }
  return out;
}

// Whether the history has a series of one of the attributes (expanded names).
bool HasSeriesOf(const temporal::History& h, const std::vector<std::string>& attrs) {
  return std::any_of(h.series.begin(), h.series.end(), [&attrs](const temporal::SeriesPtr& s) {
    return std::find(attrs.begin(), attrs.end(), s->attr) != attrs.end();
  });
}

// Whether the entity filter matches the history as an entity whose attributes are its series
// (holding, with q, the latest recorded instance of each, for q and the geo-query to match).
// *shell: reused across calls, so that its strings and vectors keep their capacity. False with
// *status set when a series does not decode.
bool ShellMatches(const temporal::History& h, const TemporalQuery& q,
                  const query::EntityFilter& filter, ngsild::Entity* shell, Status* status) {
  shell->id = h.id;
  shell->types = h.types;
  // One slot per attribute, in order: the series of an attribute are adjacent (sorted by
  // attribute, then datasetId). Slots are overwritten in place, not cleared.
  size_t slots = 0;
  for (const temporal::SeriesPtr& s : h.series) {
    if (slots == 0 || shell->attrs[slots - 1].name != s->attr) {
      if (slots == shell->attrs.size()) shell->attrs.emplace_back();
      shell->attrs[slots].name = s->attr;
      shell->attrs[slots].instances.clear();
      ++slots;
    }
    ngsild::AttributeSlot* slot = &shell->attrs[slots - 1];
    if (q.has_q) {
      auto all = s->Read(kMinTime, kMaxTime);
      if (!all.ok()) {
        *status = all.status();
        return false;
      }
      // A deleted attribute has no value to match.
      if (!all->empty() && !temporal::IsDeletion(all->back()))
        slot->instances.push_back(temporal::InstanceFromSample(all->back()));
    }
  }
  shell->attrs.resize(slots);
  return filter.Matches(*shell);
}

}  // namespace

bool Broker::TemporalAvailable(const CallPtr& call) {
  if (options_.temporal != nullptr) return true;
  NotImplemented(call);
  return false;
}

void Broker::TemporalCreate(const CallPtr& call) {
  if (!TemporalAvailable(call)) return;
  if (!call->body.is_object())
    return Fail(call, Status::InvalidRequest("the body must be an object"));
  // id and type, validated and expanded as for an entity.
  Json head = Json::MakeObject();
  for (const char* k : {"id", "type"}) {
    if (const Json* v = call->body.Find(k)) head.Set(k, *v);
  }
  ngsild::ParseOptions po;
  po.require_id_and_type = true;
  auto fragment = ngsild::ParseEntityBody(head, *call->ctx, po);
  if (!fragment.ok()) return Fail(call, fragment.status());
  auto instances = ParseInstances(call->body, *call->ctx);
  if (!instances.ok()) return Fail(call, instances.status());
  const std::string id = fragment->id;
  const bool existed = options_.temporal->Get(call->rc.tenant, id) != nullptr;
  SubmitOne(call,
            options_.temporal->AppendOp(call->rc.tenant, id, fragment->types, std::move(*instances),
                                        false),
            [this, id, existed](const CallPtr& c) {
              http::Response r;
              r.status = existed ? 204 : 201;
              if (!existed) r.AddHeader("Location", "/ngsi-ld/v1/temporal/entities/" + id);
              c->respond(Decorate(*c, std::move(r)));
            });
}

void Broker::TemporalAppendAttrs(const CallPtr& call) {
  if (!TemporalAvailable(call)) return;
  const std::string& id = call->segments[2];
  if (Status st = CheckEntityId(id); !st.ok()) return Fail(call, st);
  if (!call->body.is_object())
    return Fail(call, Status::InvalidRequest("the body must be an object"));
  auto instances = ParseInstances(call->body, *call->ctx);
  if (!instances.ok()) return Fail(call, instances.status());
  SubmitOne(call, options_.temporal->AppendOp(call->rc.tenant, id, {}, std::move(*instances), true),
            [this](const CallPtr& c) { ReplyEmpty(c, 204); });
}

void Broker::TemporalDelete(const CallPtr& call) {
  if (!TemporalAvailable(call)) return;
  const std::string& id = call->segments[2];
  if (Status st = CheckEntityId(id); !st.ok()) return Fail(call, st);
  SubmitOne(call, options_.temporal->DeleteEntityOp(call->rc.tenant, id),
            [this](const CallPtr& c) { ReplyEmpty(c, 204); });
}

// An empty attribute segment ("attrs//x") names no resource that can be patched (the ETSI
// suite expects 405 there, and 400 for the same path with DELETE).
// The expanded attribute of /temporal/entities/{id}/attrs/{attrId}[/...], after checking the
// entity id.
static Result<std::string> TemporalAttrTarget(const Call& call) {
  const std::string& segment = call.segments[4];
  if (segment.empty() && call.request.method == "PATCH") {
    return Status(ErrorCode::kMethodNotAllowed,
                  "method " + call.request.method + " is not allowed here");
  }
  CIVITAS_RETURN_IF_ERROR(CheckEntityId(call.segments[2]));
  return ngsild::ExpandAttributeName(segment, *call.ctx);
}

void Broker::TemporalDeleteAttr(const CallPtr& call) {
  if (!TemporalAvailable(call)) return;
  auto attr = TemporalAttrTarget(*call);
  if (!attr.ok()) return Fail(call, attr.status());
  const std::string& id = call->segments[2];
  std::optional<std::string> dataset;
  if (auto d = call->params.Get("datasetId")) dataset = std::string(*d);
  bool all = call->params.Get("deleteAll").value_or("false") == "true";
  SubmitOne(call, options_.temporal->DeleteAttrOp(call->rc.tenant, id, *attr, dataset, all),
            [this](const CallPtr& c) { ReplyEmpty(c, 204); });
}

void Broker::TemporalModifyInstance(const CallPtr& call) {
  if (!TemporalAvailable(call)) return;
  auto attr = TemporalAttrTarget(*call);
  if (!attr.ok()) return Fail(call, attr.status());
  const std::string& id = call->segments[2];
  uint64_t instance = 0;
  if (!temporal::ParseInstanceId(call->segments[5], &instance)) {
    if (!ngsild::IsUri(call->segments[5])) {
      return Fail(call, Status::BadRequest("the instanceId is not a URI"));
    }
    return Fail(call, Status::NotFound("no attribute instance " + call->segments[5]));
  }
  std::optional<ngsild::Attribute> patch;
  if (call->request.method == "PATCH") {
    if (!call->body.is_object()) {
      return Fail(call, Status::BadRequest("the body must be an attribute instance"));
    }
    // The body is the attribute fragment, either bare or under the attribute's name.
    const Json* fragment = &call->body;
    if (const Json* named = call->body.Find(call->segments[4]); named && named->is_object()) {
      fragment = named;
    }
    ngsild::ParseOptions po;
    po.partial = true;
    auto parsed = ngsild::ParseAttribute(*attr, *fragment, *call->ctx, po);
    if (!parsed.ok()) return Fail(call, parsed.status());
    if (parsed->size() != 1) return Fail(call, Status::BadRequest("exactly one instance expected"));
    patch = std::move((*parsed)[0]);
  }
  SubmitOne(call, options_.temporal->ModifyInstanceOp(call->rc.tenant, id, *attr, instance, patch),
            [this](const CallPtr& c) { ReplyEmpty(c, 204); });
}

void Broker::TemporalRetrieve(const CallPtr& call) {
  if (!TemporalAvailable(call)) return;
  const std::string& id = call->segments[2];
  if (Status st = CheckEntityId(id); !st.ok()) return Fail(call, st);
  auto q = QueryFromParams(*call, options_.temporal_max_instances);
  if (!q.ok()) return Fail(call, q.status());
  HistoryPtr h = options_.temporal->Get(call->rc.tenant, id);
  if (!h) return Fail(call, Status::NotFound("no temporal representation of entity " + id));
  if (!q->attrs.empty()) {
    if (!HasSeriesOf(*h, q->attrs))
      return Fail(call, Status::NotFound("the entity has none of the requested attributes"));
  }
  Truncation trunc;
  auto body = RenderHistory(*h, *q, *call->ctx, false, &trunc);
  if (!body.ok()) return Fail(call, body.status());
  if (body->size() == 0) {
    return Fail(call, Status::NotFound("pick/omit leave nothing of entity " + id));
  }
  if (call->accept == MediaType::kJsonLd) body->Set("@context", call->ctx->source());
  http::Response r;
  r.status = 200;
  if (trunc.truncated) {
    r.status = 206;
    r.AddHeader("Content-Range", trunc.Header());
  }
  RespondWith(call, std::move(r), *body);
}

void Broker::TemporalAnswer(const CallPtr& call, const query::EntityFilter& filter,
                            const TemporalQueryHolder& holder) {
  const TemporalQuery& q = *static_cast<const TemporalQuery*>(holder.get());
  const auto& p = call->params;
  auto limit = NonNegativeParam(p, "limit", kDefaultLimit);
  if (!limit.ok()) return Fail(call, limit.status());
  auto offset = NonNegativeParam(p, "offset", 0);
  if (!offset.ok()) return Fail(call, offset.status());
  if (*limit > kMaxLimit) {
    return Fail(call, Status(ErrorCode::kTooManyResults,
                             "limit must be at most " + std::to_string(kMaxLimit)));
  }
  bool count = p.Get("count").value_or("false") == "true";
  if (*limit == 0 && !count) {
    return Fail(call, Status::BadRequest("limit=0 is only allowed with count=true"));
  }
  // orderBy (clause 5.7.4.4): only "id" may order a temporal query. The clause also rejects
  // ordering when the query is not limited to the local scope; Civitas has no context sources,
  // so every temporal query runs on local data only and the ordering is always applicable.
  bool descending = false;
  if (auto text = p.Get("orderBy")) {
    auto expand = [&call](std::string_view n) { return call->ctx->Expand(n); };
    auto order = query::EntityOrder::Parse(*text, expand);
    if (!order.ok()) {
      return Fail(call, Status::BadRequest("orderBy: " + order.status().detail()));
    }
    for (const auto& term : order->terms()) {
      if (term.member != "id" || !term.attr.empty()) {
        return Fail(call,
                    Status::BadRequest("a temporal query can only be ordered by id (orderBy=id or "
                                       "orderBy=id;desc), not '" +
                                       std::string(*text) + "'"));
      }
    }
    descending = !order->terms().empty() && order->terms().front().descending;
  }
  if (p.Has("collation")) return Fail(call, Unsupported("orderBy with a collation"));
  // The page: entities matching the filter (and, with a time or dataset filter, having an
  // instance left), in id order (descending with orderBy=id;desc).
  std::vector<HistoryPtr> page;
  int64_t matched = 0;
  Status status;
  const bool aggregated = q.rep == Representation::kAggregated;
  // Ids and types first, under the store's lock: most histories of a typed query end there,
  // before any copying.
  auto selected = [&filter](const temporal::History& h) {
    return filter.SelectorsMatch(h.id, h.types);
  };
  // Without count, in id order, nothing after the page matters: the histories are taken in
  // batches of what the page still needs, instead of all of them for every page.
  const bool batched = !count && !descending;
  std::vector<HistoryPtr> histories;
  if (!batched) {
    histories = options_.temporal->List(call->rc.tenant, selected);
    if (descending) std::reverse(histories.begin(), histories.end());
  }
  std::string after;     // batched: the last history taken
  ngsild::Entity shell;  // reused, so that its strings and vectors keep their capacity
  // Without q, geo-query or scope query, the filter's only test left after the selectors (which
  // List applied) is attrs: whether a series records one of them. Then no shell is built: the
  // entities before the page offset are visited with no copying.
  const bool attrs_only = !q.has_q && !filter.geo && filter.scope_q.empty();
  for (bool more = true; more;) {
    more = false;
    if (batched) {
      if (static_cast<int64_t>(page.size()) >= *limit) break;
      const int64_t needed =
          std::max<int64_t>(*offset - matched, 0) + *limit - static_cast<int64_t>(page.size());
      const size_t want = static_cast<size_t>(std::max<int64_t>(needed, 64));
      histories = options_.temporal->List(call->rc.tenant, selected, after, want);
      more = histories.size() == want;
      if (!histories.empty()) after = histories.back()->id;
    }
    for (const HistoryPtr& h : histories) {
      // Without count, nothing after the page matters.
      if (!count && static_cast<int64_t>(page.size()) >= *limit) break;
      if (attrs_only) {
        if (!filter.attrs.empty() && !HasSeriesOf(*h, filter.attrs)) continue;
      } else if (!ShellMatches(*h, q, filter, &shell, &status)) {
        if (!status.ok()) return Fail(call, status);
        continue;
      }
      const bool in_page = matched >= *offset && static_cast<int64_t>(page.size()) < *limit;
      // Checked for every entity, also outside the page, so that count is right.
      const bool must_check = (q.has_timerel || !q.datasets.empty()) && !q.pick && !q.omit;
      if (must_check) {
        auto has = HasInstances(*h, q);
        if (!has.ok()) return Fail(call, has.status());
        if (!*has) continue;
      }
      if (in_page) page.push_back(h);
      ++matched;
    }
  }
  // The instance limit applies to the whole answer: every entity is cut at the same instant,
  // so the answer covers one time range (Content-Range).
  Truncation trunc;
  std::optional<Micros> cut;
  if (!aggregated) {
    std::vector<Micros> times;
    for (const HistoryPtr& h : page) {
      Truncation c;
      c.collect = &times;
      auto body = RenderHistory(*h, q, *call->ctx, false, &c);
      if (!body.ok()) return Fail(call, body.status());
    }
    if (times.size() > q.max_instances) {
      const bool recent_first = q.last_n.has_value();
      if (recent_first) {
        std::sort(times.begin(), times.end(), std::greater<>());
      } else {
        std::sort(times.begin(), times.end());
      }
      cut = times[q.max_instances - 1];
      trunc.truncated = true;
      trunc.end = *cut;
      if (recent_first) {
        trunc.start = q.to != kMaxTime ? q.to : times.front();
        trunc.size = std::to_string(*q.last_n);
      } else {
        trunc.start = q.from != kMinTime ? q.from : times.front();
      }
    }
  }
  Json::Array out;
  out.reserve(page.size());
  PeriodLabels labels;
  for (const HistoryPtr& h : page) {
    Truncation t;
    t.forced_cut = cut;
    auto body = RenderHistory(*h, q, *call->ctx, false, &t, &labels);
    if (!body.ok()) return Fail(call, body.status());
    if (call->accept == MediaType::kJsonLd) body->Set("@context", call->ctx->source());
    out.push_back(std::move(*body));
  }
  http::Response r;
  r.status = 200;
  if (count) r.AddHeader("NGSILD-Results-Count", std::to_string(matched));
  if (trunc.truncated) {
    r.status = 206;
    r.AddHeader("Content-Range", trunc.Header());
  }
  RespondWith(call, std::move(r), Json(std::move(out)));
}

void Broker::TemporalQueryGet(const CallPtr& call) {
  if (!TemporalAvailable(call)) return;
  auto q = QueryFromParams(*call, options_.temporal_max_instances);
  if (!q.ok()) return Fail(call, q.status());
  const auto& p = call->params;
  if (!p.Has("type") && !p.Has("attrs") && !p.Has("q") && !p.Has("georel") &&
      p.Get("local").value_or("") != "true") {
    return Fail(call, Status::BadRequest("a temporal query needs at least one of type, attrs, q "
                                         "or georel (or local=true)"));
  }
  query::EntityFilter filter;
  query::EntitySelector selector;
  auto expand = [&call](std::string_view n) { return call->ctx->Expand(n); };
  if (auto type = p.Get("type")) {
    auto expr = query::TypeExpr::Parse(*type, expand);
    if (!expr.ok()) return Fail(call, expr.status());
    selector.type = std::move(*expr);
  }
  for (const auto& id : p.List("id")) {
    if (!ngsild::IsUri(id)) return Fail(call, Status::BadRequest("id '" + id + "' is not a URI"));
    selector.ids.push_back(id);
  }
  if (auto pattern = p.Get("idPattern")) {
    if (Status st = selector.SetIdPattern(*pattern); !st.ok()) return Fail(call, st);
  }
  filter.selectors.push_back(std::move(selector));
  filter.attrs = q->attrs;
  // A geo-query, like q, is matched on the latest recorded instance of the GeoProperty.
  auto geo = GeoParam(*call);
  if (!geo.ok()) return Fail(call, geo.status());
  if (*geo) {
    filter.geo = std::move(**geo);
    q->has_q = true;
  }
  if (auto text = p.Get("q")) {
    // Matched on the latest recorded instance of each attribute (not on every instance).
    auto parsed = ParseQParam(*call, *text);
    if (!parsed.ok()) return Fail(call, parsed.status());
    filter.q = std::move(*parsed);
  }
  auto holder = std::make_shared<const TemporalQuery>(std::move(*q));
  TemporalAnswer(call, filter, holder);
}

void Broker::TemporalQueryPost(const CallPtr& call) {
  if (!TemporalAvailable(call)) return;
  const Json& body = call->body;
  if (!body.is_object()) return Fail(call, Status::BadRequest("the body must be a Query object"));
  if (body.GetString("type") != "Query") {
    return Fail(call, Status::BadRequest("the body must have \"type\": \"Query\""));
  }
  for (const char* feature : {"scopeQ", "csf"}) {
    if (body.Find(feature)) return Fail(call, Unsupported(std::string("'") + feature + "'"));
  }
  auto q = QueryFromParams(*call, options_.temporal_max_instances);
  if (!q.ok()) return Fail(call, q.status());
  std::optional<query::QExpr> body_q;
  if (const Json* text = body.Find("q")) {
    if (!text->is_string()) return Fail(call, Status::BadRequest("q must be a string"));
    auto parsed = ParseQParam(*call, text->as_string());
    if (!parsed.ok()) return Fail(call, parsed.status());
    body_q = std::move(*parsed);
    q->has_q = true;
  }
  if (const Json* tq = body.Find("temporalQ")) {
    if (!tq->is_object()) return Fail(call, Status::BadRequest("temporalQ must be an object"));
    auto str = [&](const char* k) -> std::optional<std::string_view> {
      const Json* v = tq->Find(k);
      if (v == nullptr) return std::nullopt;
      if (v->is_string()) return std::string_view(v->as_string());
      return std::string_view("<not a string>");
    };
    std::string last_n;
    if (const Json* n = tq->Find("lastN"); n && n->is_int()) last_n = std::to_string(n->as_int());
    Status st = ApplyTimeFilter(
        str("timerel"), str("timeAt"), str("endTimeAt"), str("timeproperty"),
        last_n.empty() ? str("lastN") : std::optional<std::string_view>(last_n), &*q);
    if (!st.ok()) return Fail(call, st);
  }
  if (const Json* attrs = body.Find("attrs")) {
    if (!attrs->is_array()) return Fail(call, Status::BadRequest("attrs must be an array"));
    for (const auto& a : attrs->as_array()) {
      if (!a.is_string()) return Fail(call, Status::BadRequest("attrs must be strings"));
      q->attrs.push_back(call->ctx->Expand(a.as_string()));
    }
  }
  query::EntityFilter filter;
  auto expand = [&call](std::string_view n) { return call->ctx->Expand(n); };
  if (const Json* entities = body.Find("entities")) {
    if (!entities->is_array()) return Fail(call, Status::BadRequest("entities must be an array"));
    for (const auto& item : entities->as_array()) {
      if (!item.is_object()) {
        return Fail(call, Status::BadRequest("each EntitySelector must be an object"));
      }
      query::EntitySelector s;
      if (const Json* id = item.Find("id")) {
        if (!id->is_string() || !ngsild::IsUri(id->as_string())) {
          return Fail(call, Status::BadRequest("an EntitySelector id must be a URI"));
        }
        s.ids.push_back(id->as_string());
      }
      if (const Json* pattern = item.Find("idPattern")) {
        if (!pattern->is_string()) return Fail(call, Status::BadRequest("idPattern: a string"));
        if (Status st = s.SetIdPattern(pattern->as_string()); !st.ok()) return Fail(call, st);
      }
      const Json* type = item.Find("type");
      if (type == nullptr || !type->is_string()) {
        return Fail(call, Status::BadRequest("an EntitySelector needs a type"));
      }
      auto expr = query::TypeExpr::Parse(type->as_string(), expand);
      if (!expr.ok()) return Fail(call, expr.status());
      s.type = std::move(*expr);
      filter.selectors.push_back(std::move(s));
    }
  }
  if (const Json* geo_q = body.Find("geoQ")) {
    auto geo = GeoMember(*call, *geo_q);
    if (!geo.ok()) return Fail(call, geo.status());
    filter.geo = std::move(*geo);
    q->has_q = true;  // matched on the latest recorded instances, as q
  }
  if (filter.selectors.empty() && q->attrs.empty() && !body_q && !filter.geo) {
    return Fail(call, Status::BadRequest("a temporal query needs entities, attrs, q or geoQ"));
  }
  filter.attrs = q->attrs;
  if (body_q) filter.q = std::move(*body_q);
  auto holder = std::make_shared<const TemporalQuery>(std::move(*q));
  TemporalAnswer(call, filter, holder);
}

}  // namespace civitas::api
