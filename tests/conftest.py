"""Test harness: working-tree imports, private mount namespaces, host-table guard.

1. Imports: `ansible_collections.livemount.core...` and `livemount_cli` resolve
   to the working tree through the symlink tree in .build/ (the same links
   scripts/livemount-dev makes); PYTHONPATH and ANSIBLE_COLLECTIONS_PATH are
   exported so subprocesses (ansible-playbook, the CLI) see it too.
2. Namespaces: every test under tests/integration/, tests/reliability/ and
   tests/ansible/ (and any test marked `namespaced`) runs in a forked child that unshares its
   mount namespace and makes it recursively private, so nothing it mounts
   reaches the host. Fixtures run in the parent; only the test body runs in
   the child, which reports pass/fail/skip/xfail back through a pipe. A child
   that dies or outlives its time limit is a failure, never a hang.
3. Guard: the host's mount table is read at session start and end; any
   difference fails the session and is printed.
See docs/development.md.
"""

import ctypes
import json
import os
import select
import signal
import struct
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
REPO = TESTS.parent
NAMESPACED_DIRS = ("integration", "reliability", "ansible")
DEFAULT_TIMEOUT = float(os.environ.get("LIVEMOUNT_TEST_TIMEOUT", "300"))
HOST_CHANGES = "host mount changes"  # the key shown in pytest's final summary line
_HOST_TABLE = pytest.StashKey()


# ---- 1. imports from the working tree -------------------------------------


def _link(target, name):
    """Return `name` after making it a symlink to `target`, atomically (runs may race)."""
    if os.path.islink(name) and os.readlink(name) == target:
        return name
    os.makedirs(os.path.dirname(name), exist_ok=True)
    tmp = "%s.tmp.%d" % (name, os.getpid())
    if os.path.lexists(tmp):
        os.unlink(tmp)
    os.symlink(target, tmp)
    os.replace(tmp, name)
    return name


def _use_working_tree():
    """Return the import roots put first on sys.path (none outside the repository)."""
    if not (REPO / "galaxy.yml").is_file():
        return []  # this conftest was copied into a generated test tree
    build = REPO / ".build"
    collections, py = str(build / "collections"), str(build / "py")
    _link(str(REPO), os.path.join(collections, "ansible_collections", "livemount", "core"))
    _link(str(REPO / "cli"), os.path.join(py, "livemount_cli"))
    for var, entries in (("PYTHONPATH", [py, collections]), ("ANSIBLE_COLLECTIONS_PATH", [collections])):
        old = [p for p in os.environ.get(var, "").split(os.pathsep) if p and p not in entries]
        os.environ[var] = os.pathsep.join(entries + old)
    for root in (collections, py):
        if root in sys.path:
            sys.path.remove(root)
        sys.path.insert(0, root)
    return [py, collections]


IMPORT_ROOTS = _use_working_tree()
# The modules the tests run keep their compiled engine (plugins/module_utils/code_cache.py) in the tree, never in
# the host's /var/cache.
os.environ.setdefault("LIVEMOUNT_CODE_CACHE", str(REPO / ".build" / "code-cache"))


# ---- 3. the host mount table guard ----------------------------------------


def read_mount_table(path="/proc/self/mountinfo"):
    """Return a Counter of (mount point, root, fstype, source, options, super options).

    Mount ids are left out: they change only when something is (un)mounted,
    which the other fields already show.
    """
    table = Counter()
    with open(path, encoding="utf-8", errors="surrogateescape") as handle:
        for line in handle:
            left, _, right = line.rstrip("\n").partition(" - ")
            fields, tail = left.split(), right.split() + ["", "", ""]
            table[(fields[4], fields[3], tail[0], tail[1], fields[5], tail[2])] += 1
    return table


def mount_table_changes(before, after):
    """Return human-readable '+'/'-' lines for mounts that appeared or vanished."""
    lines = []
    for sign, diff in (("-", before - after), ("+", after - before)):
        for (point, root, fstype, source, opts, super_opts), count in sorted(diff.items()):
            lines.extend(["%s %s %s %s root=%s %s %s" % (sign, point, fstype, source, root, opts, super_opts)] * count)
    return lines


def pytest_sessionstart(session):
    """Record the host's mount table before any test runs."""
    session.config.stash[_HOST_TABLE] = read_mount_table()


def pytest_sessionfinish(session, exitstatus):
    """Fail the session, loudly, if the host's mount table changed."""
    before = session.config.stash.get(_HOST_TABLE, None)
    if before is None:
        return
    changes = mount_table_changes(before, read_mount_table())
    if not changes:
        return
    if session.exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    text = ["the host mount table changed during the session (a test escaped its namespace):"]
    text += ["  " + line for line in changes]
    if reporter is None:
        sys.stderr.write("\n".join(text) + "\n")
        return
    reporter.write_sep("!", "HOST MOUNT TABLE CHANGED", red=True, bold=True)
    for line in text:
        reporter.write_line(line, red=True)
    # Counted in pytest's last line ("3 passed, 1 host mount changes"), so a
    # green-looking run cannot hide it.
    reporter.stats.setdefault(HOST_CHANGES, []).extend(HostChange(line) for line in changes)


class HostChange:
    """One changed line of the host table, as an entry of pytest's terminal stats."""

    count_towards_summary = True

    def __init__(self, line):
        self.line = line


# ---- 2. private mount namespaces ------------------------------------------

CLONE_NEWNS = 0x00020000  # sched.h
MS_REC = 0x4000  # sys/mount.h
MS_PRIVATE = 1 << 18


def _libc():
    """Return libc with errno capture and the mount(2)/unshare(2) prototypes set."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.mount.argtypes = (ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_void_p)
    libc.unshare.argtypes = (ctypes.c_int,)
    return libc


def _check(rc, what):
    """Return None, or raise OSError naming `what` when a libc call failed."""
    if rc != 0:
        err = ctypes.get_errno()
        raise OSError(err, "cannot %s: %s" % (what, os.strerror(err)))


def enter_private_mount_namespace():
    """Return None after moving this process into a new, recursively private mount namespace."""
    libc = _libc()
    # os.unshare only exists from Python 3.12.
    _check(libc.unshare(CLONE_NEWNS), "unshare the mount namespace")
    # A new namespace copies the parent's propagation: with systemd's shared
    # `/`, mounts would still propagate back to the host (mount_namespaces(7)).
    _check(libc.mount(None, b"/", None, MS_REC | MS_PRIVATE, None), "make / recursively private")


def mount_scratch(path):
    """Return `path` after mounting a fresh tmpfs on it (in the current namespace)."""
    if os.listdir(path):
        raise RuntimeError(
            "cannot mount the scratch tmpfs on %s: it is not empty (fixtures run in the host"
            " namespace before the tmpfs exists; fill scratch in the test body)" % path
        )
    _check(_libc().mount(b"tmpfs", path.encode(), b"tmpfs", 0, b"mode=0755"), "mount tmpfs on %s" % path)
    return path


def pytest_configure(config):
    """Register the harness markers; give SIGINT its usual handler when the suite was started with it ignored."""
    # A suite started in the background by a script (`cmd &`, nohup, some CI runners) inherits SIGINT ignored,
    # and so would every livemount process the tests start: the Ctrl-C tests would wait forever for a process
    # that cannot hear them. A handler (unlike SIG_IGN) is reset by exec(2), so the processes start as from
    # a terminal.
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    config.addinivalue_line(
        "markers", "namespaced: run in a forked child in a private mount namespace (automatic under"
        " tests/%s); needs root" % ", tests/".join(NAMESPACED_DIRS)
    )
    config.addinivalue_line(
        "markers", "ns_timeout(seconds): time limit of a namespaced test (default %g s, env"
        " LIVEMOUNT_TEST_TIMEOUT)" % DEFAULT_TIMEOUT
    )


def pytest_report_header(config):
    """Return the header line telling what the code under test is and what will be skipped."""
    source = "working tree %s" % REPO if IMPORT_ROOTS else "no livemount tree"
    return ["livemount: %s, namespaced tests %s" % (
        source, "enabled (root)" if os.geteuid() == 0 else "skipped (not root)")]


def _is_namespaced_path(path):
    """Return True if `path` lies in a directory whose tests always get a namespace."""
    try:
        return Path(path).resolve().relative_to(TESTS).parts[0] in NAMESPACED_DIRS
    except (ValueError, IndexError):
        return False


def pytest_collection_modifyitems(config, items):
    """Mark every test under the namespaced directories `namespaced`."""
    for item in items:
        if _is_namespaced_path(item.path):
            item.add_marker(pytest.mark.namespaced)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    """Skip namespaced tests, before their fixtures run, where namespaces are impossible."""
    if item.get_closest_marker("namespaced") is None:
        return
    if not sys.platform.startswith("linux"):
        pytest.skip("needs Linux mount namespaces")
    if os.geteuid() != 0:
        pytest.skip("needs root: runs in a private mount namespace (run as root, e.g. in CI)")


@pytest.fixture
def scratch(request):
    """Return a directory that is a fresh tmpfs inside the test's private mount namespace.

    The tmpfs is mounted in the child just before the test body; fixtures see
    the (empty, host) directory only.
    """
    if request.node.get_closest_marker("namespaced") is None:
        pytest.fail("scratch only exists in namespaced tests (tests/%s)" % ", tests/".join(NAMESPACED_DIRS),
                    pytrace=False)
    path = tempfile.mkdtemp(prefix="livemount-test-", dir="/tmp")
    yield path
    # rmdir, never rmtree: if a mount leaked onto the host here, rmtree would
    # delete through it; rmdir fails (EBUSY/ENOTEMPTY) and says so.
    os.rmdir(path)


def _timeout_of(item):
    """Return the time limit in seconds of a namespaced test."""
    marker = item.get_closest_marker("ns_timeout")
    if marker is None:
        return DEFAULT_TIMEOUT
    return float(marker.args[0] if marker.args else marker.kwargs["seconds"])


def _run_test_body(item):
    """Return the outcome of the test body as a JSON-able dict (runs in the child)."""
    try:
        item.obj(**{name: item.funcargs[name] for name in item._fixtureinfo.argnames})
        return {"outcome": "passed"}
    except pytest.skip.Exception as exc:
        return {"outcome": "skipped", "text": exc.msg}
    except pytest.xfail.Exception as exc:  # before Failed: XFailed subclasses it
        return {"outcome": "xfailed", "text": exc.msg}
    except BaseException:  # everything else, SystemExit included, is a failure
        excinfo = pytest.ExceptionInfo.from_current()
        # pytest's own rendering: assertion rewriting, source, locals per --tb.
        return {"outcome": "failed", "text": str(item.repr_failure(excinfo))}


def _child(item, scratch, write_fd):
    """Run the test body in a private namespace, report to write_fd and _exit (never returns)."""
    code = 0
    try:
        try:
            os.setpgid(0, 0)  # so a timeout kills whatever the test started too
            enter_private_mount_namespace()
            if scratch is not None:
                mount_scratch(scratch)
            result = _run_test_body(item)
        except BaseException as exc:  # harness failure in the child: report it
            result = {"outcome": "failed", "text": "namespace harness: %s: %s" % (type(exc).__name__, exc)}
        payload = json.dumps(result).encode()
        data = struct.pack("!Q", len(payload)) + payload
        while data:
            data = data[os.write(write_fd, data):]
    except BaseException:
        code = 70  # EX_SOFTWARE: the parent reports "exited before reporting"
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except Exception:  # a closed capture stream must not block the _exit
                code = code or 71
        os._exit(code)


def _decode(data):
    """Return the child's result dict once `data` holds a whole message, else None."""
    if len(data) < 8:
        return None
    (size,) = struct.unpack("!Q", data[:8])
    if len(data) < 8 + size:
        return None
    return json.loads(data[8:8 + size].decode())


def _await_child(pid, fd, timeout):
    """Return (result or None, wait status or None when the time limit ran out)."""
    deadline = time.monotonic() + timeout
    data, pipe_open, status = b"", True, None
    while True:
        if status is None:
            done, raw = os.waitpid(pid, os.WNOHANG)
            if done:
                status = raw
        result = _decode(data)
        # After the child exits, a grandchild may still hold the pipe open:
        # stop once nothing more is readable.
        if status is not None and (result is not None or not pipe_open or not select.select([fd], [], [], 0)[0]):
            return result, status
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return result, None
        if pipe_open and result is None:
            if select.select([fd], [], [], min(remaining, 0.2))[0]:
                chunk = os.read(fd, 1 << 16)
                data += chunk
                pipe_open = bool(chunk)
        else:
            time.sleep(min(remaining, 0.005))


def _kill_group(pid, reaped):
    """Return None after SIGKILLing the child's process group and reaping the child."""
    try:
        os.killpg(pid, signal.SIGKILL)  # stragglers the test left behind, too
    except (ProcessLookupError, PermissionError):
        pass
    if not reaped:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        os.waitpid(pid, 0)


def _describe(status):
    """Return how a wait status reads in a message."""
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        return "was killed by signal %s (%d)" % (signal.Signals(sig).name, sig)
    return "exited with status %d" % os.WEXITSTATUS(status)


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem):
    """Return True after running a namespaced test's body in a forked child; None otherwise."""
    if pyfuncitem.get_closest_marker("namespaced") is None:
        return None
    timeout = _timeout_of(pyfuncitem)
    scratch = pyfuncitem.funcargs.get("scratch")
    read_fd, write_fd = os.pipe()
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        os.close(read_fd)
        _child(pyfuncitem, scratch, write_fd)
    os.close(write_fd)
    try:
        os.setpgid(pid, pid)  # also here: whoever runs first wins the race
    except OSError:
        pass
    result, status = None, None
    try:
        result, status = _await_child(pid, read_fd, timeout)
    finally:
        os.close(read_fd)
        _kill_group(pid, reaped=status is not None)
    if status is None:
        pytest.fail("namespaced test timed out after %g s (ns_timeout marker or LIVEMOUNT_TEST_TIMEOUT);"
                    " its process group was killed" % timeout, pytrace=False)
    if result is None:
        pytest.fail("namespaced test process %s before reporting a result" % _describe(status), pytrace=False)
    if result["outcome"] == "skipped":
        pytest.skip(result["text"])
    if result["outcome"] == "xfailed":
        pytest.xfail(result["text"])
    if result["outcome"] == "failed":
        pytest.fail("in the test's mount namespace (child process):\n" + result["text"], pytrace=False)
    return True
