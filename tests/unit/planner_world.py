"""Test helpers: pretend hosts for the pure planner (a mount table plus lstat facts).

A Host starts with an ext4 root on `/` and grows the way the kernel would:
`apply(entry)` mounts an entry as livemount would have (bind identity
computed through the table built so far, so a bind shows the device and
root of the mount holding its source) and returns the Owned record the
engine would save. `world()` renders the table as real mountinfo text and
parses it with the engine's own parser, so every world the planner sees has
been through mountinfo escaping.
"""

from ansible_collections.livemount.core.plugins.module_utils.livemount import paths
from ansible_collections.livemount.core.plugins.module_utils.livemount.model import (
    BIND,
    OVERLAY,
    SYMLINK,
    Action,
    Owned,
    PathFact,
)
from ansible_collections.livemount.core.plugins.module_utils.livemount.mountinfo import parse_mountinfo
from ansible_collections.livemount.core.plugins.module_utils.livemount.options import ovl_escape
from ansible_collections.livemount.core.plugins.module_utils.livemount.plan import plan
from ansible_collections.livemount.core.plugins.module_utils.livemount.profile.load import load_profile
from ansible_collections.livemount.core.plugins.module_utils.livemount.state import State
from ansible_collections.livemount.core.plugins.module_utils.livemount.world import World
from tests.unit.mountinfo_gen import format_mountinfo_line
from tests.unit.fakesys import UNIQUE_BASE

ROOT_DEV = (254, 0)
ROOT_ID = 20


def entries(*mounts):
    """Return the canonical Entries of profile mounts (dicts as a user writes them)."""
    return load_profile({"name": "t", "mounts": [dict(m) for m in mounts]}).entries


def entry(mount):
    """Return the one canonical Entry of a profile mount dict."""
    return entries(mount)[0]


def profile(*mounts):
    """Return a Profile named `t` with `mounts`."""
    return load_profile({"name": "t", "mounts": [dict(m) for m in mounts]})


def bind(source, target, *options, **extra):
    """Return a bind mount dict."""
    return dict({"target": target, "type": BIND, "source": source, "options": list(options)}, **extra)


def tmpfs(target, *options, **extra):
    """Return a tmpfs mount dict."""
    return dict({"target": target, "type": "tmpfs", "options": list(options)}, **extra)


def overlay(target, lower, upper=None, work=None, *options, **extra):
    """Return an overlay mount dict."""
    d = {"target": target, "type": OVERLAY, "lower": list(lower), "options": list(options)}
    if upper:
        d.update(upper=upper, work=work)
    return dict(d, **extra)


def symlink(target, content, **extra):
    """Return a symlink entry dict."""
    return dict({"target": target, "type": SYMLINK, "source": content}, **extra)


def mount_options(flags):
    """Return the per-mount options field mountinfo shows for canonical `flags`."""
    words = ["ro" if "ro" in flags else "rw"]
    words += [f for f in ("nosuid", "nodev", "noexec") if f in flags]
    if "noatime" in flags:
        words.append("noatime")
    elif "strictatime" not in flags:
        words.append("relatime")  # show_mnt_opts prints nothing for strictatime
    if "nodiratime" in flags:
        words.append("nodiratime")
    return ",".join(words)


class Host:
    """A pretend host: a mount table being built, lstat facts and resolved paths."""

    def __init__(self):
        self.rows = [dict(mount_id=ROOT_ID, parent_id=1, dev=ROOT_DEV, root="/", mount_point="/",
                          mount_options="rw,relatime", optional=(), fstype="ext4", source="/dev/vda",
                          super_options=(("rw", None), ("errors", "remount-ro")))]
        self.next_id = ROOT_ID + 1
        self.next_minor = 60
        self.facts = {"/": PathFact("dir", mode=0o755, uid=0, gid=0)}
        self.realpaths = {}
        self.overlay_defaults = {}
        self.unique_ids = True  # False: as a kernel before 6.8 shows it (no unique mount ids)

    # ---- files -----------------------------------------------------------
    def dir(self, *names, empty=False):
        """Return self after recording directories (and their ancestors) as existing."""
        for name in names:
            for p in paths.ancestors(name) + [name]:
                old = self.facts.get(p)
                if old is None or old.kind != "dir" or p == name:
                    self.facts[p] = PathFact("dir", mode=0o755, uid=0, gid=0,
                                             empty=empty if p == name else False)
        return self

    def file(self, *names):
        """Return self after recording regular files (parents become directories)."""
        for name in names:
            self.dir(*paths.ancestors(name)[1:])
            self.facts[name] = PathFact("file", mode=0o644, uid=0, gid=0)
        return self

    def link(self, name, content):
        """Return self after recording a symlink `name` -> `content`."""
        self.dir(*paths.ancestors(name)[1:])
        self.facts[name] = PathFact("symlink", link=content)
        return self

    def missing(self, *names):
        """Return self after forgetting `names` (lstat says missing)."""
        for name in names:
            self.facts.pop(name, None)
        return self

    # ---- mounts ----------------------------------------------------------
    def table(self):
        """Return the LiveTable of the rows so far (through the real parser), with unique ids unless told not to."""
        ids = {r["mount_id"]: UNIQUE_BASE + r["mount_id"] for r in self.rows} if self.unique_ids else None
        return parse_mountinfo(self.text(), ids)

    def text(self):
        """Return the mountinfo text of the rows so far."""
        return "".join(format_mountinfo_line(**r) + "\n" for r in self.rows)

    def raw_mount(self, target, fstype, source, root="/", dev=None, flags=(), super_options=(("rw", None),),
                  optional=()):
        """Return the new row after stacking a mount on `target` (the target becomes a directory)."""
        table = self.table()
        parent = table.visible(target)
        if dev is None:
            dev = (0, self.next_minor)
            self.next_minor += 1
        row = dict(mount_id=self.next_id, parent_id=parent.mount_id, dev=dev, root=root, mount_point=target,
                   mount_options=mount_options(flags), optional=tuple(optional), fstype=fstype, source=source,
                   super_options=tuple(super_options))
        self.next_id += 1
        self.rows.append(row)
        if self.facts.get(target, PathFact("missing")).kind not in ("dir", "file"):
            self.dir(target)
        return row

    def raw_bind(self, source, target, flags=(), optional=()):
        """Return the new row of a bind of `source` on `target`, identity computed like the kernel."""
        table = self.table()
        real = self.realpaths.get(source, source)
        holder = table.visible(real)
        dev, root = table.bind_identity(real)
        return self.raw_mount(target, holder.fstype, holder.source, root=root, dev=dev, flags=flags,
                              super_options=self._super_of(holder), optional=optional)

    def raw_rbind(self, source, target, flags=(), optional=()):
        """Return the new top row of a recursive bind of `source` on `target`: the source's submounts copied too.

        Like copy_tree() in fs/namespace.c: each mount below the source gets
        a copy (same device, root and filesystem) at the same place below
        the target, hanging from the copy of its parent.
        """
        table = self.table()
        real = self.realpaths.get(source, source)
        holder = table.visible(real)
        top = self.raw_bind(source, target, flags, optional)
        copy_of = {holder.mount_id: top["mount_id"]}
        for m in table.submounts(real):
            if m.parent_id not in copy_of:
                continue  # below a mount that is itself outside the copy
            row = dict(next(r for r in self.rows if r["mount_id"] == m.mount_id),
                       mount_id=self.next_id, parent_id=copy_of[m.parent_id],
                       mount_point=paths.join(target, paths.relative(m.mount_point, real)))
            copy_of[m.mount_id] = self.next_id
            self.next_id += 1
            self.rows.append(row)
        return top

    def _super_of(self, live):
        for r in self.rows:
            if r["mount_id"] == live.mount_id:
                return r["super_options"]
        return (("rw", None),)

    def apply(self, e, created=()):
        """Return the Owned record after mounting (or linking) entry `e` as livemount would."""
        if e.type == SYMLINK:
            self.link(e.target, e.source)
            return Owned(e, created=tuple(created))
        optional = ()
        if e.propagation == "shared":
            optional = ("shared:%d" % self.next_id,)
        if e.type == BIND:
            bind_rows = self.raw_rbind if e.recursive else self.raw_bind
            row = bind_rows(e.source, e.target, e.flags, optional)
        elif e.type == OVERLAY:
            layers = [("lowerdir+", p) for p in e.lower] + [("datadir+", p) for p in e.data]
            if e.upper:
                layers += [("upperdir", ovl_escape(e.upper)), ("workdir", ovl_escape(e.work))]
            row = self.raw_mount(e.target, OVERLAY, OVERLAY, flags=e.flags,
                                 super_options=(("rw", None),) + tuple(e.fs_options) + tuple(layers),
                                 optional=optional)
        else:
            row = self.raw_mount(e.target, e.type, e.source or e.type, flags=e.flags,
                                 super_options=(("rw", None),) + tuple(e.fs_options), optional=optional)
        live = self.table().by_id(row["mount_id"])
        return Owned(e, created=tuple(created)).seen_as(live)

    def unmount(self, target):
        """Return self after removing the top mount at `target` (and nothing below it)."""
        top = self.table().top(target)
        self.rows = [r for r in self.rows if r["mount_id"] != top.mount_id]
        return self

    def set_flags(self, target, flags):
        """Return self after changing the per-mount flags of the top mount at `target` (by hand)."""
        top = self.table().top(target)
        for r in self.rows:
            if r["mount_id"] == top.mount_id:
                r["mount_options"] = mount_options(flags)
        return self

    def world(self):
        """Return the World the planner would observe on this host."""
        return World(table=self.table(), facts=dict(self.facts), realpaths=dict(self.realpaths),
                     overlay_defaults=dict(self.overlay_defaults), namespace="mnt:[4026531841]")


def state(*owned, created=()):
    """Return a State owning `owned` (Owned records) with `created` paths."""
    return State("t", "mnt:[4026531841]", tuple(owned), tuple(created))


def steps(changes, keeps=True):
    """Return [(action, path)] of a plan; without `keeps` only the mutating changes."""
    return [(c.action.value, c.target) for c in changes
            if c.action != Action.CONFLICT and (keeps or c.action != Action.KEEP)]


def conflicts(changes):
    """Return the reasons of a plan's conflict changes."""
    return [c.reason for c in changes if c.action == Action.CONFLICT]


def replan(host, prof, owned_by_target, changes, created=()):
    """Return the next plan after pretending `changes` were applied on `host` (mounts stacked as planned).

    A tiny simulator good enough for "the second plan is empty" checks of
    plans that only mount, link and keep.
    """
    owned = dict(owned_by_target)
    for c in changes:
        if c.action in (Action.MOUNT, Action.LINK):
            owned[c.target] = host.apply(c.entry)
        elif c.action == Action.MKDIR:
            if c.file_point:
                host.file(c.path)
            else:
                host.dir(c.path)
        elif c.action == Action.KEEP and c.target not in owned:
            owned[c.target] = Owned(c.entry)
    return plan(state(*owned.values(), created=created), prof, host.world())


SOURCES = ("/s", "/s1", "/s2", "/a", "/b", "/c", "/d", "/e", "/u", "/l0", "/l1", "/l2", "/up", "/wk")


def scenario(S=(), D=(), dirs=(), files=(), pre=None, created=(), host=None, first=None):
    """Return (state, profile, world): the state entries `S` applied live on a host, desired `D`.

    The host has the usual source directories (SOURCES) plus `dirs` and
    `files`; `first(host)` mounts what is there before S (a source's own
    submounts); `pre(host)` then changes the live side by hand (drift,
    foreign mounts) before the world is observed.
    """
    host = host or Host()
    host.dir(*SOURCES).dir(*dirs).file(*files)
    if first is not None:
        first(host)
    owned = [host.apply(entry(m), created=()) for m in S]
    if pre is not None:
        pre(host)
    return state(*owned, created=created), profile(*D), host.world()


# ---- the fake Sys: canonical snapshots ---------------------------------------------------------------------------------
def canonical_table(text):
    """Return a mountinfo text as a nested tuple without ids or devices: what is mounted where, stacked how.

    Each mount is (mount point, fstype, source, root, flags, fs options,
    layers, propagation, children); children sorted, so only the shape of
    the tree counts, never the order mounts appeared or the numbers they got.
    """
    table = parse_mountinfo(text)

    def canon(m):
        kids = sorted((canon(c) for c in table.children(m)), key=repr)
        return (m.mount_point, m.fstype, m.source, m.root, tuple(sorted(m.flags)), m.fs_options,
                (m.lower, m.data, m.upper, m.work), m.propagation, tuple(kids))

    roots = [m for m in table.mounts if table.by_id(m.parent_id) is None]
    return tuple(canon(m) for m in roots)


def fs_snapshot(fake):
    """Return {path: (kind, mode, uid, gid, link)} of everything visible in a FakeSys namespace."""
    out = {}
    todo = ["/"]
    while todo:
        p = todo.pop()
        node = fake.ns.walk(p, "inner")[1]
        out[p] = (node.kind, node.mode, node.uid, node.gid, node.link)
        if node.kind == "dir":
            todo.extend(paths.join(p, name) for name in node.children)
    return out


def snapshot(fake):
    """Return (canonical table, visible files) of a FakeSys: equal snapshots mean nothing observable changed."""
    return canonical_table(fake.read_mountinfo()), fs_snapshot(fake)


def tree_bytes(root):
    """Return {relative path: bytes or 'dir <mode>'} of a real directory tree ({} when it does not exist)."""
    import os

    out = {}
    if not os.path.lexists(root):
        return out
    for dirpath, dirnames, filenames in os.walk(root):
        rel = os.path.relpath(dirpath, root)
        out[rel] = "dir %o" % os.lstat(dirpath).st_mode
        for name in filenames:
            with open(os.path.join(dirpath, name), "rb") as f:
                out[os.path.join(rel, name)] = f.read()
    return out


# ---- the fake Sys: a prepared world and crashes ------------------------------------------------------------------------
# Profiles A and B: applying B over A is the big plan of scenario 29 (test_executor.py).
PROFILE_A = {"name": "p", "mounts": [
    bind("/srv/a", "/data/m"),
    tmpfs("/data/m/x", "size=1m"),
    tmpfs("/data/t", "size=1m", "nosuid"),
    overlay("/data/o", ["/ovl/l1"], "/ovl/u", "/ovl/w"),
    symlink("/data/l", "/srv/a"),
    bind("/srv/conf", "/data/c", "ro"),
    tmpfs("/data/gone"),
]}
PROFILE_B = {"name": "p", "mounts": [
    bind("/srv/b", "/data/m"),  # replace, with its child redone
    tmpfs("/data/m/x", "size=2m"),
    tmpfs("/data/t", "size=4m", "nodev"),  # remount: flags and size
    overlay("/data/o", ["/ovl/l2", "/ovl/l1"], "/ovl/u", "/ovl/w"),  # replace: new layer, same upper
    symlink("/data/l", "/srv/b"),  # relink
    tmpfs("/data/n/deep/t"),  # mkdir chain
    bind("/srv/b", "/data/n/deep/t/b", "ro"),  # nested in a fresh tmpfs
    symlink("/data/n/ln", "/x"),
    tmpfs("/data/s", propagation="shared"),
    bind("/srv/a/file", "/data/f"),  # file bind
]}  # /data/c and /data/gone are removed


def fake_host():
    """Return a FakeSys with bind sources (/srv/a, /srv/b with x/, files), overlay layers and /data."""
    from tests.unit.fakesys import FakeSys

    fake = FakeSys()
    for d in ("/srv/a/x", "/srv/b/x", "/ovl/l1", "/ovl/l2", "/ovl/u", "/ovl/w", "/data"):
        fake.seed_dir(d)
    for f in ("/srv/a/file", "/srv/conf", "/ovl/l1/one", "/ovl/l2/two"):
        fake.seed_file(f)
    return fake


def fast_tmpdir():
    """Return a new private directory on a tmpfs when there is one (fsync there costs nothing), else in /tmp."""
    import os
    import tempfile

    shm = "/dev/shm"
    where = shm if os.path.isdir(shm) and os.access(shm, os.W_OK) else None
    return tempfile.mkdtemp(prefix="livemount-unit-", dir=where)


def clone_host(fake, root):
    """Return (copy of FakeSys `fake`, copy of state root `root`): a prepared world reused without re-applying."""
    import copy
    import shutil

    new_root = fast_tmpdir()
    shutil.copytree(root, new_root, dirs_exist_ok=True)
    return copy.deepcopy(fake), new_root


class Crash(BaseException):
    """The process died (SIGKILL) at a step: nothing after it runs, no except clause sees it."""


class CrashAt:
    """A Sys wrapper that raises Crash instead of performing its `n`-th step (counted from 1)."""

    def __init__(self, inner, n):
        from ansible_collections.livemount.core.plugins.module_utils.livemount.kernel.sysapi import MUTATING_CALLS

        self.inner = inner
        self.n = n
        self.count = 0
        self._mutations = frozenset(MUTATING_CALLS)

    def __getattr__(self, name):
        attr = getattr(self.inner, name)
        if name not in self._mutations:
            return attr

        def step(*args, **kwargs):
            self.count += 1
            if self.count == self.n:
                raise Crash("killed at step %d (%s)" % (self.n, name))
            return attr(*args, **kwargs)
        return step
