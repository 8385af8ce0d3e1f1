"""Loaders of interactions: one statement per relation for a whole page of parents."""
from __future__ import annotations

from crm.api.loaders import PageLoader, row_by_id
from crm.customers.gql.loaders import customer_of
from crm.pagination import SortKey
from journeys.interactions.models import Interaction
from journeys.maps.models import Touchpoint

INTERACTION_KEYS = [SortKey(Interaction.occurred_at, lambda i: i.occurred_at, "datetime", descending=True),
                    SortKey(Interaction.id, lambda i: i.id, "uuid", descending=True)]


def _interaction_filter(channel):
    return [Interaction.channel == channel] if channel is not None else []


class InteractionsByCustomer(PageLoader):
    """A page of each customer's timeline, newest first. Args: (first, after, channel)."""

    parent_kind = "customer"
    produces = "interaction"
    column, sort_keys = Interaction.customer_id, INTERACTION_KEYS
    where = staticmethod(_interaction_filter)

    @property
    def ordering(self):  # a cursor of one channel's timeline is refused by another's
        return f"interactions:{self.args[2] or ''}"


TouchpointOfInteraction = row_by_id(Touchpoint, parent_kind="interaction", key="touchpoint_id")


CustomerOfInteraction = customer_of("interaction")
