#include "store/embedded.hpp"

#include <fcntl.h>
#include <pwd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <pqxx/pqxx>
#include <vector>

#include "store/store.hpp"

namespace tlsrpt::store {
namespace {

namespace fs = std::filesystem;

// Runs a program (as `user` when we are root), output appended to `log`. Returns its status.
int run(const std::vector<std::string>& argv, const std::string& user, const fs::path& log) {
  std::vector<std::string> args;
  if (geteuid() == 0) args = {"runuser", "-u", user, "--"};
  args.insert(args.end(), argv.begin(), argv.end());
  const pid_t pid = fork();
  if (pid < 0) return -1;
  if (pid == 0) {
    const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0640);
    if (fd >= 0) {
      dup2(fd, 1);
      dup2(fd, 2);
    }
    std::vector<char*> c;
    for (auto& a : args) c.push_back(a.data());
    c.push_back(nullptr);
    execvp(c[0], c.data());
    _exit(127);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

std::string find_bin() {
  if (const char* env = std::getenv("TLSRPT_PG_BIN")) return env;
  std::vector<fs::path> found;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator("/usr/lib/postgresql", ec))
    if (fs::exists(e.path() / "bin" / "initdb")) found.push_back(e.path() / "bin");
  if (found.empty())
    throw Error("no PostgreSQL server binaries in /usr/lib/postgresql/*/bin (install the postgresql package, "
                "or set TLSRPT_DATABASE_URL)",
                false);
  std::sort(found.begin(), found.end(), [](const fs::path& a, const fs::path& b) {
    return std::stoi(a.parent_path().filename()) < std::stoi(b.parent_path().filename());
  });
  return found.back().string();
}

// As root, the postgres user needs search permission on every directory above the cluster.
void make_reachable(const fs::path& dir, uid_t uid) {
  for (fs::path p = dir; !p.empty() && p != p.root_path(); p = p.parent_path()) {
    struct stat st{};
    if (::stat(p.c_str(), &st) != 0) continue;
    const bool can = st.st_uid == uid || (st.st_mode & S_IXOTH);
    if (!can) ::chmod(p.c_str(), st.st_mode | S_IXOTH);  // search only: names stay unlistable
  }
}

}  // namespace

EmbeddedPostgres::EmbeddedPostgres(const fs::path& data_dir) {
  const fs::path dir = fs::absolute(data_dir).lexically_normal();
  cluster_ = dir / "postgres";
  socket_dir_ = dir / "run";
  log_ = dir / "postgres.log";
  bin_ = find_bin();
  if ((socket_dir_ / ".s.PGSQL.5432").string().size() > 100)
    throw Error("data directory path " + dir.string() + " is too long for a Unix socket; use a shorter TLSRPT_DATA_DIR",
                false);
  std::error_code ec;
  fs::create_directories(dir, ec);
  fs::create_directories(socket_dir_, ec);
  if (ec) throw Error("cannot create " + socket_dir_.string() + ": " + ec.message(), false);

  if (geteuid() == 0) {
    user_ = "postgres";
    const passwd* pw = getpwnam("postgres");
    if (!pw) throw Error("user postgres does not exist (install the postgresql package)", false);
    make_reachable(dir, pw->pw_uid);
    std::ofstream(log_, std::ios::app);
    for (const auto& p : {dir, socket_dir_, log_}) {
      if (::chown(p.c_str(), pw->pw_uid, pw->pw_gid) != 0)
        throw Error("cannot give " + p.string() + " to user postgres", false);
    }
    ::chmod(socket_dir_.c_str(), 0700);
  } else {
    const passwd* pw = getpwuid(geteuid());
    user_ = pw ? pw->pw_name : "postgres";
  }

  if (!fs::exists(cluster_ / "PG_VERSION")) {
    if (run({bin_ + "/initdb", "-D", cluster_.string(), "-A", "trust", "-E", "UTF8", "-U", user_}, user_, log_) != 0)
      throw Error("initdb failed; see " + log_.string(), false);
  }
  const bool running = run({bin_ + "/pg_ctl", "-D", cluster_.string(), "status"}, user_, log_) == 0;
  if (!running) {
    // Socket only: no TCP port to collide with or to expose.
    const std::string opts = "-k " + socket_dir_.string() + " -c listen_addresses=''";
    if (run({bin_ + "/pg_ctl", "-D", cluster_.string(), "-l", log_.string(), "-w", "-t", "60", "-o", opts, "start"},
            user_, log_) != 0)
      throw Error("the embedded PostgreSQL did not start; see " + log_.string(), true);
    started_ = true;
  }
  const std::string base = "host=" + socket_dir_.string() + " port=5432 user=" + user_;
  try {
    pqxx::connection admin(base + " dbname=postgres");
    pqxx::nontransaction tx(admin);
    if (tx.exec("SELECT 1 FROM pg_database WHERE datname = 'tlsrpt'").empty()) tx.exec("CREATE DATABASE tlsrpt");
  } catch (const std::exception& e) {
    throw Error(std::string("embedded PostgreSQL: ") + e.what(), true);
  }
  url_ = base + " dbname=tlsrpt";
}

EmbeddedPostgres::~EmbeddedPostgres() {
  if (started_) run({bin_ + "/pg_ctl", "-D", cluster_.string(), "-w", "-m", "fast", "stop"}, user_, log_);
}

}  // namespace tlsrpt::store
