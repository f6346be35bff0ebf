"""The bad-input corpus through the real command: exit 1, one clear message, nothing changed.

Every file under corpus/ (see corpus/README.md) is a test: profiles go
through `validate`, `plan` and `apply --yes`, fstab files through `import`.
Each run must exit 1, print its one `error:` line (validate lists the
problems on stdout first) containing the expected fragment, print no
traceback, and leave the live table of the namespace and the state
directory exactly as they were. The state directory already holds a state
for a profile named `corpus` (the name most corpus files use), so a run that
wrongly went ahead would have something to damage. A failpoint on step 1
guards the host: should a malformed profile ever pass validation, its first
system call fails instead of creating anything outside scratch.

The runs call the command's main() in this process (support.run_cli); a
sample also runs as real subprocesses, which must print the same.
"""

import glob
import json
import os
import shlex
import subprocess

import pytest

from ansible_collections.livemount.core.plugins.module_utils.livemount.kernel import failpoint
from tests.integration.helpers import apply, cli_command, cli_env, profile_dict, state_dir
from tests.reliability.support import clean_failure, listing, run_cli, run_forked, whole_table, words

CORPUS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")
GUARD = {failpoint.ENV: "1:EPERM"}


def _header(path, key):
    """Return the value of the `# key: value` header lines of a corpus file (None when absent)."""
    with open(path, "rb") as f:
        for raw in f:
            line = raw.decode("utf-8", "replace").rstrip("\n")
            if not line.startswith("#"):
                break
            if line.startswith("# %s: " % key):
                return line[len("# %s: " % key):]
    return None


def _json_expectations():
    """Return {file name: fragment} from profiles/json.expect."""
    out = {}
    with open(os.path.join(CORPUS, "profiles", "json.expect"), encoding="utf-8") as f:
        for line in f:
            if line.strip() and not line.startswith("#"):
                name, _, fragment = line.rstrip("\n").partition(": ")
                out[name] = fragment
    return out


def _cases(sub, pattern):
    return sorted(glob.glob(os.path.join(CORPUS, sub, pattern)))


PROFILES = [p for p in _cases("profiles", "*") if not p.endswith("json.expect")]
FSTABS = _cases("fstab", "*.fstab")
SKIPPED = _cases("fstab-skipped", "*.fstab")
JSON_EXPECT = _json_expectations()


def _ids(paths):
    return [os.path.basename(p) for p in paths]


def _state_listing(root):
    """Return listing(root) with each state file read as JSON, less what a rollback renews.

    An apply-time failure rolls back by mounting again what it had unmounted: the table is the
    same (whole_table leaves mount ids out), and the state then records the new mount's unique
    id, its directory's inode and the time. Everything else must be byte for byte the same.
    """
    out = listing(root)
    for name, (mode, uid, content) in list(out.items()):
        if name.endswith(".state.json") and content:
            body = json.loads(content)["body"]
            body.pop("applied_at", None)
            body["created_ids"] = [row[0] for row in body.get("created_ids", [])]
            for owned in body.get("owned", []):
                owned.pop("unique", None)
            out[name] = (mode, uid, json.dumps(body, sort_keys=True))
    return out


def _prepare(scratch):
    """Return (table, state listing) after applying a valid profile named `corpus` under scratch."""
    apply(scratch, profile_dict(scratch, [{"target": "@/owned", "type": "tmpfs", "options": ["size=1m"]}],
                                name="corpus"))
    return whole_table(), _state_listing(state_dir(scratch))


def _materialize(scratch, path):
    """Return the path to run: the corpus file itself, or a copy with @SCRATCH@ replaced."""
    with open(path, "rb") as f:
        data = f.read()
    if b"@SCRATCH@" not in data:
        return path
    copy = os.path.join(scratch, os.path.basename(path))
    with open(copy, "wb") as f:
        f.write(data.replace(b"@SCRATCH@", scratch.encode()))
    return copy


# (file, command) pairs that once crashed the process: run in a forked child so a regression is a
# failure, not a dead test run. validate composed the YAML again for line numbers, recursing in C
# (SIGSEGV on 60,000 nested brackets); it now applies the profile reader's depth guard first.
KNOWN_CRASHES = {
    ("yaml-deeper-nesting.yaml", "validate"): "validate composed deep YAML without the depth guard",
}


def test_corpus_is_big_enough():
    """The issue asks for at least 60 malformed profiles and fstab files; every JSON case has its fragment."""
    assert len(PROFILES) + len(FSTABS) + len(SKIPPED) >= 60
    assert sorted(JSON_EXPECT) == sorted(os.path.basename(p) for p in PROFILES if p.endswith(".json"))
    assert all(_header(p, "expect") for p in PROFILES + FSTABS if not p.endswith(".json"))


@pytest.mark.parametrize("path", PROFILES, ids=_ids(PROFILES))
def test_bad_profile(scratch, tally, path):
    """A malformed profile: validate, plan and apply --yes each exit 1, one message naming the flaw; nothing changes."""
    name = os.path.basename(path)
    expected = JSON_EXPECT.get(name) or _header(path, "expect")
    commands = (_header(path, "commands") or "validate plan apply").split()
    before = _prepare(scratch)
    target = _materialize(scratch, path)
    failures = []
    for command in commands:
        if (name, command) in KNOWN_CRASHES:
            continue  # see test_known_crash
        argv = [command] + (["--yes"] if command == "apply" else []) + [target]
        # apply-time cases need the real failure (their step 1 is inside scratch)
        run = run_cli(scratch, *argv, env=None if "apply" == _header(path, "commands") else GUARD)
        problems = clean_failure(run)
        said = words(run.stdout + " " + run.stderr)
        if expected.lower() not in said.lower():
            problems.append("no %r in: %s" % (expected, said[:400]))
        if (whole_table(), _state_listing(state_dir(scratch))) != before:
            problems.append("the table or the state directory changed")
        if not tally.record("bad input: profiles (%s)" % command, name, not problems, problems):
            failures.append("%s: %s" % (command, problems))
    assert failures == []


@pytest.mark.parametrize("path", FSTABS, ids=_ids(FSTABS))
def test_bad_fstab(scratch, tally, path):
    """An fstab that cannot be read: import exits 1 with one message naming the flaw; nothing changes."""
    before = _prepare(scratch)
    args = shlex.split(_header(path, "args") or "")
    run = run_cli(scratch, "import", *(args + [path]), env=GUARD)
    problems = clean_failure(run)
    expected = _header(path, "expect")
    if expected not in words(run.stderr):
        problems.append("no %r in: %s" % (expected, words(run.stderr)[:400]))
    if run.stdout.strip():
        problems.append("printed a profile anyway: %s" % run.stdout[:200])
    if (whole_table(), _state_listing(state_dir(scratch))) != before:
        problems.append("the table or the state directory changed")
    tally.record("bad input: fstab (import)", os.path.basename(path), not problems, problems)
    assert problems == []


@pytest.mark.parametrize("path", SKIPPED, ids=_ids(SKIPPED))
def test_fstab_line_left_out(scratch, tally, path):
    """An fstab line no profile can hold: import leaves it out naming line and reason, and prints a valid profile."""
    import json

    run = run_cli(scratch, "import", "--json", "--name", "imported", path)
    problems = [] if run.code == 0 else ["exit %s: %s" % (run.code, words(run.stderr)[:300])]
    reason = _header(path, "skipped")
    if not any(line.startswith(path + ":") and ": skipped: " in line and reason in line
               for line in run.stderr.splitlines()):
        problems.append("no '%s:N: skipped: ...%s' in: %s" % (path, reason, words(run.stderr)[:300]))
    if run.code == 0:
        doc = json.loads(run.stdout)
        if len(doc["mounts"]) != int(_header(path, "kept")):
            problems.append("kept %d mounts, not %s" % (len(doc["mounts"]), _header(path, "kept")))
        with open(os.path.join(scratch, "imported.json"), "w", encoding="utf-8") as f:
            json.dump(doc, f)
        valid = run_cli(scratch, "validate", os.path.join(scratch, "imported.json"))
        if valid.code != 0:
            problems.append("the printed profile does not validate: %s" % words(valid.stdout + valid.stderr)[:300])
    tally.record("bad input: fstab lines left out (import)", os.path.basename(path), not problems, problems)
    assert problems == []


@pytest.mark.parametrize("name, command", sorted(KNOWN_CRASHES), ids=["%s-%s" % k for k in sorted(KNOWN_CRASHES)])
def test_known_crash(scratch, tally, name, command):
    """The corpus runs that once crashed the process, each in a forked child: exit 1 and one message, not a signal."""
    path = os.path.join(CORPUS, "profiles", name)
    run = run_forked(scratch, command, path, env=GUARD)
    problems = clean_failure(run)
    tally.record("bad input: profiles (%s)" % command, name + " (known crash)", not problems, problems)
    assert problems == []


SAMPLE = [p for p in PROFILES if os.path.basename(p) in (
    "target-dotdot.yaml", "yaml-billion-laughs.yaml", "yaml-deeper-nesting.yaml", "target-lone-surrogate.json",
    "protected-etc.yaml", "not-utf8.yaml")] + FSTABS[:2]


@pytest.mark.parametrize("path", SAMPLE, ids=_ids(SAMPLE))
def test_real_process_prints_the_same(scratch, path):
    """A sample through a real `python -m livemount_cli.main` process: same exit status and output as in-process."""
    if path.endswith(".fstab"):
        argv = ["import"] + shlex.split(_header(path, "args") or "") + [path]
    else:
        argv = ["apply", "--yes", path]
    real = subprocess.run(cli_command(scratch, *argv), env=cli_env(GUARD), stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=120)
    here = run_cli(scratch, *argv, env=GUARD)
    assert (real.returncode, words(real.stdout), words(real.stderr)) == (here.code, words(here.stdout),
                                                                        words(here.stderr))
    assert real.returncode == 1 and "Traceback" not in real.stderr
