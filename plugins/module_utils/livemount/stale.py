"""Whether the plan made now is the plan a user was shown (`apply PLANFILE`, the confirmation prompt):
StalePlanError, naming the first difference, when it is not.
"""

from . import fingerprint
from .errors import StalePlanError
from .report import change_dict


def check_expected(expect, report):
    """Raise StalePlanError unless `report` (planned now) is the plan `expect` was made from, from the same inputs."""
    differences = ([] if expect.fingerprint is None
                   else fingerprint.differences(expect.fingerprint, report.fingerprint))
    if not differences and expect.change_dicts is not None:
        # What each step does must be the same; why (the reason) may be worded from what was seen then.
        now = [change_dict(c) for c in report.changes]
        if _steps(now) != _steps(expect.change_dicts):
            differences = ["the plan made now differs from the one shown: %s" % _first_difference(
                list(expect.change_dicts), now)]
    if differences:
        err = StalePlanError("cannot apply the plan for %s: what it was made from changed since: %s%s"
                             % (report.profile, differences[0], " (and %d more change%s)" % (
                                 len(differences) - 1, "s" if len(differences) > 2 else "")
                                if len(differences) > 1 else ""), differences)
        err.report = report
        raise err


def _steps(dicts):
    return [{k: v for k, v in d.items() if k != "reason"} for d in dicts]


def _first_difference(shown, now):
    """Return where two lists of change dicts first differ, in words."""
    def step(d):
        return "%s %s (%s)" % (d.get("action"), d.get("target"), d.get("reason")) if d else "nothing"

    what_shown, what_now = _steps(shown), _steps(now)
    for k in range(max(len(shown), len(now))):
        a, b = (shown[k] if k < len(shown) else None), (now[k] if k < len(now) else None)
        if (what_shown[k] if a else None) != (what_now[k] if b else None):
            if a and b and step(a) == step(b):
                keys = sorted(key for key in set(a) | set(b) if a.get(key) != b.get(key) and key != "reason")
                return "step %d, %s: %s differs" % (k + 1, step(a), ", ".join(keys))
            return "step %d was %s, is now %s" % (k + 1, step(a), step(b))
    return "the steps differ"
