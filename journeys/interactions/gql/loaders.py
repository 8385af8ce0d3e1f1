"""Loaders of interactions: one statement per relation for a whole page of parents."""
from __future__ import annotations

from sqlalchemy import select

from crm.api.connections import empty_page
from crm.api.loaders import CountLoader, Loader
from crm.customers.gql.loaders import CustomerById
from crm.pagination import SortKey, keyset_pages_by_parent
from journeys.interactions.models import Interaction
from journeys.maps.models import Touchpoint

INTERACTION_KEYS = [SortKey(Interaction.occurred_at, lambda i: i.occurred_at, "datetime", descending=True),
                    SortKey(Interaction.id, lambda i: i.id, "uuid", descending=True)]


def _interaction_filter(channel):
    return [Interaction.channel == channel] if channel is not None else []


class InteractionsByCustomer(Loader):
    """A page of each customer's timeline, newest first. Args: (first, after, channel)."""

    parent_kind = "customer"
    produces = "interaction"

    def batch(self, keys):
        first, after, channel = self.args
        return keyset_pages_by_parent(self.session, Interaction, Interaction.customer_id, keys,
                                      ordering=f"interactions:{channel or ''}", keys=INTERACTION_KEYS,
                                      first=first, after=after, where=_interaction_filter(channel))

    def missing(self, key):
        return empty_page()


class InteractionCountByCustomer(CountLoader):
    parent_kind = "customer"
    column = Interaction.customer_id

    def where(self):
        (channel,) = self.args
        return _interaction_filter(channel)


class TouchpointOfInteraction(Loader):
    parent_kind = "interaction"

    def key_of(self, interaction):
        return interaction.touchpoint_id

    def batch(self, keys):
        return {t.id: t for t in self.session.scalars(select(Touchpoint).where(Touchpoint.id.in_(keys)))}


class CustomerOfInteraction(CustomerById):
    parent_kind = "interaction"
