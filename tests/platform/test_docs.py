"""The user-facing documents name only files that exist in this repository.

README.md, docs/*.md and graphql/README.md are read by people who have only a checkout of this
repository: every path they name must exist in it (relative to the repository root or to the
document), none may point outside it, and graphql/README.md lists every example operation. And the examples
that call the API work as written against `crm demo` (below).
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from tests.servers import CrmServer

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


# ---------------------------------------------------------------- the examples run against `crm demo`

# Each ```bash block that calls the API (curl on http://127.0.0.1:5000) runs as written, with bash, in the
# repository's root, against `crm demo` on a free port: $TOKEN is the ADMIN token the demo prints last, and
# `crm` commands in a block reach the same database. Every answer must be JSON without top-level errors,
# with no root field null and no payload errors.
RUNNABLE_DOCUMENTS = (ROOT / "README.md", ROOT / "graphql" / "README.md")
DEMO_URL = "http://127.0.0.1:5000"
BLOCK_RE = re.compile(r"^```bash\n(.*?)^```", re.S | re.M)


def api_blocks(document: Path) -> list[tuple[int, str]]:
    """(line number, text) of every bash block in ``document`` that calls the demo's API."""
    text = document.read_text(encoding="utf-8")
    return [(text.count("\n", 0, match.start()) + 1, match.group(1)) for match in BLOCK_RE.finditer(text)
            if "curl " in match.group(1) and DEMO_URL in match.group(1)]


API_BLOCKS = [(document, line, block) for document in RUNNABLE_DOCUMENTS for line, block in api_blocks(document)]


def answers(output: str) -> list:
    """The JSON documents a block printed, one after another (curl adds no newline between them)."""
    decoder, found, at = json.JSONDecoder(), [], 0
    while True:
        while at < len(output) and output[at].isspace():
            at += 1
        if at == len(output):
            return found
        value, at = decoder.raw_decode(output, at)
        found.append(value)


def problems(answer) -> list[str]:
    if not isinstance(answer, dict):
        return [f"not a GraphQL answer: {answer!r}"]
    if answer.get("errors"):
        return [f"errors: {answer['errors']}"]
    if not isinstance(answer.get("data"), dict):
        return [f"no data: {answer!r}"]
    found = []
    for name, value in answer["data"].items():
        if value is None:
            found.append(f"{name} is null")
        elif isinstance(value, dict) and value.get("errors"):
            found.append(f"{name}: {value['errors']}")
    return found


@pytest.fixture(scope="module")
def demo_server(tmp_path_factory):
    """`crm demo --customers 40` in a server of its own, as a reader starts it (tests/servers.py)."""
    if shutil.which("curl") is None or shutil.which("jq") is None:
        pytest.skip("the documents' examples use curl and jq")
    server = CrmServer(tmp_path_factory.mktemp("demo"))
    token = server.command("demo", "--customers", "40", "--no-serve").strip().splitlines()[-1]
    server.start()
    try:
        yield server, token, {}
    finally:
        server.stop()


def shifted_date(directory: Path) -> Path:
    """A folder whose ``date`` tells the platform's time (the machine's plus CRM_CLOCK_SHIFT): an example that
    writes ``$(date -u ...)`` means now, and in a run with a shifted clock, now is the platform's."""
    shim = directory / "date"
    shim.write_text(f'#!/bin/sh\nexec {shutil.which("date")} -d "@$(( $({shutil.which("date")} +%s) + '
                    f'{int(float(os.environ.get("CRM_CLOCK_SHIFT") or 0))} ))" "$@"\n')
    shim.chmod(0o755)
    return directory


def run_block(demo_server, document: Path, line: int) -> str:
    """What the block at ``line`` of ``document`` printed; each block runs once (the examples write: orders)."""
    server, token, printed = demo_server
    if (document, line) not in printed:
        block = dict(api_blocks(document))[line]
        tools = [str(shifted_date(server.directory))] if float(os.environ.get("CRM_CLOCK_SHIFT") or 0) else []
        env = {**server.env, "TOKEN": token,
               "PATH": os.pathsep.join([*tools, str(Path(server.crm).parent), os.environ["PATH"]])}
        result = subprocess.run(["bash", "-e", "-o", "pipefail", "-c", block.replace(DEMO_URL, server.url)],
                                cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stderr
        printed[document, line] = result.stdout
    return printed[document, line]


def block_in(document: Path, start: str, end: str) -> int:
    """The line of the first API block between the headings ``start`` and ``end``."""
    text = document.read_text(encoding="utf-8")
    first, last = text.count("\n", 0, text.index(start)) + 1, text.count("\n", 0, text.index(end)) + 1
    return next(line for line, _ in api_blocks(document) if first < line < last)


def test_the_readme_example_answers_as_the_readme_shows(demo_server):
    """Before any other example runs: the others record orders."""
    readme = ROOT / "README.md"
    text = readme.read_text(encoding="utf-8")
    shown = json.loads(re.search(r"^```json\n(.*?)^```", text[text.index("## An example"):], re.S | re.M).group(1))
    line = block_in(readme, "## An example", "## Authentication and roles")
    assert answers(run_block(demo_server, readme, line)) == [shown]


@pytest.mark.parametrize(("document", "line"), [(d, line) for d, line, _ in API_BLOCKS],
                         ids=[f"{d.relative_to(ROOT)}:{line}" for d, line, _ in API_BLOCKS])
def test_every_api_example_works_against_the_demo(demo_server, document, line):
    printed = answers(run_block(demo_server, document, line))
    assert printed, "the example printed nothing"
    assert [p for answer in printed for p in problems(answer)] == []


def test_the_readmes_care_example_shows_a_check_in_in_the_log(demo_server):
    """The order the README records is followed by its post-purchase check-in, sent or (at night where the
    customer lives) held for the morning."""
    readme = ROOT / "README.md"
    run_block(demo_server, readme, block_in(readme, "### Care messages in the demo", "### Campaigns in the demo"))
    log = demo_server[0].log_path
    sent = re.compile(r"crm\.messages\.sent: (SENT EMAIL to o\.roberts@example\.net \[care:post-purchase\] "
                      r"How is your order\? \| Hi Oliver,|HELD \S+ \[care:post-purchase\] quiet hours)")
    deadline = time.monotonic() + 60
    while not sent.search(log.read_text()):
        assert time.monotonic() < deadline, log.read_text()[-3000:]
        time.sleep(0.5)


def test_the_guides_sign_in_examples_sign_in_work_and_sign_out(demo_server):
    guide = ROOT / "graphql" / "README.md"
    staff = answers(run_block(demo_server, guide, block_in(guide, "### Staff sign-in", "### Portal sign-in")))
    assert [list(answer["data"]) for answer in staff] == [["staffSignIn"], ["viewer", "customers"], ["apiTokenRevoke"]]
    assert staff[0]["data"]["staffSignIn"]["viewer"] == {"role": "ACCOUNT_MANAGER",
                                                         "staffUser": {"name": "Amelia Hartmann"}}
    assert staff[1]["data"]["viewer"]["role"] == "ACCOUNT_MANAGER"
    assert staff[2]["data"]["apiTokenRevoke"]["apiToken"]["revokedAt"] is not None

    portal = answers(run_block(demo_server, guide, block_in(guide, "### Portal sign-in", "### From the browser")))
    assert [list(answer["data"]) for answer in portal] == [["portalSessionCreate"], ["viewer"]]
    assert portal[0]["data"]["portalSessionCreate"]["viewer"] == {"customer": {"displayName": "Emily Taylor"}}
    viewer = portal[1]["data"]["viewer"]
    assert viewer["role"] == "PORTAL" and viewer["customer"]["email"] == "emily.taylor@post.example"
