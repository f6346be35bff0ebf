"""Install the systemd units of livemount (`livemount systemd install`), or remove them.

Three files, each marked as ours on its first lines so `uninstall` removes
nothing it did not write:

* <root>/etc/systemd/system/livemount@.service          (units.template_unit)
* <root>/etc/systemd/system/livemount-watch.service     (units.watch_unit)
* <root>/etc/systemd/system-generators/livemount-generator, mode 0755 (units.generator_script)

`root` (default /) lets an image builder install into a tree that is not
running. When systemd runs this system (sd_booted(3): /run/systemd/system
exists) and the root is /, a daemon-reload makes it run the generator again.
"""

import os
import subprocess

from ..errors import LivemountError
from ..journal import fsync_dir
from . import units

UNIT_DIR = "/etc/systemd/system"
GENERATOR_DIR = "/etc/systemd/system-generators"
GENERATOR_DIRS = ("/run/systemd/system-generators", GENERATOR_DIR, "/usr/local/lib/systemd/system-generators",
                  "/usr/lib/systemd/system-generators", "/lib/systemd/system-generators")
TEMPLATE_PATH = os.path.join(UNIT_DIR, units.TEMPLATE)


def engine_import_path():
    """Return the directory holding `ansible_collections` that this engine was imported from."""
    here = os.path.abspath(__file__)
    for _level in range(8):  # up from durable/installer.py to the directory holding ansible_collections
        here = os.path.dirname(here)
    return here


def files(command, python, config, root="/"):
    """Return [(path, text, mode)] of the files to install under `root`.

    `command` is the livemount argv the units run (an absolute executable,
    then global options such as --config-dir), `python` the interpreter the
    generator runs with.
    """
    return [
        (_at(root, TEMPLATE_PATH), units.template_unit(command), 0o644),
        (_at(root, os.path.join(UNIT_DIR, units.WATCH)), units.watch_unit(command), 0o644),
        (_at(root, os.path.join(GENERATOR_DIR, units.GENERATOR)),
         units.generator_script(python, engine_import_path(), config, TEMPLATE_PATH), 0o755),
    ]


def install(wanted, check=False):
    """Return [{path, action}] after writing each (path, text, mode) that differs (create, update, keep).

    Every file is looked at before any is written: a file of the same name
    that livemount did not write stops the install with nothing changed.
    """
    out = []
    for path, text, mode in wanted:
        now = _read(path)
        if now is not None and not _ours(now):
            raise LivemountError("cannot install %s: a file not written by livemount is there; move it away first"
                                 % path)
        action = "keep" if now == text and _mode(path) == mode else ("create" if now is None else "update")
        out.append({"path": path, "action": action})
    if not check:
        for (path, text, mode), done in zip(wanted, out):
            if done["action"] != "keep":
                _write(path, text, mode)
    return out


def uninstall(root="/", check=False):
    """Return [{path, action: remove}] for each installed file removed (only files livemount wrote)."""
    out = []
    for path, _text, _mode in files([""], "", "", root):
        now = _read(path)
        if now is None:
            continue
        if not _ours(now):
            raise LivemountError("cannot remove %s: it was not written by livemount" % path)
        if not check:
            os.unlink(path)
            fsync_dir(os.path.dirname(path))
        out.append({"path": path, "action": "remove"})
    return out


def installed(root="/"):
    """Return the path of the livemount generator systemd would run, or None when it is not installed."""
    for d in GENERATOR_DIRS:
        path = _at(root, os.path.join(d, units.GENERATOR))
        if os.path.exists(path):
            return path
    return None


def systemd_running():
    """Return True when systemd manages this system (sd_booted(3): /run/systemd/system exists)."""
    return os.path.isdir("/run/systemd/system")


def daemon_reload():
    """Return None after `systemctl daemon-reload`, or the reason it failed (a warning, never an error)."""
    try:
        done = subprocess.run(["systemctl", "daemon-reload"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                              timeout=120, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return "cannot run systemctl daemon-reload: %s" % exc
    if done.returncode:
        return "cannot run systemctl daemon-reload: %s" % (done.stderr.decode("utf-8", "replace").strip()
                                                           or "exit status %d" % done.returncode)
    return None


def _at(root, path):
    return os.path.join(root, path.lstrip("/")) if root not in ("", "/") else path


def _ours(text):
    return units.MARK in "\n".join(text.split("\n")[:3])


def _read(path):
    try:
        with open(path, encoding="utf-8", errors="surrogateescape") as f:
            return f.read()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise LivemountError("cannot read %s: %s" % (path, exc.strerror))


def _mode(path):
    return os.stat(path).st_mode & 0o7777


def _write(path, text, mode):
    d = os.path.dirname(path)
    try:
        os.makedirs(d, 0o755, exist_ok=True)
        tmp = "%s.tmp.%d" % (path, os.getpid())
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC | os.O_NOFOLLOW, mode)
        try:
            os.fchmod(fd, mode)
            os.write(fd, text.encode("utf-8", "surrogateescape"))
            os.fsync(fd)
        finally:
            os.close(fd)
        os.rename(tmp, path)
        fsync_dir(d)
    except OSError as exc:
        raise LivemountError("cannot install %s: %s" % (path, exc.strerror))
