"""Bounds on rendering a chat template, which is untrusted text (a model folder's): no render may run for ever,
take the machine's memory, or read other files.

jinja2's sandbox keeps a template from Python's internals, not from burning time: `{% for a in range(100000) %}{%
for b in range(100000) %}{% endfor %}{% endfor %}` was accepted at load and rendered for ever (`axk1 serve` kept a
thread spinning per request). The environment here (`BoundedEnvironment`) bounds every render, in the rendering
thread itself (no thread or signal per render):
- steps: every iteration of every `{% for %}` loop (each loop's iterable is wrapped when the template is parsed),
  every call (macros too: recursion) and filter counts one; a render may take MAX_STEPS of them, and the clock is
  read every 256 (a render may take MAX_SECONDS). Lookups are not counted: without a loop or a call, a template's
  work is bounded by its own text;
- sizes: an integer argument above MAX_SIZE to a call or filter (`'x'.ljust(10**9)`, `center(10**9)`), a `*` whose
  string or list would pass MAX_SIZE, a `%` format of such a width, an integer power past MAX_EXPONENT, and output
  past MAX_OUTPUT characters are refused. A string or list built with `~` or `+`, or passed to a call or filter,
  may be MAX_VALUE long (a render's whole output: a message of a long-context prompt is that long, and released
  templates join it with `+`), no longer: a macro recursing on `s ~ s` doubled a string per step, 2^27 characters
  in 27 steps. `+` is checked before it builds; a `~` (every one is wrapped when the template is parsed) as it is
  built, from parts that each passed the check; a str's `replace`, `join` and `format`, and the `join` filter, are
  sized before they run (`s.replace('a', s)` built 1.6 billion characters from 40,000), and any call's or filter's
  result is held to MAX_VALUE. Each value alone being bounded left their sum: a loop keeping `s ~ i` of a 64 Mi
  string in a list held 64 MiB more per step (100 steps, 6.4 GB). So the items every `~`, `+`, `*`, call and filter
  builds are summed over the render, and the sum may reach MAX_BUILT (4 outputs' worth: a template reading each
  message a few times, or rebuilding its prompt with `+` message by message, stays far below it at the real
  128K-token context), no more. What a render holds at once is at most what it built;
- files: `{% include %}`, `{% import %}`, `{% from %}` and `{% extends %}` are refused when the template is parsed
  (there is no other template to read; transformers' environment has no loader either).
A render that passes a bound raises TemplateLimit, which chat_template.render_template turns into one ValueError
naming the template's source, as it does every other error a template raises.
"""

from __future__ import annotations

import re
import time
from contextvars import ContextVar
from dataclasses import dataclass
from functools import wraps
from typing import Any, Callable

from jinja2 import nodes, pass_eval_context
from jinja2.exceptions import TemplateSyntaxError
from jinja2.runtime import markup_join, str_join
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.visitor import NodeTransformer

MAX_STEPS = 5_000_000
MAX_SECONDS = 10.0
MAX_SIZE = 1 << 20
MAX_EXPONENT = 4096
MAX_OUTPUT = 64 << 20
MAX_VALUE = MAX_OUTPUT
MAX_BUILT = 4 * MAX_OUTPUT  # items all the strings and lists one render builds may hold together (see the docstring)
_NO_FILES = {nodes.Include: "include", nodes.Import: "import", nodes.FromImport: "from", nodes.Extends: "extends"}


class TemplateLimit(Exception):
    """A render passed one of the bounds; str() says which."""


class PastBounds(ValueError):
    """What render_template raises for a TemplateLimit: the one error naming the template's file and the bound."""


@dataclass
class _Budget:
    deadline: float
    steps: int = 0
    built: int = 0  # items of the strings and lists built so far (MAX_BUILT)


_BUDGET: ContextVar[_Budget | None] = ContextVar("axk1_template_budget", default=None)


def start_budget():
    """Starts the bounds of one render (in this thread); pass what it returns to `end_budget` when it is done."""
    return _BUDGET.set(_Budget(time.monotonic() + MAX_SECONDS))


def end_budget(token) -> None:
    _BUDGET.reset(token)


def tick() -> None:
    budget = _BUDGET.get()
    if budget is None:  # not rendering (parsing, a probe of the environment)
        return
    budget.steps += 1
    if budget.steps > MAX_STEPS:
        raise TemplateLimit(f"took more than {MAX_STEPS:,} steps (loop iterations, calls, filters)")
    if budget.steps % 256 == 0 and time.monotonic() > budget.deadline:
        raise TemplateLimit(f"ran for more than {MAX_SECONDS:g} s")


def _check_args(what: str, args: tuple, kwargs: dict) -> None:
    tick()
    for value in (*args, *kwargs.values()):
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_SIZE:
            raise TemplateLimit(f"passed {value} to {what}, more than the {MAX_SIZE:,} a template may ask for")
        if isinstance(value, (str, list, tuple)) and len(value) > MAX_VALUE:
            raise TemplateLimit(f"passed a {type(value).__name__} of {len(value):,} items to {what}, more than "
                                f"{MAX_VALUE:,}")


def _counted(items):
    for item in items:
        tick()
        yield item


def _bounded_filter(name: str, fn: Callable) -> Callable:
    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        _check_args(f"the filter {name}", args, kwargs)
        if name == "join":  # (eval_ctx, value, d="", attribute=None): what it builds, before it builds it
            values = [a for a in args if not isinstance(a, nodes.EvalContext)]
            separator = kwargs.get("d", values[1] if len(values) > 1 and isinstance(values[1], str) else "")
            _check_built("join", _joined_size(separator, values[0] if values else ()), "")
        return _checked_result(name, fn(*args, **kwargs), (*args, *kwargs.values()))
    return wrapper


def _joined_size(separator: str, items: Any) -> int:
    """The length a join of `items` makes, counting the strings among them (others' text is short or checked)."""
    if not isinstance(items, (list, tuple)):
        return 0
    return sum(len(x) for x in items if isinstance(x, str)) + len(separator) * max(len(items) - 1, 0)


_WIDE_FIELD = re.compile(r"\{[^{}]*:[^{}]*\d{7}")  # str.format's field of a width or precision of millions


def _check_str_method(method: Any, args: tuple) -> None:
    """str methods whose result can be far larger than their arguments, sized before they run: `s.replace('a', s)`
    with s of 40,000 characters built 1.6 billion, `'{:>999999999}'.format(1)` one billion."""
    bound = getattr(method, "__wrapped__", method)  # the sandbox hands out str.format wrapped (its own checks)
    owner, name = getattr(bound, "__self__", None), getattr(bound, "__name__", "")
    if not isinstance(owner, str):
        return
    if name == "replace" and len(args) >= 2 and isinstance(args[0], str) and isinstance(args[1], str):
        n = owner.count(args[0]) if args[0] else len(owner) + 1
        if len(args) > 2 and isinstance(args[2], int) and args[2] >= 0:
            n = min(n, args[2])
        _check_built("replace", len(owner) + n * (len(args[1]) - len(args[0])), owner)
    elif name == "join" and args:
        _check_built("join", _joined_size(owner, args[0]), owner)
    elif name in ("format", "format_map") and (found := _WIDE_FIELD.search(owner)):
        raise TemplateLimit(f"formatted with {found.group()!r}, a width past {MAX_SIZE:,}")


def _checked_result(what: str, value: Any, inputs: tuple = ()) -> Any:
    """A call's or filter's result past MAX_VALUE is refused: whatever built it, the next step cannot grow it. A
    result that is one of its inputs (`default`, a str method that changed nothing) was not built, so not counted."""
    if not isinstance(value, (str, list, tuple)) or any(value is x for x in inputs):
        return value
    _check_built(what, len(value), value)
    return _built(value)


def _multiply(left: Any, right: Any) -> Any:
    for seq, n in ((left, right), (right, left)):
        if isinstance(seq, (str, list, tuple)) and isinstance(n, int) and len(seq) * n > MAX_SIZE:
            raise TemplateLimit(f"made a {type(seq).__name__} of {len(seq) * n:,} items with `*`, more than "
                                f"{MAX_SIZE:,}")
        if isinstance(seq, (str, list, tuple)) and isinstance(n, int):
            _check_built("*", len(seq) * n, seq)
    return _built(left * right)


def _add(left: Any, right: Any) -> Any:
    if isinstance(left, (str, list, tuple)) and isinstance(right, (str, list, tuple)):
        _check_built("+", len(left) + len(right), left)
    return _built(left + right)


def _check_built(how: str, size: int, value: Any) -> None:
    """A value of `size` items about to be (or just) built by `how`: within MAX_VALUE, and the render's sum within
    MAX_BUILT. Checking does not count it; `_built` does, once the value exists."""
    if size > MAX_VALUE:
        raise TemplateLimit(f"made a {type(value).__name__} of {size:,} items with `{how}`, more than {MAX_VALUE:,}")
    budget = _BUDGET.get()
    if budget is not None and budget.built + size > MAX_BUILT:
        raise TemplateLimit(f"built more than {MAX_BUILT:,} items of strings and lists in all (the last with "
                            f"`{how}`), past what one render may hold")


def _built(value: Any) -> Any:
    """Counts a new string or list (or tuple) against the render's MAX_BUILT; returns it."""
    budget = _BUDGET.get()
    if budget is not None and isinstance(value, (str, list, tuple)):
        budget.built += len(value)
    return value


@pass_eval_context
def _sized_concat(eval_ctx: Any, parts: list) -> str:
    # what jinja's compiled `~` calls (markup_join under autoescape), then the check; each part passed it already
    joined = (markup_join if eval_ctx.autoescape else str_join)(parts)
    _check_built("~", len(joined), joined)
    return _built(joined)


class _SizeConcats(NodeTransformer):
    """Every `a ~ b ~ c` becomes `[a, b, c] | axk1_concat`: the same join, with its size checked."""

    def visit_Concat(self, node: nodes.Concat) -> nodes.Node:
        node = self.generic_visit(node)  # the parts' own `~` first
        parts = nodes.List(node.nodes, lineno=node.lineno)
        return nodes.Filter(parts, "axk1_concat", [], [], None, None, lineno=node.lineno)


def _power(left: Any, right: Any) -> Any:
    if isinstance(right, int) and abs(right) > MAX_EXPONENT and isinstance(left, int) and abs(left) > 1:
        raise TemplateLimit(f"raised to the power {right}, more than {MAX_EXPONENT}")
    return left ** right


_WIDE_FORMAT = re.compile(r"%[^a-zA-Z%]*(\d{7}|\*)")  # a width or precision of millions, or taken from the args


def _modulo(left: Any, right: Any) -> Any:
    if isinstance(left, str) and (found := _WIDE_FORMAT.search(left)):
        values = right if isinstance(right, tuple) else (right,)
        if found.group(1) != "*" or any(isinstance(v, int) and abs(v) > MAX_SIZE for v in values):
            raise TemplateLimit(f"formatted with {found.group()!r}, a width past {MAX_SIZE:,}")
    return left % right


class BoundedEnvironment(ImmutableSandboxedEnvironment):
    """jinja2's immutable sandbox with the bounds above."""

    intercepted_binops = frozenset({"*", "**", "%", "+"})

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.binop_table = {**self.binop_table, "*": _multiply, "**": _power, "%": _modulo, "+": _add}
        self.filters = {name: _bounded_filter(name, fn) for name, fn in self.filters.items()}
        self.filters["axk1_counted"] = _counted
        self.filters["axk1_concat"] = _sized_concat

    def add_filter(self, name: str, fn: Callable) -> None:
        self.filters[name] = _bounded_filter(name, fn)

    def _parse(self, source: str, name: str | None, filename: str | None) -> nodes.Template:
        tree = super()._parse(source, name, filename)
        for kind, tag in _NO_FILES.items():
            for node in tree.find_all(kind):
                raise TemplateSyntaxError(f"{{% {tag} %}} reads another template, which a chat template cannot "
                                          "(it is one file); put what it needs in the template itself",
                                          node.lineno, name, filename)
        for loop in tree.find_all(nodes.For):  # every iteration of every loop counts a step
            loop.iter = nodes.Filter(loop.iter, "axk1_counted", [], [], None, None, lineno=loop.lineno)
        return _SizeConcats().visit(tree)

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N805 (jinja's form)
        _check_args("a call", args, kwargs)
        _check_str_method(__obj, args)
        inputs = (__obj, getattr(__obj, "__self__", None), *args, *kwargs.values())
        return _checked_result("a call", super().call(__context, __obj, *args, **kwargs), inputs)


def render_bounded(template: Any, variables: dict[str, Any]) -> str:
    """A compiled template rendered within the bounds (TemplateLimit past one)."""
    token = start_budget()
    try:
        out, size = [], 0
        for chunk in template.generate(variables):
            size += len(chunk)
            if size > MAX_OUTPUT:
                raise TemplateLimit(f"wrote more than {MAX_OUTPUT:,} characters")
            out.append(chunk)
        return "".join(out)
    finally:
        end_budget(token)

