#include <doctest/doctest.h>

#include "smtp/session.hpp"

using namespace tlsrpt;

namespace {

smtp::Config config(bool tls = false) {
  smtp::Config c;
  c.hostname = "mx.example.net";
  c.recipients = {"tls-reports@example.net", "@reports.example.org"};
  c.tls_available = tls;
  c.limits.message_size = 100;
  c.limits.recipients = 2;
  c.limits.bad_commands = 3;
  return c;
}

// Sends one CRLF line and returns the reply.
std::string send(smtp::Session& s, std::string_view line) { return s.on_line(line, true).reply; }

std::string code(const std::string& reply) { return reply.substr(0, 3); }

// Greets, opens a transaction for the configured address and starts DATA.
void start_data(smtp::Session& s) {
  send(s, "EHLO a");
  send(s, "MAIL FROM:<a@b>");
  send(s, "RCPT TO:<tls-reports@example.net>");
  REQUIRE(code(send(s, "DATA")) == "354");
}

}  // namespace

TEST_CASE("smtp: a whole delivery, with dot-unstuffing") {
  const auto c = config();
  smtp::Session s(c);
  CHECK(s.greeting() == "220 mx.example.net ESMTP tlsrpt\r\n");
  const std::string ehlo = send(s, "EHLO client.example");
  CHECK(ehlo.find("250-PIPELINING\r\n") != std::string::npos);
  CHECK(ehlo.find("250-SIZE 100\r\n") != std::string::npos);
  CHECK(ehlo.find("250-8BITMIME\r\n") != std::string::npos);
  CHECK(ehlo.find("250-ENHANCEDSTATUSCODES\r\n") != std::string::npos);
  CHECK(ehlo.find("STARTTLS") == std::string::npos);
  CHECK(send(s, "MAIL FROM:<noreply@reporter.example> SIZE=50 BODY=8BITMIME") == "250 2.1.0 Ok\r\n");
  CHECK(send(s, "RCPT TO:<TLS-Reports@Example.NET>") == "250 2.1.5 Ok\r\n");
  CHECK(code(send(s, "RCPT TO:<anyone@reports.example.org>")) == "250");
  CHECK(code(send(s, "DATA")) == "354");
  CHECK(s.in_data());
  CHECK(send(s, "Subject: x").empty());
  CHECK(send(s, "").empty());
  CHECK(send(s, "..leading dot").empty());
  const auto end = s.on_line(".", true);
  CHECK(end.message_ready);
  CHECK(s.message() == "Subject: x\r\n\r\n.leading dot\r\n");
  CHECK(s.envelope().mail_from == "noreply@reporter.example");
  CHECK(s.envelope().recipients.size() == 2);
  CHECK(s.message_accepted("42") == "250 2.0.0 Ok: stored as 42\r\n");
  CHECK(send(s, "MAIL FROM:<>") == "250 2.1.0 Ok\r\n");  // a new transaction; null sender allowed
  CHECK(send(s, "QUIT") == "221 2.0.0 Bye\r\n");
}

TEST_CASE("smtp: the end of data is CRLF . CRLF only (no smuggling with bare LF)") {
  const auto c = config();
  smtp::Session s(c);
  start_data(s);
  CHECK_FALSE(s.on_line("text", false).message_ready);  // "text\n"
  CHECK_FALSE(s.on_line(".", true).message_ready);      // "\n.\r\n": not after a CRLF
  CHECK_FALSE(s.on_line(".", false).message_ready);     // "\r\n.\n"
  CHECK_FALSE(s.on_line("MAIL FROM:<x@y>", true).message_ready);
  CHECK(s.in_data());
  CHECK(s.on_line(".", true).message_ready);
  // The "." after a bare LF is not at a line start: kept as sent. The one after CRLF is unstuffed.
  CHECK(s.message() == "text\n.\r\n\nMAIL FROM:<x@y>\r\n");
}

TEST_CASE("smtp: recipients are only the configured ones; never relays") {
  const auto c = config();
  CHECK(smtp::accepts_recipient(c, "tls-reports@example.net"));
  CHECK(smtp::accepts_recipient(c, "x@REPORTS.example.org"));
  CHECK_FALSE(smtp::accepts_recipient(c, "x@sub.reports.example.org"));
  CHECK_FALSE(smtp::accepts_recipient(c, "victim@elsewhere.example"));
  CHECK_FALSE(smtp::accepts_recipient(c, "tls-reports@example.net.evil.example"));
  CHECK_FALSE(smtp::accepts_recipient(c, "@example.net"));
  smtp::Session s(c);
  send(s, "EHLO a");
  send(s, "MAIL FROM:<a@b>");
  CHECK(code(send(s, "RCPT TO:<victim@elsewhere.example>")) == "550");
  CHECK(code(send(s, "DATA")) == "554");  // no valid recipient
}

TEST_CASE("smtp: limits on size and recipients") {
  const auto c = config();
  smtp::Session s(c);
  send(s, "EHLO a");
  CHECK(code(send(s, "MAIL FROM:<a@b> SIZE=101")) == "552");
  send(s, "MAIL FROM:<a@b>");
  send(s, "RCPT TO:<tls-reports@example.net>");
  send(s, "RCPT TO:<a@reports.example.org>");
  CHECK(code(send(s, "RCPT TO:<b@reports.example.org>")) == "452");
  send(s, "DATA");
  for (int i = 0; i < 20; ++i) s.on_line("0123456789", true);
  const auto end = s.on_line(".", true);
  CHECK_FALSE(end.message_ready);
  CHECK(code(end.reply) == "552");
  CHECK(s.message().empty());
  CHECK(code(send(s, "MAIL FROM:<a@b>")) == "250");  // the session goes on
}

TEST_CASE("smtp: sequence errors, unknown commands, too many errors") {
  const auto c = config();
  smtp::Session s(c);
  CHECK(code(send(s, "MAIL FROM:<a@b>")) == "503");
  CHECK(code(send(s, "FOO")) == "500");
  auto out = s.on_overlong_line();
  CHECK(out.reply == "421 4.7.0 mx.example.net Too many errors, closing connection\r\n");
  CHECK(out.close);
}

TEST_CASE("smtp: RSET, NOOP, VRFY, HELP, nested MAIL, parameters") {
  auto c = config();
  c.limits.bad_commands = 10;
  smtp::Session s(c);
  send(s, "EHLO a");
  CHECK(code(send(s, "NOOP")) == "250");
  CHECK(code(send(s, "VRFY postmaster")) == "252");
  CHECK(code(send(s, "HELP")) == "214");
  send(s, "MAIL FROM:<a@b>");
  CHECK(code(send(s, "MAIL FROM:<a@b>")) == "503");
  CHECK(code(send(s, "RSET")) == "250");
  CHECK(code(send(s, "MAIL FROM:<a@b> XFOO=1")) == "555");
  CHECK(code(send(s, "MAIL FROM:a@b")) == "501");
  CHECK(code(send(s, "mail from:<a@b>")) == "250");  // verbs are case-insensitive
}

TEST_CASE("smtp: STARTTLS offered, never required, and resets the session") {
  const auto c = config(true);
  smtp::Session s(c);
  CHECK(send(s, "EHLO a").find("250-STARTTLS\r\n") != std::string::npos);
  send(s, "MAIL FROM:<a@b>");
  auto out = s.on_line("STARTTLS", true);
  CHECK(out.start_tls);
  CHECK(code(out.reply) == "220");
  s.tls_started();
  CHECK(code(send(s, "MAIL FROM:<a@b>")) == "503");  // must EHLO again
  CHECK(send(s, "EHLO a").find("STARTTLS") == std::string::npos);
  CHECK(code(send(s, "STARTTLS")) == "503");
  smtp::Session plain(c);  // without TLS the whole delivery works
  start_data(plain);
  CHECK(plain.on_line(".", true).message_ready);
}

TEST_CASE("smtp: a long data line arrives in fragments") {
  const auto c = config();
  smtp::Session s(c);
  start_data(s);
  s.on_data_fragment("..abc");
  s.on_data_fragment("def");
  CHECK_FALSE(s.on_line(".", true).message_ready);  // continues the line: not a terminator
  CHECK(s.on_line(".", true).message_ready);
  CHECK(s.message() == ".abcdef.\r\n");
}

TEST_CASE("smtp: the admission hook defers a transaction with 450 and leaves the session usable") {
  const auto c = config();
  smtp::Session s(c);
  bool open = false;
  s.set_admission([&open] { return open; });
  send(s, "EHLO a");
  CHECK(code(send(s, "MAIL FROM:<a@b>")) == "450");
  CHECK(code(send(s, "RCPT TO:<tls-reports@example.net>")) == "503");  // no transaction was opened
  open = true;
  CHECK(code(send(s, "MAIL FROM:<a@b>")) == "250");
  CHECK(code(send(s, "RCPT TO:<tls-reports@example.net>")) == "250");
  CHECK(code(send(s, "DATA")) == "354");
}
