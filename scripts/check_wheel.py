"""Check a built livemount wheel: the collection, the command, nothing dev-only.

Usage: python scripts/check_wheel.py dist/livemount-*.whl
Prints one line per problem and `package: N passed, N failed` last.
"""

import configparser
import sys
import zipfile

COLLECTION = "ansible_collections/livemount/core/"
REQUIRED = (
    COLLECTION + "galaxy.yml",
    COLLECTION + "meta/runtime.yml",
    COLLECTION + "plugins/module_utils/livemount/__init__.py",
    COLLECTION + "plugins/module_utils/livemount/model.py",
    "livemount_cli/__init__.py",
    "livemount_cli/main.py",
)
FORBIDDEN_PREFIXES = ("tests/", "scripts/", "molecule/", "bench/", "cli/", COLLECTION + "setup.py", "setup.py")
SCRIPT, TARGET = "livemount", "livemount_cli.main:run"


def problems(wheel):
    """Return the list of problems found in the wheel at path `wheel`."""
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        entry_points = configparser.ConfigParser()
        for name in names:
            if name.endswith(".dist-info/entry_points.txt"):
                entry_points.read_string(archive.read(name).decode())
    found = ["missing %s" % name for name in REQUIRED if name not in names]
    found += ["dev-only file shipped: %s" % name for name in sorted(names) if name.startswith(FORBIDDEN_PREFIXES)]
    if entry_points.get("console_scripts", SCRIPT, fallback=None) != TARGET:
        found.append("console script %s does not point at %s" % (SCRIPT, TARGET))
    return found


def main(argv):
    """Return 0 when exactly one wheel was given and it has no problems, else 1."""
    if len(argv) != 1:
        print("cannot check wheel: expected one wheel path, got %d" % len(argv))
        return 1
    found = problems(argv[0])
    for problem in found:
        print("cannot accept %s: %s" % (argv[0], problem))
    print("package: %d passed, %d failed" % (0 if found else 1, 1 if found else 0))
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
