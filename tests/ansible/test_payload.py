"""What each module's AnsiballZ payload ships, built by ansible-core's own finder.

ansible-core sends a module to the host as a zip of the module and every
module_utils file it imports (executor/module_common.py recursive_finder:
relative imports resolved by level, every ancestor package's __init__.py
added). The engine is nested packages (kernel/, overlay/, profile/), so a
missing __init__.py or an import the finder cannot see fails here, not on a
user's host:

* the engine files in the payload are exactly those an independent walk of
  the imports (every import statement, in functions too) reaches, and every
  package on the way has its __init__.py;
* every shipped engine module imports from the payload alone (python -I -S:
  no site-packages, the zip first on sys.path);
* after zip_import (each module imports it first), each engine file is
  compiled once, not twice as by CPython's zipimporter, and names the same
  file.

recursive_finder is not public API: the probe adapts to the parameters it
knows (ansible-core 2.16 to 2.21) and skips, saying why, where they differ.
"""

import ast
import json
import os
import subprocess
import sys

import pytest

import ansible_collections.livemount.core.plugins.modules as modules_pkg

MODULES_DIR = os.path.dirname(os.path.abspath(modules_pkg.__file__))
ROOT = os.path.abspath(os.path.join(MODULES_DIR, *[os.pardir] * 5))  # holds ansible_collections/
MODULES = sorted(f[:-3] for f in os.listdir(MODULES_DIR) if f.endswith(".py") and f != "__init__.py")
MODULE_UTILS = "ansible_collections.livemount.core.plugins.module_utils"
MU_DIR = "ansible_collections/livemount/core/plugins/module_utils/"

# Runs in a fresh interpreter: the collection loader ansible-playbook installs, then the finder.
BUILD = r"""
import datetime, inspect, io, json, sys, zipfile

root, path, out = sys.argv[1:4]
try:
    import ansible
    from ansible.executor import module_common as mc
    from ansible.plugins.loader import init_plugin_loader
except ImportError as exc:
    print(json.dumps({"skip": "cannot import ansible-core's module builder: %s" % exc}))
    sys.exit(0)
init_plugin_loader([root])
params = inspect.signature(mc.recursive_finder).parameters
known = {"name", "module_fqn", "module_data", "zf", "date_time", "extension_manager"}
unknown = [p for p in params if p not in known]
if unknown:
    print(json.dumps({"skip": "ansible-core %s: recursive_finder takes %s, which this test does not know"
                              % (ansible.__version__, ", ".join(unknown))}))
    sys.exit(0)
kwargs = {}
if "date_time" in params:
    kwargs["date_time"] = datetime.datetime.now(datetime.timezone.utc)
if "extension_manager" in params:
    kwargs["extension_manager"] = mc._builder.ExtensionManager.create(task_vars={})
fqn = mc._get_ansible_module_fqn(path)
with open(path, "rb") as f:
    data = f.read()
buf = io.BytesIO()
with zipfile.ZipFile(buf, "w") as zf:
    mc.recursive_finder(fqn.rsplit(".", 1)[-1], fqn, data, zf, **kwargs)
with open(out, "wb") as f:
    f.write(buf.getvalue())
print(json.dumps({"version": ansible.__version__, "files": sorted(zipfile.ZipFile(buf).namelist())}))
"""

# Runs with the payload alone (python -I -S): import every shipped module of ours, say where it came from.
IMPORT = r"""
import importlib, json, sys
sys.path.insert(0, sys.argv[1])
where, errors = {}, {}
for name in json.loads(sys.argv[2]):
    try:
        where[name] = importlib.import_module(name).__file__
    except BaseException as exc:
        errors[name] = "%s: %s" % (type(exc).__name__, exc)
print(json.dumps({"where": where, "errors": errors}))
"""


# Runs with the payload alone: import every shipped module of ours, counting compile() calls per file of the zip.
COMPILES = r"""
import builtins, collections, importlib, json, sys
zip_path, names, once = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3] == "once"
sys.path.insert(0, zip_path)
if once:
    importlib.import_module("ansible_collections.livemount.core.plugins.module_utils.zip_import")
compiled = collections.Counter()
real = builtins.compile
def counting(source, filename, *args, **kwargs):
    if str(filename).startswith(zip_path):
        compiled[str(filename)] += 1
    return real(source, filename, *args, **kwargs)
builtins.compile = counting
where = {n: importlib.import_module(n).__file__ for n in names}
print(json.dumps({"where": where, "compiled": compiled}))
"""


def _file_of(name):
    """Return the path (relative to ROOT) of module or package `name`, or None when no file holds it."""
    base = os.path.join(*name.split("."))
    for rel in (base + ".py", os.path.join(base, "__init__.py")):
        if os.path.isfile(os.path.join(ROOT, rel)):
            return rel
    return None


def _imported(rel):
    """Return the dotted names that the file `rel` imports anywhere (candidates: `from p import x` gives p and p.x)."""
    name = rel[:-3].replace(os.sep, ".")
    package = name[:-len(".__init__")] if name.endswith(".__init__") else name.rsplit(".", 1)[0]
    with open(os.path.join(ROOT, rel), encoding="utf-8") as f:
        tree = ast.parse(f.read(), rel)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[:len(parts) - node.level + 1] + ([node.module] if node.module else []))
            else:
                base = node.module
            yield base
            for alias in node.names:
                yield base + "." + alias.name


def expected_files(module):
    """Return ({module_utils files the module needs}, [missing __init__.py]), by walking every import."""
    start = os.path.join("ansible_collections", "livemount", "core", "plugins", "modules", module + ".py")
    todo, seen, missing = [start], set(), []
    while todo:
        rel = todo.pop()
        for name in _imported(rel):
            if not (name + ".").startswith(MODULE_UTILS + "."):
                continue
            found = _file_of(name)
            if found is None or found in seen:
                continue  # an attribute (`from pkg import function`), or done already
            seen.add(found)
            todo.append(found)
            parts = name.split(".")
            for i in range(len(MODULE_UTILS.split(".")), len(parts)):
                init = os.path.join(*parts[:i] + ["__init__.py"])
                if not os.path.isfile(os.path.join(ROOT, init)):
                    missing.append(init)
                elif init not in seen:
                    seen.add(init)
                    todo.append(init)
    return {p.replace(os.sep, "/") for p in seen}, sorted(set(missing))


@pytest.fixture(scope="module")
def payloads(tmp_path_factory):
    """Return {module: (ansible-core version, [files in its payload], zip path)}, built once per module."""
    out = {}
    tmp = tmp_path_factory.mktemp("payloads")
    for module in MODULES:
        zip_path = str(tmp / (module + ".zip"))
        proc = subprocess.run([sys.executable, "-c", BUILD, ROOT, os.path.join(MODULES_DIR, module + ".py"), zip_path],
                              capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr[-3000:]
        doc = json.loads(proc.stdout.splitlines()[-1])
        if "skip" in doc:
            pytest.skip(doc["skip"])
        out[module] = (doc["version"], doc["files"], zip_path)
    return out


@pytest.mark.parametrize("module", MODULES)
def test_payload_ships_exactly_the_engine_files_the_module_imports(payloads, module):
    """The finder ships every module_utils file the module reaches through its imports, with each
    package's __init__.py, and nothing else of ours."""
    version, files, _ = payloads[module]
    want, missing = expected_files(module)
    assert missing == [], "packages without __init__.py: AnsiballZ cannot ship them as packages"
    shipped = {f for f in files if f.startswith(MU_DIR)}
    assert shipped == want, "ansible-core %s: shipped but not imported: %s; imported but not shipped: %s" % (
        version, sorted(shipped - want), sorted(want - shipped))
    # The walk found the engine through the module: the entry point and the package root are there.
    assert MU_DIR + "livemount/__init__.py" in shipped


@pytest.mark.parametrize("module", MODULES)
def test_payload_engine_imports_from_the_zip_alone(payloads, module):
    """Every engine module in the payload imports with nothing but the payload and the standard library."""
    _, files, zip_path = payloads[module]
    names = [f[:-3].replace("/", ".").replace(".__init__", "") for f in files if f.startswith(MU_DIR)]
    proc = subprocess.run([sys.executable, "-I", "-S", "-c", IMPORT, zip_path, json.dumps(names)],
                          capture_output=True, text=True, timeout=300, cwd="/")
    assert proc.returncode == 0, proc.stderr[-3000:]
    doc = json.loads(proc.stdout.splitlines()[-1])
    assert doc["errors"] == {}
    assert {n: w for n, w in doc["where"].items() if not w.startswith(zip_path + os.sep)} == {}


@pytest.mark.parametrize("module", MODULES)
def test_payload_engine_compiles_once_after_zip_import(payloads, module):
    """With zip_import imported first, as every module does, each engine file of the zip is compiled once and
    has the __file__ it has without it (CPython's zipimporter compiles each twice: get_filename, then get_code)."""
    _, files, zip_path = payloads[module]
    names = [f[:-3].replace("/", ".").replace(".__init__", "") for f in files if f.startswith(MU_DIR)]
    names = [n for n in names if not n.endswith(".zip_import")]
    docs = {}
    for how in ("once", "stock"):
        proc = subprocess.run([sys.executable, "-I", "-S", "-c", COMPILES, zip_path, json.dumps(names), how],
                              capture_output=True, text=True, timeout=300, cwd="/")
        assert proc.returncode == 0, proc.stderr[-3000:]
        docs[how] = json.loads(proc.stdout.splitlines()[-1])
    assert docs["once"]["where"] == docs["stock"]["where"]
    engine = {f: n for f, n in docs["once"]["compiled"].items() if "/module_utils/livemount/" in f}
    assert len(engine) > 10 and {f: n for f, n in engine.items() if n != 1} == {}
