"""Print the project's requirements from pyproject.toml, one per line.

The dev venv gets the dependencies only (never the project itself, which runs
from the working tree): `python scripts/requirements.py dev | pip install -r /dev/stdin`.
Arguments name optional-dependency groups to add (e.g. `dev`).
"""

import os
import sys
import tomllib

PYPROJECT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "pyproject.toml")


def requirements(extras, path=PYPROJECT):
    """Return the runtime requirements plus those of the named extras, in order."""
    with open(path, "rb") as handle:
        project = tomllib.load(handle)["project"]
    wanted = list(project.get("dependencies", []))
    groups = project.get("optional-dependencies", {})
    for extra in extras:
        if extra not in groups:
            raise SystemExit("cannot read extra %r from %s: no such optional-dependencies group" % (extra, path))
        wanted.extend(groups[extra])
    return wanted


def main(argv):
    """Return 0 after printing the requirements for the extras named in argv."""
    for line in requirements(argv):
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
