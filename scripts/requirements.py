"""Print the project's requirements from pyproject.toml, one per line, or the digest a lock file records.

    python scripts/requirements.py dev             # dependencies plus the `dev` extra, as pip lines
    python scripts/requirements.py --digest dev    # sha256 of what requirements/dev-pyX.Y.lock was made from

The dev venv is installed from the lock, never from these ranges (see
docs/development.md); the digest lets `scripts/livemount-dev` tell a lock
made from an older pyproject.toml. bench/run_all.py uses the plain list.
Arguments name optional-dependency groups to add (e.g. `dev`).
"""

import hashlib
import os
import sys
import tomllib

PYPROJECT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "pyproject.toml")


def _pyproject(path):
    with open(path, "rb") as handle:
        return tomllib.load(handle)


def requirements(extras, path=PYPROJECT):
    """Return the runtime requirements plus those of the named extras, in order."""
    project = _pyproject(path)["project"]
    wanted = list(project.get("dependencies", []))
    groups = project.get("optional-dependencies", {})
    for extra in extras:
        if extra not in groups:
            raise SystemExit("cannot read extra %r from %s: no such optional-dependencies group" % (extra, path))
        wanted.extend(groups[extra])
    return wanted


def digest(extras, path=PYPROJECT):
    """Return "sha256:HEX" of every requirement a lock is made from: these, plus build-system.requires."""
    build = _pyproject(path).get("build-system", {}).get("requires", [])
    lines = sorted(set(requirements(extras, path)) | {"build: " + r for r in build})
    return "sha256:" + hashlib.sha256("\n".join(lines).encode()).hexdigest()


def main(argv):
    """Return 0 after printing the requirements (or their digest, with --digest) for the extras named in argv."""
    if argv[:1] == ["--digest"]:
        print(digest(argv[1:]))
        return 0
    for line in requirements(argv):
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
