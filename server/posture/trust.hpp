// The WebPKI trust store of the posture checks: the system's CAs plus checks.ca_file, read once
// per process (a CA bundle is parsed in full; once per fetch and per probe was most of a check's
// CPU under a sanitizer). Thread-safe; the store lives as long as the process.
#pragma once

#include <openssl/x509_vfy.h>

#include <string>

namespace tlsrpt::posture {

// nullptr when ca_file cannot be read (the system's CAs alone are then not used either: the
// caller reports the check incomplete).
X509_STORE* webpki_store(const std::string& ca_file);

}  // namespace tlsrpt::posture
