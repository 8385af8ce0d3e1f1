"""The counts at the end of `.ci/fuzz`; exit 1 on any HTTP 5xx or INTERNAL error.

    python .ci/fuzz_summary.py RESPONSES.ndjson SERVER.log FAILURES.txt

RESPONSES.ndjson has a line per checked response (written by `no_internal_errors` in fuzz_hooks.py);
SERVER.log is the platform's log: werkzeug's access lines give the request count and statuses, and each
INTERNAL error is logged with its traceback after "resolver failed at <path>" (an unhandled exception,
HTTP 500, after "Exception on /graphql"). FAILURES.txt gets one JSON line per distinct failing query.
"""
from __future__ import annotations

import json
import re
import sys
from collections import Counter

TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ ")
# e.g. `"POST /graphql HTTP/1.1" 200 -`, with colour codes around 4xx and 5xx lines
ACCESS = re.compile(r'POST /graphql HTTP/[0-9.]+(?:\x1b\[[0-9;]*m)?" (\d{3})')
PROJECT_FRAME = re.compile(r'File "[^"]*/((?:crm|journeys|loyalty)/[^"]+)", line (\d+), in (\S+)')


def tracebacks(lines: list[str], requests: bool = True) -> list[tuple[str, str, str]]:
    """(where, innermost project frame, exception line) of every failure logged while serving a request
    (``requests``), or of every other logged ERROR: the in-process worker's jobs and maintenance rounds."""
    found = []
    i = 0
    while i < len(lines):
        line = lines[i]
        served = "resolver failed" in line or "Exception on /graphql" in line
        if TIMESTAMP.match(line) and (served if requests else (" ERROR " in line and not served)):
            body = []
            j = i + 1
            while j < len(lines) and not TIMESTAMP.match(lines[j]):
                body.append(lines[j])
                j += 1
            frames = [m for m in (PROJECT_FRAME.search(b) for b in body) if m]
            frame = f"{frames[-1].group(1)}:{frames[-1].group(2)} {frames[-1].group(3)}" if frames else "-"
            errors = [b for b in body if re.match(r"^[\w.]+(Error|Exception|Exit|Warning)\b|^[\w.]+: ", b)]
            error = errors[-1] if errors else (body[-1] if body else "?")
            found.append((line.split(": ", 1)[-1].strip(), frame, error.strip()))
            i = j
        else:
            i += 1
    return found


def normalise(message: str) -> str:
    """Drop the variable parts (quoted values, numbers) so one bug counts once."""
    message = re.sub(r'"[^"]*(?:"|$)|\'[^\']*(?:\'|$)', "…", message)
    return re.sub(r"\d+", "N", message)[:160]


def main(record_path: str, log_path: str, failures_path: str) -> int:
    with open(record_path, encoding="utf-8") as handle:
        entries = [json.loads(line) for line in handle if line.strip()]
    with open(log_path, encoding="utf-8", errors="replace") as handle:
        lines = handle.read().splitlines()
    statuses = [int(m.group(1)) for m in map(ACCESS.search, lines) if m]
    server_5xx = sum(1 for s in statuses if s >= 500)
    internal = sum(e["internal"] for e in entries)
    checked_5xx = sum(1 for e in entries if e["status"] >= 500)

    print("[fuzz] ---- summary ----")
    print(f"[fuzz] requests:           {len(statuses)} to /graphql ({len(entries)} responses checked)")
    print(f"[fuzz] operations tested:  {len({e['operation'] for e in entries})}")
    for run, count in sorted(Counter(e["run"] for e in entries).items()):
        operations = len({e["operation"] for e in entries if e["run"] == run})
        print(f"[fuzz]   {run}: {count} responses, {operations} operations")
    print(f"[fuzz] INTERNAL errors:    {internal}")
    print(f"[fuzz] HTTP 5xx:           {max(server_5xx, checked_5xx)}")

    distinct: dict[tuple, dict] = {}
    for e in entries:
        if e["internal"] or e["status"] >= 500:
            distinct.setdefault((e["operation"], normalise((e.get("messages") or [""])[0])), e)
    with open(failures_path, "w", encoding="utf-8") as handle:
        for (operation, _), e in distinct.items():
            handle.write(json.dumps({"run": e["run"], "operation": operation, "status": e["status"],
                                     "messages": e.get("messages"), "path": e.get("path"),
                                     "query": e.get("query")}, ensure_ascii=False) + "\n")
    causes = Counter((where, frame, normalise(error)) for where, frame, error in tracebacks(lines))
    if causes:
        print(f"[fuzz] {len(causes)} distinct causes in the server log (count, where, innermost frame, exception):")
        for (where, frame, error), count in causes.most_common(40):
            print(f"[fuzz]   {count:4d}  {where}  {frame}  {error}")
    if distinct:
        print(f"[fuzz] {len(distinct)} distinct failing queries (operation, message) in {failures_path}")
    # Jobs the requests caused fail in the worker, after the answer: reported, not counted as failures.
    background = Counter((where, frame, normalise(error)) for where, frame, error in tracebacks(lines, requests=False))
    if background:
        print(f"[fuzz] worker errors (not failures of this check; see the server log): {sum(background.values())}")
        for (where, frame, error), count in background.most_common(20):
            print(f"[fuzz]   {count:4d}  {where[:60]}  {frame}  {error}")
    return 1 if internal or server_5xx or checked_5xx else 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:4]))
