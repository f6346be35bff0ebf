"""The modules' code cache (module_utils/code_cache.py): what a run that may write keeps, later runs load.

Compiled code is kept only by keep(), under the running user's own
directory nobody else may write to, named by the source it was compiled
from; anything else there is never loaded.
"""

import os
import subprocess
import sys
import textwrap
import time
import zipfile

import pytest

from ansible_collections.livemount.core.plugins.module_utils import code_cache

SOURCE = b"VALUE = 6 * 7\n"


def _next_run(monkeypatch):
    """Start another run in this process: nothing compiled or looked up yet, the directory not opened."""
    monkeypatch.setattr(code_cache, "_compiled", {})
    monkeypatch.setattr(code_cache, "_used", set())
    monkeypatch.setattr(code_cache, "_reader", [])


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """Return the cache directory of a fresh run (not made yet; its parent is the test's own)."""
    path = tmp_path / "code"
    monkeypatch.setenv("LIVEMOUNT_CODE_CACHE", str(path))
    _next_run(monkeypatch)
    monkeypatch.setattr(sys, "dont_write_bytecode", False)
    return path


def _no_compiling(monkeypatch):
    def refuse(*_args, **_kw):
        raise AssertionError("compiled: the cache was not used")
    monkeypatch.setattr(code_cache, "compile", refuse, raising=False)


def _value(code):
    scope = {}
    exec(code, scope)  # pylint: disable=exec-used
    return scope["VALUE"]


def test_a_run_that_keeps_lets_the_next_load_without_compiling(cache, monkeypatch):
    """Compiled, kept (a 0700 directory, 0600 files), then loaded by the next run instead of compiled."""
    assert _value(code_cache.code_of("m", SOURCE, "/zip/m.py")) == 42
    assert not cache.exists(), "nothing is written before keep()"
    code_cache.keep()
    assert oct(cache.stat().st_mode & 0o777) == "0o700"
    files = list(cache.iterdir())
    assert len(files) == 1 and oct(files[0].stat().st_mode & 0o777) == "0o600"
    _next_run(monkeypatch)
    _no_compiling(monkeypatch)
    assert _value(code_cache.code_of("m", SOURCE, "/zip/m.py")) == 42


def test_a_run_that_does_not_keep_writes_nothing(cache):
    """Check mode never calls keep(): compiling leaves no directory, no file."""
    code_cache.code_of("m", SOURCE, "/zip/m.py")
    assert not cache.exists()


@pytest.mark.parametrize("name, source", [("m", b"VALUE = 1\n"), ("other", SOURCE)], ids=["changed source",
                                                                                          "another module"])
def test_other_source_or_another_module_never_loads_kept_code(cache, monkeypatch, name, source):
    """A kept file is found by its module's name and exact source only: a changed engine compiles afresh."""
    code_cache.code_of("m", SOURCE, "/zip/m.py")
    code_cache.keep()
    _next_run(monkeypatch)
    code_cache.code_of(name, source, "/zip/%s.py" % name)
    assert len(code_cache._compiled) == 1


def _kept(cache, monkeypatch):
    code_cache.code_of("m", SOURCE, "/zip/m.py")
    code_cache.keep()
    _next_run(monkeypatch)
    return next(cache.iterdir())


@pytest.mark.parametrize("damage", ["torn", "other data", "other Python", "group-writable file",
                                    "someone else's file", "group-writable directory", "someone else's directory",
                                    "a symlinked directory"])
def test_a_kept_file_not_trusted_or_not_whole_is_compiled_again(cache, monkeypatch, tmp_path, damage):
    """What is not the running user's own, or does not load, is never used: the source is compiled."""
    f = _kept(cache, monkeypatch)
    data = f.read_bytes()
    if damage == "torn":
        f.write_bytes(data[:len(data) // 2])
    elif damage == "other data":
        f.write_bytes(data[:len(code_cache._HEADER)] + b"\x00garbage")
    elif damage == "other Python":
        f.write_bytes(b"livemount-code\0\x00\x00\r\n" + data[len(code_cache._HEADER):])
    elif damage == "group-writable file":
        f.chmod(0o620)
    elif damage == "someone else's file":
        os.chown(f, 65534, 65534)
    elif damage == "group-writable directory":
        cache.chmod(0o770)
    elif damage == "someone else's directory":
        os.chown(cache, 65534, 65534)
    else:
        real = tmp_path / "real"
        cache.rename(real)
        cache.symlink_to(real)
    assert _value(code_cache.code_of("m", SOURCE, "/zip/m.py")) == 42
    assert code_cache._compiled, "the damaged or untrusted file was loaded"


@pytest.mark.parametrize("how", ["LIVEMOUNT_CODE_CACHE empty", "dont_write_bytecode"])
def test_turned_off_nothing_is_kept(cache, monkeypatch, how):
    """LIVEMOUNT_CODE_CACHE='' turns the cache off; Python told not to write bytecode writes none here either."""
    if how == "dont_write_bytecode":
        monkeypatch.setattr(sys, "dont_write_bytecode", True)
    else:
        monkeypatch.setenv("LIVEMOUNT_CODE_CACHE", "")
    code_cache.code_of("m", SOURCE, "/zip/m.py")
    code_cache.keep()
    assert not cache.exists()


def test_keep_removes_only_files_unused_for_a_week(cache, monkeypatch):
    """Files no run used for UNUSED_FOR go; one this run used stays however old, and a recent one stays."""
    f = _kept(cache, monkeypatch)
    stale, recent = cache / ("0" * 64), cache / ("1" * 64)
    stale.write_bytes(b"x")
    recent.write_bytes(b"x")
    old = time.time() - code_cache.UNUSED_FOR - 60
    for p in (stale, f):
        os.utime(p, (old, old))
    code_cache.code_of("m", SOURCE, "/zip/m.py")
    code_cache.keep()
    assert sorted(p.name for p in cache.iterdir()) == sorted([f.name, recent.name])


def test_a_cache_that_cannot_be_written_is_no_error(cache, monkeypatch):
    """A parent that is a file (or read-only, or full): keep() gives up quietly, the run goes on."""
    monkeypatch.setenv("LIVEMOUNT_CODE_CACHE", str(cache / "sub" / "code"))
    cache.write_text("a file where the cache's parent should be")
    code_cache.code_of("m", SOURCE, "/zip/m.py")
    code_cache.keep()
    assert cache.is_file()


PACKAGE = "ansible_collections/livemount/core/plugins/module_utils/"


def test_modules_from_a_zip_load_what_an_earlier_run_kept(tmp_path):
    """Through zip_import's importer, as AnsiballZ runs a module: the second process compiles nothing of ours."""
    if sys.version_info < (3, 10):
        pytest.skip("Python 3.9's zipimport loads without get_code: nothing is cached there (code_cache.py)")
    payload = tmp_path / "payload.zip"
    here = os.path.dirname(code_cache.__file__)
    with zipfile.ZipFile(payload, "w") as z:
        for d in ("ansible_collections/", "ansible_collections/livemount/", "ansible_collections/livemount/core/",
                  "ansible_collections/livemount/core/plugins/", PACKAGE):
            z.writestr(d + "__init__.py", "")
        for name in ("zip_import.py", "code_cache.py"):
            z.write(os.path.join(here, name), PACKAGE + name)
        z.writestr(PACKAGE + "probe/__init__.py", "")
        z.writestr(PACKAGE + "probe/answer.py", "VALUE = 6 * 7\n")
    run = textwrap.dedent("""
        import sys
        sys.path.insert(0, sys.argv[1])
        from ansible_collections.livemount.core.plugins.module_utils import code_cache, zip_import
        from ansible_collections.livemount.core.plugins.module_utils.probe import answer
        assert answer.VALUE == 42
        print(len(code_cache._compiled))
        if sys.argv[2] == "keep":
            zip_import.keep_compiled()
    """)
    env = dict(os.environ, LIVEMOUNT_CODE_CACHE=str(tmp_path / "code"), PYTHONPATH="")
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # as Ansible runs a module: keep() writes

    def compiled(mode):
        out = subprocess.run([sys.executable, "-c", run, str(payload), mode], env=env, capture_output=True,
                             text=True, check=True)
        return int(out.stdout)

    assert compiled("check") == 2  # probe/__init__ and probe/answer: compiled, not kept
    assert not (tmp_path / "code").exists()
    assert compiled("keep") == 2
    assert compiled("check") == 0


@pytest.mark.parametrize("value", ["", "relative/code"], ids=["empty", "a relative path"])
def test_only_an_absolute_directory_is_a_cache(cache, monkeypatch, value):
    """LIVEMOUNT_CODE_CACHE empty or relative (to whatever directory a module runs in): no cache at all."""
    monkeypatch.setenv("LIVEMOUNT_CODE_CACHE", value)
    assert code_cache.where() == ""
