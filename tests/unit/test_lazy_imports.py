"""What importing a part of livemount pulls in: the CLI's start-up stays lean.

Each probe runs in a fresh interpreter (this one has imported everything
already) and lists the modules loaded afterwards.
"""

import json
import os
import subprocess
import sys

import pytest

ENGINE = "ansible_collections.livemount.core.plugins.module_utils.livemount"

LIST_MODULES = "import json, sys\n%s\nprint(json.dumps(sorted(sys.modules)))\n"

HELP = """
from livemount_cli.main import main
try:
    main(["--help"])
except SystemExit:
    pass
"""


def _loaded(code):
    """Return the names of the modules loaded after running `code` in a fresh interpreter."""
    proc = subprocess.run([sys.executable, "-c", LIST_MODULES % code], env=dict(os.environ), capture_output=True,
                          text=True, check=True)
    return json.loads(proc.stdout.splitlines()[-1])


def test_help_loads_no_engine_rich_or_yaml():
    """`livemount --help` parses arguments only: no engine module, no rich, no YAML, no ctypes."""
    loaded = _loaded(HELP)
    heavy = [m for m in loaded if m.startswith((ENGINE, "rich", "yaml", "ctypes", "ansible"))]
    assert heavy == []
    assert "livemount_cli.cmd_apply" in loaded  # the probe did build the parser


# The planning half of the engine: pure functions of data, no system call anywhere below them.
PURE = ["plan", "order", "match", "mimic", "diff", "recover", "mountinfo", "profile.load", "overlay.plan"]


@pytest.mark.parametrize("module", PURE)
def test_planning_imports_no_ctypes(module):
    """Importing a planning module loads no ctypes: nothing it imports can make a system call."""
    loaded = _loaded("import %s.%s" % (ENGINE, module))
    assert "%s.%s" % (ENGINE, module) in loaded
    assert "ctypes" not in loaded


SHOW_JSON = """
import io, sys, tempfile
from livemount_cli.main import main
sys.stdout = io.StringIO()  # a pipe: one line of JSON, each mount written as its text
try:
    with tempfile.TemporaryDirectory() as state:
        assert main(["--state-dir", state, "show", "--json"]) == 0
finally:
    sys.stdout = sys.__stdout__
"""


def test_show_json_loads_no_planner():
    """`livemount show --json` reads the table and the states: no module of the planner (observe.py and below)."""
    loaded = _loaded(SHOW_JSON)
    assert "%s.inventory" % ENGINE in loaded  # the probe did show the table
    planner = ["%s.%s" % (ENGINE, m) for m in ("observe", "world", "overlay.rules", "mimic", "plan", "engine")]
    assert [m for m in planner if m in loaded] == []


VALIDATE = """
import os, sys, tempfile
from livemount_cli.main import main
with tempfile.TemporaryDirectory() as scratch:
    path = os.path.join(scratch, "p.yaml")
    with open(path, "w") as f:
        f.write("name: p\\nmounts:\\n  - {target: /data/t, type: tmpfs}\\n  - {target: /data/b, type: bind, source: /srv}\\n")
    sys.stdout = open(os.devnull, "w")
    try:
        assert main(["validate", path]) == 0
    finally:
        sys.stdout = sys.__stdout__
"""


def test_a_valid_profile_loads_no_difflib():
    """Validating a profile whose types the kernel knows imports no difflib: only a diff or a type-name suggestion
    (`did you mean tmpfs?`, test_fstypes.py) needs it."""
    loaded = _loaded(VALIDATE)
    assert "%s.profile.fstypes" % ENGINE in loaded  # the probe did check the types
    assert "difflib" not in loaded
