"""Messages: messageSend, the send rules, providers (real local SMTP and HTTP servers), retries, queries."""
from __future__ import annotations

import hashlib
import hmac
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select, update

from crm import clock
from crm.messages.models import Message
from crm.queue import work_once
from tests.helpers import (
    SEND_MESSAGE,
    consenting_customer,
    create_customer,
    messages,
    raw_id,
)

NOW = clock.now()


def send(api, customer_id, as_="account_manager", **fields) -> dict:
    payload = {"customerId": customer_id, "channel": "EMAIL", "purpose": "CARE", "body": "Hello", **fields}
    return api.data(SEND_MESSAGE, {"input": payload}, as_=as_)["messageSend"]


def zone_at(hours: range) -> str:
    """A real timezone whose local hour is in ``hours`` right now on the platform clock (there always is one)."""
    for zone in ("Pacific/Kiritimati", "Pacific/Auckland", "Asia/Tokyo", "Asia/Shanghai", "Asia/Kolkata",
                 "Asia/Dubai", "Europe/Moscow", "Europe/Berlin", "Europe/London", "Atlantic/Azores",
                 "America/Noronha", "America/Sao_Paulo", "America/New_York", "America/Chicago", "America/Denver",
                 "America/Los_Angeles", "America/Anchorage", "Pacific/Honolulu", "Pacific/Pago_Pago",
                 "Asia/Kathmandu", "Australia/Adelaide", "Asia/Bangkok", "Africa/Cairo", "Asia/Karachi"):
        if clock.now().astimezone(ZoneInfo(zone)).hour in hours:
            return zone
    raise AssertionError("no zone found")


DAY_ZONE = zone_at(range(10, 19))
NIGHT_ZONE = zone_at({23, 0, 1, 2, 3, 4, 5})  # well inside 21:00-08:00


def row(app, message_id) -> Message:
    with app.extensions["crm.sessionmaker"]() as session:
        return session.get(Message, raw_id(message_id))


def set_row(app, message_id, **values) -> None:
    with app.extensions["crm.sessionmaker"]() as session:
        session.execute(update(Message).where(Message.id == raw_id(message_id)).values(**values))
        session.commit()


def ours(app) -> list[Message]:
    """Every manual message (care triggers of the test's own setup left out)."""
    with app.extensions["crm.sessionmaker"]() as session:
        return session.scalars(select(Message).where(Message.trigger == "manual").order_by(Message.created_at)).all()


# ---------------------------------------------------------------- 1. sending through real providers

def test_an_email_is_queued_sent_over_smtp_once_and_a_second_job_for_it_sends_nothing(api, app, smtp_server):
    customer = consenting_customer(api, email="ana@example.com", firstName="Ana", timezone=DAY_ZONE)
    payload = send(api, customer["id"], subject="Hello {{ customer.firstName }}",
                   body="Hi {{ customer.firstName }}, your balance is {{ loyalty.balance }} points.")
    assert payload["errors"] == []
    message = payload["message"]
    assert (message["status"], message["trigger"], message["attempts"]) == ("QUEUED", "manual", 0)
    assert (message["subject"], message["body"]) == ("Hello Ana", "Hi Ana, your balance is 0 points.")
    assert message["dedupeKey"].startswith("manual:")

    work_once(app)
    sent = row(app, message["id"])
    assert (sent.status.value, sent.attempts, sent.claimed_at, sent.last_error) == ("SENT", 1, None, None)
    # The body as written, then the unsubscribe footer added on the way out (tests/messages/test_unsubscribe.py).
    assert [(to, mail["Subject"], mail.get_payload(decode=True).decode().replace("\r\n", "\n").split("\n\n-- \n")[0])
            for _, to, mail in smtp_server.received] == [
        (["ana@example.com"], "Hello Ana", "Hi Ana, your balance is 0 points.")]
    assert smtp_server.received[0][2]["X-CRM-Message-Id"] == str(raw_id(message["id"]))

    from crm.messages.jobs import send_message
    with app.app_context():
        assert send_message(str(raw_id(message["id"]))) == "SENT"
    work_once(app)
    assert len(smtp_server.received) == 1 and row(app, message["id"]).attempts == 1


def test_sms_goes_to_the_http_provider_signed_and_with_the_message_id_as_idempotency_key(api, app, http_provider):
    customer = consenting_customer(api, consents=("SMS",), phone="+41 79 123 45 67", timezone=DAY_ZONE)
    message = send(api, customer["id"], channel="SMS", body="Your repair is ready.")["message"]
    work_once(app)

    # A CARE text ends with its unsubscribe link (tests/messages/test_unsubscribe.py).
    [sent_body] = [r["body"] for r in http_provider.requests]
    assert sent_body["body"].startswith("Your repair is ready.\nStop: http://127.0.0.1:5000/s/u/")
    assert sent_body["unsubscribeUrl"].startswith("http://127.0.0.1:5000/s/unsubscribe/")
    assert {k: v for k, v in sent_body.items() if k not in ("body", "unsubscribeUrl")} == {
        "id": str(raw_id(message["id"])), "channel": "SMS", "to": "+41791234567", "subject": None,
        "trigger": "manual", "customerId": str(raw_id(customer["id"]))}
    headers = http_provider.requests[0]["headers"]
    assert headers["idempotency-key"] == str(raw_id(message["id"]))
    expected = hmac.new(b"test-secret", headers["x-crm-timestamp"].encode() + b"." + http_provider.requests[0]["raw"],
                        hashlib.sha256).hexdigest()
    assert headers["x-crm-signature"] == f"v1={expected}"
    sent = row(app, message["id"])
    assert (sent.status.value, sent.provider_ref) == ("SENT", f"prov-{raw_id(message['id'])}")


def test_without_providers_the_log_channel_marks_messages_sent_and_logs_them(api, app, caplog):
    customer = consenting_customer(api, consents=("PUSH",), externalId="app-user-7", timezone=DAY_ZONE)
    message = send(api, customer["id"], channel="PUSH", body="Your order shipped")["message"]
    with caplog.at_level("INFO", logger="crm.messages.sent"):
        work_once(app)
    assert row(app, message["id"]).status.value == "SENT"
    assert [r.getMessage() for r in caplog.records if r.name == "crm.messages.sent"] == [
        "SENT PUSH to app-user-7 [manual] Your order shipped"]


# ---------------------------------------------------------------- 2. messageSend refuses what could never be sent

def test_message_send_errors_are_structured_and_write_nothing(api, app):
    silent = create_customer(api, email="silent@example.com")
    emailable = consenting_customer(api, email="ok@example.com")
    cases = [
        (silent["id"], {}, "account_manager", ("input.channel", "CONSENT_MISSING")),
        (emailable["id"], {"channel": "SMS"}, "account_manager", ("input.channel", "INVALID")),  # no phone
        (emailable["id"], {"channel": "PHONE"}, "account_manager", ("input.channel", "INVALID")),
        (emailable["id"], {"purpose": "TRANSACTIONAL"}, "account_manager", ("input.purpose", "FORBIDDEN")),
        (emailable["id"], {"body": "  "}, "account_manager", ("input.body", "REQUIRED")),
        (emailable["id"], {"body": "Hi {{ customer.firstName "}, "account_manager", ("input.body", "INVALID")),
        (emailable["id"], {"body": "{{ customer.__class__.__mro__ }}"}, "account_manager", ("input.body", "INVALID")),
        (emailable["id"], {"sendAt": (NOW + timedelta(days=400)).isoformat()}, "account_manager",
         ("input.sendAt", "INVALID")),
        ("Q3VzdG9tZXI6MDAwMDAwMDAtMDAwMC0wMDAwLTAwMDAtMDAwMDAwMDAwMDAw", {}, "account_manager",
         ("input.customerId", "NOT_FOUND")),
        (emailable["id"], {}, "marketer", (None, "FORBIDDEN")),
        (emailable["id"], {}, "support_agent", (None, "FORBIDDEN")),
    ]
    for customer_id, fields, role, expected in cases:
        payload = send(api, customer_id, as_=role, **fields)
        assert payload["message"] is None
        assert [(e["field"], e["code"]) for e in payload["errors"]] == [expected], (fields, role)
    assert ours(app) == []

    # ADMIN may send a TRANSACTIONAL message without consent; it is not suppressed for lack of it.
    payload = send(api, silent["id"], as_="admin", purpose="TRANSACTIONAL", body="Your invoice")
    assert payload["errors"] == [] and payload["message"]["status"] == "QUEUED"
    work_once(app)
    assert row(app, payload["message"]["id"]).status.value == "SENT"


def test_the_same_dedupe_key_returns_the_first_message_and_a_different_message_is_a_mismatch(api, app):
    customer = consenting_customer(api, email="dedupe@example.com")
    first = send(api, customer["id"], body="Thanks!", dedupeKey="thanks-1")
    again = send(api, customer["id"], body="Thanks!", dedupeKey="thanks-1")
    assert first["errors"] == again["errors"] == []
    assert again["message"]["id"] == first["message"]["id"]
    assert first["message"]["dedupeKey"] == "manual:thanks-1"
    other = send(api, customer["id"], body="Thanks again!", dedupeKey="thanks-1")
    assert (other["message"], [(e["field"], e["code"]) for e in other["errors"]]) == (
        None, [("input.dedupeKey", "IDEMPOTENCY_MISMATCH")])
    assert len(ours(app)) == 1


def test_send_at_schedules_and_the_dispatcher_queues_it_once_due(api, app):
    customer = consenting_customer(api, email="later@example.com", timezone=DAY_ZONE)
    send_at = (NOW + timedelta(hours=2)).replace(microsecond=0)
    message = send(api, customer["id"], sendAt=send_at.isoformat())["message"]
    assert (message["status"], message["scheduledFor"]) == ("SCHEDULED", send_at.isoformat())
    work_once(app)
    assert row(app, message["id"]).status.value == "SCHEDULED"

    set_row(app, message["id"], scheduled_for=clock.now() - timedelta(seconds=1))  # time passes
    work_once(app)
    assert row(app, message["id"]).status.value == "SENT"


# ---------------------------------------------------------------- 3. the rules before sending, in order

def test_an_erased_address_or_a_withdrawn_consent_suppresses_at_send_time(api, app):
    from tests.helpers import SET_CONSENT
    gone = consenting_customer(api, email="gone@example.com", timezone=DAY_ZONE)
    changed_mind = consenting_customer(api, email="changed@example.com", timezone=DAY_ZONE)
    first = send(api, gone["id"], body="One")["message"]
    second = send(api, changed_mind["id"], body="Two")["message"]
    from crm.customers.models import Customer
    with app.extensions["crm.sessionmaker"]() as session:
        session.execute(update(Customer).where(Customer.id == raw_id(gone["id"])).values(email=None))
        session.commit()
    api.data(SET_CONSENT, {"id": changed_mind["id"], "ch": "EMAIL", "g": False})
    work_once(app)
    assert [(m.status.value, m.suppression_reason, m.attempts) for m in (row(app, first["id"]), row(app, second["id"]))] \
        == [("SUPPRESSED", "NO_ADDRESS", 0), ("SUPPRESSED", "NO_CONSENT", 0)]


def test_the_frequency_cap_counts_care_and_campaign_messages_of_the_window_only(api, app):
    app.config.update(MESSAGES_FREQUENCY_CAP=2)
    customer = consenting_customer(api, email="busy@example.com", timezone=DAY_ZONE)
    old = send(api, customer["id"], body="Last month")["message"]
    work_once(app)
    set_row(app, old["id"], sent_at=clock.now() - timedelta(days=8))  # outside the 7-day window
    care = [send(api, customer["id"], body=f"Care {i}")["message"] for i in range(3)]
    follow_up = send(api, customer["id"], body="Follow-up", purpose="FOLLOW_UP")["message"]
    transactional = send(api, customer["id"], as_="admin", body="Receipt", purpose="TRANSACTIONAL")["message"]
    for _ in range(2):
        work_once(app)
    statuses = [(row(app, m["id"]).status.value, row(app, m["id"]).suppression_reason)
                for m in (*care, follow_up, transactional)]
    assert statuses == [("SENT", None), ("SENT", None), ("SUPPRESSED", "FREQUENCY_CAP"), ("SENT", None),
                        ("SENT", None)]


def test_quiet_hours_in_the_customers_timezone_reschedule_to_the_end_of_the_night(api, app):
    night = consenting_customer(api, email="night@example.com", timezone=NIGHT_ZONE)
    day = consenting_customer(api, email="day@example.com", timezone=DAY_ZONE)
    at_night = send(api, night["id"], body="Good evening")["message"]
    in_the_day = send(api, day["id"], body="Good day")["message"]
    urgent = send(api, night["id"], as_="admin", purpose="TRANSACTIONAL", body="Your password was changed")["message"]
    work_once(app)

    local_now = clock.now().astimezone(ZoneInfo(NIGHT_ZONE))
    morning_day = local_now.date() + timedelta(days=1) if local_now.hour >= 21 else local_now.date()
    morning = datetime(morning_day.year, morning_day.month, morning_day.day, 8, tzinfo=ZoneInfo(NIGHT_ZONE))
    rescheduled = row(app, at_night["id"])
    assert (rescheduled.status.value, rescheduled.scheduled_for, rescheduled.attempts) == (
        "SCHEDULED", morning.astimezone(timezone.utc), 0)
    assert row(app, in_the_day["id"]).status.value == "SENT"
    assert row(app, urgent["id"]).status.value == "SENT"  # TRANSACTIONAL is not held back


@pytest.mark.parametrize("local_now, expected_utc", [
    # The night before Europe springs forward (29 March 2026, 02:00 -> 03:00): 08:00 is CEST, UTC+2.
    ("2026-03-28T22:30:00+01:00", "2026-03-29T06:00:00+00:00"),
    # After midnight on that very night, before and after the jump.
    ("2026-03-29T01:30:00+01:00", "2026-03-29T06:00:00+00:00"),
    ("2026-03-29T03:30:00+02:00", "2026-03-29T06:00:00+00:00"),
    # The night Europe falls back (25 October 2026, 03:00 -> 02:00): 08:00 is CET, UTC+1.
    ("2026-10-24T21:15:00+02:00", "2026-10-25T07:00:00+00:00"),
    ("2026-10-25T02:30:00+01:00", "2026-10-25T07:00:00+00:00"),
    # Outside quiet hours: not held.
    ("2026-03-29T08:00:00+02:00", None),
    ("2026-10-25T20:59:00+01:00", None),
])
def test_quiet_hours_end_at_local_eight_across_daylight_saving_changes(api, app, local_now, expected_utc):
    """Through the sender's own claim, with the clock set: the message is rescheduled, not dropped."""
    from crm.messages.delivery import claim_message
    from crm.messages.settings import MessageSettings
    customer = consenting_customer(api, email="berlin@example.com", timezone="Europe/Berlin")
    message = send(api, customer["id"], body="Hallo")["message"]
    now = datetime.fromisoformat(local_now).astimezone(timezone.utc)
    set_row(app, message["id"], scheduled_for=now - timedelta(minutes=1))
    with app.app_context():
        from crm.sessions import get_session
        outcome = claim_message(get_session(), message_id=raw_id(message["id"]), settings=MessageSettings(), now=now)
    stored = row(app, message["id"])
    if expected_utc is None:
        assert (stored.status.value, stored.claimed_at, stored.attempts) == ("QUEUED", now, 1)
        assert outcome.envelope.address == "berlin@example.com"
    else:
        assert (outcome.value, stored.status.value, stored.scheduled_for) == (
            "SCHEDULED", "SCHEDULED", datetime.fromisoformat(expected_utc))


# ---------------------------------------------------------------- 4. provider failures

def test_a_failing_provider_is_retried_with_backoff_until_it_recovers_and_delivers_once(api, app, http_provider):
    app.config.update(MESSAGES_RETRY_BACKOFF=[0, 0, 0, 0])
    customer = consenting_customer(api, consents=("SMS",), phone="+41791112233", timezone=DAY_ZONE)
    http_provider.fail_next = 2
    message = send(api, customer["id"], channel="SMS", body="Ready")["message"]
    work_once(app)
    first = row(app, message["id"])
    assert (first.status.value, first.attempts, first.claimed_at) == ("QUEUED", 1, None)
    assert first.last_error.startswith("HTTP provider answered 503")
    for _ in range(2):
        work_once(app)
    done = row(app, message["id"])
    assert (done.status.value, done.attempts, done.last_error) == ("SENT", 3, None)
    assert len(http_provider.requests) == 3 and list(http_provider.delivered) == [str(raw_id(message["id"]))]


def test_the_backoff_waits_between_attempts(api, app, http_provider):
    customer = consenting_customer(api, consents=("SMS",), phone="+41791112234", timezone=DAY_ZONE)
    http_provider.fail_next = 1
    message = send(api, customer["id"], channel="SMS", body="Ready")["message"]
    before = clock.now()
    work_once(app)
    work_once(app)  # not due yet: the first backoff is 30 s
    waiting = row(app, message["id"])
    assert (waiting.status.value, waiting.attempts) == ("QUEUED", 1)
    assert before + timedelta(seconds=30) <= waiting.scheduled_for <= clock.now() + timedelta(seconds=30)


def test_after_five_failed_attempts_a_message_fails_with_the_last_error_and_retry_failed_requeues_it(
        api, app, http_provider, runner):
    app.config.update(MESSAGES_RETRY_BACKOFF=[0])
    customer = consenting_customer(api, consents=("SMS",), phone="+41791112235", timezone=DAY_ZONE)
    http_provider.fail_next = 99
    message = send(api, customer["id"], channel="SMS", body="Ready")["message"]
    for _ in range(7):
        work_once(app)
    failed = row(app, message["id"])
    assert (failed.status.value, failed.attempts) == ("FAILED", 5)
    assert failed.last_error == 'HTTP provider answered 503: {"error": "provider unavailable"}'
    assert len(http_provider.requests) == 5

    http_provider.fail_next = 0
    result = runner.invoke(args=["messages", "retry-failed", "--trigger", "manual"])
    assert (result.exit_code, result.output) == (0, "1 failed messages queued again\n")
    work_once(app)
    sent = row(app, message["id"])
    assert (sent.status.value, sent.attempts) == ("SENT", 1)
    assert len(http_provider.delivered) == 1


def test_a_refusal_that_cannot_succeed_fails_at_once(api, app, http_provider):
    customer = consenting_customer(api, consents=("SMS",), phone="+41791112236", timezone=DAY_ZONE)
    http_provider.fail_next, http_provider.fail_status = 1, 400
    message = send(api, customer["id"], channel="SMS", body="Ready")["message"]
    work_once(app)
    failed = row(app, message["id"])
    assert (failed.status.value, failed.attempts) == ("FAILED", 1)
    assert failed.last_error.startswith("HTTP provider answered 400")


def test_an_unreachable_smtp_server_is_retried(api, app):
    from tests.providers import free_port
    app.config.update(MESSAGES_SMTP_HOST="127.0.0.1", MESSAGES_SMTP_PORT=free_port(), MESSAGES_PROVIDER_TIMEOUT=2)
    customer = consenting_customer(api, email="later@example.com", timezone=DAY_ZONE)
    message = send(api, customer["id"], body="Hi")["message"]
    work_once(app)
    waiting = row(app, message["id"])
    assert (waiting.status.value, waiting.attempts) == ("QUEUED", 1)
    assert waiting.last_error.startswith("SMTP unavailable: ConnectionRefusedError")


# ---------------------------------------------------------------- 5. reading messages

def test_messages_are_listed_newest_first_with_filters_and_a_portal_token_sees_only_its_own(
        api, app, portal_token, staff):
    mine = consenting_customer(api, email="mine@example.com", timezone=DAY_ZONE)
    other = consenting_customer(api, email="other@example.com", timezone=DAY_ZONE)
    first = send(api, mine["id"], body="First")["message"]
    send(api, mine["id"], body="Second", sendAt=(NOW + timedelta(days=1)).isoformat())["message"]
    send(api, other["id"], body="Someone else's")
    # A notification to staff about this customer (complaint follow-up, SLA warning) is internal.
    with app.app_context():
        from crm.sessions import get_session
        from crm.enums import Channel
        from crm.messages.models import MessagePurpose
        from crm.messages.services import create_message
        session = get_session()
        create_message(session, customer_id=raw_id(mine["id"]), channel=Channel.EMAIL,
                       purpose=MessagePurpose.FOLLOW_UP, trigger="care:complaint-follow-up", subject="Internal",
                       body="Call them", dedupe_key="staff-note", staff_user_id=staff["account_manager"].id)
        session.commit()

    everything = messages(api, trigger="manual")
    assert [m["body"] for m in everything] == ["Someone else's", "Second", "First"]
    assert [m["body"] for m in messages(api, status=["SCHEDULED"])] == ["Second"]
    assert [m["body"] for m in messages(api, customerId=mine["id"], trigger="manual")] == ["Second", "First"]
    internal = messages(api, trigger="care:complaint")
    assert [(m["body"], m["recipientStaff"]) for m in internal] == [("Call them", {"email": "account_manager@example.com"})]

    api.tokens["portal"] = portal_token(raw_id(mine["id"]))
    seen = messages(api, as_="portal", trigger="")
    assert [(m["body"], m["customer"]["id"], m["lastError"]) for m in seen] == [
        ("Second", mine["id"], None), ("First", mine["id"], None)]
    query = """query($id: ID!) { customer(id: $id) { messages { totalCount edges { node { body } } } } }"""
    own = api.data(query, {"id": mine["id"]}, as_="portal")["customer"]["messages"]
    assert (own["totalCount"], [e["node"]["body"] for e in own["edges"]]) == (2, ["Second", "First"])
    staff_view = api.data(query, {"id": mine["id"]})["customer"]["messages"]
    assert staff_view["totalCount"] == 3
    node = """query($id: ID!) { node(id: $id) { ... on Message { body } } }"""
    other_message = messages(api, customerId=other["id"], trigger="manual")[0]
    assert api.data(node, {"id": other_message["id"]}, as_="portal")["node"] is None
    assert api.data(node, {"id": first["id"]}, as_="portal")["node"] == {"body": "First"}
    body = api("{ messages { totalCount } }", as_="integration")
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"


def test_customer_messages_cost_the_same_statements_for_two_or_six_customers(api, app, count_statements):
    query = """{ customers(first: 10) { edges { node { id messages(first: 5) { totalCount
                 edges { node { body customer { id } recipientStaff { id } } } } } } } }"""

    def measure():
        with count_statements() as statements:
            api.data(query)
        return len(statements)

    for i in range(2):
        customer = consenting_customer(api, email=f"c{i}@example.com")
        send(api, customer["id"], body=f"Hi {i}")
        send(api, customer["id"], body=f"Again {i}")
    two = measure()
    for i in range(2, 6):
        customer = consenting_customer(api, email=f"c{i}@example.com")
        send(api, customer["id"], body=f"Hi {i}")
    assert measure() == two
