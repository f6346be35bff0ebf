"""scripts/livemount-dev: its two lanes of test phases, and stopping it (SIGTERM, Ctrl-C) in the middle of anything
long: a phase of a whole run, the pytest of `test ARGS`, the venv and pip of a setup.

Each case runs the real script in a session of its own, so that every process it starts can be found (and, whatever
happens, killed) afterwards, with its reports in a temporary directory (LIVEMOUNT_REPORTS). The lanes' cases use two
phases of their own (LIVEMOUNT_MORE_PHASES): `selftest_fore` in the foreground lane and `selftest_back` in the
background one, each a long `sleep`; the setup's cases a copy of the script's own files with a stand-in Python.
"""

import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPT = os.path.join(REPO, "scripts", "livemount-dev")

PHASES = """
BACKGROUND_PHASES+=(selftest_back)
phase_selftest_fore() { sleep %(fore)s; PASSED=$((PASSED + 1)); cd /; }
phase_selftest_where() { pwd >"$SELFTEST_WHERE"; }
phase_selftest_back() { sleep %(back)s; SKIPPED=$((SKIPPED + 1)); }
"""


def _popen(args, env, cwd=REPO):
    # As a shell at a terminal starts it: SIGINT not ignored (a child of pytest may inherit it ignored).
    return subprocess.Popen(args, env=env, cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


def _env(tmp_path, **more):
    env = dict(os.environ, LIVEMOUNT_REPORTS=str(tmp_path / "reports"), **more)
    env.pop("LIVEMOUNT_SERIAL", None)
    return env


def _start(tmp_path, fore, back):
    more = tmp_path / "phases"
    more.mkdir()
    (more / "10-test.sh").write_text(PHASES % {"fore": fore, "back": back})
    env = _env(tmp_path, LIVEMOUNT_MORE_PHASES=str(more), LIVEMOUNT_PHASES="selftest_fore selftest_where selftest_back",
               SELFTEST_WHERE=str(tmp_path / "where"))
    return _popen([SCRIPT, "test"], env)


def _session(sid):
    """Return the command lines of the processes left in session `sid`."""
    out = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            if os.getsid(int(pid)) != sid:
                continue
            with open("/proc/%s/cmdline" % pid, "rb") as f:
                out.append(f.read().replace(b"\0", b" ").decode().strip())
        except (OSError, ProcessLookupError):
            continue
    return [c for c in out if c]


def _wait_for_sleeps(proc, count, timeout=300):
    deadline = time.monotonic() + timeout
    while sum(c.startswith("sleep ") for c in _session(proc.pid)) < count:
        assert proc.poll() is None and time.monotonic() < deadline, "the phases did not start"
        time.sleep(0.05)


@pytest.fixture
def started():
    """Keep each process a case starts; afterwards, kill whatever is left of its session."""
    procs = []
    yield procs.append
    for proc in procs:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.communicate()


@pytest.fixture
def run(tmp_path, started):
    def start(fore, back):
        proc = _start(tmp_path, fore, back)
        started(proc)
        return proc

    return start


def test_both_lanes_run_and_are_counted(run, tmp_path):
    """The foreground phases and the background one all run; each one's counts and time reach the last lines,
    and a phase's `cd` does not reach the next one."""
    proc = run(0, 0)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 0, out
    assert out.splitlines()[-1] == "tests: 1 passed, 0 failed, 1 skipped"
    assert "phases took: selftest_fore 0 s, selftest_where 0 s, selftest_back 0 s (beside)" in out
    assert (tmp_path / "where").read_text().strip() == REPO  # not "/", where the phase before it went


# The phases sleep this long: a run that ends at all before them was stopped by the signal, whatever the load.
HOUR = 3600
# How long to wait for what must happen at once, only so that a broken script fails instead of hanging the suite.
HANG = 300


HOW = ["SIGTERM to the script", "Ctrl-C to its process group"]


def _stop(proc, how):
    """Send the signal, then return what is left of the script's session once the script has ended."""
    if how.startswith("SIGTERM"):
        proc.send_signal(signal.SIGTERM)
    else:
        os.killpg(proc.pid, signal.SIGINT)
    proc.wait(timeout=HANG)
    deadline = time.monotonic() + HANG
    while _session(proc.pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    return _session(proc.pid)


def _wait_for(path, proc):
    deadline = time.monotonic() + HANG
    while not path.exists():
        assert proc.poll() is None and time.monotonic() < deadline, "it did not get there: %s" % proc.communicate()[0]
        time.sleep(0.05)


@pytest.mark.parametrize("how", HOW)
def test_a_signal_stops_both_lanes_at_once(run, how):
    """Stopped in the middle of its foreground phase, whose sleep (like the background one's) lasts an hour, the run
    ends with status 130 and leaves no process of either lane behind (bash runs a trap only once a foreground
    command ends: the script waits for its phases with `wait`). No speed is asserted: that belongs in bench/."""
    proc = run(HOUR, HOUR)
    _wait_for_sleeps(proc, 2)
    left = _stop(proc, how)
    assert proc.returncode == 130
    assert left == []


@pytest.mark.parametrize("how", HOW)
def test_a_signal_stops_the_pytest_of_test_args(tmp_path, started, how):
    """`livemount-dev test ARGS` runs pytest alone: stopped while a test of it sleeps for an hour, the script ends with
    status 130 and its pytest is not left running."""
    (tmp_path / "test_sleeps.py").write_text(
        "import pathlib, time\n\ndef test_sleeps():\n    pathlib.Path(%r).touch()\n    time.sleep(%d)\n"
        % (str(tmp_path / "asleep"), HOUR))
    proc = _popen([SCRIPT, "test", "-p", "no:cacheprovider", str(tmp_path / "test_sleeps.py")], _env(tmp_path))
    started(proc)
    _wait_for(tmp_path / "asleep", proc)
    left = _stop(proc, how)
    assert proc.returncode == 130
    assert left == []


# A stand-in for the base Python: the real one, except that what SLOW names (`venv`: making the venv; `pip`: the
# venv's pip installing the lock) marks a file and sleeps for an hour instead.
STAND_IN = """#!/bin/sh
if [ "$1 $2" = "-m venv" ]; then
    if [ "$SLOW" = venv ]; then touch "$ASLEEP"; exec sleep %(hour)d; fi
    mkdir -p "$3/bin"
    cp "$0" "$3/bin/python"
    exit 0
fi
if [ "$1 $2 $3" = "-m pip install" ] && [ "$SLOW" = pip ]; then touch "$ASLEEP"; exec sleep %(hour)d; fi
exec %(python)s "$@"
"""


@pytest.mark.parametrize("slow", ["venv", "pip"])
def test_a_signal_stops_a_setup_half_way(tmp_path, started, slow):
    """Stopped while it makes the venv, or while pip installs the lock into it, a setup ends with status 130, leaves
    none of its children running, and writes no stamp: the next run sets up afresh."""
    repo = tmp_path / "repo"
    for name in ("scripts/livemount-dev", "scripts/requirements.py", "pyproject.toml"):
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(os.path.join(REPO, name), repo / name)
    # The lock for whichever Python runs this test (the script picks the base Python's).
    (repo / "requirements").mkdir()
    shutil.copy(os.path.join(REPO, "requirements", "dev-py3.11.lock"),
                repo / "requirements" / ("dev-py%d.%d.lock" % sys.version_info[:2]))
    stand_in = tmp_path / "python"
    stand_in.write_text(STAND_IN % {"hour": HOUR, "python": sys.executable})
    stand_in.chmod(0o755)
    proc = _popen([str(repo / "scripts" / "livemount-dev"), "setup"],
                  _env(tmp_path, LIVEMOUNT_PYTHON=str(stand_in), LIVEMOUNT_VENV=str(tmp_path / "venv"),
                       SLOW=slow, ASLEEP=str(tmp_path / "asleep")), cwd=str(repo))
    started(proc)
    _wait_for(tmp_path / "asleep", proc)
    left = _stop(proc, "SIGTERM")
    assert proc.returncode == 130
    assert left == []
    assert not (tmp_path / "venv" / ".livemount-stamp").exists()
