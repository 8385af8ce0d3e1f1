"""Multi-step journeys and triggers with time controlled: wait, branch, update, exit; exit on an order and
conversions; re-entry; pause, resume and cancel; at most once under repeated triggers and concurrent rounds."""
from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select, update

from crm import clock
from crm.messages import delivery
from crm.messages.models import PENDING, Message
from journeys.campaigns import jobs
from journeys.campaigns.models import Campaign
from journeys.campaigns.services import HELD_UNTIL
from tests.journeys.campaigns.helpers import (
    campaign_messages,
    create,
    entries,
    lifecycle,
    results,
    run,
    run_jobs,
    send_step,
    start,
    step_runs,
)
from tests.helpers import SET_CONSENT, consenting_customer, raw_id, record_order, run_threads

T0 = datetime(2026, 12, 1, 10, 0, tzinfo=timezone.utc)
SMS = [{"channel": "SMS", "template": "{{ customer.firstName }}: {{ campaign.name }}"}]


@pytest.fixture(autouse=True)
def no_quiet_hours(app):
    app.config.update(MESSAGES_QUIET_START="00:00", MESSAGES_QUIET_END="00:00")


@pytest.fixture(autouse=True)
def a_day_before_t0(clock):
    """Customers and campaigns are written the day before T0; ``start``, ``run``, ``trigger`` and ``deliver_due``
    then stop the clock at their instants."""
    clock.freeze(T0 - timedelta(days=1))


def deliver_due(app, now: datetime) -> list[str]:
    """What the sender does with every due campaign message at ``now`` (the queue is tested in test_workers)."""
    clock.freeze(now)
    with app.app_context():
        from crm.sessions import get_session
        session = get_session()
        due = session.scalars(select(Message.id).where(Message.status.in_(PENDING), Message.scheduled_for <= now,
                                                       Message.trigger.startswith("campaign:"))
                              .order_by(Message.scheduled_for, Message.id)).all()
        # As the dispatcher does before it queues them.
        session.execute(update(Message).where(Message.id.in_(due)).values(status="QUEUED", enqueued_at=now))
        session.commit()
        return [delivery.deliver(session, message_id=m, now=now).value for m in due]


def stage_event(customer_id: str, stage: str, transition: str, at: datetime) -> dict:
    return {"customerId": str(raw_id(customer_id)), "toStage": stage, "transitionId": transition,
            "at": at.isoformat()}


def trigger(app, job, payload, now):
    clock.freeze(now)
    with app.app_context():
        return job(payload, now=now)


WELCOME_JOURNEY = [
    send_step("welcome"),
    {"key": "wait", "type": "WAIT", "waitSeconds": 2 * 86400},
    {"key": "ordered-again", "type": "BRANCH", "rule": {"field": "orders.count", "op": "gte", "value": 2},
     "ifTrue": "thanks"},
    send_step("nudge", [{"channel": "EMAIL", "template": "Subject: Still thinking?\nCome back, {{ customer.firstName }}"}]),
    {"key": "bonus", "type": "UPDATE", "points": 50, "pointsReason": "welcome bonus"},
    {"key": "stop", "type": "EXIT"},
    send_step("thanks", [{"channel": "EMAIL", "template": "Subject: Thank you\nThanks for coming back"}]),
]


def test_a_journey_sends_waits_branches_updates_and_exits(api, app):
    ann = consenting_customer(api, email="ann@example.com", firstName="Ann", timezone="UTC")
    bob = consenting_customer(api, email="bob@example.com", firstName="Bob", locale="de", timezone="UTC")
    campaign = create(api, name="Welcome", steps=WELCOME_JOURNEY,
                      trigger={"kind": "STAGE_ENTERED", "stage": "NEW", "delaySeconds": 3600})
    start(app, campaign["id"], T0)
    for person, n in ((ann, 1), (bob, 2)):
        assert trigger(app, jobs.on_stage_changed, stage_event(person["id"], "NEW", f"t{n}", T0), T0) == 1
    run(app, T0 + timedelta(minutes=59))
    assert campaign_messages(app, campaign["id"]) == []                  # the trigger's delay
    run(app, T0 + timedelta(hours=1))
    assert deliver_due(app, T0 + timedelta(hours=1)) == ["SENT", "SENT"]
    welcome = {m.customer_id: m for m in campaign_messages(app, campaign["id"])}
    assert (welcome[raw_id(ann["id"])].subject, welcome[raw_id(ann["id"])].body) == (
        "Hello Ann", "Hi Ann, news from Welcome.")
    assert (welcome[raw_id(bob["id"])].subject, welcome[raw_id(bob["id"])].body) == ("Hallo", "Hallo Bob.")

    clock.freeze(datetime(2026, 12, 2, 12, 0, tzinfo=timezone.utc))   # orders are recorded once they happened
    record_order(api, bob["id"], "B-1", occurred_at="2026-12-01T12:00:00+00:00")
    record_order(api, bob["id"], "B-2", occurred_at="2026-12-02T12:00:00+00:00")
    run(app, T0 + timedelta(days=2, minutes=59))
    assert len(campaign_messages(app, campaign["id"])) == 2              # still waiting
    run(app, T0 + timedelta(days=2, hours=1))
    by_step = {(r.customer_id, r.step_key): r.outcome for r in step_runs(app, campaign["id"])}
    assert by_step == {
        (raw_id(ann["id"]), "welcome"): "EMAIL", (raw_id(bob["id"]), "welcome"): "EMAIL",
        (raw_id(ann["id"]), "wait"): "until 2026-12-03T11:00:00+00:00",
        (raw_id(bob["id"]), "wait"): "until 2026-12-03T11:00:00+00:00",
        (raw_id(ann["id"]), "ordered-again"): "FALSE", (raw_id(bob["id"]), "ordered-again"): "TRUE",
        (raw_id(ann["id"]), "nudge"): "EMAIL", (raw_id(ann["id"]), "bonus"): "50 points",
        (raw_id(ann["id"]), "stop"): "exit", (raw_id(bob["id"]), "thanks"): "EMAIL"}
    assert {(e.customer_id, e.status.value, e.exit_reason, e.exit_step) for e in entries(app, campaign["id"])} == {
        (raw_id(ann["id"]), "EXITED", "EXIT_STEP", "stop"), (raw_id(bob["id"]), "COMPLETED", None, None)}
    assert deliver_due(app, T0 + timedelta(days=2, hours=1)) == ["SENT", "SENT"]

    run_jobs(app)   # the points bonus, credited by loyalty once
    run_jobs(app)
    balance = api.data("""query($id: ID!) { customer(id: $id) { loyalty { balance } } }""",
                       {"id": ann["id"]})["customer"]["loyalty"]["balance"]
    assert balance == 50

    got = results(api, campaign["id"])
    assert {k: got[k] for k in ("entered", "active", "completed", "exited", "sent", "pending", "suppressed")} == {
        "entered": 2, "active": 0, "completed": 1, "exited": 1, "sent": 4, "pending": 0, "suppressed": 0}
    assert got["exitedByReason"] == [{"reason": "EXIT_STEP", "count": 1}]
    assert [(s["key"], s["entered"], s["sent"], s["exited"]) for s in got["steps"]] == [
        ("welcome", 2, 2, 0), ("wait", 2, 0, 0), ("ordered-again", 2, 0, 0), ("nudge", 1, 1, 0),
        ("bonus", 1, 0, 0), ("stop", 1, 0, 1), ("thanks", 1, 1, 0)]


def test_wait_until_a_local_time_waits_for_each_customers_own_clock(api, app):
    tokyo = consenting_customer(api, email="t@example.com", timezone="Asia/Tokyo")
    campaign = create(api, steps=[{"key": "morning", "type": "WAIT", "waitUntilLocalTime": "09:00"}, send_step()],
                      trigger={"kind": "STAGE_ENTERED", "stage": "NEW"})
    start(app, campaign["id"], T0)
    trigger(app, jobs.on_stage_changed, stage_event(tokyo["id"], "NEW", "t1", T0), T0)   # 19:00 in Tokyo
    run(app, T0)
    [entry] = entries(app, campaign["id"])
    assert entry.next_action_at == datetime(2026, 12, 2, 0, 0, tzinfo=timezone.utc)        # 09:00 next day
    run(app, datetime(2026, 12, 2, 0, 0, tzinfo=timezone.utc))
    assert [m.scheduled_for for m in campaign_messages(app, campaign["id"])] == [
        datetime(2026, 12, 2, 0, 0, tzinfo=timezone.utc)]


def test_an_order_takes_the_customer_out_at_any_step_and_withdraws_what_was_not_sent(api, app):
    buyer = consenting_customer(api, email="buyer@example.com", timezone="UTC")
    campaign = create(api, exitOnOrder=True, trigger={"kind": "STAGE_ENTERED", "stage": "AT_RISK"},
                      steps=[send_step("first"), {"key": "wait", "type": "WAIT", "waitSeconds": 86400},
                             send_step("second")])
    start(app, campaign["id"], T0)
    trigger(app, jobs.on_stage_changed, stage_event(buyer["id"], "AT_RISK", "t1", T0), T0)
    run(app, T0)
    [first] = campaign_messages(app, campaign["id"])
    assert first.status.value == "SCHEDULED"
    clock.freeze(T0 + timedelta(hours=2))   # orders are recorded once they happened
    record_order(api, buyer["id"], "O-1", occurred_at=(T0 + timedelta(hours=2)).isoformat())
    run_jobs(app)
    [entry] = entries(app, campaign["id"])
    assert (entry.status.value, entry.exit_reason, entry.exit_step) == ("EXITED", "ORDER_PLACED", "second")
    assert [(m.status.value, m.last_error) for m in campaign_messages(app, campaign["id"])] == [
        ("CANCELLED", "left the campaign: ORDER_PLACED")]
    run(app, T0 + timedelta(days=2))
    assert len(campaign_messages(app, campaign["id"])) == 1
    got = results(api, campaign["id"])
    assert (got["exited"], got["cancelled"], got["exitedByReason"]) == (1, 1, [{"reason": "ORDER_PLACED", "count": 1}])


def test_an_order_within_the_window_after_a_sent_message_is_a_conversion(api, app):
    buyer = consenting_customer(api, email="conv@example.com", timezone="UTC")
    late = consenting_customer(api, email="late@example.com", timezone="UTC")
    campaign = create(api, conversionWindowSeconds=3 * 86400,
                      schedule={"kind": "ONCE", "at": "2026-12-01T10:00:00+00:00"})
    start(app, campaign["id"], T0 - timedelta(days=1))
    run(app, T0)
    assert deliver_due(app, T0) == ["SENT", "SENT"]
    now = T0   # sent_at is the time of the send
    clock.freeze(now + timedelta(days=4))   # orders are recorded once they happened
    record_order(api, buyer["id"], "C-1", occurred_at=(now + timedelta(days=1)).isoformat())
    record_order(api, buyer["id"], "C-2", occurred_at=(now + timedelta(days=2)).isoformat())
    record_order(api, late["id"], "C-3", occurred_at=(now + timedelta(days=4)).isoformat())
    run_jobs(app)
    got = results(api, campaign["id"])
    assert (got["sent"], got["conversions"], got["conversionRate"], got["steps"][0]["conversions"]) == (2, 1, 0.5, 1)


def test_reentry_never_and_after_a_cooldown(api, app):
    person = consenting_customer(api, email="re@example.com", timezone="UTC")
    never = create(api, name="never", trigger={"kind": "STAGE_ENTERED", "stage": "AT_RISK"})
    cooldown = create(api, name="cooldown", reentry="COOLDOWN", cooldownSeconds=30 * 86400,
                      trigger={"kind": "STAGE_ENTERED", "stage": "AT_RISK"})
    for campaign in (never, cooldown):
        start(app, campaign["id"], T0)
    for n, day in enumerate((0, 10, 40)):
        at = T0 + timedelta(days=day)
        trigger(app, jobs.on_stage_changed, stage_event(person["id"], "AT_RISK", f"t{n}", at), at)
        run(app, at)
    assert [e.entry_key for e in entries(app, never["id"])] == ["once"]
    assert [e.entry_key for e in entries(app, cooldown["id"])] == ["stage:t0", "stage:t2"]
    assert len(campaign_messages(app, never["id"])) == 1 and len(campaign_messages(app, cooldown["id"])) == 2


def test_a_repeated_trigger_and_concurrent_rounds_send_each_step_once(api, app):
    people = [consenting_customer(api, email=f"p{i}@example.com", timezone="UTC") for i in range(12)]
    campaign = create(api, reentry="COOLDOWN", steps=[send_step("one"), send_step("two")],
                      trigger={"kind": "STAGE_ENTERED", "stage": "AT_RISK"})
    start(app, campaign["id"], T0)
    for person in people:
        event = stage_event(person["id"], "AT_RISK", f"same-{person['id']}", T0)
        run_threads(3, lambda i: trigger(app, jobs.on_stage_changed, event, T0))
    run_threads(4, lambda i: run(app, T0))
    written = campaign_messages(app, campaign["id"])
    assert len(entries(app, campaign["id"])) == 12
    assert sorted((m.customer_id, m.context["step"]) for m in written) == sorted(
        (raw_id(p["id"]), step) for p in people for step in ("one", "two"))


def test_segment_loyalty_tier_and_no_order_triggers(api, app):
    from tests.segments.test_segments_api import ADD
    from tests.segments.test_segments_api import create as create_segment
    member = consenting_customer(api, email="m@example.com", timezone="UTC")
    segment = create_segment(api, "Beta testers", kind="STATIC")
    joined = create(api, name="joined", trigger={"kind": "SEGMENT_JOINED", "segmentId": segment["id"]})
    gold = create(api, name="silver", trigger={"kind": "LOYALTY_TIER_REACHED", "loyaltyTier": "silver"})
    quiet = create(api, name="quiet", trigger={"kind": "NO_ORDER_FOR", "days": 60, "delaySeconds": 600})
    now = clock.now()   # when the customer was created
    for campaign in (joined, gold, quiet):
        start(app, campaign["id"], now)
    api.data(ADD, {"s": segment["id"], "c": [member["id"]]})
    api.data("""mutation($input: PointsEarnInput!) { pointsEarn(input: $input) { errors { code } } }""",
             {"input": {"customerId": member["id"], "points": 1200, "reason": "launch", "idempotencyKey": "k1"}})
    run_jobs(app)
    assert [e.entry_key.split(":")[0] for e in entries(app, joined["id"])] == ["once"]
    assert len(entries(app, gold["id"])) == 1
    with app.app_context():
        assert jobs.enter_dormant(now=now + timedelta(days=59)) == 0
        assert jobs.enter_dormant(now=now + timedelta(days=61)) == 1
        assert jobs.enter_dormant(now=now + timedelta(days=62)) == 0
    [entry] = entries(app, quiet["id"])
    assert entry.next_action_at == now + timedelta(days=61, seconds=600)


def test_pause_holds_unsent_messages_resume_sends_them_and_cancel_withdraws(api, app):
    people = [consenting_customer(api, email=f"q{i}@example.com", timezone="UTC") for i in range(3)]
    campaign = create(api, steps=[send_step("one"), {"key": "wait", "type": "WAIT", "waitSeconds": 3600},
                                  send_step("two")], schedule={"kind": "ONCE", "at": "2026-12-01T10:00:00+00:00"})
    start(app, campaign["id"], T0 - timedelta(days=1))
    run(app, T0)
    assert lifecycle(api, "campaignPause", campaign["id"])["campaign"]["status"] == "PAUSED"
    assert {(m.status.value, m.scheduled_for) for m in campaign_messages(app, campaign["id"])} == {
        ("SCHEDULED", HELD_UNTIL)}
    assert deliver_due(app, T0) == []
    assert run(app, T0 + timedelta(hours=2))["advanced"] == 0          # waiting entries do not move
    assert lifecycle(api, "campaignResume", campaign["id"])["errors"] == []
    assert deliver_due(app, clock.now()) == ["SENT"] * 3   # resumed at T0 + 2h: the held messages are due
    run(app, T0 + timedelta(hours=2))
    assert len(campaign_messages(app, campaign["id"])) == 6

    cancelled = lifecycle(api, "campaignCancel", campaign["id"])
    assert cancelled["campaign"]["status"] == "CANCELLED"
    assert sorted(m.status.value for m in campaign_messages(app, campaign["id"])) == ["CANCELLED"] * 3 + ["SENT"] * 3
    assert {e.status.value for e in entries(app, campaign["id"])} == {"COMPLETED"}
    assert lifecycle(api, "campaignResume", campaign["id"])["errors"] == [
        {"field": "id", "code": "INVALID_TRANSITION", "message": "Only a PAUSED campaign is resumed; this one is CANCELLED."}]
    assert len(people) == 3


def test_a_message_already_queued_when_the_campaign_pauses_is_held_by_the_sender(api, app):
    consenting_customer(api, email="h@example.com", timezone="UTC")
    campaign = create(api, schedule={"kind": "ONCE", "at": "2026-12-01T10:00:00+00:00"})
    start(app, campaign["id"], T0 - timedelta(days=1))
    run(app, T0)
    with app.extensions["crm.sessionmaker"]() as session:   # paused between the dispatcher and the sender
        session.execute(update(Campaign).values(status="PAUSED"))
        session.commit()
    assert deliver_due(app, T0) == ["SCHEDULED"]
    [held] = campaign_messages(app, campaign["id"])
    assert (held.status.value, held.scheduled_for, held.attempts) == ("SCHEDULED", HELD_UNTIL, 0)


def test_consent_and_addresses_are_applied_per_channel_in_the_order_given(api, app):
    email_only = consenting_customer(api, email="e@example.com", phone="+41790000010", timezone="UTC")
    sms_ok = consenting_customer(api, consents=("SMS",), email="s@example.com", phone="+41790000011", timezone="UTC")
    nobody = consenting_customer(api, consents=(), email="n@example.com", timezone="UTC")
    campaign = create(api, steps=[{"key": "hello", "type": "SEND", "content": SMS + [EMAIL_DEFAULT]}],
                      schedule={"kind": "ONCE", "at": "2026-12-01T10:00:00+00:00"})
    start(app, campaign["id"], T0 - timedelta(days=1))
    run(app, T0)
    by_customer = {m.customer_id: (m.channel.value, m.status.value, m.suppression_reason)
                   for m in campaign_messages(app, campaign["id"])}
    assert by_customer == {raw_id(email_only["id"]): ("EMAIL", "SCHEDULED", None),
                           raw_id(sms_ok["id"]): ("SMS", "SCHEDULED", None),
                           raw_id(nobody["id"]): ("EMAIL", "SUPPRESSED", "NO_CONSENT")}
    api.data(SET_CONSENT, {"id": email_only["id"], "ch": "EMAIL", "g": False})
    assert sorted(deliver_due(app, T0)) == ["SENT", "SUPPRESSED"]
    got = results(api, campaign["id"])
    assert (got["sent"], got["suppressedByReason"]) == (1, [{"reason": "NO_CONSENT", "count": 2}])


EMAIL_DEFAULT = {"channel": "EMAIL", "template": "Subject: Hi\nHello"}


def test_a_template_that_fails_at_send_fails_that_message_only(api, app):
    consenting_customer(api, email="x@example.com", timezone="UTC")
    campaign = create(api, steps=[send_step("bad", [{"channel": "EMAIL", "template": "{{ customer.firstName.upper() }}"}])],
                      schedule={"kind": "ONCE", "at": "2026-12-01T10:00:00+00:00"})
    start(app, campaign["id"], T0 - timedelta(days=1))
    run(app, T0)
    assert deliver_due(app, T0) == ["FAILED"]
    [failed] = campaign_messages(app, campaign["id"])
    assert failed.last_error.startswith("Template error: ")
    assert uuid.UUID(failed.context["entryId"])
