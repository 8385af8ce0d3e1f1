"""Reading a POST /graphql body: JSON text to a dict, or a reason to refuse it with a 400.

Every refusal happens here, before parsing the GraphQL document, so that no body, however
odd, reaches a resolver in a shape it cannot handle or ends in an HTTP 500.
"""
from __future__ import annotations

import json

# Deeper than any honest request (a customer's attributes, a segment rule) and far below
# Python's recursion limit, which the JSON parser and every later walk over the values share.
MAX_JSON_DEPTH = 64
NOT_AN_OBJECT = "The body must be a JSON object {query, variables, operationName}."


class BodyRefused(Exception):
    """The body cannot be served; ``message`` says why, for the client."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def parse_body(raw: bytes) -> dict:
    """The request object of ``raw``; BodyRefused for anything but a JSON object of storable values."""
    if not raw.strip():
        raise BodyRefused("The body is empty; it must be a JSON object {query, variables, operationName}.")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise BodyRefused("The body is not valid UTF-8.") from None
    try:
        # NaN and Infinity parse (as Python does): the scalars refuse them, naming the field.
        body = json.loads(text)
    except RecursionError:
        raise BodyRefused(f"The body nests deeper than {MAX_JSON_DEPTH} levels.") from None
    except ValueError:
        raise BodyRefused(NOT_AN_OBJECT) from None
    if isinstance(body, list):
        raise BodyRefused("Batched requests are not supported: send one operation per request.")
    if not isinstance(body, dict):
        raise BodyRefused(NOT_AN_OBJECT)
    problem = unstorable(body)
    if problem:
        raise BodyRefused(problem)
    return body


def _text_problem(value: str) -> str | None:
    if "\x00" in value:
        return "Text in the request must not contain NUL characters."
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "Text in the request must be valid Unicode (no lone surrogates)."
    return None


def unstorable(value) -> str | None:
    """Why ``value`` cannot be stored, or None: a NUL or a lone surrogate anywhere (PostgreSQL stores
    neither, and the error would surface as an internal one deep in a resolver), or nesting deeper than
    MAX_JSON_DEPTH. Iterative, so that no depth of nesting can exhaust the stack."""
    pending = [(value, 1)]  # (a value, the level of the objects and arrays it would open)
    while pending:
        item, level = pending.pop()
        if isinstance(item, str):
            problem = _text_problem(item)
            if problem:
                return problem
        elif isinstance(item, (dict, list)):
            if level > MAX_JSON_DEPTH:
                return f"The request nests deeper than {MAX_JSON_DEPTH} levels."
            children = [*item, *item.values()] if isinstance(item, dict) else item
            pending.extend((child, level + 1) for child in children)
    return None
