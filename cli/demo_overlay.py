"""The demo's overlay chapter: what an overlay changed, a reset of one path, a live layer change with a reader inside."""

import os
import subprocess
import sys

# A process living inside the overlay: its cwd there and bin/app open. On a line from
# stdin it answers what its open file says, then what a fresh open by absolute path says.
READER = r"""
import os, sys
os.chdir(sys.argv[1])
f = open("bin/app")
print("ready", flush=True)
sys.stdin.readline()
f.seek(0)
print(f.read().splitlines()[-1], flush=True)
with open(os.path.join(sys.argv[1], "bin/app")) as g:
    print(g.read().splitlines()[-1], flush=True)
"""


def chapter(out, root, system, load, text, state_dir, apply):
    """Return (True if every step did what it showed, the profile text now applied)."""
    from ansible_collections.livemount.core.plugins.module_utils.livemount import engine
    from ansible_collections.livemount.core.plugins.module_utils.livemount.overlay import changes as oc
    from ansible_collections.livemount.core.plugins.module_utils.livemount.overlay.reset import reset as overlay_reset

    target = os.path.join(root, "srv/app/root")
    merged = lambda p: os.path.join(target, p)  # noqa: E731

    out.heading("8. livemount overlay changes --tree srv/app/root: found by walking the upper alone")
    with open(merged("etc/motd"), "w") as f:
        f.write("welcome\n")
    with open(merged("etc/os-release"), "a") as f:
        f.write("patched\n")
    os.unlink(merged("bin/app"))
    report = oc.report(target, system=system)
    out.overlay_changes(target, oc.collapse(report["changes"]), tree=True)
    ok = {(c["path"], c["kind"]) for c in report["changes"]} >= {
        ("/etc/motd", "added"), ("/etc/os-release", "modified"), ("/bin/app", "deleted")}

    out.heading("9. livemount overlay reset srv/app/root /bin: that deletion is undone, the rest kept")
    reset = overlay_reset(target, ["/bin"], system=system, root=state_dir)
    out.overlay_reset(reset, oc.collapse(reset["discarded"]))
    back = os.path.exists(merged("bin/app")) and os.path.exists(merged("etc/motd"))
    out.info("bin/app is %s, etc/motd is %s" % ("back" if os.path.exists(merged("bin/app")) else "STILL GONE",
                                               "kept" if os.path.exists(merged("etc/motd")) else "LOST"))
    ok = ok and back

    out.heading("10. A live layer change: app-v2 on top, while a process works inside the overlay")
    reader = subprocess.Popen([sys.executable, "-c", READER, target], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    try:
        ready = reader.stdout.readline().strip() == "ready"
        newer = text.replace("lower: [%s/layers/app," % root, "lower: [%s/layers/app-v2, %s/layers/app," % (root, root))
        prof = load(newer)
        out.plan(engine.reconcile(prof, system, root=state_dir, check=True), show_keep=False)
        apply(prof)
        reader.stdin.write("go\n")
        reader.stdin.flush()
        held, fresh = reader.stdout.readline().strip(), reader.stdout.readline().strip()
    finally:
        reader.kill()
        reader.wait()
    out.info("the process's open bin/app still says %r; a new open says %r" % (held, fresh))
    ok = ok and ready and held == "echo app" and fresh == "echo app v2"
    return ok, newer
