#include "smtp/session.hpp"

#include <algorithm>
#include <cctype>

namespace tlsrpt::smtp {
namespace {

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

bool istarts_with(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && iequals(s.substr(0, prefix.size()), prefix);
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

// "<path>" then optional parameters; the path is returned without brackets. False on syntax errors.
bool parse_path(std::string_view arg, std::string& path, std::string_view& params) {
  arg = trim(arg);
  if (arg.empty() || arg.front() != '<') return false;
  const auto close = arg.find('>');
  if (close == std::string_view::npos) return false;
  path.assign(arg.substr(1, close - 1));
  params = trim(arg.substr(close + 1));
  // A source route (@a,@b:user@d) is allowed by RFC 5321 and ignored.
  if (const auto colon = path.find(':'); !path.empty() && path[0] == '@' && colon != std::string::npos)
    path.erase(0, colon + 1);
  for (char c : path)
    if (static_cast<unsigned char>(c) < 0x20 || c == ' ' || c == '<' || c == '>') return false;
  return true;
}

}  // namespace

bool accepts_recipient(const Config& config, std::string_view address) {
  const auto at = address.rfind('@');
  if (at == std::string_view::npos || at == 0 || at + 1 == address.size()) return false;
  const std::string_view domain = address.substr(at);  // "@domain"
  for (const auto& r : config.recipients) {
    if (r.starts_with('@') ? iequals(domain, r) : iequals(address, r)) return true;
  }
  return false;
}

Session::Session(const Config& config) : config_(config) {}

std::string Session::greeting() const { return "220 " + config_.hostname + " ESMTP tlsrpt\r\n"; }

Session::Output Session::bad(std::string reply) {
  Output out;
  if (++bad_commands_ >= config_.limits.bad_commands) {
    out.reply = "421 4.7.0 " + config_.hostname + " Too many errors, closing connection\r\n";
    out.close = true;
    return out;
  }
  out.reply = std::move(reply);
  return out;
}

void Session::reset_transaction() {
  envelope_.mail_from.clear();
  envelope_.recipients.clear();
  message_.clear();
  if (message_.capacity() > 256 * 1024) message_.shrink_to_fit();  // a long session keeps no large buffer
  too_big_ = false;
  if (state_ != State::fresh) state_ = State::greeted;
}

void Session::tls_started() {
  tls_active_ = true;
  state_ = State::fresh;
  esmtp_ = false;
  envelope_ = {};
  message_.clear();
}

Session::Output Session::on_overlong_line() {
  if (state_ == State::data) return {};  // data lines are not limited; the adapter never calls this then
  return bad("500 5.5.2 Line too long\r\n");
}

void Session::on_data_fragment(std::string_view fragment) {
  if (state_ != State::data || fragment.empty()) return;
  const bool line_start = last_crlf_;
  last_crlf_ = false;  // what follows continues this line
  if (too_big_) return;
  if (line_start && fragment[0] == '.') fragment.remove_prefix(1);
  if (message_.size() + fragment.size() > config_.limits.message_size) {
    too_big_ = true;
    message_.clear();
    message_.shrink_to_fit();
    return;
  }
  message_.append(fragment);
}

Session::Output Session::on_line(std::string_view line, bool crlf) {
  if (state_ == State::data) return data_line(line, crlf);
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  return command(line);
}

Session::Output Session::data_line(std::string_view line, bool crlf) {
  Output out;
  if (crlf && last_crlf_ && line == ".") {
    state_ = State::greeted;
    if (too_big_) {
      reset_transaction();
      out.reply = "552 5.3.4 Message exceeds the size limit of " + std::to_string(config_.limits.message_size) + " bytes\r\n";
      return out;
    }
    out.message_ready = true;
    return out;
  }
  // Only a line that starts after a CRLF is a line to SMTP: dot-stuffing (RFC 5321 4.5.2) is
  // undone there, as the terminator is recognised there, and nowhere else.
  const bool line_start = last_crlf_;
  last_crlf_ = crlf;
  if (too_big_) return out;
  if (line_start && !line.empty() && line[0] == '.') line.remove_prefix(1);
  if (message_.size() + line.size() + 2 > config_.limits.message_size) {
    too_big_ = true;
    message_.clear();
    message_.shrink_to_fit();
    return out;
  }
  message_.append(line);
  message_.append(crlf ? "\r\n" : "\n");
  return out;
}

std::string Session::message_accepted(std::string_view id) {
  reset_transaction();
  return "250 2.0.0 Ok: stored as " + std::string(id) + "\r\n";
}

std::string Session::message_refused(std::string_view reply) {
  reset_transaction();
  return std::string(reply) + "\r\n";
}

std::string Session::message_deferred() {
  reset_transaction();
  return "451 4.3.0 Temporary failure storing the message, try again later\r\n";
}

Session::Output Session::command(std::string_view line) {
  Output out;
  const auto space = line.find(' ');
  const std::string_view verb = line.substr(0, space);
  const std::string_view arg = space == std::string_view::npos ? std::string_view() : trim(line.substr(space + 1));

  if (iequals(verb, "EHLO") || iequals(verb, "HELO")) {
    if (arg.empty()) return bad("501 5.5.4 Syntax: " + std::string(verb) + " hostname\r\n");
    reset_transaction();
    state_ = State::greeted;
    envelope_.helo.assign(arg.substr(0, 255));
    esmtp_ = iequals(verb, "EHLO");
    if (!esmtp_) {
      out.reply = "250 " + config_.hostname + "\r\n";
      return out;
    }
    out.reply = "250-" + config_.hostname + "\r\n250-PIPELINING\r\n250-SIZE " + std::to_string(config_.limits.message_size) +
                "\r\n250-8BITMIME\r\n250-ENHANCEDSTATUSCODES\r\n";
    if (config_.tls_available && !tls_active_) out.reply += "250-STARTTLS\r\n";
    out.reply += "250 HELP\r\n";
    return out;
  }
  if (iequals(verb, "QUIT")) {
    out.reply = "221 2.0.0 Bye\r\n";
    out.close = true;
    return out;
  }
  if (iequals(verb, "NOOP")) {
    out.reply = "250 2.0.0 Ok\r\n";
    return out;
  }
  if (iequals(verb, "RSET")) {
    if (!arg.empty()) return bad("501 5.5.4 Syntax: RSET\r\n");
    reset_transaction();
    out.reply = "250 2.0.0 Ok\r\n";
    return out;
  }
  if (iequals(verb, "VRFY")) {
    out.reply = "252 2.5.2 Cannot VRFY user, but will accept message for configured recipients\r\n";
    return out;
  }
  if (iequals(verb, "HELP")) {
    out.reply = "214 2.0.0 Commands: EHLO HELO MAIL RCPT DATA RSET NOOP QUIT VRFY HELP" +
                std::string(config_.tls_available ? " STARTTLS" : "") + "\r\n";
    return out;
  }
  if (iequals(verb, "STARTTLS")) {
    if (!config_.tls_available) return bad("502 5.5.1 STARTTLS not available\r\n");
    if (tls_active_) return bad("503 5.5.1 TLS already active\r\n");
    if (!arg.empty()) return bad("501 5.5.4 Syntax: STARTTLS\r\n");
    if (state_ == State::fresh) return bad("503 5.5.1 Send EHLO first\r\n");
    out.reply = "220 2.0.0 Ready to start TLS\r\n";
    out.start_tls = true;
    return out;
  }
  if (istarts_with(line, "MAIL FROM:")) {
    if (state_ == State::fresh) return bad("503 5.5.1 Send EHLO or HELO first\r\n");
    if (state_ != State::greeted) return bad("503 5.5.1 Nested MAIL command\r\n");
    std::string path;
    std::string_view params;
    if (!parse_path(line.substr(10), path, params)) return bad("501 5.5.4 Syntax: MAIL FROM:<address>\r\n");
    // Parameters: SIZE=n and BODY=7BIT|8BITMIME; others are refused (RFC 5321 4.1.1.11).
    while (!params.empty()) {
      const auto sp = params.find(' ');
      const std::string_view p = params.substr(0, sp);
      params = sp == std::string_view::npos ? std::string_view() : trim(params.substr(sp + 1));
      if (istarts_with(p, "SIZE=")) {
        const std::string_view n = p.substr(5);
        if (n.empty() || n.size() > 19 || !std::all_of(n.begin(), n.end(), ::isdigit))
          return bad("501 5.5.4 Bad SIZE parameter\r\n");
        if (std::stoull(std::string(n)) > config_.limits.message_size) {
          out.reply = "552 5.3.4 Message size exceeds the limit of " + std::to_string(config_.limits.message_size) + " bytes\r\n";
          return out;
        }
      } else if (istarts_with(p, "BODY=")) {
        if (!iequals(p.substr(5), "7BIT") && !iequals(p.substr(5), "8BITMIME"))
          return bad("501 5.5.4 Bad BODY parameter\r\n");
      } else {
        return bad("555 5.5.4 Unsupported MAIL parameter " + std::string(p.substr(0, 64)) + "\r\n");
      }
    }
    if (admit_ && !admit_()) {
      out.reply = "450 4.7.1 Too many messages from your address; try again later\r\n";
      return out;
    }
    envelope_.mail_from = path;
    state_ = State::mail;
    out.reply = "250 2.1.0 Ok\r\n";
    return out;
  }
  if (istarts_with(line, "RCPT TO:")) {
    if (state_ != State::mail && state_ != State::rcpt) return bad("503 5.5.1 Need MAIL before RCPT\r\n");
    std::string path;
    std::string_view params;
    if (!parse_path(line.substr(8), path, params) || path.empty()) return bad("501 5.5.4 Syntax: RCPT TO:<address>\r\n");
    if (!params.empty()) return bad("555 5.5.4 RCPT parameters are not supported\r\n");
    if (envelope_.recipients.size() >= config_.limits.recipients) {
      out.reply = "452 4.5.3 Too many recipients\r\n";
      return out;
    }
    if (!accepts_recipient(config_, path)) {
      out.reply = "550 5.1.1 <" + path.substr(0, 256) + ">: recipient not accepted here (no relaying)\r\n";
      return out;
    }
    envelope_.recipients.push_back(path);
    state_ = State::rcpt;
    out.reply = "250 2.1.5 Ok\r\n";
    return out;
  }
  if (iequals(verb, "DATA")) {
    if (state_ == State::mail) {
      out.reply = "554 5.5.1 No valid recipients\r\n";
      return out;
    }
    if (state_ != State::rcpt) return bad("503 5.5.1 Need RCPT before DATA\r\n");
    if (!arg.empty()) return bad("501 5.5.4 Syntax: DATA\r\n");
    state_ = State::data;
    message_.clear();
    too_big_ = false;
    last_crlf_ = true;
    out.reply = "354 End data with <CR><LF>.<CR><LF>\r\n";
    return out;
  }
  if (iequals(verb, "EXPN") || iequals(verb, "AUTH") || iequals(verb, "BDAT") || iequals(verb, "TURN") ||
      iequals(verb, "ETRN"))
    return bad("502 5.5.1 Command not implemented\r\n");
  return bad("500 5.5.2 Command unrecognized\r\n");
}

}  // namespace tlsrpt::smtp
