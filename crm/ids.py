"""Opaque global ids: base64 of "Type:<uuid>". Raw UUIDs are accepted too, for convenience.

The API hands them out, and clients write them into what services read as well (a segment a rule or a
campaign names, the customer and case of an imported interaction), so they live here, outside the
transport; ``crm.api.ids`` re-exports them for the GraphQL layer."""
from __future__ import annotations

import binascii
import uuid

from graphql_relay import from_global_id, to_global_id

from crm.errors import Invalid


def global_id(type_name: str, raw_id) -> str:
    return to_global_id(type_name, str(raw_id))


def parse_id(value: str, type_name: str, field: str) -> uuid.UUID:
    """The UUID behind a global id of ``type_name``; INVALID on ``field`` otherwise."""
    text = (value or "").strip()
    try:
        return uuid.UUID(text)
    except ValueError:
        pass
    try:
        kind, raw = from_global_id(text)
        if kind != type_name:
            raise ValueError(kind)
        return uuid.UUID(raw)
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError):
        raise Invalid(f"Expected the id of a {type_name}.", field) from None


def split_global_id(value, field: str) -> tuple[str, str]:
    """(type name, raw id) of a global id; INVALID on ``field`` for text that is not one, raw UUIDs
    included (they name no type)."""
    try:
        kind, raw = from_global_id((value or "").strip())
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError):
        kind = ""
    if not kind:
        raise Invalid("Expected the global id of an object, as the API returned it.", field)
    return kind, raw


def uuid_or_none(value) -> uuid.UUID | None:
    """The UUID inside a node id (already decoded by relay), None for anything else."""
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None
