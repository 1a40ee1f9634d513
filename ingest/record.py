"""Value records for the parser, defined without the ``dataclasses`` module.

``bounceledger parse FILE`` is mostly start-up, and the parser's records
were a large part of it: defining a dataclass executes generated code for
each of its methods (12.7 M instructions for a frozen, slotted one of 20
fields, under cachegrind), and importing ``dataclasses`` loads ``inspect``
with it (about 50 M more). That was about a third of a one-file parse.
A :class:`Record` subclass states its fields once, as annotated class
attributes, a default being the value assigned (:func:`factory` for a
mutable one); construction, equality, hashing, ``repr`` and copying with
changes are shared code that reads that list. Type checkers treat
subclasses as frozen dataclasses (PEP 681).

The per-instance cost is a little higher than a dataclass's generated
``__init__`` (a loop instead of straight-line code): a few microseconds
per parsed message. Records made per log line (``Attempt``) stay
dataclasses for that reason.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar, dataclass_transform

_MISSING = object()


class _Factory:
    """A default made fresh for each record (a dict, a list)."""

    __slots__ = ("make",)

    def __init__(self, make: Callable[[], Any]) -> None:
        self.make = make


def factory(make: Callable[[], Any]) -> Any:
    """``field: dict[str, str] = factory(dict)``: each record gets its own."""
    return _Factory(make)


@dataclass_transform(frozen_default=True, field_specifiers=(factory,))
class Record:
    """A record: fields in the order annotated, frozen unless ``frozen=False``.

    Records are equal when they are of the same class and their fields
    are; frozen ones hash by their fields. ``replace`` is
    ``dataclasses.replace``; ``as_dict`` is a shallow ``dataclasses.asdict``.
    """

    _fields: ClassVar[tuple[str, ...]] = ()
    _field_set: ClassVar[frozenset[str]] = frozenset()
    _plain_defaults: ClassVar[dict[str, Any]] = {}
    _factories: ClassVar[tuple[tuple[str, Callable[[], Any]], ...]] = ()
    _frozen: ClassVar[bool] = True

    def __init_subclass__(cls, *, frozen: bool = True, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        names: list[str] = []
        for klass in reversed(cls.__mro__):
            for name in klass.__dict__.get("__annotations__", {}):
                if not name.startswith("_") and name not in names:
                    names.append(name)
        # a default is the value the class (or a base) assigns to the field
        defaults = {name: value for name in names if (value := getattr(cls, name, _MISSING)) is not _MISSING}
        required_after_default = [n for i, n in enumerate(names) if n not in defaults and any(m in defaults for m in names[:i])]
        if required_after_default:
            raise TypeError(f"{cls.__name__}: field {required_after_default[0]!r} without a default follows one with a default")
        cls._fields = tuple(names)
        cls._field_set = frozenset(names)
        cls._plain_defaults = {name: value for name, value in defaults.items() if type(value) is not _Factory}
        cls._factories = tuple((name, value.make) for name, value in defaults.items() if type(value) is _Factory)
        cls._frozen = frozen
        if not frozen:
            cls.__hash__ = None  # type: ignore[assignment]  # a mutable record is not hashable, as with dataclasses

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        cls = type(self)
        state = self.__dict__
        state.update(cls._plain_defaults)  # dict and set operations below run in C: no loop over the fields
        if args:
            if len(args) > len(cls._fields):
                raise TypeError(f"{cls.__name__}() takes {len(cls._fields)} positional arguments but {len(args)} were given")
            named = dict(zip(cls._fields, args))
            if kwargs and kwargs.keys() & named.keys():
                raise TypeError(f"{cls.__name__}() got multiple values for argument {min(kwargs.keys() & named.keys())!r}")
            state.update(named)
        if kwargs:
            unknown = kwargs.keys() - cls._field_set
            if unknown:
                raise TypeError(f"{cls.__name__}() got an unexpected keyword argument {min(unknown)!r}")
            state.update(kwargs)
        for name, make in cls._factories:
            if name not in state:
                state[name] = make()
        if len(state) != len(cls._fields):
            missing = [name for name in cls._fields if name not in state]
            raise TypeError(f"{cls.__name__}() missing required argument: {missing[0]!r}")

    def _values(self) -> tuple[Any, ...]:
        state = self.__dict__
        return tuple(state[name] for name in self._fields)

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return self._values() == other._values()  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash(self._values())

    def __repr__(self) -> str:
        state = self.__dict__
        return f"{type(self).__qualname__}({', '.join(f'{name}={state[name]!r}' for name in self._fields)})"

    def __setattr__(self, name: str, value: Any) -> None:
        if self._frozen:
            raise AttributeError(f"cannot assign to field {name!r} of a frozen {type(self).__name__}")
        if name not in self._fields:
            raise AttributeError(f"{type(self).__name__} has no field {name!r}")
        self.__dict__[name] = value

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"cannot delete field {name!r} of {type(self).__name__}")

    def replace(self, **changes: Any) -> Any:
        """A copy with ``changes`` (``dataclasses.replace``)."""
        state = self.__dict__
        return type(self)(**{name: changes[name] if name in changes else state[name] for name in self._fields},
                          **{k: v for k, v in changes.items() if k not in self._fields})

    def as_dict(self) -> dict[str, Any]:
        """The fields by name, values as they are."""
        state = self.__dict__
        return {name: state[name] for name in self._fields}
