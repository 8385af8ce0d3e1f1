"""Reading a POST /graphql body: JSON text to a dict, or a reason to refuse it with a 400.

Every refusal happens here, before parsing the GraphQL document, so that no body, however
odd, reaches a resolver in a shape it cannot handle or ends in an HTTP 500.
"""
from __future__ import annotations

import json

from crm.values import MAX_JSON_DEPTH, unstorable

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
