"""Loyalty mutations: parse, call one service, shape the payload."""
from __future__ import annotations

import graphene

from crm.api.access import access_customer
from crm.api.ids import parse_id
from crm.api.mutations import BaseMutation
from crm.enums import Role
from crm.api.scalars import DateTime
from loyalty import rewards, services
from loyalty.gql.types import AccountView, LedgerEntry, LoyaltyAccount, Reward, RewardRedemption


class LoyaltyErrorCode(graphene.Enum):
    INVALID = "INVALID"
    REQUIRED = "REQUIRED"
    NOT_FOUND = "NOT_FOUND"
    FORBIDDEN = "FORBIDDEN"
    INSUFFICIENT_POINTS = "INSUFFICIENT_POINTS"
    IDEMPOTENCY_MISMATCH = "IDEMPOTENCY_MISMATCH"
    OUT_OF_STOCK = "OUT_OF_STOCK"
    TIER_TOO_LOW = "TIER_TOO_LOW"
    REWARD_INACTIVE = "REWARD_INACTIVE"


class LoyaltyError(graphene.ObjectType):
    field = graphene.String()
    message = graphene.String(required=True)
    code = graphene.Field(LoyaltyErrorCode, required=True)


class PointsPayload(graphene.ObjectType):
    entry = graphene.Field(LedgerEntry)
    account = graphene.Field(LoyaltyAccount)
    errors = graphene.List(graphene.NonNull(LoyaltyError), required=True)


class RewardPayload(graphene.ObjectType):
    reward = graphene.Field(Reward)
    errors = graphene.List(graphene.NonNull(LoyaltyError), required=True)


class RewardRedeemPayload(graphene.ObjectType):
    redemption = graphene.Field(RewardRedemption)
    account = graphene.Field(LoyaltyAccount)
    errors = graphene.List(graphene.NonNull(LoyaltyError), required=True)


class PointsEarnInput(graphene.InputObjectType):
    customer_id = graphene.ID(required=True)
    points = graphene.Int(required=True)
    reason = graphene.String(required=True)
    idempotency_key = graphene.String(required=True)
    expires_at = DateTime()


class PointsRedeemInput(graphene.InputObjectType):
    customer_id = graphene.ID(required=True)
    points = graphene.Int(required=True)
    reason = graphene.String(required=True)
    idempotency_key = graphene.String(required=True)


class PointsAdjustInput(graphene.InputObjectType):
    customer_id = graphene.ID(required=True)
    points = graphene.Int(required=True, description="Positive adds, negative removes.")
    reason = graphene.String(required=True)
    idempotency_key = graphene.String(required=True)


class RewardCreateInput(graphene.InputObjectType):
    name = graphene.String(required=True)
    description = graphene.String()
    cost = graphene.Int(required=True)
    stock = graphene.Int(description="Null: unlimited.")
    active_from = DateTime()
    active_until = DateTime()
    min_tier = graphene.String(description="Key of the lowest tier that may redeem it.")


def points_payload(info, result):
    info.context.loaders.see("ledger_entry", [result.entry])
    return PointsPayload(entry=result.entry, account=AccountView(result.account.customer_id, result.account), errors=[])


class PointsEarn(BaseMutation):
    """Credit points earned outside an order (they count towards tiers); idempotent on idempotencyKey."""

    errors_name_the_input_argument = False

    class Arguments:
        input = PointsEarnInput(required=True)

    class Meta:
        output = PointsPayload
        permissions = (Role.ADMIN, Role.ACCOUNT_MANAGER, Role.INTEGRATION)

    @classmethod
    def perform(cls, info, input):
        ctx = info.context
        result = services.earn_points(ctx.session, customer_id=parse_id(input["customer_id"], "Customer", "customerId"),
                                      points=input["points"], reason=input["reason"],
                                      idempotency_key=input["idempotency_key"], expires_at=input.get("expires_at"),
                                      actor=ctx.viewer.actor)
        return points_payload(info, result)


class PointsRedeem(BaseMutation):
    """Spend points, soonest-expiring first; INSUFFICIENT_POINTS rather than a negative balance."""

    class Arguments:
        input = PointsRedeemInput(required=True)

    class Meta:
        output = PointsPayload
        permissions = (Role.ADMIN, Role.ACCOUNT_MANAGER, Role.INTEGRATION)

    @classmethod
    def perform(cls, info, input):
        ctx = info.context
        result = services.redeem_points(ctx.session,
                                        customer_id=parse_id(input["customer_id"], "Customer", "customerId"),
                                        points=input["points"], reason=input["reason"],
                                        idempotency_key=input["idempotency_key"], actor=ctx.viewer.actor)
        return points_payload(info, result)


class PointsAdjust(BaseMutation):
    """Add or remove points by hand with a reason; removal never takes the balance below zero."""

    class Arguments:
        input = PointsAdjustInput(required=True)

    class Meta:
        output = PointsPayload
        permissions = (Role.ADMIN, Role.ACCOUNT_MANAGER)

    @classmethod
    def perform(cls, info, input):
        ctx = info.context
        result = services.adjust_points(ctx.session,
                                        customer_id=parse_id(input["customer_id"], "Customer", "customerId"),
                                        points=input["points"], reason=input["reason"],
                                        idempotency_key=input["idempotency_key"], actor=ctx.viewer.actor)
        return points_payload(info, result)


class RewardCreate(BaseMutation):
    """Add a reward to the catalogue."""

    errors_name_the_input_argument = False

    class Arguments:
        input = RewardCreateInput(required=True)

    class Meta:
        output = RewardPayload
        permissions = (Role.ADMIN,)

    @classmethod
    def perform(cls, info, input):
        reward = rewards.create_reward(info.context.session, name=input["name"], cost=input["cost"],
                                       description=input.get("description"), stock=input.get("stock"),
                                       active_from=input.get("active_from"), active_until=input.get("active_until"),
                                       min_tier_key=input.get("min_tier"))
        return RewardPayload(reward=reward, errors=[])


class RewardRedeem(BaseMutation):
    """Redeem a reward: its cost is spent and one is taken from stock, once per idempotencyKey.
    A PORTAL token redeems for its own customer only."""

    class Arguments:
        customer_id = graphene.ID(required=True)
        reward_id = graphene.ID(required=True)
        idempotency_key = graphene.String(required=True)

    class Meta:
        output = RewardRedeemPayload
        permissions = (Role.ADMIN, Role.ACCOUNT_MANAGER, Role.INTEGRATION, Role.PORTAL)

    @classmethod
    def perform(cls, info, customer_id, reward_id, idempotency_key):
        ctx = info.context
        result = rewards.redeem_reward(ctx.session, customer_id=access_customer(ctx, customer_id, field="customerId"),
                                       reward_id=parse_id(reward_id, "Reward", "rewardId"),
                                       idempotency_key=idempotency_key, actor=ctx.viewer.actor)
        ctx.loaders.see("redemption", [result.redemption])
        from loyalty.models import LoyaltyAccount as AccountModel
        account = ctx.session.get(AccountModel, result.redemption.customer_id)
        return RewardRedeemPayload(redemption=result.redemption, account=AccountView(account.customer_id, account),
                                   errors=[])


class LoyaltyMutations(graphene.ObjectType):
    points_earn = PointsEarn.Field()
    points_redeem = PointsRedeem.Field()
    points_adjust = PointsAdjust.Field()
    reward_create = RewardCreate.Field()
    reward_redeem = RewardRedeem.Field()
