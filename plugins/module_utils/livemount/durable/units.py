"""The systemd side of enabled profiles, as text: the units `livemount systemd install` writes, what the
generator makes.

Pure: no file is read or written here (installer.py and generator.py do
that), so every unit livemount ships or generates can be rendered in a test
and checked with `systemd-analyze verify`.

* livemount@.service — the template: one instance per enabled profile
  (`livemount@web.service`), a oneshot that runs `livemount systemd apply web`
  and stays active. No default dependencies: it runs early, before
  local-fs.target like a local fstab mount, and only after what it needs.
* the generator's drop-in per instance (`livemount@web.service.d/50-profile.conf`):
  RequiresMountsFor= on the paths the profile reads and mounts in (sources,
  layers, upper and work directories, the parents of its targets), the stage
  (local or remote), the `boot` field's units and timeout, and a dependency
  on another enabled profile whose mounts its paths lie under; plus the
  symlinks that pull it in (`local-fs.target.wants/`, `<unit>.requires/`).
* livemount-watch.service — `livemount watch --repair`, for `systemctl enable`.
"""

from .. import paths

TEMPLATE = "livemount@.service"
WATCH = "livemount-watch.service"
GENERATOR = "livemount-generator"
DROPIN = "50-profile.conf"
DOCS = "https://github.com/livemount/livemount/blob/main/docs/boot.md"
MARK = "livemount systemd install"  # every file the installer writes names it: uninstall removes only those

BOOT_DEFAULTS = {"stage": "local", "required_by": [], "before": [], "after": [], "timeout": 90}
_STAGES = {
    # stage: (the target that pulls the unit in and waits for it, what it waits for first)
    "local": ("local-fs.target", ()),
    "remote": ("remote-fs.target", ("network-online.target", "remote-fs-pre.target")),
}


def instance(name):
    """Return the unit name that applies enabled profile `name`: livemount@NAME.service."""
    return "livemount@%s.service" % name


def boot_settings(profile_data):
    """Return the profile's `boot` field with every default filled in."""
    boot = dict(BOOT_DEFAULTS)
    boot.update((profile_data or {}).get("boot") or {})
    return boot


def quote(word):
    """Return `word` as one double-quoted word of a unit file: no specifier, variable or escape expands in it.

    systemd splits RequiresMountsFor= and ExecStart= with extract_first_word
    (quotes, backslash escapes), then expands `%` specifiers, and ExecStart=
    also `$VARIABLES`. A newline cannot be written at all: ValueError.
    """
    if "\n" in word or "\r" in word:
        raise ValueError("a unit file cannot hold a newline")
    return '"%s"' % word.replace("\\", "\\\\").replace('"', '\\"').replace("%", "%%").replace("$", "$$")


def command_line(words):
    """Return an ExecStart= value: each word quoted."""
    return " ".join(quote(w) for w in words)


def template_unit(command):
    """Return the text of livemount@.service; `command` is the livemount argv before the subcommand."""
    return """# Installed by `{mark}`: do not edit (install again to change it).
# One instance per enabled profile (livemount enable), pulled in at boot by
# livemount-generator, which adds each instance's ordering in
# livemount@NAME.service.d/{dropin}.
[Unit]
Description=livemount profile %i
Documentation={docs}
DefaultDependencies=no
After=systemd-remount-fs.service local-fs-pre.target
Conflicts=umount.target
Before=umount.target

[Service]
Type=oneshot
RemainAfterExit=yes
# Mounts made here must appear in the namespace of the whole system: no
# PrivateMounts=, ProtectSystem= or PrivateTmp= (they would give the
# service a mount namespace of its own).
ExecStart={exec_start} "systemd" "apply" "%i"
TimeoutStartSec={timeout}
SyslogIdentifier=livemount@%i
# One journal line per message: the output is folded at the width it is given.
Environment=COLUMNS=512
""".format(mark=MARK, dropin=DROPIN, docs=DOCS, exec_start=command_line(command), timeout=BOOT_DEFAULTS["timeout"])


def watch_unit(command):
    """Return the text of livemount-watch.service (`livemount watch --repair` as a service)."""
    return """# Installed by `{mark}`: do not edit (install again to change it).
# Reports drift of the enabled profiles and repairs it; enable it with
# `systemctl enable --now livemount-watch.service`.
[Unit]
Description=livemount: report and repair drift of enabled profiles
Documentation={docs}
After=local-fs.target remote-fs.target

[Service]
ExecStart={exec_start} "watch" "--repair"
Restart=on-failure
RestartSec=5s
SyslogIdentifier=livemount-watch
Environment=COLUMNS=512

[Install]
WantedBy=multi-user.target
""".format(mark=MARK, docs=DOCS, exec_start=command_line(command))


def generator_script(python, import_path, config, template_path):
    """Return the text of the generator (an executable Python script, systemd.generator(7))."""
    return """#!{python} -I
# Installed by `{mark}`: do not edit (install again to change it).
# A systemd generator (systemd.generator(7)): at boot and on daemon-reload it
# makes one instance of livemount@.service for each profile enabled in
# {config}/enabled.
import sys

sys.path.insert(0, {import_path!r})
from ansible_collections.livemount.core.plugins.module_utils.livemount.durable import generator

sys.exit(generator.main(sys.argv[1:], {config!r}, {template_path!r}))
""".format(python=python, mark=MARK, import_path=import_path, config=config, template_path=template_path)


def path_needs(profile):
    """Return the paths the profile's boot apply reads or mounts in, sorted, for RequiresMountsFor=.

    Bind sources, overlay layers, upper and work directories, and the parent
    of every target. A path at or under one of the profile's own targets is
    left out: the profile mounts it itself, systemd has no unit for it.
    """
    targets = [e.target for e in profile.entries if e.is_mount]
    wanted = set()
    for e in profile.entries:
        wanted.add(paths.ancestors(e.target)[-1])  # a profile never targets / itself
        if e.type == "bind" and e.source:
            wanted.add(e.source)
        wanted.update(e.lower + e.data)
        wanted.update(p for p in (e.upper, e.work) if p)
    keep = [p for p in wanted if p != "/" and not any(paths.is_at_or_under(p, t) for t in targets)]
    return sorted(keep, key=paths.sort_key)


def dropin(name, profile, data, source_path, others):
    """Return the text of livemount@NAME.service.d/50-profile.conf for an enabled profile.

    `others` maps every other enabled profile's name to its mount targets: a
    path this profile needs that lies under one of them makes this unit
    require that profile's unit and start after it.
    """
    boot = boot_settings(data)
    pulled_by, waits_for = _STAGES[boot["stage"]]
    lines = ["# Generated by %s from %s: do not edit." % (GENERATOR, source_path),
             "# Change the profile, then enable it again (livemount enable FILE).",
             "[Unit]", "SourcePath=%s" % source_path, "Before=%s" % pulled_by]
    if waits_for:
        lines += ["After=%s" % " ".join(waits_for), "Wants=network-online.target"]
    needs, profiles = [], set()
    for p in path_needs(profile):
        owner = next((o for o, targets in sorted(others.items()) if any(paths.is_at_or_under(p, t) for t in targets)),
                     None)
        if owner is not None:
            profiles.add(owner)
        else:
            try:
                needs.append(quote(p))
            except ValueError:
                lines.append("# not ordered after the filesystem of %r: a unit file cannot hold a newline" % p)
    if needs:
        lines.append("RequiresMountsFor=%s" % " ".join(needs))
    for other in sorted(profiles):
        lines += ["Requires=%s" % instance(other), "After=%s" % instance(other)]
    if boot["after"]:
        lines += ["Wants=%s" % " ".join(boot["after"]), "After=%s" % " ".join(boot["after"])]
    if boot["before"] or boot["required_by"]:
        lines.append("Before=%s" % " ".join(boot["before"] + boot["required_by"]))
    lines += ["", "[Service]", "TimeoutStartSec=%d" % boot["timeout"]]
    return "\n".join(lines) + "\n"


def links(name, data):
    """Return {relative path of a symlink: None}: the .wants/.requires links that pull instance `name` in."""
    boot = boot_settings(data)
    unit = instance(name)
    out = ["%s.wants/%s" % (_STAGES[boot["stage"]][0], unit)]
    out += ["%s.requires/%s" % (u, unit) for u in boot["required_by"]]
    return out
