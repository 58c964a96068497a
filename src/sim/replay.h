#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"
#include "sim/replay_data.h"

namespace civitas::sim {

struct ReplayOptions {
  std::string civitas = "http://127.0.0.1:1026";  // provisioning (and measures without --mqtt)
  std::string mqtt;  // mqtt://host:port: measures over MQTT (QoS 1); else HTTP /iot/json
  std::string service = "aarhus";  // fiware-service: the tenant the entities go to
  std::string data = "data/replay";
  double speedup = 60;  // simulated seconds per wall-clock second; 0: as fast as possible
  std::vector<Dataset> datasets = {Dataset::kTraffic, Dataset::kParking, Dataset::kAir};
  uint64_t limit = 0;  // rows to send; 0: all
  bool quiet = false;  // no progress line
};

// `civitas replay ARGS`: parses the options. InvalidRequest with a message for the user.
Result<ReplayOptions> ParseReplayOptions(const std::vector<std::string>& args);
std::string ReplayUsage();

// Reads the datasets, provisions one service group per dataset and one device per road
// segment, car park or sensor (those that exist already are kept), then sends every row as a
// measure with its own timestamp, paced by the speed-up, until the end of the data, the limit or
// SIGINT/SIGTERM. Prints a progress line each second on stderr. Returns the process exit code.
int RunReplay(const ReplayOptions& options);

}  // namespace civitas::sim
