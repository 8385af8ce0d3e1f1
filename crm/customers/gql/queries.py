from __future__ import annotations

import graphene
from graphql import GraphQLError

from crm.api.access import see_customers
from crm.api.connections import page_size
from crm.api.enums import LifecycleStage, OrderDirection, ServiceTier, names_enum
from crm.api.ids import parse_id
from crm.api.permissions import PermissionField, requires_text
from crm.auth.permissions import Capability, has
from crm.customers import selectors
from crm.customers.gql.types import CustomerConnection, Customer
from crm.errors import DomainError, Forbidden, Invalid
from crm.api.scalars import DateTime


# A prefix longer than any name or email matches nothing, and SQLite refuses LIKE patterns past 50,000 bytes.
MAX_SEARCH = 200


CustomerOrderField = names_enum("CustomerOrderField", "CREATED_AT LAST_NAME TOTAL_SPENT LAST_INTERACTION_AT", __name__)


class CustomerOrderBy(graphene.InputObjectType):
    field = graphene.InputField(CustomerOrderField, required=True)
    direction = graphene.InputField(OrderDirection, required=True)


class CustomerFilter(graphene.InputObjectType):
    search = graphene.String(description="Prefix of name, email or phone, case-insensitive.")
    lifecycle_stages = graphene.List(graphene.NonNull(LifecycleStage))
    service_tiers = graphene.List(graphene.NonNull(ServiceTier))
    segment_id = graphene.ID()
    loyalty_tier = graphene.String()
    account_manager_id = graphene.ID()
    created_after = DateTime()
    created_before = DateTime()


def _enum_value(value):
    return getattr(value, "value", value)


def parse_filter(raw, *, masked: bool) -> selectors.CustomerFilter | None:
    if not raw:
        return None
    if len(raw.get("search") or "") > MAX_SEARCH:
        raise Invalid(f"A search is at most {MAX_SEARCH} characters.", "filter.search")
    return selectors.CustomerFilter(
        search_contact_details=not masked,
        search=raw.get("search"),
        lifecycle_stages=raw.get("lifecycle_stages"),
        service_tiers=raw.get("service_tiers"),
        segment_id=parse_id(raw["segment_id"], "Segment", "filter.segmentId") if raw.get("segment_id") else None,
        loyalty_tier=raw.get("loyalty_tier"),
        account_manager_id=(parse_id(raw["account_manager_id"], "StaffUser", "filter.accountManagerId")
                            if raw.get("account_manager_id") else None),
        created_after=raw.get("created_after"),
        created_before=raw.get("created_before"),
    )


class CustomerQueries(graphene.ObjectType):
    customer = PermissionField(
        Customer, id=graphene.ID(), email=graphene.String(), external_id=graphene.String(),
        capability=Capability.CUSTOMERS_LOOKUP, description="One customer by id, email or externalId (exactly one).",
        note="A PORTAL token gets null for any customer but its own; roles that see emails masked "
                    "cannot look up by email.")
    customers = PermissionField(
        graphene.NonNull(CustomerConnection), first=graphene.Int(), after=graphene.String(),
        filter=CustomerFilter(), order_by=CustomerOrderBy(), capability=Capability.CUSTOMERS_READ,
        description="Customers, filtered and ordered (default: newest first), keyset-paginated.",
        note="For roles that see contact details masked, `search` matches names only. "
             + requires_text(Capability.SEGMENTS_READ, "Filtering by segmentId"))

    @staticmethod
    def resolve_customer(root, info, id=None, email=None, external_id=None):
        given = [v for v in (id, email, external_id) if v]
        if len(given) != 1:
            raise GraphQLError("Give exactly one of id, email or externalId.", extensions={"code": "INVALID"})
        session = info.context.session
        if id:
            try:
                customer = selectors.get_customer(session, parse_id(id, "Customer", "id"))
            except DomainError:
                return None
        else:
            if email and not has(info.context.viewer.role, Capability.CUSTOMERS_PII):
                raise Forbidden(f"The {info.context.viewer.role.value} role sees emails masked and cannot look up by email.")
            customer = selectors.find_customer(session, email=email, external_id=external_id)
        return see_customers(info, customer)

    @staticmethod
    def resolve_customers(root, info, first=None, after=None, filter=None, order_by=None):
        size = page_size(info, first)
        field, descending = "CREATED_AT", True
        if order_by:
            field = _enum_value(order_by["field"])
            descending = _enum_value(order_by["direction"]) == "DESC"
        masked = not has(info.context.viewer.role, Capability.CUSTOMERS_PII)
        if filter and filter.get("segment_id") and not has(info.context.viewer.role, Capability.SEGMENTS_READ):
            raise Forbidden(f"The {info.context.viewer.role.value} role may not filter by segment.")
        page = selectors.list_customers(info.context.session, first=size, after=after,
                                        flt=parse_filter(filter, masked=masked),
                                        order_field=field, descending=descending)
        see_customers(info, page.items)
        return page
