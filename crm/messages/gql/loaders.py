"""Loaders for message relations; each loads for every seen parent at once."""
from __future__ import annotations

from crm.api.connections import empty_page
from crm.api.loaders import CountLoader, Loader
from crm.auth.gql.types import StaffById
from crm.customers.gql.loaders import CustomerById
from crm.messages.models import VERIFICATION_TRIGGER_PREFIX, Message
from crm.pagination import SortKey, keyset_pages_by_parent

MESSAGE_KEYS = [SortKey(Message.created_at, lambda m: m.created_at, "datetime", descending=True),
                SortKey(Message.id, lambda m: m.id, "uuid", descending=True)]


def message_filter(customer_facing: bool) -> list:
    """A customer's own view (the portal) leaves out notifications to staff about them and the messages
    that verify an email change (they carry the confirmation link, which only the mailbox may see)."""
    if not customer_facing:
        return []
    return [Message.staff_user_id.is_(None), ~Message.trigger.startswith(VERIFICATION_TRIGGER_PREFIX)]


class MessagesByCustomer(Loader):
    """A page of each customer's messages, newest first. Args: (first, after, customer_facing)."""

    parent_kind = "customer"
    produces = "message"

    def batch(self, keys):
        first, after, customer_facing = self.args
        return keyset_pages_by_parent(self.session, Message, Message.customer_id, keys, ordering="customer-messages",
                                      keys=MESSAGE_KEYS, first=first, after=after,
                                      where=message_filter(customer_facing))

    def missing(self, key):
        return empty_page()


class MessageCountByCustomer(CountLoader):
    parent_kind = "customer"
    column = Message.customer_id

    def where(self):
        (customer_facing,) = self.args
        return message_filter(customer_facing)


class CustomerOfMessage(CustomerById):
    parent_kind = "message"


class StaffOfMessage(StaffById):
    parent_kind = "message"

    def key_of(self, message):
        return message.staff_user_id
