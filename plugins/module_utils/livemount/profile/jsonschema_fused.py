"""Fused predicates for jsonschema_lite: one closure per subschema where the keyword-per-closure form costs calls.

jsonschema_lite compiles each keyword to a predicate and a subschema to the
conjunction of its keywords' predicates: a path (type, pattern, maxLength)
was four calls, an entry some fifty. For the instances a profile is made of
(exactly dict, list or str) the keywords of that type are checked here in
one closure: string bounds and pattern, array bounds and items, an object's
required, unknown, forbidden and dependent fields with its properties. An
`allOf` of `if`/`then` branches that all test one property (the entry's
type) picks its branches by that property's value, once per value.

Each builder gets the subschema's `generic` predicate (the conjunction of
every keyword) and falls back to it for any other instance (a str subclass,
a number, a missing property), so the verdict is always the generic one;
errors are never collected here: jsonschema_lite's per-keyword collectors
run, in keyword order, once a predicate says no.
"""


def always(inst):
    """Return True: the predicate of a schema that holds for everything (true, {}, annotations only)."""
    return True


def never(inst):
    """Return False: the predicate of a schema nothing satisfies (false, `not: {}`)."""
    return False


def conjunction(oks):
    """Return one predicate requiring every predicate of `oks` (`always` when none is left)."""
    oks = tuple(f for f in oks if f is not always)
    if not oks:
        return always
    if len(oks) == 1:
        return oks[0]
    if len(oks) == 2:
        first, second = oks

        def both(inst):
            return first(inst) and second(inst)
        return both

    def every(inst):
        for f in oks:
            if not f(inst):
                return False
        return True
    return every


def string_ok(generic, search, min_length, max_length, rest):
    """Return the predicate of a `type: string` subschema: pattern `search` and length bounds in one closure.

    `rest` is the predicate of its other keywords (enum, not, ...).
    """
    rest = None if rest is always else rest

    def ok(inst):
        if inst.__class__ is not str:
            return generic(inst)
        return (min_length <= len(inst) <= max_length and (search is None or search(inst) is not None)
                and (rest is None or rest(inst)))
    return ok


def array_ok(generic, min_items, max_items, item_ok, rest):
    """Return the predicate of an array subschema (type, items, minItems, maxItems) in one closure."""
    rest = None if rest is always else rest

    def ok(inst):
        if inst.__class__ is not list:
            return generic(inst)
        if not min_items <= len(inst) <= max_items:
            return False
        if item_ok is not always:
            for item in inst:
                if not item_ok(item):
                    return False
        return rest is None or rest(inst)
    return ok


def object_ok(generic, spec, rest):
    """Return the predicate of an object subschema in one closure; `spec` holds its object keywords, compiled.

    spec: `names` (the names under properties), `closed` (additionalProperties
    is false: no other name), `extra` (the predicate of other names' values
    when additionalProperties is a schema, else None), `required`
    (frozenset), `checked` ({name: predicate} of the properties that check
    something), `forbidden` (names whose property schema nothing satisfies),
    `dependent` (((name, frozenset of the names it needs), ...)).
    """
    names, closed, extra, required = spec["names"], spec["closed"], spec["extra"], spec["required"]
    checked, forbidden, dependent = spec["checked"], spec["forbidden"], spec["dependent"]
    rest = None if rest is always else rest

    def ok(inst):
        if inst.__class__ is not dict:
            return generic(inst)
        keys = inst.keys()
        if (closed and not keys <= names) or not keys >= required or not keys.isdisjoint(forbidden):
            return False
        for name in inst:
            sub_ok = checked.get(name)
            if sub_ok is not None and not sub_ok(inst[name]):
                return False
        if extra is not None:
            for name in inst:
                if name not in names and not extra(inst[name]):
                    return False
        for name, needs in dependent:
            if name in inst and not keys >= needs:
                return False
        return rest is None or rest(inst)
    return ok


def merged_spec(spec, other):
    """Return the object_ok spec requiring both `spec` and `other`, which neither closes nor types its mapping."""
    checked = dict(spec["checked"])
    for name, sub_ok in other["checked"].items():
        checked[name] = conjunction([checked[name], sub_ok]) if name in checked else sub_ok
    return dict(spec, required=spec["required"] | other["required"], forbidden=spec["forbidden"] | other["forbidden"],
                checked=checked, dependent=spec["dependent"] + other["dependent"])


_DISPATCH_MEMO = 64  # distinct values of the tested property kept per allOf (a profile uses a handful of types)


def dispatch_ok(generic, prop, branches):
    """Return the predicate of an allOf whose every item is `if: {properties: {prop: S}, required: [prop]}`.

    `branches` is [(S's predicate, then's, else's)]. For a mapping holding
    `prop` as a str, each `if` holds exactly when S holds for that value, so
    the branches that apply are chosen once per distinct value and fused;
    anything else goes through `generic`.
    """
    chosen = {}

    def ok(inst):
        if inst.__class__ is dict:
            value = inst.get(prop)
            if value.__class__ is str:
                branch = chosen.get(value)
                if branch is None:
                    branch = conjunction([then if cond(value) else other for cond, then, other in branches])
                    if len(chosen) < _DISPATCH_MEMO:
                        chosen[value] = branch
                return branch(inst)
        return generic(inst)
    return ok
