"""@record: a dataclass for the engine's value types, without compiling its methods at import.

`dataclasses.dataclass` writes the source of __init__, __repr__, __eq__,
__hash__, __setattr__ and __delattr__ for each class and compiles it with
exec() as the module is imported: about 110 compilations for the engine's
classes, a third of importing the engine, paid by every `livemount` process
and every Ansible task (docs/benchmarks.md). A run uses a few of them.

Here dataclasses still reads the class (fields, defaults, field() options:
dataclasses.fields() and dataclasses.replace() work as on any dataclass),
but writes no method. The comparisons, the hash, the repr and the frozen
guard are shared functions over the fields, read in C (operator.attrgetter);
__init__ is compiled the first time the class is instantiated, one line a
field, as dataclasses would. Instances behave as a `@dataclass(frozen=True)`
(or plain `@dataclass`) one does: equal when of the same class with equal
compared fields, hashable when frozen, `Name(field=value, ...)` as their
repr, FrozenInstanceError on assignment when frozen.
"""

import dataclasses
import operator

_HAS_FACTORY = object()  # the default of a parameter whose field has a default_factory
_PREFIX = "_lm_"  # names of the generated __init__'s own: no field's


def record(cls=None, *, frozen=True):
    """Return `cls` made a dataclass (frozen unless `frozen` is False) whose methods cost nothing at import.

    Used bare (`@record`) or with the argument (`@record(frozen=False)`).
    """
    def wrap(cls):
        return _make(cls, frozen)

    return wrap if cls is None else wrap(cls)


def field(**options):
    """Return dataclasses.field(**options): a field of a @record class with a default factory, compare=False...

    The same function under this module's name: pylint knows dataclasses' own
    field() only inside classes its dataclass decorator makes, and @record is
    not that decorator.
    """
    return dataclasses.field(**options)  # pylint: disable=invalid-field-call  # for a @record class


def _make(cls, frozen):
    cls = dataclasses.dataclass(init=False, repr=False, eq=False)(cls)
    fields = dataclasses.fields(cls)
    compared = tuple(f.name for f in fields if f.compare)
    hashed = tuple(f.name for f in fields if (f.compare if f.hash is None else f.hash))
    shown = tuple(f.name for f in fields if f.repr)

    def __init__(self, *args, **kwargs):  # pylint: disable=invalid-name
        real = _init(cls)
        cls.__init__ = real  # the next instances call it directly
        real(self, *args, **kwargs)

    compare = _getter(compared)

    def __eq__(self, other):  # pylint: disable=invalid-name
        if other.__class__ is self.__class__:
            return compare(self) == compare(other)
        return NotImplemented

    def __repr__(self):  # pylint: disable=invalid-name
        return "%s(%s)" % (self.__class__.__qualname__, ", ".join("%s=%r" % (n, getattr(self, n)) for n in shown))

    cls.__init__ = __init__
    cls.__eq__ = __eq__
    cls.__repr__ = __repr__
    if frozen:
        key = _getter(hashed)
        names = frozenset(f.name for f in fields)

        def __hash__(self):  # pylint: disable=invalid-name
            return hash(key(self))

        def __setattr__(self, name, value):  # pylint: disable=invalid-name
            if type(self) is cls or name in names:  # pylint: disable=unidiomatic-typecheck
                raise dataclasses.FrozenInstanceError("cannot assign to field %r" % name)
            super(cls, self).__setattr__(name, value)

        def __delattr__(self, name):  # pylint: disable=invalid-name
            if type(self) is cls or name in names:  # pylint: disable=unidiomatic-typecheck
                raise dataclasses.FrozenInstanceError("cannot delete field %r" % name)
            super(cls, self).__delattr__(name)

        cls.__hash__ = __hash__
        cls.__setattr__ = __setattr__
        cls.__delattr__ = __delattr__
    else:
        cls.__hash__ = None  # mutable and compared by value: unhashable, as a dataclass is
    return cls


def _getter(names):
    """Return a function giving the tuple of the attributes `names` of an object."""
    if len(names) > 1:
        return operator.attrgetter(*names)  # a tuple, built in C
    if names:
        one = operator.attrgetter(names[0])
        return lambda obj: (one(obj),)
    return lambda obj: ()


def _init(cls):
    """Return the __init__ of record class `cls`: its fields as parameters, in order, with their defaults."""
    env = {_PREFIX + "factory": _HAS_FACTORY}
    params, lines = ["self"], []
    for k, f in enumerate(dataclasses.fields(cls)):
        if f.default is not dataclasses.MISSING:
            env["%sdefault_%d" % (_PREFIX, k)] = f.default
            params.append("%s=%sdefault_%d" % (f.name, _PREFIX, k))
            lines.append("    %sd[%r] = %s" % (_PREFIX, f.name, f.name))
        elif f.default_factory is not dataclasses.MISSING:
            env["%smake_%d" % (_PREFIX, k)] = f.default_factory
            params.append("%s=%sfactory" % (f.name, _PREFIX))
            lines.append("    %sd[%r] = %smake_%d() if %s is %sfactory else %s"
                         % (_PREFIX, f.name, _PREFIX, k, f.name, _PREFIX, f.name))
        else:
            params.append(f.name)
            lines.append("    %sd[%r] = %s" % (_PREFIX, f.name, f.name))
    # Into the instance's __dict__, in the fields' order, as a frozen dataclass's object.__setattr__ calls put them.
    source = "\n".join(["def __init__(%s):" % ", ".join(params), "    %sd = self.__dict__" % _PREFIX] + lines)
    exec(source, env)  # pylint: disable=exec-used  # field names only, from the class itself
    init = env["__init__"]
    init.__qualname__ = "%s.__init__" % cls.__qualname__
    return init
