#include "cli/db_commands.hpp"
#include "json/text.hpp"
#include "cli/manual.hpp"

#include <malloc.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>
#include <csignal>
#include <cstdio>
#include <map>
#include <memory>
#include <optional>

#include "cli/database.hpp"
#include "cli/dkim_command.hpp"
#include "cli/inputs.hpp"
#include "pipeline/output.hpp"
#include "cli/parse_command.hpp"
#include "pipeline/pipeline.hpp"
#include "store/embedded.hpp"
#include "store/queries.hpp"
#include "store/store.hpp"

namespace tlsrpt::cli {
namespace {

volatile std::sig_atomic_t interrupted = 0;

struct IngestOptions {
  std::vector<std::string> paths;
  DatabaseOptions db;
  LimitOptions limits;
  std::size_t batch = 200;
  unsigned jobs = 2;
  bool progress = true;
};

struct Counters {
  std::atomic<std::uint64_t> messages{0}, stored{0}, duplicates{0}, rejected{0}, new_reports{0}, dup_reports{0};
};

// One message on its way to the database.
struct Item {
  std::string name;
  std::string bytes;
  pipeline::Result result;
  std::optional<dkim::Verdict> dkim;  // nullopt: not verified
};

// A store worker: its own connection, its own batches. Messages reach a worker by the identity
// of their first report, so two workers never wait on each other's uncommitted copy of a report;
// a batch that still loses a deadlock or serialization conflict is replayed.
class Worker {
 public:
  Worker(const std::string& url, std::size_t batch, Counters& counters, std::atomic<bool>& failed)
      : store_(url), batch_(batch), counters_(counters), failed_(failed), thread_([this] { run(); }) {}
  ~Worker() { finish(); }

  void push(Item item) {
    std::unique_lock lock(mutex_);
    // Room for a whole batch: a worker waiting for a full batch never waits on a full queue.
    space_.wait(lock, [this] { return queue_.size() < std::max<std::size_t>(256, batch_) || failed_; });
    queue_.push_back(std::move(item));
    ready_.notify_one();
  }
  void finish() {
    {
      std::lock_guard lock(mutex_);
      closed_ = true;
    }
    ready_.notify_one();
    if (thread_.joinable()) thread_.join();
  }
  const std::optional<store::Error>& error() const { return error_; }

 private:
  void run() {
    std::vector<Item> batch;
    while (true) {
      {
        std::unique_lock lock(mutex_);
        // A full batch, the end of the input, or 50 ms with something queued: write what there is.
        ready_.wait_for(lock, std::chrono::milliseconds(50),
                        [this] { return queue_.size() >= batch_ || closed_ || failed_; });
        if (failed_) return;  // another worker failed: stop, nothing more is committed
        while (!queue_.empty() && batch.size() < batch_) {
          batch.push_back(std::move(queue_.front()));
          queue_.pop_front();
        }
        space_.notify_all();
        if (batch.empty()) {
          if (closed_) return;
          continue;
        }
      }
      if (!write(batch)) return;
      batch.clear();
    }
  }

  bool write(const std::vector<Item>& batch) {
    for (int attempt = 1;; ++attempt) {
      try {
        // Tallied here and added to the shared counters only once the batch is committed.
        struct {
          std::uint64_t stored = 0, duplicates = 0, new_reports = 0, dup_reports = 0;
        } local_counts;
        std::vector<const Item*> rejected_items;
        std::vector<store::RawMessage> raws(batch.size());
        std::vector<const pipeline::Result*> results;
        for (std::size_t i = 0; i < batch.size(); ++i) {
          const Item& item = batch[i];
          store::RawMessage& raw = raws[i];
          raw.bytes = item.bytes;
          raw.source_json = "{\"path\":" + json::string_of_bytes(item.name) + "}";
          if (item.dkim) {
            raw.dkim = std::string(dkim::to_string(item.dkim->result));
            raw.dkim_json = item.dkim->to_json();
          }
          results.push_back(&item.result);
        }
        store_.begin_batch();
        const auto stored = store_.store_all(raws, results);
        for (std::size_t i = 0; i < batch.size(); ++i) {
          const store::StoreResult& r = stored[i];
          local_counts.new_reports += static_cast<std::uint64_t>(r.new_reports);
          local_counts.dup_reports += static_cast<std::uint64_t>(r.duplicate_reports);
          if (r.outcome == store::Outcome::stored) ++local_counts.stored;
          else if (r.outcome == store::Outcome::duplicate) ++local_counts.duplicates;
          else rejected_items.push_back(&batch[i]);
        }
        store_.commit_batch();
        counters_.messages += batch.size();
        counters_.stored += local_counts.stored;
        counters_.duplicates += local_counts.duplicates;
        counters_.rejected += rejected_items.size();
        counters_.new_reports += local_counts.new_reports;
        counters_.dup_reports += local_counts.dup_reports;
        for (const Item* item : rejected_items) print_rejection(item->name, item->result.rejections.front());
        return true;
      } catch (const store::Error& e) {
        store_.abort_batch();
        const bool conflict = std::string_view(e.what()).find("deadlock") != std::string_view::npos ||
                              std::string_view(e.what()).find("could not serialize") != std::string_view::npos;
        if (conflict && attempt < 3 && !failed_) continue;
        error_ = e;
        failed_ = true;
        space_.notify_all();
        return false;
      }
    }
  }

  store::Store store_;
  std::size_t batch_;
  Counters& counters_;
  std::atomic<bool>& failed_;
  std::optional<store::Error> error_;
  std::mutex mutex_;
  std::condition_variable ready_, space_;
  std::deque<Item> queue_;
  bool closed_ = false;
  std::thread thread_;
};

int run_ingest(IngestOptions opt, const config::Settings& settings) {
  // Each batch allocates and frees megabytes (the bodies, the bulk statement's arrays);
  // by default glibc returns such blocks to the kernel and faults them in again for the next
  // batch, which cost about a tenth of a backfill's time (tests/bench/bench_ingest.sh). A
  // backfill keeps them instead: at most this much memory stays with the process.
  mallopt(M_MMAP_THRESHOLD, 32 << 20);
  mallopt(M_TRIM_THRESHOLD, 256 << 20);
  const report::Limits& limits = settings.limits;
  apply(opt.db, settings);
  Database db = open_database(opt.db, migration(opt.db, settings));
  // The MX hosts the posture checks saw, once (see report::DomainHints::mx_of).
  const report::MxOf mx = store::mx_lookup(std::make_shared<const store::KnownMx>(store::known_mx(*db.store)));
  db.store.reset();  // it served the migration; each worker has its own connection
  const std::string url = db.url;
  const bool tty = opt.progress && isatty(2);
  std::signal(SIGINT, [](int) { interrupted = 1; });
  std::signal(SIGTERM, [](int) { interrupted = 1; });

  // DKIM as intake does it (messages only: a bare report file is the operator's own input).
  dkim::Gate gate(dkim_mode(settings), dkim_settings(settings));
  Counters counters;
  std::atomic<bool> failed{false};
  std::vector<std::unique_ptr<Worker>> workers;
  for (unsigned i = 0; i < std::max(1u, opt.jobs); ++i)
    workers.push_back(std::make_unique<Worker>(url, opt.batch, counters, failed));

  std::uint64_t too_large = 0, errors = 0;
  const auto start = std::chrono::steady_clock::now();
  auto elapsed = [&] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(); };
  auto progress = [&](bool final) {
    if (!tty) return;
    const double secs = elapsed();
    std::fprintf(stderr, "\r\033[Kingest: %llu messages  %llu stored  %llu duplicates  %llu rejected  %.0f msg/s%s",
                 static_cast<unsigned long long>(counters.messages.load()),
                 static_cast<unsigned long long>(counters.stored.load()),
                 static_cast<unsigned long long>(counters.duplicates.load()),
                 static_cast<unsigned long long>(counters.rejected.load()),
                 secs > 0 ? static_cast<double>(counters.messages.load()) / secs : 0.0, final ? "\n" : "");
  };
  auto last_draw = std::chrono::steady_clock::now();
  std::map<std::string, std::uint64_t> reasons;

  InputVisitor v;
  v.stop = [&] { return interrupted || failed; };
  v.input = [&](const std::string& name, std::string_view bytes) {
    if (interrupted || failed) return;  // within an mbox: the rest of its messages
    Item item{name, std::string(bytes), pipeline::parse(bytes, name, limits, mx), {}};
    const std::int64_t now = std::time(nullptr);
    item.dkim = gate.apply(bytes, dkim::arrival_from_received(bytes, now).value_or(now), item.result, false);
    std::size_t route;
    if (item.result.accepted()) {
      const auto& r = item.result.reports.front().report;
      route = std::hash<std::string>{}(r.organization_name + '\0' + r.report_id);
    } else {
      ++reasons[std::string(report::to_string(item.result.rejections.front().reason))];
      route = std::hash<std::string_view>{}(bytes);
    }
    workers[route % workers.size()]->push(std::move(item));
    if (tty && std::chrono::steady_clock::now() - last_draw > std::chrono::milliseconds(200)) {
      progress(false);
      last_draw = std::chrono::steady_clock::now();
    }
  };
  v.too_large = [&](const std::string& name, const report::Rejection& r) {
    // Too large to read whole: nothing to keep but the fact; counted, not stored.
    ++too_large;
    ++reasons[std::string(report::to_string(r.reason))];
    print_rejection(name, r, "; not stored");
  };
  v.error = [&](const std::string& name, const std::string& error) {
    ++errors;
    std::fprintf(stderr, "%s: error: %s\n", name.c_str(), error.c_str());
  };
  visit_inputs(opt.paths.empty() ? std::vector<std::string>{"-"} : opt.paths, limits, v);
  for (auto& w : workers) w->finish();
  for (auto& w : workers)
    if (w->error()) throw *w->error();
  if (counters.new_reports.load() > 0) compact_rollups(url, "ingest");
  progress(true);

  std::string by_reason;
  for (const auto& [reason, n] : reasons) by_reason += " " + reason + "=" + std::to_string(n);
  const std::uint64_t rejected = counters.rejected + too_large;
  std::fprintf(stderr,
               "ingest: messages=%llu stored=%llu duplicates=%llu rejected=%llu errors=%llu reports=%llu "
               "duplicate-reports=%llu seconds=%.2f%s%s\n",
               static_cast<unsigned long long>(counters.messages.load() + too_large),
               static_cast<unsigned long long>(counters.stored.load()),
               static_cast<unsigned long long>(counters.duplicates.load()), static_cast<unsigned long long>(rejected),
               static_cast<unsigned long long>(errors), static_cast<unsigned long long>(counters.new_reports.load()),
               static_cast<unsigned long long>(counters.dup_reports.load()), elapsed(), by_reason.c_str(),
               interrupted ? " (interrupted: messages not yet committed were not stored)" : "");
  if (interrupted) return 130;
  return rejected || errors ? 1 : 0;
}

struct ReprocessOptions {
  DatabaseOptions db;
  LimitOptions limits;
  std::optional<std::string> reason, since;
};

int run_reprocess(ReprocessOptions opt, const config::Settings& settings) {
  const report::Limits& limits = settings.limits;
  apply(opt.db, settings);
  Database db = open_database(opt.db, migration(opt.db, settings));
  std::uint64_t seen = 0, now_stored = 0, now_duplicate = 0, still = 0;
  for (const auto& m : db.store->rejected(opt.reason, opt.since)) {
    ++seen;
    const std::string body = db.store->body(m.id);
    const auto result = pipeline::parse(body, "", limits);
    const auto r = db.store->restore(m.id, result);
    if (r.outcome == store::Outcome::stored) ++now_stored;
    else if (r.outcome == store::Outcome::duplicate) ++now_duplicate;
    else ++still;
  }
  std::fprintf(stderr, "reprocess: rejected=%llu now-stored=%llu now-duplicate=%llu still-rejected=%llu\n",
               static_cast<unsigned long long>(seen), static_cast<unsigned long long>(now_stored),
               static_cast<unsigned long long>(now_duplicate), static_cast<unsigned long long>(still));
  return 0;
}

// migrate --status: each table's rows (estimated) and bytes, partitions after the others.
void print_sizes(store::Store& s) {
  std::int64_t total = 0;
  std::printf("%-36s %14s %12s\n", "TABLE", "ROWS", "BYTES");
  for (const auto& t : store::table_sizes(s)) {
    std::printf("%-36s %14lld %12lld%s\n", ((t.partition ? "  " : "") + t.name).c_str(), static_cast<long long>(t.rows),
                static_cast<long long>(t.bytes),
                t.name == "failure_details_default" && t.rows > 0 ? "  (dates no month covers)" : "");
    total += t.bytes;
  }
  std::printf("%-36s %14s %12lld\n", "total", "", static_cast<long long>(total));
}

}  // namespace

void add_db_commands(CLI::App& app, const GlobalOptions& global, int& exit_code) {
  {
    auto o = std::make_shared<DatabaseOptions>();
    auto dry_run = std::make_shared<bool>(false);
    CLI::App* cmd = app.add_subcommand(
        "prune",
        "Apply the retention settings: failure-details older than retention.failure_details go a whole month "
        "partition at a time; reports, bodies of stored messages and rejected messages past theirs go in batches. The "
        "daily rollups stay, so summaries and time series of older ranges stay right. serve runs the same once a "
        "day.");
    exit_statuses(*cmd, "0 done; 2 usage error; 3 database error");
    add_database_options(*cmd, *o, false);
    cmd->add_flag("--dry-run", *dry_run, "Print what would go, change nothing");
    cmd->callback([o, dry_run, &global, &exit_code] {
      DatabaseOptions db = *o;
      const config::Settings settings = load_settings(global, {});
      apply(db, settings);
      exit_code = guarded("prune", [&] {
        Database d = open_database(db, std::nullopt);
        const store::PruneResult r = store::prune(*d.store, retention(settings), *dry_run);
        for (const auto& line : r.lines(*dry_run)) std::printf("%s\n", line.c_str());
        std::printf("prune: %s in %.1f s\n", *dry_run ? "dry run" : "done", r.seconds);
        return 0;
      });
    });
  }
  {
    auto o = std::make_shared<DatabaseOptions>();
    auto status = std::make_shared<bool>(false);
    CLI::App* cmd = app.add_subcommand("migrate", "Apply pending database migrations (safe to run from several processes at once)");
    exit_statuses(*cmd, "0 up to date; 2 usage error; 3 database error");
    add_database_options(*cmd, *o, false);
    cmd->add_flag("--status", *status, "List pending migrations, or the tables and partitions with their sizes, and exit");
    cmd->callback([o, status, &global, &exit_code] {
      DatabaseOptions db = *o;
      const config::Settings settings = load_settings(global, {});
      apply(db, settings);
      exit_code = guarded("migrate", [&] {
        std::unique_ptr<store::EmbeddedPostgres> embedded;
        store::Store s(database_url(db, embedded));
        if (*status) {
          const auto pending = s.pending();
          for (const auto& p : pending) std::printf("pending %s\n", p.c_str());
          if (pending.empty()) {
            std::printf("up to date\n");
            print_sizes(s);
          }
          return 0;
        }
        const auto applied = s.migrate();
        for (const auto& a : applied) std::printf("applied %s\n", a.c_str());
        if (applied.empty()) std::printf("up to date\n");
        ensure_months(s, retention(settings));
        return 0;
      });
    });
  }
  {
    auto o = std::make_shared<IngestOptions>();
    CLI::App* cmd = app.add_subcommand(
        "ingest",
        "Parse reports (the inputs tlsrpt parse reads) and store them in PostgreSQL: every input is kept with its "
        "outcome (stored, duplicate, or rejected with its reason).");
    exit_statuses(*cmd, "0 every input stored or a duplicate; 1 some input rejected or unreadable; 2 usage error; 3 database "
                        "error (the current batch is rolled back; run it again to complete)");
    cmd->add_option("paths", o->paths, "Files, directories, mbox files or - (stdin); stdin when none is given")
        ->check(CLI::ExistingPath | CLI::IsMember({"-"}));
    add_database_options(*cmd, o->db, true);
    add_limit_options(*cmd, o->limits);
    cmd->add_option("--batch", o->batch, "Messages per transaction (a failed transaction is rolled back whole)")
        ->check(CLI::Range(1, 100000))
        ->capture_default_str();
    cmd->add_option("--jobs,-j", o->jobs, "Parallel database connections")->check(CLI::Range(1, 64))->capture_default_str();
    cmd->add_flag("!--no-progress", o->progress, "No progress line, even on a terminal");
    cmd->callback([o, &global, &exit_code] {
      const config::Settings settings = load_settings(global, o->limits);
      exit_code = guarded("ingest", [&] { return run_ingest(*o, settings); });
    });
  }
  {
    auto o = std::make_shared<ReprocessOptions>();
    CLI::App* cmd = app.add_subcommand(
        "reprocess", "Run the pipeline again over stored rejected messages (after a parser fix) and store what now reads");
    exit_statuses(*cmd, "0 done; 2 usage error; 3 database error");
    add_database_options(*cmd, o->db, true);
    add_limit_options(*cmd, o->limits);
    cmd->add_option("--reason", o->reason, "Only messages rejected for this reason (see tlsrpt parse --list-reasons)");
    cmd->add_option("--since", o->since, "Only messages received since this time (e.g. 2026-01-01 or 2026-01-01T00:00:00Z)");
    cmd->callback([o, &global, &exit_code] {
      const config::Settings settings = load_settings(global, o->limits);
      exit_code = guarded("reprocess", [&] { return run_reprocess(*o, settings); });
    });
  }
}

}  // namespace tlsrpt::cli
