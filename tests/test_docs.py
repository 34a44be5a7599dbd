"""The documentation holds together: the README stays a newcomer's page, every relative link in the README and
docs/ reaches a file (and a heading, where it names one), every page of docs/ is reachable from the README, and
the README's two newcomer commands are the ones CI runs."""
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
CI = ROOT / ".ci" / "run"
README_MAX_LINES = 300

# Pages the README links to that another change adds; each leaves this list in the change that adds it.
PENDING: set[str] = set()
# Pages of docs/ whose link from the README another change adds (the README's own); each leaves this list in
# that change.
LINK_PENDING: set[str] = set()

# What .ci/run does instead of a part of the README's command 1: CI is offline, so the reference data replaces
# the download.
CI_REPLACES = {".venv/bin/smg-fast data download dmcgb": "export SMG_FAST_DATA="}

LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
FENCE = re.compile(r"^(```|~~~).*?^\1", re.S | re.M)
INLINE_CODE = re.compile(r"`[^`\n]*`")


def pages():
    return [README, *sorted((ROOT / "docs").glob("*.md")), ROOT / "CHANGELOG.md"]


def prose(text):
    """The text without code blocks and code spans, where brackets and parentheses are code, not links."""
    return INLINE_CODE.sub("", FENCE.sub("", text))


def links(page):
    return [m.group(1) for m in LINK.finditer(prose(page.read_text()))]


def relative(target):
    return not re.match(r"^[a-z][a-z0-9+.-]*:", target) and not target.startswith("//")


def anchors(page):
    """GitHub's heading anchors: lower case, punctuation other than '-' and '_' dropped, spaces to '-', repeats
    numbered."""
    seen, out = {}, set()
    for line in FENCE.sub("", page.read_text()).splitlines():
        m = re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
        if not m:
            continue
        slug = re.sub(r"[^\w\- ]", "", m.group(1).strip().lower()).replace(" ", "-")
        n = seen.get(slug, 0)
        seen[slug] = n + 1
        out.add(slug if n == 0 else f"{slug}-{n}")
    return out


def test_readme_fits_in_300_lines():
    n = len(README.read_text().splitlines())
    assert n <= README_MAX_LINES, f"README.md has {n} lines; move detail into docs/ (limit {README_MAX_LINES})"


@pytest.mark.parametrize("page", pages(), ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_reach_a_file_and_heading(page):
    broken = []
    for target in links(page):
        if not relative(target):
            continue
        path, _, anchor = target.partition("#")
        dest = (page.parent / path).resolve() if path else page
        rel = dest.relative_to(ROOT).as_posix() if dest.is_relative_to(ROOT) else str(dest)
        if rel in PENDING:
            continue
        if not dest.exists():
            broken.append(f"{target}: no such file")
        elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
            broken.append(f"{target}: no heading #{anchor} in {rel}")
    assert not broken, f"{page.relative_to(ROOT)}: " + "; ".join(broken)


def test_pending_pages_have_not_landed_yet():
    landed = sorted(p for p in PENDING if (ROOT / p).exists())
    assert not landed, f"{landed} exist now: remove them from PENDING in tests/test_docs.py"


def test_every_docs_page_is_linked_from_the_readme():
    linked = {(ROOT / t.partition("#")[0]).resolve() for t in links(README) if relative(t)}
    orphans = [p.name for p in sorted((ROOT / "docs").glob("*.md")) if p.resolve() not in linked]
    assert not set(orphans) - LINK_PENDING, f"docs pages the README does not link to: {orphans}"
    linked_now = sorted(LINK_PENDING - set(orphans))
    assert not linked_now, f"the README links {linked_now} now: remove them from LINK_PENDING in tests/test_docs.py"


def newcomer_commands():
    """The two lines of the first bash block under the README's "Quick start" heading."""
    text = README.read_text()
    section = re.search(r"^## Quick start.*?$(.*?)^## ", text, re.S | re.M)
    assert section, "README.md has no '## Quick start' section"
    block = re.search(r"^```bash\n(.*?)^```", section.group(1), re.S | re.M)
    assert block, "the Quick start section has no bash block"
    lines = [line.strip() for line in block.group(1).splitlines() if line.strip()]
    assert len(lines) == 2, f"the Quick start block should be the two newcomer commands, found {lines}"
    return lines


def ci_lines():
    return [line.strip() for line in CI.read_text().splitlines() if line.strip() and not line.lstrip().startswith("#")]


def runs(ci, command):
    """.ci/run runs ``command``: a line that is the command, or the command with more flags after it."""
    return any(line == command or line.startswith(command + " ") for line in ci)


def test_readme_commands_are_what_ci_runs():
    install_and_train, tests = newcomer_commands()
    ci = ci_lines()
    assert tests in ci, f"README command 2 {tests!r} is not a line of .ci/run"
    for part in install_and_train.split(" && "):
        if part in CI_REPLACES:
            assert any(line.startswith(CI_REPLACES[part]) for line in ci), (
                f".ci/run neither runs {part!r} nor does {CI_REPLACES[part]!r} instead")
        else:
            assert runs(ci, part), f"README command 1's {part!r} is not run by .ci/run"
