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
