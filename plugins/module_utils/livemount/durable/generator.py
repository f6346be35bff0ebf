"""livemount-generator: one instance of livemount@.service per enabled profile, made at boot from /etc/livemount.

systemd runs generators (systemd.generator(7)) very early at boot and on
every daemon-reload, before it loads units: `main(argv)` gets the output
directories and writes into the first (normal priority) one. Why a
generator rather than units written at `enable` time: the enabled copies in
/etc/livemount stay the only truth (a file restored from a backup or copied
by configuration management is picked up as it is), and the ordering is
derived from the profile as it is at each boot, never from a stale drop-in.

A generator must not fail the boot: a profile that cannot be read still gets
its instance, whose `livemount systemd apply` then fails with the reason in
the journal (`systemctl --failed` shows it); the generator reports it on
stderr too and exits 1.
"""

import os
import sys

from ..errors import LivemountError
from . import units
from .store import EnabledStore


def render(config, template_path):
    """Return ({relative path: text} of drop-ins, {relative path of a link: its target}, [problems])."""
    store = EnabledStore(config)
    files, links, problems = {}, {}, []
    try:
        names = store.names()
    except LivemountError as exc:
        return files, links, [str(exc)]
    loaded = {}
    for name in names:
        try:
            enabled = store.load(name)
            if enabled is not None:
                loaded[name] = (enabled, enabled.profile())
        except LivemountError as exc:
            problems.append(str(exc))
            loaded[name] = None
    targets = {n: [e.target for e in v[1].entries if e.is_mount] for n, v in loaded.items() if v is not None}
    for name, value in sorted(loaded.items()):
        unit = units.instance(name)
        data = value[0].profile_data if value is not None else None
        for link in units.links(name, data):
            links[link] = template_path
        if value is None:
            continue  # no drop-in: the instance runs with the template's defaults and fails, saying why
        others = {n: t for n, t in targets.items() if n != name}
        files["%s.d/%s" % (unit, units.DROPIN)] = units.dropin(name, value[1], data, value[0].path, others)
    return files, links, problems


def write(normal_dir, files, links):
    """Return None after writing the drop-ins and links under `normal_dir` (the directory systemd hands over)."""
    for rel, text in sorted(files.items()):
        path = os.path.join(normal_dir, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w", encoding="utf-8", errors="surrogateescape") as f:
            f.write(text)
    for rel, target in sorted(links.items()):
        path = os.path.join(normal_dir, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        if not os.path.lexists(path):
            os.symlink(target, path)


def main(argv, config, template_path):
    """Return the generator's exit status (0, or 1 when some enabled profile could not be read)."""
    if not argv:
        sys.stderr.write("livemount-generator: cannot generate units: no output directory given "
                         "(systemd passes three)\n")
        return 1
    files, links, problems = render(config, template_path)
    for problem in problems:
        sys.stderr.write("livemount-generator: %s\n" % problem)
    try:
        write(argv[0], files, links)
    except OSError as exc:
        sys.stderr.write("livemount-generator: cannot write units in %s: %s\n" % (argv[0], exc))
        return 1
    return 1 if problems else 0
