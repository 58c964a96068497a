#include "support/mosquitto_process.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <random>
#include <stdexcept>
#include <thread>

#include "support/test_client.h"

namespace civitas::testing {
namespace {

bool Accepts(uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return false;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  ::close(fd);
  return ok;
}

}  // namespace

bool MosquittoProcess::Available() { return ::access(kBinary, X_OK) == 0; }

MosquittoProcess::MosquittoProcess() {
  dir_ = std::filesystem::temp_directory_path() /
         ("civitas_mosquitto_" + std::to_string(::getpid()) + "_" +
          std::to_string(std::random_device{}()));
  std::filesystem::create_directories(dir_);
  port_ = FreePort();
  std::ofstream conf(dir_ / "mosquitto.conf");
  // `user root`: when the tests run as root, mosquitto would otherwise switch to the mosquitto
  // user and could not read the keys or write persistence in our directory (ignored otherwise).
  conf << "user root\n"
       << "listener " << port_ << " 127.0.0.1\n"
       << "allow_anonymous true\n"
       << "persistence true\n"
       << "persistence_location " << dir_.string() << "/\n"
       << "max_queued_messages 100000\n"
       << "log_dest file " << (dir_ / "mosquitto.log").string() << "\n";
}

MosquittoProcess::~MosquittoProcess() {
  if (pid_ > 0) Kill();
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

bool MosquittoProcess::AddTlsListener() {
  const std::string d = dir_.string();
  std::ofstream(dir_ / "san.ext") << "subjectAltName=IP:127.0.0.1\n";
  const std::string script =
      "cd '" + d + "' && "
      "openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 2 "
      "-subj /CN=civitas-test-ca && "
      "openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr "
      "-subj /CN=127.0.0.1 && "
      "openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial "
      "-out server.crt -days 2 -extfile san.ext";
  if (std::system(("(" + script + ") > /dev/null 2>&1").c_str()) != 0) return false;
  tls_port_ = FreePort();
  std::ofstream conf(dir_ / "mosquitto.conf", std::ios::app);
  conf << "listener " << tls_port_ << " 127.0.0.1\n"
       << "cafile " << d << "/ca.crt\n"
       << "certfile " << d << "/server.crt\n"
       << "keyfile " << d << "/server.key\n";
  return static_cast<bool>(conf);
}

void MosquittoProcess::Start() {
  if (pid_ > 0) return;
  const std::string conf = (dir_ / "mosquitto.conf").string();
  pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error("fork failed");
  if (pid == 0) {
    int devnull = ::open("/dev/null", O_RDWR);
    if (devnull >= 0) {
      ::dup2(devnull, 1);
      ::dup2(devnull, 2);
    }
    ::execl(kBinary, kBinary, "-c", conf.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  pid_ = pid;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!Accepts(port_)) {
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      throw std::runtime_error("mosquitto exited at start (port " + std::to_string(port_) + ")");
    }
    if (std::chrono::steady_clock::now() > deadline) {
      Kill();
      throw std::runtime_error("mosquitto did not accept connections in time");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

void MosquittoProcess::Signal(int sig) {
  if (pid_ <= 0) return;
  ::kill(pid_, sig);
  int status = 0;
  ::waitpid(pid_, &status, 0);
  pid_ = -1;
}

void MosquittoProcess::Stop() { Signal(SIGTERM); }
void MosquittoProcess::Kill() { Signal(SIGKILL); }

}  // namespace civitas::testing
