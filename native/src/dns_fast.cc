// dns_fast: the embedded DNS server's batched UDP path. Node's dgram costs about 13 us of CPU per
// datagram (one callback in, one send out) whatever the JavaScript does; this reads up to 64
// datagrams per recvmmsg(2) on the agent's own event loop (uv_poll, no thread), answers those whose
// reply JavaScript has already encoded (the same pre-encoded templates src/dns uses, published per
// view with dnsFastPut), writes the replies with one sendmmsg(2), and hands everything else to
// JavaScript in one callback per batch. It mirrors src/dns/wire.ts parseQuery and
// src/dns/template.ts serveTemplate for plain queries; anything unusual (EDNS versions, several
// records, compression in the question) goes to JavaScript, which stays the one authority.
#include <napi.h>
#include <uv.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

namespace {

constexpr size_t kBatch = 64;
constexpr size_t kMaxDatagram = 4096;
/** A reply bigger than this (a huge answer to a client with a huge EDNS size) is made by JavaScript. */
constexpr size_t kMaxReply = 4096;
constexpr int kMaxBatchesPerWakeup = 8;
constexpr size_t kHeader = 12;
constexpr size_t kOptSize = 11;
constexpr uint16_t kClassicUdp = 512;
constexpr uint16_t kTypeOpt = 41;
constexpr uint16_t kFlagQr = 0x8000, kFlagAa = 0x0400, kFlagTc = 0x0200, kFlagRd = 0x0100, kFlagRa = 0x0080, kFlagCd = 0x0010, kOpcodeMask = 0x7800;
constexpr size_t kARecord = 16;

struct Template {
  std::vector<uint8_t> bytes;
  uint16_t questionEnd = 0;
  std::vector<uint16_t> answerEnds;
  std::vector<uint16_t> additionalEnds;
  uint16_t shuffleCount = 0;
};

/** Templates by view, keyed by the question (lowercase name, qtype, qclass), as src/dns/cache.ts keys them. */
std::unordered_map<uint32_t, std::unordered_map<std::string, std::shared_ptr<Template>>> gViews;

/** Shared by every socket: drains run one at a time on the main thread, and misses are copied out first. */
std::vector<uint8_t> gIn(kBatch * kMaxDatagram);
std::vector<uint8_t> gOut(kBatch * kMaxReply);

uint64_t gRandom = 0x9e3779b97f4a7c15ULL;
uint32_t NextRandom() {
  gRandom ^= gRandom << 13;
  gRandom ^= gRandom >> 7;
  gRandom ^= gRandom << 17;
  return static_cast<uint32_t>(gRandom >> 32);
}

inline uint16_t Be16(const uint8_t* p) { return static_cast<uint16_t>((p[0] << 8) | p[1]); }
inline void PutBe16(uint8_t* p, uint16_t v) { p[0] = v >> 8; p[1] = v & 0xff; }
inline uint8_t Lower(uint8_t b) { return (b >= 0x41 && b <= 0x5a) ? (b | 0x20) : b; }

struct Query {
  uint16_t flags;
  size_t nameEnd;
  bool edns;
  uint16_t ednsUdpSize;
  bool ednsDo;
};

/** A plain query: header, one question without compression, at most one OPT (version 0). Else false. */
bool ScanPlain(const uint8_t* msg, size_t len, Query& q, std::string& key) {
  if (len < kHeader) return false;
  q.flags = Be16(msg + 2);
  if ((q.flags & kFlagQr) || (q.flags & kOpcodeMask)) return false;
  if (Be16(msg + 4) != 1 || Be16(msg + 6) != 0 || Be16(msg + 8) != 0) return false;
  uint16_t arcount = Be16(msg + 10);
  if (arcount > 1) return false;
  size_t p = kHeader;
  key.clear();
  for (;;) {
    if (p >= len) return false;
    uint8_t l = msg[p];
    if (l > 63) return false;
    size_t next = p + 1 + l;
    if (next - kHeader > 255 || next > len) return false;
    key.push_back(static_cast<char>(l));
    for (size_t i = p + 1; i < next; i++) key.push_back(static_cast<char>(Lower(msg[i])));
    p = next;
    if (l == 0) break;
  }
  if (p + 4 > len) return false;
  q.nameEnd = p;
  key.append(reinterpret_cast<const char*>(msg + p), 4);
  p += 4;
  q.edns = false;
  q.ednsUdpSize = kClassicUdp;
  q.ednsDo = false;
  if (arcount == 1) {
    // The OPT record: root name, type 41, class = UDP size, TTL = ext rcode, version, flags; RDATA skipped.
    if (p + 11 > len || msg[p] != 0 || Be16(msg + p + 1) != kTypeOpt) return false;
    uint16_t size = Be16(msg + p + 3);
    if (msg[p + 6] != 0) return false;  // EDNS version other than 0: BADVERS, JavaScript's job
    q.edns = true;
    q.ednsUdpSize = size < kClassicUdp ? kClassicUdp : size;
    q.ednsDo = (msg[p + 7] & 0x80) != 0;
    size_t rdlen = Be16(msg + p + 9);
    if (p + 11 + rdlen > len) return false;
  }
  return true;
}

size_t CountFitting(const std::vector<uint16_t>& ends, size_t room) {
  size_t n = 0;
  while (n < ends.size() && ends[n] <= room) n++;
  return n;
}

/** serveTemplate for UDP: the reply in out (kMaxReply bytes), its length, or 0 when it would not fit there; *truncated when TC was set. */
size_t Serve(Template& t, const uint8_t* msg, const Query& q, uint16_t ourUdpSize, uint8_t* out, bool* truncated) {
  size_t optSize = q.edns ? kOptSize : 0;
  size_t limit = q.edns ? q.ednsUdpSize : kClassicUdp;
  size_t room = (limit < kClassicUdp ? kClassicUdp : limit) - optSize;
  size_t len = t.bytes.size();
  size_t ancount = t.answerEnds.size();
  size_t arcount = t.additionalEnds.size();
  uint16_t extra = kFlagAa;
  if (len > room) {
    size_t answersEnd = ancount > 0 ? t.answerEnds[ancount - 1] : t.questionEnd;
    if (answersEnd <= room) {
      arcount = CountFitting(t.additionalEnds, room);
      len = arcount > 0 ? t.additionalEnds[arcount - 1] : answersEnd;
    } else {
      ancount = CountFitting(t.answerEnds, room);
      arcount = 0;
      len = ancount > 0 ? t.answerEnds[ancount - 1] : t.questionEnd;
      extra |= kFlagTc;
    }
  }
  if (len + optSize > kMaxReply) return 0;
  if (t.shuffleCount > 1) {
    for (size_t i = t.shuffleCount - 1; i > 0; i--) {
      size_t j = NextRandom() % (i + 1);
      if (j == i) continue;
      uint8_t* a = t.bytes.data() + t.questionEnd + i * kARecord + 12;
      uint8_t* b = t.bytes.data() + t.questionEnd + j * kARecord + 12;
      uint8_t tmp[4];
      memcpy(tmp, a, 4);
      memcpy(a, b, 4);
      memcpy(b, tmp, 4);
    }
  }
  memcpy(out, t.bytes.data(), len);
  out[0] = msg[0];
  out[1] = msg[1];
  PutBe16(out + 2, static_cast<uint16_t>(kFlagQr | kFlagRa | (q.flags & (kFlagRd | kFlagCd)) | extra));
  PutBe16(out + 6, static_cast<uint16_t>(ancount));
  PutBe16(out + 10, static_cast<uint16_t>(arcount + (optSize > 0 ? 1 : 0)));
  memcpy(out + kHeader, msg + kHeader, q.nameEnd - kHeader);  // the question as the client wrote it
  if (optSize > 0) {
    uint8_t* o = out + len;
    o[0] = 0;
    PutBe16(o + 1, kTypeOpt);
    PutBe16(o + 3, ourUdpSize);
    o[5] = 0;
    o[6] = 0;
    o[7] = q.ednsDo ? 0x80 : 0;
    o[8] = 0;
    PutBe16(o + 9, 0);
  }
  *truncated = (extra & kFlagTc) != 0;
  return len + optSize;
}

class UdpFast : public Napi::ObjectWrap<UdpFast> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "UdpFast", {
      InstanceMethod("setView", &UdpFast::SetView),
      InstanceMethod("send", &UdpFast::Send),
      InstanceMethod("stats", &UdpFast::Stats),
      InstanceMethod("port", &UdpFast::Port),
      InstanceMethod("close", &UdpFast::Close),
    });
  }

  // new UdpFast(fd, viewId, ourEdnsUdpSize, onMisses(buffers[], ports[], addresses[]))
  explicit UdpFast(const Napi::CallbackInfo& info) : Napi::ObjectWrap<UdpFast>(info), env_(info.Env()) {
    if (info.Length() < 4 || !info[0].IsNumber() || !info[1].IsNumber() || !info[2].IsNumber() || !info[3].IsFunction()) {
      throw Napi::TypeError::New(env_, "UdpFast(fd, viewId, ednsUdpSize, onMisses)");
    }
    fd_ = info[0].As<Napi::Number>().Int32Value();
    view_ = info[1].As<Napi::Number>().Uint32Value();
    ourUdpSize_ = static_cast<uint16_t>(info[2].As<Napi::Number>().Uint32Value());
    onMisses_ = Napi::Persistent(info[3].As<Napi::Function>());
    context_ = std::make_unique<Napi::AsyncContext>(env_, "shoal:dns-fast");
    uv_loop_t* loop = nullptr;
    napi_get_uv_event_loop(env_, &loop);
    poll_ = new uv_poll_t;
    poll_->data = this;
    if (uv_poll_init(loop, poll_, fd_) != 0) {
      delete poll_;
      poll_ = nullptr;
      throw Napi::Error::New(env_, "uv_poll_init failed on the DNS socket");
    }
    uv_poll_start(poll_, UV_READABLE, OnReadable);
    Ref();  // alive while polling, even without a JavaScript reference
  }

 private:
  static void OnReadable(uv_poll_t* handle, int status, int) {
    auto* self = static_cast<UdpFast*>(handle->data);
    if (status == 0) self->Drain();
  }

  void Drain() {
    for (int round = 0; round < kMaxBatchesPerWakeup && poll_ != nullptr; round++) {
      mmsghdr msgs[kBatch];
      iovec iov[kBatch];
      sockaddr_in from[kBatch];
      memset(msgs, 0, sizeof(msgs));
      for (size_t i = 0; i < kBatch; i++) {
        iov[i] = {gIn.data() + i * kMaxDatagram, kMaxDatagram};
        msgs[i].msg_hdr.msg_iov = &iov[i];
        msgs[i].msg_hdr.msg_iovlen = 1;
        msgs[i].msg_hdr.msg_name = &from[i];
        msgs[i].msg_hdr.msg_namelen = sizeof(from[i]);
      }
      int n = recvmmsg(fd_, msgs, kBatch, MSG_DONTWAIT, nullptr);
      if (n <= 0) return;
      mmsghdr replies[kBatch];
      iovec riov[kBatch];
      size_t nReplies = 0;
      std::vector<size_t> misses;
      auto& table = gViews[view_];
      for (int i = 0; i < n; i++) {
        packets_++;
        const uint8_t* msg = gIn.data() + i * kMaxDatagram;
        size_t len = msgs[i].msg_len;
        Query q;
        bool hit = false;
        if ((msgs[i].msg_hdr.msg_flags & MSG_TRUNC) == 0 && ScanPlain(msg, len, q, key_)) {
          auto it = table.find(key_);
          if (it != table.end()) {
            bool tc = false;
            uint8_t* out = gOut.data() + nReplies * kMaxReply;
            size_t rlen = Serve(*it->second, msg, q, ourUdpSize_, out, &tc);
            if (rlen == 0) {
              misses.push_back(static_cast<size_t>(i));
              continue;
            }
            riov[nReplies] = {out, rlen};
            memset(&replies[nReplies], 0, sizeof(mmsghdr));
            replies[nReplies].msg_hdr.msg_iov = &riov[nReplies];
            replies[nReplies].msg_hdr.msg_iovlen = 1;
            replies[nReplies].msg_hdr.msg_name = &from[i];
            replies[nReplies].msg_hdr.msg_namelen = msgs[i].msg_hdr.msg_namelen;
            nReplies++;
            hits_++;
            if (tc) truncated_++;
            hit = true;
          }
        }
        if (!hit) misses.push_back(static_cast<size_t>(i));
      }
      for (size_t sent = 0; sent < nReplies;) {
        int m = sendmmsg(fd_, replies + sent, nReplies - sent, MSG_DONTWAIT);
        if (m <= 0) {
          sendErrors_ += nReplies - sent;
          break;
        }
        sent += m;
      }
      if (!misses.empty()) HandToJs(msgs, from, misses);
      if (static_cast<size_t>(n) < kBatch) return;
    }
  }

  void HandToJs(mmsghdr* msgs, sockaddr_in* from, const std::vector<size_t>& which) {
    Napi::HandleScope scope(env_);
    Napi::Array bufs = Napi::Array::New(env_, which.size());
    Napi::Array ports = Napi::Array::New(env_, which.size());
    Napi::Array addrs = Napi::Array::New(env_, which.size());
    char text[INET_ADDRSTRLEN];
    for (size_t k = 0; k < which.size(); k++) {
      size_t i = which[k];
      bufs[k] = Napi::Buffer<uint8_t>::Copy(env_, gIn.data() + i * kMaxDatagram, msgs[i].msg_len);
      ports[k] = Napi::Number::New(env_, ntohs(from[i].sin_port));
      inet_ntop(AF_INET, &from[i].sin_addr, text, sizeof(text));
      addrs[k] = Napi::String::New(env_, text);
    }
    missed_ += which.size();
    try {
      onMisses_.MakeCallback(Value(), {bufs, ports, addrs}, *context_);
    } catch (const Napi::Error& e) {
      // Not ours to swallow: it becomes the process's uncaught exception, as a throw in any callback would.
      napi_fatal_exception(env_, e.Value());
    }
  }

  Napi::Value SetView(const Napi::CallbackInfo& info) {
    view_ = info[0].As<Napi::Number>().Uint32Value();
    return info.Env().Undefined();
  }

  // send(buffer, port, address): a reply JavaScript made (to a miss).
  Napi::Value Send(const Napi::CallbackInfo& info) {
    auto buf = info[0].As<Napi::Buffer<uint8_t>>();
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_port = htons(static_cast<uint16_t>(info[1].As<Napi::Number>().Uint32Value()));
    std::string addr = info[2].As<Napi::String>();
    if (inet_pton(AF_INET, addr.c_str(), &to.sin_addr) != 1 || fd_ < 0 ||
        sendto(fd_, buf.Data(), buf.Length(), MSG_DONTWAIT, reinterpret_cast<sockaddr*>(&to), sizeof(to)) < 0) {
      sendErrors_++;
    }
    return info.Env().Undefined();
  }

  Napi::Value Port(const Napi::CallbackInfo& info) {
    sockaddr_in a{};
    socklen_t alen = sizeof(a);
    if (fd_ < 0 || getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &alen) != 0) return info.Env().Undefined();
    return Napi::Number::New(info.Env(), ntohs(a.sin_port));
  }

  Napi::Value Stats(const Napi::CallbackInfo& info) {
    Napi::Object o = Napi::Object::New(info.Env());
    o.Set("packets", Napi::Number::New(info.Env(), static_cast<double>(packets_)));
    o.Set("hits", Napi::Number::New(info.Env(), static_cast<double>(hits_)));
    o.Set("misses", Napi::Number::New(info.Env(), static_cast<double>(missed_)));
    o.Set("truncated", Napi::Number::New(info.Env(), static_cast<double>(truncated_)));
    o.Set("sendErrors", Napi::Number::New(info.Env(), static_cast<double>(sendErrors_)));
    return o;
  }

  Napi::Value Close(const Napi::CallbackInfo& info) {
    if (poll_ != nullptr) {
      uv_poll_stop(poll_);
      uv_close(reinterpret_cast<uv_handle_t*>(poll_), [](uv_handle_t* h) { delete reinterpret_cast<uv_poll_t*>(h); });
      poll_ = nullptr;
      close(fd_);
      fd_ = -1;
      Unref();
    }
    return info.Env().Undefined();
  }

  Napi::Env env_;
  int fd_ = -1;
  uint32_t view_ = 0;
  uint16_t ourUdpSize_ = 1232;
  Napi::FunctionReference onMisses_;
  std::unique_ptr<Napi::AsyncContext> context_;
  uv_poll_t* poll_ = nullptr;
  std::string key_;
  uint64_t packets_ = 0, hits_ = 0, missed_ = 0, truncated_ = 0, sendErrors_ = 0;
};

std::vector<uint16_t> ArgEnds(const Napi::Value& v) {
  std::vector<uint16_t> out;
  Napi::Array a = v.As<Napi::Array>();
  for (uint32_t i = 0; i < a.Length(); i++) out.push_back(static_cast<uint16_t>(a.Get(i).As<Napi::Number>().Uint32Value()));
  return out;
}

// dnsFastPut(viewId, questionKey, bytes, questionEnd, answerEnds[], additionalEnds[], shuffleCount, maxEntries)
Napi::Value DnsFastPut(const Napi::CallbackInfo& info) {
  uint32_t view = info[0].As<Napi::Number>().Uint32Value();
  auto key = info[1].As<Napi::Buffer<uint8_t>>();
  auto bytes = info[2].As<Napi::Buffer<uint8_t>>();
  auto t = std::make_shared<Template>();
  t->bytes.assign(bytes.Data(), bytes.Data() + bytes.Length());
  t->questionEnd = static_cast<uint16_t>(info[3].As<Napi::Number>().Uint32Value());
  t->answerEnds = ArgEnds(info[4]);
  t->additionalEnds = ArgEnds(info[5]);
  t->shuffleCount = static_cast<uint16_t>(info[6].As<Napi::Number>().Uint32Value());
  size_t maxEntries = info[7].As<Napi::Number>().Uint32Value();
  auto& table = gViews[view];
  if (table.size() >= maxEntries) table.clear();
  table[std::string(reinterpret_cast<const char*>(key.Data()), key.Length())] = t;
  return info.Env().Undefined();
}

// dnsFastClear(viewId): the view's zones changed, or it is gone.
Napi::Value DnsFastClear(const Napi::CallbackInfo& info) {
  gViews.erase(info[0].As<Napi::Number>().Uint32Value());
  return info.Env().Undefined();
}

}  // namespace

void InitDnsFast(Napi::Env env, Napi::Object exports) {
  exports.Set("UdpFast", UdpFast::Define(env));
  exports.Set("dnsFastPut", Napi::Function::New(env, DnsFastPut));
  exports.Set("dnsFastClear", Napi::Function::New(env, DnsFastClear));
}
