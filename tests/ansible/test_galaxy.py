"""The collection as Galaxy and AWX/AAP users get it: the built artifact, its docs, its execution environment.

galaxy-importer, ansible-lint and ansible-test run on the same artifact in
the `galaxy` and `sanity` test phases; these tests pin what those tools do
not look at: links that work inside the artifact, a role README that says
what meta/argument_specs.yml says, and an execution environment build
context made by `ansible-builder create` (it needs no container engine)
whose introspection step reads the collection's meta/execution-environment.yml.
"""

import os
import re
import subprocess
import sys
import tarfile

import pytest
import yaml

from . import playbook

BIN = os.path.dirname(sys.executable)
REPO_URL = "https://github.com/livemount/livemount/blob/main/"
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


@pytest.fixture(scope="module")
def artifact(tmp_path_factory):
    """Return the path of the collection tarball `ansible-galaxy collection build` makes of the working tree."""
    out = tmp_path_factory.mktemp("artifact")
    subprocess.run([os.path.join(BIN, "ansible-galaxy"), "collection", "build", "--force", "--output-path",
                    str(out), playbook.REPO], check=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    (tarball,) = out.glob("livemount-core-*.tar.gz")
    return str(tarball)


def _members(tarball):
    with tarfile.open(tarball) as tar:
        return {m.name: tar.extractfile(m).read().decode("utf-8") if m.name.endswith(".md") else None
                for m in tar.getmembers() if m.isfile()}


def test_every_link_in_the_artifact_works(artifact):
    """Every Markdown link in the artifact points into the artifact, or to a file of the repository on GitHub."""
    members = _members(artifact)
    docs = [name for name in members if name.endswith(".md")]
    assert {"README.md", "CHANGELOG.md", "roles/mounts/README.md"} <= set(docs)
    for name in docs:
        for link in LINK.findall(members[name]):
            target = link.split("#")[0]
            if link.startswith(REPO_URL):
                assert os.path.exists(os.path.join(playbook.REPO, target[len(REPO_URL):])), (name, link)
            elif not re.match(r"[a-z]+:", link) and target:
                inside = os.path.normpath(os.path.join(os.path.dirname(name), target))
                assert inside in members, "%s links to %s, which the artifact does not hold" % (name, link)


def test_role_readme_documents_every_argument(artifact):
    """roles/mounts/README.md lists exactly the options of meta/argument_specs.yml, with their types and defaults."""
    members = _members(artifact)
    with open(os.path.join(playbook.REPO, "roles", "mounts", "meta", "argument_specs.yml")) as f:
        options = yaml.safe_load(f)["argument_specs"]["main"]["options"]
    rows = {m.group(1): (m.group(2), m.group(3)) for m in re.finditer(
        r"^\| `(\w+)` \| ([^|]+?) \| `([^`]*)` \|", members["roles/mounts/README.md"], re.M)}
    assert set(rows) == set(options)
    for name, spec in options.items():
        kind, default = rows[name]
        assert kind.split()[0] == spec["type"], name
        assert yaml.safe_load(default or '""') == spec["default"], name


def test_execution_environment_build_context(scratch, artifact):
    """ansible-builder create makes a context from a user's EE file naming livemount.core, unedited; the
    introspection step of its build reads our meta/execution-environment.yml and adds no requirement
    the base image lacks (the controller side needs only ansible-core and PyYAML)."""
    introspect = pytest.importorskip("ansible_builder._target_scripts.introspect",
                                     reason="ansible-builder is a dev tool (not in the latest phase's venv)")
    ee = os.path.join(playbook.HERE, "ee")
    ctx = os.path.join(scratch, "context")
    subprocess.run([os.path.join(BIN, "ansible-builder"), "create", "-f", os.path.join(ee, "execution-environment.yml"),
                    "-c", ctx, "--output-filename", "Containerfile"], check=True, cwd=ee,
                   stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    with open(os.path.join(ctx, "_build", "requirements.yml")) as f:
        assert yaml.safe_load(f) == {"collections": [{"name": "livemount.core"}]}
    with open(os.path.join(ctx, "Containerfile")) as f:
        containerfile = f.read()
    assert "ansible-galaxy collection install" in containerfile and "introspect" in containerfile
    # The build installs the collection, then introspects what is installed: do the same here.
    cols = os.path.join(scratch, "collections")
    subprocess.run([os.path.join(BIN, "ansible-galaxy"), "collection", "install", "--force", "-p", cols, artifact],
                   check=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    data = introspect.process(data_dir=cols)
    with open(os.path.join(playbook.REPO, "meta", "ee-requirements.txt")) as f:
        ours = [line for line in f.read().splitlines() if line and not line.startswith("#")]
    assert data["python"]["livemount.core"] == ours
    assert "livemount.core" not in data["system"]
    assert introspect.filter_requirements(data["python"]) == []
    pip = os.path.join(scratch, "pip.txt")
    out = subprocess.run([os.path.join(BIN, "ansible-builder"), "introspect", cols, "--write-pip", pip],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True)
    assert out.returncode == 0, out.stderr
    assert yaml.safe_load(out.stdout.split("---", 1)[1]) == {"python": [], "system": []}
