"""The manual pages cannot drift: tlsrpt.1 lists exactly the commands, options and exit statuses
of --help, and tlsrpt.toml.5 exactly the settings of the settings table (check-config, its --help,
an [[imap]] table with every key); man renders both without a warning.
Usage: manual_test.py path/to/tlsrpt (from the repository root)"""
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


def run(*args, env=None):
    return subprocess.run([TLSRPT, *args], capture_output=True, text=True, env=env)


def render(page):
    """The page as man shows it (plain text), and man's warnings."""
    path = TMP / page
    path.write_text(run("manual", page).stdout)
    env = dict(os.environ, MANWIDTH="100", LC_ALL="C.UTF-8", MAN_KEEP_FORMATTING="")
    r = subprocess.run(["man", "--warnings", "-E", "UTF-8", "-l", str(path)], capture_output=True, text=True, env=env)
    return r.returncode, re.sub(r".\x08", "", r.stdout), r.stderr.strip()


for page in ("tlsrpt.1", "tlsrpt.toml.5"):
    code, text, warnings = render(page)
    check(f"{page}: man renders it", (0, ""), (code, warnings))
    check(f"{page}: not empty", True, len(text) > 2000)
check("an unknown page is a usage error", 2, run("manual", "tlsrpt.8").returncode)

# Commands: --help's list, each with its options and exit statuses, equal to tlsrpt(1).
roff1 = run("manual", "tlsrpt.1").stdout
help_text = run("--help").stdout
commands = re.findall(r"^  (\S+)\s", help_text.split("Subcommands:")[1], re.M)
check("tlsrpt.1: the commands of --help", sorted(commands), sorted(c.replace("\\-", "-") for c in re.findall(r"^\.SS (\S+)$", roff1, re.M)))
check("--help lists the manual command too", True, "manual" in commands)
blocks = {k.replace("\\-", "-"): v for k, v in re.findall(r"^\.SS (\S+)\n(.*?)(?=^\.SS |^\.SH )", roff1, re.M | re.S)}
for command in commands:
    h = run(command, "--help").stdout
    help_options = sorted(set(re.findall(r"(?<![\w-])(--[a-z][a-z-]*)", h.split("Options:")[1].split("Exit status:")[0]))
                          - {"--help"}) if "Options:" in h else []
    man_options = sorted(set(o.replace("\\-", "-") for o in re.findall(r"^\.B .*?((?:\\-){2}[a-z][a-z\\-]*)", blocks.get(command, ""), re.M)))
    check(f"tlsrpt.1 {command}: the options of its --help", help_options, man_options)
    exit_help = re.search(r"Exit status: (.*)", h)
    check(f"{command} --help: exit statuses", True, exit_help is not None)
    man_codes = re.findall(r"^\.TP\n\.B (\d)\n", blocks.get(command, ""), re.M)
    help_codes = re.findall(r"(?:^|; )(\d) ", exit_help.group(1)) if exit_help else []
    check(f"tlsrpt.1 {command}: the exit statuses of its --help", help_codes, man_codes)

# Settings: the table as check-config prints it, with an [[imap]] table naming every key.
imap_keys = ["name", "host", "port", "tls", "username", "password", "password_file", "folder", "after",
             "processed_folder", "invalid_folder", "poll_interval", "ca_file", "verify"]
config = TMP / "all.toml"
(TMP / "password").write_text("p\n")  # check-config plans serve: the file must give a password
config.write_text('[[imap]]\nname = "n"\nhost = "h"\nport = 993\ntls = "implicit"\nusername = "u"\npassword = "p"\n'
                  f'password_file = "{TMP / "password"}"\nfolder = "INBOX"\nafter = "move"\nprocessed_folder = "a"\n'
                  'invalid_folder = "b"\npoll_interval = 60\nca_file = "/etc/ssl/certs/ca-certificates.crt"\nverify = true\n'
                  '[[domain]]\nname = "example.net"\nrua = "tls@example.net"\n')
shown = run("--config", str(config), "check-config")
check("check-config of a file with every table key", 0, shown.returncode)
table = [line.split(" = ")[0] for line in shown.stdout.splitlines() if not line.startswith("# ")]  # then the plan
table_keys = sorted(k for k in table if not k.startswith(("imap[", "domain[")))
imap_shown = sorted("imap." + k.split(".", 1)[1] for k in table if k.startswith("imap[0]."))
check("the test names every [[imap]] key that check-config shows", sorted("imap." + k for k in imap_keys), imap_shown)
roff5 = run("manual", "tlsrpt.toml.5").stdout
man_keys = sorted(k.replace("\\-", "-") for k in re.findall(r"^\.B ([a-z_]+\.[a-z_\\-]+)$", roff5, re.M))
expected = sorted(table_keys + imap_shown + ["domain.name", "domain.rua", "domain.hosted", "domain.auto_enforce_days", "domain.auto_rollback"])
check("tlsrpt.toml.5: exactly the settings of the table, [[imap]] and [[domain]] keys and limits", expected, man_keys)
summary = run("check-config", "--help").stdout
help_keys = sorted(re.findall(r"^  ([a-z_]+\.[a-z_]+) \(", summary, re.M))
check("check-config --help: the same settings", expected, help_keys)

# Each setting's entry says its type, default and variable; SIGHUP ones say so.
_, text5, _ = render("tlsrpt.toml.5")
flat = re.sub(r"\s+", " ", text5)
check("an integer with its range, default and variable", True,
      "Type: integer (1 to 1000000). Default: 100. Environment: TLSRPT_SMTP_MAX_SESSIONS." in flat)
check("a duration in its unit", True, "Type: duration (1s to 1d). Default: 5m." in flat)
check("a secret names its _FILE variable", True, "TLSRPT_DATABASE_URL or TLSRPT_DATABASE_URL_FILE" in flat)
check("a reloadable setting says so", True, "Environment: TLSRPT_HTTP_READ_TOKENS or TLSRPT_HTTP_READ_TOKENS_FILE. Reloaded on SIGHUP." in flat)
check("a limit with its default", True, "limits.message_size" in flat and "Default: 20971520." in flat)

# The shipped settings file names only settings that exist, and reads as valid.
check("server/dist/tlsrpt.toml is valid", 0, run("--config", "server/dist/tlsrpt.toml", "check-config").returncode)
finish("cli.manual")
