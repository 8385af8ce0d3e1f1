"""The care engine: every default rule fires once for its trigger and never twice (the same event again,
the job run again), with the real queue and workers (``work_once`` runs an RQ worker over real Redis)."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from sqlalchemy import select, update

from crm import clock
from crm.messages.models import Message
from crm.queue import work_once
from tests.helpers import consenting_customer, raw_id, record_order, submit
from tests.messages.test_messages import DAY_ZONE

NOW = clock.now()
ORDER_AT = (NOW - timedelta(hours=1)).replace(microsecond=0)
RULE_UPDATE = """mutation($key: String!, $input: CareRuleUpdateInput!) { careRuleUpdate(key: $key, input: $input) {
  careRule { key enabled delaySeconds channel template templates { locale template } purpose notifiesStaff }
  errors { field code message } } }"""


def care_messages(app, trigger: str | None = None) -> list[Message]:
    with app.extensions["crm.sessionmaker"]() as session:
        stmt = select(Message).where(Message.trigger.startswith("care:")).order_by(Message.created_at, Message.id)
        if trigger:
            stmt = stmt.where(Message.trigger == f"care:{trigger}")
        return session.scalars(stmt).all()


def time_passes(app, trigger: str) -> None:
    """Everything of this trigger comes due now."""
    with app.extensions["crm.sessionmaker"]() as session:
        session.execute(update(Message).where(Message.trigger == f"care:{trigger}")
                        .values(scheduled_for=clock.now() - timedelta(seconds=1)))
        session.commit()


def run_job(app, func, *args):
    """Run a job function again by hand, as a redelivered job would."""
    with app.app_context():
        return func(*args)


def set_rule(api, key, as_="admin", **fields) -> dict:
    return api.data(RULE_UPDATE, {"key": key, "input": fields}, as_=as_)["careRuleUpdate"]


def assign_manager(api, customer, manager) -> None:
    from crm.api.ids import global_id
    payload = api.data("""mutation($c: ID!, $s: ID!) { customerAssignManager(customerId: $c, staffUserId: $s) {
                          errors { code } } }""", {"c": customer["id"], "s": global_id("StaffUser", manager.id)})
    assert payload["customerAssignManager"]["errors"] == []


def buyer(api, app, email="buyer@example.com", **fields) -> dict:
    customer = consenting_customer(api, email=email, firstName="Bea", timezone=DAY_ZONE, **fields)
    record_order(api, customer["id"], f"o-{email}", occurred_at=ORDER_AT.isoformat())
    work_once(app)
    return customer


# ---------------------------------------------------------------- welcome, post-purchase

def test_welcome_is_sent_once_on_entering_new_even_when_the_event_comes_again(api, app):
    customer = buyer(api, app)
    welcome = care_messages(app, "welcome")
    assert [(m.status.value, m.subject, m.body, m.dedupe_key) for m in welcome] == [(
        "SENT", "Welcome aboard", "Hi Bea,\n\nthank you for your first order. We are here whenever you need us.",
        f"care:welcome:{raw_id(customer['id'])}")]

    from crm.messages.jobs import on_stage_changed
    payload = {"topic": "customer.stage_changed", "customerId": str(raw_id(customer["id"])), "toStage": "NEW",
               "fromStage": "LEAD", "at": NOW.isoformat()}
    assert run_job(app, on_stage_changed, payload) == str(welcome[0].id)
    work_once(app)
    assert len(care_messages(app, "welcome")) == 1


def test_welcome_uses_the_customers_locale_when_a_template_exists_for_it(api, app):
    buyer(api, app, email="de@example.com", locale="de-CH")
    (welcome,) = care_messages(app, "welcome")
    assert (welcome.locale, welcome.subject) == ("de", "Willkommen")


def test_post_purchase_waits_its_delay_after_the_order_then_sends_once(api, app):
    customer = buyer(api, app)
    (check_in,) = care_messages(app, "post-purchase")
    assert (check_in.status.value, check_in.scheduled_for) == ("SCHEDULED", ORDER_AT + timedelta(days=3))
    assert "your order o-buyer@example.com arrived" in check_in.body
    time_passes(app, "post-purchase")
    work_once(app)
    work_once(app)
    assert [m.status.value for m in care_messages(app, "post-purchase")] == ["SENT"]

    # With the delay set to 0 the check-in goes at once; an order from last month is history, not news.
    assert set_rule(api, "post-purchase", delaySeconds=0)["errors"] == []
    record_order(api, customer["id"], "o-2", occurred_at=(NOW - timedelta(minutes=1)).isoformat())
    record_order(api, customer["id"], "o-old", occurred_at=(NOW - timedelta(days=30)).isoformat())
    work_once(app)
    sent = [m for m in care_messages(app, "post-purchase") if "o-2" in m.body]
    assert [m.status.value for m in sent] == ["SENT"]
    assert not [m for m in care_messages(app, "post-purchase") if "o-old" in m.body]


def test_a_disabled_rule_sends_nothing(api, app):
    assert set_rule(api, "welcome", enabled=False)["careRule"]["enabled"] is False
    buyer(api, app)
    assert care_messages(app, "welcome") == []


def test_a_template_that_fails_to_render_fails_its_message_with_the_reason_not_the_worker(api, app):
    payload = set_rule(api, "welcome", template="Hi {{ customer.attributes.nickname.upper() }}")
    assert payload["errors"] == []
    buyer(api, app)
    (welcome,) = care_messages(app, "welcome")
    assert welcome.status.value == "FAILED"
    assert welcome.last_error.startswith("Template error: UndefinedError:")
    assert [m.status.value for m in care_messages(app, "post-purchase")] == ["SCHEDULED"]  # the worker went on


# ---------------------------------------------------------------- cases: follow-up, complaint, SLA

def _case(app, customer_id, kind="COMPLAINT", assignee=None):
    from journeys.service import cases
    with app.app_context():
        from crm.sessions import get_session
        session = get_session()
        case = cases.open_case(session, customer_id=raw_id(customer_id), kind=kind, channel="EMAIL",
                               subject="Broken hinge", description=None, actor="test")
        if assignee:
            cases.assign(session, case_id=case.id, staff_user_id=assignee, actor="test")
        for status in ("DIAGNOSING", "SOLUTION_PROPOSED"):
            cases.transition(session, case_id=case.id, to_status=status, note=None, actor="test")
        cases.resolve(session, case_id=case.id, resolution="Replaced the hinge", root_cause="batch defect",
                      actor="test")
        return case.id


def _case_status(app, case_id):
    from journeys.service.models import Case
    with app.extensions["crm.sessionmaker"]() as session:
        return session.get(Case, case_id).status.value


def test_a_resolved_complaint_is_followed_up_a_day_later_with_a_survey_link_and_its_manager_told(api, app, staff):
    customer = buyer(api, app)
    assign_manager(api, customer, staff["account_manager"])
    case_id = _case(app, customer["id"])
    work_once(app)
    (follow_up,) = care_messages(app, "case-follow-up")
    (notice,) = care_messages(app, "complaint-follow-up")
    assert (follow_up.status.value, follow_up.purpose.value) == ("SCHEDULED", "FOLLOW_UP")
    assert "Tell us how we did: http://127.0.0.1:5000/s/survey/" in follow_up.body  # the signed survey page
    assert (notice.staff_user_id, notice.status.value) == (staff["account_manager"].id, "SCHEDULED")
    assert notice.subject == "Complaint follow-up: Bea"
    assert _case_status(app, case_id) == "RESOLVED"

    time_passes(app, "case-follow-up")
    time_passes(app, "complaint-follow-up")
    work_once(app)
    work_once(app)
    assert [m.status.value for m in care_messages(app, "case-follow-up")] == ["SENT"]
    assert [m.status.value for m in care_messages(app, "complaint-follow-up")] == ["SENT"]
    assert _case_status(app, case_id) == "FOLLOWED_UP"

    from journeys.service.care import on_case_resolved
    assert run_job(app, on_case_resolved, {"caseId": str(case_id)}) == []  # no longer RESOLVED: nothing new
    assert len(care_messages(app, "case-follow-up")) == 1


def test_a_case_reopened_before_its_follow_up_is_not_asked_whether_it_is_solved(api, app):
    customer = buyer(api, app)
    case_id = _case(app, customer["id"], kind="REPAIR")
    work_once(app)
    from journeys.service import cases
    with app.app_context():
        from crm.sessions import get_session
        cases.transition(get_session(), case_id=case_id, to_status="DIAGNOSING", note="still broken", actor="test")
    time_passes(app, "case-follow-up")
    work_once(app)
    (follow_up,) = care_messages(app, "case-follow-up")
    assert (follow_up.status.value, follow_up.last_error) == ("CANCELLED", "CASE_NOT_RESOLVED: the case is DIAGNOSING")
    assert care_messages(app, "complaint-follow-up") == []  # a REPAIR is no complaint


def test_an_sla_warning_goes_to_the_assignee_once_per_clock_and_level(api, app, staff):
    customer = buyer(api, app)
    from journeys.service import alerts, cases
    with app.app_context():
        from crm.sessions import get_session
        session = get_session()
        case = cases.open_case(session, customer_id=raw_id(customer["id"]), kind="INQUIRY", channel="EMAIL",
                               subject="Where is my parcel", description=None, actor="test")
        cases.assign(session, case_id=case.id, staff_user_id=staff["support_agent"].id, actor="test")
        case_id, due = case.id, case.first_response_due_at
        alerts.sweep_sla(session, now=due + timedelta(minutes=1))
        alerts.sweep_sla(session, now=due + timedelta(minutes=2))
    work_once(app)
    warnings = care_messages(app, "sla-warning")
    assert sorted((m.subject, m.staff_user_id, m.status.value) for m in warnings) == [
        ("SLA BREACHED: Where is my parcel", staff["support_agent"].id, "SENT")]
    assert warnings[0].dedupe_key == f"care:sla-warning:{case_id}:firstResponse:BREACHED"


# ---------------------------------------------------------------- detractors

def test_a_detractor_gets_a_recovery_case_for_the_manager_and_one_apology(api, app, staff):
    customer = buyer(api, app)
    assign_manager(api, customer, staff["account_manager"])
    answer = submit(api, customerId=customer["id"], kind="NPS", score=3, comment="Slow delivery")
    assert answer["errors"] == []
    work_once(app)
    work_once(app)
    (apology,) = care_messages(app, "detractor-recovery")
    assert (apology.status.value, apology.subject) == ("SENT", "We are sorry")
    from journeys.service.models import Case
    with app.extensions["crm.sessionmaker"]() as session:
        recovery = session.scalars(select(Case).where(Case.customer_id == raw_id(customer["id"]))).all()
    assert [(c.kind.value, c.subject, c.description, c.assignee_id) for c in recovery] == [
        ("COMPLAINT", "Service recovery: NPS 3", "Slow delivery", staff["account_manager"].id)]
    assert apology.context["caseId"] == str(recovery[0].id)

    from journeys.service.care import on_detractor
    event = {"customerId": str(raw_id(customer["id"])), "responseId": str(raw_id(answer["surveyResponse"]["id"])),
             "kind": "NPS", "score": 3}
    assert run_job(app, on_detractor, event) is None
    with app.extensions["crm.sessionmaker"]() as session:
        assert len(session.scalars(select(Case).where(Case.customer_id == raw_id(customer["id"]))).all()) == 1
    assert len(care_messages(app, "detractor-recovery")) == 1

    submit(api, customerId=customer["id"], kind="CSAT", score=4)  # not a detractor
    work_once(app)
    assert len(care_messages(app, "detractor-recovery")) == 1


# ---------------------------------------------------------------- inactivity and at-risk

def test_inactivity_moves_customers_to_at_risk_then_churned_and_at_risk_sends_a_win_back_once(api, app, runner):
    quiet = consenting_customer(api, email="quiet@example.com", timezone=DAY_ZONE)
    record_order(api, quiet["id"], "q-1", occurred_at=(NOW - timedelta(days=100)).isoformat())
    gone = consenting_customer(api, email="gone@example.com", timezone=DAY_ZONE)
    record_order(api, gone["id"], "g-1", occurred_at=(NOW - timedelta(days=400)).isoformat())
    active = consenting_customer(api, email="active@example.com", timezone=DAY_ZONE)
    record_order(api, active["id"], "a-1", occurred_at=(NOW - timedelta(days=5)).isoformat())
    work_once(app)

    for _ in range(2):
        result = runner.invoke(args=["periodic", "run", "inactivity"])
        assert result.exit_code == 0, result.output
    work_once(app)
    stage = """query($id: ID!) { customer(id: $id) { lifecycleStage lifecycleHistory { toStage actor reason } } }"""
    stages = {name: api.data(stage, {"id": c["id"]})["customer"] for name, c in
              (("quiet", quiet), ("gone", gone), ("active", active))}
    assert {name: s["lifecycleStage"] for name, s in stages.items()} == {
        "quiet": "AT_RISK", "gone": "CHURNED", "active": "NEW"}
    assert stages["quiet"]["lifecycleHistory"][-1] == {
        "toStage": "AT_RISK", "actor": "rule:inactivity", "reason": "no order or interaction for 90 days"}
    win_back = care_messages(app, "at-risk")
    assert [(m.customer_id, m.status.value, m.subject) for m in win_back] == [
        (raw_id(quiet["id"]), "SENT", "We miss you")]
    result = runner.invoke(args=["periodic", "list"])
    assert [line.split()[0] for line in result.output.splitlines() if line.startswith("inactivity")] == ["inactivity"]
    assert "ok: {'AT_RISK': 0, 'CHURNED': 0}" in result.output  # the second run found nothing left to do


# ---------------------------------------------------------------- birthday, points, tiers

def test_birthdays_are_greeted_on_the_local_day_once_a_year_with_bonus_points_once(api, app, clock):
    from crm.messages.jobs import send_birthday_greetings
    app.config.update(MESSAGES_QUIET_START="00:00", MESSAGES_QUIET_END="00:00")  # whatever the hour in either city
    now = clock.freeze(datetime(2026, 7, 14, 22, 30, tzinfo=timezone.utc))   # already 15 July in Tokyo, still 14th in London
    tokyo = consenting_customer(api, email="tokyo@example.com", timezone="Asia/Tokyo", birthday="1990-07-15")
    london = consenting_customer(api, email="london@example.com", timezone="Europe/London", birthday="1985-07-15")
    work_once(app)
    assert run_job(app, send_birthday_greetings, now) == 1
    clock.advance(timedelta(hours=1))
    assert run_job(app, send_birthday_greetings, now + timedelta(hours=1)) == 1   # London's 15th has begun
    assert run_job(app, send_birthday_greetings, now + timedelta(hours=1)) == 0
    work_once(app)
    greetings = care_messages(app, "birthday")
    assert sorted((m.customer_id, m.dedupe_key.rsplit(":", 1)[1], m.status.value) for m in greetings) == sorted([
        (raw_id(tokyo["id"]), "2026", "SENT"), (raw_id(london["id"]), "2026", "SENT")])
    points = """query($id: ID!) { customer(id: $id) { loyalty { balance entries { edges { node { reason } } } } } }"""
    for customer in (tokyo, london):
        account = api.data(points, {"id": customer["id"]})["customer"]["loyalty"]
        assert account["balance"] == 100
        assert [e["node"]["reason"] for e in account["entries"]["edges"]] == ["birthday 2026"]


def test_points_about_to_expire_are_reminded_once_per_expiry_date(api, app):
    from loyalty.care import remind_expiring_points
    customer = consenting_customer(api, email="points@example.com", timezone=DAY_ZONE)
    earn = """mutation($input: PointsEarnInput!) { pointsEarn(input: $input) { errors { code } } }"""
    expires = (NOW + timedelta(days=10)).replace(microsecond=0)
    for key, points in (("a", 300), ("b", 200)):
        api.data(earn, {"input": {"customerId": customer["id"], "points": points, "reason": "review",
                                  "idempotencyKey": key, "expiresAt": expires.isoformat()}})
    api.data(earn, {"input": {"customerId": customer["id"], "points": 50, "reason": "later", "idempotencyKey": "c",
                              "expiresAt": (NOW + timedelta(days=90)).isoformat()}})
    assert run_job(app, remind_expiring_points) == 1
    assert run_job(app, remind_expiring_points) == 0
    work_once(app)
    (reminder,) = care_messages(app, "points-expiring")
    assert (reminder.subject, reminder.status.value) == ("500 points expire soon", "SENT")
    assert f"expire on {expires.date().isoformat()}" in reminder.body


def test_tier_upgrades_are_congratulated_once_and_downgrades_never(api, app):
    customer = buyer(api, app)
    record_order(api, customer["id"], "big", amount="1000.00", occurred_at=NOW.isoformat())   # member -> silver
    set_tier = """mutation($id: ID!, $t: ServiceTier) { customerSetServiceTier(customerId: $id, tier: $t) {
                  errors { code } } }"""
    api.data(set_tier, {"id": customer["id"], "t": "VIP"})
    api.data(set_tier, {"id": customer["id"], "t": "STANDARD"})  # a downgrade: nothing to celebrate
    work_once(app)
    work_once(app)
    upgrades = care_messages(app, "tier-upgrade")
    assert sorted((m.subject, m.status.value) for m in upgrades) == [
        ("Welcome to Silver", "SENT"), ("Welcome to VIP", "SENT")]


# ---------------------------------------------------------------- the rules as data

def test_care_rules_are_listed_with_defaults_and_updates_are_checked(api):
    rules = api.data("{ careRules { key enabled delaySeconds channel purpose notifiesStaff } }")["careRules"]
    assert [(r["key"], r["delaySeconds"], r["purpose"], r["notifiesStaff"]) for r in rules] == [
        ("welcome", 0, "CARE", False), ("post-purchase", 259200, "CARE", False),
        ("case-follow-up", 86400, "FOLLOW_UP", False), ("complaint-follow-up", 86400, "FOLLOW_UP", True),
        ("detractor-recovery", 0, "CARE", False), ("at-risk", 0, "CARE", False), ("birthday", 0, "CARE", False),
        ("points-expiring", 0, "CARE", False), ("tier-upgrade", 0, "CARE", False),
        ("sla-warning", 0, "TRANSACTIONAL", True)]
    assert {r["channel"] for r in rules} == {"EMAIL"} and all(r["enabled"] for r in rules)

    bad = [("nope", {"enabled": False}, ("key", "NOT_FOUND")),
           ("welcome", {"delaySeconds": -1}, ("input.delaySeconds", "INVALID")),
           ("welcome", {"channel": "STORE"}, ("input.channel", "INVALID")),
           ("sla-warning", {"channel": "SMS"}, ("input.channel", "INVALID")),
           ("welcome", {"template": "Hi {{ customer.firstName"}, ("input.template", "INVALID")),
           ("welcome", {"template": "Your order {{ order.externalId }}"}, ("input.template", "INVALID")),
           ("welcome", {"locale": "fr"}, ("input.template", "REQUIRED")),
           ("welcome", {"locale": "x" * 36, "template": "Hi"}, ("input.locale", "INVALID"))]
    for key, fields, expected in bad:
        payload = set_rule(api, key, **fields)
        assert (payload["careRule"], [(e["field"], e["code"]) for e in payload["errors"]]) == (None, [expected])
    assert set_rule(api, "welcome", as_="marketer", enabled=False)["errors"][0]["code"] == "FORBIDDEN"

    updated = set_rule(api, "post-purchase", delaySeconds=3600, channel="SMS", template="Hi {{ order.externalId }}",
                       as_="account_manager")["careRule"]
    assert (updated["delaySeconds"], updated["channel"], updated["template"]) == (3600, "SMS", "Hi {{ order.externalId }}")
    french = set_rule(api, "post-purchase", locale="fr", template="Bonjour {{ customer.firstName }}")["careRule"]
    assert [t["locale"] for t in french["templates"]] == [None, "de", "fr"]
    removed = set_rule(api, "post-purchase", locale="fr", template="")["careRule"]
    assert [t["locale"] for t in removed["templates"]] == [None, "de"]
    body = api("{ careRules { key } }", as_="integration")
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
