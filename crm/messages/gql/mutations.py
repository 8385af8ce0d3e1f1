"""Message and care mutations: parse, call one service, shape the payload."""
from __future__ import annotations

import graphene

from crm.api.enums import Channel
from crm.api.errors import error_type, payload_type
from crm.api.ids import parse_id
from crm.api.mutations import BaseMutation, root_mutations
from crm.api.scalars import DateTime
from crm.auth.permissions import Capability
from crm.messages import care, services
from crm.messages.errors import MessageErrorCode
from crm.messages.gql.types import CareRule, Message, MessagePurpose
from crm.messages.templates import RenderLimits



MessageError = error_type("MessageError", MessageErrorCode)


class MessageSendInput(graphene.InputObjectType):
    customer_id = graphene.ID(required=True)
    channel = graphene.InputField(Channel, required=True)
    purpose = graphene.InputField(MessagePurpose, required=True)
    subject = graphene.String()
    body = graphene.String(required=True, description="A template over the customer's profile, e.g. "
                                                      "'Hi {{ customer.firstName }}'.")
    send_at = DateTime(description="Later than now: scheduled; quiet hours still apply when it is due.")
    dedupe_key = graphene.String(description="Idempotency key: the same key and message return the first.")


MessagePayload = payload_type("MessagePayload", MessageError, message=Message)


class CareRuleUpdateInput(graphene.InputObjectType):
    enabled = graphene.Boolean()
    delay_seconds = graphene.Int()
    channel = graphene.Field(Channel)
    template = graphene.String()
    locale = graphene.String(description="Set the template of this locale (an empty template removes it) "
                                         "instead of the default.")


CareRulePayload = payload_type("CareRulePayload", MessageError, care_rule=CareRule)


def _value(enum_value):
    return getattr(enum_value, "value", enum_value)


class MessageSend(BaseMutation):
    """A manual care message from staff. Refused (nothing written) without an address or consent for the
    channel; TRANSACTIONAL messages, which go out without consent, only from ADMIN. Consent, frequency
    cap and quiet hours are applied again when it is sent."""

    input_type, payload, capability = MessageSendInput, MessagePayload, Capability.MESSAGES_SEND

    @classmethod
    def perform(cls, info, input):
        viewer = info.context.viewer
        message = services.send_manual(
            info.context.session, customer_id=parse_id(input["customer_id"], "Customer", "input.customerId"),
            channel=_value(input["channel"]), purpose=_value(input["purpose"]), subject=input.get("subject"),
            body=input["body"], send_at=input.get("send_at"), dedupe_key=input.get("dedupe_key"),
            actor=viewer.actor, actor_role=viewer.role, limits=RenderLimits.from_config(info.context.config))
        return MessagePayload(message=message, errors=[])


class CareRuleUpdate(BaseMutation):
    """Change a care rule: on or off, its delay, channel or template (checked: syntax and the variables
    its trigger provides)."""

    class Arguments:
        key = graphene.String(required=True)
        input = CareRuleUpdateInput(required=True)

    payload, capability = CareRulePayload, Capability.CARE_RULES_WRITE

    @classmethod
    def perform(cls, info, key, input):
        rule = care.update_care_rule(
            info.context.session, key=key, enabled=input.get("enabled"), delay_seconds=input.get("delay_seconds"),
            channel=_value(input["channel"]) if input.get("channel") is not None else None,
            template=input.get("template"), locale=input.get("locale"), actor=info.context.viewer.actor,
            limits=RenderLimits.from_config(info.context.config))
        return CareRulePayload(care_rule=rule, errors=[])


MessageMutations = root_mutations("MessageMutations", MessageSend, CareRuleUpdate)
