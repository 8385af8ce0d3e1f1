"""Arguments a scalar refused (``crm.api.scalars.InvalidValue``), turned into INVALID errors that name
the field: ``BaseMutation`` makes them payload errors, ``refuse_invalid_arguments`` (a middleware on
every other field) a GraphQL error with ``extensions.code`` and ``field``."""
from __future__ import annotations

from crm.api.scalars import InvalidValue
from crm.errors import Invalid


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def first_invalid(arguments: dict) -> tuple[list[str], str] | None:
    """(camelCase path, message) of the first refused value among resolver ``arguments``, or None."""
    pending = [([_camel(name)], value) for name, value in reversed(list(dict.items(arguments)))]
    while pending:
        path, value = pending.pop()
        if isinstance(value, InvalidValue):
            return path, value.message
        if isinstance(value, dict):
            # dict.items, not value.items: graphene's input objects are dicts whose fields are attributes
            # too, and OrderRecordInput has a field named "items".
            pending.extend((path + [_camel(str(k))], v) for k, v in reversed(list(dict.items(value))))
        elif isinstance(value, list):
            pending.extend((path + [str(i)], v) for i, v in reversed(list(enumerate(value))))
    return None


def refuse_invalid_arguments(next_, root, info, **arguments):
    """graphql-core middleware: a field whose arguments hold a refused value fails with INVALID naming it.
    Mutations are left to BaseMutation, which answers with a payload."""
    if arguments and info.parent_type is not info.schema.mutation_type:
        found = first_invalid(arguments)
        if found:
            path, message = found
            raise Invalid(message, ".".join(path))
    return next_(root, info, **arguments)
