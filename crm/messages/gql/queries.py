"""Message and care queries: parse arguments, read, shape the answer."""
from __future__ import annotations

import graphene
from sqlalchemy import select

from crm.api.connections import page_size
from crm.api.ids import parse_id
from crm.api.permissions import PermissionField
from crm.auth.permissions import Capability
from crm.enums import Role
from crm.messages import care
from crm.messages.gql.loaders import MESSAGE_KEYS, message_filter
from crm.messages.gql.types import (
    CareRule,
    MessageConnection,
    MessageStatus,
    customer_facing,
)
from crm.messages.models import Message
from crm.pagination import keyset_page


class MessageQueries(graphene.ObjectType):
    messages = PermissionField(graphene.NonNull(MessageConnection), first=graphene.Int(), after=graphene.String(),
                               status=graphene.List(graphene.NonNull(MessageStatus)), customer_id=graphene.ID(),
                               trigger=graphene.String(description='A trigger or its prefix, e.g. "care:".'),
                               capability=Capability.MESSAGES_READ,
                               description="Messages, newest first. A PORTAL token sees the messages sent to its "
                                           "own customer only.")
    care_rules = PermissionField(graphene.NonNull(graphene.List(graphene.NonNull(CareRule))),
                                 capability=Capability.CARE_RULES_READ, description="Every care rule, as it is now.")

    @staticmethod
    def resolve_messages(root, info, first=None, after=None, status=None, customer_id=None, trigger=None):
        viewer = info.context.viewer
        stmt = select(Message).where(*message_filter(customer_facing(info)))
        if viewer.role == Role.PORTAL:
            stmt = stmt.where(Message.customer_id == viewer.customer_id)
        if customer_id is not None:
            stmt = stmt.where(Message.customer_id == parse_id(customer_id, "Customer", "customerId"))
        if status:
            stmt = stmt.where(Message.status.in_([getattr(s, "value", s) for s in status]))
        if trigger:
            stmt = stmt.where(Message.trigger.startswith(trigger, autoescape=True))
        page = keyset_page(info.context.session, stmt, ordering="messages", keys=MESSAGE_KEYS,
                           first=page_size(info, first), after=after)
        info.context.loaders.see("message", page.items)
        return page

    @staticmethod
    def resolve_care_rules(root, info):
        return care.care_rules(info.context.session)
