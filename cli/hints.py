"""The `hint:` line after an error: what to do next, as specific as the error allows."""

import re


def hint(exc, verb="apply"):
    """Return the hint for LivemountError `exc` raised by command `verb` ('' when there is nothing to add)."""
    name = type(exc).__name__
    text = str(exc)
    if name == "StalePlanError":
        return ("nothing was changed; make the plan again and apply that (`livemount plan PROFILE --out FILE`)"
                if verb == "apply a saved plan" else "nothing was changed; run the command again to see the new plan")
    if name == "PlanError":
        if any(c.live is not None for c in exc.conflicts):
            return "livemount never touches a mount it does not own; unmount it by hand or change the profile"
        return "nothing was changed; fix the path or the profile, then plan again"
    if name == "UndoError":
        return "run the same command again: it recovers from the journal"
    if name == "ApplyError":
        again = "destroy" if verb == "destroy" else verb
        if getattr(exc, "busy", None):
            return "stop those processes (or move them out of the mount), then %s again" % again
        return "nothing was changed; fix the cause and %s again (-v shows the traceback)" % again
    if name == "ProfileError":
        return _profile_hint(exc)
    if name == "StateError":
        return _state_hint(text)
    if name == "UnknownProfileError":
        return "" if exc.known or "was destroyed" in text else \
            "`livemount status` lists the profiles applied in a namespace"
    return ""


def _profile_hint(exc):
    if any(p[2] == "fstab" for p in exc.problems):
        return "the fstab file could not be converted; nothing was changed"
    if any(p[2] == "file" for p in exc.problems):
        m = re.search(r"cannot read profile (.*?): (?:no such file|No such file)", str(exc))
        if m:
            return "there is no file %s: check the path (a name alone means a profile applied before:" \
                   " `livemount status` lists them)" % m.group(1)
        return ""
    return "`livemount validate FILE` lists every problem with its line"


def _state_hint(text):
    m = re.search(r"cannot use state directory (.*): writable by group or others", text)
    if m:
        return "`chmod 700 %s`: livemount keeps its state only where no one else can write" % m.group(1)
    m = re.search(r"cannot use state directory (.*): owned by uid \d+, not (\d+)", text)
    if m:
        return "`chown %s %s`, or choose another directory with --state-dir" % (m.group(2), m.group(1))
    m = re.search(r"cannot use state directory (.*): not a directory", text)
    if m:
        return "remove or move %s, or choose another directory with --state-dir" % m.group(1)
    if text.startswith("cannot trust "):
        return ""  # the message says what to do
    return "`livemount status` shows the state this namespace has"
