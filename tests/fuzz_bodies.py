"""Hypothesis strategies for hostile request bodies, built from a JSON schema (the server's own OpenAPI document).

`valid_ish(schema)` draws objects shaped by the schema: within its bounds when `hostile_one_in` is None, otherwise
with each value replaced one time in `hostile_one_in` by something hostile, and numbers and sizes drawn a little
past their bounds. `mutated` plants one fault in a well-formed object (a hostile value anywhere, a field removed, a
stray or reserved key added), so the fault, not some other field, decides the answer: single faults reach the deep
parts of the server that a body with five mistakes never does. Hostile values: the wrong JSON type, strings that
look like numbers or booleans, integers past int64 and uint64, lone surrogates, over-long strings, nested
structures. `raw_bodies` turns objects into bytes, sometimes broken at the JSON level: nesting thousands deep, NaN,
1e999, an integer of 5,000 digits, cut off, not an object, not UTF-8.
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import strategies as st

HOSTILE_INTS = [-1, 0, 2**31, 2**53 + 1, 2**63 - 1, 2**63, 2**64 - 1, 2**64, -(2**63) - 1, 10**30]
HOSTILE_STRINGS = ["\ud800", "a\udfffb", "\udc00\ud800", "4", "yes", "no", "true", "null", "", "NaN", "-1",
                   "<|im_end|>", "</think>", "{{ raise_exception('x') }}", "x" * 300]
RESERVED_KEYS = ["messages", "add_generation_prompt", "bos_token", "eos_token", "raise_exception", "self", "tools"]

_leaf = st.one_of(st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.sampled_from(HOSTILE_INTS),
                  st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=12),
                  st.sampled_from(HOSTILE_STRINGS))
HOSTILE = st.recursive(_leaf, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                      st.dictionaries(st.text(max_size=6), inner, max_size=4)),
                       max_leaves=12)
# What a planted fault is: half the time one of the values that broke the server by hand, else anything.
MUTANTS = st.one_of(st.sampled_from(HOSTILE_INTS + HOSTILE_STRINGS + [None, True, False, [], {}, 0.5, 1e308]),
                    HOSTILE)


def _resolve(schema: dict[str, Any], components: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    return components[ref.rsplit("/", 1)[-1]] if ref else schema


def valid_ish(schema: dict[str, Any], components: dict[str, Any], overrides: dict[str, st.SearchStrategy],
              hostile_one_in: int | None = 10) -> st.SearchStrategy:
    """Values shaped by `schema`; `overrides` replace the strategy of properties by name (e.g. 'model')."""
    loose = hostile_one_in is not None

    def node(s: dict[str, Any], name: str | None = None) -> st.SearchStrategy:
        shaped = overrides[name] if name in overrides else st.deferred(lambda: shape(_resolve(s, components)))
        if not loose:
            return shaped
        # Mostly well-formed, sometimes hostile; which one is a drawn integer, so Hypothesis can shrink either way.
        return st.integers(0, hostile_one_in - 1).flatmap(lambda k: HOSTILE if k == 0 else shaped)

    def shape(s: dict[str, Any]) -> st.SearchStrategy:
        if "anyOf" in s:
            return st.one_of([node(m) for m in s["anyOf"]])
        if "const" in s:
            return st.just(s["const"])
        if "enum" in s:
            return st.sampled_from(s["enum"])
        kind = s.get("type")
        if kind == "object":
            props = s.get("properties", {})
            required = {k: node(v, k) for k, v in props.items() if k in s.get("required", [])}
            optional = {k: node(v, k) for k, v in props.items() if k not in s.get("required", [])}
            base = st.fixed_dictionaries(required, optional=optional)
            if not loose or s.get("additionalProperties", True) is False:
                return base
            extra = st.dictionaries(st.one_of(st.sampled_from(RESERVED_KEYS), st.text(max_size=8)), HOSTILE,
                                    max_size=2)
            return st.tuples(base, extra).map(lambda pair: {**pair[1], **pair[0]})
        if kind == "array":
            items = node(s.get("items", {}))
            # Past maxItems now and then: the limits themselves are under test.
            limit = s.get("maxItems")
            top = (6 if loose else 3) if limit is None else (min(limit + 2, 20) if loose else min(limit, 3))
            return st.lists(items, min_size=s.get("minItems", 0), max_size=top)
        if kind == "string":
            limit = s.get("maxLength")
            at_limit = st.text(min_size=limit, max_size=limit + loose) if limit else st.nothing()
            # short when well-formed: a served model's context is small in tests, and a prompt must fit it
            return st.one_of(st.text(max_size=16 if loose else 6), at_limit)
        if kind == "integer":
            low = s.get("minimum", s["exclusiveMinimum"] + 1 if "exclusiveMinimum" in s else -(2**64))
            high = s.get("maximum", s["exclusiveMaximum"] - 1 if "exclusiveMaximum" in s else 2**64)
            near = st.integers(low, min(high, low + 64))
            return st.one_of(near, st.integers(low - 2, high + 2)) if loose else st.one_of(near, st.just(high))
        if kind == "number":
            low, high = s.get("minimum", s.get("exclusiveMinimum")), s.get("maximum", s.get("exclusiveMaximum"))
            inside = st.floats(low, high, allow_nan=False, allow_infinity=False,
                               exclude_min="exclusiveMinimum" in s, exclude_max="exclusiveMaximum" in s)
            return inside | st.integers(-3, 3) if loose else inside
        if kind == "boolean":
            return st.booleans()
        if kind == "null":
            return st.none()
        return HOSTILE

    return shape(_resolve(schema, components))


@st.composite
def raw_bodies(draw: st.DrawFn, objects: st.SearchStrategy) -> bytes:
    """A drawn object as request bytes; one time in three broken at the JSON level."""
    obj = draw(objects)
    text = json.dumps(obj)  # ensure_ascii: lone surrogates travel as \ud800 escapes, as a hostile client sends them
    how = draw(st.sampled_from(["plain"] * 6 + ["deep", "nan", "cut", "not_object", "bytes"]))
    if how == "deep" and isinstance(obj, dict):
        depth = draw(st.sampled_from([31, 33, 1000, 100_000]))
        key = draw(st.sampled_from(sorted(obj) or ["prompt"]))
        text = json.dumps({**obj, key: "@@deep@@"}).replace('"@@deep@@"', "[" * depth + "]" * depth)
    elif how == "nan" and isinstance(obj, dict):
        key = draw(st.sampled_from(sorted(obj) or ["temperature"]))
        text = json.dumps({**obj, key: "@@nan@@"}).replace('"@@nan@@"', draw(st.sampled_from(["NaN", "Infinity",
                                                                                              "1e999", "9" * 5000])))
    elif how == "cut":
        text = text[: draw(st.integers(0, max(0, len(text) - 1)))]
    elif how == "not_object":
        text = json.dumps(draw(st.one_of(st.lists(st.just(obj), max_size=2), HOSTILE)))
    raw = text.encode()
    if how == "bytes":
        raw = raw[: draw(st.integers(0, len(raw)))] + draw(st.sampled_from([b"\xff", b"\xc3", b"\xed\xa0\x80"]))
    return raw


def _places(value: Any, path: tuple = ()) -> list[tuple]:
    """Every path to a value inside `value` (dict keys and list indices), the root included."""
    out = [path]
    if isinstance(value, dict):
        for k, v in value.items():
            out += _places(v, path + (k,))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out += _places(v, path + (i,))
    return out


def _replace(value: Any, path: tuple, new: Any) -> Any:
    if not path:
        return new
    head, rest = path[0], path[1:]
    if isinstance(value, dict):
        return {**value, head: _replace(value[head], rest, new)}
    return [_replace(v, rest, new) if i == head else v for i, v in enumerate(value)]


@st.composite
def mutated(draw: st.DrawFn, objects: st.SearchStrategy) -> Any:
    """A well-formed object with one fault planted: a hostile value at any place but the root, a key removed, or a
    stray key (a reserved template key, a random one) added to any object in it."""
    obj = draw(objects)
    places = _places(obj)[1:] or [()]
    path = draw(st.sampled_from(places))
    how = draw(st.sampled_from(["value", "value", "value", "drop", "add"]))
    if how == "value" or not path:
        return _replace(obj, path, draw(MUTANTS))
    parent_path, key = path[:-1], path[-1]
    parent = obj
    for step in parent_path:
        parent = parent[step]
    if how == "drop":
        new_parent = ({k: v for k, v in parent.items() if k != key} if isinstance(parent, dict)
                      else [v for i, v in enumerate(parent) if i != key])
    else:
        target = parent if isinstance(parent, dict) else None
        if target is None:
            return _replace(obj, path, draw(MUTANTS))
        new_parent = {**target, draw(st.sampled_from(RESERVED_KEYS) | st.text(max_size=8)): draw(MUTANTS)}
    return _replace(obj, parent_path, new_parent)


def request_bodies(spec: dict[str, Any], path: str, clean: dict[str, st.SearchStrategy],
                   loose: dict[str, st.SearchStrategy]) -> st.SearchStrategy:
    """Bytes for POST `path` of an OpenAPI document: half the time a well-formed body with one planted fault,
    otherwise a well-formed one as is, or one faulty all over; then sometimes broken at the JSON level.
    `clean` overrides properties of the well-formed bodies (model, sizes that fit the served model)."""
    schema = spec["paths"][path]["post"]["requestBody"]["content"]["application/json"]["schema"]
    components = spec["components"]["schemas"]
    well_formed = valid_ish(schema, components, clean, hostile_one_in=None)
    faulty = valid_ish(schema, components, loose, hostile_one_in=10)
    return raw_bodies(st.one_of(mutated(well_formed), mutated(well_formed), well_formed, faulty))
