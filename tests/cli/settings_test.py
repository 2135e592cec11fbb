"""One serve plan: what `serve` refuses, `check-config` refuses with the same words.

1. A bad value for every setting of the table (every key check-config --help lists, the
   [[imap]] and [[domain]] keys and the limits): a value of the wrong TOML type for each, and
   where the type allows one, a value of the right type that is wrong (out of range, not a
   choice, a malformed address, a missing file, a name that is not a domain). For each,
   check-config and serve both exit 2, neither aborts, the message names the key, and both say
   the same thing.
2. Every refusal serve can make at start, found in the source (each refuse(...) and
   CLI::ValidationError(...) of cli/serve_plan.cpp and of monitored_domains), has a case here
   that triggers it; the case runs serve and check-config, which must fail alike. A refusal
   added to the plan without a case here fails this test, and serve_command.cpp may make no
   refusal of its own (it runs on the plan).
Usage: settings_test.py path/to/tlsrpt (from the repository root)"""
import concurrent.futures
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "e2e"))
from harness import check, finish  # noqa: E402

TLSRPT = sys.argv[1]
TMP = Path(tempfile.mkdtemp())
ROOT = os.geteuid() == 0

# A certificate and key that load, for the cases that need a valid one beside a bad one.
CERT, KEY = TMP / "cert.pem", TMP / "key.pem"
subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "2",
                "-subj", "/CN=localhost", "-keyout", str(KEY), "-out", str(CERT)], check=True, capture_output=True)
OTHER_KEY = TMP / "other.pem"
subprocess.run(["openssl", "genpkey", "-algorithm", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", str(OTHER_KEY)],
               check=True, capture_output=True)
if ROOT:  # a data directory of another user (daemon) than the one serve would become (nobody)
    (TMP / "daemons").mkdir()
    os.chown(TMP / "daemons", 1, 1)
PLAIN = TMP / "plain.txt"
PLAIN.write_text("not a directory\n")
MISSING = str(TMP / "missing" / "file.pem")

# Settings every case starts from: a plan serve accepts (SMTP and HTTP on loopback, DKIM off so
# that no trust anchor is read unless a case asks for one).
BASE = {"TLSRPT_SMTP_RECIPIENTS": "tlsrpt@example.com", "TLSRPT_SERVER_ALLOW_ROOT": "true", "TLSRPT_DKIM_MODE": "off",
        "TLSRPT_DATA_DIR": str(TMP / "data"), "TLSRPT_SMTP_LISTEN": "127.0.0.1:1", "TLSRPT_HTTP_LISTEN": "127.0.0.1:1"}


def environment(extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith("TLSRPT_")}
    env.update(BASE)
    env.update(extra)
    return {k: v for k, v in env.items() if v is not None}


def run(command, env, config=None):
    """(exit status, stderr's first line) of `tlsrpt [--config F] command`; a serve that does not
    stop within 20 s counts as started (status 'started')."""
    args = [TLSRPT] + (["--config", str(config)] if config else []) + [command]
    try:
        r = subprocess.run(args, capture_output=True, text=True, env=env, timeout=20, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        return "started", ""
    lines = [line for line in r.stderr.splitlines() if line.strip()]
    return r.returncode, lines[0] if lines else ""


# The cases run on a pool of processes at once (a sanitizer build starts each run in about
# 0.4 s, and there are some 800); their checks are made in order at the end.
pool = concurrent.futures.ThreadPoolExecutor(max_workers=2 * (os.cpu_count() or 1))
pending = []


def both(name, env, key, config=None):
    """check-config and serve refuse alike: exit 2, the key named, the same message."""
    pending.append((name, key, pool.submit(run, "check-config", env, config), pool.submit(run, "serve", env, config)))


def judge():
    for name, key, c, s in pending:
        (c_rc, c_err), (s_rc, s_err) = c.result(), s.result()
        check(f"{name}: check-config exits 2", 2, c_rc)
        check(f"{name}: serve exits 2 (no abort, no start)", 2, s_rc)
        check(f"{name}: check-config names {key}", True, key in c_err or (c_err, key))
        check(f"{name}: serve says what check-config says", c_err, s_err)
    pending.clear()


# The base passes: both would start (check-config 0; serve is not run here, e2e tests run it).
check("the base settings pass check-config", (0, ""), run("check-config", environment({})))

# --- 1. A bad value for every setting -----------------------------------------------------
listing = subprocess.run([TLSRPT, "check-config", "--help"], capture_output=True, text=True).stdout
rows = re.findall(r"^  ([a-z_]+\.[a-z_.]+) \(([a-z ]+?)[,;)]", listing, re.M)
types = dict(rows)
check("check-config --help lists the table", True, len(types) > 90)

BY_TYPE = {"integer": ["x", "-1"], "duration": ["5x", "99999999d"], "size": ["12X", "-1"], "boolean": ["maybe"],
           "choice": ["bogus"], "fraction": ["1.5"]}
# Values of the right type that are wrong, for the types whose every text is not valid; the
# extra settings make the key's value used (a trust anchor is read only when DKIM or checks run).
SEMANTIC = {
    "database.url": ["host=h port"],
    "database.read_url": ["host=h port"],
    "database.data_dir": [str(PLAIN)],
    "server.user": ["no-such-user-tlsrpt"],
    "smtp.listen": ["garbage", "127.0.0.1:99999", "[::1", "host.invalid:25"],
    "smtp.recipients": ["nobody"],
    "smtp.hostname": ["bad host"],
    "smtp.tls_cert": [MISSING, (str(KEY), {"TLSRPT_SMTP_TLS_KEY": str(KEY)})],
    "smtp.tls_key": [(MISSING, {"TLSRPT_SMTP_TLS_CERT": str(CERT)})],
    "http.listen": ["garbage", "127.0.0.1:99999", "[::1", "host.invalid:80"],
    "http.tls_cert": [MISSING, (str(CERT), {"TLSRPT_HTTP_TLS_KEY": str(OTHER_KEY)})],
    "http.tls_key": [(MISSING, {"TLSRPT_HTTP_TLS_CERT": str(CERT)})],
    "http.read_tokens": ["short"],
    "http.admin_tokens": ["0123456789abcdef,short"],
    "http.intake_tokens": ["relay-without-token", "relay:short"],
    "http.trusted_proxies": ["10.0.0.0/33", "proxy.example"],
    "dns.server": ["garbage", "[::1", "127.0.0.1:0", "127.0.0.1@x"],
    "dns.trust_anchor_file": [(MISSING, {"TLSRPT_DKIM_MODE": "record"})],
    "checks.ca_file": [(MISSING, {"TLSRPT_CHECKS_DOMAINS": "example.com"})],
    "checks.domains": ["bad..name", "example.com,example.com", "example.com=nobody", "=a@b.example"],
    "dkim.known_reporters": ["bad..name"],
    "metrics.domains": ["bad..name"],
    "readiness.min_days": [("31", {"TLSRPT_READINESS_DAYS": "30"})],
    "http.buffer_memory": [("1K", {})],
    "http.external_url": ["tlsrpt.example.net", "https://", "https://tlsrpt.example.net/?x=1", "ftp://x.example"],
    "dns.update_server": ["garbage", "127.0.0.1:0", "[::1", "127.0.0.1:"],
    "dns.tsig_key_file": [(MISSING, {"TLSRPT_DNS_UPDATE_SERVER": "127.0.0.1:53"}),
                          (str(CERT), {"TLSRPT_DNS_UPDATE_SERVER": "127.0.0.1:53"}), str(CERT)],
    "policy.listen": ["garbage", "127.0.0.1:99999"],
    "policy.cert_dir": [(MISSING, {"TLSRPT_POLICY_LISTEN": "127.0.0.1:1"}), (str(PLAIN), {"TLSRPT_POLICY_LISTEN": "127.0.0.1:1"})],
    "policy.acme_listen": ["garbage"],
    "policy.acme_webroot": [(MISSING, {"TLSRPT_POLICY_ACME_LISTEN": "127.0.0.1:1"})],
    "policy.domains": ["bad..name"],
    "rollout.testing_max_age": [("8d", {})],
}
# Any text is a valid value of these; only a value of the wrong type is wrong.
FREE_TEXT = {"dkim.trusted_authserv_ids", "metrics.organizations", "imap.name"}


def env_var(key):
    return {"database.data_dir": "TLSRPT_DATA_DIR"}.get(key, "TLSRPT_" + key.replace(".", "_").upper())


IMAP_BASE = {"host": "127.0.0.1", "username": "u", "password": "p", "tls": "plain", "port": 1}
IMAP_SEMANTIC = {"host": ["", "imap.example"], "username": [""], "password": [""], "password_file": [MISSING],
                 "folder": ['a"b'], "processed_folder": ["a\\\\b"], "invalid_folder": ["\\u0001"], "ca_file": [MISSING]}
DOMAIN_SEMANTIC = {"name": ["bad..name"], "rua": ["nobody"]}


def toml_string(text):
    return json.dumps(text)  # a TOML basic string


def table_file(section, entries):
    path = TMP / f"{section}-{len(list(TMP.iterdir()))}.toml"
    path.write_text(f"[[{section}]]\n" + "".join(f"{k} = {v}\n" for k, v in entries.items()))
    return path


tried = 0
for key, kind in rows:
    section, name = key.split(".", 1)
    shown = {"imap": "imap[0].", "domain": "domain[0].", "limits": "limits."}.get(section, section + ".") + name
    if section in ("imap", "domain"):
        base = dict(IMAP_BASE) if section == "imap" else {"name": "example.com"}
        base = {k: (toml_string(v) if isinstance(v, str) else v) for k, v in base.items()}
        both(f"{key} = {{}} (wrong type)", environment({}), shown, table_file(section, {**base, name: "{ x = 1 }"}))
        tried += 1
        values = (IMAP_SEMANTIC if section == "imap" else DOMAIN_SEMANTIC).get(name, []) + BY_TYPE.get(kind, [])
        for value in values:
            entries = {**base, name: toml_string(value)}
            if name == "password_file":
                entries.pop("password")
            both(f"{key} = {value!r}", environment({}), shown if value != "imap.example" else "imap[0].tls",
                 table_file(section, entries))
            tried += 1
        if not values:
            check(f"{key}: any text is valid (listed as such)", True, key in FREE_TEXT)
        continue
    if section == "limits":
        path = TMP / f"limits-{name}.toml"
        path.write_text(f"[limits]\n{name} = true\n")
        both(f"{key} = true (wrong type)", environment({}), key, path)
        both(f"{key} = x", environment({"TLSRPT_LIMIT_" + name.upper(): "x"}), key)
        tried += 2
        continue
    path = TMP / f"{key}.toml"
    path.write_text(f"[{section}]\n{name} = {{ x = 1 }}\n")
    both(f"{key} = {{}} (wrong type)", environment({}), key, path)
    tried += 1
    values = SEMANTIC.get(key, []) + BY_TYPE.get(kind, [])
    for value in values:
        value, extra = value if isinstance(value, tuple) else (value, {})
        both(f"{key} = {value!r}", environment({env_var(key): value, **extra}), key)
        tried += 1
    if not values:
        check(f"{key}: any text is valid (listed as such)", True, key in FREE_TEXT)
judge()
check("every free-text setting exists", set(), FREE_TEXT - set(types))
print(f"bad values tried: {tried} over {len(rows)} settings")

# --- 2. Every refusal of the plan has a case ----------------------------------------------
def call_sites(path, name):
    """The argument text of every call of `name(` in the file (not its definition)."""
    text = Path(path).read_text()
    out = []
    for m in re.finditer(re.escape(name) + r"\(", text):
        line_start = text.rfind("\n", 0, m.start()) + 1
        if re.match(r"\s*(\[\[noreturn\]\]\s*)?void ", text[line_start:m.start()]):
            continue
        depth, i = 0, m.end() - 1
        while True:
            depth += {"(": 1, ")": -1}.get(text[i], 0)
            if depth == 0:
                break
            i += 1
        out.append(" ".join(text[m.end():i].split()))
    return out


sites = [("serve_plan", s) for s in call_sites("server/cli/serve_plan.cpp", "refuse")]
sites += [("serve_plan", s) for s in call_sites("server/cli/serve_plan.cpp", "CLI::ValidationError")
          if s != "key, what"]  # refuse() itself
monitoring = Path("server/cli/monitoring.cpp").read_text()
monitored_fn = monitoring[monitoring.index("std::vector<posture::Monitored> monitored_domains("):]
monitored_fn = monitored_fn[:monitored_fn.index("\n}\n")]
(TMP / "monitored.cpp").write_text(monitored_fn)
sites += [("monitored_domains", s) for s in call_sites(TMP / "monitored.cpp", "CLI::ValidationError")]
check("serve_command.cpp refuses nothing itself (it runs on the plan)", [],
      [line.strip() for line in Path("server/cli/serve_command.cpp").read_text().splitlines()
       if "ValidationError" in line or re.search(r"return 2\b", line)])

# Each case: the call site it triggers (a piece of its source text), settings, the key named.
IMAP_FILE = {k: toml_string(v) if isinstance(v, str) else v for k, v in IMAP_BASE.items()}
CASES = [
    ('"cannot read \'" + path', {"TLSRPT_SMTP_TLS_CERT": MISSING, "TLSRPT_SMTP_TLS_KEY": str(KEY)}, "smtp.tls_cert", None),
    ("is not HOST:PORT", {"TLSRPT_HTTP_LISTEN": "garbage"}, "http.listen", None),
    ('"set both "', {"TLSRPT_HTTP_TLS_CERT": str(CERT)}, "http.tls_key", None),
    ("cert_key, e.what()", {"TLSRPT_HTTP_TLS_CERT": str(CERT), "TLSRPT_HTTP_TLS_KEY": str(OTHER_KEY)}, "http.tls_cert",
     None),
    ("no recipients configured", {"TLSRPT_SMTP_RECIPIENTS": None}, "smtp.recipients", None),
    ("is neither user@domain nor @domain", {"TLSRPT_SMTP_RECIPIENTS": "x@"}, "smtp.recipients", None),
    ("is not a host name", {"TLSRPT_SMTP_HOSTNAME": "a b"}, "smtp.hostname", None),
    ("is less than limits.message_size", {"TLSRPT_HTTP_BUFFER_MEMORY": "1M"}, "http.buffer_memory", None),
    ("is shorter than 16 characters", {"TLSRPT_HTTP_READ_TOKENS": "short"}, "http.read_tokens", None),
    ("the API has no tokens", {"TLSRPT_HTTP_LISTEN": "0.0.0.0:1"}, "http.listen", None),
    ('key + ".host", "missing"', {}, "imap[0].host", {**IMAP_FILE, "host": '""'}),
    ("plain (no TLS)", {}, "imap[0].tls", {**IMAP_FILE, "host": '"192.0.2.1"'}),
    ('key + ".username", "missing"', {}, "imap[0].username", {**IMAP_FILE, "username": '""'}),
    ('"cannot read \'" + c.password_file', {}, "imap[0].password_file",
     {k: v for k, v in {**IMAP_FILE, "password_file": toml_string(MISSING)}.items() if k != "password"}),
    ("set password or password_file", {}, "imap[0].password", {**IMAP_FILE, "password": '""'}),
    ("is not printable ASCII", {}, "imap[0].folder", {**IMAP_FILE, "folder": toml_string('a"b')}),
    ('"\'" + n + "\' is not a domain name"', {"TLSRPT_METRICS_DOMAINS": "-bad-"}, "metrics.domains", None),
    ('[IPv6]:PORT with a numeric address', {"TLSRPT_DNS_SERVER": "127.0.0.1:0"}, "dns.server", None),
    ("not a PostgreSQL connection string", {"TLSRPT_DATABASE_URL": "garbage"}, "database.url", None),
    ("is not a directory (the embedded cluster", {"TLSRPT_DATA_DIR": str(PLAIN)}, "database.data_dir", None),
    ("no user '", {"TLSRPT_SERVER_USER": "no-such-user-tlsrpt"}, "server.user", None),
    ('"server.user", e.what()', {"TLSRPT_SERVER_USER": "root", "TLSRPT_SERVER_ALLOW_ROOT": "false"}, "server.user",
     None),
    ("belongs to another user than", {"TLSRPT_SERVER_USER": "nobody", "TLSRPT_SERVER_ALLOW_ROOT": "false",
                                      "TLSRPT_DATA_DIR": str(TMP / "daemons")}, "database.data_dir", None),
    ("no verdict could ever be given", {"TLSRPT_READINESS_MIN_DAYS": "20", "TLSRPT_READINESS_DAYS": "10"},
     "readiness.min_days", None),
    ("is not an http:// or https:// URL", {"TLSRPT_HTTP_EXTERNAL_URL": "tlsrpt.example.net"}, "http.external_url",
     None),
    ("serve has nothing to do", {"TLSRPT_SMTP_LISTEN": "", "TLSRPT_HTTP_LISTEN": ""}, "nothing to do", None),
    ("is longer than rollout.enforce_max_age", {"TLSRPT_ROLLOUT_TESTING_MAX_AGE": "2d", "TLSRPT_ROLLOUT_ENFORCE_MAX_AGE": "1d"},
     "rollout.testing_max_age", None),
    ("is required with policy.listen", {"TLSRPT_POLICY_LISTEN": "127.0.0.1:1"}, "policy.cert_dir", None),
    ("does not exist or is not a directory", {"TLSRPT_POLICY_LISTEN": "127.0.0.1:1", "TLSRPT_POLICY_CERT_DIR": MISSING},
     "policy.cert_dir", None),
    ("is required with policy.acme_listen", {"TLSRPT_POLICY_ACME_LISTEN": "127.0.0.1:1"}, "policy.acme_webroot", None),
    ('"dns.update_server", "\'" + s.dns_update_server', {"TLSRPT_DNS_UPDATE_SERVER": "garbage"}, "dns.update_server", None),
    ("is required with dns.update_server", {"TLSRPT_DNS_UPDATE_SERVER": "127.0.0.1:53"}, "dns.tsig_key_file", None),
    ('"dns.tsig_key_file", e.what()', {"TLSRPT_DNS_UPDATE_SERVER": "127.0.0.1:53", "TLSRPT_DNS_TSIG_KEY_FILE": MISSING},
     "dns.tsig_key_file", None),
    ("is set, but dns.update_server is not", {"TLSRPT_DNS_TSIG_KEY_FILE": MISSING}, "dns.tsig_key_file", None),
    ('"\'" + d + "\' is not a domain name"', {"TLSRPT_POLICY_DOMAINS": "bad..name"}, "policy.domains", None),
    # monitored_domains: checks.domains entries and [[domain]] tables
    ('"\'" + e.name + "\' is not a domain name"', {"TLSRPT_CHECKS_DOMAINS": "bad..name"}, "checks.domains", None),
    ("is listed twice", {"TLSRPT_CHECKS_DOMAINS": "a.example,A.example."}, "checks.domains", None),
    ("is not user@domain", {"TLSRPT_CHECKS_DOMAINS": "a.example=@x"}, "checks.domains", None),
]
covered = set()
for site_text, extra, key, imap in CASES:
    matching = [s for s in sites if site_text in s[1]]
    check(f"case '{site_text}' names one refusal of the source", 1, len(matching))
    covered.update(matching)
    if site_text in ('"server.user", e.what()', "belongs to another user than") and not ROOT:
        print(f"skipped: {site_text} (serve changes user only when started as root)")
        continue
    config = table_file("imap", imap) if imap else None
    both(f"refusal {site_text}", environment(extra), key, config)
check("every refusal in the plan's source has a case", [], [s for s in sites if s not in covered])
judge()
print(f"refusal sites: {len(sites)}, cases: {len(CASES)}")
finish("cli.settings")
