"""GraphQL types of loyalty (contract: "loyalty"). The loyalty issue adds the ledger behind them."""
from __future__ import annotations

import graphene
from graphene import relay

from crm.api.connections import connection_type, empty_page, page_size
from loyalty.tiers import DEFAULT_TIERS, ENTRY_TIER


class LoyaltyTier(graphene.ObjectType):
    key = graphene.String(required=True)
    name = graphene.String(required=True)
    rank = graphene.Int(required=True, description="0 = entry tier")
    qualifying_points = graphene.Int(required=True, description="Points earned in the qualification window to reach it.")
    earn_multiplier = graphene.Float(required=True)
    benefits = graphene.List(graphene.NonNull(graphene.String), required=True)


class LedgerEntryKind(graphene.Enum):
    EARN = "EARN"
    REDEEM = "REDEEM"
    EXPIRE = "EXPIRE"
    ADJUST = "ADJUST"
    REVERSAL = "REVERSAL"
    COMPENSATION = "COMPENSATION"


class LedgerEntry(graphene.ObjectType):
    class Meta:
        interfaces = (relay.Node,)

    kind = graphene.Field(LedgerEntryKind, required=True)
    points = graphene.Int(required=True, description="Signed.")
    balance_after = graphene.Int(required=True)
    reason = graphene.String()
    idempotency_key = graphene.String()
    occurred_at = graphene.DateTime(required=True)
    expires_at = graphene.DateTime(description="EARN and COMPENSATION entries.")
    order = graphene.Field("crm.customers.gql.types.Order")
    case = graphene.Field("journeys.gql.types.Case")


LedgerEntryConnection = connection_type(LedgerEntry, "LedgerEntry")


class PointsExpiry(graphene.ObjectType):
    points = graphene.Int(required=True)
    expires_at = graphene.DateTime(required=True)


class LoyaltyAccount(graphene.ObjectType):
    balance = graphene.Int(required=True)
    lifetime_earned = graphene.Int(required=True)
    qualifying_points = graphene.Int(required=True)
    tier = graphene.Field(LoyaltyTier, required=True)
    next_tier = graphene.Field(LoyaltyTier)
    points_to_next_tier = graphene.Int()
    expiring_soon = graphene.List(graphene.NonNull(PointsExpiry), required=True,
                                  description="Within the configured warning window, soonest first.")
    entries = graphene.Field(graphene.NonNull(LedgerEntryConnection), first=graphene.Int(), after=graphene.String(),
                             description="Newest first.")

    @staticmethod
    def resolve_entries(account, info, first=None, after=None):
        page_size(info, first)
        return account.get("entries") or empty_page()


def entry_account() -> dict:
    """The account of a customer who has never earned a point: entry tier, nothing to expire."""
    next_tier = DEFAULT_TIERS[1]
    return {"balance": 0, "lifetime_earned": 0, "qualifying_points": 0, "tier": ENTRY_TIER, "next_tier": next_tier,
            "points_to_next_tier": next_tier.qualifying_points, "expiring_soon": [], "entries": None}
