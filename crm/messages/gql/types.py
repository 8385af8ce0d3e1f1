"""GraphQL types of messages and care (contract: "messages and care")."""
from __future__ import annotations

import re

import graphene

from crm.api.connections import connection_type, page_size
from crm.api.enums import Channel
from crm.api.loaders import resolve_by
from crm.api.node import ModelNode
from crm.api.permissions import require
from crm.api.scalars import DateTime
from crm.auth.permissions import Capability, has, roles_without
from crm.enums import Role
from crm.masking import mask_text, masks_pii
from crm.messages import models
from crm.messages.unsubscribe import withhold_links
from crm.messages.gql import loaders

MessagePurpose = graphene.Enum.from_enum(models.MessagePurpose)
MessageStatus = graphene.Enum.from_enum(models.MessageStatus)


def customer_facing(info) -> bool:
    return info.context.viewer.role == Role.PORTAL


def visible_message(info, message):
    """A portal token sees the messages sent to its own customer, nothing about them sent to staff."""
    if message is None or not has(info.context.viewer.role, Capability.MESSAGES_READ):
        return None
    viewer = info.context.viewer
    if viewer.role == Role.PORTAL and (message.customer_id != viewer.customer_id or message.staff_user_id
                                       or message.trigger.startswith(models.VERIFICATION_TRIGGER_PREFIX)):
        return None
    info.context.loaders.see("message", [message])
    return message


_MASKED_TEXT = ("For " + ", ".join(r.value for r in roles_without(Capability.CUSTOMERS_PII))
                + ": every email address and phone number in it masked.")


# A confirmation link's token (secrets.token_urlsafe(32)): only the mailbox it was sent to may hold it.
_CONFIRMATION_TOKEN = re.compile(r"(?<![A-Za-z0-9_-])[A-Za-z0-9_-]{43}(?![A-Za-z0-9_-])")


def _masked_text(message, info, text):
    """The text as the viewer may read it: without a link's token for anyone; for a role that
    sees contact details masked, the customer's own email and phone masked wherever they appear, and any
    other address or international number."""
    if text is not None and message.trigger.startswith(models.VERIFICATION_TRIGGER_PREFIX):
        text = _CONFIRMATION_TOKEN.sub("[withheld]", text)
    if text is not None:
        # Bodies keep placeholders for the links added at send time (crm/messages/unsubscribe.py); a link a
        # template or a domain wrote in (a survey's) is withheld here, for every role: its token acts as the customer.
        text = withhold_links(text)
    if text is None or not masks_pii(info.context.viewer.role):
        return text
    customer = info.context.loaders.get(loaders.CustomerOfMessage).load(message.customer_id)
    return mask_text(text, emails=[getattr(customer, "email", None)], phones=[getattr(customer, "phone", None)])


class Message(ModelNode, graphene.ObjectType):
    class Meta:
        description = "A message to a customer (or to staff about one): a row first, sent once by the workers."

    customer = graphene.Field("crm.customers.gql.types.Customer", required=True)
    channel = graphene.Field(Channel, required=True)
    purpose = graphene.Field(MessagePurpose, required=True)
    trigger = graphene.String(required=True, description='e.g. "care:post-purchase", "manual", "campaign:<id>"')
    subject = graphene.String(description=_MASKED_TEXT)
    body = graphene.String(required=True, description=_MASKED_TEXT)
    status = graphene.Field(MessageStatus, required=True)
    suppression_reason = graphene.String(description="NO_CONSENT, FREQUENCY_CAP, NO_ADDRESS, ERASED, ...")
    scheduled_for = DateTime()
    sent_at = DateTime()
    attempts = graphene.Int(required=True)
    dedupe_key = graphene.String(required=True)
    last_error = graphene.String(description="The last provider or template error; why a message FAILED or "
                                             "was CANCELLED. Null for a PORTAL token. " + _MASKED_TEXT)
    locale = graphene.String(description="The locale of the template it was written from.")
    recipient_staff = graphene.Field("crm.auth.gql.types.StaffUser",
                                     description="Set when the message goes to staff about the customer.")
    created_at = DateTime(required=True)

    node_model = models.Message

    @classmethod
    def visible_node(cls, info, message):
        return visible_message(info, message)

    resolve_customer = resolve_by(loaders.CustomerOfMessage, "customer_id")

    @staticmethod
    def resolve_subject(message, info):
        return _masked_text(message, info, message.subject)

    @staticmethod
    def resolve_body(message, info):
        return _masked_text(message, info, message.body)

    @staticmethod
    def resolve_last_error(message, info):
        return None if customer_facing(info) else _masked_text(message, info, message.last_error)

    resolve_recipient_staff = resolve_by(loaders.StaffOfMessage, "staff_user_id")


MessageConnection = connection_type(Message, "Message")


def messages_of(info, customer, first, after):
    require(info.context, Capability.MESSAGES_READ)
    loader = info.context.loaders.get(loaders.MessagesByCustomer, page_size(info, first), after, customer_facing(info))
    return loader.load(customer.id)


class CustomerMessages:
    """What messages add to Customer (attached by crm.api.schema, registered in crm.messages.init_app)."""

    messages = graphene.Field(graphene.NonNull(MessageConnection), first=graphene.Int(), after=graphene.String())

    @staticmethod
    def resolve_messages(customer, info, first=None, after=None):
        return messages_of(info, customer, first, after)


class CareRuleTemplate(graphene.ObjectType):
    locale = graphene.String(description='The locale it is for; null for the default template.')
    template = graphene.String(required=True)


class CareRule(graphene.ObjectType):
    class Meta:
        description = "A proactive-care rule: which trigger sends what, how, and after which delay."

    key = graphene.String(required=True, description='e.g. "post-purchase", "case-follow-up", "detractor-recovery"')
    enabled = graphene.Boolean(required=True)
    delay_seconds = graphene.Int(required=True)
    channel = graphene.Field(Channel, required=True)
    template = graphene.String(required=True, description="The default template (Jinja2; a first line "
                                                         "'Subject: ...' is an email's subject).")
    templates = graphene.List(graphene.NonNull(CareRuleTemplate), required=True,
                              description="Per-locale variants, the default (locale null) first.")
    purpose = graphene.Field(MessagePurpose, required=True)
    notifies_staff = graphene.Boolean(required=True, description="Sent to the assignee or account manager.")
    description = graphene.String(required=True)
    variables = graphene.List(graphene.NonNull(graphene.String), required=True,
                              description="What templates of this rule may read besides customer, loyalty and now.")

    @staticmethod
    def resolve_templates(rule, info):
        return [CareRuleTemplate(locale=locale or None, template=source)
                for locale, source in sorted(rule.templates.items())]

    @staticmethod
    def resolve_purpose(rule, info):
        return rule.spec.purpose

    @staticmethod
    def resolve_notifies_staff(rule, info):
        return rule.spec.to_staff

    @staticmethod
    def resolve_description(rule, info):
        return rule.spec.description

    @staticmethod
    def resolve_variables(rule, info):
        return sorted(rule.spec.variables)
