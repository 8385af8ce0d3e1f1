"""The loyalty ledger: points mutations, idempotency, lots consumed soonest-expiring first, expiry,
the verify/expire commands, concurrency (PostgreSQL), rewards and permissions."""
from __future__ import annotations

import json
import uuid
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import bindparam, select, text
from sqlalchemy.types import Uuid

from crm import clock
from crm.api.ids import global_id
from loyalty import ledger, queries, services
from loyalty.models import EntryKind, LedgerEntry, LotConsumption, LoyaltyAccount, Reward
from tests.helpers import create_customer, post, raw_id, run_threads

ENTRY = "entry { id kind points balanceAfter reason idempotencyKey expiresAt qualifyingPoints }"
ACCOUNT = "account { balance lifetimeEarned }"
ERRORS = "errors { field code message }"

EARN = f"""mutation($input: PointsEarnInput!) {{ pointsEarn(input: $input) {{ {ENTRY} {ACCOUNT} {ERRORS} }} }}"""
REDEEM = f"""mutation($input: PointsRedeemInput!) {{ pointsRedeem(input: $input) {{ {ENTRY} {ACCOUNT} {ERRORS} }} }}"""
ADJUST = f"""mutation($input: PointsAdjustInput!) {{ pointsAdjust(input: $input) {{ {ENTRY} {ACCOUNT} {ERRORS} }} }}"""

LOYALTY = """query($id: ID!) { customer(id: $id) { loyalty {
  balance lifetimeEarned
  tier { key }
  expiringSoon { points expiresAt }
  entries(first: 50) { totalCount edges { node { kind points balanceAfter } } }
} } }"""

REWARD_CREATE = """mutation($input: RewardCreateInput!) { rewardCreate(input: $input) {
  reward { id name description cost stock activeFrom activeUntil minTier }
  errors { field code message } } }"""

REWARDS = """query($availableOnly: Boolean) { rewards(availableOnly: $availableOnly) {
  totalCount edges { node { name cost stock } } } }"""

REWARD_REDEEM = """mutation($customerId: ID!, $rewardId: ID!, $key: String!) {
  rewardRedeem(customerId: $customerId, rewardId: $rewardId, idempotencyKey: $key) {
    redemption { id points reward { name stock } }
    account { balance }
    errors { field code message } } }"""

REDEMPTIONS = """query($id: ID!) { customer(id: $id) { loyalty {
  balance redemptions { totalCount edges { node { reward { name } points } } } } } }"""

UTC = timezone.utc
T0 = datetime(2031, 3, 1, 12, 0, tzinfo=UTC)

# The issue asks for these on PostgreSQL (row locks); they run on SQLite too, where every
# transaction takes the write lock up front (BEGIN IMMEDIATE, see crm/db.py).
concurrency_test = pytest.mark.concurrency


# --- helpers -------------------------------------------------------------------------------------

def iso(moment: datetime) -> str:
    return moment.isoformat()


def when(value: str) -> datetime:
    return datetime.fromisoformat(value)


def now_s() -> datetime:
    """The platform clock's now, to the second (the GraphQL path reads that clock)."""
    return clock.now().replace(microsecond=0)


def earn(api, customer_id, points, key, reason="product review", expires_at=None, as_="admin") -> dict:
    variables = {"customerId": customer_id, "points": points, "reason": reason, "idempotencyKey": key}
    if expires_at is not None:
        variables["expiresAt"] = iso(expires_at)
    return api.data(EARN, {"input": variables}, as_=as_)["pointsEarn"]


def redeem(api, customer_id, points, key, reason="voucher", as_="admin") -> dict:
    variables = {"customerId": customer_id, "points": points, "reason": reason, "idempotencyKey": key}
    return api.data(REDEEM, {"input": variables}, as_=as_)["pointsRedeem"]


def adjust(api, customer_id, points, key, reason="goodwill", as_="admin") -> dict:
    variables = {"customerId": customer_id, "points": points, "reason": reason, "idempotencyKey": key}
    return api.data(ADJUST, {"input": variables}, as_=as_)["pointsAdjust"]


def loyalty(api, customer_id) -> dict:
    return api.data(LOYALTY, {"id": customer_id})["customer"]["loyalty"]


def entries(api, customer_id) -> list[tuple]:
    return [(e["node"]["kind"], e["node"]["points"], e["node"]["balanceAfter"])
            for e in loyalty(api, customer_id)["entries"]["edges"]]


def failed(payload: dict, code: str, field: str | None, message: str | None = None) -> None:
    """The payload carries exactly this one error and no result."""
    assert len(payload["errors"]) == 1, payload["errors"]
    error = payload["errors"][0]
    assert (error["code"], error["field"]) == (code, field), error
    if message is not None:
        assert error["message"] == message
    for key, value in payload.items():
        if key != "errors":
            assert value is None, (key, value)


@contextmanager
def session_of(app):
    """A session of its own (a fresh app context), closed afterwards."""
    with app.app_context():
        from crm.sessions import get_session
        yield get_session()


def differences(app) -> list[dict]:
    with session_of(app) as session:
        return queries.balance_differences(session)


def reward(api, **fields) -> dict:
    payload = api.data(REWARD_CREATE, {"input": fields})["rewardCreate"]
    assert payload["errors"] == [], payload["errors"]
    return payload["reward"]


def redeem_reward(api, customer_id, reward_id, key, as_="admin") -> dict:
    return api.data(REWARD_REDEEM, {"customerId": customer_id, "rewardId": reward_id, "key": key},
                    as_=as_)["rewardRedeem"]


# --- 1. earn / redeem / adjust through GraphQL -----------------------------------------------------

def test_earn_redeem_and_adjust_keep_the_balance_and_balance_after(api, app):
    customer = create_customer(api, email="ledger@example.com")
    cid = customer["id"]
    before = clock.now()

    earned = earn(api, cid, 500, "earn-1", reason="referral")
    after = clock.now()
    assert earned["errors"] == []
    assert {k: v for k, v in earned["entry"].items() if k not in ("id", "expiresAt")} == {
        "kind": "EARN", "points": 500, "balanceAfter": 500, "reason": "referral", "idempotencyKey": "earn-1",
        "qualifyingPoints": 500}
    # no expiresAt given: the lot expires LOYALTY_EXPIRY_DAYS (365) after it is credited
    assert before + timedelta(days=365) - timedelta(seconds=1) <= when(earned["entry"]["expiresAt"]) \
        <= after + timedelta(days=365)
    assert earned["account"] == {"balance": 500, "lifetimeEarned": 500}

    spent = redeem(api, cid, 120, "redeem-1", reason="voucher")
    assert spent["errors"] == []
    assert {k: spent["entry"][k] for k in ("kind", "points", "balanceAfter", "expiresAt", "qualifyingPoints")} == {
        "kind": "REDEEM", "points": -120, "balanceAfter": 380, "expiresAt": None, "qualifyingPoints": 0}
    assert spent["account"] == {"balance": 380, "lifetimeEarned": 500}

    added = adjust(api, cid, 30, "adjust-1")
    assert {k: added["entry"][k] for k in ("kind", "points", "balanceAfter", "qualifyingPoints")} == {
        "kind": "ADJUST", "points": 30, "balanceAfter": 410, "qualifyingPoints": 0}
    assert added["account"] == {"balance": 410, "lifetimeEarned": 530}

    removed = adjust(api, cid, -10, "adjust-2")
    assert {k: removed["entry"][k] for k in ("kind", "points", "balanceAfter")} == {
        "kind": "ADJUST", "points": -10, "balanceAfter": 400}
    assert removed["account"] == {"balance": 400, "lifetimeEarned": 530}

    account = loyalty(api, cid)
    assert (account["balance"], account["lifetimeEarned"], account["tier"]["key"]) == (400, 530, "member")
    assert account["entries"]["totalCount"] == 4
    assert entries(api, cid) == [("ADJUST", -10, 400), ("ADJUST", 30, 410), ("REDEEM", -120, 380),
                                 ("EARN", 500, 500)]
    assert differences(app) == []


def test_same_key_and_payload_replays_the_entry_without_a_second_effect(api, app):
    cid = create_customer(api, email="replay@example.com")["id"]
    first_earn = earn(api, cid, 200, "k-earn")
    first_redeem = redeem(api, cid, 50, "k-redeem")
    first_adjust = adjust(api, cid, -25, "k-adjust")
    assert first_adjust["account"]["balance"] == 125

    again_earn = earn(api, cid, 200, "k-earn")
    again_redeem = redeem(api, cid, 50, "k-redeem")
    again_adjust = adjust(api, cid, -25, "k-adjust")
    for first, again in ((first_earn, again_earn), (first_redeem, again_redeem), (first_adjust, again_adjust)):
        assert again["errors"] == []
        assert again["entry"] == first["entry"]  # same id, same balanceAfter
        assert again["account"] == {"balance": 125, "lifetimeEarned": 200}
    # leading/trailing blanks in the key and reason are trimmed: still the same request
    assert redeem(api, cid, 50, "  k-redeem ", reason=" voucher ")["entry"]["id"] == first_redeem["entry"]["id"]

    assert loyalty(api, cid)["entries"]["totalCount"] == 3
    assert entries(api, cid) == [("ADJUST", -25, 125), ("REDEEM", -50, 150), ("EARN", 200, 200)]
    with session_of(app) as session:
        assert session.scalar(select(LedgerEntry.id).where(LedgerEntry.idempotency_key == "k-earn")) \
            == raw_id(first_earn["entry"]["id"])


def test_same_key_with_a_different_payload_is_a_mismatch_and_changes_nothing(api):
    cid = create_customer(api, email="mismatch@example.com")["id"]
    earn(api, cid, 100, "k1", reason="review")
    message = "This idempotencyKey was already used for a different request."

    failed(earn(api, cid, 200, "k1", reason="review"), "IDEMPOTENCY_MISMATCH", "idempotencyKey", message)
    failed(earn(api, cid, 100, "k1", reason="another reason"), "IDEMPOTENCY_MISMATCH", "idempotencyKey", message)
    failed(earn(api, cid, 100, "k1", reason="review", expires_at=now_s() + timedelta(days=90)),
           "IDEMPOTENCY_MISMATCH", "idempotencyKey", message)
    failed(redeem(api, cid, 100, "k1", reason="review"), "IDEMPOTENCY_MISMATCH", "idempotencyKey", message)
    failed(adjust(api, cid, 100, "k1", reason="review"), "IDEMPOTENCY_MISMATCH", "idempotencyKey", message)

    redeem(api, cid, 10, "k2")
    failed(redeem(api, cid, 11, "k2"), "IDEMPOTENCY_MISMATCH", "idempotencyKey", message)

    account = loyalty(api, cid)
    assert (account["balance"], account["lifetimeEarned"], account["entries"]["totalCount"]) == (90, 100, 2)
    assert entries(api, cid) == [("REDEEM", -10, 90), ("EARN", 100, 100)]


def test_keys_are_per_customer(api):
    one = create_customer(api, email="one@example.com")["id"]
    two = create_customer(api, email="two@example.com")["id"]
    first = earn(api, one, 100, "shared-key")
    second = earn(api, two, 70, "shared-key")
    assert second["errors"] == [] and second["entry"]["id"] != first["entry"]["id"]
    assert (loyalty(api, one)["balance"], loyalty(api, two)["balance"]) == (100, 70)


def test_redeeming_more_than_the_balance_is_insufficient_and_changes_nothing(api, app):
    cid = create_customer(api, email="short@example.com")["id"]
    earn(api, cid, 100, "e1")

    failed(redeem(api, cid, 101, "r1"), "INSUFFICIENT_POINTS", "points", "The balance is 100 points; 101 are needed.")
    failed(adjust(api, cid, -150, "a1"), "INSUFFICIENT_POINTS", "points", "The balance is 100 points; 150 are needed.")
    account = loyalty(api, cid)
    assert (account["balance"], account["entries"]["totalCount"]) == (100, 1)

    # a failed request does not use up its key: the same key works once the points are there
    earn(api, cid, 1, "e2")
    done = redeem(api, cid, 101, "r1")
    assert done["errors"] == [] and done["entry"]["balanceAfter"] == 0
    failed(adjust(api, cid, -1, "a1"), "INSUFFICIENT_POINTS", "points", "The balance is 0 points; 1 are needed.")
    failed(redeem(api, cid, 1, "r2"), "INSUFFICIENT_POINTS", "points", "The balance is 0 points; 1 are needed.")
    assert entries(api, cid) == [("REDEEM", -101, 0), ("EARN", 1, 101), ("EARN", 100, 100)]
    assert differences(app) == []


def test_a_customer_with_no_account_has_nothing_to_redeem(api):
    cid = create_customer(api, email="empty@example.com")["id"]
    failed(redeem(api, cid, 1, "r"), "INSUFFICIENT_POINTS", "points", "The balance is 0 points; 1 are needed.")
    account = loyalty(api, cid)
    assert (account["balance"], account["lifetimeEarned"], account["entries"]["totalCount"]) == (0, 0, 0)


def test_invalid_points_reasons_keys_and_customers(api):
    cid = create_customer(api, email="invalid@example.com")["id"]
    positive, non_zero = "Points must be a positive whole number.", "Points must be a non-zero whole number."

    failed(earn(api, cid, 0, "e"), "INVALID", "points", positive)
    failed(earn(api, cid, -5, "e"), "INVALID", "points", positive)
    failed(redeem(api, cid, 0, "r"), "INVALID", "points", positive)
    failed(redeem(api, cid, -5, "r"), "INVALID", "points", positive)
    failed(adjust(api, cid, 0, "a"), "INVALID", "points", non_zero)
    failed(earn(api, cid, 100_000_001, "e"), "INVALID", "points", "At most 100,000,000 points in one entry.")
    failed(adjust(api, cid, -100_000_001, "a"), "INVALID", "points", "At most 100,000,000 points in one entry.")

    failed(earn(api, cid, 10, "e", reason=""), "REQUIRED", "reason", "Give a reason.")
    failed(earn(api, cid, 10, "e", reason="   "), "REQUIRED", "reason", "Give a reason.")
    failed(redeem(api, cid, 10, "r", reason=" "), "REQUIRED", "reason", "Give a reason.")
    failed(adjust(api, cid, 10, "a", reason=""), "REQUIRED", "reason", "Give a reason.")
    failed(earn(api, cid, 10, "  "), "REQUIRED", "idempotencyKey", "Give an idempotencyKey.")
    failed(earn(api, cid, 10, "k" * 201), "INVALID", "idempotencyKey")
    failed(earn(api, cid, 10, "e", reason="r" * 501), "INVALID", "reason")
    failed(earn(api, cid, 10, "e", expires_at=now_s() - timedelta(minutes=1)), "INVALID", "expiresAt",
           "expiresAt must be in the future.")

    unknown = global_id("Customer", uuid.uuid4())
    failed(earn(api, unknown, 10, "e"), "NOT_FOUND", "customerId", "No customer has this id.")
    failed(redeem(api, unknown, 10, "r"), "NOT_FOUND", "customerId", "No customer has this id.")
    failed(adjust(api, unknown, -10, "a"), "NOT_FOUND", "customerId", "No customer has this id.")
    failed(earn(api, "not-an-id", 10, "e"), "INVALID", "customerId", "Expected the id of a Customer.")

    account = loyalty(api, cid)
    assert (account["balance"], account["entries"]["totalCount"]) == (0, 0)


def test_keys_the_system_writes_itself_are_reserved(api, app):
    """A caller's "expire:<lot id>" would make that lot's expiry IDEMPOTENCY_MISMATCH: the account could take
    no write any more, and every expiry run would stop at it."""
    cid = create_customer(api, email="reserved@example.com")["id"]
    lot = earn(api, cid, 100, "lot")["entry"]
    reserved = [f"expire:{raw_id(lot['id'])}", "order:1", "reversal:order:1", "case:1:compensation",
                "merge-in:1", "merge-out:1", "reward:1"]
    for key in reserved:
        for document, points in ((EARN, 5), (REDEEM, 5), (ADJUST, -5)):
            (payload,) = api.data(document, {"input": {"customerId": cid, "points": points, "reason": "r",
                                                       "idempotencyKey": key}}).values()
            failed(payload, "INVALID", "idempotencyKey")
            assert payload["errors"][0]["message"].startswith("idempotencyKey may not start with order:, ")
    assert earn(api, cid, 5, "my-order:1", expires_at=now_s() + timedelta(days=400))["errors"] == []  # prefix only
    assert loyalty(api, cid)["entries"]["totalCount"] == 2

    # and the lot still expires normally
    with session_of(app) as session:
        later = when(lot["expiresAt"]) + timedelta(seconds=1)
        assert services.run_expiry(session, now=later) == 1
        assert session.get(LoyaltyAccount, raw_id(cid)).balance == 5


def test_a_retry_is_answered_even_after_its_expires_at_has_passed(api, app):
    cid = raw_id(create_customer(api, email="late-retry@example.com")["id"])
    with session_of(app) as session:
        first = services.earn_points(session, customer_id=cid, points=10, reason="r", idempotency_key="k",
                                     expires_at=T0 + timedelta(days=1), now=T0)
        assert first.created
    with session_of(app) as session:
        again = services.earn_points(session, customer_id=cid, points=10, reason="r", idempotency_key="k",
                                     expires_at=T0 + timedelta(days=1), now=T0 + timedelta(days=2))
        assert (again.created, again.entry.id) == (False, first.entry.id)
        from crm.errors import DomainError
        with pytest.raises(DomainError) as caught:  # a new request with that expiry is refused
            services.earn_points(session, customer_id=cid, points=10, reason="r", idempotency_key="k2",
                                 expires_at=T0 + timedelta(days=1), now=T0 + timedelta(days=2))
        assert (caught.value.code, caught.value.field) == ("INVALID", "expiresAt")
        assert session.scalar(select(text("count(*)")).select_from(LedgerEntry)
                              .where(LedgerEntry.customer_id == cid)) == 1


# --- 2. FIFO by expiry across lots -------------------------------------------------------------------

def test_redemption_consumes_the_soonest_expiring_lots_first(api, app):
    cid = create_customer(api, email="fifo@example.com")["id"]
    now = now_s()
    day = timedelta(days=1)
    # given out of order; two lots share an expiry instant
    lots = {
        "in40": earn(api, cid, 100, "l-in40", expires_at=now + 40 * day),
        "in20a": earn(api, cid, 70, "l-in20a", expires_at=now + 20 * day),
        "in10": earn(api, cid, 50, "l-in10", expires_at=now + 10 * day),
        "in5": earn(api, cid, 40, "l-in5", expires_at=now + 5 * day),
        "in20b": earn(api, cid, 30, "l-in20b", expires_at=now + 20 * day),
    }
    ids = {name: raw_id(payload["entry"]["id"]) for name, payload in lots.items()}

    def expiring():
        return [(e["points"], when(e["expiresAt"])) for e in loyalty(api, cid)["expiringSoon"]]

    # within the 30-day window only, soonest first, summed per instant
    assert expiring() == [(40, now + 5 * day), (50, now + 10 * day), (100, now + 20 * day)]

    spent = redeem(api, cid, 110, "spend-110")
    assert spent["entry"]["balanceAfter"] == 180
    assert expiring() == [(80, now + 20 * day)]

    with session_of(app) as session:
        remaining = [(lot.entry.id, lot.remaining) for lot in ledger.open_lots(session, raw_id(cid))]
        assert remaining == [(ids["in20a"], 50), (ids["in20b"], 30), (ids["in40"], 100)]
        consumed = dict(session.execute(select(LotConsumption.lot_id, LotConsumption.points)
                                        .where(LotConsumption.entry_id == raw_id(spent["entry"]["id"]))).all())
        assert consumed == {ids["in5"]: 40, ids["in10"]: 50, ids["in20a"]: 20}

    # a negative adjustment consumes the same way: the rest of the 20-day instant, then the 40-day lot
    assert adjust(api, cid, -90, "adj-90")["account"]["balance"] == 90
    assert expiring() == []
    with session_of(app) as session:
        assert [(lot.entry.id, lot.remaining) for lot in ledger.open_lots(session, raw_id(cid))] \
            == [(ids["in40"], 90)]
    assert differences(app) == []


# --- 3. expiry with a controlled clock ---------------------------------------------------------------

def test_run_expiry_expires_only_the_remainder_of_expired_lots_once(api, app):
    cid = raw_id(create_customer(api, email="expiry@example.com")["id"])
    day = timedelta(days=1)
    with session_of(app) as session:
        lot_a = services.earn_points(session, customer_id=cid, points=100, reason="a", idempotency_key="a",
                                     expires_at=T0 + 10 * day, now=T0).entry
        lot_b = services.earn_points(session, customer_id=cid, points=60, reason="b", idempotency_key="b",
                                     expires_at=T0 + 40 * day, now=T0).entry
        lot_c = services.earn_points(session, customer_id=cid, points=30, reason="c", idempotency_key="c",
                                     expires_at=T0 + 20 * day, now=T0).entry
        lot_d = services.earn_points(session, customer_id=cid, points=20, reason="d", idempotency_key="d",
                                     expires_at=T0 + 20 * day, now=T0).entry
        lot_e = services.earn_points(session, customer_id=cid, points=5, reason="e", idempotency_key="e", now=T0).entry
        assert lot_e.expires_at == T0 + 365 * day  # default expiry
        spent = services.redeem_points(session, customer_id=cid, points=40, reason="spend", idempotency_key="s1",
                                       now=T0 + day)
        assert spent.entry.balance_after == 175

        # warning window of 30 days from T0+1d: A (60 left) and C+D (summed); B (T0+40d) and E are later
        assert queries.expiring_soon(session, [cid], T0 + day, 30) == {
            cid: [(60, T0 + 10 * day), (50, T0 + 20 * day)]}
        assert queries.expiring_soon(session, [cid], T0 + 10 * day, 30) == {
            cid: [(50, T0 + 20 * day), (60, T0 + 40 * day)]}  # A is expired at its instant: not "soon"

        assert services.run_expiry(session, now=T0 + 10 * day - timedelta(seconds=1)) == 0
        assert services.run_expiry(session, now=T0 + 10 * day) == 1  # expires_at <= now

    with session_of(app) as session:
        expired = session.scalars(select(LedgerEntry).where(LedgerEntry.customer_id == cid,
                                                            LedgerEntry.kind == EntryKind.EXPIRE)).all()
        assert [(e.points, e.balance_after, e.idempotency_key, e.actor, e.reason, e.occurred_at)
                for e in expired] == [(-60, 115, f"expire:{lot_a.id}", "system",
                                       "expired: points credited 2031-03-01", T0 + 10 * day)]
        assert session.scalars(select(LotConsumption).where(LotConsumption.entry_id == expired[0].id)).one().lot_id \
            == lot_a.id
        account = session.get(LoyaltyAccount, cid)
        assert (account.balance, account.lifetime_earned) == (175 - 60, 215)
        assert [(lot.entry.id, lot.remaining) for lot in ledger.open_lots(session, cid)] == [
            (lot_c.id, 30), (lot_d.id, 20), (lot_b.id, 60), (lot_e.id, 5)]

        # running it again, now or later, writes nothing more
        assert services.run_expiry(session, now=T0 + 10 * day) == 0
        assert services.run_expiry(session, now=T0 + 15 * day) == 0
        assert session.scalar(select(LoyaltyAccount.balance).where(LoyaltyAccount.customer_id == cid)) == 115
        assert queries.balance_differences(session) == []


def test_redemption_after_expiry_cannot_use_expired_points_and_expires_them_inline(api, app):
    cid = raw_id(create_customer(api, email="inline@example.com")["id"])
    day = timedelta(days=1)
    with session_of(app) as session:
        services.earn_points(session, customer_id=cid, points=100, reason="old", idempotency_key="old",
                             expires_at=T0 + 10 * day, now=T0)
        services.earn_points(session, customer_id=cid, points=50, reason="new", idempotency_key="new",
                             expires_at=T0 + 100 * day, now=T0)
    later = T0 + 11 * day  # the old lot has expired; no expiry run has happened yet

    with session_of(app) as session:
        with pytest.raises(Exception) as caught:
            services.redeem_points(session, customer_id=cid, points=51, reason="x", idempotency_key="x", now=later)
        assert (caught.value.code, caught.value.field, caught.value.message) == (
            "INSUFFICIENT_POINTS", "points", "The balance is 50 points; 51 are needed.")
    with session_of(app) as session:
        # the failed request rolled back whole: balance and entries as before
        assert session.scalar(select(LoyaltyAccount.balance).where(LoyaltyAccount.customer_id == cid)) == 150
        assert session.scalar(select(text("count(*)")).select_from(LedgerEntry)
                              .where(LedgerEntry.customer_id == cid)) == 2

        # a redemption the unexpired points cover succeeds, expiring the old lot in the same transaction
        result = services.redeem_points(session, customer_id=cid, points=50, reason="y", idempotency_key="y",
                                        now=later)
        assert (result.entry.balance_after, result.account.balance) == (0, 0)
    with session_of(app) as session:
        rows = session.execute(select(LedgerEntry.seq, LedgerEntry.kind, LedgerEntry.points, LedgerEntry.balance_after)
                               .where(LedgerEntry.customer_id == cid).order_by(LedgerEntry.seq)).all()
        assert [tuple(r) for r in rows] == [(1, EntryKind.EARN, 100, 100), (2, EntryKind.EARN, 50, 150),
                                            (3, EntryKind.EXPIRE, -100, 50), (4, EntryKind.REDEEM, -50, 0)]
        assert services.run_expiry(session, now=later) == 0  # already expired inline
        assert ledger.open_lots(session, cid) == []
        assert queries.balance_differences(session) == []


def test_expiring_soon_through_graphql_lists_only_the_warning_window(api):
    cid = create_customer(api, email="soon@example.com")["id"]
    now = now_s()
    day = timedelta(days=1)
    earn(api, cid, 10, "a", expires_at=now + 29 * day)
    earn(api, cid, 20, "b", expires_at=now + 2 * day)
    earn(api, cid, 5, "c", expires_at=now + 29 * day)
    earn(api, cid, 40, "d", expires_at=now + 31 * day)   # beyond 30 days
    earn(api, cid, 80, "e")                               # default: a year
    soon = loyalty(api, cid)["expiringSoon"]
    assert [(e["points"], when(e["expiresAt"])) for e in soon] == [(20, now + 2 * day), (15, now + 29 * day)]


# --- 4. crm loyalty verify / expire --------------------------------------------------------------------

def test_verify_passes_on_a_healthy_ledger_and_names_a_corrupted_account(api, app, runner):
    healthy = create_customer(api, email="healthy@example.com")["id"]
    corrupted = create_customer(api, email="corrupted@example.com")["id"]
    earn(api, healthy, 100, "h1")
    redeem(api, healthy, 30, "h2")
    earn(api, corrupted, 80, "c1")
    adjust(api, corrupted, -10, "c2")

    result = runner.invoke(args=["loyalty", "verify"])
    assert result.exit_code == 0, result.output
    assert result.stdout == "every loyalty account equals the sum of its entries\n"

    engine = app.extensions["crm.engine"]
    with engine.begin() as conn:
        changed = conn.execute(text("UPDATE loyalty_account SET balance = balance + 1 WHERE customer_id = :cid")
                               .bindparams(bindparam("cid", type_=Uuid())), {"cid": raw_id(corrupted)})
        assert changed.rowcount == 1

    result = runner.invoke(args=["loyalty", "verify"])
    assert result.exit_code == 1, result.output
    lines = result.stdout.splitlines()
    assert [json.loads(line) for line in lines] == [
        {"customerId": str(raw_id(corrupted)), "balance": 71, "sumOfEntries": 70, "lastBalanceAfter": 70}]
    assert result.stderr == "1 account(s) disagree with their ledger\n"
    assert "every loyalty account" not in result.output


def test_expire_command_prints_the_count(api, app, runner):
    cid = raw_id(create_customer(api, email="cli-expire@example.com")["id"])
    past = clock.now() - timedelta(days=10)
    with session_of(app) as session:
        services.earn_points(session, customer_id=cid, points=40, reason="old", idempotency_key="old",
                             expires_at=past + timedelta(days=5), now=past)
        services.earn_points(session, customer_id=cid, points=25, reason="old2", idempotency_key="old2",
                             expires_at=past + timedelta(days=6), now=past)
        services.earn_points(session, customer_id=cid, points=7, reason="fresh", idempotency_key="fresh", now=past)

    result = runner.invoke(args=["loyalty", "expire"])
    assert result.exit_code == 0, result.output
    assert result.stdout == "2 EXPIRE entries written\n"
    result = runner.invoke(args=["loyalty", "expire"])
    assert result.exit_code == 0, result.output
    assert result.stdout == "0 EXPIRE entries written\n"

    with session_of(app) as session:
        assert session.get(LoyaltyAccount, cid).balance == 7
    result = runner.invoke(args=["loyalty", "verify"])
    assert result.exit_code == 0, result.output


# --- 5. concurrency (PostgreSQL) -----------------------------------------------------------------------

@concurrency_test
def test_thirty_parallel_redemptions_of_ten_from_a_hundred_never_overspend(api, app):
    token = api.tokens["integration"]
    for run in range(3):
        cid = create_customer(api, email=f"race-{run}@example.com")["id"]
        assert earn(api, cid, 100, f"seed-{run}")["account"]["balance"] == 100

        def attempt(index):
            variables = {"input": {"customerId": cid, "points": 10, "reason": "race",
                                   "idempotencyKey": f"race-{run}-{index}"}}
            return post(app, token, REDEEM, variables)["pointsRedeem"]

        results = run_threads(30, attempt)
        succeeded = [r for r in results if r["errors"] == []]
        refused = [r for r in results if r["errors"] != []]
        assert len(succeeded) == 10, (run, [r["errors"] for r in results])
        assert len(refused) == 20
        assert {r["errors"][0]["code"] for r in refused} == {"INSUFFICIENT_POINTS"}
        assert all(len(r["errors"]) == 1 and r["errors"][0]["field"] == "points" for r in refused)
        assert sorted(r["entry"]["balanceAfter"] for r in succeeded) == [0, 10, 20, 30, 40, 50, 60, 70, 80, 90]

        account = loyalty(api, cid)
        assert (account["balance"], account["entries"]["totalCount"]) == (0, 11)
        assert differences(app) == []
        with session_of(app) as session:
            seqs = session.scalars(select(LedgerEntry.seq).where(LedgerEntry.customer_id == raw_id(cid))
                                   .order_by(LedgerEntry.seq)).all()
            assert seqs == list(range(1, 12))


@concurrency_test
def test_ten_parallel_requests_with_one_key_write_one_entry(api, app):
    cid = create_customer(api, email="samekey@example.com")["id"]  # no account yet: created under the race too
    token = api.tokens["admin"]
    variables = {"input": {"customerId": cid, "points": 75, "reason": "bonus", "idempotencyKey": "only-once"}}
    results = run_threads(10, lambda index: post(app, token, EARN, variables)["pointsEarn"])
    assert [r["errors"] for r in results] == [[]] * 10
    assert len({r["entry"]["id"] for r in results}) == 1
    account = loyalty(api, cid)
    assert (account["balance"], account["lifetimeEarned"], account["entries"]["totalCount"]) == (75, 75, 1)

    variables = {"input": {"customerId": cid, "points": 30, "reason": "spend", "idempotencyKey": "spend-once"}}
    results = run_threads(10, lambda index: post(app, token, REDEEM, variables)["pointsRedeem"])
    assert [r["errors"] for r in results] == [[]] * 10
    assert len({r["entry"]["id"] for r in results}) == 1
    account = loyalty(api, cid)
    assert (account["balance"], account["entries"]["totalCount"]) == (45, 2)
    assert differences(app) == []


# --- 6. rewards ----------------------------------------------------------------------------------------

def test_reward_create_is_for_admins_and_validates(api):
    created = api.data(REWARD_CREATE, {"input": {
        "name": " Mug ", "description": "A big mug", "cost": 300, "stock": 5, "minTier": "silver",
        "activeFrom": "2026-01-01T00:00:00+00:00", "activeUntil": "2040-01-01T00:00:00+00:00"}})["rewardCreate"]
    assert created["errors"] == []
    assert {k: v for k, v in created["reward"].items() if k not in ("id", "activeFrom", "activeUntil")} == {
        "name": "Mug", "description": "A big mug", "cost": 300, "stock": 5, "minTier": "silver"}
    assert when(created["reward"]["activeFrom"]) == datetime(2026, 1, 1, tzinfo=UTC)
    assert when(created["reward"]["activeUntil"]) == datetime(2040, 1, 1, tzinfo=UTC)

    for role, name in (("marketer", "MARKETER"), ("account_manager", "ACCOUNT_MANAGER"),
                       ("support_agent", "SUPPORT_AGENT"), ("integration", "INTEGRATION")):
        payload = api.data(REWARD_CREATE, {"input": {"name": "Nope", "cost": 10}}, as_=role)["rewardCreate"]
        failed(payload, "FORBIDDEN", None, f"The {name} role may not use RewardCreate.")

    def create(**fields):
        return api.data(REWARD_CREATE, {"input": {"name": "X", "cost": 10, **fields}})["rewardCreate"]

    failed(create(name="  "), "REQUIRED", "name", "A reward needs a name.")
    failed(create(cost=0), "INVALID", "cost", "Cost is a positive number of points.")
    failed(create(stock=-1), "INVALID", "stock", "Stock cannot be negative.")
    failed(create(activeFrom="2030-01-01T00:00:00Z", activeUntil="2030-01-01T00:00:00Z"), "INVALID", "activeUntil")
    failed(create(minTier="diamond"), "NOT_FOUND", "minTier", "No loyalty tier has the key diamond.")
    failed(create(name="n" * 201), "INVALID", "name", "A reward's name is at most 200 characters.")
    failed(create(description="d" * 1001), "INVALID", "description",
           "A reward's description is at most 1000 characters.")
    assert api.data(REWARDS, {"availableOnly": False})["rewards"]["totalCount"] == 1


def test_rewards_lists_what_can_be_redeemed_cheapest_first(api):
    now = now_s()
    reward(api, name="Mug", cost=300, stock=5)
    reward(api, name="Tote", cost=100)
    reward(api, name="Sold out", cost=50, stock=0)
    reward(api, name="Not yet", cost=200, activeFrom=iso(now + timedelta(days=10)))
    reward(api, name="Over", cost=150, activeFrom=iso(now - timedelta(days=10)), activeUntil=iso(now - timedelta(days=1)))
    reward(api, name="Lounge", cost=500, minTier="gold")

    available = api.data(REWARDS, {}, as_="marketer")["rewards"]
    assert [e["node"]["name"] for e in available["edges"]] == ["Tote", "Mug", "Lounge"]
    assert available["totalCount"] == 3
    assert api.data(REWARDS, {"availableOnly": True})["rewards"] == available
    everything = api.data(REWARDS, {"availableOnly": False})["rewards"]
    assert [(e["node"]["name"], e["node"]["cost"], e["node"]["stock"]) for e in everything["edges"]] == [
        ("Sold out", 50, 0), ("Tote", 100, None), ("Over", 150, None), ("Not yet", 200, None), ("Mug", 300, 5),
        ("Lounge", 500, None)]
    assert everything["totalCount"] == 6


def test_reward_redeem_spends_the_cost_and_takes_stock_once_per_key(api, app):
    cid = create_customer(api, email="mug@example.com")["id"]
    earn(api, cid, 900, "seed")
    mug = reward(api, name="Mug", cost=300, stock=1)
    tote = reward(api, name="Tote", cost=100)

    first = redeem_reward(api, cid, mug["id"], "r1")
    assert first["errors"] == []
    assert (first["redemption"]["points"], first["redemption"]["reward"], first["account"]) == (
        300, {"name": "Mug", "stock": 0}, {"balance": 600})

    again = redeem_reward(api, cid, mug["id"], "r1")  # replay: same redemption although the stock is now 0
    assert again == first

    failed(redeem_reward(api, cid, mug["id"], "r2"), "OUT_OF_STOCK", "rewardId", "This reward is out of stock.")
    failed(redeem_reward(api, cid, tote["id"], "r1"), "IDEMPOTENCY_MISMATCH", "idempotencyKey")
    failed(redeem_reward(api, cid, global_id("Reward", uuid.uuid4()), "r3"), "NOT_FOUND", "rewardId",
           "No reward has this id.")
    failed(redeem_reward(api, cid, mug["id"], " "), "REQUIRED", "idempotencyKey", "Give an idempotencyKey.")
    # the entry is keyed "reward:<key>" in a 200-character column: at most 193 characters
    failed(redeem_reward(api, cid, tote["id"], "k" * 194), "INVALID", "idempotencyKey",
           "idempotencyKey is at most 193 characters.")

    unlimited = redeem_reward(api, cid, tote["id"], "r4")
    assert (unlimited["redemption"]["reward"], unlimited["account"]) == ({"name": "Tote", "stock": None},
                                                                       {"balance": 500})

    longest = redeem_reward(api, cid, tote["id"], "k" * 193)
    assert longest["errors"] == [] and longest["account"] == {"balance": 400}

    listed = api.data(REDEMPTIONS, {"id": cid})["customer"]["loyalty"]
    assert listed["balance"] == 400
    assert listed["redemptions"]["totalCount"] == 3
    assert sorted((e["node"]["reward"]["name"], e["node"]["points"]) for e in listed["redemptions"]["edges"]) == [
        ("Mug", 300), ("Tote", 100), ("Tote", 100)]
    stock = {e["node"]["name"]: e["node"]["stock"]
             for e in api.data(REWARDS, {"availableOnly": False})["rewards"]["edges"]}
    assert stock == {"Mug": 0, "Tote": None}

    with session_of(app) as session:
        rows = session.execute(select(LedgerEntry.kind, LedgerEntry.points, LedgerEntry.reason,
                                      LedgerEntry.idempotency_key).where(LedgerEntry.customer_id == raw_id(cid))
                               .order_by(LedgerEntry.seq)).all()
        assert [tuple(r) for r in rows] == [(EntryKind.EARN, 900, "product review", "seed"),
                                            (EntryKind.REDEEM, -300, "reward: Mug", "reward:r1"),
                                            (EntryKind.REDEEM, -100, "reward: Tote", "reward:r4"),
                                            (EntryKind.REDEEM, -100, "reward: Tote", "reward:" + "k" * 193)]
    assert differences(app) == []


def test_reward_redeem_without_enough_points_changes_nothing(api, app):
    cid = create_customer(api, email="poor@example.com")["id"]
    earn(api, cid, 299, "seed")
    mug = reward(api, name="Mug", cost=300, stock=2)
    failed(redeem_reward(api, cid, mug["id"], "r1"), "INSUFFICIENT_POINTS", "points",
           "The balance is 299 points; 300 are needed.")
    assert api.data(REWARDS, {})["rewards"]["edges"][0]["node"]["stock"] == 2
    listed = api.data(REDEMPTIONS, {"id": cid})["customer"]["loyalty"]
    assert (listed["balance"], listed["redemptions"]["totalCount"]) == (299, 0)


def test_reward_for_a_higher_tier_is_refused_until_the_tier_is_reached(api):
    cid = create_customer(api, email="tier@example.com")["id"]
    earn(api, cid, 900, "seed")
    lounge = reward(api, name="Lounge", cost=500, minTier="gold")
    failed(redeem_reward(api, cid, lounge["id"], "r1"), "TIER_TOO_LOW", "rewardId",
           "This reward needs the Gold tier or higher.")
    assert loyalty(api, cid)["balance"] == 900

    earn(api, cid, 4100, "more")  # 5000 qualifying points: gold
    assert loyalty(api, cid)["tier"]["key"] == "gold"
    done = redeem_reward(api, cid, lounge["id"], "r1")
    assert done["errors"] == [] and done["account"] == {"balance": 4500}


def test_reward_outside_its_active_window_is_inactive(api, app):
    cid = create_customer(api, email="window@example.com")["id"]
    earn(api, cid, 1000 - 1, "seed")
    now = now_s()
    future = reward(api, name="Future", cost=10, activeFrom=iso(now + timedelta(days=10)))
    past = reward(api, name="Past", cost=10, activeFrom=iso(now - timedelta(days=10)),
                  activeUntil=iso(now - timedelta(days=1)))
    for item in (future, past):
        failed(redeem_reward(api, cid, item["id"], f"k-{item['name']}"), "REWARD_INACTIVE", "rewardId",
               "This reward is not available now.")
    assert loyalty(api, cid)["balance"] == 999

    # the window is [activeFrom, activeUntil): checked with a controlled clock
    start, end = now - timedelta(days=1), now + timedelta(days=7)  # the points earned stay valid throughout
    with session_of(app) as session:
        windowed = Reward(id=uuid.uuid4(), name="Windowed", cost=10, stock=None, active_from=start, active_until=end)
        session.add(windowed)
        session.commit()
        windowed_id = windowed.id
    from crm.errors import DomainError
    from loyalty import rewards
    for index, moment in enumerate((start - timedelta(seconds=1), end)):
        with session_of(app) as session:
            with pytest.raises(DomainError) as caught:
                rewards.redeem_reward(session, customer_id=raw_id(cid), reward_id=windowed_id,
                                      idempotency_key=f"no-{index}", now=moment)
            assert caught.value.code == "REWARD_INACTIVE"
    for index, moment in enumerate((start, end - timedelta(seconds=1))):
        with session_of(app) as session:
            result = rewards.redeem_reward(session, customer_id=raw_id(cid), reward_id=windowed_id,
                                           idempotency_key=f"ok-{index}", now=moment)
            assert result.created and result.redemption.redeemed_at == moment
    assert loyalty(api, cid)["balance"] == 979


@concurrency_test
def test_parallel_redemptions_of_a_reward_never_oversell_its_stock(api, app):
    customers = []
    for index in range(5):
        cid = create_customer(api, email=f"buyer-{index}@example.com")["id"]
        earn(api, cid, 500, f"seed-{index}")
        customers.append(cid)
    item = reward(api, name="Limited", cost=200, stock=3)
    token = api.tokens["integration"]

    def attempt(index):
        return post(app, token, REWARD_REDEEM, {"customerId": customers[index], "rewardId": item["id"],
                                                 "key": f"buy-{index}"})["rewardRedeem"]

    results = run_threads(5, attempt)
    succeeded = [i for i, r in enumerate(results) if r["errors"] == []]
    refused = [r["errors"] for r in results if r["errors"] != []]
    assert len(succeeded) == 3, results
    assert refused == [[{"field": "rewardId", "code": "OUT_OF_STOCK", "message": "This reward is out of stock."}]] * 2
    stock = api.data(REWARDS, {"availableOnly": False})["rewards"]["edges"][0]["node"]["stock"]
    assert stock == 0
    balances = [loyalty(api, cid)["balance"] for cid in customers]
    assert sorted(balances) == [300, 300, 300, 500, 500]
    assert [i for i, b in enumerate(balances) if b == 300] == succeeded
    with session_of(app) as session:
        from loyalty.models import RewardRedemption
        assert session.scalar(select(text("count(*)")).select_from(RewardRedemption)) == 3
    assert differences(app) == []


# --- 7. permissions ----------------------------------------------------------------------------------

VIEWER_LOYALTY = """{ viewer { customer { id loyalty { balance entries { totalCount } } } } }"""
CUSTOMER_LOYALTY = """query($id: ID!) { customer(id: $id) { id loyalty { balance entries { totalCount } } } }"""


def test_portal_reads_its_own_loyalty_and_redeems_rewards_for_itself_only(api, portal_token):
    mine = create_customer(api, email="me@example.com")["id"]
    other = create_customer(api, email="other@example.com")["id"]
    earn(api, mine, 300, "m1")
    redeem(api, mine, 50, "m2")
    earn(api, other, 400, "o1")
    api.tokens["p"] = portal_token(raw_id(mine))

    viewer = api.data(VIEWER_LOYALTY, as_="p")["viewer"]["customer"]
    assert viewer == {"id": mine, "loyalty": {"balance": 250, "entries": {"totalCount": 2}}}
    assert api.data(CUSTOMER_LOYALTY, {"id": mine}, as_="p")["customer"] == viewer
    assert api.data(CUSTOMER_LOYALTY, {"id": other}, as_="p")["customer"] is None

    gift = reward(api, name="Gift", cost=100, stock=10)
    done = redeem_reward(api, mine, gift["id"], "portal-1", as_="p")
    assert done["errors"] == [] and done["account"] == {"balance": 150}
    assert done["redemption"]["reward"] == {"name": "Gift", "stock": 9}

    failed(redeem_reward(api, other, gift["id"], "portal-2", as_="p"), "NOT_FOUND", "customerId",
           "No customer has this id.")
    assert loyalty(api, other)["balance"] == 400
    assert api.data(REDEMPTIONS, {"id": other})["customer"]["loyalty"]["redemptions"]["totalCount"] == 0

    for document, name, points in ((EARN, "PointsEarn", 10), (REDEEM, "PointsRedeem", 10),
                                   (ADJUST, "PointsAdjust", -10)):
        for target in (mine, other):
            body = api.data(document, {"input": {"customerId": target, "points": points, "reason": "self-service",
                                                 "idempotencyKey": "p-x"}}, as_="p")
            (payload,) = body.values()
            failed(payload, "FORBIDDEN", None, f"The PORTAL role may not use {name}.")
    assert (loyalty(api, mine)["balance"], loyalty(api, other)["balance"]) == (150, 400)


@pytest.mark.parametrize("role, forbidden", [
    ("marketer", ("PointsEarn", "PointsRedeem", "PointsAdjust")),
    ("support_agent", ("PointsEarn", "PointsRedeem", "PointsAdjust")),
    ("integration", ("PointsAdjust",)),
])
def test_staff_roles_that_may_not_write_points(api, role, forbidden):
    cid = create_customer(api, email="perm@example.com")["id"]
    earn(api, cid, 100, "seed")
    documents = {"PointsEarn": (EARN, 10), "PointsRedeem": (REDEEM, 10), "PointsAdjust": (ADJUST, 10)}
    for name in forbidden:
        document, points = documents[name]
        (payload,) = api.data(document, {"input": {"customerId": cid, "points": points, "reason": "r",
                                                   "idempotencyKey": f"{role}-{name}"}}, as_=role).values()
        failed(payload, "FORBIDDEN", None, f"The {role.upper()} role may not use {name}.")
    account = loyalty(api, cid)
    assert (account["balance"], account["entries"]["totalCount"]) == (100, 1)


def test_account_managers_and_integrations_write_points(api):
    cid = create_customer(api, email="writers@example.com")["id"]
    assert earn(api, cid, 100, "am-1", as_="account_manager")["account"]["balance"] == 100
    assert redeem(api, cid, 20, "am-2", as_="account_manager")["account"]["balance"] == 80
    assert adjust(api, cid, 5, "am-3", as_="account_manager")["account"]["balance"] == 85
    assert earn(api, cid, 10, "in-1", as_="integration")["account"]["balance"] == 95
    assert redeem(api, cid, 15, "in-2", as_="integration")["account"]["balance"] == 80
    gift = reward(api, name="Gift", cost=30)
    failed(redeem_reward(api, cid, gift["id"], "mk", as_="marketer"), "FORBIDDEN", None,
           "The MARKETER role may not use RewardRedeem.")
    failed(redeem_reward(api, cid, gift["id"], "sa", as_="support_agent"), "FORBIDDEN", None,
           "The SUPPORT_AGENT role may not use RewardRedeem.")
    assert redeem_reward(api, cid, gift["id"], "am", as_="account_manager")["account"] == {"balance": 50}
