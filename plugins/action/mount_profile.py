# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller side of livemount.core.mount_profile: load, template, validate, then run the module.

Every schema and rule violation is reported at once (entry index, target,
field) before the managed host is contacted.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os

from ansible.errors import AnsibleActionFail
from ansible.module_utils.common.text.converters import to_text
from ansible.module_utils.parsing.convert_bool import boolean
from ansible.plugins.action import ActionBase

from ansible_collections.livemount.core.plugins.module_utils.livemount import errors
from ansible_collections.livemount.core.plugins.module_utils.livemount.profile import load as profile, schema_data

PROFILE_KEYS = tuple(schema_data.SCHEMA["properties"])


class ActionModule(ActionBase):
    TRANSFERS_FILES = False

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        args = merged_args(self._task.args, self._load_src)
        validate_only = boolean(args.pop("validate_only", False), strict=True)
        if args.get("state", "present") == "present" or validate_only:
            problems = validate(args)
            if problems:
                return dict(result, failed=True, changed=False, problems=problems,
                            msg="invalid profile %s: %d problem(s): %s" % (
                                args.get("name", "?"), len(problems),
                                "; ".join(p["message"] for p in problems)))
        if validate_only:
            return dict(result, changed=False, profile=args.get("name"), problems=[],
                        msg="profile %s is valid" % args.get("name"))
        result.update(self._execute_module(module_name="livemount.core.mount_profile", module_args=args,
                                           task_vars=task_vars))
        return result

    def _load_src(self, src):
        try:
            path = self._find_needle("files", src)
        except Exception as exc:
            raise AnsibleActionFail("cannot find profile %s: %s" % (src, to_text(exc)))
        with open(path, "rb") as f:
            text = to_text(f.read())
        text = self._templar.template(_trusted(text))
        try:
            # str(): ansible-core 2.19 returns an untemplated text as a tagged str subclass, which
            # libyaml's C loader refuses ("a string or stream input is required").
            data = profile.load_profile_text(str(to_text(text)), path)
        except errors.ProfileError as exc:
            raise AnsibleActionFail(str(exc))
        return {k: v for k, v in data.items() if k in PROFILE_KEYS}


def merged_args(task_args, load_src):
    """Return the module args: fields of `src`, then of `profile`, then the task's own (None = unset)."""
    args = dict(task_args)
    src, whole = args.pop("src", None), args.pop("profile", None)
    merged = {}
    if src:
        merged.update(load_src(src))
    if whole is not None:
        if not isinstance(whole, dict):
            raise AnsibleActionFail("cannot use profile: expected a dict, got %s" % type(whole).__name__)
        merged.update((k, v) for k, v in whole.items() if v is not None)
    merged.update((k, v) for k, v in args.items() if v is not None)
    return merged


def validate(args):
    """Return every problem of the profile in `args`: JSON Schema (jsonschema), then livemount's rules."""
    import jsonschema

    data = {k: v for k, v in args.items() if k in PROFILE_KEYS and v is not None}
    data.setdefault("mounts", [])
    data = json.loads(json.dumps(data))  # plain types (templated values may be wrapped)
    problems = []
    validator = jsonschema.Draft202012Validator(_schema())
    for err in sorted(validator.iter_errors(data), key=lambda e: list(e.absolute_path)):
        where = list(err.absolute_path)
        index = where[1] if len(where) > 1 and where[0] == "mounts" else None
        target = data["mounts"][index].get("target") if index is not None and isinstance(
            data["mounts"][index], dict) else None
        field = ".".join(str(p) for p in where[2:]) if index is not None else ".".join(str(p) for p in where)
        head = "entry %s (%s): %s" % (index, target, field or "entry") if index is not None else (field or "profile")
        problems.append({"index": index, "target": target, "field": field, "message": "%s: %s" % (head, err.message)})
    if not problems:
        try:
            profile.load_profile(data)
        except errors.ProfileError as exc:
            problems.extend(exc.to_dict()["problems"])
    return problems


def _schema():
    here = os.path.dirname(os.path.abspath(__file__))
    path = os.path.join(here, "..", "..", "schemas", "profile.schema.json")
    if os.path.exists(path):
        with open(path) as f:
            return json.load(f)
    return schema_data.SCHEMA


def _trusted(text):
    try:  # ansible-core 2.19+ renders only strings marked as trusted templates
        from ansible.template import trust_as_template
    except ImportError:
        return text
    return trust_as_template(text)
