"""The preference centre (/s/preferences/<token>): the customer's consents per messaging channel, in their
language; saving records only the channels that changed (source "preference-centre", actor "customer")."""
from __future__ import annotations

import re
from datetime import timedelta

from crm.links import LinkPurpose
from tests.customers.consent_helpers import confirmations, consents, history, path_of, set_consent
from tests.helpers import create_customer, raw_id


def checked(html: str) -> dict:
    return {m.group(1): " checked" in m.group(0) for m in re.finditer(r'<input type="checkbox" [^>]*value="(\w+)"[^>]*>',
                                                                      html)}


def test_the_page_shows_each_channels_consent_in_the_customers_language(api, app, client, portal_token):
    customer = create_customer(api, email="lena@example.com", locale="de-DE", phone="+4915112345678")
    set_consent(api, customer["id"], "SMS")
    set_consent(api, customer["id"], "PUSH", granted=False)
    api.tokens["portal"] = portal_token(raw_id(customer["id"]))
    set_consent(api, customer["id"], "EMAIL", as_="portal")  # PENDING
    page = client.get(path_of(app, LinkPurpose.PREFERENCES, customer["id"]))
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and page.headers["Content-Language"] == "de"
    assert page.headers["Cache-Control"] == "no-store" and "default-src 'none'" in page.headers[
        "Content-Security-Policy"]
    assert checked(html) == {"EMAIL": True, "SMS": True, "PUSH": False}
    assert "Ihre Nachrichten-Einstellungen" in html and "(wartet auf Ihre Bestätigung)" in html
    assert html.count("wartet auf") == 1


def test_saving_records_only_the_channels_that_changed(api, app, client):
    customer = create_customer(api, email="max@example.com")
    set_consent(api, customer["id"], "EMAIL")
    set_consent(api, customer["id"], "SMS")
    path = path_of(app, LinkPurpose.PREFERENCES, customer["id"])
    saved = client.post(path, data={"consent": ["EMAIL", "PUSH", "FAX", "PHONE", "<script>"]})
    html = saved.get_data(as_text=True)
    assert saved.status_code == 200 and "Your choices are saved." in html
    assert checked(html) == {"EMAIL": True, "SMS": False, "PUSH": True}
    assert {c: (v["status"], v["source"]) for c, v in consents(api, customer["id"]).items()} == {
        "EMAIL": ("GRANTED", "admin@example.com"), "SMS": ("WITHDRAWN", "preference-centre"),
        "PUSH": ("GRANTED", "preference-centre")}
    changes = [(h["channel"], h["fromStatus"], h["toStatus"], h["source"], h["actor"])
               for h in history(api, customer["id"]) if h["source"] == "preference-centre"]
    assert sorted(changes) == [("PUSH", None, "GRANTED", "preference-centre", "customer"),
                               ("SMS", "GRANTED", "WITHDRAWN", "preference-centre", "customer")]
    assert len(history(api, customer["id"])) == 4  # the two staff grants and the two changes
    again = client.post(path, data={"consent": ["EMAIL", "PUSH"]})
    assert "Nothing changed" in again.get_data(as_text=True)
    assert len(history(api, customer["id"])) == 4


def test_ticking_email_asks_the_address_to_confirm(api, app, client):
    customer = create_customer(api, email="new@example.com")
    html = client.post(path_of(app, LinkPurpose.PREFERENCES, customer["id"]),
                       data={"consent": "EMAIL"}).get_data(as_text=True)
    assert "please confirm it from there" in html and "(waiting for your confirmation)" in html
    assert consents(api, customer["id"])["EMAIL"]["status"] == "PENDING"
    assert len(confirmations(app, customer["id"])) == 1
    [change] = history(api, customer["id"])
    assert (change["toStatus"], change["source"], change["actor"]) == ("PENDING", "preference-centre", "customer")


def test_unticking_everything_withdraws_what_was_given_and_pending(api, app, client, portal_token):
    customer = create_customer(api, email="out@example.com")
    set_consent(api, customer["id"], "SMS")
    client.post(path_of(app, LinkPurpose.PREFERENCES, customer["id"]), data={"consent": "EMAIL"})
    client.post(path_of(app, LinkPurpose.PREFERENCES, customer["id"]), data={})
    assert {c: v["status"] for c, v in consents(api, customer["id"]).items()} == {
        "EMAIL": "WITHDRAWN", "SMS": "WITHDRAWN"}


def test_a_tampered_or_expired_link_gets_the_friendly_page_and_changes_nothing(api, app, client, clock):
    at = clock.freeze("2026-03-02T10:00:00+00:00")
    customer = create_customer(api, email="safe@example.com")
    set_consent(api, customer["id"], "EMAIL")
    path = path_of(app, LinkPurpose.PREFERENCES, customer["id"])
    tampered = client.post(path[:-4] + "AAAA", data={})
    assert tampered.status_code == 404 and "This link does not work" in tampered.get_data(as_text=True)
    assert client.post(path_of(app, LinkPurpose.CONFIRM_CONSENT, customer["id"], "EMAIL").replace(
        "/s/confirm/", "/s/preferences/"), data={}).status_code == 404
    assert client.get("/s/preferences/").status_code == 404
    assert client.get("/s/preferences/" + "x" * 5000).status_code == 404
    clock.freeze(at + timedelta(days=30, seconds=1))
    expired = client.post(path, data={})
    assert expired.status_code == 410 and "This link has expired" in expired.get_data(as_text=True)
    assert consents(api, customer["id"])["EMAIL"]["status"] == "GRANTED"


def test_a_merged_away_customers_link_opens_nothing(api, app, client):
    primary = create_customer(api, email="keep@example.com")
    duplicate = create_customer(api, email="dupe@example.com")
    api.data("""mutation($p: ID!, $d: ID!) { customerMerge(primaryId: $p, duplicateId: $d) { errors { code } } }""",
             {"p": primary["id"], "d": duplicate["id"]})
    page = client.post(path_of(app, LinkPurpose.PREFERENCES, duplicate["id"]), data={"consent": "SMS"})
    assert page.status_code == 404
    assert consents(api, primary["id"]) == {}


def test_odd_form_input_is_ignored_never_an_error(api, app, client):
    customer = create_customer(api, email="odd@example.com")
    path = path_of(app, LinkPurpose.PREFERENCES, customer["id"])
    for data in ({"consent": ["SMS"] * 50}, {"consent": ""}, {"other": "x"}, {"consent": "\x00"}):
        assert client.post(path, data=data).status_code == 200
    assert client.post(path, data=b"\xff\xfe", content_type="application/x-www-form-urlencoded").status_code == 200
    assert client.put(path).status_code == 405
    assert {c: v["status"] for c, v in consents(api, customer["id"]).items()} == {"SMS": "WITHDRAWN"}


def test_ticking_email_without_an_address_waits_and_promises_no_email(api, app, client):
    customer = create_customer(api, phone="+4915112345679")
    html = client.post(path_of(app, LinkPurpose.PREFERENCES, customer["id"]),
                       data={"consent": "EMAIL"}).get_data(as_text=True)
    assert "Your choices are saved." in html and "We sent you an email" not in html
    assert consents(api, customer["id"])["EMAIL"]["status"] == "PENDING"
    assert confirmations(app, customer["id"]) == []
