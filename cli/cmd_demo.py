"""livemount demo: the whole story in a throwaway private mount namespace.

Plan, apply, a second apply with nothing to do, drift (an unmount and a
remount done by hand) and its repair, a live option change that keeps the
files, what an overlay changed, a reset of one path, a live layer change
with a process inside the overlay (demo_overlay.py), destroy, and a host
directory injected live into a running stand-in container (its own mount
and PID namespace) and taken out again (demo_container.py). The host's
mount table is never touched: the process first moves into a new mount
namespace with private propagation.
"""

import os

SAMPLE = """\
name: demo
description: the livemount demo profile
mounts:
  - {target: ROOT/srv/app/data, type: bind, source: ROOT/data/app}
  - {target: ROOT/srv/app/config, type: bind, source: ROOT/data/config, options: [ro, nosuid, nodev]}
  - {target: ROOT/srv/app/cache, type: tmpfs, options: [size=16m, mode=0755]}
  - {target: ROOT/srv/app/cache/shared, type: bind, source: ROOT/data/shared}
  - {target: ROOT/srv/app/root, type: overlay, lower: [ROOT/layers/app, ROOT/layers/base],
     upper: ROOT/var/upper, work: ROOT/var/work}
  - {target: ROOT/srv/app/bin/tool, type: symlink, source: ROOT/opt/tool/bin/tool}
"""


def add_arguments(p):
    """Add this command's options."""
    p.add_argument("--keep", action="store_true", help="print the scratch directory and do not clean it")


def run(args, out):
    """Return 0 after running every demo step; 1 if any step did not do what it shows."""
    from ansible_collections.livemount.core.plugins.module_utils.livemount.kernel.namespace import (
        enter_private_namespace)
    from ansible_collections.livemount.core.plugins.module_utils.livemount.kernel.real import real_system

    from .common import check_root

    check_root()
    enter_private_namespace()
    # A short fixed root reads well in the output; the tmpfs on it exists only in our namespace.
    root = "/tmp/livemount-demo"
    os.makedirs(root, exist_ok=True)
    system = real_system()
    scratch = system.create_fs("tmpfs", "livemount-demo", [("size", "64m"), ("mode", "755")])
    system.attach(scratch, root)
    system.close(scratch)
    try:
        return _story(out, root, system)
    finally:
        if not args.keep:
            system.umount(root, True)
            os.rmdir(root)


def _story(out, root, system):
    from ansible_collections.livemount.core.plugins.module_utils.livemount import engine
    from ansible_collections.livemount.core.plugins.module_utils.livemount.profile import load as profile_mod

    # Tables read at 80 columns when the demo root is left out of every path shown.
    out.relative_to = root
    _populate(root)
    text = SAMPLE.replace("ROOT", root)
    path = os.path.join(root, "demo.yml")
    with open(path, "w") as f:
        f.write(text)
    state_dir = os.path.join(root, "state")
    load = lambda t: profile_mod.load_profile(profile_mod.load_profile_text(t, path))  # noqa: E731
    prof = load(text)

    out.heading("1. The profile")
    out.info("paths below are shown relative to %s (a scratch tmpfs); the profile file is %s" % (root, path))
    out.text(out.short(text) + "\n")
    out.heading("2. livemount plan: what would change (nothing is touched)")
    out.plan(engine.reconcile(prof, system, root=state_dir, check=True))
    out.heading("3. livemount apply, then livemount show --tree")
    _apply(out, engine, prof, system, state_dir)
    _live(out, system, root, state_dir)
    out.heading("4. livemount apply again: zero changes")
    again = engine.reconcile(prof, system, root=state_dir)
    out.plan(again, show_keep=True)
    ok = not again.changed

    out.heading("5. Drift: someone unmounts data and remounts config read-write by hand")
    system.umount(os.path.join(root, "srv/app/data"), False)
    system.setattr(os.path.join(root, "srv/app/config"), frozenset(), None)
    drift = engine.reconcile(prof, system, root=state_dir, check=True)
    out.plan(drift, show_keep=False)
    out.heading("6. livemount apply repairs it")
    _apply(out, engine, prof, system, state_dir)
    ok = ok and drift.changed and not engine.reconcile(prof, system, root=state_dir, check=True).changed

    out.heading("7. A live change: cache 16m -> 32m; its files survive (a remount)")
    marker = os.path.join(root, "srv/app/cache/kept.txt")
    with open(marker, "w") as f:
        f.write("still here\n")
    bigger = load(text.replace("size=16m", "size=32m"))
    out.plan(engine.reconcile(bigger, system, root=state_dir, check=True), show_keep=False)
    _apply(out, engine, bigger, system, state_dir)
    with open(marker) as f:
        survived = f.read() == "still here\n"
    out.info("file in the cache after the remount: %s" % ("still there" if survived else "LOST"))
    ok = ok and survived

    from . import demo_overlay

    step_ok, text = demo_overlay.chapter(out, root, system, load, text.replace("size=16m", "size=32m"), state_dir,
                                         lambda p: _apply(out, engine, p, system, state_dir))
    ok = ok and step_ok

    out.heading("11. livemount destroy demo")
    before = _ours(system, root)
    out.plan(engine.destroy("demo", system, root=state_dir), title="Destroy demo")
    after = _ours(system, root)
    out.info("mounts under the demo root: %d before destroy, %d after" % (len(before), len(after)))
    ok = ok and not after and not os.path.lexists(os.path.join(root, "srv/app/bin/tool"))
    from . import demo_container

    ok = demo_container.chapter(out, root, system, load, state_dir,
                                lambda p, **where: _apply(out, engine, p, system, state_dir, **where),
                                lambda: _ours(system, root)) and ok
    out.heading("Demo %s" % ("complete: every step did what it showed" if ok else "FAILED"))
    return 0 if ok else 1


def _populate(root):
    for d, files in {
        "data/app": {"hello.txt": "hello from /data/app\n"},
        "data/config": {"app.conf": "debug = false\n"},
        "data/shared": {"shared.txt": "shared\n"},
        "layers/base/etc": {"os-release": "base\n"},
        "layers/app/bin": {"app": "#!/bin/sh\necho app\n"},
        "layers/app-v2/bin": {"app": "#!/bin/sh\necho app v2\n"},
        "opt/tool/bin": {"tool": "#!/bin/sh\necho tool\n"},
        "var/upper": {},
        "var/work": {},
    }.items():
        os.makedirs(os.path.join(root, d), exist_ok=True)
        for name, content in files.items():
            with open(os.path.join(root, d, name), "w") as f:
                f.write(content)


def _ours(system, root):
    from ansible_collections.livemount.core.plugins.module_utils.livemount.mountinfo import parse_mountinfo

    table = parse_mountinfo(system.read_mountinfo())
    return [m for m in table.mounts if m.mount_point.startswith(root + "/")]


def _apply(out, engine, prof, system, state_dir, **where):
    """Return the Report of applying `prof` (in namespace `where`: pid=...), shown as `apply --yes` shows it."""
    import time

    started = time.monotonic()
    with out.live_progress() as progress:
        report = engine.reconcile(prof, system, root=state_dir, progress=progress, **where)
    out.applied(report, time.monotonic() - started)
    return report


def _live(out, system, root, state_dir):
    from ansible_collections.livemount.core.plugins.module_utils.livemount import inventory, paths

    from .cmd_show import select

    _, rows = inventory.read(system, state_dir)
    out.mounts(select(rows, root, paths=paths), tree=True)
