"""The error hierarchy: every failure the engine reports is one of these.

Messages read ``cannot <verb> <object>: <cause>`` (lowercase, no final period).
"""

import os


def strerror(err):
    """Return the C library's text for `err` in lowercase (`no such file or directory`)."""
    text = os.strerror(err)
    return text[:1].lower() + text[1:]


class LivemountError(Exception):
    """Base of every error the engine raises on purpose."""

    def to_dict(self):
        """Return the error as a JSON-ready dict (kind and message)."""
        return {"kind": type(self).__name__, "message": str(self)}


class ProfileError(LivemountError):
    """The profile is invalid; nothing was touched.

    ``problems`` lists every problem found, each ``(index, target, field, message)``.
    """

    def __init__(self, problems):
        self.problems = list(problems)
        super().__init__("; ".join(p[3] for p in self.problems) or "invalid profile")

    def to_dict(self):
        """Return the error with every problem listed."""
        d = super().to_dict()
        d["problems"] = [
            {"index": i, "target": t, "field": f, "message": m} for i, t, f, m in self.problems
        ]
        return d


class PlanError(LivemountError):
    """The plan cannot be made (conflict, refusal); nothing was touched.

    ``conflicts`` lists the Change objects (action ``conflict``) that stopped it.
    """

    def __init__(self, message, conflicts=()):
        self.conflicts = list(conflicts)
        super().__init__(message)

    def to_dict(self):
        """Return the error with its conflicts."""
        d = super().to_dict()
        d["conflicts"] = [c.to_dict() for c in self.conflicts]
        return d


class StalePlanError(PlanError):
    """A plan that was shown (confirmed, or saved to a file) no longer fits: what it was made from changed.

    ``differences`` says what changed since, one sentence each; nothing was touched.
    """

    def __init__(self, message, differences=()):
        self.differences = list(differences)
        super().__init__(message)

    def to_dict(self):
        """Return the error with what changed since the plan was made."""
        d = super().to_dict()
        d["differences"] = self.differences
        return d


class UnknownProfileError(LivemountError):
    """A profile name this namespace has no state (or history) for; ``known`` lists the names it has."""

    def __init__(self, message, known=()):
        self.known = list(known)
        super().__init__(message)

    def to_dict(self):
        """Return the error with the names that are known."""
        d = super().to_dict()
        d["known"] = self.known
        return d


class StateError(LivemountError):
    """The state directory or a state file is unusable (corrupt, unsafe permissions, locked)."""


class ApplyError(LivemountError):
    """A step failed and everything done so far was rolled back.

    ``step`` names the failed step; ``errno`` is the kernel's errno when known.
    """

    def __init__(self, message, step=None, errno=None, rolled_back=()):
        self.step = step
        self.errno = errno
        self.rolled_back = list(rolled_back)
        super().__init__(message)

    def to_dict(self):
        """Return the error with the failed step and what was rolled back."""
        d = super().to_dict()
        d.update(step=self.step, errno=self.errno, rolled_back=self.rolled_back)
        return d


class UndoError(ApplyError):
    """A step failed and rolling back failed too: the table is NOT what it was.

    ``left`` describes what is left over (steps that could not be undone).
    """

    def __init__(self, message, step=None, errno=None, rolled_back=(), undo_failures=(), left=()):
        self.undo_failures = list(undo_failures)
        self.left = list(left)
        super().__init__(message, step=step, errno=errno, rolled_back=rolled_back)

    def to_dict(self):
        """Return the error with every undo failure and what is left."""
        d = super().to_dict()
        d.update(undo_failures=self.undo_failures, left=self.left)
        return d


class SysError(LivemountError):
    """A system call failed. ``errno`` is the error number, ``call`` the canonical call string."""

    def __init__(self, message, errno=None, call=None):
        self.errno = errno
        self.call = call
        super().__init__(message)
