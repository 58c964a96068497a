#include "sim/simulate.h"

#include <arpa/inet.h>
#include <mosquitto.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

#include "ingest/mqtt_source.h"
#include "sim/model.h"

namespace civitas::sim {
namespace {

std::atomic<bool> g_stop{false};  // set by the signal handler only

// A minimal blocking HTTP/1.1 client on one keep-alive connection: enough to provision and to
// post measures to Civitas. Not a general client (no TLS, no chunked responses).
class Http {
 public:
  explicit Http(std::string base) {
    std::string_view b = base;
    if (b.substr(0, 7) == "http://") b.remove_prefix(7);
    if (size_t slash = b.find('/'); slash != std::string_view::npos) b = b.substr(0, slash);
    size_t colon = b.rfind(':');
    host_ = std::string(b.substr(0, colon));
    port_ = colon == std::string_view::npos ? "80" : std::string(b.substr(colon + 1));
  }
  ~Http() { Close(); }

  // The status of the answer, or -1 (with *error) if there was none.
  int Post(const std::string& target, const std::vector<std::string>& headers,
           const std::string& body, std::string* error) {
    for (int attempt = 0; attempt < 2; ++attempt) {
      if (fd_ < 0 && !Connect(error)) return -1;
      std::string req = "POST " + target + " HTTP/1.1\r\nHost: " + host_ +
                        "\r\nContent-Length: " + std::to_string(body.size()) + "\r\n";
      for (const auto& h : headers) req += h + "\r\n";
      req += "\r\n" + body;
      if (::send(fd_, req.data(), req.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(req.size())) {
        int status = ReadStatus();
        if (status > 0) return status;
      }
      Close();  // a closed keep-alive connection: retry once on a new one
    }
    *error = "no answer from " + host_ + ":" + port_;
    return -1;
  }

 private:
  bool Connect(std::string* error) {
    addrinfo hints{}, *res = nullptr;
    hints.ai_socktype = SOCK_STREAM;
    if (::getaddrinfo(host_.c_str(), port_.c_str(), &hints, &res) != 0 || res == nullptr) {
      *error = "cannot resolve " + host_;
      return false;
    }
    fd_ = ::socket(res->ai_family, SOCK_STREAM, 0);
    bool ok = fd_ >= 0 && ::connect(fd_, res->ai_addr, res->ai_addrlen) == 0;
    ::freeaddrinfo(res);
    if (!ok) {
      Close();
      *error = "cannot connect to " + host_ + ":" + port_;
      return false;
    }
    int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return true;
  }
  void Close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
    buf_.clear();
  }
  // Reads one response (headers and a Content-Length body) and returns its status.
  int ReadStatus() {
    while (true) {
      size_t end = buf_.find("\r\n\r\n");
      if (end != std::string::npos) {
        int status = std::atoi(buf_.c_str() + buf_.find(' ') + 1);
        size_t length = 0;
        for (const char* name : {"Content-Length: ", "content-length: "}) {
          if (size_t at = buf_.find(name); at != std::string::npos && at < end) {
            length = std::strtoul(buf_.c_str() + at + std::strlen(name), nullptr, 10);
          }
        }
        while (buf_.size() < end + 4 + length) {
          if (!Fill()) return -1;
        }
        buf_.erase(0, end + 4 + length);
        return status;
      }
      if (!Fill()) return -1;
    }
  }
  bool Fill() {
    char chunk[16384];
    ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
    if (n <= 0) return false;
    buf_.append(chunk, static_cast<size_t>(n));
    return true;
  }

  std::string host_, port_;
  int fd_ = -1;
  std::string buf_;
};

bool ParseNumber(const std::string& s, double min, double max, double* out) {
  char* end = nullptr;
  double v = std::strtod(s.c_str(), &end);
  if (s.empty() || *end != '\0' || v < min || v > max) return false;
  *out = v;
  return true;
}

}  // namespace

std::string SimUsage() {
  return R"(Usage: civitas simulate [options]

Publishes realistic measures of a city's sensors (air quality, parking, traffic, noise, street
lights) placed over Aarhus, with daily patterns, to a running Civitas. It provisions the
devices through Civitas' IoT Agent API first.

  --civitas URL     Civitas base URL, default http://127.0.0.1:1026
  --mqtt URL        send measures over MQTT (QoS 1) through this broker, mqtt://host:port;
                    default: HTTP POST /iot/json to Civitas
  --service NAME    fiware-service (the tenant), default aarhus
  --devices N       devices, default 100
  --rate R          measures per second, default 50
  --speedup X       simulated seconds per second, default 60
  --duration SEC    stop after SEC seconds (default: until Ctrl-C)
  --seed N          placement and noise seed, default 1
  --districts FILE  place the devices inside these districts (GeoJSON FeatureCollection, e.g.
                    data/demo/aarhus_local_community.wgs84.geojson) and give each a
                    refDistrict relationship; default: anywhere over Aarhus
  --quiet           no progress line
)";
}

Result<SimOptions> ParseSimOptions(const std::vector<std::string>& args) {
  SimOptions o;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "--quiet") {
      o.quiet = true;
      continue;
    }
    if (i + 1 >= args.size()) return Status::InvalidRequest(a + " needs a value");
    const std::string& v = args[++i];
    double n = 0;
    if (a == "--civitas") {
      if (v.substr(0, 7) != "http://") return Status::InvalidRequest("--civitas: expected http://");
      o.civitas = v;
    } else if (a == "--mqtt") {
      if (auto u = ingest::ParseMqttUrl(v); !u.ok()) return u.status();
      o.mqtt = v;
    } else if (a == "--districts") {
      o.districts = v;
    } else if (a == "--service") {
      o.service = v;
    } else if (a == "--devices" && ParseNumber(v, 1, 1000000, &n)) {
      o.devices = static_cast<int>(n);
    } else if (a == "--rate" && ParseNumber(v, 0.01, 1e6, &n)) {
      o.rate = n;
    } else if (a == "--speedup" && ParseNumber(v, 0, 1e6, &n)) {
      o.speedup = n;
    } else if (a == "--duration" && ParseNumber(v, 0, 1e9, &n)) {
      o.duration = n;
    } else if (a == "--seed" && ParseNumber(v, 0, 1e18, &n)) {
      o.seed = static_cast<uint64_t>(n);
    } else {
      return Status::InvalidRequest("bad option " + a + " " + v);
    }
  }
  return o;
}

int RunSimulation(const SimOptions& o) {
  signal(SIGINT, [](int) { g_stop = true; });
  signal(SIGTERM, [](int) { g_stop = true; });
  signal(SIGPIPE, SIG_IGN);
  std::vector<District> districts;
  if (!o.districts.empty()) {
    std::ifstream in(o.districts, std::ios::binary);
    std::stringstream text;
    text << in.rdbuf();
    auto parsed = in ? ParseDistricts(text.str()) : Result<std::vector<District>>(
                                                        Status::NotFound("cannot read file"));
    if (!parsed.ok()) {
      std::fprintf(stderr, "civitas simulate: %s: %s\n", o.districts.c_str(),
                   parsed.status().detail().c_str());
      return 1;
    }
    districts = std::move(*parsed);
  }
  const std::vector<SimDevice> fleet = MakeFleet(o.devices, o.seed, districts);

  // Provisioning: 409 (already there from an earlier run) is fine.
  Http http(o.civitas);
  const std::vector<std::string> headers = {"Content-Type: application/json",
                                            "fiware-service: " + o.service};
  std::string error;
  int status = http.Post("/iot/services", headers, ToJsonString(ServiceGroupsBody()), &error);
  if (status != 201 && status != 409) {
    std::fprintf(stderr, "civitas simulate: provisioning service groups: %s\n",
                 status < 0 ? error.c_str() : ("HTTP " + std::to_string(status)).c_str());
    return 1;
  }
  for (size_t from = 0; from < fleet.size(); from += 500) {
    status = http.Post("/iot/devices", headers, ToJsonString(DevicesBody(fleet, from, 500)), &error);
    if (status == 409) {  // some exist: provision one by one, keeping the existing ones
      for (size_t i = from; i < fleet.size() && i < from + 500; ++i) {
        status = http.Post("/iot/devices", headers, ToJsonString(DevicesBody(fleet, i, 1)), &error);
        if (status != 201 && status != 409) break;
      }
      if (status == 409) status = 201;
    }
    if (status != 201) {
      std::fprintf(stderr, "civitas simulate: provisioning devices: %s\n",
                   status < 0 ? error.c_str() : ("HTTP " + std::to_string(status)).c_str());
      return 1;
    }
  }

  struct mosquitto* mqtt = nullptr;
  if (!o.mqtt.empty()) {
    auto u = ingest::ParseMqttUrl(o.mqtt);
    mosquitto_lib_init();
    mqtt = mosquitto_new(nullptr, true, nullptr);
    if (!u->username.empty()) {
      mosquitto_username_pw_set(mqtt, u->username.c_str(),
                                u->password.empty() ? nullptr : u->password.c_str());
    }
    if (mosquitto_connect(mqtt, u->host.c_str(), u->port, 30) != MOSQ_ERR_SUCCESS ||
        mosquitto_loop_start(mqtt) != MOSQ_ERR_SUCCESS) {
      std::fprintf(stderr, "civitas simulate: cannot connect to %s\n", o.mqtt.c_str());
      return 1;
    }
  }

  std::mt19937_64 rng(o.seed);
  using Clock = std::chrono::steady_clock;
  const auto start = Clock::now();
  const Micros sim_start = NowMicros();
  uint64_t sent = 0, failed = 0, last_sent = 0;
  auto last_report = start;
  size_t next = 0;  // the device whose turn it is
  while (!g_stop) {
    double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
    if (o.duration > 0 && elapsed >= o.duration) break;
    // Pacing: measure number `sent` is due at sent / rate seconds.
    double due = static_cast<double>(sent + failed) / o.rate;
    if (due > elapsed) {
      std::this_thread::sleep_for(std::chrono::duration<double>(std::min(due - elapsed, 0.2)));
      continue;
    }
    const SimDevice& d = fleet[next++ % fleet.size()];
    const Micros sim_now = sim_start + static_cast<Micros>(elapsed * o.speedup * 1e6);
    std::string payload = ToJsonString(MakeMeasure(d, sim_now, rng));
    bool ok;
    if (mqtt != nullptr) {
      std::string topic = "/json/" + ApiKeyOf(d.kind) + "/" + d.id + "/attrs";
      ok = mosquitto_publish(mqtt, nullptr, topic.c_str(), static_cast<int>(payload.size()),
                             payload.data(), 1, false) == MOSQ_ERR_SUCCESS;
    } else {
      ok = http.Post("/iot/json?k=" + ApiKeyOf(d.kind) + "&i=" + d.id,
                     {"Content-Type: application/json"}, payload, &error) == 200;
    }
    ++(ok ? sent : failed);
    auto now = Clock::now();
    if (!o.quiet && now - last_report >= std::chrono::seconds(1)) {
      double dt = std::chrono::duration<double>(now - last_report).count();
      std::fprintf(stderr, "\rsent %llu  failed %llu  %.0f/s  simulated %s   ",
                   static_cast<unsigned long long>(sent), static_cast<unsigned long long>(failed),
                   static_cast<double>(sent - last_sent) / dt, FormatDateTime(sim_now).c_str());
      last_report = now;
      last_sent = sent;
    }
  }
  if (mqtt != nullptr) {
    mosquitto_disconnect(mqtt);
    mosquitto_loop_stop(mqtt, false);
    mosquitto_destroy(mqtt);
  }
  if (!o.quiet) std::fprintf(stderr, "\n");
  std::fprintf(stderr, "civitas simulate: %llu measures sent, %llu failed\n",
               static_cast<unsigned long long>(sent), static_cast<unsigned long long>(failed));
  return failed == 0 ? 0 : 1;
}

}  // namespace civitas::sim
