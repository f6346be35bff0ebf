"""Draw the terminal captures of docs/cli.md (docs/cli-plan.svg, cli-apply.svg, cli-show.svg) from real runs.

    sudo ./scripts/livemount-dev run python scripts/cli_screenshots.py [OUTDIR]

Runs as root in a private mount namespace of its own (re-executing itself
under `unshare -m --propagation private`), on a tmpfs over /srv that only
that namespace sees: the host's table is never touched. Each command runs
in a pseudo-terminal of 100 columns with colour, as a user sees it; rich
(a dev dependency) turns the ANSI text into SVG.
"""

import os
import pty
import subprocess
import sys

COLUMNS = 100
ROOT = "/srv"
V1 = """\
name: webapp
mounts:
  - {target: /srv/app/data, type: bind, source: /srv/data/app, options: [ro, nosuid]}
  - {target: /srv/app/config, type: bind, source: /srv/data/config, options: [ro, nodev]}
  - {target: /srv/app/cache, type: tmpfs, options: [size=16m, mode=0755]}
  - {target: /srv/app/root, type: overlay, lower: [/srv/layers/app, /srv/layers/base], upper: /srv/var/upper,
     work: /srv/var/work}
  - {target: /srv/app/bin/tool, type: symlink, source: /srv/opt/tool/bin/tool}
"""
# The next version: cache grows, config goes, a run tmpfs arrives, the tool link moves, the overlay gets a layer.
V2 = """\
name: webapp
mounts:
  - {target: /srv/app/data, type: bind, source: /srv/data/app, options: [ro, nosuid]}
  - {target: /srv/app/cache, type: tmpfs, options: [size=32m, mode=0755]}
  - {target: /srv/app/run, type: tmpfs, options: [size=1m, noexec]}
  - {target: /srv/app/root, type: overlay, lower: [/srv/layers/hotfix, /srv/layers/app, /srv/layers/base],
     upper: /srv/var/upper, work: /srv/var/work}
  - {target: /srv/app/bin/tool, type: symlink, source: /srv/opt/tool/bin/tool2}
"""
DIRS = ["data/app", "data/config", "layers/app", "layers/base", "layers/hotfix", "var/upper", "var/work",
        "opt/tool/bin"]
FILES = {"data/app/index.html": "hello\n", "layers/app/app": "v1\n", "layers/hotfix/app": "v1.1\n",
         "opt/tool/bin/tool": "#!/bin/sh\n", "opt/tool/bin/tool2": "#!/bin/sh\n"}


def livemount(*argv):
    """Return the ANSI text livemount prints for argv in a 100-column pseudo-terminal, prefixed by the command."""
    env = dict(os.environ, COLUMNS=str(COLUMNS), LINES="60", TERM="xterm-256color",
               LIVEMOUNT_STATE_DIR=os.path.join(ROOT, "state"))
    env.pop("NO_COLOR", None)
    pid, fd = pty.fork()
    if pid == 0:
        os.execvpe(sys.executable, [sys.executable, "-m", "livemount_cli.main"] + list(argv), env)
    chunks = []
    while True:
        try:
            data = os.read(fd, 65536)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    os.waitpid(pid, 0)
    text = b"".join(chunks).decode("utf-8", "replace").replace("\r\n", "\n")
    return "\x1b[1m$ livemount %s\x1b[0m\n%s" % (" ".join(argv), text)


def svg(path, title, text):
    """Write `text` (ANSI) as a terminal capture in SVG at `path`."""
    from rich.console import Console
    from rich.text import Text

    console = Console(record=True, width=COLUMNS, force_terminal=True, color_system="truecolor", file=open(os.devnull,
                                                                                                          "w"))
    console.print(Text.from_ansi(text.rstrip("\n")))
    console.save_svg(path, title=title)


def main(outdir):
    """Return 0 after drawing the three captures into `outdir`."""
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64m,mode=755", "screenshots", ROOT], check=True)
    for d in DIRS:
        os.makedirs(os.path.join(ROOT, d), exist_ok=True)
    for f, text in FILES.items():
        with open(os.path.join(ROOT, f), "w") as handle:
            handle.write(text)
    for name, text in (("webapp.yaml", V1), ("webapp2.yaml", V2)):
        with open(os.path.join(ROOT, name), "w") as handle:
            handle.write(text)
    subprocess.run([sys.executable, "-m", "livemount_cli.main", "--state-dir", os.path.join(ROOT, "state"), "apply",
                    "--yes", "-q", os.path.join(ROOT, "webapp.yaml")], check=True, stdout=subprocess.DEVNULL)
    subprocess.run(["mount", "-o", "remount,bind,rw", os.path.join(ROOT, "app/data")], check=True)  # drift
    new = os.path.join(ROOT, "webapp2.yaml")
    svg(os.path.join(outdir, "cli-plan.svg"), "livemount plan", livemount("plan", new))
    svg(os.path.join(outdir, "cli-apply.svg"), "livemount apply", livemount("apply", "--yes", new))
    svg(os.path.join(outdir, "cli-show.svg"), "livemount show --tree and status",
        livemount("show", "--tree", ROOT) + livemount("status"))
    return 0


if __name__ == "__main__":
    out = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "docs"))
    if os.environ.get("LIVEMOUNT_SCREENSHOTS") != "inside":
        os.environ["LIVEMOUNT_SCREENSHOTS"] = "inside"
        sys.exit(subprocess.call(["unshare", "-m", "--propagation", "private", sys.executable, __file__, out]))
    sys.exit(main(out))
