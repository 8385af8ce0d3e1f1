"""Loaders for campaign relations: results for every campaign of a page in one batch."""
from __future__ import annotations

from sqlalchemy import select

from crm.api.loaders import Loader
from crm.customers.gql.loaders import CustomerById
from journeys.campaigns.models import Campaign
from journeys.campaigns.results import results_for


class ResultsByCampaign(Loader):
    parent_kind = "campaign"

    def batch(self, keys):
        campaigns = self.session.scalars(select(Campaign).where(Campaign.id.in_(keys))).all()
        return results_for(self.session, list(campaigns))


class CustomerOfRecipient(CustomerById):
    """The customer of every seen preview recipient."""

    parent_kind = "campaign-recipient"

    def key_of(self, recipient):
        return recipient.customer_id
