#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"

namespace civitas::sim {

struct SimOptions {
  std::string civitas = "http://127.0.0.1:1026";  // provisioning (and measures without --mqtt)
  std::string mqtt;        // mqtt://host:port: measures over MQTT (QoS 1); else HTTP /iot/json
  std::string service = "aarhus";  // fiware-service: the tenant the entities go to
  int devices = 100;
  double rate = 50;        // measures per second (wall clock)
  double speedup = 60;     // simulated seconds per wall-clock second
  double duration = 0;     // wall-clock seconds; 0 runs until interrupted
  uint64_t seed = 1;
  std::string districts;   // GeoJSON of districts to place the devices in; "" for Aarhus' extent
  bool quiet = false;      // no progress line
};

// `civitas simulate ARGS`: parses the options. InvalidRequest with a message for the user.
Result<SimOptions> ParseSimOptions(const std::vector<std::string>& args);
std::string SimUsage();

// Provisions the fleet (service groups and devices; those that exist already are kept) and
// sends measures at the chosen rate until the duration is over or SIGINT/SIGTERM. Prints a
// progress line each second on stderr. Returns the process exit code.
int RunSimulation(const SimOptions& options);

}  // namespace civitas::sim
