"""The user-facing documents name only files that exist in this repository.

README.md, docs/*.md and graphql/README.md are read by people who have only a checkout of this
repository: every path they name must exist in it (relative to the repository root or to the
document), none may point outside it, and graphql/README.md lists every example operation.
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCUMENTS = sorted([ROOT / "README.md", ROOT / "graphql" / "README.md", *(ROOT / "docs").glob("*.md")])
TOP_LEVEL = ("crm", "journeys", "loyalty", "graphql", "docs", "tests", "migrations", "bench", ".ci")
# Made at run time, never committed (see .gitignore): documents may name them.
RUNTIME_PATHS = {"instance", "bench/results"}

# `crm/api/view.py`, `docs/rules.md`, `graphql/operations/campaign_*.graphql`, `.ci/run`, `../README.md`
PATH_RE = re.compile(
    r"(?<![\w./${}-])((?:\.\./|\./)*(?:" + "|".join(re.escape(t) for t in TOP_LEVEL) + r")(?:/[\w.*{},-]*)+)"
)
UP_RE = re.compile(r"(?<![\w./-])((?:\.\./)+[\w.*-][\w./*-]*)")
ROOT_FILE_RE = re.compile(r"(?<![\w./-])(README\.md|pyproject\.toml)(?![\w/-])")
# Inline code naming a file by itself, e.g. `customer_list.graphql` or `operations/*.graphql`.
CODE_RE = re.compile(r"`([^`\s]+)`")
FILE_SUFFIXES = (".graphql", ".md", ".py", ".toml")


def _expand_braces(pattern: str) -> list[str]:
    match = re.search(r"\{([^{}]*)\}", pattern)
    if not match:
        return [pattern]
    head, tail = pattern[:match.start()], pattern[match.end():]
    return [p for option in match.group(1).split(",") for p in _expand_braces(head + option + tail)]


def _exists(candidate: str, base: Path) -> bool:
    text = candidate.rstrip(".,;:)").rstrip("/") or "."
    for pattern in _expand_braces(text):
        for folder in (ROOT, base):
            if any(ch in pattern for ch in "*?["):
                if list(folder.glob(pattern)):
                    break
            elif (folder / pattern).exists():
                break
        else:
            return False
    return True


def _inside_repository(candidate: str, base: Path) -> bool:
    resolved = (base / candidate).resolve()
    return resolved == ROOT or ROOT in resolved.parents


def named_paths(text: str) -> list[tuple[int, str]]:
    """(line number, path) for every repository path the text names."""
    found = []
    for number, line in enumerate(text.splitlines(), 1):
        for match in [*PATH_RE.finditer(line), *UP_RE.finditer(line)]:
            found.append((number, match.group(1).rstrip(".,;:")))
        for match in ROOT_FILE_RE.finditer(line):
            found.append((number, match.group(1)))
        for match in CODE_RE.finditer(line):
            token = match.group(1)
            bare_file = "/" not in token and token.endswith(FILE_SUFFIXES) and token[0].islower()
            if bare_file or token.startswith("operations/"):
                found.append((number, token))
    return found


def dead_paths(document: Path, text: str | None = None) -> list[str]:
    base = document.parent
    text = document.read_text(encoding="utf-8") if text is None else text
    dead = []
    for number, path in named_paths(text):
        bare = path.lstrip("./").rstrip("/")
        if bare in RUNTIME_PATHS or any(bare.startswith(p + "/") for p in RUNTIME_PATHS):
            continue
        if path.startswith("../") and not _inside_repository(path, base):
            dead.append(f"{document.relative_to(ROOT)}:{number}: {path} is outside the repository")
        elif "/" not in path and path.endswith(".graphql"):
            if not (list(ROOT.glob(f"graphql/{path}")) or list(ROOT.glob(f"graphql/operations/{path}"))):
                dead.append(f"{document.relative_to(ROOT)}:{number}: {path} does not exist")
        elif "/" not in path and path.endswith((".md", ".py", ".toml")):
            # a module named by itself, e.g. `planner.py` in docs/campaigns.md next to `journeys/campaigns/`
            if not (_exists(path, base) or any(list((ROOT / top).glob(f"**/{path}")) for top in TOP_LEVEL)):
                dead.append(f"{document.relative_to(ROOT)}:{number}: {path} does not exist")
        elif not _exists(path, base):
            dead.append(f"{document.relative_to(ROOT)}:{number}: {path} does not exist")
    return dead


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda p: str(p.relative_to(ROOT)))
def test_named_paths_exist(document):
    assert dead_paths(document) == []


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_reference_outside_the_repository(document):
    text = document.read_text(encoding="utf-8")
    assert "../shared" not in text and "/shared/" not in text


def test_every_operation_is_listed_in_the_graphql_readme():
    guide = (ROOT / "graphql" / "README.md").read_text(encoding="utf-8")
    missing = [op.name for op in sorted((ROOT / "graphql" / "operations").glob("*.graphql"))
               if f"`{op.name}`" not in guide]
    assert missing == []


def test_the_checker_finds_dead_and_outside_paths():
    """The checks above would notice the mistakes they guard against."""
    body = ("See `graphql/operations/nope.graphql`, crm/api/missing.py, `../../elsewhere/x.md`,\n"
            "`campaign_*.graphql`, `graphql/operations/campaign_*.graphql` and `docs/rules.md`.\n")
    dead = dead_paths(ROOT / "docs" / "_probe_.md", body)
    assert dead == [
        "docs/_probe_.md:1: graphql/operations/nope.graphql does not exist",
        "docs/_probe_.md:1: crm/api/missing.py does not exist",
        "docs/_probe_.md:1: ../../elsewhere/x.md is outside the repository",
    ]
