"""The profiles a profile name was applied with, newest last: what `livemount history` lists and `rollback` re-applies.

Next to the state, <namespace dir>/<name>.history.json keeps the last KEEP
profiles that an apply of <name> completed with (whole profile mappings, so
a rollback needs no file). A record is added when the profile differs from
the newest one: re-applying the same profile (a drift repair, a no-op) adds
nothing, and a rollback to record N adds a record of that profile, so a
second rollback goes back again, like `cd -`. Numbers grow and are never
reused. The file is written like the state (atomic replace, sha256 of the
body) and, like it, is untrusted input: a file that does not check out is
reported, never half read. A destroy keeps the history: the last profile
can be rolled back to.
"""

import json
import os
from typing import Tuple

from .errors import StateError
from .sha import sha256
from .state import atomic_write
from .records import record

KEEP = 10
FORMAT = "livemount-history"
VERSION = 1


@record
class Record:
    """One profile an apply completed with."""

    number: int
    applied_at: str
    by: str
    changes: int  # mutating steps that apply made
    sha256: str  # of the profile mapping's canonical JSON
    profile: dict
    targets: Tuple[str, ...] = ()  # the --target paths of a partial apply

    def to_dict(self):
        """Return the record as JSON data (the history file's and `history --json`'s form)."""
        return {"number": self.number, "applied_at": self.applied_at, "by": self.by, "changes": self.changes,
                "sha256": self.sha256, "profile": self.profile, "targets": list(self.targets)}


def path_of(store):
    """Return the history file of a StateStore's profile."""
    return store.history_path


def profile_sha(profile_data):
    """Return the sha256 (hex) of a profile mapping's canonical JSON."""
    return sha256(_canonical(profile_data)).hexdigest()


def load(store):
    """Return the Records of the store's profile, oldest first ([] when there is no history)."""
    path = path_of(store)
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise StateError("cannot read history %s: %s" % (path, exc.strerror))
    try:
        doc = json.loads(raw.decode("utf-8"))
        if doc.get("format") != FORMAT or doc.get("version") != VERSION:
            raise ValueError("unknown format")
        body = doc["body"]
        if doc.get("sha256") != sha256(_canonical(body)).hexdigest():
            raise ValueError("checksum mismatch (edited or truncated)")
        if body.get("profile") != store.name:
            raise ValueError("it is the history of profile %r, not %r" % (body.get("profile"), store.name))
        out = []
        for r in body["records"]:
            if not isinstance(r["profile"], dict) or profile_sha(r["profile"]) != r["sha256"]:
                raise ValueError("record %r does not match its sha256" % (r.get("number"),))
            out.append(Record(int(r["number"]), str(r["applied_at"]), str(r["by"]), int(r["changes"]),
                              r["sha256"], r["profile"], tuple(str(t) for t in r.get("targets") or ())))
        return out
    except (ValueError, KeyError, TypeError, UnicodeDecodeError, AttributeError) as exc:
        raise StateError("cannot trust history %s: %s; inspect it, then remove it to start over" % (path, exc))


def add(store, profile_data, applied_at, changes, targets=()):
    """Return the Record added for an apply of `profile_data` that completed (None when it equals the newest one)."""
    records = load(store)
    sha = profile_sha(profile_data)
    if records and records[-1].sha256 == sha and not targets and not records[-1].targets:
        return None
    number = (records[-1].number + 1) if records else 1
    rec = Record(number, applied_at, who(), changes, sha, profile_data, tuple(targets))
    records = (records + [rec])[-KEEP:]
    body = {"profile": store.name, "records": [r.to_dict() for r in records]}
    text = _canonical(body)
    head = b'{"format":"%s","version":%d,"sha256":"%s",\n"body":' % (
        FORMAT.encode(), VERSION, sha256(text).hexdigest().encode())
    atomic_write(path_of(store), head + text + b"}\n")
    return rec


def pick(records, number=None):
    """Return the record a rollback goes to: `number`, or the one before the newest; LookupError saying why not."""
    if number is None:
        if len(records) < 2:
            raise LookupError("there is no earlier profile to roll back to (%d in the history)" % len(records))
        return records[-2]
    for r in records:
        if r.number == number:
            return r
    raise LookupError("the history has no record %d (it has %s)" % (number, ", ".join(str(r.number) for r in records)
                                                                    or "none"))


def who():
    """Return who runs this process: the user name, and the sudo caller when there is one (`root (sudo: alice)`)."""
    import pwd

    try:
        name = pwd.getpwuid(os.geteuid()).pw_name
    except KeyError:
        name = "uid %d" % os.geteuid()
    caller = os.environ.get("SUDO_USER")
    return "%s (sudo: %s)" % (name, caller) if caller and caller != name else name


def _canonical(doc):
    return json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()
