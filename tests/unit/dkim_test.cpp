// The pure parts of server/dkim: the names, the arrival date from Received, the s=tlsrpt key
// rewrite, and which Authentication-Results header is believed. Verification itself is tested
// against a real DNS server and signed mail in tests/e2e/dkim_test.sh.
#include <doctest/doctest.h>

#include <set>
#include <string>

#include "dkim/gate.hpp"
#include "dkim/verify.hpp"

using namespace tlsrpt::dkim;

TEST_CASE("dkim: result and error names are kebab-case and unique") {
  std::set<std::string_view> seen;
  for (const auto& r : all_results()) {
    CHECK(seen.insert(r.name).second);
    CHECK(to_string(r.value) == r.name);
  }
  for (const auto& e : all_errors()) {
    CHECK(seen.insert(e.name).second);
    CHECK(e.name.find('_') == std::string_view::npos);
    CHECK_FALSE(e.description.empty());
  }
  CHECK(to_string(Error::key_lookup_temperror) == "key-lookup-temperror");
  CHECK(mode_from_string("require") == Mode::require);
  CHECK_FALSE(mode_from_string("strict"));
}

TEST_CASE("dkim: arrival from the topmost Received header") {
  constexpr std::int64_t now = 1796083200;  // 2026-12-01T00:00:00Z
  CHECK(arrival_from_received("Received: from a by b; Mon, 30 Nov 2026 10:00:00 +0000\r\nReceived: from c; "
                              "Sun, 29 Nov 2026 10:00:00 +0000\r\n\r\nbody",
                              now) == now - 14 * 3600);
  // Folded, without the day name or seconds, a zone name and a comment.
  CHECK(arrival_from_received("Received: from a\r\n\tby b;\r\n 30 Nov 2026 10:00 GMT (comment)\r\n\r\n", now) ==
        now - 14 * 3600);
  CHECK(arrival_from_received("Received: x; Mon, 30 Nov 2026 12:00:00 +0200\n\n", now) == now - 14 * 3600);
  CHECK_FALSE(arrival_from_received("From: a@b\r\n\r\nReceived: x; Mon, 30 Nov 2026 10:00:00 +0000\r\n", now));
  CHECK_FALSE(arrival_from_received("Received: from a by b\r\n\r\n", now));                      // no date
  CHECK_FALSE(arrival_from_received("Received: x; yesterday\r\n\r\n", now));                     // unreadable
  CHECK_FALSE(arrival_from_received("Received: x; Mon, 30 Nov 2027 10:00:00 +0000\r\n\r\n", now));  // a year ahead
}

TEST_CASE("dkim: a key restricted to s=tlsrpt is accepted as an email key") {
  CHECK(accept_tlsrpt_service("v=DKIM1; k=rsa; s=tlsrpt; p=AB") == "v=DKIM1; k=rsa;s=email; p=AB");
  CHECK(accept_tlsrpt_service("v=DKIM1; s = email : TLSRPT ;p=AB") == "v=DKIM1;s=email;p=AB");
  CHECK_FALSE(accept_tlsrpt_service("v=DKIM1; k=rsa; p=AB"));
  CHECK_FALSE(accept_tlsrpt_service("v=DKIM1; s=email; p=AB"));
  CHECK_FALSE(accept_tlsrpt_service("v=DKIM1; s=tlsrptx; p=AB"));
}

TEST_CASE("dkim: the topmost Authentication-Results of a trusted gateway decides") {
  const std::vector<std::string> ids{"gw.example.net"};
  const auto pass = trusted_authentication_results(
      "Authentication-Results: GW.example.net 1; spf=pass smtp.mailfrom=x;\r\n dkim=pass (2048-bit key; unprotected)"
      " header.d=Corp.Mail.ru header.s=mail\r\nFrom: a@mail.ru\r\n\r\n",
      ids);
  REQUIRE(pass);
  CHECK(pass->pass);
  CHECK(pass->domain == "corp.mail.ru");
  CHECK(pass->authserv_id == "GW.example.net");
  // header.i instead of header.d; a quoted value.
  CHECK(trusted_authentication_results("Authentication-Results: gw.example.net; dkim=pass header.i=\"@google.com\"\r\n\r\n", ids)
            ->domain == "google.com");
  // The topmost trusted header says fail: a lower one (the sender could have written it) is ignored.
  const auto fail = trusted_authentication_results(
      "Authentication-Results: gw.example.net; dkim=fail header.d=google.com\r\n"
      "Authentication-Results: gw.example.net; dkim=pass header.d=google.com\r\n\r\n",
      ids);
  REQUIRE(fail);
  CHECK_FALSE(fail->pass);
  // Untrusted ids, and dkim=pass inside a comment, count for nothing.
  CHECK_FALSE(trusted_authentication_results("Authentication-Results: mx.evil.example; dkim=pass header.d=google.com\r\n\r\n", ids));
  CHECK_FALSE(trusted_authentication_results("Authentication-Results: gw.example.net; spf=pass (dkim=pass header.d=google.com)\r\n\r\n", ids)
                  ->pass);
  CHECK_FALSE(trusted_authentication_results("Authentication-Results: gw.example.net; dkim=pass header.d=x\r\n\r\n", {}));
  // Only the header section is read.
  CHECK_FALSE(trusted_authentication_results("From: a@b\r\n\r\nAuthentication-Results: gw.example.net; dkim=pass header.d=x\r\n", ids));
}

TEST_CASE("dkim: h= naming more fields than the header has: padded up to 64 more, judged without libopendkim past that") {
  Verifier verifier([] {
    Settings s;
    s.dns.server = "127.0.0.1:9";  // keys never answer: temperror, at once
    s.dns.trust_anchor_file = "";
    s.deadline = std::chrono::milliseconds(0);
    return s;
  }());
  const auto message = [](int extra) {
    std::string h = "from:dkim-signature";
    for (int i = 0; i < extra; ++i) h += ":to";
    return "DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=x.example; s=s2; h=" + h +
           "; bh=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=; b=dGVzdA==\r\nFrom: a@x.example\r\n\r\nbody\r\n";
  };
  // Oversigned by 3 and by 64: libopendkim judges them (the key lookup is what fails here).
  for (int extra : {3, 64}) {
    CAPTURE(extra);
    const Verdict v = verifier.verify(message(extra), 1800000000);
    REQUIRE(v.signatures.size() == 1);
    CHECK(v.signatures[0].error != Error::too_many_signed_fields);
    CHECK(v.signatures[0].domain == "x.example");
  }
  // By 65: not handed to libopendkim.
  const Verdict v = verifier.verify(message(65), 1800000000);
  CHECK(v.result == Result::permerror);
  REQUIRE(v.signatures.size() == 1);
  CHECK(v.signatures[0].error == Error::too_many_signed_fields);
  CHECK(v.signatures[0].selector == "s2");
}

TEST_CASE("dkim: a NUL byte in the header is judged without libopendkim, each signature named") {
  Verifier verifier([] {
    Settings s;
    s.dns.server = "127.0.0.1:9";  // never asked: such a message makes no lookup
    s.dns.trust_anchor_file = "";
    s.deadline = std::chrono::milliseconds(0);
    return s;
  }());
  // The input fuzz_dkim found (65 bytes; libopendkim read past a heap block on it).
  const std::string found = std::string("DKIM-Signature:v=1;a=rsa-sha256;d=m;s=l;h=from;bh=4;b==\nFrom:@h") + '\0' + "y";
  Verdict v = verifier.verify(found, 1800000000);
  CHECK(v.result == Result::permerror);
  REQUIRE(v.signatures.size() == 1);
  CHECK(v.signatures[0].domain == "m");
  CHECK(v.signatures[0].selector == "l");
  CHECK(v.signatures[0].error == Error::header_not_verifiable);
  // Two signatures, folded, with the NUL in another field: both listed; none without signatures.
  const std::string two = std::string("DKIM-Signature: v=1; a=rsa-sha256; d=Example.COM;\r\n s=sel1; h=from; bh=x; b=y\r\n"
                                      "DKIM-Signature: v=1; d=example.net; s=sel2; h=from; bh=x; b=y\r\n"
                                      "Subject: a") + '\0' + "b\r\nFrom: r@example.com\r\n\r\nbody";
  v = verifier.verify(two, 1800000000);
  CHECK(v.result == Result::permerror);
  REQUIRE(v.signatures.size() == 2);
  CHECK(v.signatures[0].domain == "example.com");
  CHECK(v.signatures[0].selector == "sel1");
  CHECK(v.signatures[1].domain == "example.net");
  CHECK(v.to_json().find("\"error\":\"header-not-verifiable\"") != std::string::npos);
  v = verifier.verify(std::string("From: a@b") + '\0' + "\r\n\r\nbody", 1800000000);
  CHECK(v.result == Result::none);
  CHECK(v.signatures.empty());
  // A NUL in the body is left to libopendkim (the body is hashed as bytes): judged as usual.
  v = verifier.verify(std::string("DKIM-Signature: v=1; a=rsa-sha256; d=m; s=l; h=from; bh=x; b=y\r\nFrom: a@m\r\n\r\nb") +
                          '\0' + "dy",
                      1800000000);
  REQUIRE(v.signatures.size() == 1);
  CHECK(v.signatures[0].error != Error::header_not_verifiable);
}
