"""Review fixes for issue 14, through the public API."""
from __future__ import annotations


from tests.helpers import SEND_MESSAGE, consenting_customer, messages, raw_id
from tests.platform.test_privacy import CONFIRM, rows, token_in

UPDATE_EMAIL = """mutation($id: ID!, $input: CustomerUpdateInput!) { customerUpdate(id: $id, input: $input) {
  customer { pendingEmail } errors { field code message } } }"""

ANN = {"email": "ann.lee+x@example.com", "phone": "+447911123456", "firstName": "Ann", "timezone": "UTC"}
NODE = """query($id: ID!) { node(id: $id) { ... on Message { subject body } } }"""


def send(api, customer_id, body, subject=None, as_="account_manager") -> dict:
    payload = api.data(SEND_MESSAGE, {"input": {"customerId": customer_id, "channel": "EMAIL", "purpose": "CARE",
                                                "body": body, "subject": subject}}, as_=as_)["messageSend"]
    assert payload["errors"] == []
    return payload["message"]


def test_a_masked_role_reads_a_percent_encoded_address_masked(api):
    """An unmasked author's link with the address in it (`|urlencode`, as in an unsubscribe link) reads
    masked for a MARKETER, as the same link of a marketer's own campaign renders."""
    ann = consenting_customer(api, **ANN)
    message = send(api, ann["id"], subject="{{ customer.email|urlencode }}",
                   body="https://t.example/u?e={{ customer.email|urlencode }}&o=bob%40other.example.org")
    assert (message["subject"], message["body"]) == (
        "ann.lee%2Bx%40example.com", "https://t.example/u?e=ann.lee%2Bx%40example.com&o=bob%40other.example.org")
    masked = {"subject": "a%2A%2A%2A%40example.com",
              "body": "https://t.example/u?e=a%2A%2A%2A%40example.com&o=b%2A%2A%2A%40other.example.org"}
    assert api.data(NODE, {"id": message["id"]}, as_="marketer")["node"] == masked
    [listed] = messages(api, as_="marketer", customerId=ann["id"])
    assert {"subject": listed["subject"], "body": listed["body"]} == masked
    assert api.data(NODE, {"id": message["id"]}, as_="admin")["node"] == {
        "subject": message["subject"], "body": message["body"]}


def test_masking_a_long_message_for_a_masked_role_is_exact(api):
    """A body with a long run of address characters (a token, a blob) took seconds to mask per read:
    the address pattern was tried at every position of the run and scanned it to its end (about 7 s for
    this body, now milliseconds; measured, not asserted: speed belongs in bench/)."""
    ann = consenting_customer(api, **ANN)
    message = send(api, ann["id"], body="{{ 'a' * 60000 }} {{ customer.email }}")
    assert message["body"] == "a" * 60_000 + " ann.lee+x@example.com"
    read = api.data(NODE, {"id": message["id"]}, as_="marketer")["node"]
    assert read["body"] == "a" * 60_000 + " a***@example.com"


def test_no_staff_role_reads_the_token_of_a_portals_email_confirmation_link(api, app, portal_token):
    """Only the mailbox the link went to may hold its token: staff read the message with it withheld."""
    bob = consenting_customer(api, email="bob@example.com", firstName="Bob", timezone="UTC")
    api.tokens["bob"] = portal_token(raw_id(bob["id"]))
    payload = api.data(UPDATE_EMAIL, {"id": bob["id"], "input": {"email": "bobby@example.com"}},
                       as_="bob")["customerUpdate"]
    assert payload == {"customer": {"pendingEmail": "bobby@example.com"}, "errors": []}
    [stored] = rows(app, "verify:email")
    token = token_in(stored.body)
    assert len(token) == 43
    for role in ("admin", "account_manager", "support_agent", "marketer"):
        [listed] = messages(api, as_=role, trigger="verify:email")
        assert token not in listed["body"]
        assert "confirm-email?token=[withheld]" in listed["body"]
    assert api.data(CONFIRM, {"token": token}, as_="bob")["customerConfirmEmail"] == {
        "customer": {"id": bob["id"], "email": "bobby@example.com", "pendingEmail": None}, "errors": []}
