"""Customer mutations: parse arguments, call one service, shape the payload."""
from __future__ import annotations

import enum
from datetime import date, datetime
import decimal

import graphene

from crm.api.access import access_customer, see_customers
from crm.api.enums import Channel, LifecycleStage, ServiceTier
from crm.api.errors import error_list, error_type, payload_type
from crm.api.ids import parse_id
from crm.api.mutations import BaseMutation, camel, mutation_family, root_mutations
from crm.api.scalars import DateTime, Decimal, JSON
from crm.auth.permissions import Capability
from crm.customers import email_change, merge, orders, services
from crm.customers.email_change import EmailChangeSettings
from crm.customers.errors import CustomerErrorCode
from crm.customers.gql.types import Customer, Order
from crm.enums import Role


CustomerError = error_type("CustomerError", CustomerErrorCode,
                           field_description='camelCase input path, e.g. "email"; null for the whole input.')


CustomerPayload = payload_type("CustomerPayload", CustomerError, customer=Customer)
OrderRecordPayload = payload_type("OrderRecordPayload", CustomerError, order=Order, customer=Customer)


class CustomerCreateInput(graphene.InputObjectType):
    email = graphene.String()
    phone = graphene.String(description="E.164 after normalisation.")
    external_id = graphene.String()
    first_name = graphene.String()
    last_name = graphene.String()
    birthday = graphene.Date()
    timezone = graphene.String(description="IANA name; default CRM_DEFAULT_TIMEZONE.")
    locale = graphene.String()
    attributes = JSON()
    lifecycle_stage = LifecycleStage(description="Default LEAD.")


class CustomerUpdateInput(graphene.InputObjectType):
    email = graphene.String()
    phone = graphene.String()
    first_name = graphene.String()
    last_name = graphene.String()
    birthday = graphene.Date()
    timezone = graphene.String()
    locale = graphene.String()
    attributes = JSON(description="Merged key by key; a null value removes the key.")


class OrderRecordInput(graphene.InputObjectType):
    customer_id = graphene.ID(required=True)
    external_id = graphene.String(required=True, description="Idempotency key of the order.")
    amount = Decimal(required=True)
    currency = graphene.String(required=True)
    channel = Channel(required=True)
    occurred_at = DateTime(required=True)
    items = JSON()


def plain(value):
    """Graphene input values as the JSON a service validates (enums by name, dates as ISO)."""
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, dict):
        return {camel(k): plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


def customer_payload(info, customer):
    return CustomerPayload(customer=see_customers(info, customer), errors=[])


_CustomerMutation = mutation_family("_CustomerMutation", CustomerPayload, Capability.CUSTOMERS_WRITE)


class CustomerCreate(_CustomerMutation):
    """Create a customer. At least one of email, phone or externalId is required."""

    errors_name_the_input_argument = False

    input_type = CustomerCreateInput

    @classmethod
    def perform(cls, info, input):
        ctx = info.context
        customer = services.create_customer(ctx.session, data=plain(dict(input)), actor=ctx.viewer.actor,
                                            config=ctx.config)
        return customer_payload(info, customer)


class CustomerUpdate(_CustomerMutation):
    """Update the given fields of a customer's profile. A PORTAL token updates only its own, and its new
    email is not applied at once: a confirmation link goes to the new address (customerConfirmEmail), and
    until then it is pendingEmail. The answer is the same whether or not another customer has the
    address (its owner is told instead); staff get DUPLICATE."""

    errors_name_the_input_argument = False

    capability = Capability.CUSTOMERS_PROFILE

    class Arguments:
        id = graphene.ID(required=True)
        input = CustomerUpdateInput(required=True)

    @classmethod
    def perform(cls, info, id, input):
        ctx = info.context
        verify = EmailChangeSettings.from_config(ctx.config) if ctx.viewer.role == Role.PORTAL else None
        customer = services.update_customer(ctx.session, customer_id=access_customer(ctx, id, field="id"),
                                            data=plain(dict(input)), actor=ctx.viewer.actor, email_change=verify,
                                            config=ctx.config)
        return customer_payload(info, customer)


class CustomerConfirmEmail(_CustomerMutation):
    """Apply the email change whose confirmation link carried this token (sent to the new address by a
    PORTAL's customerUpdate). A token that does not confirm anything is INVALID, whatever the reason."""

    capability = Capability.CUSTOMERS_CONFIRM_EMAIL

    class Arguments:
        token = graphene.String(required=True)

    @classmethod
    def perform(cls, info, token):
        ctx = info.context
        customer = email_change.confirm_change(ctx.session, customer_id=ctx.viewer.customer_id, token=token)
        return customer_payload(info, customer)


class CustomerSetConsent(_CustomerMutation):
    """Grant or withdraw consent for a channel. A PORTAL token sets only its own, and its EMAIL grant waits
    PENDING for the address to confirm it (double opt-in, CRM_CONSENT_DOUBLE_OPT_IN); staff grants count at once."""

    capability = Capability.CUSTOMERS_PROFILE

    class Arguments:
        customer_id = graphene.ID(required=True)
        channel = Channel(required=True)
        granted = graphene.Boolean(required=True)
        source = graphene.String()

    @classmethod
    def perform(cls, info, customer_id, channel, granted, source=None):
        ctx = info.context
        source = source or ("portal" if ctx.viewer.role == Role.PORTAL else None)
        customer = services.set_consent(ctx.session, customer_id=access_customer(ctx, customer_id, field="customerId"),
                                        channel=channel, granted=granted, source=source, actor=ctx.viewer.actor,
                                        role=ctx.viewer.role, config=ctx.config)
        return customer_payload(info, customer)


class CustomerTransitionStage(_CustomerMutation):
    """Move a customer to another lifecycle stage; only the moves of the stage machine are allowed."""

    class Arguments:
        customer_id = graphene.ID(required=True)
        to_stage = LifecycleStage(required=True)
        reason = graphene.String()

    @classmethod
    def perform(cls, info, customer_id, to_stage, reason=None):
        ctx = info.context
        customer = services.transition_stage(ctx.session, customer_id=parse_id(customer_id, "Customer", "customerId"),
                                             to_stage=to_stage, reason=reason, actor=ctx.viewer.actor)
        return customer_payload(info, customer)


class CustomerSetServiceTier(_CustomerMutation):
    """Pin a service tier by hand; a null tier unpins it and the automatic rules decide again."""

    class Arguments:
        customer_id = graphene.ID(required=True)
        tier = ServiceTier()
        reason = graphene.String()

    @classmethod
    def perform(cls, info, customer_id, tier=None, reason=None):
        ctx = info.context
        customer = services.set_service_tier(ctx.session, customer_id=parse_id(customer_id, "Customer", "customerId"),
                                             tier=tier, reason=reason, actor=ctx.viewer.actor, config=ctx.config)
        return customer_payload(info, customer)


class CustomerAssignManager(_CustomerMutation):
    """Assign an account manager (a staff user), or remove it with a null staffUserId."""

    class Arguments:
        customer_id = graphene.ID(required=True)
        staff_user_id = graphene.ID()

    @classmethod
    def perform(cls, info, customer_id, staff_user_id=None):
        ctx = info.context
        staff_id = parse_id(staff_user_id, "StaffUser", "staffUserId") if staff_user_id else None
        customer = services.assign_manager(ctx.session, customer_id=parse_id(customer_id, "Customer", "customerId"),
                                           staff_user_id=staff_id, actor=ctx.viewer.actor)
        return customer_payload(info, customer)


class CustomerMerge(_CustomerMutation):
    """Merge a duplicate into the primary: orders, consents (most recent wins) and history move;
    the duplicate's id then resolves to null."""

    class Arguments:
        primary_id = graphene.ID(required=True)
        duplicate_id = graphene.ID(required=True)

    @classmethod
    def perform(cls, info, primary_id, duplicate_id):
        ctx = info.context
        customer = merge.merge_customers(ctx.session, primary_id=parse_id(primary_id, "Customer", "primaryId"),
                                         duplicate_id=parse_id(duplicate_id, "Customer", "duplicateId"),
                                         actor=ctx.viewer.actor, config=ctx.config)
        return customer_payload(info, customer)


class OrderRecord(BaseMutation):
    """Record an order, idempotent on externalId: metrics, RFM, stage and tier rules update with it."""

    errors_name_the_input_argument = False

    input_type, payload, capability = OrderRecordInput, OrderRecordPayload, Capability.ORDERS_WRITE

    @classmethod
    def perform(cls, info, input):
        ctx = info.context
        data = plain(dict(input))
        customer_id = parse_id(data.pop("customerId"), "Customer", "customerId")
        result = orders.record_order(ctx.session, customer_id=customer_id, data=data, actor=ctx.viewer.actor,
                                     config=ctx.config)
        ctx.loaders.see("order", [result.order])
        return OrderRecordPayload(order=result.order, customer=see_customers(info, result.customer), errors=[])


class OrderClosePayload(graphene.ObjectType):
    order = graphene.Field(Order)
    customer = graphene.Field(Customer)
    points_reversed = graphene.Int(required=True, description="Loyalty points taken back.")
    points_not_reversed = graphene.Int(required=True,
                                       description="Points of the order already spent, so not taken back.")
    errors = error_list(CustomerError)


class _OrderClose(BaseMutation):
    payload = OrderClosePayload
    capability = Capability.ORDERS_WRITE
    status = ""

    class Meta:
        abstract = True

    class Arguments:
        order_id = graphene.ID(required=True)
        reason = graphene.String()

    @classmethod
    def failure(cls, errors):
        return OrderClosePayload(errors=errors, points_reversed=0, points_not_reversed=0)

    @classmethod
    def perform(cls, info, order_id, reason=None):
        ctx = info.context
        result = orders.close_order(ctx.session, order_id=parse_id(order_id, "Order", "orderId"), status=cls.status,
                                    reason=reason, actor=ctx.viewer.actor, config=ctx.config)
        ctx.loaders.see("order", [result.order])
        return OrderClosePayload(order=result.order, customer=see_customers(info, result.customer), errors=[],
                                 points_reversed=result.figures.get("pointsReversed", 0),
                                 points_not_reversed=result.figures.get("pointsNotReversed", 0))


class OrderRefund(_OrderClose):
    """Refund an order once: it leaves the metrics and its loyalty points are taken back as far as the
    balance allows (what was already spent is reported). Repeating the call changes nothing."""

    status = "REFUNDED"


class OrderCancel(_OrderClose):
    """Cancel an order once, with the same effects as a refund."""

    status = "CANCELLED"


CustomerMutations = root_mutations("CustomerMutations", CustomerCreate, CustomerUpdate, CustomerConfirmEmail,
                                   CustomerSetConsent, CustomerTransitionStage, CustomerSetServiceTier,
                                   CustomerAssignManager, CustomerMerge, OrderRecord, OrderRefund, OrderCancel)
