"""zip_import's path hook (plugins/module_utils/zip_import.py), run for real in fresh interpreters.

A zip laid out as AnsiballZ lays one out (the collection's packages, each
with its __init__.py, plus another package beside them) is put first on
sys.path of `python -I -S`, once as CPython imports it and once after
zip_import, on this interpreter and on the oldest one the modules support
(3.9, from pyenv when installed). After zip_import:

* the importer of each directory of ours inside the zip is CompileOnce (the
  hook really ran), and every other one (another package of the same zip,
  the zip's top, a directory on disk) is what CPython makes without it;
* every module and package has the same __file__, __path__, __spec__ origin,
  search locations, cached name and parent as without it;
* each engine file is compiled once (CPython compiles it twice).
"""

import glob
import json
import os
import subprocess
import sys
import zipfile

import pytest

import ansible_collections.livemount.core.plugins.module_utils as mu_pkg

MU_DIR = os.path.dirname(os.path.abspath(mu_pkg.__file__))
MU = "ansible_collections.livemount.core.plugins.module_utils"
NAMES = [MU + ".args_common", MU + ".livemount", MU + ".livemount.paths", MU + ".livemount.kernel",
         MU + ".livemount.kernel.sys_observe", MU + ".livemount.profile.forms", "other_pkg", "other_pkg.mod"]

PROBE = r"""
import builtins, collections, importlib, json, sys, zipimport
zip_path, disk, names, hooked = sys.argv[1], sys.argv[2], json.loads(sys.argv[3]), sys.argv[4] == "hooked"
sys.path.insert(0, zip_path)
compiled = collections.Counter()
real = builtins.compile
def counting(source, filename, *args, **kwargs):
    compiled[str(filename)] += 1
    return real(source, filename, *args, **kwargs)
if hooked:
    importlib.import_module("ansible_collections.livemount.core.plugins.module_utils.zip_import")
builtins.compile = counting
seen = {}
for name in names:
    m = importlib.import_module(name)
    s = m.__spec__
    seen[name] = {"file": m.__file__, "path": getattr(m, "__path__", None), "origin": s.origin,
                  "locations": s.submodule_search_locations, "cached": s.cached, "parent": s.parent,
                  "has_location": s.has_location, "loader_is_spec_loader": m.__loader__ is s.loader}
# A directory on disk holding a package of ours: the hook passes it on to the stock finders.
sys.path_importer_cache.pop(disk, None)
spec = importlib.machinery.PathFinder.find_spec(
    "ansible_collections.livemount.core.plugins.module_utils.livemount", [disk])
importers = {k: type(v).__name__ for k, v in sys.path_importer_cache.items()
             if k.startswith(zip_path) or k == disk}
importers["loader on disk"] = type(spec.loader).__name__
print(json.dumps({"seen": seen, "importers": importers, "compiled": compiled}))
"""


def _interpreters():
    """Return [(label, path)]: this Python, and 3.9 (the oldest the modules support) when pyenv has one."""
    out = [("this-python", sys.executable)]
    found = sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/3.9*/bin/python3.9")))
    if found:
        out.append(("python3.9", found[-1]))
    return out


@pytest.fixture(scope="module")
def payload(tmp_path_factory):
    """Return the path of a zip holding module_utils as AnsiballZ ships it, and another package beside it."""
    path = str(tmp_path_factory.mktemp("zip") / "ansible_modlib.zip")
    top = "ansible_collections/livemount/core/plugins/"
    with zipfile.ZipFile(path, "w") as zf:
        for pkg in ("ansible_collections", "ansible_collections/livemount", "ansible_collections/livemount/core",
                    top[:-1]):
            zf.writestr(pkg + "/__init__.py", "")
        for dirpath, _dirs, files in os.walk(MU_DIR):
            for name in sorted(files):
                if name.endswith(".py"):
                    full = os.path.join(dirpath, name)
                    zf.write(full, top + "module_utils/" + os.path.relpath(full, MU_DIR).replace(os.sep, "/"))
        zf.writestr("other_pkg/__init__.py", "")
        zf.writestr("other_pkg/mod.py", "X = 1\n")
    return path


@pytest.fixture(scope="module", params=_interpreters(), ids=lambda p: p[0])
def runs(request, payload):
    """Return {"stock": probe result, "hooked": probe result} on one interpreter."""
    out = {}
    for how in ("stock", "hooked"):
        proc = subprocess.run([request.param[1], "-I", "-S", "-c", PROBE, payload, MU_DIR,
                               json.dumps(NAMES), how], capture_output=True, text=True, timeout=120, cwd="/")
        assert proc.returncode == 0, proc.stderr[-3000:]
        out[how] = json.loads(proc.stdout)
    return out


def test_the_hook_makes_the_importers_of_our_directories_in_the_zip_only(runs, payload):
    """CompileOnce for module_utils and its packages inside the zip; the stock importer everywhere else."""
    ours = payload + "/ansible_collections/livemount/core/plugins/module_utils"
    got = runs["hooked"]["importers"]
    assert {k for k, v in got.items() if v == "CompileOnce"} == {
        ours, ours + "/livemount", ours + "/livemount/kernel", ours + "/livemount/profile"}
    assert {k: v for k, v in got.items() if v != "CompileOnce"} == {
        k: v for k, v in runs["stock"]["importers"].items() if not k.startswith(ours)}
    assert os.sep.join(("", "ansible_collections", "livemount", "core", "plugins", "")) in MU_DIR + os.sep
    assert got[MU_DIR] == "FileFinder" and got["loader on disk"] == "SourceFileLoader"
    assert set(runs["stock"]["importers"].values()) == {"zipimporter", "FileFinder", "SourceFileLoader"}


def test_every_module_has_the_file_and_spec_it_has_without_the_hook(runs, payload):
    """__file__, __path__ and __spec__ (origin, search locations, cached, parent) are CPython's own."""
    assert runs["hooked"]["seen"] == runs["stock"]["seen"]
    seen = runs["hooked"]["seen"]
    assert seen[MU + ".livemount"]["path"] == [payload + "/ansible_collections/livemount/core/plugins/module_utils/"
                                               "livemount"]
    assert seen[MU + ".livemount.paths"]["origin"].endswith("/module_utils/livemount/paths.py")
    assert seen[MU + ".livemount.paths"]["locations"] is None


def test_each_engine_file_is_compiled_once(runs, payload):
    """With the hook, every file of ours imported from the zip is compiled once; without it, twice."""
    ours = payload + "/ansible_collections/livemount/core/plugins/module_utils/"
    for how, times in (("hooked", {1}), ("stock", {2})):
        engine = {f: n for f, n in runs[how]["compiled"].items() if f.startswith(ours + "livemount/")}
        assert len(engine) >= 5 and set(engine.values()) == times, how
