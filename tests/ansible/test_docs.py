"""The modules' documentation renders with ansible-doc and matches what the modules accept."""

import importlib
import json
import os
import subprocess
import sys

import pytest

from ansible_collections.livemount.core.plugins.module_utils import args_common
from ansible_collections.livemount.core.plugins.module_utils.livemount.profile import ansible_spec

from . import playbook

ANSIBLE_DOC = os.path.join(os.path.dirname(sys.executable), "ansible-doc")
# Options the action plugin reads on the controller, on top of the profile and module options.
CONTROLLER_OPTIONS = {"src", "profile", "validate_only", "validate_all", "verify"}


def _doc(name, *args):
    proc = subprocess.run([ANSIBLE_DOC] + list(args) + [name], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True, env=dict(os.environ, ANSIBLE_NOCOLOR="1"), timeout=120)
    assert proc.returncode == 0 and "ERROR" not in proc.stderr, proc.stderr
    return proc.stdout


@pytest.mark.parametrize("module, words", [
    ("livemount.core.mount_profile", ["OPTIONS", "mounts", "state_dir", "validate_only", "EXAMPLES", "RETURN VALUES"]),
    ("livemount.core.mount_profile_info", ["OPTIONS", "profile_data", "EXAMPLES", "RETURN VALUES"]),
    ("livemount.core.overlay_changes_info", ["OPTIONS", "freeze", "collapse", "EXAMPLES", "RETURN VALUES"]),
    ("livemount.core.overlay_reset", ["OPTIONS", "discard", "force", "EXAMPLES", "RETURN VALUES"]),
], ids=["mount_profile", "mount_profile_info", "overlay_changes_info", "overlay_reset"])
def test_ansible_doc_renders(module, words):
    """ansible-doc prints the module's page with its options, examples and return values."""
    text = _doc(module)
    for word in words:
        assert word in text


def test_profile_fields_are_documented():
    """Every profile field, module option and controller-side option of mount_profile is documented.

    The exact match of docs and argspec (both ways) is validate-modules' job
    in the sanity phase; this checks the schema-derived part from here.
    """
    doc = json.loads(_doc("livemount.core.mount_profile", "--json"))["livemount.core.mount_profile"]["doc"]
    assert set(doc["options"]) >= set(ansible_spec.module_argument_spec()) | CONTROLLER_OPTIONS


def test_doc_fragment_is_fresh():
    """plugins/doc_fragments/profile.py is what scripts/gen_doc_fragment.py generates from the schema."""
    proc = subprocess.run([sys.executable, os.path.join(playbook.REPO, "scripts", "gen_doc_fragment.py"), "--check"])
    assert proc.returncode == 0, "run scripts/gen_doc_fragment.py: the doc fragment is stale"


@pytest.mark.parametrize("fragment, spec", [
    ("namespace", args_common.NAMESPACE_SPEC), ("state_dir", args_common.STATE_DIR_SPEC),
], ids=["namespace", "state_dir"])
def test_shared_fragment_documents_its_spec(fragment, spec):
    """A shared doc fragment documents exactly the options of its argspec in args_common, with their types."""
    import yaml

    module = importlib.import_module("ansible_collections.livemount.core.plugins.doc_fragments." + fragment)
    options = yaml.safe_load(module.ModuleDocFragment.DOCUMENTATION)["options"]
    assert {k: v["type"] for k, v in options.items()} == {k: v["type"] for k, v in spec.items()}
