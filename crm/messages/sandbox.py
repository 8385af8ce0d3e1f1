"""The template sandbox with a cost cap: no render can burn CPU or memory, whatever the template says.

Jinja2's ``ImmutableSandboxedEnvironment`` keeps templates away from Python internals and from mutating
lists and dicts; on top of it, each render runs under a ``Budget``:

- **steps**: every loop iteration and every call (a method, a macro, ``range``) is one step;
- **size**: every value a template makes (an output piece, ``~``, ``+``, ``*``, ``%``, a literal, a slice,
  a filter's or a call's result) is measured before it is kept, and the operations that could make a
  huge value from small ones (``'x' * n``, ``n ** m``, ``'%9999999d' % 1``, ``center(n)``, ``join``,
  ``replace``, ``indent``, ``batch``, ``slice``, ``tojson(indent=n)``) are checked *before* they run;
  no value may exceed ``value_cap``;
- **work**: the sizes of all values made add up to at most ``work`` characters;
- **time**: a deadline, checked at every step and every value.

A template that breaks one fails with ``RenderLimit`` (a ``TemplateProblem``) naming the limit.
"""
from __future__ import annotations

import re
import time
from collections.abc import ItemsView, KeysView, ValuesView
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from functools import wraps

from jinja2 import StrictUndefined, nodes, pass_context
from jinja2.runtime import Namespace
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.visitor import NodeTransformer

MAX_BITS = 4096   # integers a template computes (about 1,200 digits)
_FORMAT_NUMBER = re.compile(r"\d+")
_PRINTF = re.compile(r"%(?:\([^)]*\))?[-#0 +]*(\*|\d+)?(?:\.(\*|\d+))?")   # width, precision
_FORMAT_SPEC = re.compile(r"\{[^{}]*?:([^{}]*)\}")
_NESTED_SPEC = re.compile(r"\{[^{}]*:[^{}]*\{")


class TemplateProblem(Exception):
    """A template that does not parse or does not render; ``message`` says why."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class RenderLimit(TemplateProblem):
    """A render stopped by the cost cap."""


@dataclass(frozen=True)
class Budget:
    """What one render may spend. ``value_cap`` and ``size_message`` come from the channel's body cap."""

    value_cap: int
    size_message: str
    steps: int = 10_000
    work: int = 1_000_000
    seconds: float = 1.0
    time_message: str | None = None   # when a caller's deadline, not ``seconds``, is what runs out
    spent: dict = field(default_factory=lambda: {"steps": 0, "work": 0})
    started: float = field(default_factory=time.monotonic)

    def _clock(self) -> None:
        if time.monotonic() - self.started > self.seconds:
            raise RenderLimit(self.time_message or f"The template takes longer than {self.seconds:g} s to render "
                                                   "(MESSAGES_RENDER_TIMEOUT).")

    def step(self) -> None:
        self.spent["steps"] += 1
        if self.spent["steps"] > self.steps:
            raise RenderLimit(f"The template takes more than {self.steps} steps, loop iterations and calls "
                              "(MESSAGES_RENDER_MAX_STEPS).")
        self._clock()

    def too_big(self) -> RenderLimit:
        return RenderLimit(self.size_message)

    def allow(self, size: int) -> None:
        """Refuse, before it is made, a value of ``size`` characters."""
        if size > self.value_cap:
            raise self.too_big()

    def made(self, value):
        """A value the template made: measured, counted as work, returned."""
        size = estimate(value, self.value_cap)
        self.allow(size)
        self.spent["work"] += size
        if self.spent["work"] > self.work:
            raise RenderLimit(f"The template makes more than {self.work} characters while rendering "
                              "(MESSAGES_RENDER_MAX_WORK).")
        self._clock()
        return value


_BUDGET: ContextVar[Budget | None] = ContextVar("template_budget", default=None)


def current() -> Budget:
    budget = _BUDGET.get()
    if budget is None:   # the environment used outside ``spending`` (not by this code): sizes are still capped
        return Budget(value_cap=100_000, size_message="The template makes a value of more than 100000 characters.")
    return budget


@contextmanager
def spending(budget: Budget):
    token = _BUDGET.set(budget)
    try:
        yield budget
    finally:
        _BUDGET.reset(token)


def estimate(value, cap: int) -> int:
    """About how many characters ``value`` is as text; stops counting once past ``cap``."""
    total, stack = 0, [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            total += len(item)
        elif isinstance(item, bool) or item is None:
            total += 5
        elif isinstance(item, int):
            total += item.bit_length() // 3 + 1
        elif isinstance(item, float):
            total += 24
        elif isinstance(item, dict):
            total += 2 + 4 * len(item)
            if total <= cap:
                stack.extend(item.keys())
                stack.extend(item.values())
        elif isinstance(item, (list, tuple, set, frozenset, KeysView, ValuesView, ItemsView)):
            total += 2 + 2 * len(item)
            if total <= cap:
                stack.extend(item)
        elif isinstance(item, Namespace):
            stack.append(getattr(item, "_Namespace__attrs", {}))
        else:
            total += 16
        if total > cap:
            return total
    return total


def _arg(args: tuple, kwargs: dict, index: int, name: str, default=None):
    if len(args) > index:
        return args[index]
    return kwargs.get(name, default)


def _int(value) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _check_format(budget: Budget, template, arguments, style: str = "printf") -> None:
    """``'%9d' % x`` (printf) or ``'{:>9}'.format(x)``: no field wider than the cap, no width taken from
    the arguments (``%*d``, ``{:{w}}``), and arguments within the cap."""
    if isinstance(template, str):
        if style == "printf":
            widths = [w for pair in _PRINTF.findall(template) for w in pair]
        elif _NESTED_SPEC.search(template):
            raise budget.too_big()
        else:
            widths = [n for spec in _FORMAT_SPEC.findall(template) for n in _FORMAT_NUMBER.findall(spec)]
        if any(w == "*" or (w and (len(w) > 9 or int(w) > budget.value_cap)) for w in widths):
            raise budget.too_big()
    budget.allow(estimate(template, budget.value_cap) + estimate(arguments, budget.value_cap))


def _predict_replace(budget: Budget, text, old, new, count) -> None:
    if not isinstance(text, str) or not isinstance(old, str) or not isinstance(new, str):
        return
    times = text.count(old) if old else len(text) + 1
    if isinstance(count, int) and count >= 0:
        times = min(times, count)
    budget.allow(len(text) + times * max(len(new) - len(old), 0))


def _predict_join(budget: Budget, items, separator) -> None:
    try:
        n = len(items)
    except TypeError:
        return
    budget.allow(estimate(items, budget.value_cap) + max(n - 1, 0) * estimate(separator or "", budget.value_cap))


def _before_filter(name: str, value, args: tuple, kwargs: dict) -> None:
    budget = current()
    cap = budget.value_cap
    budget.allow(estimate(value, cap))
    for argument in (*args, *kwargs.values()):
        budget.allow(estimate(argument, cap))
    size = estimate(value, cap)
    if name == "center":
        budget.allow(max(size, _int(_arg(args, kwargs, 0, "width", 80))))
    elif name == "indent":
        width = _arg(args, kwargs, 0, "width", 4)
        width = len(width) if isinstance(width, str) else _int(width)
        lines = str(value).count("\n") + 1 if isinstance(value, str) else 1
        budget.allow(size + lines * width)
    elif name == "wordwrap":
        width = max(_int(_arg(args, kwargs, 0, "width", 79)), 1)
        wrap = _arg(args, kwargs, 2, "wrapstring", None) or "\n"
        budget.allow(size + (size // width + 1) * estimate(wrap, cap))
    elif name in ("batch", "slice"):
        budget.allow(_int(_arg(args, kwargs, 0, "linecount" if name == "batch" else "slices", 0)))
    elif name == "replace":
        _predict_replace(budget, value, _arg(args, kwargs, 0, "old"), _arg(args, kwargs, 1, "new"),
                         _arg(args, kwargs, 2, "count"))
    elif name == "join":
        _predict_join(budget, value, _arg(args, kwargs, 0, "d", ""))
    elif name == "format":
        _check_format(budget, value, (args, kwargs))
    elif name == "tojson":
        indent = _arg(args, kwargs, 0, "indent", None)
        indent = len(indent) if isinstance(indent, str) else _int(indent)
        budget.allow(size * (1 + indent))


def _guarded_filter(name: str, function):
    passes_something = getattr(function, "jinja_pass_arg", None) is not None

    @wraps(function)
    def guarded(*args, **kwargs):
        value, rest = (args[1], args[2:]) if passes_something else (args[0], args[1:])
        _before_filter(name, value, rest, kwargs)
        return current().made(function(*args, **kwargs))

    return guarded


_WIDTH_METHODS = {"center", "ljust", "rjust", "zfill"}


def _before_call(budget: Budget, obj, args: tuple, kwargs: dict) -> None:
    for argument in (*args, *kwargs.values()):
        budget.allow(estimate(argument, budget.value_cap))
    method = getattr(obj, "__wrapped__", obj)   # the sandbox hands out str.format wrapped
    owner, name = getattr(method, "__self__", None), getattr(method, "__name__", "")
    if isinstance(owner, str):
        if name in _WIDTH_METHODS:
            budget.allow(max(len(owner), _int(_arg(args, kwargs, 0, "width", 0))))
        elif name == "expandtabs":
            budget.allow(len(owner) + owner.count("\t") * _int(_arg(args, kwargs, 0, "tabsize", 8)))
        elif name == "replace":
            _predict_replace(budget, owner, _arg(args, kwargs, 0, "old"), _arg(args, kwargs, 1, "new"),
                             _arg(args, kwargs, 2, "count"))
        elif name == "join":
            _predict_join(budget, _arg(args, kwargs, 0, "iterable", ()), owner)
        elif name in ("format", "format_map"):
            _check_format(budget, owner, (args, kwargs), style="format")


def _checked_range(*args):
    budget = current()
    span = range(*args)
    if len(span) > budget.steps:
        raise RenderLimit(f"A range has at most {budget.steps} items (MESSAGES_RENDER_MAX_STEPS).")
    return span


@pass_context
def _out(context, value):
    """Every piece of output (also of a {% set %} block or a macro), measured as text."""
    budget = current()
    budget.allow(estimate(value, budget.value_cap))
    return budget.made(value if isinstance(value, str) else str(value))


@pass_context
def _value(context, value):
    return current().made(value)


@pass_context
def _loop(context, iterable):
    budget = current()
    for item in iterable:
        budget.step()
        yield item


class _Guards(NodeTransformer):
    """Wraps loops, output pieces and value-making expressions of a parsed template in the guards."""

    @staticmethod
    def _wrap(node, name):
        return nodes.Filter(node, name, [], [], None, None, lineno=node.lineno)

    def visit_Output(self, node):
        node = self.generic_visit(node)
        node.nodes = [self._wrap(child, "__guard_out") for child in node.nodes]
        return node

    def visit_For(self, node):
        node = self.generic_visit(node)
        node.iter = self._wrap(node.iter, "__guard_loop")
        return node

    def _made(self, node):
        node = self.generic_visit(node)
        if getattr(node, "ctx", "load") != "load":
            return node
        return self._wrap(node, "__guard_value")

    visit_Concat = visit_List = visit_Tuple = visit_Dict = visit_Getitem = _made


class BoundedSandbox(ImmutableSandboxedEnvironment):
    """The sandbox every message template renders in (see the module's docstring)."""

    intercepted_binops = frozenset({"+", "*", "**", "%"})

    def __init__(self, **options):
        super().__init__(**options)
        self.globals.pop("lipsum", None)   # lipsum(n) writes n paragraphs
        self.globals["range"] = _checked_range
        self.filters = {name: _guarded_filter(name, f) for name, f in self.filters.items()}
        self.filters.update({"__guard_out": _out, "__guard_value": _value, "__guard_loop": _loop})

    def call(__self, __context, __obj, *args, **kwargs):   # Jinja's signature
        budget = current()
        budget.step()
        _before_call(budget, __obj, args, kwargs)
        return budget.made(super().call(__context, __obj, *args, **kwargs))

    def call_binop(self, context, operator, left, right):
        budget = current()
        cap = budget.value_cap
        if operator == "*":
            for sequence, times in ((left, right), (right, left)):
                if isinstance(sequence, (str, list, tuple)) and isinstance(times, int):
                    budget.allow(estimate(sequence, cap) * max(times, 0))
            if isinstance(left, int) and isinstance(right, int) and left.bit_length() + right.bit_length() > MAX_BITS:
                raise RenderLimit("The template computes a number too large to write.")
        elif operator == "**":
            if isinstance(left, int) and isinstance(right, int) and right > 0 \
                    and max(left.bit_length(), 1) * right > MAX_BITS and abs(left) > 1:
                raise RenderLimit("The template computes a number too large to write.")
        elif operator == "%" and isinstance(left, str):
            _check_format(budget, left, right)
        elif operator == "+":
            budget.allow(estimate(left, cap) + estimate(right, cap))
        return budget.made(super().call_binop(context, operator, left, right))

    def guarded(self, source: str) -> nodes.Template:
        """The parsed template with its guards in; compile it with ``from_string``."""
        return _Guards().visit(self.parse(source))


def environment(undefined=StrictUndefined) -> BoundedSandbox:
    return BoundedSandbox(undefined=undefined, autoescape=False, keep_trailing_newline=False)
