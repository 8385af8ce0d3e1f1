"""Which customers a viewer reaches: the one PORTAL rule, for every domain's types, loaders and mutations.

A PORTAL token reaches only its own customer; any other customer is indistinguishable from one that
does not exist (null on a read, NOT_FOUND on an argument), so a token cannot probe for ids.
"""
from __future__ import annotations

from crm.api.ids import parse_id
from crm.auth.permissions import Capability, has
from crm.enums import Role
from crm.errors import NotFound


def access_customer(context, customer_id, *, field: str | None = None):
    """``customer_id`` if the viewer of ``context`` (the request context) reaches that customer, else None.

    With ``field``, ``customer_id`` is the argument as given (a global or raw id, parsed here) and a customer
    the viewer does not reach raises NOT_FOUND on that field; the mutation has checked the role already.
    """
    if field is not None:
        customer_id = parse_id(customer_id, "Customer", field)
    viewer = context.viewer
    if viewer.role == Role.PORTAL:
        reached = viewer.customer_id == customer_id
    else:
        reached = field is not None or has(viewer.role, Capability.CUSTOMERS_READ)
    if reached:
        return customer_id
    if field is not None:
        raise NotFound("No customer has this id.", field)
    return None


def see_customers(info, customers):
    """Filter to what the viewer may see and register the rest for batch loading."""
    single = not isinstance(customers, list)
    items = [customers] if single else customers
    visible = [c for c in items if c is not None and access_customer(info.context, c.id) is not None]
    info.context.loaders.see("customer", visible)
    if single:
        return visible[0] if visible else None
    return visible


def actor_for_viewer(info, actor: str | None) -> str | None:
    """Staff are named to staff; a portal token sees "staff" (their emails are internal)."""
    if actor and "@" in actor and info.context.viewer.role == Role.PORTAL:
        return "staff"
    return actor
