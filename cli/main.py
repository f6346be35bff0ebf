"""Entry point of the `livemount` command: parse arguments, run one subcommand module.

Every subcommand module is imported here (the parser needs each one's
options) and is light: a command imports the engine or YAML inside its
run(), so `livemount --help` pays for none of them.
"""

import argparse
import os
import sys

from . import (cmd_apply, cmd_demo, cmd_destroy, cmd_disable, cmd_enable, cmd_history, cmd_import, cmd_overlay,
               cmd_plan, cmd_rollback, cmd_schema, cmd_show, cmd_status, cmd_systemd, cmd_validate, cmd_watch)

# (name, help, module with add_arguments(parser) and run(args, out) -> exit status), in --help order.
COMMANDS = [
    ("validate", "check a profile against the schema and the rules, touching nothing", cmd_validate),
    ("plan", "show what apply would change, touching nothing", cmd_plan),
    ("apply", "make the live mount table match a profile", cmd_apply),
    ("status", "show the profiles this namespace has state for and their health", cmd_status),
    ("show", "show the live mount table (a table, or --tree) with livemount's ownership marked", cmd_show),
    ("destroy", "remove everything a profile owns", cmd_destroy),
    ("history", "list the profiles a profile name was applied with", cmd_history),
    ("rollback", "apply a profile's previous profile again (or the one --to N of its history)", cmd_rollback),
    ("enable", "keep a copy of a profile under /etc/livemount, applied at every boot", cmd_enable),
    ("disable", "stop applying a profile at boot (--now: also remove its mounts)", cmd_disable),
    ("watch", "follow the live mount table: report (and --repair) drift of enabled profiles", cmd_watch),
    ("systemd", "the units that apply enabled profiles at boot: install, uninstall, units, apply", cmd_systemd),
    ("import", "convert an fstab file to a profile", cmd_import),
    ("schema", "print the profile JSON Schema", cmd_schema),
    ("demo", "run the demo in a throwaway private mount namespace", cmd_demo),
    ("overlay", "mounted overlays: what one changed (changes), discard changes (reset), remove old uppers (prune)",
     cmd_overlay),
]


class _Parser(argparse.ArgumentParser):
    # A subcommand's options are added when it parses (`fill`): building all sixteen cost every run
    # 4-5 ms (10-12 ms to build and parse, now 7), for the one command it runs.
    fill = None

    def parse_known_args(self, args=None, namespace=None):
        """Return (namespace, extras) as argparse does, after adding this parser's options if not yet done."""
        if self.fill is not None:
            fill, self.fill = self.fill, None
            fill(self)
        return super().parse_known_args(args, namespace)

    def error(self, message):
        # Exit 1 on usage errors: 2 is reserved for "changes pending" (plan --detailed-exitcode).
        self.print_usage(sys.stderr)
        sys.stderr.write("livemount: error: %s\n" % message)
        sys.exit(1)


def build_parser():
    """Return the argument parser with every subcommand (each one's options added when it is the one parsed)."""
    _untranslated()
    p = _Parser(prog="livemount", description="Reconcile the live mount table with a declared mount profile.")
    p.add_argument("--version", action=_Version, help="print the version and exit")
    _global_options(p, {"verbose": 0, "quiet": False, "color": None})
    # prog given: argparse would otherwise format the top usage line only to make it.
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser, prog="livemount")
    sub.required = True
    for name, help_text, module in COMMANDS:
        sp = sub.add_parser(name, help=help_text, description=help_text[0].upper() + help_text[1:] + ".")
        sp.set_defaults(run=module.run)
        sp.fill = _filler(module)
    return p


def _untranslated():
    """Return None after sparing argparse a search for a message catalog per message, when there is none.

    argparse passes each of its messages through gettext.gettext, which
    looks for the current domain's catalog anew at every call (a stat per
    spelling of the language: 4 under LANG=C.UTF-8), about fifty times a
    run: two thirds of building and parsing the arguments (issue 17). When
    that search finds nothing, gettext returns every message as it is, as
    `str` does at once; when it finds a catalog, gettext stays.
    """
    import gettext

    domain = gettext.textdomain()
    if gettext.find(domain, gettext.bindtextdomain(domain)) is None:
        argparse._ = str


def _filler(module):
    """Return what adds the options of subcommand `module` to its parser, the global ones after them."""
    def fill(sp):
        module.add_arguments(sp)
        # `livemount plan x --no-color` as well as `livemount --no-color plan x`: given after the
        # command, an option overrides; not given, it leaves what came before (SUPPRESS).
        _global_options(sp.add_argument_group("global options (also accepted before COMMAND)"), None)
    return fill


def _global_options(p, defaults):
    """Add the options every command shares to parser or group `p` (defaults None: SUPPRESS, for subcommands)."""
    def default(name):
        return argparse.SUPPRESS if defaults is None else defaults.get(name)

    p.add_argument("--state-dir", metavar="DIR", default=default("state_dir"),
                   help="state directory (default $LIVEMOUNT_STATE_DIR or /run/livemount)")
    p.add_argument("--config-dir", metavar="DIR", default=default("config_dir"),
                   help="where enabled profiles are kept (default $LIVEMOUNT_CONFIG_DIR or /etc/livemount)")
    p.add_argument("-v", "--verbose", action="count", default=default("verbose"),
                   help="more detail; tracebacks on errors")
    p.add_argument("-q", "--quiet", action="store_true", default=default("quiet"), help="only errors on stderr")
    target = p.add_mutually_exclusive_group()
    target.add_argument("--namespace", metavar="NSFILE", default=default("namespace"),
                        help="act in the mount namespace of this nsfs file (/proc/PID/ns/mnt, or a bind-mounted copy "
                             "such as /run/snapd/ns/NAME.mnt); state stays here, keyed by that namespace")
    target.add_argument("--pid", type=int, metavar="PID", default=default("pid"),
                        help="act in the mount namespace of process PID (--pid 1: the host's, from a sandboxed "
                             "service)")
    p.add_argument("--on-busy", choices=["fail", "detach"], default=default("on_busy"),
                   help="when an unmount is busy: fail naming the processes holding it (default), or detach it "
                        "lazily; overrides every entry's on_busy")
    color = p.add_mutually_exclusive_group()
    color.add_argument("--color", dest="color", action="store_true", default=default("color"), help="force colour")
    color.add_argument("--no-color", dest="color", action="store_false", default=default("color"),
                       help="no colour (also NO_COLOR=1)")


class _Version(argparse.Action):
    """--version: the collection's version (galaxy.yml, read only when asked)."""

    def __init__(self, option_strings, dest, **kwargs):
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, **kwargs)

    def __call__(self, parser, namespace, values, option_string=None):
        sys.stdout.write("livemount %s (Python %d.%d.%d)\n" % ((version(),) + tuple(sys.version_info[:3])))
        parser.exit(0)


def version():
    """Return the version of the livemount.core collection this CLI runs (galaxy.yml), or 'unknown'."""
    import importlib.util
    import re

    spec = importlib.util.find_spec("ansible_collections.livemount.core")
    for where in (spec.submodule_search_locations or []) if spec else []:
        try:
            with open(os.path.join(where, "galaxy.yml"), encoding="utf-8") as f:
                m = re.search(r"^version:\s*['\"]?([^'\"\s#]+)", f.read(), re.MULTILINE)
        except OSError:
            continue
        if m:
            return m.group(1)
    return "unknown"


def main(argv=None, exiting=False):
    """Return the exit status: 0 ok, 1 error, 2 changes pending (plan --detailed-exitcode).

    `exiting`: the caller ends the process right after (run() does): common.run_command.
    """
    args = build_parser().parse_args(argv)
    from . import common

    return common.run_command(args.run, args, exiting)


def run():
    """The `livemount` console script: exit with main()'s status, without freeing every object on the way out.

    Everything a command writes is written, synced and closed before main()
    returns; what is left is freeing the objects of the run one by one (10 ms
    of a no-op plan of 5,000 entries against 10,000 mounts), which os._exit
    leaves to the kernel; the cyclic collector, off while the command ran,
    is not turned on again for a last pass (main(exiting=True)). Only the
    standard streams still hold output: flushed first. A stream that cannot
    be flushed (a reader that went away) takes the interpreter's own way
    out, as a plain sys.exit would.
    """
    status = main(exiting=True)
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (OSError, ValueError):
        sys.exit(status)
    os._exit(status)


if __name__ == "__main__":
    run()
