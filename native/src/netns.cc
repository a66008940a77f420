// shoal_netns: the native piece of shoal (this file, and dns_fast.cc for the DNS server's UDP path). It lets the Node.js main thread do work inside
// another network namespace for the length of one synchronous call (setns there, run, setns back),
// opens sockets that live in a given namespace, and creates/removes named namespaces under
// /run/netns the way iproute2 does, so that `ip -n NAME` works on what shoal makes.
#include <napi.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

namespace {

Napi::Error ErrnoError(Napi::Env env, int err, const std::string& syscall, const std::string& detail) {
  const char* name = strerrorname_np(err);
  std::string code = name ? name : "E" + std::to_string(err);
  std::string msg = syscall + (detail.empty() ? "" : " " + detail) + ": " + strerror(err) + " (" + code + ")";
  Napi::Error e = Napi::Error::New(env, msg);
  e.Set("code", Napi::String::New(env, code));
  e.Set("errno", Napi::Number::New(env, err));
  e.Set("syscall", Napi::String::New(env, syscall));
  return e;
}

int ArgFd(const Napi::CallbackInfo& info, size_t i) {
  if (info.Length() <= i || !info[i].IsNumber()) {
    throw Napi::TypeError::New(info.Env(), "argument " + std::to_string(i) + " must be a file descriptor (number)");
  }
  int fd = info[i].As<Napi::Number>().Int32Value();
  if (fd < 0) throw Napi::TypeError::New(info.Env(), "file descriptor must be >= 0");
  return fd;
}

std::string ArgString(const Napi::CallbackInfo& info, size_t i, const char* what) {
  if (info.Length() <= i || !info[i].IsString()) {
    throw Napi::TypeError::New(info.Env(), std::string(what) + " must be a string");
  }
  return info[i].As<Napi::String>().Utf8Value();
}

// Holds the calling thread's own network namespace and returns to it when it goes out of scope.
// Failing to return would leave the Node.js main thread in a foreign namespace, which is worse
// than crashing, so that case aborts.
class NetnsGuard {
 public:
  explicit NetnsGuard(Napi::Env env) : env_(env) {
    self_ = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
    if (self_ < 0) throw ErrnoError(env, errno, "open", "/proc/thread-self/ns/net");
  }
  void Enter(int target) {
    if (setns(target, CLONE_NEWNET) != 0) throw ErrnoError(env_, errno, "setns", "");
    entered_ = true;
  }
  void Unshare() {
    if (unshare(CLONE_NEWNET) != 0) throw ErrnoError(env_, errno, "unshare", "CLONE_NEWNET");
    entered_ = true;
  }
  ~NetnsGuard() {
    if (entered_ && setns(self_, CLONE_NEWNET) != 0) {
      perror("shoal_netns: cannot return to the original network namespace");
      abort();
    }
    close(self_);
  }

 private:
  Napi::Env env_;
  int self_ = -1;
  bool entered_ = false;
};

// runInNetns(nsFd, fn): calls fn() with the calling thread inside the namespace nsFd refers to,
// and returns its result. Only what fn does synchronously happens in that namespace.
Napi::Value RunInNetns(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = ArgFd(info, 0);
  if (info.Length() < 2 || !info[1].IsFunction()) throw Napi::TypeError::New(env, "argument 1 must be a function");
  NetnsGuard guard(env);
  guard.Enter(fd);
  return info[1].As<Napi::Function>().Call({});
}

// socketInNetns(nsFd, kind 'tcp'|'udp', address, port) -> fd of a socket created and bound inside
// that namespace (non-blocking, close-on-exec, SO_REUSEADDR). Hand it to net.Server.listen({fd})
// or dgram.Socket.bind({fd}).
Napi::Value SocketInNetns(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int nsfd = ArgFd(info, 0);
  std::string kind = ArgString(info, 1, "kind");
  std::string address = ArgString(info, 2, "address");
  if (info.Length() < 4 || !info[3].IsNumber()) throw Napi::TypeError::New(env, "port must be a number");
  int port = info[3].As<Napi::Number>().Int32Value();
  if (port < 0 || port > 65535) throw Napi::RangeError::New(env, "port must be 0..65535");
  int type;
  if (kind == "tcp") type = SOCK_STREAM;
  else if (kind == "udp") type = SOCK_DGRAM;
  else throw Napi::TypeError::New(env, "kind must be 'tcp' or 'udp'");

  sockaddr_storage ss{};
  socklen_t len;
  int family;
  auto* v4 = reinterpret_cast<sockaddr_in*>(&ss);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&ss);
  if (inet_pton(AF_INET, address.c_str(), &v4->sin_addr) == 1) {
    family = AF_INET; v4->sin_family = AF_INET; v4->sin_port = htons(port); len = sizeof(*v4);
  } else if (inet_pton(AF_INET6, address.c_str(), &v6->sin6_addr) == 1) {
    family = AF_INET6; v6->sin6_family = AF_INET6; v6->sin6_port = htons(port); len = sizeof(*v6);
  } else {
    throw Napi::TypeError::New(env, "address '" + address + "' is not an IPv4 or IPv6 literal");
  }

  int sock;
  {
    NetnsGuard guard(env);
    guard.Enter(nsfd);
    sock = socket(family, type | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (sock < 0) throw ErrnoError(env, errno, "socket", "");
  }
  int one = 1;
  setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (bind(sock, reinterpret_cast<sockaddr*>(&ss), len) != 0) {
    int err = errno;
    close(sock);
    throw ErrnoError(env, err, "bind", address + ":" + std::to_string(port));
  }
  return Napi::Number::New(env, sock);
}

// Makes `dir` a shared mount point, as iproute2 does for /run/netns, so that namespace mounts made
// here propagate to other mount namespaces (and `ip netns exec` sees them).
void EnsureSharedMountDir(Napi::Env env, const std::string& dir) {
  if (mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) throw ErrnoError(env, errno, "mkdir", dir);
  if (mount("", dir.c_str(), "none", MS_SHARED | MS_REC, nullptr) == 0) return;
  if (errno != EINVAL) throw ErrnoError(env, errno, "mount", "--make-rshared " + dir);
  if (mount(dir.c_str(), dir.c_str(), "none", MS_BIND | MS_REC, nullptr) != 0) throw ErrnoError(env, errno, "mount", "--rbind " + dir);
  if (mount("", dir.c_str(), "none", MS_SHARED | MS_REC, nullptr) != 0) throw ErrnoError(env, errno, "mount", "--make-rshared " + dir);
}

// createNamedNetns(dir, name): a new network namespace kept alive by a bind mount at dir/name.
Napi::Value CreateNamedNetns(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string dir = ArgString(info, 0, "dir");
  std::string name = ArgString(info, 1, "name");
  if (name.empty() || name.find('/') != std::string::npos || name == "." || name == "..") {
    throw Napi::TypeError::New(env, "namespace name '" + name + "' is not a valid file name");
  }
  EnsureSharedMountDir(env, dir);
  std::string path = dir + "/" + name;
  int fd = open(path.c_str(), O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0);
  if (fd < 0) throw ErrnoError(env, errno, "create", path);
  close(fd);
  try {
    NetnsGuard guard(env);
    guard.Unshare();
    if (mount("/proc/thread-self/ns/net", path.c_str(), "none", MS_BIND, nullptr) != 0) {
      throw ErrnoError(env, errno, "mount", "--bind /proc/thread-self/ns/net " + path);
    }
  } catch (...) {
    unlink(path.c_str());
    throw;
  }
  return env.Undefined();
}

// deleteNamedNetns(path): detach the bind mount and remove the file. The namespace itself lives on
// while a process or an open descriptor still holds it, exactly like `ip netns del`.
Napi::Value DeleteNamedNetns(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string path = ArgString(info, 0, "path");
  if (umount2(path.c_str(), MNT_DETACH) != 0 && errno != EINVAL) throw ErrnoError(env, errno, "umount", path);
  if (unlink(path.c_str()) != 0) throw ErrnoError(env, errno, "unlink", path);
  return env.Undefined();
}

Napi::Value GetTid(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(syscall(SYS_gettid)));
}

}  // namespace

void InitDnsFast(Napi::Env env, Napi::Object exports);  // dns_fast.cc

namespace {

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  InitDnsFast(env, exports);
  exports.Set("runInNetns", Napi::Function::New(env, RunInNetns));
  exports.Set("socketInNetns", Napi::Function::New(env, SocketInNetns));
  exports.Set("createNamedNetns", Napi::Function::New(env, CreateNamedNetns));
  exports.Set("deleteNamedNetns", Napi::Function::New(env, DeleteNamedNetns));
  exports.Set("gettid", Napi::Function::New(env, GetTid));
  return exports;
}

}  // namespace

NODE_API_MODULE(shoal_netns, Init)
