"""GraphQL types of the customer core.

The fields other domains add to Customer (interactions, cases, surveys, segments, loyalty, messages) are
theirs: each declares them in its gql package and crm.api.schema attaches them (crm.api.extensions), so
this module imports none of those domains.
"""
from __future__ import annotations

import graphene

from crm.api.access import actor_for_viewer, see_customers
from crm.api.connections import connection_type, page_size
from crm.api.enums import Channel, LifecycleStage, ServiceTier, enum_type
from crm.api.ids import uuid_or_none
from crm.api.loaders import resolve_by
from crm.api.node import ModelNode
from crm.api.permissions import MaskedField, mask_email, mask_phone
from crm.api.scalars import JSON, DateTime, Decimal
from crm.auth.gql.types import StaffById, StaffUser
from crm.customers import models
from crm.customers.gql import loaders
from crm.customers.orders import average_order_value
from crm.ids import global_id
from crm.masking import masks_pii


ConsentStatus = enum_type(models.ConsentStatus)


def _message_id(message_id):
    return global_id("Message", message_id) if message_id else None


class Consent(graphene.ObjectType):
    channel = graphene.Field(Channel, required=True)
    granted = graphene.Boolean(required=True, description="status is GRANTED: what sending checks.")
    source = graphene.String()
    updated_at = DateTime(required=True)
    status = graphene.Field(ConsentStatus, required=True, description=(
        "PENDING: given, waiting for the address to confirm it (double opt-in); no CAMPAIGN message goes out."))
    confirmed_at = DateTime(description="When the customer confirmed it from the address (double opt-in).")
    confirmation_message_id = graphene.ID(description="The message whose confirmation link the customer followed.")

    @staticmethod
    def resolve_confirmation_message_id(consent, info):
        return _message_id(consent.confirmation_message_id)


class ConsentChange(graphene.ObjectType):
    class Meta:
        description = "One change of a consent, kept as evidence: who or what made it, from which message, when."

    channel = graphene.Field(Channel, required=True)
    from_status = graphene.Field(ConsentStatus, description="Null for the channel's first answer.")
    to_status = graphene.Field(ConsentStatus, required=True)
    source = graphene.String(description='How: "portal", "unsubscribe", "preference-centre", "double-opt-in", '
                                         '"import", or what staff wrote.')
    actor = graphene.String(description='Staff user, "customer", "<role>:<token label>" ("staff" for PORTAL tokens).')
    at = DateTime(required=True)
    message_id = graphene.ID(description="The message the change came from (an unsubscribe link, a confirmation).")

    @staticmethod
    def resolve_actor(change, info):
        return actor_for_viewer(info, change.actor)

    @staticmethod
    def resolve_message_id(change, info):
        return _message_id(change.message_id)


ConsentChangeConnection = connection_type(ConsentChange, "ConsentChange")


class LifecycleTransition(graphene.ObjectType):
    from_stage = graphene.Field(LifecycleStage)
    to_stage = graphene.Field(LifecycleStage, required=True)
    reason = graphene.String()
    actor = graphene.String(description='Staff user, "rule:<name>" or "system" ("staff" for PORTAL tokens).')
    at = DateTime(required=True)

    @staticmethod
    def resolve_actor(transition, info):
        return actor_for_viewer(info, transition.actor)


class ServiceTierChange(graphene.ObjectType):
    from_tier = graphene.Field(ServiceTier)
    to_tier = graphene.Field(ServiceTier, required=True)
    pinned = graphene.Boolean(required=True)
    reason = graphene.String()
    actor = graphene.String()
    at = DateTime(required=True)

    @staticmethod
    def resolve_actor(change, info):
        return actor_for_viewer(info, change.actor)


class CustomerMetrics(graphene.ObjectType):
    total_spent = Decimal(required=True, description="Lifetime spend in the base currency.")
    order_count = graphene.Int(required=True)
    average_order_value = Decimal()
    first_order_at = DateTime()
    last_order_at = DateTime()
    last_interaction_at = DateTime()
    recency_score = graphene.Int(description="RFM quintile, 1..5 (5 = most recent).")
    frequency_score = graphene.Int()
    monetary_score = graphene.Int()
    lifetime_value = Decimal(description="Historic spend plus predicted spend over the next year (docs/segments.md).")
    churn_risk = graphene.Float(description="0..1, from recency, frequency, trend and negative signals.")
    churn_risk_factors = graphene.Field(JSON, description="Each factor of churnRisk, 0..1: recency, frequency, "
                                                          "trend, negative (weights 0.4, 0.2, 0.2, 0.2).")
    csat_average = graphene.Float()
    last_nps_score = graphene.Int()
    base_currency = graphene.String(required=True)

    @staticmethod
    def resolve_average_order_value(customer, info):
        return average_order_value(customer)

    @staticmethod
    def resolve_base_currency(customer, info):
        return info.context.config["BASE_CURRENCY"]


class Order(ModelNode, graphene.ObjectType):
    external_id = graphene.String(required=True)
    customer = graphene.Field(lambda: Customer, required=True)
    amount = Decimal(required=True)
    currency = graphene.String(required=True)
    amount_in_base_currency = Decimal(required=True)
    channel = graphene.Field(Channel, required=True)
    occurred_at = DateTime(required=True)
    items = graphene.Field(JSON, required=True)
    points_earned = graphene.Int(required=True)
    status = graphene.String(required=True, description="COMPLETED, REFUNDED or CANCELLED.")
    closed_at = DateTime()
    close_reason = graphene.String()

    node_model, node_of_customer, node_seen_as = models.Order, True, "order"

    resolve_customer = resolve_by(loaders.CustomerById, "customer_id")

    @staticmethod
    def resolve_amount_in_base_currency(order, info):
        return order.amount_base


OrderConnection = connection_type(Order, "Order")


class Customer(ModelNode, graphene.ObjectType):
    class Meta:
        description = "One customer's whole story. Readable by staff and INTEGRATION; a PORTAL token sees only itself."

    external_id = graphene.String()
    email = MaskedField(graphene.String, mask=mask_email)
    phone = MaskedField(graphene.String, mask=mask_phone, description="E.164.")
    pending_email = MaskedField(graphene.String, mask=mask_email, description=(
        "An email the customer asked for on the portal, waiting for the new address to confirm it "
        "(customerConfirmEmail); null when none is pending."))
    first_name = graphene.String()
    last_name = graphene.String()
    display_name = graphene.String(required=True)
    birthday = graphene.Date()
    timezone = graphene.String(required=True, description="IANA name.")
    locale = graphene.String()
    attributes = graphene.Field(JSON, required=True, description="Custom fields.")
    consents = graphene.List(graphene.NonNull(Consent), required=True)
    consent_history = graphene.Field(graphene.NonNull(ConsentChangeConnection), first=graphene.Int(),
                                     after=graphene.String(), channel=graphene.Argument(Channel),
                                     description="Every consent change, newest first; only one channel's with channel.")
    lifecycle_stage = graphene.Field(LifecycleStage, required=True)
    lifecycle_history = graphene.List(graphene.NonNull(LifecycleTransition), required=True,
                                      description="Oldest first; the first has fromStage null.")
    service_tier = graphene.Field(ServiceTier, required=True)
    service_tier_pinned = graphene.Boolean(required=True, description="Set by hand: automatic rules leave it alone.")
    service_tier_history = graphene.List(graphene.NonNull(ServiceTierChange), required=True,
                                         description="Every tier change, oldest first.")
    account_manager = graphene.Field(StaffUser)
    metrics = graphene.Field(CustomerMetrics, required=True)
    orders = graphene.Field(graphene.NonNull(OrderConnection), first=graphene.Int(), after=graphene.String(),
                            description="Newest first.")
    # Here each domain that extends Customer adds its fields (crm.api.extensions): interactions, cases,
    # surveyResponses, segments, segmentHistory, loyalty, messages.
    created_at = DateTime(required=True)
    updated_at = DateTime(required=True)

    node_model = models.Customer

    @classmethod
    def get_node(cls, info, id):  # a merged customer is no node: get_customer keeps that rule
        from crm.customers.selectors import get_customer
        customer_id = uuid_or_none(id)
        return see_customers(info, get_customer(info.context.session, customer_id)) if customer_id else None

    resolve_pending_email = resolve_by(loaders.PendingEmailByCustomer, "id")

    @staticmethod
    def resolve_display_name(customer, info):
        name = " ".join(p for p in (customer.first_name, customer.last_name) if p)
        if name:
            return name
        masked = masks_pii(info.context.viewer.role)
        if customer.email:
            return mask_email(customer.email) if masked else customer.email
        if customer.phone:
            return mask_phone(customer.phone) if masked else customer.phone
        return customer.external_id or "Customer"

    @staticmethod
    def resolve_attributes(customer, info):
        return customer.attributes or {}

    resolve_consents = resolve_by(loaders.ConsentsByCustomer, "id")

    @staticmethod
    def resolve_consent_history(customer, info, first=None, after=None, channel=None):
        return info.context.loaders.get(loaders.ConsentHistoryByCustomer, page_size(info, first), after,
                                        channel).load(customer.id)

    resolve_lifecycle_history = resolve_by(loaders.LifecycleHistoryByCustomer, "id")

    resolve_service_tier_history = resolve_by(loaders.TierHistoryByCustomer, "id")

    resolve_account_manager = resolve_by(StaffById, "account_manager_id")

    @staticmethod
    def resolve_metrics(customer, info):
        return customer

    @staticmethod
    def resolve_orders(customer, info, first=None, after=None):
        return info.context.loaders.get(loaders.OrdersByCustomer, page_size(info, first), after).load(customer.id)


CustomerConnection = connection_type(Customer, "Customer")
