"""Shared helpers of the real-kernel tests: profiles under scratch, the live table, the engine, the CLI.

Paths in profile dicts are written `@/x` and mean `<scratch>/x`, so one table
of scenarios serves every test's fresh scratch directory.

The live table is read with a parser of our own (not the engine's
mountinfo.py), and "which mount does a lookup of this path land in" is asked
of the kernel itself: open(path, O_PATH) and the `mnt_id` line of
/proc/self/fdinfo (proc(5)). So a bug in the engine's reading of the table
cannot hide itself in these tests.
"""

import json
import os
import re
import subprocess
import sys
import tempfile
from collections import namedtuple

from ansible_collections.livemount.core.plugins.module_utils.livemount import engine
from ansible_collections.livemount.core.plugins.module_utils.livemount.kernel import failpoint
from ansible_collections.livemount.core.plugins.module_utils.livemount.profile import load as profile
from ansible_collections.livemount.core.plugins.module_utils.livemount.kernel import sys_linux
from ansible_collections.livemount.core.plugins.module_utils.livemount.kernel.sysapi import Features, Wrapper
from ansible_collections.livemount.core.plugins.module_utils.livemount.model import PERFORMED_ACTIONS

STATE = "state"  # the state directory, under scratch
PROFILES = "profiles"  # where profile files for the CLI go, under scratch

Mount = namedtuple("Mount", "mount_id parent_id dev root point opts propagation fstype source super")

_OCTAL = re.compile(r"\\([0-3][0-7][0-7])")


# ---- profiles ----------------------------------------------------------------

def expand(scratch, value):
    """Return `value` with every string `@/x` (in lists and dicts too) turned into `<scratch>/x`."""
    if isinstance(value, str):
        if value == "@":
            return scratch
        return scratch + value[1:] if value.startswith("@/") else value
    if isinstance(value, list):
        return [expand(scratch, v) for v in value]
    if isinstance(value, dict):
        return {k: expand(scratch, v) for k, v in value.items()}
    return value


def profile_dict(scratch, entries, name="test", **extra):
    """Return a profile dict named `name` with `entries` expanded under scratch."""
    return dict(extra, name=name, mounts=expand(scratch, list(entries)))


def load(data):
    """Return the engine's Profile for a profile dict."""
    return profile.load_profile(data)


def state_dir(scratch):
    """Return the state directory the tests use: <scratch>/state."""
    return os.path.join(scratch, STATE)


# LinuxSys arguments for every Sys these helpers make; a test body (a forked
# child) may set {"classic": True} to run on the mount(2) fallback.
SYS_OPTIONS = {}


def linux_sys():
    """Return a LinuxSys made with SYS_OPTIONS."""
    return sys_linux.LinuxSys(**SYS_OPTIONS)


def real_sys(environ=None):
    """Return the real Sys, wrapped by failpoints when `environ` sets LIVEMOUNT_FAILPOINT."""
    return failpoint.from_env(linux_sys(), environ if environ is not None else {})


class NoBeneath(Wrapper):
    """The real Sys as on a kernel without MOVE_MOUNT_BENEATH (before 6.5): what the engine does there, here."""

    def features(self):
        """Return Features without `beneath`."""
        return Features(beneath=False)


def apply(scratch, data, check=False, system=None, **kwargs):
    """Return the engine's Report of reconciling profile dict `data` (already expanded)."""
    return engine.reconcile(load(data), system or real_sys(), root=state_dir(scratch), check=check,
                            profile_data=None if check else data, **kwargs)


def destroy(scratch, name="test", check=False, system=None):
    """Return the engine's Report of destroying profile `name`."""
    return engine.destroy(name, system or real_sys(), root=state_dir(scratch), check=check)


def status(scratch, name=None):
    """Return the engine's status rows."""
    return engine.status(real_sys(), root=state_dir(scratch), name=name)


def rel(scratch, path):
    """Return `path` written relative to scratch as `@/x` (unchanged when outside)."""
    if path == scratch:
        return "@"
    if path.startswith(scratch + "/"):
        return "@" + path[len(scratch):]
    return path


def steps(scratch, report, everything=False):
    """Return [(action, @target)] of a report's changes: the mutating ones, or all with `everything`."""
    return [(c.action.value, rel(scratch, c.target)) for c in report.changes
            if everything or c.action in PERFORMED_ACTIONS]


def pending(scratch, data):
    """Return the mutating (action, @target) pairs a fresh plan of `data` has (empty: converged)."""
    return steps(scratch, apply(scratch, data, check=True))


def state_path(scratch, name="test"):
    """Return the path of a profile's state file in this namespace."""
    m = re.match(r"^(\w+):\[(\d+)\]$", os.readlink("/proc/self/ns/mnt"))
    return os.path.join(state_dir(scratch), "%s-%s" % m.groups(), name + ".state.json")


def read_state(scratch, name="test"):
    """Return the raw bytes of a profile's state file (None when there is none)."""
    try:
        with open(state_path(scratch, name), "rb") as f:
            return f.read()
    except FileNotFoundError:
        return None


# What a state records about which mount an entry is, and what that mount is (model.Owned).
MOUNT_FACTS = ("unique", "dev", "fs_options", "root", "fstype", "marker")


def state_meaning(scratch, name="test"):
    """Return a profile's state body without which mount each entry is (None when there is no state file).

    A rollback puts an unmounted mount back from its detached copy (another
    mount, with another unique id), or without a copy mounts it afresh (a
    new superblock): the state learns which mount it is now
    (state_after.learn_restored). What it owns and created must stay as it was.
    """
    raw = read_state(scratch, name)
    if raw is None:
        return None
    body = json.loads(raw)["body"]
    body.pop("created_ids", None)  # a removed directory put back is another inode
    for o in body["owned"]:
        for key in MOUNT_FACTS:
            o.pop(key, None)
    return body


def owned_targets(scratch, name="test"):
    """Return the @targets the saved state of `name` owns ([] without a state file)."""
    raw = read_state(scratch, name)
    if raw is None:
        return []
    return sorted(rel(scratch, o["entry"]["target"]) for o in json.loads(raw)["body"]["owned"])


# ---- files -------------------------------------------------------------------

def make_tree(scratch, spec):
    """Create paths under scratch: `x/` a directory, `x=text` a file, `x->y` a symlink (y expanded)."""
    for item in spec:
        if "->" in item:
            name, link = item.split("->", 1)
            path = expand(scratch, "@/" + name)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            os.symlink(expand(scratch, link), path)
        elif "=" in item:
            name, text = item.split("=", 1)
            path = expand(scratch, "@/" + name)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "w", encoding="utf-8") as f:
                f.write(text)
        else:
            os.makedirs(expand(scratch, "@/" + item.rstrip("/")), exist_ok=True)


def read(path):
    """Return the text of a file."""
    with open(path, encoding="utf-8") as f:
        return f.read()


def write(path, text):
    """Return None after writing `text` to `path`."""
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


# ---- the live table ------------------------------------------------------------

def unescape(text):
    """Return mountinfo text with its octal escapes (`\\040`) decoded."""
    # The kernel's mangle() escapes only space, tab, newline and backslash
    # (all ASCII); other bytes pass through raw (fs/proc_namespace.c).
    return _OCTAL.sub(lambda m: chr(int(m.group(1), 8)), text)


def read_table():
    """Return every Mount of /proc/self/mountinfo, in file order."""
    out = []
    with open("/proc/self/mountinfo", "rb") as f:
        text = f.read().decode("utf-8", "surrogateescape")
    for line in text.split("\n"):
        if not line:
            continue
        left, _, right = line.partition(" - ")
        fields = left.split(" ")
        fstype, source, sup = right.split(" ")
        tags = fields[6:]
        prop = "private"
        if any(t.startswith("shared:") for t in tags):
            prop = "shared"
        elif any(t.startswith("master:") for t in tags):
            prop = "slave"
        elif "unbindable" in tags:
            prop = "unbindable"
        major, minor = fields[2].split(":")
        out.append(Mount(int(fields[0]), int(fields[1]), (int(major), int(minor)), unescape(fields[3]),
                         unescape(fields[4]), frozenset(fields[5].split(",")), prop, fstype, unescape(source),
                         tuple(unescape(s) for s in sup.split(",") if s)))
    return out


def is_at_or_under(path, parent):
    """Return True when `path` is `parent` or below it (by components)."""
    return path == parent or path.startswith(parent.rstrip("/") + "/")


def mount_of(path):
    """Return the Mount a lookup of `path` lands in (final symlink not followed), as the kernel says."""
    fd = os.open(path, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        with open("/proc/self/fdinfo/%d" % fd, encoding="ascii") as f:
            mnt_id = int(next(line for line in f if line.startswith("mnt_id:")).split()[1])
    finally:
        os.close(fd)
    return next(m for m in read_table() if m.mount_id == mnt_id)


def top(path):
    """Return the visible Mount whose mount point is exactly `path`, or None."""
    try:
        m = mount_of(path)
    except FileNotFoundError:
        return None
    return m if m.point == path else None


def stack(path, table=None):
    """Return the mounts stacked at mount point `path` (visible or not), bottom first."""
    table = table if table is not None else read_table()
    here = [m for m in table if m.point == path]
    ids = {m.mount_id for m in here}
    bottoms = [m for m in here if m.parent_id not in ids]
    out = []
    for b in bottoms:
        m = b
        while m is not None:
            out.append(m)
            m = next((c for c in here if c.parent_id == m.mount_id), None)
    assert len(out) == len(here), "cannot order the stack at %s" % path
    return out


def bind_identity(source):
    """Return (dev, root) a bind of `source` shows in mountinfo (symlinks resolved like the kernel)."""
    real = os.path.realpath(source)
    m = mount_of(real)
    rest = real[len(m.point):] if m.point != "/" else real
    root = m.root.rstrip("/") + rest if rest else m.root
    return m.dev, root or "/"


def snapshot(root, exclude=()):
    """Return the canonical table at and under `root`: one tuple per mount, sorted, stacking kept.

    Mount ids and anonymous device numbers (major 0) are left out: they change
    when a mount is rebuilt, which the other fields already show. Anonymous
    devices are relabelled by first appearance, so "these two mounts share a
    filesystem" is still compared. Mount points in `exclude` are left out.
    """
    table = read_table()
    points = sorted({m.point for m in table if is_at_or_under(m.point, root) and m.point not in exclude})
    rows = []
    labels = {}
    for p in points:
        for depth, m in enumerate(stack(p, table)):
            dev = m.dev if m.dev[0] != 0 else labels.setdefault(m.dev, "anon%d" % len(labels))
            sup = m.super
            if m.fstype == "overlay":
                # The first mount on a fresh upper dir upgrades uuid=auto to
                # uuid=on and stores the uuid in an xattr; later mounts load it
                # and show nothing (ovl_init_uuid_xattr, fs/overlayfs/super.c).
                sup = tuple(o for o in sup if not o.startswith("uuid="))
            rows.append((p, depth, m.fstype, m.source, m.root, tuple(sorted(m.opts)), m.propagation, sup, dev))
    return rows


def mount_points(root):
    """Return the sorted set of mount points strictly below `root`."""
    return sorted({m.point for m in read_table() if is_at_or_under(m.point, root) and m.point != root})


def super_options(m):
    """Return {key: value-or-None} of a Mount's super options (lists for repeated keys like lowerdir+)."""
    out = {}
    for item in m.super:
        key, eq, value = item.partition("=")
        value = value if eq else None
        if key in out:
            out[key] = (out[key] if isinstance(out[key], list) else [out[key]]) + [value]
        else:
            out[key] = value
    return out


def size_bytes(text):
    """Return the bytes a tmpfs size such as `1m`, `1024k` or `4096` means."""
    mult = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30}
    text = text.lower()
    if text[-1:] in mult:
        return int(text[:-1]) * mult[text[-1]]
    return int(text)


def hand_mount(*args):
    """Return None after running mount(8) with `args` (a change made by hand, behind livemount's back)."""
    subprocess.run(["mount"] + list(args), check=True, capture_output=True)


def hand_umount(*args):
    """Return None after running umount(8) with `args`."""
    subprocess.run(["umount"] + list(args), check=True, capture_output=True)


# ---- comparing the live table with a profile ------------------------------------

FLAGS = ("ro", "nosuid", "nodev", "noexec", "noatime")


def overlay_layers(m):
    """Return (lower tuple, upper, work) of a live overlay Mount."""
    # overlayfs echoes the legacy lowerdir list, upperdir and workdir as
    # given: with its own backslash escapes (ovl_unescape, fs/overlayfs/params.c).
    ovl = lambda p: None if p is None else re.sub(r"\\(.)", r"\1", p)
    opts = super_options(m)
    lower = opts.get("lowerdir+", [])
    lower = lower if isinstance(lower, list) else [lower]
    if not lower and opts.get("lowerdir"):
        lower = [ovl(p) for p in re.split(r"(?<!\\):", opts["lowerdir"].split("::")[0])]
    return tuple(lower), ovl(opts.get("upperdir")), ovl(opts.get("workdir"))


def check_entry(entry):
    """Return a list of ways the live table differs from one (expanded) profile entry dict."""
    target, kind = entry["target"], entry["type"]
    problems = []
    if kind == "symlink":
        if not os.path.islink(target) or os.readlink(target) != entry["source"]:
            problems.append("%s: not a symlink to %s" % (target, entry["source"]))
        return problems
    m = top(target)
    if m is None:
        return ["%s: not mounted" % target]
    if len([s for s in stack(target)]) != 1:
        problems.append("%s: %d mounts stacked" % (target, len(stack(target))))
    opts = entry.get("options", [])
    for flag in FLAGS:
        if (flag in opts) != (flag in m.opts):
            problems.append("%s: flag %s is %s" % (target, flag, "missing" if flag in opts else "set"))
    if "ro" not in opts and "rw" not in m.opts:
        problems.append("%s: not read-write" % target)
    if kind == "bind":
        if (m.dev, m.root) != bind_identity(entry["source"]):
            problems.append("%s: shows %s:%s %s, not a bind of %s" % (target, m.dev[0], m.dev[1], m.root,
                                                                      entry["source"]))
        return problems
    if m.fstype != kind:
        problems.append("%s: fstype %s, not %s" % (target, m.fstype, kind))
        return problems
    sup = super_options(m)
    for opt in opts:
        key, eq, value = opt.partition("=")
        if kind == "tmpfs" and key == "size" and not value.endswith("%"):  # a share of RAM: not checked
            if size_bytes(sup.get("size", "0")) != size_bytes(value):
                problems.append("%s: size %s, not %s" % (target, sup.get("size"), value))
        elif kind == "tmpfs" and key == "mode":
            if int(sup.get("mode", "1777"), 8) != int(value, 8):
                problems.append("%s: mode %s, not %s" % (target, sup.get("mode"), value))
    if kind == "overlay":
        lower, upper, work = overlay_layers(m)
        if lower != tuple(entry["lower"]):
            problems.append("%s: lower %s, not %s" % (target, lower, entry["lower"]))
        if (upper, work) != (entry.get("upper"), entry.get("work")):
            problems.append("%s: upper/work %s %s, not %s %s" % (target, upper, work, entry.get("upper"),
                                                                entry.get("work")))
    return problems


def check_live(scratch, data, foreign=()):
    """Return every way the live table under scratch differs from profile `data` (expanded).

    Exactly the profile's mounts must be there (plus `foreign` mount points,
    which the test made itself), each one mount deep, with its settings.
    """
    problems = []
    want = {paths_clean(e["target"]) for e in data["mounts"] if e["type"] != "symlink"}
    have = set(mount_points(scratch)) - {paths_clean(p) for p in expand(scratch, list(foreign))}
    for p in sorted(have - want):
        problems.append("%s: mounted but not in the profile" % p)
    for e in data["mounts"]:
        problems.extend(check_entry(dict(e, target=paths_clean(e["target"]))))
    return problems


def paths_clean(path):
    """Return `path` without `.`, `//` or a trailing slash (what the engine compares)."""
    return "/" + "/".join(c for c in path.split("/") if c not in ("", "."))


# ---- the CLI -------------------------------------------------------------------

def write_profile(scratch, data, name=None):
    """Return the path of a JSON file holding profile `data`, under <scratch>/profiles."""
    d = os.path.join(scratch, PROFILES)
    os.makedirs(d, exist_ok=True)
    path = os.path.join(d, (name or data.get("name", "test")) + ".json")
    with open(path, "w", encoding="utf-8") as f:
        json.dump(data, f)
    return path


def cli_env(extra=None):
    """Return the environment of a CLI subprocess: no colour, wide lines, the working tree importable."""
    env = dict(os.environ, NO_COLOR="1", COLUMNS="400", LINES="100", PYTHONDONTWRITEBYTECODE="1")
    env.pop("LIVEMOUNT_FAILPOINT", None)
    env.update(extra or {})
    return env


def cli_command(scratch, *args):
    """Return the argv that runs the livemount CLI from the working tree with the scratch state dir."""
    return [sys.executable, "-m", "livemount_cli.main", "--state-dir", state_dir(scratch)] + list(args)


def cli(scratch, *args, env=None, stdin=subprocess.DEVNULL, timeout=120):
    """Return the CompletedProcess (text output) of one livemount CLI run."""
    return subprocess.run(cli_command(scratch, *args), env=cli_env(env), stdin=stdin, capture_output=True,
                          text=True, timeout=timeout)


def cli_fork(scratch, *args, env=None):
    """Return the CompletedProcess of one CLI run in a forked child: the same code, no interpreter start-up.

    For loops of hundreds of runs; `python -m` costs 0.2 to 0.4 s a run on
    its own. returncode is -SIGNAL when the child was killed, as subprocess does.
    """
    from livemount_cli.main import main  # imported once, in the parent

    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child never returns
            code = 70
            try:
                os.environ.clear()
                os.environ.update(cli_env(env))
                os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
                os.dup2(out.fileno(), 1)
                os.dup2(err.fileno(), 2)
                sys.stdin = open(0, encoding="utf-8", closefd=False)
                sys.stdout = open(1, "w", encoding="utf-8", closefd=False)
                sys.stderr = open(2, "w", encoding="utf-8", closefd=False)
                code = main(cli_command(scratch, *args)[3:])
            except SystemExit as exc:  # argparse's usage errors
                code = exc.code if isinstance(exc.code, int) else 1
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        code = -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)
        out.seek(0)
        err.seek(0)
        text = [f.read().decode("utf-8", "replace") for f in (out, err)]
    return subprocess.CompletedProcess(cli_command(scratch, *args), code, text[0], text[1])


def cli_json(scratch, *args, env=None, fork=False):
    """Return (exit status, parsed stdout JSON, stderr) of a `--json` CLI run (forked with `fork`)."""
    proc = (cli_fork if fork else cli)(scratch, *args, env=env)
    try:
        doc = json.loads(proc.stdout) if proc.stdout.strip() else None
    except ValueError:
        raise AssertionError("stdout is not JSON: %r (stderr %r)" % (proc.stdout, proc.stderr))
    return proc.returncode, doc, proc.stderr


ASIDE = re.compile(r".+\.livemount-\d{8}T\d{6}Z(-\d+)?")


def is_aside(name):
    """Return True for the name of an overlay upper or work an overlay replace kept aside (upper_policy.py)."""
    return ASIDE.fullmatch(name) is not None


# ---- holding a run at a step (failpoint `wait`) --------------------------------------

def held_run(step, work, meanwhile, classic=False):
    """Return (exit code, message) of `work(sys)` run in a forked child held just before step `step`.

    The child's Sys is the real one with failpoint `STEP:wait` (kernel/failpoint.py):
    it stops before step `step`, and `meanwhile()` runs here while it is
    held (a mount made on top of its target, say); then the child goes on.
    When the run ends without reaching that step, `meanwhile` is not
    called. The code is 0 (done), 1 (a LivemountError, its message given),
    or 70 (anything else, with the traceback).
    """
    import traceback

    from ansible_collections.livemount.core.plugins.module_utils.livemount.errors import LivemountError

    tmp = tempfile.mkdtemp(prefix="livemount-hold-")
    fifo = os.path.join(tmp, "fifo")
    os.mkfifo(fifo)
    result = os.path.join(tmp, "result")
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child never returns
        code, text = 70, ""
        held = failpoint.FailpointSys(sys_linux.LinuxSys(classic=classic), {step: failpoint.WAIT}, fifo)
        try:
            work(held)
            code = 0
        except LivemountError as exc:
            code, text = 1, str(exc)
        except BaseException:  # noqa: BLE001 - reported to the parent
            text = traceback.format_exc()
        finally:
            with open(result, "w", encoding="utf-8") as f:
                f.write(text)
            if held.count < step:
                with open(fifo, "w", encoding="ascii") as f:
                    f.write("done\n")  # never held: tell the parent, which waits on the FIFO
            os._exit(code)
    try:
        with open(fifo, encoding="ascii") as f:
            said = f.read().strip()
        if said != "done":
            try:
                meanwhile()
            finally:
                with open(fifo, "w", encoding="ascii"):
                    pass  # release the held step
        _, status = os.waitpid(pid, 0)
        with open(result, encoding="utf-8") as f:
            text = f.read()
        return (os.WEXITSTATUS(status) if os.WIFEXITED(status) else -os.WTERMSIG(status)), text
    finally:
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)
