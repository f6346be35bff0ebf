"""scripts/livemount-dev test: its two lanes of phases, and stopping a run (SIGTERM, Ctrl-C) in the middle of one.

Each case runs the real script with two phases of its own (LIVEMOUNT_MORE_PHASES):
`selftest_fore` in the foreground lane and `selftest_back` in the background
one, each a long `sleep`, in a session of its own so that every process it
starts can be found (and, whatever happens, killed) afterwards. Their files
in .build/reports (phase-selftest_*) are removed after each case.
"""

import glob
import os
import signal
import subprocess
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


def _start(tmp_path, fore, back):
    more = tmp_path / "phases"
    more.mkdir()
    (more / "10-test.sh").write_text(PHASES % {"fore": fore, "back": back})
    env = dict(os.environ, LIVEMOUNT_MORE_PHASES=str(more), LIVEMOUNT_PHASES="selftest_fore selftest_where selftest_back",
               SELFTEST_WHERE=str(tmp_path / "where"))
    env.pop("LIVEMOUNT_SERIAL", None)
    # As a shell at a terminal starts it: SIGINT not ignored (a child of pytest may inherit it ignored).
    return subprocess.Popen([SCRIPT, "test"], env=env, cwd=REPO, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


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
def run(tmp_path):
    procs = []

    def start(fore, back):
        proc = _start(tmp_path, fore, back)
        procs.append(proc)
        return proc

    yield start
    for proc in procs:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.communicate()
    for path in glob.glob(os.path.join(REPO, ".build", "reports", "phase-selftest_*")):
        os.unlink(path)


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


@pytest.mark.parametrize("how", ["SIGTERM to the script", "Ctrl-C to its process group"])
def test_a_signal_stops_both_lanes_at_once(run, how):
    """Stopped in the middle of its foreground phase, whose sleep (like the background one's) lasts an hour, the run
    ends with status 130 and leaves no process of either lane behind (bash runs a trap only once a foreground
    command ends: the script waits for its phases with `wait`). No speed is asserted: that belongs in bench/."""
    proc = run(HOUR, HOUR)
    _wait_for_sleeps(proc, 2)
    if how.startswith("SIGTERM"):
        proc.send_signal(signal.SIGTERM)
    else:
        os.killpg(proc.pid, signal.SIGINT)
    proc.wait(timeout=HANG)
    assert proc.returncode == 130
    deadline = time.monotonic() + HANG
    while _session(proc.pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _session(proc.pid) == []
