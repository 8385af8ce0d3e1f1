"""Fields one domain adds to another domain's GraphQL type: the Customer's interactions, cases, segments,
loyalty account and messages, a ledger entry's case.

The domain that adds them declares them in its gql package as a plain class of graphene fields with their
``resolve_*`` methods, and registers it from its ``init_app`` by dotted path (so that ``init_app`` imports
no gql module, and the type it extends never imports the domains that extend it).
``crm.api.schema.build_schema`` attaches them, in the order the schema lists them.
"""
from __future__ import annotations

import importlib
from typing import Sequence

import graphene
from graphene.types.utils import yank_fields_from_attrs

# extended type's name -> {the adding domain's name: dotted path of its class of fields}
FIELDS: dict[str, dict[str, str]] = {}
_ATTACHED: dict[str, set[str]] = {}  # extended type's name -> the names attached to it so far


def register_fields(type_name: str, domain: str, path: str) -> None:
    """Add (or replace) the fields ``domain`` adds to ``type_name``; called from that domain's ``init_app``."""
    FIELDS.setdefault(type_name, {})[domain] = path


def _load(path: str) -> type:
    module, _, name = path.rpartition(".")
    return getattr(importlib.import_module(module), name)


def attach_fields(target: type[graphene.ObjectType], *, order: Sequence[str], before: str) -> None:
    """Put the fields registered for ``target`` into it ahead of its own field ``before``: the domains
    named in ``order`` first, in that order, then any other in the order it registered.

    The SDL lists a type's fields in this order, so it stays what clients have seen. Attaching again (one
    schema per app) puts the same fields in the same places."""
    registered = FIELDS.get(target._meta.name, {})
    domains = [d for d in order if d in registered] + [d for d in registered if d not in order]
    added: dict[str, graphene.Field] = {}
    resolvers: dict[str, object] = {}
    for domain in domains:
        extension = _load(registered[domain])
        for name, field in yank_fields_from_attrs(vars(extension), _as=graphene.Field).items():
            if name in added:
                raise ValueError(f"{target._meta.name}.{name} is added twice ({domain})")
            added[name] = field
            if f"resolve_{name}" in vars(extension):  # graphene looks a field's resolver up on its type
                resolvers[f"resolve_{name}"] = vars(extension)[f"resolve_{name}"]
    fields, attached = target._meta.fields, _ATTACHED.setdefault(target._meta.name, set())
    own = [(name, field) for name, field in fields.items() if name not in attached]
    clash = sorted(set(added) & {name for name, _ in own})
    if clash:
        raise ValueError(f"{target._meta.name} has its own {', '.join(clash)}")
    at = [name for name, _ in own].index(before)
    fields.clear()
    fields.update([*own[:at], *added.items(), *own[at:]])
    attached.update(added)
    for name, resolver in resolvers.items():
        setattr(target, name, resolver)
