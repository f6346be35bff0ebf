"""Simultaneous runs into one namespace, and state files damaged in every way, counted.

test_concurrency.py starts eight applies of one or two profiles once. Here,
eight forked copies of the command are released at the same instant (a
pipe barrier), for several rounds each, in mixes the lock must serialize:
two *versions* of one profile, applies racing destroys, and eight different
profiles sharing a parent directory. After each round the table must be
exactly one coherent outcome, the state file must load (checksum good), and
no journal or temporary file may be left.

Damage: the state file truncated at many lengths and with single bytes
changed at many offsets; every change that alters its meaning must make
`status`, `plan` and `apply` refuse with "cannot trust state", touching
nothing. So must another profile's state with a good checksum put in its
place. A garbage journal is refused the same way.
"""

import json
import os
import random
import tempfile

import pytest

from tests.integration.helpers import (apply, check_live, make_tree, mount_points, pending, profile_dict, read_state,
                                       state_dir, state_path, status, write_profile)
from tests.reliability.support import RaceSys, clean_failure, run_cli, whole_table, words

TREE = ["s1/f=1", "s2/f=2", "s3/f=3"]
V1 = [
    {"target": "@/p/b", "type": "bind", "source": "@/s1", "options": ["ro"]},
    {"target": "@/p/t", "type": "tmpfs", "options": ["size=1m"]},
    {"target": "@/p/t/x", "type": "bind", "source": "@/s2"},
    {"target": "@/p/ln", "type": "symlink", "source": "@/s1"},
]
V2 = [
    {"target": "@/p/b", "type": "bind", "source": "@/s3"},
    {"target": "@/p/t", "type": "tmpfs", "options": ["size=2m"]},
    {"target": "@/p/u", "type": "tmpfs"},
    {"target": "@/p/ln", "type": "symlink", "source": "@/s2"},
]
ROUNDS = 3


def _race(scratch, argvs):
    """Return [Run-like (code, stdout, stderr)] of the commands started at the same instant in forked children."""
    gate_r, gate_w = os.pipe()
    children = []
    for argv in argvs:
        sink = tempfile.TemporaryFile("w+", encoding="utf-8")
        pid = os.fork()
        if pid == 0:
            code = 70
            try:
                os.close(gate_w)
                os.read(gate_r, 1)  # blocks until the parent closes the gate: everyone starts together
                run = run_cli(scratch, *argv)
                sink.write("%d\n%s\0%s" % run)
                sink.flush()
                code = 0
            finally:
                os._exit(code)
        children.append((pid, sink))
    os.close(gate_r)
    os.close(gate_w)
    out = []
    for pid, sink in children:
        _, status = os.waitpid(pid, 0)
        sink.seek(0)
        head, _, rest = sink.read().partition("\n")
        sink.close()
        stdout, _, stderr = rest.partition("\0")
        out.append((int(head) if head.strip() and os.WIFEXITED(status) else -1, stdout, stderr))
    return out


def _leftovers(scratch):
    """Return journals and temporary files left in the state directories."""
    found = []
    for d, _, files in os.walk(state_dir(scratch)):
        found.extend(os.path.join(d, f) for f in files if f.endswith(".journal") or ".tmp." in f)
    return found


def _saved_profile(scratch, name="test"):
    """Return the profile mapping the state file of `name` recorded (None without a state file)."""
    raw = read_state(scratch, name)
    return None if raw is None else json.loads(raw)["body"]["profile_data"]


@pytest.mark.ns_timeout(300)
def test_two_versions_of_one_profile_race(scratch, tally):
    """Eight applies at once, four of version 1 and four of version 2: the last one wins, whole and exact."""
    make_tree(scratch, TREE)
    versions = [profile_dict(scratch, V1), profile_dict(scratch, V2)]
    paths = [write_profile(scratch, v, name="v%d" % i) for i, v in enumerate(versions)]
    failures = []
    for r in range(ROUNDS):
        runs = _race(scratch, [["apply", "--yes", "--json", paths[i % 2]] for i in range(8)])
        problems = ["run %d: exit %s: %s" % (i, code, words(err)[-200:]) for i, (code, _, err) in enumerate(runs)
                    if code != 0]
        saved = _saved_profile(scratch)
        winner = next((v for v in versions if v == saved), None)
        if winner is None:
            problems.append("the state records neither version: %s" % saved)
        elif check_live(scratch, winner) or pending(scratch, winner):
            problems.append("the table is not exactly the recorded version: %s" % check_live(scratch, winner))
        if _leftovers(scratch):
            problems.append("left in the state directory: %s" % _leftovers(scratch))
        if not tally.record("concurrency: 8 applies, 2 versions of 1 profile", "round %d" % r, not problems, problems):
            failures.append("round %d: %s" % (r, problems))
    assert failures == []


@pytest.mark.ns_timeout(300)
def test_applies_race_destroys(scratch, tally):
    """Four applies and four destroys of one profile at once: the result is wholly applied or wholly gone."""
    make_tree(scratch, TREE)
    data = profile_dict(scratch, V1)
    path = write_profile(scratch, data)
    failures = []
    outcomes = set()
    for r in range(ROUNDS):
        runs = _race(scratch, [["apply", "--yes", path] if i % 2 else ["destroy", "--yes", "test"] for i in range(8)])
        # A destroy that runs before any apply, or after another destroy, finds no profile named test: exit 1.
        problems = ["run %d: exit %s: %s" % (i, code, words(err)[-200:]) for i, (code, _, err) in enumerate(runs)
                    if code != 0 and not (i % 2 == 0 and "no profile named test in" in words(err))]
        if read_state(scratch) is not None:
            outcomes.add("applied")
            if check_live(scratch, data) or pending(scratch, data):
                problems.append("state kept but table not exact: %s" % check_live(scratch, data))
        else:
            outcomes.add("destroyed")
            if mount_points(scratch) or os.path.lexists(os.path.join(scratch, "p")):
                problems.append("destroyed, yet left: %s" % (mount_points(scratch) or os.listdir(scratch)))
        if _leftovers(scratch):
            problems.append("left in the state directory: %s" % _leftovers(scratch))
        if not tally.record("concurrency: 4 applies racing 4 destroys", "round %d" % r, not problems, problems):
            failures.append("round %d: %s" % (r, problems))
    assert failures == []
    assert outcomes  # which one wins each round is up to the scheduler


@pytest.mark.ns_timeout(300)
def test_eight_profiles_side_by_side(scratch, tally):
    """Eight different profiles applied at once under one parent: all succeed, each state its own, table exact."""
    make_tree(scratch, TREE)
    profiles = [profile_dict(scratch, [
        {"target": "@/shared/p%d/t" % i, "type": "tmpfs", "options": ["size=1m"]},
        {"target": "@/shared/p%d/b" % i, "type": "bind", "source": "@/s%d" % (i % 3 + 1)},
        {"target": "@/shared/p%d/ln" % i, "type": "symlink", "source": "@/s1"},
    ], name="p%d" % i) for i in range(8)]
    paths = [write_profile(scratch, p) for p in profiles]
    runs = _race(scratch, [["apply", "--yes", p] for p in paths])
    for i, (code, _, err) in enumerate(runs):
        problems = [] if code == 0 else ["exit %s: %s" % (code, words(err)[-200:])]
        if _saved_profile(scratch, "p%d" % i) != profiles[i]:
            problems.append("state of p%d does not record p%d" % (i, i))
        if pending(scratch, profiles[i]):
            problems.append("p%d not converged" % i)
        tally.record("concurrency: 8 profiles at once", "p%d" % i, not problems, problems)
        assert problems == []
    everything = dict(name="all", mounts=[m for p in profiles for m in p["mounts"]])
    assert check_live(scratch, everything) == []
    assert _leftovers(scratch) == []


@pytest.mark.ns_timeout(300)
def test_eight_profiles_applied_then_destroyed_at_once_over_shared_parents(scratch, tally):
    """Issue 13, defect 7 (c): 8 profiles sharing missing parents, applied at once then destroyed at once: no leak.

    Whichever run makes a shared parent records it; the others find it
    there. Destroyed together, the creator may plan while another profile's
    entry is still in it: it keeps the directory, and the run that frees it
    removes it (leftovers.sweep waits for the other profile's lock rather
    than judging its state mid-run). Every round ends with the tree exactly
    as before and no state left.
    """
    make_tree(scratch, TREE + ["profiles/"])
    before = sorted(p for p in os.listdir(scratch) if p != "state")
    profiles = [profile_dict(scratch, [
        {"target": "@/shared/deep/p%d" % i, "type": "tmpfs", "options": ["size=1m"]},
        {"target": "@/shared/links/l%d" % i, "type": "symlink", "source": "@/s1"},
    ], name="q%d" % i) for i in range(8)]
    paths = [write_profile(scratch, p) for p in profiles]
    failures = []
    for r in range(ROUNDS):
        problems = []
        for what, argvs in (("apply", [["apply", "--yes", p] for p in paths]),
                            ("destroy", [["destroy", "--yes", "q%d" % i] for i in range(8)])):
            runs = _race(scratch, argvs)
            problems += ["%s %d: exit %s: %s" % (what, i, code, words(err)[-200:])
                         for i, (code, _, err) in enumerate(runs) if code != 0]
        left = sorted(p for p in os.listdir(scratch) if p != "state")
        if left != before:
            problems.append("left behind: %s" % sorted(set(left) - set(before)))
        if os.path.lexists(os.path.join(scratch, "shared")):
            problems.append("left behind: %s; %s" % ([d for d, _, _ in os.walk(os.path.join(scratch, "shared"))],
                                                     [words(e)[-300:] for _, _, e in runs]))
        if status(scratch):
            problems.append("states left: %s" % [row["profile"] for row in status(scratch)])
        if _leftovers(scratch):
            problems.append("left in the state directory: %s" % _leftovers(scratch))
        if not tally.record("concurrency: 8 profiles applied, then destroyed, at once over shared parents",
                            "round %d" % r, not problems, problems):
            failures.append("round %d: %s" % (r, problems))
    assert failures == []


def _damages(raw, seed=20261121):
    """Return [(case, bytes)]: truncations at 64 lengths and 64 single-byte changes of the state file `raw`."""
    rng = random.Random(seed)
    cases = [("truncated to %d of %d bytes" % (n, len(raw)), raw[:n])
             for n in sorted({len(raw) * k // 64 for k in range(64)})]
    for offset in sorted(rng.sample(range(len(raw)), 64)):
        byte = raw[offset]
        new = (byte + rng.randrange(1, 256)) % 256
        cases.append(("byte %d: %#04x -> %#04x" % (offset, byte, new), raw[:offset] + bytes([new]) + raw[offset + 1:]))
    return cases


def _same_meaning(raw, bad):
    """Return True when `bad` still parses to the very same document (a change of JSON whitespace)."""
    try:
        return json.loads(bad.decode("utf-8")) == json.loads(raw.decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        return False


@pytest.mark.ns_timeout(300)
def test_every_damaged_state_is_refused(scratch, tally):
    """The state file truncated or one byte changed, 128 ways: status, plan and apply refuse it, touch nothing."""
    make_tree(scratch, TREE)
    data = profile_dict(scratch, V1)
    path = write_profile(scratch, data)
    apply(scratch, data)
    raw = read_state(scratch)
    table = whole_table()
    failures = []
    for case, bad in _damages(raw):
        if _same_meaning(raw, bad):
            tally.record("damaged state file refused", case + " (same JSON: trusted, rightly)", True)
            continue
        with open(state_path(scratch), "wb") as f:
            f.write(bad)
        problems = []
        for argv in (["status"], ["plan", path], ["apply", "--yes", path]):
            run = run_cli(scratch, *argv)
            said = words(run.stderr)
            if clean_failure(run) or "cannot trust state %s" % state_path(scratch) not in said:
                problems.append("%s: exit %s: %s" % (argv[0], run.code, said[:200]))
        if whole_table() != table or read_state(scratch) != bad:
            problems.append("something was touched")
        if not tally.record("damaged state file refused", case, not problems, problems):
            failures.append("%s: %s" % (case, problems))
    with open(state_path(scratch), "wb") as f:
        f.write(raw)
    assert failures == []
    assert pending(scratch, data) == []


JOURNALS = {
    "garbage": bytes(range(256)) * 2,
    "no-header": b'{"step": 1}\n',
    "corrupt-middle": b'{"profile": "test"}\n\x00\x01garbage\n{"ok": true}\n',
}


@pytest.mark.parametrize("damage", list(JOURNALS), ids=list(JOURNALS))
def test_damaged_journal_is_refused(scratch, tally, damage):
    """A journal damaged by hand: apply refuses with one clear message naming it, and touches nothing."""
    make_tree(scratch, TREE)
    data = profile_dict(scratch, V1)
    path = write_profile(scratch, data)
    apply(scratch, data)
    journal = state_path(scratch)[: -len(".state.json")] + ".journal"
    with open(journal, "wb") as f:
        f.write(JOURNALS[damage])
    table, state = whole_table(), read_state(scratch)
    run = run_cli(scratch, "apply", "--yes", path)
    problems = clean_failure(run)
    if "cannot read journal %s" % journal not in words(run.stderr):
        problems.append("the journal is not named: %s" % words(run.stderr)[:300])
    if whole_table() != table or read_state(scratch) != state:
        problems.append("something was touched")
    tally.record("damaged journal refused", damage, not problems, problems)
    assert problems == []


def test_state_of_another_profile_is_refused(scratch, tally):
    """Profile one's state file copied over profile two's: apply two refuses it and leaves one's mounts alone."""
    make_tree(scratch, TREE)
    elsewhere = [dict(e, target=e["target"].replace("@/p/", "@/q/")) for e in V2]
    one, two = profile_dict(scratch, V1, name="one"), profile_dict(scratch, elsewhere, name="two")
    apply(scratch, one)
    apply(scratch, two)
    with open(state_path(scratch, "two"), "wb") as f:
        f.write(read_state(scratch, "one"))
    table = whole_table()
    run = run_cli(scratch, "apply", "--yes", write_profile(scratch, two))
    problems = clean_failure(run)
    if "cannot trust state" not in words(run.stderr) or "it is the state of profile 'one', not 'two'" not in \
            words(run.stderr):
        problems.append("not refused for its profile: %s" % words(run.stderr)[:300])
    if whole_table() != table:
        problems.append("two's apply changed the table")
    tally.record("damaged state file refused", "another profile's state (good checksum)", not problems, problems)
    assert problems == []
    assert check_live(scratch, dict(one, mounts=one["mounts"] + two["mounts"])) == []


def test_parent_made_by_another_run_between_plan_and_mkdir(scratch, tally):
    """The shared parent appears just before our mkdir (another profile's run made it): the apply goes on."""
    make_tree(scratch, TREE)
    data = profile_dict(scratch, [{"target": "@/shared/p0/t", "type": "tmpfs", "options": ["size=1m"]}], name="p0")
    problems = []
    try:
        apply(scratch, data, system=RaceSys(1, lambda: os.mkdir(scratch + "/shared")))
    except Exception as exc:  # noqa: BLE001 - any failure is the finding
        problems.append("%s: %s" % (type(exc).__name__, exc))
    if check_live(scratch, data) or pending(scratch, data):
        problems.append("not applied: %s" % check_live(scratch, data))
    tally.record("concurrency: 8 profiles at once", "parent made between plan and mkdir", not problems, problems)
    assert problems == []
