"""The namespace harness of tests/conftest.py keeps its promises.

These tests run, like every integration test, in a forked child inside a
private mount namespace; the scenario tests run a nested pytest on a generated
test file (with a copy of the harness conftest) and read its report.
"""

import ctypes
import os
import subprocess
import sys
import textwrap

import pytest

from tests.conftest import MS_REC, mount_table_changes, read_mount_table

CONFTEST = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "conftest.py")
MS_BIND = 0x1000  # sys/mount.h


def _mount(source, target, fstype, flags=0, data=None):
    """Return None after mount(2), raising OSError on failure."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.mount.argtypes = (ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p)
    enc = lambda value: None if value is None else value.encode()
    if libc.mount(enc(source), enc(target), enc(fstype), flags, enc(data)) != 0:
        err = ctypes.get_errno()
        raise OSError(err, "cannot mount %s on %s: %s" % (source, target, os.strerror(err)))


def _mount_points(pid="self"):
    """Return the set of mount points in /proc/PID/mountinfo."""
    with open("/proc/%s/mountinfo" % pid, encoding="utf-8") as handle:
        return {line.split()[4] for line in handle}


@pytest.mark.parametrize(
    "kind",
    ["tmpfs", "bind", "rbind"],
    ids=["tmpfs", "bind", "recursive-bind"],
)
def test_mount_stays_in_the_test_namespace(scratch, kind):
    """A mount made in a test shows in its own namespace and not in the parent's (the host's)."""
    target = os.path.join(scratch, "target")
    os.mkdir(target)
    if kind == "tmpfs":
        _mount("tmpfs", target, "tmpfs")
    else:
        os.mkdir(os.path.join(scratch, "source"))
        _mount(os.path.join(scratch, "source"), target, None, MS_BIND | (MS_REC if kind == "rbind" else 0))
    parent = os.getppid()
    assert os.readlink("/proc/self/ns/mnt") != os.readlink("/proc/%d/ns/mnt" % parent)
    assert target in _mount_points()
    assert target not in _mount_points(parent)
    assert scratch not in _mount_points(parent)


def test_scratch_is_an_empty_tmpfs(scratch):
    """`scratch` is an empty, writable tmpfs mounted on exactly that path."""
    entries = [line.split() for line in open("/proc/self/mountinfo", encoding="utf-8")]
    mine = [fields for fields in entries if fields[4] == scratch]
    assert len(mine) == 1
    assert mine[0][mine[0].index("-") + 1] == "tmpfs"
    assert os.listdir(scratch) == []
    with open(os.path.join(scratch, "probe"), "w", encoding="utf-8") as handle:
        handle.write("ok")


def test_namespace_is_private():
    """No mount in the test namespace propagates: no `shared:` peer group anywhere."""
    shared = [line for line in open("/proc/self/mountinfo", encoding="utf-8") if " shared:" in line.split(" - ")[0]]
    assert shared == []


MOUNTINFO_BEFORE = (
    "22 27 0:21 / /proc rw,relatime - proc proc rw\n"
    "25 24 0:23 / /dev/shm rw,relatime - tmpfs tmpfs rw,size=100k\n"
)


@pytest.mark.parametrize(
    "after, expected",
    [
        (MOUNTINFO_BEFORE, []),
        (MOUNTINFO_BEFORE.replace("22 27", "99 27"), []),
        (MOUNTINFO_BEFORE + "40 25 0:50 / /mnt/x rw - tmpfs tmpfs rw\n", ["+ /mnt/x tmpfs tmpfs root=/ rw rw"]),
        (MOUNTINFO_BEFORE.replace("size=100k", "size=200k"), [
            "- /dev/shm tmpfs tmpfs root=/ rw,relatime rw,size=100k",
            "+ /dev/shm tmpfs tmpfs root=/ rw,relatime rw,size=200k",
        ]),
        (MOUNTINFO_BEFORE + MOUNTINFO_BEFORE.splitlines(True)[1], [
            "+ /dev/shm tmpfs tmpfs root=/ rw,relatime rw,size=100k",
        ]),
    ],
    ids=["same", "new-mount-id-only", "added", "options-changed", "stacked-twice"],
)
def test_host_guard_sees_changes(tmp_path, after, expected):
    """The host-table guard ignores mount ids and reports added, removed and stacked mounts."""
    (tmp_path / "before").write_text(MOUNTINFO_BEFORE)
    (tmp_path / "after").write_text(after)
    changes = mount_table_changes(read_mount_table(str(tmp_path / "before")), read_mount_table(str(tmp_path / "after")))
    assert changes == expected


def _alive(pid):
    """Return whether process `pid` exists and is not a zombie waiting to be reaped."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rpartition(")")[2].split()[0] != "Z"
    except FileNotFoundError:
        return False


# Each scenario: (directory of the generated test file, its source, exit code,
# fragments the nested pytest output must contain).
SCENARIOS = {
    "passes": ("integration", """
        def test_case(scratch):
            with open(os.environ["HARNESS_OUT"], "w") as out:
                out.write(scratch)
            open(os.path.join(scratch, "file"), "w").close()
        """, 0, ["1 passed"]),
    "assertion": ("integration", """
        def test_case():
            left = 1
            assert left == 2
        """, 1, ["1 failed", "in the test's mount namespace", ">       assert left == 2", "E       assert 1 == 2",
                 "integration/test_case.py:7: AssertionError"]),
    "exception": ("integration", """
        def helper():
            raise ValueError("boom")

        def test_case():
            helper()
        """, 1, ["1 failed", ">       raise ValueError(\"boom\")", "E       ValueError: boom"]),
    "exit": ("integration", """
        def test_case():
            os._exit(3)
        """, 1, ["1 failed", "exited with status 3 before reporting a result"]),
    "crash": ("integration", """
        def test_case():
            os.kill(os.getpid(), signal.SIGKILL)
        """, 1, ["1 failed", "was killed by signal SIGKILL (9) before reporting a result"]),
    "timeout": ("integration", """
        @pytest.mark.ns_timeout(1)
        def test_case():
            time.sleep(600)
        """, 1, ["1 failed", "timed out after 1 s"]),
    "straggler": ("integration", """
        def test_case():
            pid = os.fork()
            if pid == 0:
                time.sleep(600)
                os._exit(0)
            with open(os.environ["HARNESS_OUT"] + ".straggler", "w") as out:
                out.write(str(pid))
        """, 0, ["1 passed"]),
    "skip": ("integration", """
        def test_case():
            pytest.skip("not in this namespace")
        """, 0, ["1 skipped", "not in this namespace"]),
    "xfail": ("integration", """
        def test_case():
            pytest.xfail("known kernel quirk")
        """, 0, ["1 xfailed", "known kernel quirk"]),
    "xfail-marker": ("integration", """
        @pytest.mark.xfail(reason="fails on purpose")
        def test_case():
            assert False
        """, 0, ["1 xfailed"]),
    "fixture-fills-scratch": ("integration", """
        @pytest.fixture
        def seeded(scratch):
            path = os.path.join(scratch, "seed")
            open(path, "w").close()
            yield
            os.unlink(path)

        def test_case(seeded, scratch):
            pass
        """, 1, ["1 failed", "is not empty"]),
    "scratch-outside-namespace": ("unit", """
        def test_case(scratch):
            pass
        """, 1, ["1 error", "scratch only exists in namespaced tests"]),
    "escape-to-host": ("unit", """
        def test_case(tmp_path):
            libc = ctypes.CDLL(None, use_errno=True)
            assert libc.mount(b"tmpfs", str(tmp_path).encode(), b"tmpfs", 0, None) == 0
        """, 1, ["HOST MOUNT TABLE CHANGED", "+ %(tmp)s/base/test_case0 tmpfs tmpfs", "1 passed, 1 host mount changes"]),
}

PRELUDE = "import ctypes, os, signal, time\nimport pytest\n"


@pytest.mark.parametrize("name", sorted(SCENARIOS), ids=sorted(SCENARIOS))
def test_nested_run_reports(tmp_path, name):
    """A nested pytest run reports each harness scenario with the right outcome and text."""
    directory, body, want_rc, fragments = SCENARIOS[name]
    tree = tmp_path / "tree"
    (tree / directory).mkdir(parents=True)
    (tree / "conftest.py").write_text(open(CONFTEST, encoding="utf-8").read())
    (tree / directory / "test_case.py").write_text(PRELUDE + "\n" + textwrap.dedent(body))
    out = tmp_path / "scratch-path"
    # No third-party plugins: faster, and the scenarios test the harness alone.
    env = dict(os.environ, HARNESS_OUT=str(out), PYTEST_DISABLE_PLUGIN_AUTOLOAD="1")
    # The "escape" scenario mounts in the nested pytest's own namespace: ours,
    # private, so the host never sees it. The timeout only stops a hung run.
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-o", "addopts=", "-rA",
         "--basetemp", str(tmp_path / "base"), str(tree)],
        cwd=str(tree), env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=120,
    )
    report = run.stdout
    assert run.returncode == want_rc, report
    for fragment in fragments:
        assert fragment % {"tmp": tmp_path} in report, report
    straggler = tmp_path / "scratch-path.straggler"
    if straggler.exists():  # the harness killed what the test left behind
        assert not _alive(int(straggler.read_text())), "the straggler outlived its test"
    if out.exists():  # the scratch directory is gone after the test
        assert not os.path.exists(out.read_text())
