from __future__ import annotations

import graphene
from sqlalchemy import or_, select

from crm.api.connections import page_size
from crm.api.permissions import PermissionField
from crm.auth.permissions import Capability
from crm.db import utcnow
from crm.pagination import SortKey, keyset_page
from loyalty import models
from loyalty.gql import loaders
from loyalty.gql.types import LoyaltyTier, RewardConnection

_REWARD_KEYS = [SortKey(models.Reward.cost, lambda r: r.cost, "int"), SortKey(models.Reward.id, lambda r: r.id, "uuid")]


class LoyaltyQueries(graphene.ObjectType):
    loyalty_tiers = PermissionField(graphene.NonNull(graphene.List(graphene.NonNull(LoyaltyTier))),
                                    capability=Capability.LOYALTY_READ,
                                    description="The membership tiers, entry tier first.")
    rewards = PermissionField(graphene.NonNull(RewardConnection), first=graphene.Int(), after=graphene.String(),
                              available_only=graphene.Boolean(default_value=True),
                              capability=Capability.LOYALTY_READ,
                              description="The rewards catalogue, cheapest first; by default only what can be "
                                          "redeemed now (active and in stock).")

    @staticmethod
    def resolve_loyalty_tiers(root, info):
        return info.context.loaders.get(loaders.AllTiers).load("all")

    @staticmethod
    def resolve_rewards(root, info, first=None, after=None, available_only=True):
        stmt = select(models.Reward)
        if available_only:
            now = utcnow()
            stmt = stmt.where(or_(models.Reward.active_from.is_(None), models.Reward.active_from <= now),
                              or_(models.Reward.active_until.is_(None), models.Reward.active_until > now),
                              or_(models.Reward.stock.is_(None), models.Reward.stock > 0))
        return keyset_page(info.context.session, stmt, ordering="rewards", keys=_REWARD_KEYS,
                           first=page_size(info, first), after=after)
