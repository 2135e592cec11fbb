"""Rules of the source tree that a reviewer would otherwise have to remember.

- SQL lives in the store: no statement text in server/ or ingest/ outside server/store/ (and
  migrations/, which holds the schema). A statement is recognised by its shape (SELECT ... FROM,
  INSERT INTO, UPDATE ... SET, DELETE FROM, CREATE/ALTER/DROP TABLE|INDEX|FUNCTION, WITH x AS ( ),
  so an IMAP "SELECT folder" command does not count.
Usage: source_test.py (from the repository root)"""
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "e2e"))
from harness import check, finish  # noqa: E402

SQL = re.compile(r"\bSELECT\b[^;\n]*\bFROM\b|\bINSERT\s+INTO\b|\bUPDATE\s+\w+\s+SET\b|\bDELETE\s+FROM\b|"
                 r"\b(CREATE|ALTER|DROP)\s+(TABLE|INDEX|FUNCTION|VIEW)\b|\bWITH\s+\w+\s+AS\s*\(", re.I)

found = []
files = 0
for root in ("server", "ingest"):
    for path in sorted(Path(root).rglob("*")):
        if path.suffix not in (".cpp", ".hpp", ".h") or path.parts[:2] == ("server", "store"):
            continue
        files += 1
        for n, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
            code = line.split("//", 1)[0]
            if SQL.search(code):
                found.append(f"{path}:{n}: {line.strip()[:100]}")
check(f"no SQL outside server/store/ and migrations/ ({files} files read)", [], found)
# The rule itself: it finds a statement where one is.
check("the rule finds a statement", True, bool(SQL.search('  "SELECT p.id FROM policies p WHERE x"')))
check("... and not an IMAP SELECT command", False, bool(SQL.search('c.command("SELECT " + server_name(m.folder))')))
finish("cli.source")
