// The store: PostgreSQL through libpqxx. The only code with SQL.
//
// Purpose: keep every raw message exactly as received and, in the same transaction, either the
// reports read from it or its rejection; apply the schema migrations.
// Trusts: the pipeline's results (validated values); nothing about the database state.
// Errors: store::Error, transient (connection lost, server shutting down, serialization
// failure: retry later) or permanent (schema edited, constraint broken: a bug). Nothing is
// half-written: a failed store() leaves no trace of that message.
#pragma once

#include <cstdint>
#include <memory>
#include <map>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "pipeline/pipeline.hpp"

namespace tlsrpt::store {

// One line of text: libpq's messages carry DETAIL and HINT lines; a log line must not.
std::string one_line(std::string_view text);

class Error : public std::runtime_error {
 public:
  Error(const std::string& what, bool transient, bool timed_out = false)
      : std::runtime_error(one_line(what)), transient_(transient && !timed_out), timed_out_(timed_out) {}
  bool transient() const { return transient_; }
  // The statement ran past its statement_timeout (not retried: it would take as long again).
  bool timed_out() const { return timed_out_; }

 private:
  bool transient_;
  bool timed_out_;
};

// Bytes of rejected inputs offered per UTC day whose bodies are kept (0: no quota). Past one,
// a rejected input keeps its hash, size, reason, source and header section, not its body.
struct RejectedQuota {
  std::uint64_t per_client = 0;
  std::uint64_t total = 0;
};

struct RawMessage {
  std::string_view bytes;
  std::string transport = "cli";  // cli | smtp | imap | https
  std::string source_json = "{}";  // where it came from, e.g. {"path": "..."}
  std::string client;              // net::client_key of a network sender; "" when none (no quota)
  RejectedQuota quota;             // applies when client is set
  // DKIM (server/dkim): the result name and the verdict as JSON; nullopt when not verified.
  std::optional<std::string> dkim, dkim_json;
};

enum class Outcome { stored, duplicate, rejected };
std::string_view to_string(Outcome outcome);

struct StoreResult {
  Outcome outcome = Outcome::rejected;
  std::int64_t raw_id = 0;
  int new_reports = 0;
  int duplicate_reports = 0;
  std::vector<bool> fresh;  // per report of the pipeline result, in order: stored now (not a duplicate)
  bool body_dropped = false;  // rejected past a quota: the body was not kept
};

struct LastReport {
  std::string policy_domain, organization;
  std::int64_t end_epoch;
};

struct RejectedMessage {
  std::int64_t id;
  std::string reason;
  std::string source_json;
};

class Store {
 public:
  // Connects (a libpq URL or key=value string). Throws Error.
  explicit Store(const std::string& database_url);
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  // Applies pending migrations in order, each in its own transaction, under an advisory lock
  // (two processes starting at once apply each migration once). Returns the names applied.
  // Throws a permanent Error when an applied migration's file was edited since.
  std::vector<std::string> migrate();
  // Migrations not applied yet.
  std::vector<std::string> pending();

  // Stores one message and its outcome in one transaction (or in the open batch, see below).
  StoreResult store(const RawMessage& raw, const pipeline::Result& result);
  // store() of many messages (results[i] is raws[i]'s), as if one after the other, with the
  // common case (one report, not rejected) written by one statement for all: much less work per
  // message. In a batch, or in a transaction of its own.
  std::vector<StoreResult> store_all(std::span<const RawMessage> raws, std::span<const pipeline::Result* const> results);

  // Batching for backfills: between begin_batch() and commit_batch() the messages become durable
  // together at commit_batch(); after any Error the batch must be aborted and is lost whole (so
  // no message is ever half-written). Outside a batch, store() commits each message.
  void begin_batch();
  void commit_batch();
  void abort_batch() noexcept;

  // Rejected raw messages, oldest first, optionally with one reason or received since a time
  // (any PostgreSQL timestamptz text).
  std::vector<RejectedMessage> rejected(const std::optional<std::string>& reason,
                                        const std::optional<std::string>& since);
  std::string body(std::int64_t raw_id);
  // The bytes of a raw message (only if it was rejected, when asked); nullopt when there is none.
  std::optional<std::string> raw_body(std::int64_t raw_id, bool rejected_only);

  // A session-level advisory lock on this connection (held until the connection ends): whether
  // this connection has it now. For one poller per mailbox among several servers.
  bool try_advisory_lock(std::int64_t key);
  // Whether the connection still answers (SELECT 1).
  bool alive();
  // Seconds this server (a streaming replica) is behind its primary: 0 on a primary, and on a
  // replica whose receiver streams and has replayed all it received; else the age of the last
  // transaction replayed.
  double replication_lag();

  // Moves the rollup rows appended since the last call into the compact rollups (see
  // migrations/0002); returns how many moved. Safe to run from several processes at once. Also
  // forgets rejected-input quota counts older than yesterday.
  std::int64_t compact();

  // The newest report's end per policy domain and organisation, those with the most reports
  // first (then the newest), at most `limit`: what seeds the metrics' bounded label sets, so that
  // one report naming many new domains cannot take the slots of the domains that report daily.
  std::vector<LastReport> last_reports(std::size_t limit);

  // Runs one read-only statement whose first row and column is text (JSON built by PostgreSQL,
  // see queries.hpp); empty when there is no row. Parameters are text or NULL.
  std::string query_json(const std::string& sql, const std::vector<std::optional<std::string>>& params);
  // The same for statements whose rows the caller formats: every value as text, NULL as "".
  std::vector<std::vector<std::string>> query_rows(const std::string& sql,
                                                   const std::vector<std::optional<std::string>>& params);
  // The same with each row's fields by column name (NULL as "").
  std::vector<std::map<std::string, std::string>> query_named(const std::string& sql,
                                                              const std::vector<std::optional<std::string>>& params);
  // One statement of any kind (DDL too), not prepared, committed at once; rows as query_rows.
  // For maintenance (store/retention): only statements built from constants.
  std::vector<std::vector<std::string>> execute(const std::string& sql);
  // Stores one posture check of a monitored domain, given as the JSON object `tlsrpt check --json`
  // prints for it (server/posture): the run, one row per finding, and the published policy's
  // history (a policy seen before only has its last_seen moved). A result equal to the domain's
  // previous one is not stored again (the new row points at the row that holds it). Returns the
  // check's id.
  std::int64_t store_posture(const std::string& result_json, std::int64_t duration_ms);
  // Records the outcome of re-running the pipeline on a stored raw message.
  StoreResult restore(std::int64_t raw_id, const pipeline::Result& result);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// What makes two reports the same (lower-case hex SHA-256 of organisation, report-id, range and
// policy domains): the reports.dedup_key of a stored report.
std::string dedup_key(const report::Report& r);

// The header section of a message (up to the first empty line, at most 64 KiB), or "" when the
// bytes do not start like one: what a rejected input keeps when its body is not kept.
std::string_view header_section(std::string_view bytes);

// SHA-256 of the bytes, lower-case hex.
std::string sha256_hex(std::string_view bytes);
// An advisory lock key for `name` (its SHA-256 in 60 bits): the locks that make one server among
// several run a job (IMAP mailboxes, posture checks, maintenance).
std::int64_t advisory_key(std::string_view name);

// What libpq finds wrong in a connection string (a postgresql:// URL or key=value pairs), or
// nullopt when it parses; no connection is made. The text is libpq's, without the string itself.
std::optional<std::string> connection_string_error(const std::string& url);

}  // namespace tlsrpt::store
