"""The request-time check for JSON schemas with no finite value (axk1/infer/finite_schema.py): it names the
reference that can only recur, and never refuses a schema that has a value (each one kept is shown a value the
`jsonschema` library accepts)."""

from __future__ import annotations

import jsonschema
import pytest

from axk1.infer import finite_schema
from axk1.infer.finite_schema import recursion_without_exit

NO_VALUE = {  # schema -> (where, ref) the check names
    "the root as itself": ({"$ref": "#"}, ("", "#")),
    "a def as itself": ({"type": "object", "properties": {"a": {"$ref": "#/$defs/x"}}, "required": ["a"],
                         "$defs": {"x": {"$ref": "#/$defs/x"}}}, ("properties.a", "#/$defs/x")),
    "a property as itself": ({"type": "object", "properties": {"a": {"$ref": "#/properties/a"}}, "required": ["a"]},
                             ("properties.a", "#/properties/a")),
    "an object that holds itself": ({"type": "object", "properties": {"a": {"$ref": "#"}}, "required": ["a"]},
                                    ("properties.a", "#")),
    "a non-empty list of itself": ({"type": "array", "items": {"$ref": "#"}, "minItems": 1}, ("items", "#")),
    "every branch recurs": ({"anyOf": [{"$ref": "#"}, {"type": "object", "properties": {"a": {"$ref": "#"}},
                                                       "required": ["a"]}]}, ("anyOf[0]", "#")),
    "two defs through each other": ({"type": "object", "properties": {"x": {"$ref": "#/$defs/a"}}, "required": ["x"],
                                     "$defs": {"a": {"type": "object", "properties": {"b": {"$ref": "#/$defs/b"}},
                                                     "required": ["b"]},
                                               "b": {"type": "array", "minItems": 2, "items": {"$ref": "#/$defs/a"}}}},
                                    ("properties.x", "#/$defs/a")),
    "draft 7's definitions, an escaped name": ({"definitions": {"a/b": {"$ref": "#/definitions/a~1b"}},
                                                "$ref": "#/definitions/a~1b"}, ("", "#/definitions/a~1b")),
}

HAS_VALUE = {  # schema -> a value of it
    "a tree": ({"type": "object", "properties": {"kids": {"type": "array", "items": {"$ref": "#"}}},
                "required": ["kids"]}, {"kids": []}),
    "a list that may end": ({"type": "object", "properties": {"next": {"anyOf": [{"$ref": "#"}, {"type": "null"}]}},
                             "required": ["next"]}, {"next": None}),
    "no type: a number will do": ({"properties": {"a": {"$ref": "#"}}, "required": ["a"]}, 7),
    "an object or null": ({"type": ["object", "null"], "properties": {"a": {"$ref": "#"}}, "required": ["a"]}, None),
    "an optional self": ({"type": "object", "properties": {"a": {"$ref": "#"}}}, {}),
    "defs through each other, with a way out": (
        {"$ref": "#/$defs/a", "$defs": {"a": {"type": "object", "properties": {"b": {"$ref": "#/$defs/b"}},
                                              "required": ["b"]},
                                        "b": {"anyOf": [{"$ref": "#/$defs/a"}, {"type": "string"}]}}}, {"b": "x"}),
    "a long chain of defs to a string": ({"$ref": "#/$defs/a0", "$defs": {
        **{f"a{i}": {"$ref": f"#/$defs/a{i + 1}"} for i in range(200)}, "a200": {"type": "string"}}}, "s"),
}


@pytest.mark.parametrize("name", NO_VALUE)
def test_a_schema_whose_recursion_has_no_way_out_is_named(name):
    schema, found = NO_VALUE[name]
    assert recursion_without_exit(schema) == found


@pytest.mark.parametrize("name", HAS_VALUE)
def test_a_schema_with_a_finite_value_is_kept(name):
    schema, value = HAS_VALUE[name]
    jsonschema.validate(value, schema)  # the library's word that the schema has this value
    assert recursion_without_exit(schema) is None


def test_references_it_cannot_follow_and_hostile_sizes_get_no_verdict(monkeypatch):
    """An anchor, a pointer to nothing, a `$id` below the root (which "#" would then mean): llguidance's to judge;
    and past the work bound the check gives up rather than spend the request's time."""
    for schema in ({"$ref": "#here"}, {"$ref": "#/$defs/none"}, {"$ref": "other.json"},
                   {"type": "object", "properties": {"a": {"$id": "inner", "$ref": "#"}}, "required": ["a"]}):
        assert recursion_without_exit(schema) is None, schema
    loop = {"$ref": "#/$defs/a0", "$defs": {f"a{i}": {"$ref": f"#/$defs/a{(i + 1) % 50}"} for i in range(50)}}
    assert recursion_without_exit(loop) == ("", "#/$defs/a0")
    monkeypatch.setattr(finite_schema, "WORK_BOUND", 20)
    assert recursion_without_exit(loop) is None
