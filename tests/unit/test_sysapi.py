"""The seam declares everything it is asked: hooks with defaults, Wrapper passing every one on, no probes."""

import ast
import errno
import inspect
from pathlib import Path

import pytest

from ansible_collections.livemount.core.plugins.module_utils.livemount.kernel import sysapi
from ansible_collections.livemount.core.plugins.module_utils.livemount.kernel.calls import FORMATS
from ansible_collections.livemount.core.plugins.module_utils.livemount.kernel.sys_classic import pending_bind
from ansible_collections.livemount.core.plugins.module_utils.livemount.kernel.sys_observe import features_of
from ansible_collections.livemount.core.plugins.module_utils.livemount.kernel.sysapi import (
    Features, Handle, Sys, Wrapper)
from ansible_collections.livemount.core.plugins.module_utils.livemount.errors import StateError, SysError
from tests.unit.fakesys import FakeSys

ENGINE = Path(__file__).resolve().parents[2] / "plugins" / "module_utils" / "livemount"
SEAM = sorted(n for n, v in vars(Sys).items() if callable(v) and not n.startswith("_"))
HOOKS = ["adapt_world", "facts", "features", "mountinfo_with_ids", "old_ids_of", "proc_fd", "target_record",
         "tmpfs_defaults"]
EXECUTOR = ["busy", "seed", "carry_wait"]  # apply.Executor's hooks, declared in its __init__


@pytest.mark.parametrize("release, beneath", [
    ("6.5.0", True), ("6.18.1-arch1-1", True), ("7.0", True), ("6.4.16-200.fc38.x86_64", False),
    ("5.15.0-91-generic", False), ("weird", False), ("6", False),
], ids=["6.5", "6.18", "7.0", "6.4", "5.15", "unparsable", "major-only"])
def test_features_of_release(release, beneath):
    """MOVE_MOUNT_BENEATH is there from Linux 6.5 on; a release that does not parse claims nothing."""
    assert features_of(release) == Features(beneath=beneath)


def test_hooks_have_defaults():
    """Every hook is declared on Sys with the answer of a Sys acting in its own namespace."""
    fake = FakeSys()
    assert [n for n in SEAM if not getattr(Sys, n).__dict__.get("__isabstractmethod__", False)] == HOOKS
    assert (Sys.proc_fd(fake), Sys.target_record(fake), Sys.features(fake)) == (None, None, Features())
    world = object()
    assert Sys.adapt_world(fake, world) is world


class _Changing(FakeSys):
    """A FakeSys whose table text changes each time it is read, `changes` times; its ids are listed from `ids`."""

    def __init__(self, changes, ids):
        super().__init__()
        self.changes, self.ids, self.reads = changes, ids, 0

    def read_mountinfo(self):
        self.reads += 1
        return "table %d\n" % min(self.reads, self.changes + 1)

    def mount_ids(self):
        return dict(self.ids)


@pytest.mark.parametrize("changes", [0, 1, 19])
def test_default_table_with_ids_reads_until_two_reads_agree(changes):
    """The default reads the text, lists the ids, reads again: the ids go with a text read twice the same."""
    fake = _Changing(changes, {1: 1 << 32})
    assert Sys.mountinfo_with_ids(fake) == ("table %d\n" % (changes + 1), {1: 1 << 32})
    assert fake.reads == changes + 2


def test_default_table_with_ids_gives_up_on_a_table_that_keeps_changing():
    """A table that changed TABLE_TRIES times in a row is EAGAIN, never a table without its ids."""
    with pytest.raises(SysError) as info:
        Sys.mountinfo_with_ids(_Changing(sysapi.TABLE_TRIES + 5, {1: 2}))
    assert info.value.errno == errno.EAGAIN and "changed %d times" % sysapi.TABLE_TRIES in str(info.value)


def test_default_table_with_ids_without_ids_reads_once():
    """A kernel that lists no ids: the text, read once, and None."""
    fake = _Changing(5, {})
    assert Sys.mountinfo_with_ids(fake) == ("table 1\n", None) and fake.reads == 1


def test_default_old_ids_of_looks_up_in_the_listing():
    """Each unique id's mountinfo id from mount_ids(), None for one not mounted; None when nothing is listed."""
    assert Sys.old_ids_of(_Changing(0, {4: 1 << 32, 5: (1 << 32) + 1}), [(1 << 32) + 1, 7]) == {(1 << 32) + 1: 5,
                                                                                                7: None}
    assert Sys.old_ids_of(_Changing(0, {}), [1 << 32]) is None


def test_a_wrapper_reads_the_text_itself_and_the_inner_sys_lists_the_ids():
    """A Wrapper that reads the table its own way (NamespaceSys, a failpoint) keeps doing so for the ids' text."""
    class Own(Wrapper):
        def read_mountinfo(self):
            return "own\n"

    assert Own(_Changing(3, {7: 9})).mountinfo_with_ids() == ("own\n", {7: 9})


class _Recorder:
    """An inner Sys that returns (name, args) for every call."""

    def __getattr__(self, name):
        return lambda *args: (name, args)


@pytest.mark.parametrize("name", SEAM)
def test_wrapper_passes_every_method_on(name):
    """Wrapper spells out every method of the seam and passes it, arguments unchanged, to the inner Sys."""
    assert name in vars(Wrapper), "Wrapper does not pass %s on: a wrapped Sys would answer the default" % name
    params = list(inspect.signature(getattr(Sys, name)).parameters)[1:]
    args = tuple("arg-%s" % p for p in params)
    assert getattr(Wrapper(_Recorder()), name)(*args) == (name, args)


def test_handles_say_whether_they_are_detached():
    """A Handle is a detached mount; the classic API's stand-in is not (it binds by path when attached)."""
    assert Handle(3, "tmpfs").detached is True
    assert pending_bind("/", False).detached is False


def _probes(path):
    """Return the getattr/hasattr calls on a seam name and isinstance checks of a Handle kind in `path`."""
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Name):
            continue
        args = node.args
        if node.func.id in ("getattr", "hasattr") and len(args) >= 2 and isinstance(args[1], ast.Constant) and (
                args[1].value in SEAM or args[1].value in EXECUTOR and "executor" in ast.unparse(args[0])):
            out.append("%s:%d: %s" % (path.name, node.lineno, ast.unparse(node)))
        if node.func.id == "isinstance" and len(args) == 2 and "PendingMount" in ast.unparse(args[1]):
            out.append("%s:%d: %s" % (path.name, node.lineno, ast.unparse(node)))
    return out


# The implementation itself knows its own Handle kinds.
_KNOWS_ITS_HANDLES = {"sys_linux.py"}


@pytest.mark.parametrize("path", sorted(ENGINE.rglob("*.py")), ids=lambda p: str(p.relative_to(ENGINE)))
def test_nobody_probes_the_seam(path):
    """No engine module asks a Sys or the executor for an undeclared hook, or a Handle what class it is."""
    found = _probes(path)
    if path.name in _KNOWS_ITS_HANDLES:
        found = [f for f in found if "PendingMount" not in f]
    assert found == []


def test_every_mutation_has_one_format():
    """calls.py names every mutation of the seam, each with the method's own parameters."""
    assert sorted(FORMATS) == sorted(sysapi.MUTATING_CALLS)
    for name, fmt in FORMATS.items():
        assert list(inspect.signature(fmt).parameters.items()) == list(
            inspect.signature(getattr(Sys, name)).parameters.items())[1:], name


@pytest.mark.parametrize("name, args", [
    ("read_mountinfo", ()), ("close", (None,)), ("__class__", ()), ("inner", ()), ("umount", "/t"),
], ids=["observation", "close", "dunder", "attribute", "args-not-a-list"])
def test_perform_refuses_what_is_no_mutation(name, args):
    """An operation from the journal is performed only when it names a declared mutation with a list of arguments."""
    fake = FakeSys()
    with pytest.raises(StateError, match="cannot perform .* from the journal: not a Sys mutation"):
        sysapi.perform(fake, name, args)
    assert fake.calls == []


def test_perform_calls_the_mutation():
    """A declared mutation is called with its arguments, as one step."""
    fake = FakeSys()
    fake.seed_dir("/t")
    sysapi.perform(fake, "mkdir", ["/t/x", 0o755, 0, 0])
    assert fake.calls == ['mkdir "/t/x" 0o755 0 0']


def test_default_facts_are_lstat_without_emptiness():
    """Sys.facts: each path's lstat(), `empty` left None (what a plan reads; only a fingerprint records emptiness)."""
    fake = FakeSys()
    fake.seed_dir("/srv/data")
    fake.seed_dir("/srv/full/x")
    paths = ["/srv/data", "/srv/full", "/srv/nothing"]
    got = Sys.facts(fake, paths)
    assert list(got) == paths
    for p in paths:
        want = fake.lstat(p)
        assert got[p].empty is None and got[p].kind == want.kind and got[p].identity == want.identity
