"""Loyalty mutations: parse, call one service, shape the payload."""
from __future__ import annotations

import graphene

from crm.api.access import access_customer
from crm.api.errors import error_type, payload_type
from crm.api.ids import parse_id
from crm.api.mutations import BaseMutation, family_member, mutation_family, root_mutations
from crm.auth.permissions import Capability
from crm.api.scalars import DateTime
from loyalty import rewards, services
from loyalty.errors import LoyaltyErrorCode
from loyalty.gql.types import AccountView, LedgerEntry, LoyaltyAccount, Reward, RewardRedemption
from loyalty.settings import LoyaltySettings


LoyaltyError = error_type("LoyaltyError", LoyaltyErrorCode)


PointsPayload = payload_type("PointsPayload", LoyaltyError, entry=LedgerEntry, account=LoyaltyAccount)
RewardPayload = payload_type("RewardPayload", LoyaltyError, reward=Reward)
RewardRedeemPayload = payload_type("RewardRedeemPayload", LoyaltyError, redemption=RewardRedemption,
                                   account=LoyaltyAccount)


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


def change_points(info, input, change, **extra) -> PointsPayload:
    """Call the ledger service ``change`` with the fields every points input has, and ``extra``."""
    ctx = info.context
    result = change(ctx.session, customer_id=parse_id(input["customer_id"], "Customer", "customerId"),
                    points=input["points"], reason=input["reason"], idempotency_key=input["idempotency_key"],
                    actor=ctx.viewer.actor, settings=LoyaltySettings.from_config(ctx.config), **extra)
    ctx.loaders.see("ledger_entry", [result.entry])
    return PointsPayload(entry=result.entry, account=AccountView(result.account.customer_id, result.account), errors=[])


_PointsMutation = mutation_family("_PointsMutation", PointsPayload, Capability.POINTS_WRITE)


def _points_mutation(name: str, doc: str, input_type, change, *, expires: bool = False, **attributes):
    """A points mutation of one ``input`` for the ledger service ``change``; ``expires``: the input has an
    ``expiresAt`` too."""
    def perform(cls, info, input):
        return change_points(info, input, change, **({"expires_at": input.get("expires_at")} if expires else {}))

    return family_member(name, _PointsMutation, doc, perform, {"input": input_type(required=True)}, **attributes)


PointsEarn = _points_mutation(
    "PointsEarn", "Credit points earned outside an order (they count towards tiers); idempotent on idempotencyKey.",
    PointsEarnInput, services.earn_points, expires=True, errors_name_the_input_argument=False)
PointsRedeem = _points_mutation(
    "PointsRedeem", "Spend points, soonest-expiring first; INSUFFICIENT_POINTS rather than a negative balance.",
    PointsRedeemInput, services.redeem_points)
PointsAdjust = _points_mutation(
    "PointsAdjust", "Add or remove points by hand with a reason; removal never takes the balance below zero.",
    PointsAdjustInput, services.adjust_points, capability=Capability.POINTS_ADJUST)


class RewardCreate(BaseMutation):
    """Add a reward to the catalogue."""

    errors_name_the_input_argument = False

    input_type, payload, capability = RewardCreateInput, RewardPayload, Capability.REWARDS_WRITE

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

    payload, capability = RewardRedeemPayload, Capability.REWARDS_REDEEM

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


LoyaltyMutations = root_mutations("LoyaltyMutations", PointsEarn, PointsRedeem, PointsAdjust, RewardCreate,
                                  RewardRedeem)
