"""Double opt-in: EMAIL consent from a portal or an import waits PENDING for the address to confirm it; staff
record consent at once; PENDING sends no CAMPAIGN message; confirming grants it with the evidence."""
from __future__ import annotations

from datetime import timedelta

from crm.customers.consents import needs_double_opt_in
from crm.enums import Channel, Role
from crm.ids import global_id
from crm.links import LinkPurpose
from crm.queue import work_once
from tests.customers.consent_helpers import (
    confirm_path,
    confirmations,
    consents,
    history,
    path_of,
    set_consent,
)
from tests.helpers import create_customer, messages, raw_id

PENDING = {"channel": "EMAIL", "granted": False, "status": "PENDING", "source": "portal", "confirmedAt": None,
           "confirmationMessageId": None}


def portal_customer(api, portal_token, **fields):
    customer = create_customer(api, email="pia@example.com", firstName="Pia", **fields)
    api.tokens["portal"] = portal_token(raw_id(customer["id"]))
    return customer


def test_the_rule_depends_on_channel_source_role_and_setting():
    on, off = {"CONSENT_DOUBLE_OPT_IN": True}, {"CONSENT_DOUBLE_OPT_IN": False}
    assert needs_double_opt_in(channel=Channel.EMAIL, source="portal", role=Role.PORTAL, config=on) is True
    assert needs_double_opt_in(channel=Channel.EMAIL, source="import", role=Role.INTEGRATION, config=on) is True
    assert needs_double_opt_in(channel=Channel.EMAIL, source="import:shop", role=Role.ADMIN, config=on) is True
    assert needs_double_opt_in(channel=Channel.EMAIL, source="preference-centre", role=None, config=on) is True
    assert needs_double_opt_in(channel=Channel.EMAIL, source="in store", role=Role.ADMIN, config=on) is False
    assert needs_double_opt_in(channel=Channel.EMAIL, source=None, role=Role.ACCOUNT_MANAGER, config=on) is False
    assert needs_double_opt_in(channel=Channel.SMS, source="portal", role=Role.PORTAL, config=on) is False
    assert needs_double_opt_in(channel=Channel.EMAIL, source="portal", role=Role.PORTAL, config=off) is False


def test_a_portal_grant_is_pending_and_sends_one_confirmation(api, app, portal_token):
    customer = portal_customer(api, portal_token)
    payload = set_consent(api, customer["id"], as_="portal")
    assert payload == {"customer": {"consents": [{"channel": "EMAIL", "granted": False, "status": "PENDING"}]},
                       "errors": []}
    assert consents(api, customer["id"]) == {"EMAIL": PENDING}
    [message] = confirmations(app, customer["id"])
    assert (message.purpose.value, message.channel.value, message.status.value, message.subject) == (
        "TRANSACTIONAL", "EMAIL", "QUEUED", "Please confirm that you want our emails")
    assert "/s/confirm/" in message.body and message.body.startswith("Hi Pia,")
    assert [(h["fromStatus"], h["toStatus"], h["source"], h["actor"], h["messageId"])
            for h in history(api, customer["id"])] == [(None, "PENDING", "portal", "customer",
                                                        global_id("Message", message.id))]
    # The link acts as the mailbox: staff read it withheld, the portal does not see the message at all.
    [shown] = messages(api, trigger="verify:consent")
    assert "/s/confirm/[withheld]" in shown["body"] and confirm_path(message) not in shown["body"]
    assert messages(api, as_="portal", trigger="verify:consent") == []


def test_asking_again_while_pending_sends_nothing_within_the_window_and_once_after_it(api, app, portal_token,
                                                                                      clock):
    start = clock.freeze("2026-03-02T10:00:00+00:00")
    customer = portal_customer(api, portal_token)
    set_consent(api, customer["id"], as_="portal")
    clock.freeze(start + timedelta(minutes=59))
    assert set_consent(api, customer["id"], as_="portal")["errors"] == []
    assert len(confirmations(app, customer["id"])) == 1
    assert len(history(api, customer["id"])) == 1
    clock.freeze(start + timedelta(minutes=61))
    set_consent(api, customer["id"], as_="portal")
    assert len(confirmations(app, customer["id"])) == 2
    assert [h["toStatus"] for h in history(api, customer["id"])] == ["PENDING", "PENDING"]


def test_no_campaign_message_goes_to_a_pending_consent(api, app, portal_token):
    from crm.messages.models import MessagePurpose
    from crm.messages.services import create_message
    customer = portal_customer(api, portal_token, timezone="UTC")
    set_consent(api, customer["id"], as_="portal")
    refused = api.data("""mutation($input: MessageSendInput!) { messageSend(input: $input) {
      message { id } errors { field code } } }""", {"input": {
        "customerId": customer["id"], "channel": "EMAIL", "purpose": "CAMPAIGN", "body": "Sale!"}},
        as_="account_manager")["messageSend"]
    assert refused == {"message": None, "errors": [{"field": "input.channel", "code": "CONSENT_MISSING"}]}
    from crm.db import transaction
    with app.extensions["crm.sessionmaker"]() as session:
        with transaction(session):
            campaign = create_message(session, customer_id=raw_id(customer["id"]), channel=Channel.EMAIL,
                                      purpose=MessagePurpose.CAMPAIGN, trigger="newsletter", subject="Sale",
                                      body="Sale!", dedupe_key="newsletter:1").message.id
    work_once(app)
    confirmation = confirmations(app, customer["id"])[0]
    with app.extensions["crm.sessionmaker"]() as session:
        from crm.messages.models import Message
        sent = session.get(Message, campaign)
        assert (sent.status.value, sent.suppression_reason) == ("SUPPRESSED", "NO_CONSENT")
        assert confirmation.status.value == "SENT"  # TRANSACTIONAL: needs no consent


def test_confirming_grants_with_the_time_and_the_message_as_evidence(api, app, client, portal_token, clock):
    at = clock.freeze("2026-03-02T10:00:00+00:00")
    customer = portal_customer(api, portal_token)
    set_consent(api, customer["id"], as_="portal")
    [message] = confirmations(app, customer["id"])
    path = confirm_path(message)
    page = client.get(path)
    assert page.status_code == 200 and "Yes, send me emails" in page.get_data(as_text=True)
    assert consents(api, customer["id"])["EMAIL"]["status"] == "PENDING"  # a GET changes nothing
    clock.freeze(at + timedelta(hours=2))
    done = client.post(path)
    assert done.status_code == 200 and "Thank you, you are subscribed" in done.get_data(as_text=True)
    assert consents(api, customer["id"]) == {"EMAIL": {
        "channel": "EMAIL", "granted": True, "status": "GRANTED", "source": "double-opt-in",
        "confirmedAt": "2026-03-02T12:00:00+00:00", "confirmationMessageId": global_id("Message", message.id)}}
    assert [(h["fromStatus"], h["toStatus"], h["source"], h["actor"], h["at"]) for h in history(api, customer["id"])] \
        == [("PENDING", "GRANTED", "double-opt-in", "customer", "2026-03-02T12:00:00+00:00"),
            (None, "PENDING", "portal", "customer", "2026-03-02T10:00:00+00:00")]
    again = client.post(path)  # a second click changes nothing more
    assert "already confirmed" in again.get_data(as_text=True)
    assert len(history(api, customer["id"])) == 2


def test_a_confirmation_after_withdrawing_changes_nothing(api, app, client, portal_token):
    customer = portal_customer(api, portal_token)
    set_consent(api, customer["id"], as_="portal")
    set_consent(api, customer["id"], granted=False, as_="portal")
    path = confirm_path(confirmations(app, customer["id"])[0])
    assert "nothing to confirm" in client.post(path).get_data(as_text=True)
    assert consents(api, customer["id"])["EMAIL"]["status"] == "WITHDRAWN"


def test_a_tampered_expired_or_foreign_confirmation_link_changes_nothing(api, app, client, portal_token, clock):
    at = clock.freeze("2026-03-02T10:00:00+00:00")
    customer = portal_customer(api, portal_token)
    set_consent(api, customer["id"], as_="portal")
    path = confirm_path(confirmations(app, customer["id"])[0])
    assert client.post(path[:-3] + "xyz").status_code == 404
    assert client.post(path_of(app, LinkPurpose.PREFERENCES, customer["id"], "EMAIL").replace(
        "/s/preferences/", "/s/confirm/")).status_code == 404  # a link of another purpose
    assert client.post(path_of(app, LinkPurpose.CONFIRM_CONSENT, customer["id"], "FAX:1")).status_code == 404
    clock.freeze(at + timedelta(days=31))
    expired = client.post(path)
    assert expired.status_code == 410 and "This link has expired" in expired.get_data(as_text=True)
    assert consents(api, customer["id"])["EMAIL"]["status"] == "PENDING"


def test_staff_grants_count_at_once(api, app):
    for role in ("admin", "account_manager"):
        customer = create_customer(api, email=f"{role}@shop.example")
        assert set_consent(api, customer["id"], as_=role, source="in store")["errors"] == []
        assert consents(api, customer["id"])["EMAIL"]["status"] == "GRANTED", role
        assert confirmations(app, customer["id"]) == []


def test_an_import_grant_is_pending_whoever_sends_it(api, app):
    customer = create_customer(api, email="imported@example.com")
    set_consent(api, customer["id"], source="import")
    assert consents(api, customer["id"])["EMAIL"]["status"] == "PENDING"
    assert len(confirmations(app, customer["id"])) == 1


def test_with_the_setting_off_a_portal_grant_counts_at_once(api, app, portal_token):
    app.config["CONSENT_DOUBLE_OPT_IN"] = False
    customer = portal_customer(api, portal_token)
    set_consent(api, customer["id"], as_="portal")
    assert consents(api, customer["id"])["EMAIL"]["status"] == "GRANTED"
    assert confirmations(app, customer["id"]) == []


def test_a_granted_consent_stays_granted_when_the_portal_says_yes_again(api, app, portal_token):
    customer = portal_customer(api, portal_token)
    set_consent(api, customer["id"])
    set_consent(api, customer["id"], as_="portal")
    assert consents(api, customer["id"])["EMAIL"]["status"] == "GRANTED"
    assert confirmations(app, customer["id"]) == [] and len(history(api, customer["id"])) == 1


def test_the_confirmation_email_goes_out_over_smtp_in_the_customers_language(api, app, portal_token, smtp_server):
    customer = portal_customer(api, portal_token, locale="de-AT")
    set_consent(api, customer["id"], as_="portal")
    work_once(app)
    [(_, to, mail)] = smtp_server.received
    assert to == ["pia@example.com"]
    from email.header import decode_header, make_header
    assert str(make_header(decode_header(mail["Subject"]))) == "Bitte bestätigen Sie, dass Sie unsere E-Mails erhalten möchten"
    assert "http://127.0.0.1:5000/s/confirm/" in mail.get_payload(decode=True).decode()
