"""Evidence and audit: every consent change in the customer's consentHistory (newest first, pages, a channel
filter), seen as the consents are (a PORTAL token: its own only, staff named "staff"); a merge carries the
status and evidence and moves the history."""
from __future__ import annotations

from datetime import timedelta

from crm.ids import global_id
from tests.customers.consent_helpers import HISTORY, confirm_path, confirmations, consents, history, set_consent
from tests.helpers import create_customer, raw_id


def test_the_history_is_newest_first_pages_and_filters_by_channel(api, clock):
    at = clock.freeze("2026-03-02T10:00:00+00:00")
    customer = create_customer(api, email="h@example.com")
    for minutes, (channel, granted) in enumerate([("EMAIL", True), ("SMS", True), ("EMAIL", False)]):
        clock.freeze(at + timedelta(minutes=minutes))
        set_consent(api, customer["id"], channel, granted, source="phone call")
    assert [(h["channel"], h["fromStatus"], h["toStatus"], h["source"], h["actor"], h["at"])
            for h in history(api, customer["id"])] == [
        ("EMAIL", "GRANTED", "WITHDRAWN", "phone call", "admin@example.com", "2026-03-02T10:02:00+00:00"),
        ("SMS", None, "GRANTED", "phone call", "admin@example.com", "2026-03-02T10:01:00+00:00"),
        ("EMAIL", None, "GRANTED", "phone call", "admin@example.com", "2026-03-02T10:00:00+00:00")]
    first = api.data(HISTORY, {"id": customer["id"], "first": 2})["customer"]["consentHistory"]
    assert (first["totalCount"], first["pageInfo"]["hasNextPage"], len(first["edges"])) == (3, True, 2)
    rest = api.data(HISTORY, {"id": customer["id"], "first": 2, "after": first["pageInfo"]["endCursor"]})
    assert [e["node"]["at"] for e in rest["customer"]["consentHistory"]["edges"]] == ["2026-03-02T10:00:00+00:00"]
    only_sms = api.data(HISTORY, {"id": customer["id"], "channel": "SMS"})["customer"]["consentHistory"]
    assert only_sms["totalCount"] == 1 and only_sms["edges"][0]["node"]["channel"] == "SMS"
    assert api(HISTORY, {"id": customer["id"], "first": 1000})["errors"][0]["extensions"]["code"] == "PAGE_SIZE_LIMIT"


def test_a_portal_sees_its_own_history_only_with_staff_unnamed(api, portal_token):
    own = create_customer(api, email="own@example.com")
    other = create_customer(api, email="other@example.com")
    set_consent(api, own["id"], "SMS")
    set_consent(api, other["id"], "SMS")
    api.tokens["portal"] = portal_token(raw_id(own["id"]))
    set_consent(api, own["id"], "SMS", granted=False, as_="portal")
    assert [(h["toStatus"], h["source"], h["actor"]) for h in history(api, own["id"], as_="portal")] == [
        ("WITHDRAWN", "portal", "customer"), ("GRANTED", "admin@example.com", "staff")]
    assert api.data(HISTORY, {"id": other["id"]}, as_="portal") == {"customer": None}
    # Staff whose role masks contact details still read the history (it holds no customer contact detail).
    assert len(history(api, own["id"], as_="marketer")) == 2


def test_merging_carries_status_and_evidence_and_moves_the_history(api, app, client, portal_token):
    primary = create_customer(api, email="primary@example.com")
    duplicate = create_customer(api, email="duplicate@example.com")
    set_consent(api, primary["id"], "SMS")
    api.tokens["portal"] = portal_token(raw_id(duplicate["id"]))
    set_consent(api, duplicate["id"], "EMAIL", as_="portal")
    [message] = confirmations(app, duplicate["id"])
    client.post(confirm_path(message))
    api.data("""mutation($p: ID!, $d: ID!) { customerMerge(primaryId: $p, duplicateId: $d) { errors { code } } }""",
             {"p": primary["id"], "d": duplicate["id"]})
    merged = consents(api, primary["id"])
    assert (merged["EMAIL"]["status"], merged["EMAIL"]["source"], merged["EMAIL"]["confirmationMessageId"]) == (
        "GRANTED", "double-opt-in", global_id("Message", message.id))
    assert merged["EMAIL"]["confirmedAt"] is not None and merged["SMS"]["status"] == "GRANTED"
    assert sorted((h["channel"], h["toStatus"], h["source"]) for h in history(api, primary["id"])) == [
        ("EMAIL", "GRANTED", "double-opt-in"), ("EMAIL", "PENDING", "portal"), ("SMS", "GRANTED", "admin@example.com")]


def test_a_pending_consent_of_the_duplicate_stays_pending_on_the_primary(api, app, portal_token):
    primary = create_customer(api, email="p2@example.com")
    duplicate = create_customer(api, email="d2@example.com")
    set_consent(api, duplicate["id"], "EMAIL", source="import")
    api.data("""mutation($p: ID!, $d: ID!) { customerMerge(primaryId: $p, duplicateId: $d) { errors { code } } }""",
             {"p": primary["id"], "d": duplicate["id"]})
    assert consents(api, primary["id"])["EMAIL"]["status"] == "PENDING"
    assert consents(api, primary["id"])["EMAIL"]["granted"] is False
