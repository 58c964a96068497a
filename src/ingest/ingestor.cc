#include "ingest/ingestor.h"

#include <utility>
#include <vector>

#include "common/log.h"
#include "ngsild/ops.h"
#include "ngsild/parse.h"

namespace civitas::ingest {

std::string_view OutcomeLabel(IngestOutcome o) {
  switch (o) {
    case IngestOutcome::kOk: return "ok";
    case IngestOutcome::kMalformed: return "malformed";
    case IngestOutcome::kUnknownApikey: return "unknown_apikey";
    case IngestOutcome::kUnknownDevice: return "unknown_device";
    case IngestOutcome::kWrongApikey: return "wrong_apikey";
    case IngestOutcome::kStoreError: return "store_error";
  }
  return "other";
}

namespace {

std::string_view TransportLabel(Transport t) { return t == Transport::kHttp ? "http" : "mqtt"; }

IngestOutcome FromMiss(Registry::Miss miss) {
  switch (miss) {
    case Registry::Miss::kUnknownApikey: return IngestOutcome::kUnknownApikey;
    case Registry::Miss::kUnknownDevice: return IngestOutcome::kUnknownDevice;
    case Registry::Miss::kWrongApikey: return IngestOutcome::kWrongApikey;
    case Registry::Miss::kStoreError: return IngestOutcome::kStoreError;
    case Registry::Miss::kNone: break;
  }
  return IngestOutcome::kOk;
}

}  // namespace

Ingestor::Ingestor(Registry& registry, storage::EntityStore& store,
                   std::shared_ptr<const jsonld::Context> core_context, DecodeLimits limits)
    : registry_(registry), store_(store), core_(std::move(core_context)), limits_(limits) {}

void Ingestor::Finish(const DeviceMessage& m, IngestResult result,
                      const std::function<void(IngestResult)>& done) {
  const auto o = static_cast<size_t>(result.outcome);
  counts_[static_cast<size_t>(m.transport)][o].fetch_add(1, std::memory_order_relaxed);
  if (result.outcome == IngestOutcome::kOk) {
    groups_.fetch_add(result.groups, std::memory_order_relaxed);
  } else {
    // At most one line per second per outcome: a misconfigured fleet must not flood the log.
    Micros now = NowMicros();
    Micros last = last_log_[o].load(std::memory_order_relaxed);
    if (now - last >= 1000000 && last_log_[o].compare_exchange_strong(last, now)) {
      uint64_t suppressed = suppressed_[o].exchange(0);
      Log(result.outcome == IngestOutcome::kStoreError ? LogLevel::kError : LogLevel::kWarn,
          "device message dropped",
          {{"reason", OutcomeLabel(result.outcome)},
           {"transport", TransportLabel(m.transport)},
           {"apikey", m.apikey},
           {"device", m.device_id},
           {"detail", result.status.detail()},
           {"suppressed", std::to_string(suppressed)}});
    } else {
      suppressed_[o].fetch_add(1, std::memory_order_relaxed);
    }
  }
  done(std::move(result));
}

bool Ingestor::Prepare(const DeviceMessage& m, const std::function<void(IngestResult)>& done,
                       std::vector<storage::WriteOp>* ops) {
  auto groups = DecodeMeasures(m.format, m.payload, limits_);
  if (!groups.ok()) {
    Finish(m, {IngestOutcome::kMalformed, groups.status(), 0}, done);
    return false;
  }
  Registry::Resolution res = registry_.Resolve(m.apikey, m.device_id);
  if (res.miss != Registry::Miss::kNone) {
    Status st = res.miss == Registry::Miss::kStoreError ? Status::Internal(res.detail)
                                                        : Status::NotFound(res.detail);
    Finish(m, {FromMiss(res.miss), st, 0}, done);
    return false;
  }
  if (res.provisioned) {
    provisioned_.fetch_add(1, std::memory_order_relaxed);
    Log(LogLevel::kInfo, "device provisioned automatically",
        {{"service", res.device.device->scope.service},
         {"apikey", m.apikey},
         {"device", m.device_id}});
  }

  std::vector<EntityUpdate> updates = MapMeasures(res.device, *groups, m.received_at, *core_);
  const std::string& tenant = res.device.device->scope.service;
  ngsild::ParseOptions parse_options;
  parse_options.require_id_and_type = true;
  const size_t first = ops->size();
  for (EntityUpdate& u : updates) {
    dropped_attributes_.fetch_add(u.dropped, std::memory_order_relaxed);
    auto fragment = ngsild::ParseEntityBody(u.fragment, *core_, parse_options);
    if (!fragment.ok()) {
      // MapMeasures only builds valid fragments (fuzz_measures checks it); reaching here means
      // a mapping bug, which must be visible, not written half.
      ops->resize(first);
      Finish(m, {IngestOutcome::kMalformed, fragment.status(), 0}, done);
      return false;
    }
    auto shared = std::make_shared<const ngsild::EntityFragment>(std::move(*fragment));
    storage::WriteOp op;
    op.tenant = tenant;
    op.id = shared->id;
    op.apply = [shared](const storage::EntityPtr& current, Micros now) -> Result<storage::Outcome> {
      if (current == nullptr) return storage::Outcome::Put(ngsild::CreateEntity(*shared, now));
      ngsild::Entity e = *current;
      ngsild::AppendAttributes(e, *shared, /*no_overwrite=*/false, now);
      return storage::Outcome::Put(std::move(e));
    };
    ops->push_back(std::move(op));
  }
  return true;
}

void Ingestor::Ingest(const DeviceMessage& m, std::function<void(IngestResult)> done) {
  std::vector<Pending> batch;
  batch.push_back({m, std::move(done)});
  IngestBatch(std::move(batch));
}

void Ingestor::IngestBatch(std::vector<Pending> batch) {
  // The messages that produced writes, with how many ops each, in op order.
  struct Accepted {
    DeviceMessage message;  // without its payload
    std::function<void(IngestResult)> done;
    size_t ops = 0;
  };
  std::vector<Accepted> accepted;
  std::vector<storage::WriteOp> ops;
  for (Pending& p : batch) {
    const size_t before = ops.size();
    if (!Prepare(p.message, p.done, &ops)) continue;
    const size_t n = ops.size() - before;
    p.message.payload = {};
    if (n == 0) {  // nothing to write (e.g. an empty array of measures)
      Finish(p.message, {IngestOutcome::kOk, Status::Ok(), 0}, p.done);
      continue;
    }
    accepted.push_back({std::move(p.message), std::move(p.done), n});
  }
  if (ops.empty()) return;
  // One Submit for the whole batch, so one group commit carries it.
  store_.Submit(std::move(ops), [this, accepted = std::move(accepted)](std::vector<Status> statuses) {
    size_t at = 0;
    for (const Accepted& a : accepted) {
      IngestResult result{IngestOutcome::kOk, Status::Ok(), a.ops};
      for (size_t i = at; i < at + a.ops && i < statuses.size(); ++i) {
        if (!statuses[i].ok()) {
          result = {IngestOutcome::kStoreError, statuses[i], 0};
          break;
        }
      }
      at += a.ops;
      Finish(a.message, std::move(result), a.done);
    }
  });
}

void Ingestor::Render(std::string& out) const {
  out += "# TYPE civitas_ingest_messages_total counter\n";
  for (Transport t : {Transport::kHttp, Transport::kMqtt}) {
    for (size_t o = 0; o < kOutcomeCount; ++o) {
      out += "civitas_ingest_messages_total{transport=\"";
      out += TransportLabel(t);
      out += "\",outcome=\"";
      out += OutcomeLabel(static_cast<IngestOutcome>(o));
      out += "\"} " + std::to_string(count(t, static_cast<IngestOutcome>(o))) + "\n";
    }
  }
  out += "# TYPE civitas_ingest_measure_groups_total counter\ncivitas_ingest_measure_groups_total " +
         std::to_string(groups_.load()) + "\n";
  out += "# TYPE civitas_ingest_dropped_attributes_total counter\n"
         "civitas_ingest_dropped_attributes_total " +
         std::to_string(dropped_attributes_.load()) + "\n";
  out += "# TYPE civitas_ingest_devices_autoprovisioned_total counter\n"
         "civitas_ingest_devices_autoprovisioned_total " +
         std::to_string(provisioned_.load()) + "\n";
  out += "# TYPE civitas_ingest_devices gauge\ncivitas_ingest_devices " +
         std::to_string(registry_.device_count()) + "\n";
  out += "# TYPE civitas_ingest_service_groups gauge\ncivitas_ingest_service_groups " +
         std::to_string(registry_.group_count()) + "\n";
}

}  // namespace civitas::ingest
