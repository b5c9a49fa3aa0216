"""The documentation stays true to the code: every setting is in the one table, every link
resolves, the README stays a door, and the version reported is the changelog's newest."""

from __future__ import annotations

import re
from dataclasses import fields
from pathlib import Path
from urllib.parse import unquote

from service.config import Settings
from service.version import __version__

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
README_MAX_LINES = 160

_FENCE = re.compile(r"^(```|~~~).*?^\1", re.MULTILINE | re.DOTALL)
_INLINE_CODE = re.compile(r"`[^`\n]*`")
# [text](target) and ![alt](target), target without spaces, optional "title"
_LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
_REFERENCE = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+.*)?$", re.MULTILINE)
_EXTERNAL = re.compile(r"^[a-z][a-z0-9+.-]*:", re.IGNORECASE)  # http:, https:, mailto:
_HEADING = re.compile(r"^#{1,6}\s+(.*?)\s*#*\s*$", re.MULTILINE)


def _markdown_files() -> list[Path]:
    return [ROOT / "README.md", ROOT / "CHANGELOG.md", *sorted(DOCS.rglob("*.md"))]


def _prose(text: str) -> str:
    return _INLINE_CODE.sub("", _FENCE.sub("", text))


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[`*_]|\[([^\]]*)\]\([^)]*\)", r"\1", heading).strip().lower()
    return re.sub(r"\s", "-", re.sub(r"[^\w\- ]", "", text))


def _anchors(path: Path) -> set[str]:
    seen: dict[str, int] = {}
    anchors = set()
    for heading in _HEADING.findall(_FENCE.sub("", path.read_text())):
        slug = _slug(heading)
        count = seen.get(slug, 0)
        anchors.add(slug if count == 0 else f"{slug}-{count}")
        seen[slug] = count + 1
    return anchors


def _broken_links(path: Path, root: Path = ROOT) -> list[str]:
    text = _prose(path.read_text())
    broken = []
    for target in [*_LINK.findall(text), *_REFERENCE.findall(text)]:
        if _EXTERNAL.match(target):
            continue
        file_part, _, anchor = target.partition("#")
        resolved = (path.parent / unquote(file_part)).resolve() if file_part else path
        where = f"{path.relative_to(root)}: {target}"
        if not resolved.exists():
            broken.append(f"{where} (no such file)")
        elif anchor and resolved.suffix == ".md" and anchor not in _anchors(resolved):
            broken.append(f"{where} (no such heading)")
    return broken


def test_every_setting_of_the_service_is_in_the_configuration_table():
    table = (DOCS / "configuration.md").read_text()
    missing = [f.name for f in fields(Settings) if f"`{f.name}`" not in table]
    assert missing == [], f"settings read in service/config.py but not in docs/configuration.md: {missing}"


def test_every_relative_link_resolves():
    broken = [link for path in _markdown_files() for link in _broken_links(path)]
    assert broken == []


def test_the_link_check_catches_a_missing_file_and_a_missing_heading(tmp_path):
    page = tmp_path / "page.md"
    (tmp_path / "there.md").write_text("# A heading, with punctuation\n")
    page.write_text("[ok](there.md) [ok](there.md#a-heading-with-punctuation) [web](https://example.org)\n"
                    "`[code](nowhere.md)`\n\n```\n[fenced](nowhere.md)\n```\n"
                    "[gone](nowhere.md) [bad anchor](there.md#nope)\n")

    assert _broken_links(page, tmp_path) == ["page.md: nowhere.md (no such file)",
                                             "page.md: there.md#nope (no such heading)"]


def test_the_readme_is_short():
    lines = (ROOT / "README.md").read_text().splitlines()
    assert len(lines) <= README_MAX_LINES, f"README.md has {len(lines)} lines; move detail into docs/"


def test_the_version_reported_is_the_changelogs_newest_release():
    released = re.findall(r"^## \[(\d+\.\d+\.\d+)\] - \d{4}-\d{2}-\d{2}$", (ROOT / "CHANGELOG.md").read_text(),
                          re.MULTILINE)
    assert released, "CHANGELOG.md has no released version heading (## [x.y.z] - YYYY-MM-DD)"
    assert released[0] == __version__
