"""CustomerRef: a customer named by exactly one of its global id, email or external id, as an argument of
another domain's mutation (portalSessionCreate, apiTokenCreate). Resolved through the customer lookups, so it
answers what `customer(id|email|externalId)` answers: a merged-away customer, whatever the reference, is
NOT_FOUND like an unknown one (its id no longer resolves; its email and external id now belong to the primary)."""
from __future__ import annotations

import graphene

from crm.api.ids import parse_id
from crm.customers import selectors
from crm.customers.models import Customer
from crm.errors import Invalid, NotFound

REF_FIELDS = (("id", "id"), ("email", "email"), ("external_id", "externalId"))


class CustomerRef(graphene.InputObjectType):
    class Meta:
        description = "Exactly one of id (global id), email or externalId."

    id = graphene.ID()
    email = graphene.String()
    external_id = graphene.String()


def resolve_customer_ref(session, ref, field: str = "customer") -> Customer:
    """The live customer ``ref`` names; INVALID on ``field`` unless exactly one part is given, NOT_FOUND when no
    live customer has it."""
    given = [(name, ref.get(key)) for key, name in REF_FIELDS if ref and ref.get(key) not in (None, "")]
    if len(given) != 1:
        raise Invalid("Give exactly one of id, email or externalId.", field)
    name, value = given[0]
    if name == "id":
        customer = selectors.get_customer(session, parse_id(value, "Customer", field))
    elif name == "email":
        customer = selectors.find_customer(session, email=value)
    else:
        customer = selectors.find_customer(session, external_id=value)
    if customer is None:
        raise NotFound(f"No customer has this {name}.", field)
    return customer
