// The SMTP server protocol (RFC 5321 with PIPELINING, SIZE, 8BITMIME, ENHANCEDSTATUSCODES and
// STARTTLS from RFC 2920, 1870, 6152, 2034, 3207) as a state machine without I/O.
//
// Purpose: decide every reply; the network adapter (server/smtp) only moves lines and bytes.
// Trusts: nothing. The adapter splits input into lines no longer than its line limit and says
// whether each ended with CRLF or a bare LF; everything else is checked here.
// Limits: message size (552 after the end of data, the data is not kept past the limit),
// recipients per message (452), bad commands before disconnect (421).
// Smuggling: the end of data is only CRLF "." CRLF; a "." line ended by a bare LF is data.
// Errors: replies; the adapter closes the connection when Output::close is set.
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace tlsrpt::smtp {

struct Limits {
  std::size_t message_size = 20 * 1024 * 1024;  // advertised with SIZE
  std::size_t recipients = 50;
  unsigned bad_commands = 10;
};

struct Config {
  std::string hostname = "localhost";
  std::vector<std::string> recipients;  // "user@domain" (any case) or "@domain" for a whole domain
  bool tls_available = false;           // STARTTLS offered (never required)
  Limits limits;
};

// Accepts `address` for delivery? (Never relays: only configured addresses or domains.)
bool accepts_recipient(const Config& config, std::string_view address);

struct Envelope {
  std::string helo;
  std::string mail_from;
  std::vector<std::string> recipients;
};

class Session {
 public:
  explicit Session(const Config& config);

  std::string greeting() const;

  struct Output {
    std::string reply;           // to send, CRLF-terminated lines; may be empty (inside DATA)
    bool close = false;          // close after sending the reply
    bool start_tls = false;      // start the TLS handshake after sending the reply
    bool message_ready = false;  // the end of data was reached: store message(), then answer
  };

  // One line without its terminator; `crlf` tells whether it ended with CRLF (or a bare LF).
  Output on_line(std::string_view line, bool crlf);
  // The adapter met a command line longer than its limit (the rest of it was discarded).
  Output on_overlong_line();
  // Inside DATA: the start of a line too long to buffer; the rest follows in more fragments or
  // in on_line(). Data lines have no length limit of their own, only the message size.
  void on_data_fragment(std::string_view fragment);

  // After Output::message_ready: the stored message and the answer to give.
  const std::string& message() const { return message_; }
  const Envelope& envelope() const { return envelope_; }
  std::string message_accepted(std::string_view id);  // 250, and a new transaction may start
  std::string message_deferred();                     // 451: the sender will retry
  std::string message_refused(std::string_view reply);  // the given 4xx/5xx reply (one line, no CRLF)

  void tls_started();  // RFC 3207: forget everything from before the handshake
  // Asked at each otherwise valid MAIL command (the adapter's per-client message rate): false
  // defers the transaction with 450 4.7.1, so the sender keeps the message and retries later.
  void set_admission(std::function<bool()> admit) { admit_ = std::move(admit); }
  bool in_data() const { return state_ == State::data; }
  bool tls_active() const { return tls_active_; }

 private:
  enum class State { fresh, greeted, mail, rcpt, data };
  Output command(std::string_view line);
  Output data_line(std::string_view line, bool crlf);
  Output bad(std::string reply);
  void reset_transaction();

  const Config& config_;
  State state_ = State::fresh;
  bool esmtp_ = false;
  bool tls_active_ = false;
  unsigned bad_commands_ = 0;
  Envelope envelope_;
  std::string message_;
  bool too_big_ = false;
  bool last_crlf_ = true;  // the previous data line ended with CRLF
  std::function<bool()> admit_;
};

}  // namespace tlsrpt::smtp
