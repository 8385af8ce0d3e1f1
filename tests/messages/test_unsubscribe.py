"""Unsubscribe links (crm/messages/unsubscribe.py, crm/messages/pages.py): the headers and footer of CARE and
CAMPAIGN emails as a real SMTP server receives them, the SMS short link, the page (GET asks, POST withdraws at
once, one-click without cookies), refused links, and no working token shown to staff."""
from __future__ import annotations

import re
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select

from crm import clock
from crm.customers.models import ConsentChange
from crm.links import Link, LinkPurpose, make_token
from crm.messages.unsubscribe import read_short_code, short_code
from crm.queue import work_once
from tests.helpers import SET_CONSENT, SEND_MESSAGE, consenting_customer, messages, raw_id

BASE = "https://care.example.com"
ONE_CLICK = {"data": "List-Unsubscribe=One-Click", "content_type": "application/x-www-form-urlencoded"}
CONSENTS = """query($id: ID!) { customer(id: $id) { consents { channel granted source } } }"""
NOW = clock.now().replace(microsecond=0)


@pytest.fixture(autouse=True)
def links_config(app):
    # No quiet hours: the tests send at whatever time they run.
    app.config.update(PUBLIC_BASE_URL=BASE + "/", MESSAGES_QUIET_START="00:00", MESSAGES_QUIET_END="00:00")


def send(api, customer_id, as_="admin", **fields) -> dict:
    payload = {"customerId": customer_id, "channel": "EMAIL", "purpose": "CAMPAIGN", "body": "Hello", **fields}
    result = api.data(SEND_MESSAGE, {"input": payload}, as_=as_)["messageSend"]
    assert result["errors"] == [], result["errors"]
    return result["message"]


def token_for(customer_id, message_id, purpose=LinkPurpose.UNSUBSCRIBE) -> str:
    target = str(raw_id(message_id)) if purpose == LinkPurpose.UNSUBSCRIBE else None
    return make_token("test", Link(purpose, raw_id(customer_id), target))


def text_of(mail) -> str:
    return mail.get_payload(decode=True).decode().replace("\r\n", "\n").removesuffix("\n")  # set_content ends it


def consents(api, customer_id) -> list[dict]:
    return api.data(CONSENTS, {"id": customer_id})["customer"]["consents"]


def changes(app, customer_id) -> list[tuple]:
    with app.extensions["crm.sessionmaker"]() as session:
        return [(c.channel.value, c.to_status.value, c.source, c.actor, c.message_id) for c in session.scalars(
            select(ConsentChange).where(ConsentChange.customer_id == raw_id(customer_id)).order_by(ConsentChange.at))]


# ---------------------------------------------------------------- what the messages carry

def test_campaign_and_care_emails_carry_one_click_headers_and_a_footer_transactional_none(api, app, clock,
                                                                                          smtp_server):
    clock.freeze(NOW)
    ana = consenting_customer(api, email="ana@example.com", firstName="Ana")
    bea = consenting_customer(api, email="bea@example.com", locale="de-CH")
    campaign = send(api, ana["id"], subject="News", body="Hi {{ customer.firstName }}")
    care = send(api, bea["id"], purpose="CARE", subject="Pflege", body="Hallo")
    receipt = send(api, ana["id"], purpose="TRANSACTIONAL", subject="Receipt", body="Your receipt")
    work_once(app)

    mails = {mail["Subject"]: mail for _, _, mail in smtp_server.received}
    assert sorted(mails) == ["News", "Pflege", "Receipt"]
    for message, customer in ((campaign, ana), (care, bea)):
        mail = mails[message["subject"]]
        url = f"{BASE}/s/unsubscribe/{token_for(customer['id'], message['id'])}"
        assert mail["List-Unsubscribe"] == f"<{url}>"
        assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    preferences = f"{BASE}/s/preferences/{token_for(ana['id'], None, LinkPurpose.PREFERENCES)}"
    assert text_of(mails["News"]) == (
        f"Hi Ana\n\n-- \nYou receive this because you agreed to hear from us.\n"
        f"Unsubscribe: {BASE}/s/unsubscribe/{token_for(ana['id'], campaign['id'])}\n"
        f"Manage your preferences: {preferences}")
    assert text_of(mails["Pflege"]) == (
        f"Hallo\n\n-- \nSie erhalten diese Nachricht, weil Sie zugestimmt haben.\n"
        f"Abmelden: {BASE}/s/unsubscribe/{token_for(bea['id'], care['id'])}\n"
        f"Einstellungen ändern: {BASE}/s/preferences/{token_for(bea['id'], None, LinkPurpose.PREFERENCES)}")
    assert mails["Receipt"]["List-Unsubscribe"] is None and mails["Receipt"]["List-Unsubscribe-Post"] is None
    assert text_of(mails["Receipt"]).strip() == "Your receipt"


def test_a_template_may_place_the_links_itself_and_then_gets_no_footer(api, app, clock, smtp_server):
    clock.freeze(NOW)
    ana = consenting_customer(api, email="ana@example.com")
    message = send(api, ana["id"], body="Bye: {{ unsubscribeUrl }} | prefs: {{ preferencesUrl }}")
    assert message["body"] == "Bye: {{unsubscribeUrl}} | prefs: {{preferencesUrl}}"   # stored without a token
    work_once(app)
    [(_, _, mail)] = smtp_server.received
    assert text_of(mail).strip() == (
        f"Bye: {BASE}/s/unsubscribe/{token_for(ana['id'], message['id'])} | "
        f"prefs: {BASE}/s/preferences/{token_for(ana['id'], None, LinkPurpose.PREFERENCES)}")
    assert mail["List-Unsubscribe"] == f"<{BASE}/s/unsubscribe/{token_for(ana['id'], message['id'])}>"


def test_an_sms_ends_with_a_short_stop_link_within_the_sms_cap(api, app, clock, http_provider):
    clock.freeze(NOW)
    app.config.update(MESSAGES_MAX_BODY_CHARS={"SMS": 160})
    sam = consenting_customer(api, consents=("SMS",), phone="+41 79 123 45 67", locale="de")
    short = send(api, sam["id"], channel="SMS", body="Neu im Laden")
    long = send(api, sam["id"], channel="SMS", body="x" * 160, dedupeKey="long")
    work_once(app)
    sent = {r["body"]["id"]: r["body"] for r in http_provider.requests}
    code = short_code("test", raw_id(short["id"]))
    assert len(code) == 34 and read_short_code("test", code) == raw_id(short["id"])
    assert sent[str(raw_id(short["id"]))]["body"] == f"Neu im Laden\nStopp: {BASE}/s/u/{code}"
    assert sent[str(raw_id(short["id"]))]["unsubscribeUrl"] == \
        f"{BASE}/s/unsubscribe/{token_for(sam['id'], short['id'])}"
    long_body = sent[str(raw_id(long["id"]))]["body"]
    stop = f"\nStopp: {BASE}/s/u/{short_code('test', raw_id(long['id']))}"
    assert len(long_body) == 160 and long_body.endswith("x…" + stop)


def test_staff_never_read_a_working_link_token_off_a_message(api, app, tokens, portal_token):
    ana = consenting_customer(api, email="ana@example.com")
    token = token_for(ana["id"], "TWVzc2FnZTowMDAwMDAwMC0wMDAwLTQwMDAtODAwMC0wMDAwMDAwMDAwMDE=")
    message = send(api, ana["id"], body=f"Survey: {BASE}/s/survey/{token} stop: {BASE}/s/u/{'A' * 34} "
                                        f"{{{{ unsubscribeUrl }}}}")
    expected = f"Survey: {BASE}/s/survey/[withheld] stop: {BASE}/s/u/[withheld] {{{{unsubscribeUrl}}}}"
    assert message["body"] == expected
    for role in ("admin", "account_manager", "support_agent", "marketer"):
        [listed] = messages(api, as_=role, customerId=ana["id"])
        assert listed["body"] == expected and token not in listed["body"]
    tokens["portal"] = portal_token(raw_id(ana["id"]))
    [own] = messages(api, as_="portal", customerId=ana["id"])
    assert own["body"] == expected


# ---------------------------------------------------------------- the page

def test_get_asks_and_changes_nothing_post_one_click_withdraws_at_once_and_again_is_already(api, app, client,
                                                                                           smtp_server):
    ana = consenting_customer(api, email="ana@example.com", consents=("EMAIL", "SMS"))
    first = send(api, ana["id"])
    pending = send(api, ana["id"], sendAt=(clock.now() + timedelta(hours=1)).isoformat(), dedupeKey="later")
    work_once(app)
    [(_, _, mail)] = smtp_server.received
    path = urlsplit(mail["List-Unsubscribe"].strip("<>")).path

    page = client.get(path)
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "<h1>Stop emails from us?</h1>" in html
    assert f'<form method="post" action="{path}">' in html and "Yes, unsubscribe" in html
    assert f'href="{BASE}/s/preferences/' in html and "<script" not in html
    assert page.headers["Cache-Control"] == "no-store"
    assert changes(app, ana["id"])[-1][2] != "unsubscribe"
    assert {c["channel"]: c["granted"] for c in consents(api, ana["id"])} == {"EMAIL": True, "SMS": True}

    done = client.post(path, headers={"Cookie": ""}, **ONE_CLICK)
    assert done.status_code == 200 and "<h1>You are unsubscribed</h1>" in done.get_data(as_text=True)
    assert {c["channel"]: (c["granted"], c["source"]) for c in consents(api, ana["id"])} == {
        "EMAIL": (False, "unsubscribe"), "SMS": (True, "admin@example.com")}
    assert changes(app, ana["id"])[-1] == ("EMAIL", "WITHDRAWN", "unsubscribe", "customer", raw_id(first["id"]))

    again = client.post(path, **ONE_CLICK)
    assert again.status_code == 200 and "<h1>You are already unsubscribed</h1>" in again.get_data(as_text=True)
    assert "already" in client.get(path).get_data(as_text=True)
    assert len([c for c in changes(app, ana["id"]) if c[2] == "unsubscribe"]) == 1

    clock.freeze(clock.now() + timedelta(hours=2))
    from crm.messages.delivery import dispatch_due
    with app.app_context():
        from crm.sessions import get_session
        dispatch_due(get_session())
    work_once(app)
    [later] = [m for m in messages(api, customerId=ana["id"]) if m["id"] == pending["id"]]
    assert (later["status"], later["suppressionReason"]) == ("SUPPRESSED", "NO_CONSENT")
    assert len(smtp_server.received) == 1


def test_the_sms_short_link_opens_the_same_page_and_withdraws_sms(api, app, client, http_provider):
    sam = consenting_customer(api, consents=("SMS", "EMAIL"), phone="+41 79 123 45 67")
    send(api, sam["id"], channel="SMS", body="Sale")
    work_once(app)
    url = re.search(r"Stop: (\S+)$", http_provider.requests[0]["body"]["body"]).group(1)
    path = urlsplit(url).path
    assert "<h1>Stop text messages from us?</h1>" in client.get(path).get_data(as_text=True)
    assert client.post(path, data={"List-Unsubscribe": "One-Click"}).status_code == 200
    assert {c["channel"]: c["granted"] for c in consents(api, sam["id"])} == {"SMS": False, "EMAIL": True}


def test_tampered_expired_merged_and_junk_links_get_the_refused_page_and_change_nothing(api, app, client, clock,
                                                                                       smtp_server, http_provider):
    clock.freeze(NOW)
    ana = consenting_customer(api, email="ana@example.com", consents=("EMAIL", "SMS"), phone="+41 79 000 00 01")
    email = send(api, ana["id"])
    sms = send(api, ana["id"], channel="SMS", body="Sale")
    work_once(app)
    token = token_for(ana["id"], email["id"])
    code = short_code("test", raw_id(sms["id"]))
    before = changes(app, ana["id"])

    tampered = [f"/s/unsubscribe/{token[:-2]}xx", f"/s/unsubscribe/{token[:40]}",
                f"/s/unsubscribe/{make_token('test', Link(LinkPurpose.PREFERENCES, raw_id(ana['id'])))}",
                f"/s/unsubscribe/{make_token('test', Link(LinkPurpose.UNSUBSCRIBE, raw_id(ana['id']), 'nope'))}",
                f"/s/unsubscribe/{make_token('test', Link(LinkPurpose.UNSUBSCRIBE, raw_id(ana['id']), None))}",
                f"/s/u/{code[:-1]}B" if code[-1] != "B" else f"/s/u/{code[:-1]}C", f"/s/u/{code[:30]}",
                "/s/u/" + "é" * 34, "/s/u/%00%ff", "/s/unsubscribe/%00", "/s/unsubscribe/a/b/c", "/s/u/" + "=" * 34]
    for path in tampered:
        for method in (client.get, client.post):
            page = method(path, **ONE_CLICK) if method == client.post else method(path)
            assert page.status_code == 404, path
            assert "<h1>This link does not work</h1>" in page.get_data(as_text=True), path

    clock.freeze(NOW + timedelta(seconds=int(app.config["LINKS_MAX_AGE"]) + 5))
    for path in (f"/s/unsubscribe/{token}", f"/s/u/{code}"):
        page = client.post(path, **ONE_CLICK)
        assert page.status_code == 410 and "<h1>This link has expired</h1>" in page.get_data(as_text=True)
    assert changes(app, ana["id"]) == before
    assert {c["channel"]: c["granted"] for c in consents(api, ana["id"])} == {"EMAIL": True, "SMS": True}


def test_a_link_of_a_customer_merged_away_is_refused(api, app, client, clock, smtp_server):
    clock.freeze(NOW)
    primary = consenting_customer(api, email="p@example.com")
    duplicate = consenting_customer(api, email="d@example.com")
    message = send(api, duplicate["id"])
    work_once(app)
    merged = api.data("""mutation($p: ID!, $d: ID!) { customerMerge(primaryId: $p, duplicateId: $d) {
      errors { code } } }""", {"p": primary["id"], "d": duplicate["id"]})["customerMerge"]
    assert merged["errors"] == []
    page = client.post(f"/s/unsubscribe/{token_for(duplicate['id'], message['id'])}", **ONE_CLICK)
    assert page.status_code == 404 and "This link does not work" in page.get_data(as_text=True)
    assert [c["granted"] for c in consents(api, primary["id"])] == [True]


def test_staff_set_consent_again_after_unsubscribing_and_the_link_withdraws_again(api, app, client, smtp_server):
    ana = consenting_customer(api, email="ana@example.com")
    send(api, ana["id"])
    work_once(app)
    path = urlsplit(smtp_server.received[0][2]["List-Unsubscribe"].strip("<>")).path
    assert client.post(path, **ONE_CLICK).status_code == 200
    api.data(SET_CONSENT, {"id": ana["id"], "ch": "EMAIL", "g": True})
    assert "Stop emails from us?" in client.get(path).get_data(as_text=True)
    assert "You are unsubscribed" in client.post(path, **ONE_CLICK).get_data(as_text=True)
    assert [c["granted"] for c in consents(api, ana["id"])] == [False]


def test_a_notification_to_staff_carries_no_link_of_the_customer(api, app, staff, smtp_server):
    from crm.messages.models import MessagePurpose
    from crm.messages.services import create_message
    from crm.db import transaction
    from crm.enums import Channel
    ana = consenting_customer(api, email="ana@example.com")
    with app.app_context():
        from crm.sessions import get_session
        session = get_session()
        with transaction(session):
            create_message(session, customer_id=raw_id(ana["id"]), channel=Channel.EMAIL,
                           purpose=MessagePurpose.CARE, trigger="care:complaint-follow-up", subject="Call Ana",
                           body="Call her. {{unsubscribeUrl}}", dedupe_key="staff-1",
                           staff_user_id=staff["account_manager"].id)
    work_once(app)
    [(_, to, mail)] = smtp_server.received
    assert to == ["account_manager@example.com"]
    assert mail["List-Unsubscribe"] is None and text_of(mail) == "Call her. "


def test_the_log_provider_writes_the_footer_with_its_tokens_withheld(api, app, caplog):
    ana = consenting_customer(api, email="ana@example.com")
    send(api, ana["id"], subject="News", body="Hi")
    with caplog.at_level("INFO", logger="crm.messages.sent"):
        work_once(app)
    assert [r.getMessage() for r in caplog.records if r.name == "crm.messages.sent"] == [
        "SENT EMAIL to ana@example.com [manual] News | Hi  --  You receive this because you agreed to hear from us. "
        f"Unsubscribe: {BASE}/s/unsubscribe/[withheld] Manage your preferences: {BASE}/s/preferences/[withheld]"]


def test_an_email_of_a_running_campaign_carries_the_headers_and_its_template_may_place_the_link(api, app, clock,
                                                                                               smtp_server):
    from tests.journeys.campaigns.helpers import campaign_messages, create, run, start
    at = (clock.now() + timedelta(hours=1)).replace(second=0, microsecond=0)
    ana = consenting_customer(api, email="ana@example.com", firstName="Ana", timezone="UTC")
    content = [{"channel": "EMAIL", "template": "Subject: Hello {{ customer.firstName }}\n"
                                                "Hi {{ customer.firstName }}. Not for you? {{ unsubscribeUrl }}"}]
    campaign = create(api, schedule={"kind": "ONCE", "at": at.isoformat()},
                      steps=[{"key": "email", "type": "SEND", "content": content}])
    start(app, campaign["id"], at - timedelta(minutes=30))
    run(app, at)
    [message] = campaign_messages(app, campaign["id"])
    clock.freeze(at)
    work_once(app)
    [(_, _, mail)] = smtp_server.received
    url = f"{BASE}/s/unsubscribe/{make_token('test', Link(LinkPurpose.UNSUBSCRIBE, raw_id(ana['id']), str(message.id)))}"
    assert (mail["Subject"], mail["List-Unsubscribe"], mail["List-Unsubscribe-Post"]) == (
        "Hello Ana", f"<{url}>", "List-Unsubscribe=One-Click")
    assert text_of(mail) == f"Hi Ana. Not for you? {url}"
    [listed] = messages(api, as_="marketer", customerId=ana["id"])
    assert listed["body"] == "Hi Ana. Not for you? {{unsubscribeUrl}}"
