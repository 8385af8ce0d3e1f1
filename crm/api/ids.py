"""Opaque global ids (crm.ids, where services read them too) and the node lookup of the GraphQL layer."""
from __future__ import annotations

from crm.ids import global_id, parse_id, split_global_id, uuid_or_none  # noqa: F401  (the API's id helpers)


def load_node(session, model, value):
    """``model`` row of a node id, None for an unknown or malformed id (never a query for None)."""
    row_id = uuid_or_none(value)
    return session.get(model, row_id) if row_id is not None else None
