"""Time the livemount command as people run it: start-up of a few commands, and apply of N binds on a terminal.

    sudo ./scripts/livemount-dev run python scripts/cli_timing.py startup [ROUNDS]
    sudo ./scripts/livemount-dev run python scripts/cli_timing.py apply [N] [ROUNDS]

Runs as root in a private mount namespace of its own (re-executing itself
under `unshare -m --propagation private`), on a tmpfs that only it sees.

`startup`: python -c pass, --help, a no-op plan of a 5-entry profile (table
and --json), status and show, interleaved, ROUNDS (11) rounds; prints the
median and fastest of each as the table in docs/cli.md.

`apply`: per round, a shell loop of mount(8) --bind over N (1000)
directories, then `livemount apply --yes` of a profile of those N binds in a
pseudo-terminal (what a terminal user sees: the plan, the progress line, the
summary), then the same with --json into a pipe; each followed by its undo.
Prints the wall times and the ratios to the mount loop.
"""

import os
import pty
import shutil
import statistics
import subprocess
import sys
import time

ROOT = "/tmp/livemount-timing"
CLI = [sys.executable, "-m", "livemount_cli.main"]


def _env():
    return dict(os.environ, LIVEMOUNT_STATE_DIR=os.path.join(ROOT, "state"), COLUMNS="100", TERM="xterm")


def _run(argv):
    """Return the wall time of argv, output discarded."""
    t = time.perf_counter()
    subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=_env())
    return time.perf_counter() - t


def _run_pty(argv):
    """Return the wall time of argv in a pseudo-terminal, its output read and dropped as a terminal would."""
    t = time.perf_counter()
    pid, fd = pty.fork()
    if pid == 0:
        os.execvpe(argv[0], argv, _env())
    while True:
        try:
            if not os.read(fd, 65536):
                break
        except OSError:
            break
    os.waitpid(pid, 0)
    return time.perf_counter() - t


def startup(rounds):
    """Print median and fastest wall time of each start-up contender."""
    os.makedirs(os.path.join(ROOT, "s"))
    profile = os.path.join(ROOT, "p.yaml")
    with open(profile, "w") as f:
        f.write("name: five\nmounts:\n" + "".join(
            "  - %s\n" % e for e in (
                "{target: %s/m/b, type: bind, source: %s/s}" % (ROOT, ROOT),
                "{target: %s/m/bro, type: bind, source: %s/s, options: [ro]}" % (ROOT, ROOT),
                "{target: %s/m/t1, type: tmpfs, options: [size=1m]}" % ROOT,
                "{target: %s/m/t2, type: tmpfs, options: [size=2m]}" % ROOT,
                "{target: %s/m/ln, type: symlink, source: %s/s}" % (ROOT, ROOT))))
    subprocess.run(CLI + ["apply", "--yes", "-q", profile], check=True, stdout=subprocess.DEVNULL, env=_env())
    cmds = {"python -c pass": [sys.executable, "-c", "pass"], "livemount --help": CLI + ["--help"],
            "livemount plan profile.yaml": CLI + ["plan", profile],
            "livemount plan --json profile.yaml": CLI + ["plan", "--json", profile],
            "livemount status": CLI + ["status"], "livemount show": CLI + ["show"]}
    times = {k: [] for k in cmds}
    for _ in range(rounds):
        for k, argv in cmds.items():
            times[k].append(_run(argv))
    for k, v in times.items():
        print("| `%s` | %d ms | %d ms |" % (k, statistics.median(v) * 1000, min(v) * 1000))


def apply(n, rounds):
    """Print, per round, the mount(8) loop, apply --yes in a terminal and apply --json, and their ratios."""
    import json

    for d in ("src", "dst"):
        for i in range(n):
            os.makedirs(os.path.join(ROOT, d, str(i)))
    profile = os.path.join(ROOT, "p.json")
    with open(profile, "w") as f:
        json.dump({"name": "b", "mounts": [{"target": "%s/m/%d" % (ROOT, i), "type": "bind",
                                            "source": "%s/src/%d" % (ROOT, i)} for i in range(n)]}, f)
    loop = "for i in $(seq 0 %d); do mount --bind %s/src/$i %s/dst/$i; done" % (n - 1, ROOT, ROOT)
    unloop = "for i in $(seq 0 %d); do umount %s/dst/$i; done" % (n - 1, ROOT)
    rows = []
    for _ in range(rounds):
        mount = _run(["sh", "-c", loop])
        _run(["sh", "-c", unloop])
        terminal = _run_pty(CLI + ["apply", "--yes", profile])
        _run(CLI + ["destroy", "--yes", "b"])
        piped = _run(CLI + ["apply", "--yes", "--json", profile])
        _run(CLI + ["destroy", "--yes", "b"])
        rows.append((mount, terminal, piped))
        print("mount(8) loop %.2f s; livemount apply --yes on a terminal %.2f s (%.1fx); --json %.2f s (%.1fx)"
              % (mount, terminal, mount / terminal, piped, mount / piped))
    med = [statistics.median(r[k] for r in rows) for k in range(3)]
    print("median of %d rounds, %d binds: mount(8) loop %.2f s, terminal %.2f s (%.1fx), --json %.2f s (%.1fx)"
          % (rounds, n, med[0], med[1], med[0] / med[1], med[2], med[0] / med[2]))


def main(argv):
    """Return 0 after the measurement named in argv."""
    os.makedirs(ROOT, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "timing", ROOT], check=True)
    try:
        if argv[:1] == ["apply"]:
            apply(int(argv[1]) if len(argv) > 1 else 1000, int(argv[2]) if len(argv) > 2 else 3)
        else:
            startup(int(argv[1]) if len(argv) > 1 else 11)
    finally:
        subprocess.run(["umount", "-R", ROOT])
        shutil.rmtree(ROOT, ignore_errors=True)
    print("load average: %s" % open("/proc/loadavg").read().split(" ", 3)[:3])
    return 0


if __name__ == "__main__":
    if os.environ.get("LIVEMOUNT_TIMING") != "inside":
        os.environ["LIVEMOUNT_TIMING"] = "inside"
        sys.exit(subprocess.call(["unshare", "-m", "--propagation", "private", sys.executable] + sys.argv))
    sys.exit(main(sys.argv[1:]))
