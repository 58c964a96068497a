#pragma once

#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <string>

namespace civitas::testing {

// A real mosquitto broker for tests: its own free loopback port, config and persistence file in
// a temporary directory (so a restart keeps sessions and queued messages, as a production
// broker with persistence does). Throws std::runtime_error if mosquitto cannot start.
class MosquittoProcess {
 public:
  static constexpr const char* kBinary = "/usr/sbin/mosquitto";
  static bool Available();  // the binary exists

  MosquittoProcess();
  ~MosquittoProcess();  // kills it, removes the directory

  // Adds a TLS listener on another free port with a fresh CA and server certificate for
  // 127.0.0.1 (made with the openssl command). Call before Start. Returns false if openssl is
  // missing or fails.
  bool AddTlsListener();
  uint16_t tls_port() const { return tls_port_; }
  std::string ca_file() const { return (dir_ / "ca.crt").string(); }

  // Starts (or starts again, on the same port and persistence) and waits until it accepts
  // connections.
  void Start();
  // SIGTERM: mosquitto saves its persistence and exits. Waits for it.
  void Stop();
  // SIGKILL: no chance to save anything. Waits for it.
  void Kill();
  bool running() const { return pid_ > 0; }

  uint16_t port() const { return port_; }
  std::string url() const { return "mqtt://127.0.0.1:" + std::to_string(port_); }

 private:
  void Signal(int sig);

  std::filesystem::path dir_;
  uint16_t port_ = 0;
  uint16_t tls_port_ = 0;
  pid_t pid_ = -1;
};

}  // namespace civitas::testing
