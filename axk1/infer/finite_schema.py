"""Whether a JSON schema admits a finite JSON value, told before its grammar is compiled. A schema whose `$ref`s
recur wherever a value is needed has none: {"$ref": "#"}; a required property defined as a reference to itself
(directly or through `$defs`); an object that must hold itself again; an array of at least one item that is the
schema again. llguidance compiles such a schema, and its matcher then either fails where the recursion starts
(NoExtensionBias, a token or more into the reply, which was a 500 for the whole request) or nests until
max_tokens. Here it is a 400 that names the field and the reference (axk1/infer/guided_request.py).

The check is the least fixpoint of "has a finite value" over the schema's local references ("#", "#/json/pointer"),
reading only the keywords that force a value to hold another: `$ref`, `allOf`, `anyOf`, `oneOf`, `type`, an
object's `required` properties and an array's first `minItems` items (`prefixItems`, `items`). Every other keyword
only narrows the values, so leaving it unread can only call a schema finite that is not (llguidance's own checks,
and a choice's error mid-reply, catch the rest): the check never refuses a schema that has a finite value. It
gives up (no verdict) where a reference's meaning depends on more than the document (`$id` below the root, anchors,
remote references) and past WORK_BOUND schema nodes.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any
from urllib.parse import unquote

WORK_BOUND = 200_000  # schema nodes read, all passes together: bounds a hostile schema's cost (ordinary: hundreds)
ROOT = "#"


class _GiveUp(Exception):
    """The schema is past what this check reads; llguidance and the mid-reply backstop judge it."""


def recursion_without_exit(schema: Any) -> tuple[str, str] | None:
    """(where, ref) when `schema` has no finite value for want of a way out of its recursion: `where`, the place
    whose value must match `ref` (a path of keywords, "" for the top), `ref` a reference that can only recur; None
    when it may have one (or is unsatisfiable for another reason, which llguidance reports)."""
    try:
        return _Fixpoint(schema).run()
    except _GiveUp:
        return None


class _Fixpoint:
    def __init__(self, root: Any) -> None:
        self.root, self.work = root, 0
        self.finite: dict[str, bool] = {}  # ref -> has a finite value (False until proved)
        self.readers: dict[str, set[str]] = defaultdict(set)  # ref -> the refs whose verdict read it
        self.pending: list[str] = []

    def run(self) -> tuple[str, str] | None:
        self._note(ROOT)
        while self.pending:
            ref = self.pending.pop()
            if self.finite[ref]:
                continue
            reads: dict[str, str] = {}
            if self._has_value(self._resolve(ref), "", reads):
                self.finite[ref] = True
                self.pending.extend(self.readers[ref])
            else:
                for read in reads:
                    self.readers[read].add(ref)
        if self.finite[ROOT]:
            return None
        reads = {}
        self._has_value(self.root, "", reads)
        # no reference to blame: the schema is unsatisfiable without recursion, which llguidance names itself
        return next(((where, ref) for ref, where in reads.items() if not self.finite[ref]), None)

    def _note(self, ref: str) -> None:
        if ref not in self.finite:
            self._resolve(ref)  # gives up on a reference this check cannot follow
            self.finite[ref] = False
            self.pending.append(ref)

    def _resolve(self, ref: str) -> Any:
        if ref == ROOT:
            return self.root
        if not ref.startswith("#/"):
            raise _GiveUp  # an anchor, a remote or relative reference
        node = self.root
        for part in ref[2:].split("/"):
            part = unquote(part).replace("~1", "/").replace("~0", "~")
            if isinstance(node, dict) and part in node:
                node = node[part]
            elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
                node = node[int(part)]
            else:
                raise _GiveUp  # llguidance names a reference that leads nowhere
        return node

    def _has_value(self, schema: Any, where: str, reads: dict[str, str]) -> bool:
        """Whether `schema` has a finite value, the references' verdicts taken as they stand; `reads` gets each
        reference it read (and where)."""
        self.work += 1
        if self.work > WORK_BOUND:
            raise _GiveUp
        if schema is False:
            return False
        if not isinstance(schema, dict):
            return True
        if "$id" in schema and schema is not self.root:
            raise _GiveUp  # "#" below it means that subschema
        if any(k in schema for k in ("$dynamicRef", "$recursiveRef")):
            raise _GiveUp
        ref = schema.get("$ref")
        if isinstance(ref, str):  # siblings ignored: draft 7 ignores them, and reading fewer keywords stays sound
            self._note(ref)
            reads.setdefault(ref, where)
            return self.finite[ref]
        for key, need in (("allOf", all), ("anyOf", any), ("oneOf", any)):
            parts = schema.get(key)
            if isinstance(parts, list) and parts and not need(
                    self._has_value(p, _at(where, f"{key}[{i}]"), reads) for i, p in enumerate(parts)):
                return False
        kinds = schema.get("type")
        kinds = [kinds] if isinstance(kinds, str) else kinds if isinstance(kinds, list) and kinds else None
        if kinds is None or any(k not in ("object", "array") for k in kinds):
            return True  # a value of another type needs nothing more
        return any(self._object(schema, where, reads) if k == "object" else self._array(schema, where, reads)
                   for k in kinds)

    def _object(self, schema: dict[str, Any], where: str, reads: dict[str, str]) -> bool:
        properties, required = schema.get("properties"), schema.get("required")
        if not isinstance(properties, dict) or not isinstance(required, list):
            return True
        return all(self._has_value(properties[name], _at(where, f"properties.{name}"), reads)
                   for name in required if isinstance(name, str) and name in properties)

    def _array(self, schema: dict[str, Any], where: str, reads: dict[str, str]) -> bool:
        least = schema.get("minItems")
        if type(least) is not int or least < 1:
            return True
        prefix, rest = schema.get("prefixItems"), schema.get("items")
        if isinstance(rest, list):  # draft 7's tuple form: its items first, then additionalItems (not read)
            prefix, rest = rest, None
        prefix = prefix if isinstance(prefix, list) else []
        needed = [(f"prefixItems[{i}]", p) for i, p in enumerate(prefix[:least])]
        if least > len(prefix) and rest is not None:
            needed.append(("items", rest))
        return all(self._has_value(s, _at(where, key), reads) for key, s in needed)


def _at(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key
