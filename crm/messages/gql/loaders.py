"""Loaders for message relations; each loads for every seen parent at once."""
from __future__ import annotations

from crm.api.loaders import pages_of
from crm.auth.gql.types import StaffById
from crm.customers.gql.loaders import customer_of
from crm.messages.models import VERIFICATION_TRIGGER_PREFIX, Message
from crm.pagination import SortKey

MESSAGE_KEYS = [SortKey(Message.created_at, lambda m: m.created_at, "datetime", descending=True),
                SortKey(Message.id, lambda m: m.id, "uuid", descending=True)]


def message_filter(customer_facing: bool) -> list:
    """A customer's own view (the portal) leaves out notifications to staff about them and the messages
    that verify an email change (they carry the confirmation link, which only the mailbox may see)."""
    if not customer_facing:
        return []
    return [Message.staff_user_id.is_(None), ~Message.trigger.startswith(VERIFICATION_TRIGGER_PREFIX)]


# A page of each customer's messages, newest first. Args: (first, after, customer_facing).
MessagesByCustomer = pages_of(Message.customer_id, parent_kind="customer", produces="message",
                              ordering="customer-messages", sort_keys=MESSAGE_KEYS, where=message_filter)


CustomerOfMessage = customer_of("message")


class StaffOfMessage(StaffById):
    parent_kind = "message"

    def key_of(self, message):
        return message.staff_user_id
