// The IMAP client's parsing of server responses (ingest/imap).
#include <doctest/doctest.h>

#include "imap/protocol.hpp"

using namespace tlsrpt::imap;

TEST_CASE("imap: responses with literals are assembled whatever the chunking") {
  const std::string stream =
      "* 1 FETCH (UID 7 BODY[] {5}\r\nhello)\r\n* 2 FETCH (UID 9 BODY[] {0}\r\n)\r\nt3 OK done\r\n";
  for (std::size_t chunk : {1u, 2u, 7u, 1000u}) {
    Reader reader({1024, 1024});
    std::vector<Response> got;
    for (std::size_t i = 0; i < stream.size(); i += chunk) {
      REQUIRE(reader.feed(std::string_view(stream).substr(i, chunk)));
      while (auto r = reader.next()) got.push_back(*r);
    }
    REQUIRE(got.size() == 3);
    CHECK(got[0].text == "* 1 FETCH (UID 7 BODY[] {5})");
    REQUIRE(got[0].literals.size() == 1);
    CHECK(got[0].literals[0] == "hello");
    CHECK(fetch_uid(got[0].text) == 7u);
    CHECK(got[1].literals == std::vector<std::string>{""});
    CHECK(fetch_uid(got[1].text) == 9u);
    CHECK(tag_of(got[2].text) == "t3");
    CHECK(status_of(got[2].text) == "OK");
  }
}

TEST_CASE("imap: a literal's bytes may hold CRLF and braces") {
  Reader reader({1024, 1024});
  REQUIRE(reader.feed("* 1 FETCH (UID 1 BODY[] {13}\r\nab\r\n{3}\r\ncd\r\n)\r\n"));
  auto r = reader.next();
  REQUIRE(r);
  CHECK(r->literals[0] == "ab\r\n{3}\r\ncd\r\n");
  CHECK(r->text == "* 1 FETCH (UID 1 BODY[] {13})");
}

TEST_CASE("imap: limits on lines and literals are enforced") {
  Reader small({16, 8});
  CHECK_FALSE(small.feed("* this line is far too long for the limit\r\n"));
  CHECK(small.error().find("longer than") != std::string::npos);
  CHECK_FALSE(small.feed("t1 OK\r\n"));  // stays broken
  Reader lit({1024, 8});
  CHECK_FALSE(lit.feed("* 1 FETCH (BODY[] {9}\r\n"));
  CHECK(lit.error().find("literal") != std::string::npos);
  Reader endless({16, 8});
  CHECK_FALSE(endless.feed(std::string(100, 'x')));  // no CRLF at all
}

TEST_CASE("imap: what the poller reads out of responses") {
  CHECK(capabilities("* CAPABILITY IMAP4rev1 IDLE move AUTH=PLAIN") ==
        std::vector<std::string>{"IMAP4REV1", "IDLE", "MOVE", "AUTH=PLAIN"});
  CHECK(capabilities("* OK [CAPABILITY IMAP4rev1 SASL-IR STARTTLS] ready") ==
        std::vector<std::string>{"IMAP4REV1", "SASL-IR", "STARTTLS"});
  CHECK(capabilities("* OK ready").empty());
  CHECK(response_code_number("* OK [UIDVALIDITY 3857529045] UIDs valid", "UIDVALIDITY") == 3857529045u);
  CHECK_FALSE(response_code_number("* OK [UIDVALIDITY x]", "UIDVALIDITY"));
  CHECK(search_uids("* SEARCH 1 5 4294967295 0 x 99999999999", 10) == std::vector<std::uint32_t>{1, 5, 4294967295u});
  CHECK(search_uids("* SEARCH 1 2 3", 2).size() == 2);
  CHECK(search_uids("* SEARCH", 10).empty());
  CHECK(list_delimiter("* LIST (\\HasNoChildren) \"/\" INBOX") == '/');
  CHECK(list_delimiter("* LIST (\\Noselect) \".\" \"\"") == '.');
  CHECK(list_delimiter("* LIST (\\Noselect) NIL \"\"") == '\0');
  CHECK_FALSE(list_delimiter("* 3 EXISTS"));
  CHECK(is_exists("* 3 EXISTS"));
  CHECK_FALSE(is_exists("* 3 RECENT"));
  CHECK_FALSE(fetch_uid("* 1 FETCH (FLAGS (\\Seen))"));
  CHECK(status_of("* BYE shutting down") == "BYE");
  CHECK(status_of("t1 no [AUTHENTICATIONFAILED] nope") == "NO");
}

TEST_CASE("imap: arguments") {
  CHECK(quoted("a\"b\\c") == "\"a\\\"b\\\\c\"");
  CHECK(needs_literal("caf\xc3\xa9"));
  CHECK(needs_literal("a\r\nb"));
  CHECK_FALSE(needs_literal("tls-reports@example.net"));
  CHECK(base64(std::string("\0user\0pass", 10)) == "AHVzZXIAcGFzcw==");
  CHECK(base64("ab") == "YWI=");
  CHECK(base64("abc") == "YWJj");
}
