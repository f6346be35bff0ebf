"""YAML text -> data, built in one pass over the parser's events, with the guards a profile needs.

PyYAML's own load composes a node graph (recursively: with libyaml, `[[[[...`
50,000 deep overflows the C stack and kills the process) and then runs its
pure-Python constructor over every node: 1.5 s for 10,000 entries, of which
the parse is a tenth. Here the data is built straight from the events with an
explicit stack, so nesting is bounded by MAX_DEPTH as it is read, aliases are
counted as they come (MAX_ALIASES), duplicate keys are refused (PyYAML keeps
the last silently) and the implicit type of a plain scalar is resolved once
per distinct text. The result is what yaml.safe_load gives: the same scalar
types (non-string tags go through SafeLoader's own constructors), merge keys
(`<<`), an alias giving the very object its anchor made. Collections with a
tag other than map or seq (!!set, !!omap, ...) are refused: a profile holds
mappings, lists and scalars.
"""

MAX_ALIASES = 100
MAX_DEPTH = 64  # a profile needs 4 levels (profile, mounts, entry, lower)
_MAP = "tag:yaml.org,2002:map"
_SEQ = "tag:yaml.org,2002:seq"
_STR = "tag:yaml.org,2002:str"
_MERGE = "tag:yaml.org,2002:merge"
_VALUE = "tag:yaml.org,2002:value"
_loader = None


def loader_class(yaml):
    """Return the SafeLoader class the events come from: libyaml's (ten times faster) when present."""
    global _loader
    if _loader is None:
        _loader = getattr(yaml, "CSafeLoader", None) or yaml.SafeLoader
    return _loader


def load(yaml, text):
    """Return the data of the single YAML document in `text` (None when empty); yaml.YAMLError when refused."""
    return load_counted(yaml, text)[0]


def load_counted(yaml, text):
    """Return (data, values): load()'s data and how many values it holds, or None for values when unknown.

    The builder counts each collection's length as it closes, which is the
    count of the result unless an alias repeats a collection or a merge key
    copies items (then None: the caller counts the data itself).
    """
    # An exact type test: libyaml refuses str subclasses (ansible-core 2.19 tags its strings).
    if type(text) is not str:  # pylint: disable=unidiomatic-typecheck
        text = str(text)
    builder = _Builder(yaml, loader_class(yaml)(text))
    data = builder.document()
    return data, (builder.count if builder.aliases == 0 and not builder.merged else None)


class _Builder:
    """Turns one stream of parser events into Python data (one instance per load)."""

    def __init__(self, yaml, parser):
        self.yaml = yaml
        self.parser = parser
        self.anchors = {}
        self.aliases = 0
        self.merged = False  # a mapping took in merge keys' items (they were counted where they were written)
        self.count = 1  # values built: the top one, then each collection's length as it closes
        self.tags = {}  # (scalar text, implicit) -> resolved tag, for scalars tagged `!`
        self.firsts = _resolver_firsts(parser)
        self.values = {}  # (tag, text) -> constructed non-string scalar (all immutable)

    def _error(self, problem, mark, cls=None):
        return (cls or self.yaml.composer.ComposerError)(None, None, problem, mark)

    def document(self):
        """Return the document's data, refusing a second document as yaml.load does."""
        yaml, parser = self.yaml, self.parser
        try:
            parser.get_event()  # StreamStart
            if isinstance(parser.peek_event(), yaml.StreamEndEvent):
                return None
            parser.get_event()  # DocumentStart
            data = self._collect()
            parser.get_event()  # DocumentEnd
            if not isinstance(parser.peek_event(), yaml.StreamEndEvent):
                raise self._error("expected a single document in the stream, but found another document",
                                  parser.peek_event().start_mark)
            return data
        finally:
            parser.dispose()

    def _collect(self):
        """Return the value of the node starting at the next event, its collections built with an explicit stack.

        One loop, the innermost open collection in local variables and the
        enclosing ones saved on `stack`: the events themselves (libyaml makes
        a Python object of each) are the floor, so the per-event work here is
        kept to a few attribute reads and one dict lookup for a plain scalar.
        A mapping's items are set as they come, so an alias of an enclosing
        anchor gets the very (still growing) object, as PyYAML's does.
        """
        yaml = self.yaml
        get = self.parser.get_event
        scalar_event, alias_event = yaml.ScalarEvent, yaml.AliasEvent
        map_start, seq_start = yaml.MappingStartEvent, yaml.SequenceStartEvent
        map_end, seq_end = yaml.MappingEndEvent, yaml.SequenceEndEvent
        anchors = self.anchors
        plain = {}  # plain untagged scalar text -> its value: resolved and constructed once per distinct text
        firsts = self.firsts
        stack = []  # per enclosing open collection: the five variables below as they were
        container = None  # the innermost open collection; None at the top
        in_map = False
        key = _NO_KEY  # the mapping's pending key
        key_event = None  # the event that ended that key: a duplicate key is reported at its mark
        merges = None  # the mapping's `<<` values with their marks
        while True:
            event = get()
            cls = event.__class__
            if cls is scalar_event:
                if event.tag is not None:
                    value = self._tagged(event)
                elif event.implicit[0]:  # plain: its type comes from its text (1, true, null, 0x1f, ...)
                    text = event.value
                    value = plain.get(text, _NO_KEY)
                    if value is _NO_KEY:
                        if firsts is not None and text and text[0] not in firsts:
                            value = text  # no implicit type starts with this character: a string (paths: '/')
                        else:
                            value = plain[text] = self._value(self._resolved(event), event)
                else:
                    value = event.value  # quoted, untagged: a string (Resolver's default scalar tag)
                if event.anchor is not None:
                    anchors[event.anchor] = value
            elif cls is map_start or cls is seq_start:
                if event.tag is not None:
                    self._check_collection_tag(event, cls is map_start)
                value = {} if cls is map_start else []
                if event.anchor is not None:
                    anchors[event.anchor] = value
                if len(stack) >= MAX_DEPTH:
                    raise self._error("nested more than %d levels deep" % MAX_DEPTH, event.start_mark)
                stack.append((container, in_map, key, key_event, merges))
                container, in_map, key, key_event, merges = value, cls is map_start, _NO_KEY, None, None
                continue
            elif cls is map_end or cls is seq_end:
                value = container
                if merges:
                    value = _merged(yaml, container, merges)
                    self._replace_anchor(container, value)
                    self.merged = True
                self.count += len(value)
                container, in_map, key, key_event, merges = stack.pop()
            elif cls is alias_event:
                value = self._alias(event)
            else:
                raise self._error("unexpected %s" % cls.__name__, event.start_mark)
            if value is _MERGE_KEY and not (in_map and key is _NO_KEY):
                # `<<` merges only as a mapping's key; anywhere else it is no value (SafeConstructor says the same).
                raise self._error("could not determine a constructor for the tag %r" % _MERGE, event.start_mark,
                                  self.yaml.constructor.ConstructorError)
            if container is None:
                return value
            if not in_map:
                container.append(value)
            elif key is _NO_KEY:
                if cls is not scalar_event and isinstance(value, (list, dict)):
                    raise self._error("found unhashable key", event.start_mark, yaml.constructor.ConstructorError)
                key, key_event = value, event
            else:
                if key is _MERGE_KEY:
                    merges = (merges or []) + [(value, event.start_mark)]
                else:
                    try:
                        fresh = key not in container
                    except TypeError:
                        fresh = False  # _check_new_key names the unhashable key
                    if not fresh:
                        self._check_new_key(container, key, key_event)
                    container[key] = value
                key = _NO_KEY

    def _check_new_key(self, container, key, key_event):
        """Raise ConstructorError when `key` is already in mapping `container` (1 and true are different keys)."""
        try:
            # `is` first, as `in` does: a key that is not equal to itself (.nan) is the same key only as itself.
            seen = key in container and type(key) is type(next(k for k in container if k is key or k == key))
        except TypeError:
            raise self._error("found unhashable key", key_event.start_mark, self.yaml.constructor.ConstructorError)
        if seen:
            raise self._error("duplicate key %r" % (key,), key_event.start_mark, self.yaml.constructor.ConstructorError)

    def _resolved(self, event):
        """Return the tag the resolver gives an untagged (or `!`-tagged) scalar's text."""
        memo = (event.value, event.implicit)
        tag = self.tags.get(memo)
        if tag is None:
            tag = self.tags[memo] = self.parser.resolve(self.yaml.ScalarNode, event.value, event.implicit)
        return tag

    def _tagged(self, event):
        """Return the value of a scalar written with a tag (`!!int '7'`, `! 1`, `!!python/...` refused)."""
        if event.tag == "!":
            return self._value(self._resolved(event), event)
        return self._value(event.tag, event)

    def _value(self, tag, event):
        """Return the value of scalar `event` read as `tag`: SafeLoader's constructor for all but strings."""
        text = event.value
        if tag == _STR:
            return text
        if tag == _MERGE:
            return _MERGE_KEY
        if tag == _VALUE:
            return text  # SafeConstructor reads a `=` key as the string "="
        memo = (tag, text)
        if memo not in self.values:
            node = self.yaml.ScalarNode(tag, text, event.start_mark, event.end_mark, event.style)
            self.values[memo] = self.parser.construct_object(node, deep=True)
        return self.values[memo]

    def _check_collection_tag(self, event, is_map):
        """Raise ConstructorError unless a collection's tag is map or seq (!!set, !!omap, !!python/... are not)."""
        if event.tag not in ("!", _MAP if is_map else _SEQ):
            raise self._error("could not determine a constructor for the tag %r" % event.tag, event.start_mark,
                              self.yaml.constructor.ConstructorError)

    def _alias(self, event):
        self.aliases += 1
        if self.aliases > MAX_ALIASES:
            raise self._error("more than %d aliases" % MAX_ALIASES, event.start_mark)
        if event.anchor not in self.anchors:
            raise self._error("found undefined alias %r" % event.anchor, event.start_mark)
        return self.anchors[event.anchor]

    def _replace_anchor(self, old, new):
        for name, value in self.anchors.items():
            if value is old:
                self.anchors[name] = new


def _resolver_firsts(parser):
    """Return the first characters the parser's implicit resolvers are filed under, or None when unsure.

    Resolver.resolve looks a plain scalar's implicit resolvers up by its
    first character (yaml_implicit_resolvers, filled by add_implicit_resolver):
    text starting with any other character is a string, unless a resolver is
    filed under None (tried on every text) or path resolvers are in use. Each
    distinct path in a profile then skips a resolve() call.
    """
    resolvers = getattr(parser, "yaml_implicit_resolvers", None)
    if not isinstance(resolvers, dict) or None in resolvers or getattr(parser, "yaml_path_resolvers", True):
        return None
    return frozenset(resolvers)


def check_depth(yaml, loader, text):
    """Raise ComposerError when collections nest more than MAX_DEPTH levels deep: call it before yaml.compose.

    libyaml's parser is a state machine, but PyYAML builds nodes recursively:
    with the C loader, `[[[[...` 50,000 deep overflows the C stack and kills
    the process with SIGSEGV (the pure-Python loader takes seconds to reach
    RecursionError). load() needs no such pass (it counts as it builds);
    whoever composes nodes (the line numbers of `livemount validate`) does.
    """
    events = loader(text)
    try:
        depth = 0
        while events.check_event():
            event = events.get_event()
            if isinstance(event, (yaml.SequenceStartEvent, yaml.MappingStartEvent)):
                depth += 1
                if depth > MAX_DEPTH:
                    raise yaml.composer.ComposerError(None, None, "nested more than %d levels deep" % MAX_DEPTH,
                                                      event.start_mark)
            elif isinstance(event, (yaml.SequenceEndEvent, yaml.MappingEndEvent)):
                depth -= 1
    finally:
        events.dispose()


_NO_KEY = object()  # a mapping frame waiting for its next key
_MERGE_KEY = object()  # the `<<` key: its value's mappings are merged in (SafeConstructor.flatten_mapping)


def _merged(yaml, explicit, merges):
    """Return mapping `explicit` with its merge keys' mappings folded in (yaml.org/type/merge.html).

    Explicit keys win; among merged mappings the first to give a key wins, in
    the order they appear (`<<: [*a, *b]`: a's before b's), as PyYAML 6.0.2+
    does. Merged keys come first in the result. ConstructorError when a
    merged value is not a mapping or a list of mappings.
    """
    out = {}
    for value, mark in merges:
        maps = value if isinstance(value, list) else [value]
        if not all(isinstance(m, dict) for m in maps):
            raise yaml.constructor.ConstructorError(None, None, "expected a mapping or list of mappings for "
                                                    "merging, but found %s" % type(value).__name__, mark)
        for m in maps:
            for k, v in m.items():
                out.setdefault(k, v)
    out.update(explicit)
    return out
