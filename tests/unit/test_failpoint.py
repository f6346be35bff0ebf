"""Failpoints (LIVEMOUNT_FAILPOINT) and the canonical naming of steps, over the recording fake."""

import errno
import os
import signal
import subprocess
import sys
import textwrap

import pytest

from ansible_collections.livemount.core.plugins.module_utils.livemount.errors import LivemountError, SysError, strerror
from ansible_collections.livemount.core.plugins.module_utils.livemount.kernel.failpoint import (
    CRASH, FailpointSys, from_env, parse_spec)
from ansible_collections.livemount.core.plugins.module_utils.livemount.kernel.calls import step_call, step_what
from ansible_collections.livemount.core.plugins.module_utils.livemount.kernel.sysapi import MUTATING_CALLS, Handle

from tests.unit.fakesys import FakeSys


@pytest.mark.parametrize(
    "spec,points",
    [
        ("3:EIO", {3: errno.EIO}),
        ("1:ebusy", {1: errno.EBUSY}),
        ("2:28", {2: 28}),
        ("3:EIO,5:crash", {3: errno.EIO, 5: CRASH}),
        (" 4 : ENOSPC , 7:CRASH ,", {4: errno.ENOSPC, 7: CRASH}),
        ("1:EPERM,1:EIO", {1: errno.EIO}),
    ],
    ids=["name", "lowercase", "number", "several", "spaces-and-trailing-comma", "later-wins"],
)
def test_parse_spec(spec, points):
    """A failpoint spec maps step numbers to an errno or crash."""
    assert parse_spec(spec) == points


@pytest.mark.parametrize(
    "spec",
    ["3", "0:EIO", "x:EIO", "3:ENOTANERRNO", "3:", "-1:EIO", "3:O_RDONLY"],
    ids=["no-errno", "step-zero", "not-a-number", "unknown-errno", "empty-errno", "negative", "not-an-errno-name"],
)
def test_parse_spec_rejects(spec):
    """A malformed spec is a LivemountError naming the variable and the spec."""
    with pytest.raises(LivemountError) as exc:
        parse_spec(spec)
    assert str(exc.value).startswith("cannot parse LIVEMOUNT_FAILPOINT=%s: " % spec)


@pytest.mark.parametrize(
    "environ,wrapped",
    [({}, False), ({"LIVEMOUNT_FAILPOINT": ""}, False), ({"LIVEMOUNT_FAILPOINT": " "}, False),
     ({"LIVEMOUNT_FAILPOINT": "2:EIO"}, True)],
    ids=["unset", "empty", "blank", "set"],
)
def test_from_env(environ, wrapped):
    """from_env wraps the Sys only when LIVEMOUNT_FAILPOINT is set to something."""
    inner = FakeSys()
    s = from_env(inner, environ)
    assert isinstance(s, FailpointSys) == wrapped
    assert (s.inner is inner) if wrapped else (s is inner)


def _steps(s):
    """Run five independent steps (and observations between them) through `s`; return the errors raised."""
    errors = []
    for step in (
        lambda: s.mkdir("/a", 0o755, 0, 0),
        lambda: s.lstat("/a"),
        lambda: s.mkdir("/b", 0o700, 0, 0),
        lambda: s.read_mountinfo(),
        lambda: s.symlink("/a", "/l"),
        lambda: s.mkfile("/f", 0o644, 0, 0),
        lambda: s.create_fs("tmpfs", None, ()),
    ):
        try:
            step()
        except SysError as exc:
            errors.append(exc)
    return errors


@pytest.mark.parametrize("n", range(1, 6), ids=["step-%d" % n for n in range(1, 6)])
def test_errno_failpoint_skips_exactly_step_n(n):
    """N:EIO fails the N-th step without performing it; observations are not counted; later steps run."""
    inner = FakeSys()
    s = from_env(inner, {"LIVEMOUNT_FAILPOINT": "%d:EIO" % n})
    errors = _steps(s)
    clean = FakeSys()
    _steps(clean)
    assert s.count == 5 and len(errors) == 1
    assert errors[0].errno == errno.EIO and errors[0].call == clean.calls[n - 1]
    assert str(errors[0]).endswith(": input/output error (failpoint %d)" % n)
    assert inner.calls == clean.calls[:n - 1] + clean.calls[n:]  # step n never reached the inner Sys


def test_failpoint_message_names_the_step():
    """The failpoint's SysError reads like a real one: `cannot <what>: <strerror> (failpoint N)`."""
    s = FailpointSys(FakeSys(), {1: errno.ENOSPC})
    with pytest.raises(SysError) as exc:
        s.mkdir("/x", 0o755, 0, 0)
    assert str(exc.value) == "cannot create directory /x: no space left on device (failpoint 1)"
    assert exc.value.call == 'mkdir "/x" 0o755 0 0'


def test_every_mutation_is_counted_and_close_is_not():
    """Each sysapi.MUTATING_CALLS method is wrapped; close() and observation pass through uncounted."""
    s = FailpointSys(FakeSys(), {})
    for name in MUTATING_CALLS:
        assert getattr(FailpointSys, name).__name__ == name
    h = s.create_fs("tmpfs", None, ())
    s.close(h)
    s.lstat("/")
    s.realpath("/")
    s.overlay_defaults()
    s.namespace_id()
    s.read_mountinfo()
    assert s.count == 1 and h.closed


CRASH_CHILD = textwrap.dedent("""
    import sys
    from ansible_collections.livemount.core.plugins.module_utils.livemount.kernel.failpoint import from_env
    from tests.unit.fakesys import FakeSys
    fake = FakeSys()
    s = from_env(fake)
    for name in "abcd":
        s.mkdir("/" + name, 0o755, 0, 0)
        print(fake.calls[-1], flush=True)
    print("survived", flush=True)
""")


@pytest.mark.parametrize("spec,done", [("1:crash", 0), ("3:crash", 2), ("2:EIO,4:crash", 3)],
                         ids=["first", "third", "after-an-errno"])
def test_crash_kills_with_sigkill_before_the_step(spec, done):
    """N:crash SIGKILLs the process just before step N: earlier steps happened, step N never did."""
    env = dict(os.environ, LIVEMOUNT_FAILPOINT=spec, PYTHONPATH=os.pathsep.join(sys.path))
    if spec.startswith("2:EIO"):
        child = CRASH_CHILD.replace('s.mkdir("/" + name, 0o755, 0, 0)',
                                    'try:\n        s.mkdir("/" + name, 0o755, 0, 0)\n    except Exception:\n'
                                    '        fake.calls.append("failed")')
    else:
        child = CRASH_CHILD
    proc = subprocess.run([sys.executable, "-c", child], env=env, capture_output=True, text=True, cwd="/")
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    lines = proc.stdout.splitlines()
    assert len(lines) == done and "survived" not in lines
    assert all(('mkdir "/%s"' % n) not in proc.stdout for n in "abcd"[done:])


# ---- canonical step names ------------------------------------------------------

H = Handle(7, "tmpfs")


@pytest.mark.parametrize(
    "name,args,kwargs,call,what",
    [
        ("mkdir", ("/t", 0o755, 0, 0), {}, 'mkdir "/t" 0o755 0 0', "create directory /t"),
        ("mkfile", ("/t",), {"mode": 0o600, "uid": 1, "gid": 2}, 'mkfile "/t" 0o600 1 2', "create file /t"),
        ("attach", (H, "/t"), {}, 'attach <mount tmpfs> "/t"', "mount tmpfs on /t"),
        ("attach", (H, "/t", False), {}, 'attach <mount tmpfs> "/t"', "mount tmpfs on /t"),
        ("attach", (H, "/t"), {"beneath": True}, 'attach <mount tmpfs> "/t" True', "mount tmpfs beneath /t"),
        ("umount", ("/t", False), {}, 'umount "/t"', "unmount /t"),
        ("umount", ("/t",), {"detach": True}, 'umount "/t" True', "unmount /t"),
        ("setattr", ("/t", {"ro", "nodev"}), {}, 'setattr "/t" nodev,ro', "set mount attributes of /t"),
        ("setattr", (H, frozenset(), None), {}, "setattr <mount tmpfs> -", "set mount attributes of tmpfs"),
        ("setattr", ("/t", None, "private"), {}, 'setattr "/t" - "private"', "set mount attributes of /t"),
        ("create_fs", ("tmpfs", None, [("size", "1m"), ("noswap", None)]), {}, 'create_fs "tmpfs" - [size=1m,noswap]',
         "create tmpfs filesystem"),
        ("create_fs", ("overlay", None, ()), {"lower": ("/a", "/b"), "upper": "/u", "work": "/w"},
         'create_fs "overlay" - [] [/a,/b] [] "/u" "/w"', "create overlay filesystem"),
        ("clone", ("/s", True), {}, 'clone "/s" True', "bind /s recursively"),
        ("clone_mount", ("/t",), {}, 'clone_mount "/t"', "copy the mount at /t"),
        ("reconfigure", ("/t", [("size", "2m")]), {}, 'reconfigure "/t" [size=2m]', "reconfigure /t"),
        ("rename", ("/a", "/b"), {}, 'rename "/a" "/b"', "rename /a to /b"),
        ("symlink", ("/x", "/l"), {}, 'symlink "/x" "/l"', "create symlink /l"),
        ("rmdir", ("/d",), {}, 'rmdir "/d"', "remove directory /d"),
        ("unlink", ("/f",), {}, 'unlink "/f"', "remove /f"),
    ],
    ids=["mkdir", "keywords", "attach", "attach-default-spelled", "attach-beneath", "umount", "umount-detach",
         "setattr-flags", "setattr-handle-rw", "setattr-propagation", "create-tmpfs", "create-overlay", "clone",
         "clone-mount", "reconfigure", "rename", "symlink", "rmdir", "unlink"],
)
def test_step_names(name, args, kwargs, call, what):
    """A step has one canonical call string however it is spelled (trailing defaults dropped, modes octal)."""
    assert step_call(name, *args, **kwargs) == call
    assert step_what(name, *args, **kwargs) == what


def test_strerror():
    """Causes are the C library's words in lowercase."""
    assert strerror(errno.ENOENT) == "no such file or directory"
