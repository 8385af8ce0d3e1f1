"""GraphQL types of messages (contract: "messages and care"). The messages issue adds sending."""
from __future__ import annotations

import graphene
from graphene import relay

from crm.api.connections import connection_type
from crm.api.enums import Channel
from crm.api.scalars import DateTime


class MessagePurpose(graphene.Enum):
    CARE = "CARE"
    FOLLOW_UP = "FOLLOW_UP"
    CAMPAIGN = "CAMPAIGN"
    TRANSACTIONAL = "TRANSACTIONAL"


class MessageStatus(graphene.Enum):
    SCHEDULED = "SCHEDULED"
    QUEUED = "QUEUED"
    SENT = "SENT"
    FAILED = "FAILED"
    SUPPRESSED = "SUPPRESSED"
    CANCELLED = "CANCELLED"


class Message(graphene.ObjectType):
    class Meta:
        interfaces = (relay.Node,)

    customer = graphene.Field("crm.customers.gql.types.Customer", required=True)
    channel = graphene.Field(Channel, required=True)
    purpose = graphene.Field(MessagePurpose, required=True)
    trigger = graphene.String(required=True, description='e.g. "care:post-purchase", "manual", "campaign:<id>"')
    subject = graphene.String()
    body = graphene.String(required=True)
    status = graphene.Field(MessageStatus, required=True)
    suppression_reason = graphene.String(description="NO_CONSENT, FREQUENCY_CAP, NO_ADDRESS, ERASED, ...")
    scheduled_for = DateTime()
    sent_at = DateTime()
    attempts = graphene.Int(required=True)
    dedupe_key = graphene.String(required=True)


MessageConnection = connection_type(Message, "Message")
