"""Saved plans: `livemount plan PROFILE --out FILE`, then `livemount apply FILE` applies exactly that plan.

The file holds the plan's steps (report.change_dict of each), the profile it
was made from (so applying needs nothing else), the --target paths, and the
fingerprint of what it was made from (fingerprint.py). Applying it plans
again under the lock and goes on only if the fingerprint and the steps are
the same; otherwise StalePlanError says what changed since.

Written like the state (atomic replace, mode 0600, sha256 of the body) and
read as untrusted input: a file that does not check out is refused whole.
"""

import json
from typing import Optional, Tuple

from .errors import LivemountError
from .fingerprint import Expected
from .sha import sha256
from .records import record

FORMAT = "livemount-plan"
VERSION = 1


@record
class SavedPlan:
    """A plan read back from its file."""

    profile: str
    namespace: str
    made_at: str
    by: str
    profile_data: dict
    changes: Tuple[dict, ...]
    fingerprint: dict
    targets: Tuple[str, ...] = ()
    profile_file: Optional[str] = None
    profile_sha256: Optional[str] = None

    def expected(self):
        """Return what reconcile(expect=...) checks before applying this plan."""
        return Expected(self.fingerprint, change_dicts=self.changes)


def document(report, profile_data, made_at, by, targets=(), profile_file=None, profile_sha256=None):
    """Return the bytes of a plan file for check-mode Report `report` of the profile mapping `profile_data`."""
    from .report import change_dict

    body = {"profile": report.profile, "namespace": report.namespace, "made_at": made_at, "by": by,
            "profile_data": profile_data, "changes": [change_dict(c) for c in report.changes],
            "fingerprint": report.fingerprint, "targets": list(targets), "profile_file": profile_file,
            "profile_sha256": profile_sha256}
    text = json.dumps(body, sort_keys=True, indent=1)
    return json.dumps({"format": FORMAT, "version": VERSION, "sha256": _sha(body)}, sort_keys=True)[:-1].encode() \
        + b', "body": ' + text.encode() + b"}\n"


def read(path):
    """Return the SavedPlan in file `path`; LivemountError (`cannot read plan ...`) when it cannot be trusted."""
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError as exc:
        raise LivemountError("cannot read plan %s: %s" % (path, exc.strerror))
    return parse(raw, path)


def parse(raw, path="plan"):
    """Return the SavedPlan in the bytes of a plan file; LivemountError when they are not one."""
    try:
        doc = json.loads(raw.decode("utf-8"))
        if not isinstance(doc, dict) or doc.get("format") != FORMAT:
            raise ValueError("not a livemount plan file")
        if doc.get("version") != VERSION:
            raise ValueError("plan format version %r, this livemount reads %d" % (doc.get("version"), VERSION))
        body = doc["body"]
        if doc.get("sha256") != _sha(body):
            raise ValueError("checksum mismatch (edited or truncated)")
        for key, kind in (("profile", str), ("namespace", str), ("made_at", str), ("by", str),
                          ("profile_data", dict), ("changes", list), ("fingerprint", dict), ("targets", list)):
            if not isinstance(body.get(key), kind):
                raise ValueError("%s is missing or not a %s" % (key, kind.__name__))
        if not all(isinstance(c, dict) for c in body["changes"]) or \
                not all(isinstance(t, str) for t in body["targets"]):
            raise ValueError("changes must be objects and targets strings")
        return SavedPlan(body["profile"], body["namespace"], body["made_at"], body["by"], body["profile_data"],
                         tuple(body["changes"]), body["fingerprint"], tuple(body["targets"]),
                         body.get("profile_file"), body.get("profile_sha256"))
    except (ValueError, KeyError, TypeError, UnicodeDecodeError, AttributeError) as exc:
        raise LivemountError("cannot read plan %s: %s" % (path, exc))


def is_plan(raw):
    """Return True when the bytes `raw` look like a plan file (a JSON object whose format is livemount-plan)."""
    head = raw[:200].lstrip()
    return head.startswith(b"{") and b'"format": "%s"' % FORMAT.encode() in head


def _sha(body):
    return sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
