"""Rules of the source tree that a reviewer would otherwise have to remember.

- SQL lives in the store: no statement text in server/ or ingest/ outside server/store/ (and
  migrations/, which holds the schema). A statement is recognised by its shape (SELECT ... FROM,
  INSERT INTO, UPDATE ... SET, DELETE FROM, CREATE/ALTER/DROP TABLE|INDEX|FUNCTION, WITH x AS ( ),
  so an IMAP "SELECT folder" command does not count.
- The README's layout table is the tree: every folder under server/, ingest/ and tests/ is
  listed, and every folder listed exists.
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
# The layout table of the README against the tree.
readme = Path("README.md").read_text()
section = readme[readme.index("## Layout"):]
section = section[:section.index("\n## ", 4)] if "\n## " in section[4:] else section
listed = set()
for row in re.findall(r"^\| (`[^|]*`) \|", section, re.M):
    listed.update(re.findall(r"`([^`]+)`", row))
check("the layout table lists folders", True, len(listed) > 30)
check("every folder the layout table lists exists", [], sorted(p for p in listed if not Path(p).is_dir()))
tree = sorted(str(d) for top in ("server", "ingest", "tests") for d in Path(top).iterdir() if d.is_dir())
check("every folder under server/, ingest/ and tests/ is in the layout table", [], [d for d in tree if d not in listed])
# The README is a guide; the reference is in the manual pages and docs/.
check("the README is at most 400 lines", True, len(readme.splitlines()) <= 400)
for link in sorted(set(re.findall(r"\]\(((?:docs|dashboards)/[^)#]+)", readme))):
    check(f"the README's link {link} exists", True, Path(link).exists())
finish("cli.source")
