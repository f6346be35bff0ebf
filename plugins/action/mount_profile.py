# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller side of livemount.core.mount_profile: load, template, validate, then run the module.

The merged profile is validated by the engine's own loader, the one
`livemount validate` runs, before the managed host is contacted: every
problem at once, located and worded the same (`FILE:LINE: $.path: message`;
FILE is the `src` file for what it declares, the task's file otherwise).

Two options let a loop (the role livemount.core.mounts) do in this one task
what used to take a task of its own on every host (each costs every host a
worker on the controller, however little it does: docs/benchmarks.md, the
fleet rollout): `validate_all`, every profile of the loop validated and their
names checked before this item touches the host, so that no item is applied
unless all are valid (a failed loop item does not stop the next one); and
`verify`, the task failing unless the apply left its profile healthy, read
from the apply's own result.

The module runs on the host from a copied file even with pipelining on
(plugins/plugin_utils/from_file.py says why).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json

from ansible.errors import AnsibleActionFail
from ansible.module_utils.common.text.converters import to_text
from ansible.module_utils.parsing.convert_bool import boolean

from ansible_collections.livemount.core.plugins.module_utils.livemount import errors
from ansible_collections.livemount.core.plugins.module_utils.livemount.profile import forms, locate, schema_data
from ansible_collections.livemount.core.plugins.module_utils.livemount.profile import load as profile
from ansible_collections.livemount.core.plugins.plugin_utils.from_file import FromFile

PROFILE_KEYS = tuple(schema_data.SCHEMA["properties"])


class ActionModule(FromFile):  # the module runs from a copied file: plugin_utils/from_file.py
    TRANSFERS_FILES = False
    MODULE = "livemount.core.mount_profile"  # the module this plugin runs on the host

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        args = dict(self._task.args)
        src = args.pop("src", None)
        validate_only = boolean(args.pop("validate_only", False), strict=True)
        verify = boolean(args.pop("verify", False), strict=True)
        together = args.pop("validate_all", None)
        loaded = Loaded(src)
        task_path = self._task.get_path() or "task"
        try:
            if src:
                loaded = self._load_src(src)
            args = merged_args(args, loaded.data)
            if args.get("state", "present") == "present" or validate_only:
                profile.load_profile(profile_fields(args, loaded.data))
        except errors.ProfileError as exc:
            return dict(result, **invalid(exc, args, loaded, task_path))
        if together is not None:
            others = invalid_among(together, task_path)
            if others:
                return dict(result, failed=True, changed=False, msg="cannot apply profile %s: %s" % (
                    args.get("name"), "; ".join(others)))
        if validate_only:
            return dict(result, changed=False, profile=args.get("name"), problems=[],
                        msg="profile %s is valid" % args.get("name"))
        args = dict((k, v) for k, v in args.items() if k not in loaded.data or k in PROFILE_KEYS)
        result.update(self._execute_module(module_name=self.MODULE, module_args=args,
                                           task_vars=task_vars))
        applied = not (result.get("failed") or self._play_context.check_mode)
        if verify and applied and args.get("state", "present") == "present":
            result.update(verified(result))
        return result

    def _load_src(self, src):
        """Return the Loaded profile file `src`, found like a template's src and templated; ProfileError if unreadable."""
        try:
            path = self._find_needle("files", src)
        except Exception as exc:
            raise AnsibleActionFail("cannot find profile %s: %s" % (src, to_text(exc)))
        raw = forms.read_regular(path, shown=src)  # the CLI's checks and words
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise errors.ProfileError([(None, None, "file", "cannot read profile %s: not UTF-8 text" % src)])
        # A plain str: the templar returns a tagged subclass, which libyaml refuses.
        text = to_text(self._templar.template(_trusted(text))).encode("utf-8", "surrogatepass").decode(
            "utf-8", "surrogatepass")
        return Loaded(src, text, forms.load_profile_text(text, src))


class Loaded(object):
    """The profile file of a task: its name as written, templated text and data (all empty without `src`)."""

    def __init__(self, src, text=None, data=None):
        self.src, self.text, self.data = src, text, data or {}


def merged_args(task_args, from_src):
    """Return the module args: fields of `src`, then of `profile`, then the task's own (None = unset)."""
    args = dict(task_args)
    whole = args.pop("profile", None)
    merged = dict(from_src)
    if whole is not None:
        if not isinstance(whole, dict):
            raise AnsibleActionFail("cannot use profile: expected a dict, got %s" % type(whole).__name__)
        merged.update((k, v) for k, v in whole.items() if v is not None)
    merged.update((k, v) for k, v in args.items() if v is not None)
    return merged


def profile_fields(args, from_src):
    """Return the profile to validate: its fields in `args`, plus whatever else the src file declares.

    A file is a whole profile, so an unknown top-level key in it is a problem
    (as `livemount validate` says); task arguments that are not profile
    fields are module options.
    """
    data = dict((k, v) for k, v in args.items() if (k in PROFILE_KEYS or k in from_src) and v is not None)
    if not from_src:
        data.setdefault("mounts", [])  # the module's default; a file must say it (as for `livemount validate`)
    return json.loads(json.dumps(data))  # plain types (templated values may be wrapped)


def invalid(exc, args, loaded, task_path):
    """Return the failed result of a ProfileError: every problem located as `livemount validate` locates it.

    A problem about a top-level field the src file declared (and nothing
    overrode), or that nothing declared, points into that file with its
    line; one about a field the task (or `profile`) set points at the task.
    """
    items = locate.locate(exc.problems, loaded.text)
    lines = []
    for item in items:
        key = locate.top_key(item)
        in_file = bool(loaded.src) and (key is None or args.get(key) is None or args[key] == loaded.data.get(key))
        item["file"] = loaded.src if in_file else task_path
        if not in_file:
            item["line"] = None
        lines.append(locate.problem_line(item["file"], item))
    name = args.get("name")
    what = loaded.src or "profile %s" % (name if isinstance(name, str) else "?")
    return dict(failed=True, changed=False, problems=items, problem_lines=lines,
                msg="cannot validate %s: %d problem%s: %s" % (what, len(items), "" if len(items) == 1 else "s",
                                                              "; ".join(lines)))


def invalid_among(profiles, task_path):
    """Return why the loop's `profiles` may not be applied: a missing or repeated name, each invalid one ([]: none).

    Each distinct profile is validated once per worker process (the loop's
    items run in one), so a loop of N profiles validates N, not N times N.
    """
    if not isinstance(profiles, list) or not all(isinstance(p, dict) for p in profiles):
        return ["validate_all: expected a list of profiles (dicts)"]
    names = [p.get("name", "?") for p in profiles]
    if "?" in names or len(set(names)) != len(names):
        return ["a profile without a name, or names given twice: %s" % names]
    out = []
    for data in profiles:
        key = json.dumps(data, sort_keys=True, default=str)
        if key not in _CHECKED:
            _CHECKED[key] = None
            if data.get("state", "present") == "present":
                try:
                    profile.load_profile(profile_fields(data, {}))
                except errors.ProfileError as exc:
                    _CHECKED[key] = invalid(exc, data, Loaded(None), task_path)["msg"]
        if _CHECKED[key]:
            out.append(_CHECKED[key])
    return out


_CHECKED = {}  # json of a profile -> why it is invalid (None: valid), for invalid_among


def verified(result):
    """Return what verification adds to an apply's result: a failure naming each unhealthy entry, or nothing.

    The engine reads the live table the apply ended with, so the health in the
    result is the health now: no second module run is needed to verify.
    """
    health = result.get("health")
    if health is None or health.get("healthy"):
        return {}
    bad = ["%s %s (%s);" % (e.get("target"), e.get("health"), e.get("detail"))
           for e in health.get("entries", []) if e.get("health") != "ok"]
    return {"failed": True, "msg": "cannot verify profile %s: %s" % (result.get("profile"), " ".join(bad))}


def _trusted(text):
    try:  # ansible-core 2.19+ renders only strings marked as trusted templates
        from ansible.template import trust_as_template
    except ImportError:
        return text
    return trust_as_template(text)
