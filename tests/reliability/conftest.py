"""Counting for the reliability suite: every case a sweep runs is tallied and summed up at the end.

The tests run in forked children (tests/conftest.py), so a count cannot come
back as a Python object: each case appends one JSON line to a file the
session owns (`tally` fixture), and pytest's terminal summary prints, per
category, how many cases ran and passed. docs/reliability.md quotes these
lines. Set LIVEMOUNT_RELIABILITY_REPORT=FILE to also get them as JSON.
"""

import json
import os
from collections import OrderedDict

import pytest

_TALLY = pytest.StashKey()


class Tally:
    """Appends one line per case to a shared file; usable from the forked test child."""

    def __init__(self, path, test):
        self.path = path
        self.test = test

    def record(self, category, case, ok, detail="", count=1):
        """Return `ok` after writing the outcome of `count` cases (O_APPEND: one write per line, children may race)."""
        line = json.dumps({"category": category, "case": case, "ok": bool(ok), "detail": str(detail)[:500],
                           "test": self.test, "count": count}) + "\n"
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, line.encode("utf-8", "backslashreplace"))
        finally:
            os.close(fd)
        return ok


@pytest.fixture(scope="session")
def tally_file(tmp_path_factory, pytestconfig):
    """Return the path of the session's tally file (JSON lines), remembered for the summary."""
    path = str(tmp_path_factory.mktemp("reliability") / "tally.jsonl")
    pytestconfig.stash[_TALLY] = path
    return path


@pytest.fixture
def tally(request, tally_file):
    """Return the Tally that records this test's cases for the end-of-session summary."""
    return Tally(tally_file, request.node.nodeid)


def summary(path):
    """Return {category: [cases, passed]} from a tally file, in first-seen order."""
    out = OrderedDict()
    if not os.path.exists(path):
        return out
    with open(path, encoding="utf-8") as f:
        for line in f:
            row = json.loads(line)
            counts = out.setdefault(row["category"], [0, 0])
            counts[0] += row.get("count", 1)
            counts[1] += row.get("count", 1) if row["ok"] else 0
    return out


def pytest_terminal_summary(terminalreporter, config):
    """Return None after printing the reliability counts: category, cases run, cases passed."""
    path = config.stash.get(_TALLY, None)
    if path is None:
        return
    counts = summary(path)
    if not counts:
        return
    terminalreporter.write_sep("=", "reliability cases")
    for category, (cases, passed) in counts.items():
        terminalreporter.write_line("%-58s %5d cases %5d passed %4d failed" % (category, cases, passed,
                                                                             cases - passed))
    terminalreporter.write_line("%-58s %5d cases %5d passed" % (
        "total", sum(c for c, _ in counts.values()), sum(p for _, p in counts.values())))
    report = os.environ.get("LIVEMOUNT_RELIABILITY_REPORT")
    if report:
        with open(report, "w", encoding="utf-8") as f:
            json.dump({k: {"cases": c, "passed": p} for k, (c, p) in counts.items()}, f, indent=1)
