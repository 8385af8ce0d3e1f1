"""Privacy (issue 14, findings 1, 8 and 9 in part), through the public API.

1. A role that sees contact details masked (MARKETER) gets them masked everywhere a template can take
   them: its campaigns render with the masked values, message text it reads has every address and number
   masked, and its exit and branch rules may not select by them.
8. A PORTAL token changing its email learns nothing about other customers: the new address confirms the
   change; an address another customer has answers exactly the same, and its owner is told.
9. A rendered message has a cost cap: steps, sizes, work and time per render, body and subject caps per
   channel; refused when written where a sample render already breaks it, FAILED with the reason at send.
"""
from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from crm.messages import delivery
from crm.messages.models import PENDING, Message
from tests.journeys.campaigns.helpers import CREATE as CAMPAIGN_CREATE
from tests.journeys.campaigns.helpers import UPDATE as CAMPAIGN_UPDATE
from tests.journeys.campaigns.helpers import lifecycle, run
from crm.queue import work_once
from tests.helpers import SEND_MESSAGE, consenting_customer, create_customer, messages, raw_id, record_order

T0 = "2031-05-06T10:00:00+00:00"
MASKED_RULE_ERROR = "The MARKETER role sees contact details masked and cannot select customers by them."
STEPS_ERROR = "The template takes more than 10000 steps, loop iterations and calls (MESSAGES_RENDER_MAX_STEPS)."
RUNAWAY = "{% for i in range(1500) %}{% for j in range(1500) %}x{% endfor %}{% endfor %}"
ANN = {"email": "ann.lee@example.com", "phone": "+447911123456", "firstName": "Ann", "timezone": "UTC"}

MESSAGE_TEXT = """query($c: ID!) {
  messages(customerId: $c) { edges { node { id trigger subject body lastError status } } }
  customer(id: $c) { messages { edges { node { subject body } } } } }"""
NODE = """query($id: ID!) { node(id: $id) { ... on Message { subject body } } }"""
RENDERS_MASKED = """query($id: ID!) { campaign(id: $id) { rendersMasked } }"""
SEGMENT_CREATE = """mutation($input: SegmentCreateInput!) { segmentCreate(input: $input) {
  segment { id } errors { field code message } } }"""
CARE_RULE_UPDATE = """mutation($key: String!, $input: CareRuleUpdateInput!) { careRuleUpdate(key: $key, input: $input) {
  careRule { key } errors { field code message } } }"""
UPDATE_CUSTOMER = """mutation($id: ID!, $input: CustomerUpdateInput!) { customerUpdate(id: $id, input: $input) {
  customer { id email pendingEmail firstName } errors { field code message } } }"""
UPDATE_EMAIL = """mutation($id: ID!, $input: CustomerUpdateInput!) { customerUpdate(id: $id, input: $input) {
  customer { id email firstName } errors { field code message } } }"""
CONFIRM = """mutation($token: String!) { customerConfirmEmail(token: $token) {
  customer { id email pendingEmail } errors { field code message } } }"""
PROFILE = """query($id: ID!) { customer(id: $id) { email pendingEmail
  messages { totalCount edges { node { trigger } } } } }"""


@pytest.fixture(autouse=True)
def no_quiet_hours(app):
    app.config.update(MESSAGES_QUIET_START="00:00", MESSAGES_QUIET_END="00:00")


def deliver_due(app, now, trigger: str) -> list[str]:
    """What the sender does with each due message of ``trigger`` (a prefix) at ``now``."""
    with app.app_context():
        from crm.sessions import get_session
        session = get_session()
        due = session.scalars(select(Message.id).where(Message.status.in_(PENDING), Message.scheduled_for <= now,
                                                       Message.trigger.startswith(trigger))
                              .order_by(Message.scheduled_for, Message.id)).all()
        session.execute(update(Message).where(Message.id.in_(due)).values(status="QUEUED", enqueued_at=now))
        session.commit()
        return [delivery.deliver(session, message_id=m, now=now).value for m in due]


def rows(app, trigger: str) -> list[Message]:
    with app.extensions["crm.sessionmaker"]() as session:
        return session.scalars(select(Message).where(Message.trigger.startswith(trigger))
                               .order_by(Message.created_at, Message.id)).all()


def campaign_input(template: str, at, **fields) -> dict:
    return {"name": "Spring news", "schedule": {"kind": "ONCE", "at": at.isoformat()},
            "steps": [{"key": "email", "type": "SEND", "content": [{"channel": "EMAIL", "template": template}]}],
            **fields}


def write_campaign(api, template, at, as_="marketer", **fields) -> dict:
    payload = api.data(CAMPAIGN_CREATE, {"input": campaign_input(template, at, **fields)}, as_=as_)["campaignCreate"]
    assert payload["errors"] == []
    return payload["campaign"]


def send_manual(api, customer_id, as_="account_manager", **fields) -> dict:
    payload = {"customerId": customer_id, "channel": "EMAIL", "purpose": "CARE", "body": "Hello", **fields}
    return api.data(SEND_MESSAGE, {"input": payload}, as_=as_)["messageSend"]


# ------------------------------------------------------------------ 1. PII through templates

LEAKY = ("Subject: For {{ customer.email }}\n{{ customer.displayName }}: {{ customer.email }} {{ customer.phone }} "
         "<img src=\"https://t.example/p?e={{ customer.email|urlencode }}&p={{ customer.phone }}\">")


def test_a_marketers_campaign_renders_contact_details_masked_and_reads_them_back_masked(api, app, clock):
    now = clock.freeze(T0)
    ann = consenting_customer(api, **ANN)
    bare = consenting_customer(api, email="zoe@example.org", timezone="UTC")   # no name: displayName is the email
    campaign = write_campaign(api, LEAKY, now + timedelta(hours=1))
    assert lifecycle(api, "campaignSchedule", campaign["id"])["errors"] == []
    clock.advance(timedelta(hours=1))
    run(app, clock.now())
    assert deliver_due(app, clock.now(), "campaign:") == ["SENT", "SENT"]
    sent = {m.customer_id: (m.subject, m.body) for m in rows(app, "campaign:")}
    # What went out: the masked values, as the marketer sees them on the customer.
    assert sent == {
        raw_id(ann["id"]): ("For a***@example.com",
                            ("Ann: a***@example.com +44********56 "
                             "<img src=\"https://t.example/p?e=a%2A%2A%2A%40example.com&p=+44********56\">")),
        raw_id(bare["id"]): ("For z***@example.org",
                             ("z***@example.org: z***@example.org None "
                              "<img src=\"https://t.example/p?e=z%2A%2A%2A%40example.org&p=None\">"))}
    for role in ("marketer", "admin"):
        got = api.data(MESSAGE_TEXT, {"c": ann["id"]}, as_=role)
        [node] = [e["node"] for e in got["messages"]["edges"]]
        assert (node["subject"], node["body"]) == sent[raw_id(ann["id"])]
        assert [(e["node"]["subject"], e["node"]["body"]) for e in got["customer"]["messages"]["edges"]] == [
            sent[raw_id(ann["id"])]]
    assert api.data(RENDERS_MASKED, {"id": campaign["id"]}, as_="marketer")["campaign"] == {"rendersMasked": True}


def test_a_masked_role_reads_every_message_with_contact_details_masked(api, app, clock):
    clock.freeze(T0)
    ann = consenting_customer(api, **ANN)
    written = send_manual(api, ann["id"], subject="Your details, {{ customer.firstName }}: {{ customer.email }}",
                          body="We have {{ customer.email|upper }}, {{ customer.phone }} (0{{ customer.phone[3:] }}) "
                               "and your old ann@old.example.net on file. Questions: care@example.com.")
    assert written["errors"] == []
    message = written["message"]
    unmasked = ("Your details, Ann: ann.lee@example.com",
                ("We have ANN.LEE@EXAMPLE.COM, +447911123456 (07911123456) and your old ann@old.example.net on "
                 "file. Questions: care@example.com."))
    masked = ("Your details, Ann: a***@example.com",
              ("We have a***@example.com, +44********56 (+44********56) and your old a***@old.example.net on "
               "file. Questions: c***@example.com."))
    assert (message["subject"], message["body"]) == unmasked
    node = """query($id: ID!) { node(id: $id) { ... on Message { subject body } } }"""
    for role, expected in (("admin", unmasked), ("account_manager", unmasked), ("marketer", masked)):
        assert tuple(api.data(node, {"id": message["id"]}, as_=role)["node"].values()) == expected
        [listed] = messages(api, as_=role, customerId=ann["id"])
        assert (listed["subject"], listed["body"]) == expected
        got = api.data(MESSAGE_TEXT, {"c": ann["id"]}, as_=role)["customer"]["messages"]["edges"]
        assert [(e["node"]["subject"], e["node"]["body"]) for e in got] == [expected]


def test_a_failed_templates_error_is_masked_for_a_masked_role(api, app, clock):
    """A template error can carry a value (`{}[customer.email]`); an unmasked author's message keeps it,
    a masked reader reads it masked."""
    now = clock.freeze(T0)
    ann = consenting_customer(api, **ANN)
    campaign = write_campaign(api, "{{ {}[customer.email] }}", now + timedelta(hours=1), as_="admin")
    assert lifecycle(api, "campaignSchedule", campaign["id"], as_="admin")["errors"] == []
    clock.advance(timedelta(hours=1))
    run(app, clock.now())
    assert deliver_due(app, clock.now(), "campaign:") == ["FAILED"]
    error = "Template error: UndefinedError: 'dict object' has no attribute '{}'"
    by_role = {role: messages(api, as_=role, customerId=ann["id"])[0]["lastError"] for role in ("admin", "marketer")}
    assert by_role == {"admin": error.format("ann.lee@example.com"), "marketer": error.format("a***@example.com")}


def test_content_written_while_masked_stays_masked_after_an_unmasked_role_saves_the_steps(api, app, clock):
    now = clock.freeze(T0)
    consenting_customer(api, **ANN)
    daily = {"kind": "RECURRING", "frequency": "DAILY", "localTime": "11:00", "timezone": "UTC"}
    campaign = write_campaign(api, "{{ customer.email }}", now, schedule=daily)   # T0 is 10:00 UTC
    assert lifecycle(api, "campaignSchedule", campaign["id"])["errors"] == []
    clock.advance(timedelta(hours=1))
    run(app, clock.now())                                   # the message is written, not sent yet
    steps = [{"key": "email", "type": "SEND", "content": [{"channel": "EMAIL", "template": "Hi {{ customer.email }}"}]}]
    saved = api.data(CAMPAIGN_UPDATE, {"id": campaign["id"], "input": {"steps": steps}})["campaignUpdate"]
    assert saved["errors"] == []
    assert api.data(RENDERS_MASKED, {"id": campaign["id"]})["campaign"] == {"rendersMasked": False}
    assert deliver_due(app, clock.now(), "campaign:") == ["SENT"]
    # The marketer's content, written while the campaign rendered masked, renders masked.
    assert [m.body for m in rows(app, "campaign:")] == ["a***@example.com"]
    touched = api.data(CAMPAIGN_UPDATE, {"id": campaign["id"], "input": {"name": "Spring"}},
                       as_="marketer")["campaignUpdate"]
    assert touched["errors"] == []
    assert api.data(RENDERS_MASKED, {"id": campaign["id"]})["campaign"] == {"rendersMasked": True}


CONTACT_RULE = {"field": "email", "op": "starts_with", "value": "a"}


@pytest.mark.parametrize("fields, field", [
    ({"exitRule": CONTACT_RULE}, "input.exitRule"),
    ({"exitRule": {"not": {"any": [{"field": "locale", "op": "eq", "value": "de"}, CONTACT_RULE]}}}, "input.exitRule"),
    ({"steps": [{"key": "email", "type": "SEND", "content": [{"channel": "EMAIL", "template": "Hi"}]},
                {"key": "split", "type": "BRANCH", "rule": {"all": [CONTACT_RULE]}}]}, "input.steps.1.rule"),
])
def test_a_marketer_may_not_select_by_contact_details_in_exit_or_branch_rules(api, app, clock, fields, field):
    now = clock.freeze(T0)
    refusal = [{"field": field, "code": "FORBIDDEN", "message": MASKED_RULE_ERROR}]
    created = api.data(CAMPAIGN_CREATE, {"input": campaign_input("Hi", now + timedelta(hours=1), **fields)},
                       as_="marketer")["campaignCreate"]
    assert created == {"campaign": None, "errors": refusal}
    draft = write_campaign(api, "Hi", now + timedelta(hours=1))
    updated = api.data(CAMPAIGN_UPDATE, {"id": draft["id"], "input": fields}, as_="marketer")["campaignUpdate"]
    assert updated == {"campaign": None, "errors": refusal}
    # The same refusal, code and message as a segment rule's.
    segment = api.data(SEGMENT_CREATE, {"input": {"name": "A", "kind": "DYNAMIC", "rule": CONTACT_RULE}},
                       as_="marketer")["segmentCreate"]
    assert segment == {"segment": None, "errors": [{"field": "input.rule", "code": "FORBIDDEN",
                                                    "message": MASKED_RULE_ERROR}]}
    by_admin = api.data(CAMPAIGN_UPDATE, {"id": draft["id"], "input": fields}, as_="admin")["campaignUpdate"]
    assert by_admin["errors"] == []


def test_message_send_and_care_rule_update_are_closed_to_masked_roles(api, app):
    ann = consenting_customer(api, **ANN)
    sent = send_manual(api, ann["id"], as_="marketer", body="{{ customer.email }}")
    assert sent["message"] is None and [e["code"] for e in sent["errors"]] == ["FORBIDDEN"]
    rule = api.data(CARE_RULE_UPDATE, {"key": "welcome", "input": {"template": "{{ customer.email }}"}},
                    as_="marketer")["careRuleUpdate"]
    assert rule["careRule"] is None and [e["code"] for e in rule["errors"]] == ["FORBIDDEN"]


# ------------------------------------------------------------------ 8. a portal's email change


@pytest.fixture
def portal(api, portal_token):
    """Log a customer (its API dict) in as a portal under a name; returns the name for ``as_``."""
    def login(customer: dict, name: str) -> str:
        api.tokens[name] = portal_token(raw_id(customer["id"]))
        return name
    return login


def token_in(body: str) -> str:
    return re.search(r"confirm-email\?token=([A-Za-z0-9_-]+)", body).group(1)


def test_a_portal_learns_nothing_from_asking_for_another_customers_email(api, app, clock, portal, smtp_server):
    clock.freeze(T0)
    owner = create_customer(api, email="taken@example.com", firstName="Olga")
    ann = create_customer(api, email="ann@example.com", firstName="Ann")
    bob = create_customer(api, email="bob@example.com", firstName="Bob")
    as_ann, as_bob = portal(ann, "ann"), portal(bob, "bob")

    taken = api.data(UPDATE_EMAIL, {"id": ann["id"], "input": {"email": "TAKEN@example.com", "firstName": "Annie"}},
                     as_=as_ann)["customerUpdate"]
    free = api.data(UPDATE_EMAIL, {"id": bob["id"], "input": {"email": "bobby@example.com", "firstName": "Bobby"}},
                    as_=as_bob)["customerUpdate"]
    # The same answer: the other fields applied, the email not (yet), no error.
    assert taken == {"customer": {"id": ann["id"], "email": "ann@example.com", "firstName": "Annie"}, "errors": []}
    assert free == {"customer": {"id": bob["id"], "email": "bob@example.com", "firstName": "Bobby"}, "errors": []}
    for who, customer, pending in ((as_ann, ann, "taken@example.com"), (as_bob, bob, "bobby@example.com")):
        assert api.data(PROFILE, {"id": customer["id"]}, as_=who)["customer"] == {
            "email": customer["email"], "pendingEmail": pending, "messages": {"totalCount": 0, "edges": []}}
        assert api.data("{ messages { totalCount } }", as_=who) == {"messages": {"totalCount": 0}}

    # Bob's link goes to the new address; the owner of the taken one is told, at their own address.
    assert deliver_due(app, clock.now(), "verify:") == ["SENT", "SENT"]
    sent = {tuple(rcpt): mail["Subject"] for _sender, rcpt, mail in smtp_server.received}
    assert sent == {("taken@example.com",): "Your email address was entered for another account",
                    ("bobby@example.com",): "Confirm your new email address"}
    written = {(m.trigger, m.customer_id, m.address) for m in rows(app, "verify:")}
    assert written == {("verify:email-taken", raw_id(owner["id"]), None),
                       ("verify:email", raw_id(bob["id"]), "bobby@example.com")}
    [link] = [m.body for m in rows(app, "verify:email") if m.trigger == "verify:email"]
    [mail] = [mail for _sender, rcpt, mail in smtp_server.received if rcpt == ["bobby@example.com"]]
    assert token_in(mail.get_payload(decode=True).decode()) == token_in(link)
    [notice] = [m.body for m in rows(app, "verify:email-taken")]
    assert "Ann" not in notice and "ann@example.com" not in notice and "token" not in notice

    # A guessed token answers like a wrong one; the taken address can never be confirmed.
    wrong = {"customer": None, "errors": [{"field": "token", "code": "INVALID",
                                           "message": "This confirmation link is not valid or has expired."}]}
    assert api.data(CONFIRM, {"token": token_in(link)}, as_=as_ann)["customerConfirmEmail"] == wrong
    assert api.data(CONFIRM, {"token": "guess"}, as_=as_bob)["customerConfirmEmail"] == wrong
    confirmed = api.data(CONFIRM, {"token": token_in(link)}, as_=as_bob)["customerConfirmEmail"]
    assert confirmed == {"customer": {"id": bob["id"], "email": "bobby@example.com", "pendingEmail": None},
                         "errors": []}
    assert api.data(CONFIRM, {"token": token_in(link)}, as_=as_bob)["customerConfirmEmail"] == wrong   # once
    assert api.data(PROFILE, {"id": ann["id"]}, as_="admin")["customer"]["email"] == "ann@example.com"


def test_staff_keep_the_duplicate_error_and_change_emails_directly(api):
    create_customer(api, email="taken@example.com")
    ann = create_customer(api, email="ann@example.com")
    payload = api.data(UPDATE_CUSTOMER, {"id": ann["id"], "input": {"email": "taken@example.com"}})["customerUpdate"]
    assert payload == {"customer": None, "errors": [{"field": "email", "code": "DUPLICATE",
                                                     "message": "Another customer already has this email."}]}
    moved = api.data(UPDATE_CUSTOMER, {"id": ann["id"], "input": {"email": "new@example.com"}},
                     as_="account_manager")["customerUpdate"]
    assert moved == {"customer": {"id": ann["id"], "email": "new@example.com", "pendingEmail": None,
                                  "firstName": None}, "errors": []}


def test_a_pending_email_expires_can_be_withdrawn_and_is_limited_per_day(api, app, clock, portal):
    clock.freeze(T0)
    ann = create_customer(api, email="ann@example.com")
    as_ann = portal(ann, "ann")

    def ask(email):
        return api.data(UPDATE_CUSTOMER, {"id": ann["id"], "input": {"email": email}}, as_=as_ann)["customerUpdate"]

    assert ask("one@example.com")["customer"]["pendingEmail"] == "one@example.com"
    [first] = rows(app, "verify:email")
    clock.advance(timedelta(days=1, seconds=1))              # CUSTOMERS_EMAIL_CHANGE_TTL
    assert api.data(PROFILE, {"id": ann["id"]}, as_=as_ann)["customer"]["pendingEmail"] is None
    expired = api.data(CONFIRM, {"token": token_in(first.body)}, as_=as_ann)["customerConfirmEmail"]
    assert [e["code"] for e in expired["errors"]] == ["INVALID"]
    assert ask("two@example.com")["customer"]["pendingEmail"] == "two@example.com"
    assert ask("ann@example.com")["customer"]["pendingEmail"] is None      # the current one: withdrawn
    for n in range(4):
        assert ask(f"more{n}@example.com")["errors"] == []
    assert ask("six@example.com") == {"customer": None, "errors": [{
        "field": "email", "code": "INVALID",
        "message": "At most 5 email changes a day (CUSTOMERS_EMAIL_CHANGES_PER_DAY); try again tomorrow."}]}
    assert len(rows(app, "verify:email")) == 6    # one, two, more0..3: the withdrawal sent nothing


# ------------------------------------------------------------------ 9. the cost cap of a rendered message


def test_a_runaway_template_is_refused_where_it_is_written(api, app, clock):
    now = clock.freeze(T0)
    ann = consenting_customer(api, **ANN)
    created = api.data(CAMPAIGN_CREATE, {"input": campaign_input(RUNAWAY, now + timedelta(hours=1))},
                       as_="marketer")["campaignCreate"]
    assert created == {"campaign": None, "errors": [
        {"field": "input.steps.0.content.0.template", "code": "INVALID", "message": STEPS_ERROR}]}
    sent = send_manual(api, ann["id"], body=RUNAWAY)
    assert sent == {"message": None, "errors": [{"field": "input.body", "code": "INVALID", "message": STEPS_ERROR}]}
    rule = api.data(CARE_RULE_UPDATE, {"key": "welcome", "input": {"template": RUNAWAY}})["careRuleUpdate"]
    assert rule == {"careRule": None,
                    "errors": [{"field": "input.template", "code": "INVALID", "message": STEPS_ERROR}]}
    doubling = ("{% set ns = namespace(s='x') %}{% for i in range(40) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}"
                "{{ ns.s|length }}")
    too_long = "The message is longer than {} characters, the limit for {} (MESSAGES_MAX_BODY_CHARS)."
    sms = {"key": "sms", "type": "SEND", "content": [{"channel": "SMS", "template": "{{ 'x' * 1601 }}"}]}
    for steps, message in (
            ([{"key": "email", "type": "SEND", "content": [{"channel": "EMAIL", "template": doubling}]}],
             too_long.format(100000, "EMAIL")),
            ([sms], too_long.format(1600, "SMS")),
            ([{"key": "email", "type": "SEND", "content": [{"channel": "EMAIL", "template": "{{ 9 ** 9999 }}"}]}],
             "The template computes a number too large to write.")):
        got = api.data(CAMPAIGN_CREATE, {"input": {**campaign_input("Hi", now), "schedule": None, "steps": steps}},
                       as_="marketer")["campaignCreate"]
        assert got == {"campaign": None, "errors": [
            {"field": "input.steps.0.content.0.template", "code": "INVALID", "message": message}]}
    with app.extensions["crm.sessionmaker"]() as session:
        assert session.scalars(select(Message)).all() == []


def test_a_template_over_the_cap_for_real_data_fails_that_message_with_the_reason(api, app, clock):
    now = clock.freeze(T0)
    big = consenting_customer(api, email="big@example.com", timezone="UTC", attributes={"n": 1500})
    small = consenting_customer(api, email="small@example.com", timezone="UTC", attributes={"n": 2})
    # A sample customer has no `n`: the template is accepted, and each message is judged when it renders.
    template = ("{% for i in range(customer.attributes.n) %}{% for j in range(customer.attributes.n) %}x"
                "{% endfor %}{% endfor %}")
    campaign = write_campaign(api, template, now + timedelta(hours=1))
    assert lifecycle(api, "campaignSchedule", campaign["id"])["errors"] == []
    clock.advance(timedelta(hours=1))
    run(app, clock.now())
    assert sorted(deliver_due(app, clock.now(), "campaign:")) == ["FAILED", "SENT"]
    outcome = {m.customer_id: (m.status.value, m.last_error, len(m.body)) for m in rows(app, "campaign:")}
    assert outcome == {raw_id(big["id"]): ("FAILED", STEPS_ERROR, len(template)),
                       raw_id(small["id"]): ("SENT", None, 4)}


def test_the_body_and_subject_caps_are_settings(api, app, clock):
    clock.freeze(T0)
    ann = consenting_customer(api, **ANN)
    app.config.update(MESSAGES_MAX_BODY_CHARS={"EMAIL": 20}, MESSAGES_MAX_SUBJECT_CHARS=10)
    assert send_manual(api, ann["id"], body="{{ 'x' * 20 }}")["errors"] == []
    assert send_manual(api, ann["id"], body="{{ 'x' * 21 }}")["errors"] == [{
        "field": "input.body", "code": "INVALID",
        "message": "The message is longer than 20 characters, the limit for EMAIL (MESSAGES_MAX_BODY_CHARS)."}]
    assert send_manual(api, ann["id"], subject="Hello {{ customer.firstName }}!!", body="Hi")["errors"] == [{
        "field": "input.subject", "code": "INVALID",
        "message": "The subject is longer than 10 characters (MESSAGES_MAX_SUBJECT_CHARS)."}]
    # A care message over the cap is written FAILED with the reason (care renders when it is written).
    update = {"template": "Subject: Welcome\n{{ 'x' * customer.attributes.n }}"}
    assert api.data(CARE_RULE_UPDATE, {"key": "welcome", "input": update})["careRuleUpdate"]["errors"] == []
    bea = consenting_customer(api, email="bea@example.com", timezone="UTC", attributes={"n": 21})
    record_order(api, bea["id"], "o-1", occurred_at=clock.now().isoformat())
    work_once(app)
    [welcome] = rows(app, "care:welcome")
    assert (welcome.status.value, welcome.last_error) == (
        "FAILED", "The message is longer than 20 characters, the limit for EMAIL (MESSAGES_MAX_BODY_CHARS).")
