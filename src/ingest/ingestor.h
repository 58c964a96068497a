#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "common/time.h"
#include "ingest/measures.h"
#include "ingest/registry.h"
#include "jsonld/context.h"
#include "storage/entity_store.h"

namespace civitas::ingest {

enum class Transport { kHttp, kMqtt };

// How one message ended. Every message ends in exactly one of these, and each is counted.
enum class IngestOutcome {
  kOk,             // every measure group is durable
  kMalformed,      // the payload did not decode (nothing written)
  kUnknownApikey,  // no group or device has the API key
  kUnknownDevice,  // the group is known, the device is not and autoprovision is off
  kWrongApikey,    // the device exists but sends with another API key
  kStoreError,     // the store rejected the write (logged, counted, dropped)
};
inline constexpr size_t kOutcomeCount = 6;
std::string_view OutcomeLabel(IngestOutcome o);  // "ok", "malformed", ...

struct IngestResult {
  IngestOutcome outcome = IngestOutcome::kOk;
  Status status;  // the detail for anything but kOk
  size_t groups = 0;  // measure groups written
};

// One device message, whatever the transport.
struct DeviceMessage {
  Transport transport = Transport::kHttp;
  PayloadFormat format = PayloadFormat::kJson;
  std::string apikey;
  std::string device_id;
  std::string_view payload;  // only read during Ingest
  Micros received_at = 0;
};

// Turns device messages into durable entity updates: decode, resolve the device (auto-
// provisioning it when its group allows), map the measures, and submit one upsert per measure
// group, in time order, in one Submit (so one group commit carries them all). The tenant is
// the device's fiware-service.
//
// Failures never throw and never block other devices: each is counted by transport and
// outcome (Render gives the Prometheus text) and logged at most once per second per outcome,
// with the number of lines suppressed. Thread-safe.
class Ingestor {
 public:
  Ingestor(Registry& registry, storage::EntityStore& store,
           std::shared_ptr<const jsonld::Context> core_context, DecodeLimits limits = {});

  // done runs exactly once: at once when the message is rejected before writing, else on the
  // store's commit thread once the writes are durable (it must not block).
  void Ingest(const DeviceMessage& message, std::function<void(IngestResult)> done);

  // Several messages at once (what the MQTT loop read in one turn): their writes go in one
  // Submit, so that one group commit carries them all. Each done runs once, as for Ingest.
  // The payloads are only read during the call.
  struct Pending {
    DeviceMessage message;
    std::function<void(IngestResult)> done;
  };
  void IngestBatch(std::vector<Pending> batch);

  // Counters in Prometheus text format.
  void Render(std::string& out) const;
  uint64_t count(Transport t, IngestOutcome o) const {
    return counts_[static_cast<size_t>(t)][static_cast<size_t>(o)].load();
  }

  Registry& registry() { return registry_; }

 private:
  void Finish(const DeviceMessage& m, IngestResult result,
              const std::function<void(IngestResult)>& done);
  // Decodes, resolves and maps one message, appending its writes to ops. A rejected message is
  // finished here (done called) and false returned.
  bool Prepare(const DeviceMessage& m, const std::function<void(IngestResult)>& done,
               std::vector<storage::WriteOp>* ops);

  Registry& registry_;
  storage::EntityStore& store_;
  std::shared_ptr<const jsonld::Context> core_;
  DecodeLimits limits_;

  std::array<std::array<std::atomic<uint64_t>, kOutcomeCount>, 2> counts_{};
  std::atomic<uint64_t> groups_{0};
  std::atomic<uint64_t> dropped_attributes_{0};
  std::atomic<uint64_t> provisioned_{0};
  // Log rate limiting: the last time an outcome was logged, and how many were not.
  std::array<std::atomic<Micros>, kOutcomeCount> last_log_{};
  std::array<std::atomic<uint64_t>, kOutcomeCount> suppressed_{};
};

}  // namespace civitas::ingest
