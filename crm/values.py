"""What the database can store of a client's value: checked wherever one is read, by the transport (the
request body, the scalars, literals in the document) and by the domain (cursors, rule values)."""
from __future__ import annotations

import decimal as _decimal

# Money is stored as a 64-bit count of 1/10,000 units (crm.db.Money): at most about 9.2 * 10**14. Below
# 10**14 any amount stores and converts at the configured rates; an order's own rule (below 10**11) keeps
# the sums in range too.
MAX_DECIMAL = _decimal.Decimal(10) ** 14

# Deeper than any honest request (a customer's attributes, a segment rule) and far below
# Python's recursion limit, which the JSON parser and every later walk over the values share.
MAX_JSON_DEPTH = 64


def decimal_in_range(number: _decimal.Decimal) -> bool:
    """Below MAX_DECIMAL in magnitude; copy_abs needs no context, so 1E+1000000 answers False, not Overflow."""
    return number.copy_abs() < MAX_DECIMAL


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


def language_of(locale: str | None, languages, default: str = "en") -> str:
    """The language a customer with ``locale`` reads among ``languages`` ("de-CH" and "de_AT" are "de"), else
    ``default``: the customer pages, the message footers and the confirmation emails choose alike."""
    code = (locale or "").replace("_", "-").split("-")[0].lower()
    return code if code in languages else default
