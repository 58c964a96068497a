#include "sim/feed.h"

#include <arpa/inet.h>
#include <mosquitto.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <thread>

#include "ingest/mqtt_source.h"

namespace civitas::sim {

bool ParseTargetOption(const std::string& name, const std::string& value, std::string* civitas,
                       std::string* mqtt, std::string* service, Status* st) {
  *st = Status::Ok();
  if (name == "--civitas") {
    if (value.substr(0, 7) != "http://") {
      *st = Status::InvalidRequest("--civitas: expected http://");
    } else {
      *civitas = value;
    }
  } else if (name == "--mqtt") {
    if (auto u = ingest::ParseMqttUrl(value); !u.ok()) {
      *st = u.status();
    } else {
      *mqtt = value;
    }
  } else if (name == "--service") {
    *service = value;
  } else {
    return false;
  }
  return true;
}

Json AttributeMapping(std::string_view object_id, std::string_view name, std::string_view type,
                      std::string_view unit) {
  Json m = Json::MakeObject();
  m.Set("object_id", object_id);
  m.Set("name", name);
  m.Set("type", type);
  if (!unit.empty()) {
    Json u = Json::MakeObject();
    u.Set("type", "Text");
    u.Set("value", unit);
    Json meta = Json::MakeObject();
    meta.Set("unitCode", std::move(u));
    m.Set("metadata", std::move(meta));
  }
  return m;
}

Http::Http(std::string base) {
  std::string_view b = base;
  if (b.substr(0, 7) == "http://") b.remove_prefix(7);
  if (size_t slash = b.find('/'); slash != std::string_view::npos) b = b.substr(0, slash);
  size_t colon = b.rfind(':');
  host_ = std::string(b.substr(0, colon));
  port_ = colon == std::string_view::npos ? "80" : std::string(b.substr(colon + 1));
}
Http::~Http() { Close(); }

int Http::Post(const std::string& target, const std::vector<std::string>& headers,
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

bool Http::Connect(std::string* error) {
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
void Http::Close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  buf_.clear();
}
// Reads one response (headers and a Content-Length body) and returns its status.
int Http::ReadStatus() {
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
bool Http::Fill() {
  char chunk[16384];
  ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
  if (n <= 0) return false;
  buf_.append(chunk, static_cast<size_t>(n));
  return true;
}

Status Provision(Http& http, const std::string& service, const Json& groups,
                 const std::vector<Json>& device_batches) {
  const std::vector<std::string> headers = {"Content-Type: application/json",
                                            "fiware-service: " + service};
  auto failure = [](const char* what, int status, const std::string& error) {
    return Status::Internal(std::string("provisioning ") + what + ": " +
                            (status < 0 ? error : "HTTP " + std::to_string(status)));
  };
  std::string error;
  int status = http.Post("/iot/services", headers, ToJsonString(groups), &error);
  if (status != 201 && status != 409) return failure("service groups", status, error);
  for (const Json& batch : device_batches) {
    status = http.Post("/iot/devices", headers, ToJsonString(batch), &error);
    if (status == 409) {  // some exist: provision one by one, keeping the existing ones
      const Json* list = batch.Find("devices");
      for (size_t i = 0; list != nullptr && i < list->size(); ++i) {
        Json one = Json::MakeObject();
        Json l = Json::MakeArray();
        l.Push(list->as_array()[i]);
        one.Set("devices", std::move(l));
        status = http.Post("/iot/devices", headers, ToJsonString(one), &error);
        if (status != 201 && status != 409) break;
      }
      if (status == 409) status = 201;
    }
    if (status != 201) return failure("devices", status, error);
  }
  return Status::Ok();
}

MeasureSink::~MeasureSink() {
  if (mqtt_ != nullptr) {
    Flush(30);
    mosquitto_disconnect(mqtt_);
    mosquitto_loop_stop(mqtt_, false);
    mosquitto_destroy(mqtt_);
  }
}

Status MeasureSink::Open() {
  if (mqtt_url_.empty()) return Status::Ok();
  auto u = ingest::ParseMqttUrl(mqtt_url_);
  if (!u.ok()) return u.status();
  mosquitto_lib_init();
  mqtt_ = mosquitto_new(nullptr, true, this);
  mosquitto_publish_callback_set(mqtt_, [](struct mosquitto*, void* self, int) {
    static_cast<MeasureSink*>(self)->unacked_.fetch_sub(1);
  });
  if (!u->username.empty()) {
    mosquitto_username_pw_set(mqtt_, u->username.c_str(),
                              u->password.empty() ? nullptr : u->password.c_str());
  }
  if (mosquitto_connect(mqtt_, u->host.c_str(), u->port, 30) != MOSQ_ERR_SUCCESS ||
      mosquitto_loop_start(mqtt_) != MOSQ_ERR_SUCCESS) {
    return Status::Internal("cannot connect to " + mqtt_url_);
  }
  return Status::Ok();
}

bool MeasureSink::Send(const std::string& apikey, const std::string& device,
                       const std::string& payload) {
  if (mqtt_ != nullptr) {
    std::string topic = "/json/" + apikey + "/" + device + "/attrs";
    unacked_.fetch_add(1);
    if (mosquitto_publish(mqtt_, nullptr, topic.c_str(), static_cast<int>(payload.size()),
                          payload.data(), 1, false) == MOSQ_ERR_SUCCESS) {
      return true;
    }
    unacked_.fetch_sub(1);
    return false;
  }
  std::string error;
  return http_.Post("/iot/json?k=" + apikey + "&i=" + device, {"Content-Type: application/json"},
                    payload, &error) == 200;
}

bool MeasureSink::Flush(double seconds) {
  const auto until = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  while (mqtt_ != nullptr && unacked_.load() > 0) {
    if (std::chrono::steady_clock::now() >= until) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return true;
}

}  // namespace civitas::sim
