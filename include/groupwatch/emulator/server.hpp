#pragma once
// The emulator as a library: an HTTPS (or plain HTTP) server that answers
// get_online_member_num like the vendor does, with its checks, its QPS cap and
// injectable faults, and the two group-discovery commands get_appid_group_list
// and get_group_info. Tests run it in-process; the CLI (cli.hpp) wraps it.
// Beast stays behind the pimpl. The ErrorCodes it gives, and when, are listed
// at the top of src/emulator/server.cpp.
//
// Control API on the same listener (for tests and benchmarks):
//   GET  /_emulator/stats[?groups=1]        Stats as JSON (to_json below)
//   POST /_emulator/reset-stats
//   POST /_emulator/dissolve?group=ID       the group answers 10010 from now on
//                                           and leaves get_appid_group_list
//   POST /_emulator/create?group=ID[&type=Community|Public|Private|ChatRoom|AVChatRoom][&name=NAME]
//        a new (or dissolved) group, listed from now on; type defaults to
//        Community, an empty name to the default one; 409 when the group is
//        already listed, 400 when the ID is not well formed or the type unknown
//   POST /_emulator/qps?sdkappid=S&qps=N    change an app's cap
//   POST /_emulator/fault?10002=R&502=R&reset=R&stall=R&malformed=R&latency=DUR
//        [&group=ID&fault=none|10002|502|reset|stall|malformed|10010]
//   POST /_emulator/list-fault?page=P&fault=10002|502|reset|stall|malformed|none[&times=K]
//        get_appid_group_list calls asking for page P (see Server::set_list_fault)
//        fail with the fault K times (default 1; 0 = until fault=none)
//   POST /_emulator/down?seconds=N          reset every connection for N seconds
// Values are percent-decoded ('#' in a group ID is %23).
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace boost::asio {
class io_context;
}

namespace groupwatch::emulator {

enum class GroupType : std::uint8_t { community, public_group, private_group, chatroom, avchatroom };
std::optional<GroupType> parse_group_type(std::string_view text);  // "Community", "Public", ...
std::string_view to_string(GroupType t);

/// What a request for a group gets instead of the normal answer.
enum class Fault : std::uint8_t {
  none,
  e10002,     // ErrorCode 10002, group service internal error
  http502,    // HTTP 502 with an HTML body
  reset,      // the socket is closed abruptly (SO_LINGER 0), no answer
  stall,      // no answer for Options::stall, then the connection is closed
  malformed,  // HTTP 200 with a truncated JSON body
  e10010,     // ErrorCode 10010, as if dissolved
};
std::optional<Fault> parse_fault(std::string_view text);  // "none", "10002", "502", "reset", ...
std::string_view to_string(Fault f);
/// A fault rate: a number in 0..1 (the options and the control endpoint take them).
std::optional<double> parse_rate(std::string_view text);

struct App {
  std::uint64_t sdkappid = 0;
  std::string secret_key;
  std::string admin = "administrator";
  std::uint32_t qps = 200;
};

struct Group {
  std::string id;
  GroupType type = GroupType::community;
  Fault fault = Fault::none;  // get_online_member_num only
  std::string name{};         // any UTF-8; empty = default_group_name(id)
};

/// "Group " + the ID's last 6 characters: the Name of a group without one.
std::string default_group_name(std::string_view group_id);

/// Fault probabilities (0..1 each, drawn from the seeded generator) over all
/// requests that passed the identity, rate and body checks, so a fault stands
/// in for what would otherwise have been a group answer (10010/10007/OK).
struct FaultRates {
  double e10002 = 0;
  double http502 = 0;
  double reset = 0;
  double stall = 0;
  double malformed = 0;
};

/// Extra delay before each answer: fixed when min == max, else uniform.
struct Latency {
  std::chrono::milliseconds min{0};
  std::chrono::milliseconds max{0};
};

struct Options {
  std::string address = "127.0.0.1";
  std::uint16_t port = 18443;  // 0 = ephemeral, see Server::start()
  bool tls = true;
  std::string tls_cert_file;  // both empty: a self-signed certificate is generated
  std::string tls_key_file;
  std::vector<App> apps;
  std::vector<Group> groups;
  bool accept_any_group = false;  // any well-formed ID is an existing Community group
  std::chrono::milliseconds refresh = std::chrono::minutes(4);
  std::uint64_t seed = 1;
  FaultRates faults;
  std::chrono::milliseconds stall = std::chrono::seconds(10);
  Latency latency;
  std::size_t body_limit = 16 * 1024;
  std::chrono::milliseconds idle_timeout = std::chrono::seconds(60);
  std::string request_log_file;  // JSON lines; empty = none
  /// Wall clock for UserSig expiry and the refresh cycle (tests replace it).
  std::function<std::chrono::system_clock::time_point()> clock;
};

/// Per app; each command has its own sliding 1 s window. Calls count when
/// they passed the identity checks (rejected ones with 60007 too).
struct AppStats {
  std::uint64_t requests = 0;    // get_online_member_num requests
  std::uint64_t max_window = 0;  // most of them seen in any sliding 1 s window
  std::uint32_t qps = 0;         // the current cap of get_online_member_num
  std::uint64_t list_calls = 0;  // get_appid_group_list
  std::uint64_t list_max_window = 0;
  std::uint64_t info_calls = 0;  // get_group_info
  std::uint64_t info_max_window = 0;
  std::uint64_t info_max_ids = 0;  // largest GroupIdList seen in one call (refused ones too)
  // get_online_member_num calls per User-Agent; calls whose sender differs
  // from the previous call's, and those of them less than 1 s after it.
  std::map<std::string, std::uint64_t> sources{};
  std::uint64_t source_switches = 0;
  std::uint64_t source_overlaps = 0;
};

/// The fixed limits of the discovery commands, per app and second.
inline constexpr std::uint32_t list_calls_per_second = 1;
inline constexpr std::uint32_t info_calls_per_second = 200;
inline constexpr std::size_t info_max_group_ids = 50;
inline constexpr std::uint64_t list_max_limit = 10000;
/// A non-zero get_appid_group_list cursor is list_cursor_base + the creation
/// sequence number (from 1) of the last group returned: always above 2^32.
inline constexpr std::uint64_t list_cursor_base = (std::uint64_t{1} << 32) + 7;

struct Stats {
  std::uint64_t requests = 0;       // on the get_online_member_num path
  std::uint64_t list_requests = 0;  // on the get_appid_group_list path
  std::uint64_t info_requests = 0;  // on the get_group_info path
  std::uint64_t control_requests = 0;
  std::uint64_t connections_accepted = 0;
  std::uint64_t connections_open = 0;
  std::uint64_t handshakes = 0;
  std::uint64_t usersig_verifications = 0;                   // full decode + HMAC (cache misses)
  std::map<std::int64_t, std::uint64_t> codes;               // JSON answers by (call-level) ErrorCode, all commands
  std::map<std::string, std::uint64_t, std::less<>> events;  // http_404, http_502, reset, stall, malformed...
  std::map<std::uint64_t, AppStats> apps;
  std::map<std::string, std::uint64_t, std::less<>> groups;  // per-group requests, when asked for
};
std::string to_json(const Stats& s);

/// The member count the emulator reports for `group_id` in refresh cycle
/// `cycle` (= floor(unix ms / refresh ms)): a hash of both, so it is stable
/// within a cycle and changes between cycles.
std::uint64_t member_count(std::string_view group_id, std::int64_t cycle);
/// get_group_info's MemberNum in cycle `cycle`: member_count plus a part
/// stable per group, so never below the online count of the same cycle.
std::uint64_t member_total(std::string_view group_id, std::int64_t cycle);

/// `n` Community IDs "@TGS#_@TGS#" + 12 chars [A-Z0-9], reproducible from `seed`.
std::vector<std::string> generate_group_ids(std::size_t n, std::uint64_t seed);

/// True for IDs of the vendor's Community form that the emulator accepts.
bool well_formed_group_id(std::string_view id);

/// A self-signed certificate (EC P-256, SAN DNS:localhost and IP:127.0.0.1,
/// valid 30 days) and its key, both PEM.
struct CertificatePair {
  std::string cert_pem;
  std::string key_pem;
};
CertificatePair generate_self_signed();

class Server {
 public:
  /// Everything runs on `ioc` (one thread). Throws std::invalid_argument on
  /// bad options (no apps, unreadable TLS files). Destroy the Server only
  /// after stop() and after the thread running `ioc` has returned.
  Server(boost::asio::io_context& ioc, Options options);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  /// Binds and starts accepting; returns the bound port. Throws
  /// std::system_error when the address cannot be bound.
  std::uint16_t start();
  /// Closes the listener and every connection; pending stalls are cancelled.
  /// Safe to call from any thread (the work is dispatched to the io_context).
  void stop();
  std::uint16_t port() const;
  /// The server's certificate (PEM), for a client's ca_file. Empty in plain mode.
  std::string ca_pem() const;

  // Thread-safe views and controls (the same as the /_emulator/ HTTP API).
  Stats stats(bool with_groups = false) const;
  void reset_stats();
  bool dissolve(std::string_view group_id);  // false when the ID is not well formed
  /// Adds `g` to the listing with a new sequence number (also a dissolved
  /// group, which exists again). False when the ID is not well formed or the
  /// group is already listed. A fault set earlier stays unless g.fault is set.
  bool create_group(Group g);
  bool set_qps(std::uint64_t sdkappid, std::uint32_t qps);  // false for an unknown app
  void set_faults(const FaultRates& rates);
  void set_group_fault(std::string_view group_id, Fault fault);
  void set_down_for(std::chrono::milliseconds d);  // every connection/request is reset meanwhile
  /// get_appid_group_list calls (any app) asking for page `page` answer
  /// `fault` instead, `times` times (0 = until cleared with Fault::none).
  /// Page 1 is a call with Next=0; page n+1 a call whose Next is the cursor
  /// that page n of the app's current listing (since its last Next=0 call)
  /// answered, so a retry of a page asks for the same page again. Calls
  /// with an unknown cursor are page 0. Fault::e10010 answers ErrorCode 10010.
  void set_list_fault(int page, Fault fault, int times);

  struct Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace groupwatch::emulator
