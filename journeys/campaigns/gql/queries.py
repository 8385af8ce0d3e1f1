"""Campaign queries: parse arguments, read, shape the answer."""
from __future__ import annotations

import graphene
from sqlalchemy import select

from crm.api.connections import page_size
from crm.api.ids import parse_id
from crm.api.permissions import PermissionField
from crm.auth.permissions import Capability
from crm.messages.settings import MessageSettings
from crm.pagination import SortKey, keyset_page
from journeys.campaigns import preview
from journeys.campaigns.gql.types import (
    Campaign,
    CampaignConnection,
    CampaignPreview,
    CampaignStatus,
)
from journeys.campaigns.models import Campaign as CampaignRow

CAMPAIGN_KEYS = [SortKey(CampaignRow.created_at, lambda c: c.created_at, "datetime", descending=True),
                 SortKey(CampaignRow.id, lambda c: c.id, "uuid", descending=True)]


class CampaignQueries(graphene.ObjectType):
    campaigns = PermissionField(graphene.NonNull(CampaignConnection), first=graphene.Int(), after=graphene.String(),
                                status=graphene.List(graphene.NonNull(CampaignStatus)),
                                capability=Capability.CAMPAIGNS_READ,
                                description="Campaigns, newest first.")
    campaign = PermissionField(Campaign, id=graphene.ID(required=True), capability=Capability.CAMPAIGNS_READ)
    campaign_preview = PermissionField(
        graphene.NonNull(CampaignPreview), id=graphene.ID(required=True), sample_size=graphene.Int(),
        capability=Capability.CAMPAIGNS_WRITE,
        description="A dry run, evaluated now: who the campaign would reach, who not and why, and a sample "
                    "(at most 50) with each one's local send time. Writes nothing.")

    @staticmethod
    def resolve_campaigns(root, info, first=None, after=None, status=None):
        stmt = select(CampaignRow)
        if status:
            stmt = stmt.where(CampaignRow.status.in_([getattr(s, "value", s) for s in status]))
        page = keyset_page(info.context.session, stmt, ordering="campaigns", keys=CAMPAIGN_KEYS,
                           first=page_size(info, first), after=after)
        info.context.loaders.see("campaign", page.items)
        return page

    @staticmethod
    def resolve_campaign(root, info, id):
        campaign = info.context.session.get(CampaignRow, parse_id(id, "Campaign", "id"))
        info.context.loaders.see("campaign", [campaign] if campaign else [])
        return campaign

    @staticmethod
    def resolve_campaign_preview(root, info, id, sample_size=10):
        result = preview.preview(info.context.session, campaign_id=parse_id(id, "Campaign", "id"),
                                 settings=MessageSettings.from_config(info.context.config), sample_size=sample_size)
        info.context.loaders.see("campaign-recipient", result.sample)
        return result
