"""The parser's records (ingest/record.py) behave as the frozen dataclasses they replaced."""

from __future__ import annotations

import copy
import pickle

import pytest

from bounceledger.ingest.record import Record, factory
from bounceledger.ingest.records import ParsedMessage, Verdict


class Pair(Record):
    name: str
    count: int = 0
    tags: list[str] = factory(list)


class Box(Record, frozen=False):
    items: list[int] = factory(list)


def test_fields_defaults_and_factories() -> None:
    one, two = Pair("a"), Pair("a")
    assert (one.name, one.count, one.tags) == ("a", 0, [])
    assert one.tags is not two.tags  # a fresh list each
    assert Pair("b", 2, ["x"]) == Pair(name="b", count=2, tags=["x"])
    assert Pair._fields == ("name", "count", "tags")


def test_construction_errors_are_the_usual_type_errors() -> None:
    with pytest.raises(TypeError, match="missing required argument: 'name'"):
        Pair()
    with pytest.raises(TypeError, match="unexpected keyword argument 'nope'"):
        Pair("a", nope=1)
    with pytest.raises(TypeError, match="multiple values for argument 'name'"):
        Pair("a", name="b")
    with pytest.raises(TypeError, match="positional arguments"):
        Pair("a", 1, [], "extra")
    with pytest.raises(TypeError, match="without a default follows"):
        type("Bad", (Record,), {"__annotations__": {"a": "int", "b": "int"}, "a": 0})


def test_frozen_equal_hashable_and_replaced() -> None:
    one = Pair("a", 1, [])
    with pytest.raises(AttributeError):
        one.count = 2  # type: ignore[misc]
    with pytest.raises(AttributeError):
        del one.count  # type: ignore[misc]
    assert one.replace(count=5) == Pair("a", 5, [])
    assert one.count == 1
    with pytest.raises(TypeError):
        one.replace(nope=1)
    assert one != Pair("a", 2, []) and one != ("a", 1, [])
    verdict = Verdict("bounce", "x@example.org", "userunknown", True)
    assert hash(verdict) == hash(Verdict("bounce", "x@example.org", "userunknown", True))
    assert {verdict, verdict.replace(reason="mailboxfull")} == {verdict, Verdict("bounce", "x@example.org", "mailboxfull", True)}
    assert repr(Pair("a")) == "Pair(name='a', count=0, tags=[])"
    assert Pair("a").as_dict() == {"name": "a", "count": 0, "tags": []}


def test_a_mutable_record_assigns_fields_only_and_is_not_hashable() -> None:
    box = Box()
    box.items = [1]
    assert box == Box([1])
    with pytest.raises(AttributeError):
        box.other = 1  # type: ignore[attr-defined]
    with pytest.raises(TypeError):
        hash(box)


def test_pickles_and_copies_as_the_parse_worker_needs() -> None:
    parsed = ParsedMessage("bounce", (Verdict("bounce", "x@example.org", "userunknown", True, status="5.1.1"),),
                           headers={"Subject": "x"})
    assert pickle.loads(pickle.dumps(parsed, protocol=pickle.HIGHEST_PROTOCOL)) == parsed
    assert copy.deepcopy(parsed) == parsed and copy.copy(parsed) == parsed
