// The embedded default database: a private PostgreSQL cluster under tlsrpt's data directory,
// made with the system's PostgreSQL binaries (initdb on first use), started when tlsrpt needs
// it and stopped when tlsrpt exits. It listens on a Unix socket in the data directory only.
// As root the server runs as user `postgres` (PostgreSQL refuses root), so the data directory
// must be reachable by that user; tlsrpt grants it search permission on the way when needed.
#pragma once

#include <filesystem>
#include <string>

namespace tlsrpt::store {

class EmbeddedPostgres {
 public:
  // Creates (first use) and starts the cluster in `data_dir`/postgres. Throws store::Error.
  explicit EmbeddedPostgres(const std::filesystem::path& data_dir);
  ~EmbeddedPostgres();  // stops the server if this object started it
  EmbeddedPostgres(const EmbeddedPostgres&) = delete;
  EmbeddedPostgres& operator=(const EmbeddedPostgres&) = delete;

  const std::string& url() const { return url_; }

 private:
  std::filesystem::path cluster_, socket_dir_, log_;
  std::string bin_, user_, url_;
  bool started_ = false;
};

}  // namespace tlsrpt::store
