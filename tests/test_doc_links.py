"""Every relative link in README.md and docs/*.md leads somewhere: the file exists and, for ``#anchor``, the
target has a heading with that anchor (GitHub's rule: lower-case, punctuation dropped, spaces to hyphens).

Links inside code blocks and code spans are not links; ``http(s):`` and ``mailto:`` links are not checked
(tests do not go on the internet).
"""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

_FENCE = re.compile(r"^(```|~~~).*?^\1", re.M | re.S)
_CODE_SPAN = re.compile(r"(`+)(?!`).+?(?<!`)\1", re.S)
_LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
_HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$", re.M)


def _prose(text: str) -> str:
    """The text without fenced code blocks and code spans (links there are examples, not links)."""
    return _CODE_SPAN.sub("", _FENCE.sub("", text))


def anchors(markdown: str) -> set[str]:
    """The anchors GitHub gives the headings of ``markdown`` (a repeated heading gets -1, -2, ...)."""
    seen: dict[str, int] = {}
    found = set()
    for heading in _HEADING.findall(_FENCE.sub("", markdown)):
        text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link in a heading keeps its text
        slug = re.sub(r"[^\w\- ]", "", text.lower()).replace(" ", "-")
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        found.add(slug if count == 0 else f"{slug}-{count}")
    return found


def broken_links(path: Path) -> list[str]:
    """``target: why`` for every relative link of the markdown file ``path`` that leads nowhere."""
    problems = []
    for target in _LINK.findall(_prose(path.read_text(encoding="utf-8"))):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I):  # http:, https:, mailto:
            continue
        file_part, _, anchor = target.partition("#")
        destination = (path.parent / file_part).resolve() if file_part else path
        if not destination.exists():
            problems.append(f"{target}: no such file")
        elif anchor and destination.suffix == ".md" and anchor not in anchors(destination.read_text("utf-8")):
            problems.append(f"{target}: no heading #{anchor} in {destination.name}")
    return problems


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda path: str(path.relative_to(ROOT)))
def test_every_relative_link_resolves(document):
    assert broken_links(document) == []


def test_broken_links_and_anchors_are_caught(tmp_path):
    (tmp_path / "other.md").write_text(
        "# Other\n\n## Faults: what survives, and how\n\n## Tests\n\n## Tests\n"
    )
    doc = tmp_path / "doc.md"
    doc.write_text(
        "# Doc\n\n## Local part\n\n"
        "[ok](other.md) [ok](other.md#faults-what-survives-and-how) [ok](#local-part) [ok](other.md#tests-1)\n"
        "![ok](other.md) [web](https://example.org/missing) `[code](missing.md)`\n\n"
        "```\n[block](missing.md)\n```\n\n"
        "[gone](missing.md) [no anchor](other.md#faults) [no local](#nowhere) [image](missing.png)\n"
    )
    assert broken_links(doc) == [
        "missing.md: no such file",
        "other.md#faults: no heading #faults in other.md",
        "#nowhere: no heading #nowhere in doc.md",
        "missing.png: no such file",
    ]


def test_anchors_follow_githubs_rule():
    assert anchors("## Exit statuses (`hashwatch crawl`, `hashwatch rescan`)\n") == {
        "exit-statuses-hashwatch-crawl-hashwatch-rescan"
    }
    assert anchors("## Embedded Flink (`[local]`)\n## A match's identity\n") == {
        "embedded-flink-local",
        "a-matchs-identity",
    }
