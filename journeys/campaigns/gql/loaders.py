"""Loaders for campaign relations: results for every campaign of a page in one batch."""
from __future__ import annotations

from sqlalchemy import select

from crm.api.loaders import Loader
from crm.customers.gql.loaders import customer_of
from journeys.campaigns.models import Campaign
from journeys.campaigns.results import results_for


class ResultsByCampaign(Loader):
    parent_kind = "campaign"

    def batch(self, keys):
        campaigns = self.session.scalars(select(Campaign).where(Campaign.id.in_(keys))).all()
        return results_for(self.session, list(campaigns))


CustomerOfRecipient = customer_of("campaign-recipient")  # of every seen preview recipient
