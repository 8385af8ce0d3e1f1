"""GraphQL types of loyalty (contract: "loyalty")."""
from __future__ import annotations

import uuid
from dataclasses import dataclass

import graphene

from crm.api.connections import connection_type, page_size
from crm.api.enums import enum_type
from crm.api.loaders import resolve_by
from crm.api.node import ModelNode
from crm.api.scalars import DateTime
from loyalty import models
from loyalty.gql import loaders


class LoyaltyTier(graphene.ObjectType):
    key = graphene.String(required=True)
    name = graphene.String(required=True)
    rank = graphene.Int(required=True, description="0 = entry tier")
    qualifying_points = graphene.Int(required=True, description="Points earned in the qualification window to reach it.")
    earn_multiplier = graphene.Float(required=True)
    benefits = graphene.List(graphene.NonNull(graphene.String), required=True)

    @staticmethod
    def resolve_earn_multiplier(tier, info):
        return float(tier.earn_multiplier)


LedgerEntryKind = enum_type(models.EntryKind, "LedgerEntryKind")


class LedgerEntry(ModelNode, graphene.ObjectType):
    kind = graphene.Field(LedgerEntryKind, required=True)
    points = graphene.Int(required=True, description="Signed.")
    balance_after = graphene.Int(required=True)
    reason = graphene.String()
    idempotency_key = graphene.String()
    occurred_at = DateTime(required=True)
    expires_at = DateTime(description="EARN and COMPENSATION entries.")
    order = graphene.Field("crm.customers.gql.types.Order")
    # journeys adds `case` here (journeys.service.gql.types.LedgerEntryCase)
    qualifying_points = graphene.Int(required=True, description="What this entry adds to tier qualification.")

    node_model, node_of_customer, node_seen_as = models.LedgerEntry, True, "ledger_entry"

    @staticmethod
    def resolve_kind(entry, info):
        return entry.kind.value

    resolve_order = resolve_by(loaders.OrderOfEntry, "order_id")


LedgerEntryConnection = connection_type(LedgerEntry, "LedgerEntry")


class PointsExpiry(graphene.ObjectType):
    points = graphene.Int(required=True)
    expires_at = DateTime(required=True)


class Reward(ModelNode, graphene.ObjectType):
    name = graphene.String(required=True)
    description = graphene.String()
    cost = graphene.Int(required=True, description="In points.")
    stock = graphene.Int(description="Null: unlimited.")
    active_from = DateTime()
    active_until = DateTime()
    min_tier = graphene.String(description="Key of the lowest tier that may redeem it.")

    node_model = models.Reward

    @staticmethod
    def resolve_min_tier(reward, info):
        return reward.min_tier_key


RewardConnection = connection_type(Reward, "Reward")


class RewardRedemption(ModelNode, graphene.ObjectType):
    reward = graphene.Field(Reward, required=True)
    points = graphene.Int(required=True)
    redeemed_at = DateTime(required=True)

    node_model, node_of_customer, node_seen_as = models.RewardRedemption, True, "redemption"

    resolve_reward = resolve_by(loaders.RewardOfRedemption, "reward_id")


RewardRedemptionConnection = connection_type(RewardRedemption, "RewardRedemption")


@dataclass
class AccountView:
    """A customer's account as GraphQL shows it; customers who never earned have no row yet."""

    customer_id: uuid.UUID
    account: models.LoyaltyAccount | None


class LoyaltyAccount(graphene.ObjectType):
    balance = graphene.Int(required=True)
    lifetime_earned = graphene.Int(required=True, description="Points ever credited, less reversals.")
    qualifying_points = graphene.Int(required=True)
    tier = graphene.Field(LoyaltyTier, required=True)
    next_tier = graphene.Field(LoyaltyTier)
    points_to_next_tier = graphene.Int()
    expiring_soon = graphene.List(graphene.NonNull(PointsExpiry), required=True,
                                  description="Within the configured warning window, soonest first.")
    entries = graphene.Field(graphene.NonNull(LedgerEntryConnection), first=graphene.Int(), after=graphene.String(),
                             description="Newest first.")
    redemptions = graphene.Field(graphene.NonNull(RewardRedemptionConnection), first=graphene.Int(),
                                 after=graphene.String(), description="Rewards redeemed, newest first.")

    @staticmethod
    def resolve_balance(view, info):
        return view.account.balance if view.account else 0

    @staticmethod
    def resolve_lifetime_earned(view, info):
        return view.account.lifetime_earned if view.account else 0

    resolve_qualifying_points = resolve_by(loaders.QualifyingByCustomer, "customer_id")

    @staticmethod
    def resolve_tier(view, info):
        tiers = info.context.loaders.get(loaders.AllTiers).load("all")
        if view.account is None:
            return tiers[0]
        return next(t for t in tiers if t.key == view.account.tier_key)

    @staticmethod
    def resolve_next_tier(view, info):
        tiers = info.context.loaders.get(loaders.AllTiers).load("all")
        current = LoyaltyAccount.resolve_tier(view, info)
        higher = [t for t in tiers if t.rank > current.rank]
        return higher[0] if higher else None

    @staticmethod
    def resolve_points_to_next_tier(view, info):
        upcoming = LoyaltyAccount.resolve_next_tier(view, info)
        if upcoming is None:
            return None
        return max(upcoming.qualifying_points - LoyaltyAccount.resolve_qualifying_points(view, info), 0)

    @staticmethod
    def resolve_expiring_soon(view, info):
        rows = info.context.loaders.get(loaders.ExpiringByCustomer).load(view.customer_id)
        return [PointsExpiry(points=points, expires_at=expires_at) for points, expires_at in rows]

    @staticmethod
    def resolve_entries(view, info, first=None, after=None):
        return info.context.loaders.get(loaders.EntriesByCustomer, page_size(info, first), after).load(view.customer_id)

    @staticmethod
    def resolve_redemptions(view, info, first=None, after=None):
        loader = info.context.loaders.get(loaders.RedemptionsByCustomer, page_size(info, first), after)
        return loader.load(view.customer_id)


def account_for(info, customer) -> AccountView:
    return AccountView(customer.id, info.context.loaders.get(loaders.AccountByCustomer).load(customer.id))


class CustomerLoyalty:
    """What loyalty adds to Customer (attached by crm.api.schema, registered in loyalty.init_app)."""

    loyalty = graphene.Field(graphene.NonNull(LoyaltyAccount))

    @staticmethod
    def resolve_loyalty(customer, info):
        return account_for(info, customer)
