"""`crm demo`: seeds a realistic data set through the services and prints an admin token."""
from __future__ import annotations

from collections import Counter

from sqlalchemy import func, select

from crm.enums import Channel
from journeys.maps import rollups
from journeys.interactions.models import Interaction, InteractionPainPoint
from journeys.maps.models import Touchpoint
from journeys.service.models import Case, CaseStatus, SurveyKind, SurveyResponse

VIEWER = "{ viewer { role staffUser { email } } }"

CUSTOMERS = """query($after: String) { customers(first: 100, after: $after) {
  totalCount pageInfo { hasNextPage endCursor }
  edges { node { id email phone externalId timezone locale lifecycleStage serviceTier serviceTierPinned
                 accountManager { role }
                 lifecycleHistory { fromStage toStage actor }
                 orders(first: 1) { totalCount edges { node { currency } } }
                 metrics { totalSpent orderCount lifetimeValue } } } } }"""


def graphql(client, token: str, query: str, variables: dict | None = None) -> dict:
    response = client.post("/graphql", json={"query": query, "variables": variables or {}},
                           headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    assert "errors" not in body, body["errors"]
    return body["data"]


def run_demo(runner) -> str:
    result = runner.invoke(args=["demo", "--customers", "40", "--no-serve"])
    assert result.exit_code == 0, result.output + repr(result.exception)
    return result.output.strip().splitlines()[-1].strip()


def all_customers(client, token: str) -> list[dict]:
    nodes, after = [], None
    while True:
        page = graphql(client, token, CUSTOMERS, {"after": after})["customers"]
        nodes += [edge["node"] for edge in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            return nodes
        after = page["pageInfo"]["endCursor"]


def test_demo_seeds_customers_and_prints_an_admin_token(app, runner, client):
    token = run_demo(runner)

    viewer = graphql(client, token, VIEWER)["viewer"]
    assert viewer == {"role": "ADMIN", "staffUser": {"email": "admin@demo.example"}}
    customers = all_customers(client, token)
    assert len(customers) == 40

    stages = Counter(c["lifecycleStage"] for c in customers)
    tiers = Counter(c["serviceTier"] for c in customers)
    assert len(stages) >= 4, stages
    assert len(tiers) >= 2, tiers
    # The rules ran: order rules moved stages, and a manual move was made by a staff user.
    actors = {h["actor"] for c in customers for h in c["lifecycleHistory"]}
    assert {"rule:first-order", "rule:repeat-orders"} <= actors
    assert any(actor.endswith("@demo.example") for actor in actors)
    # Every VIP has an account manager; a tier is pinned by hand; profiles are complete.
    assert all(c["accountManager"] == {"role": "ACCOUNT_MANAGER"} for c in customers if c["serviceTier"] == "VIP")
    assert any(c["serviceTierPinned"] for c in customers)
    assert all(c["email"] or c["phone"] or c["externalId"] for c in customers)
    assert sum(1 for c in customers if c["email"]) >= 30 and sum(1 for c in customers if c["phone"]) >= 20
    assert len({c["timezone"] for c in customers}) >= 5
    buyers = [c for c in customers if c["metrics"]["orderCount"]]
    assert buyers and all(c["orders"]["totalCount"] == c["metrics"]["orderCount"] for c in buyers)
    assert len({c["orders"]["edges"][0]["node"]["currency"] for c in buyers}) >= 2
    assert_journeys(app)
    segments = graphql(client, token, """{ segments { edges { node { name kind memberCount
        members(first: 50) { edges { node { serviceTier metrics { churnRisk lifetimeValue } } } } } } } }""")
    by_name = {e["node"]["name"]: e["node"] for e in segments["segments"]["edges"]}
    assert sorted(by_name) == ["Buyers at risk", "Engaged email subscribers", "Key accounts", "Recent detractors"]
    assert by_name["Key accounts"]["kind"] == "STATIC" and by_name["Key accounts"]["memberCount"] >= 1
    assert all(m["node"]["serviceTier"] == "VIP" for m in by_name["Key accounts"]["members"]["edges"])
    assert by_name["Engaged email subscribers"]["memberCount"] >= 5
    at_risk = by_name["Buyers at risk"]["members"]["edges"]
    assert at_risk and all(m["node"]["metrics"]["churnRisk"] >= 0.4 for m in at_risk)
    assert all(c["metrics"]["lifetimeValue"] is not None for c in buyers)


def assert_journeys(app) -> None:
    """Touchpoints on every channel, interactions at every default stage, pain spots, cases and surveys."""
    from crm.sessions import get_session
    with app.app_context():
        session = get_session()
        touchpoints = session.execute(select(Touchpoint.channel, Touchpoint.journey_map_key)).all()
        assert len(touchpoints) == 40
        assert {channel for channel, _ in touchpoints} == set(Channel)
        per_stage = {(m, s): n for m, s, n in session.execute(
            select(Interaction.journey_map_key, Interaction.stage, func.count()).group_by(
                Interaction.journey_map_key, Interaction.stage))}
        assert set(per_stage) == {("purchase", s) for s in ("awareness", "consideration", "purchase", "onboarding",
                                                            "usage")} | {("after-sales", s) for s in (
                                                                "reception", "diagnosis", "solution", "follow-up")}
        assert all(count > 0 for count in per_stage.values()), per_stage
        # Customers drop off along the way: more look around than go on to use what they bought.
        assert per_stage["purchase", "consideration"] > per_stage["purchase", "usage"]
        pains = set(session.scalars(select(InteractionPainPoint.pain_point)))
        assert {"long-wait", "out-of-stock", "delivery-delay", "confusing-setup"} <= pains
        with_pain = select(InteractionPainPoint.interaction_id).where(
            InteractionPainPoint.interaction_id == Interaction.id).exists()
        assert session.scalar(select(func.max(Interaction.emotion)).where(with_pain)) < 0
        assert session.scalar(select(func.avg(Interaction.emotion)).where(~with_pain)) > 0.5
        assert rollups.differences(session) == 0
        # 40 customers: two cases, the older one taken all the way to CLOSED, the newer one just received.
        cases = session.execute(select(Case.status, Case.resolved_at.is_not(None)).order_by(Case.opened_at)).all()
        assert cases == [(CaseStatus.CLOSED, True), (CaseStatus.RECEIVED, False)]
        surveys = session.execute(select(SurveyResponse.kind, SurveyResponse.score)).all()
        assert {kind for kind, _ in surveys} == set(SurveyKind)
        nps = [score for kind, score in surveys if kind == SurveyKind.NPS]
        assert len(nps) >= 10 and any(s >= 9 for s in nps) and any(s <= 6 for s in nps)


def test_demo_twice_adds_nothing_and_prints_a_new_token(runner, client):
    first = run_demo(runner)
    second = run_demo(runner)

    assert second != first
    assert graphql(client, second, VIEWER)["viewer"]["role"] == "ADMIN"
    assert graphql(client, first, "{ customers(first: 1) { totalCount } }")["customers"]["totalCount"] == 40


def test_the_demo_sends_a_care_message_within_one_worker_round_of_an_order(app, runner, client, caplog):
    from crm.messages.models import Message
    from crm.outbox import OutboxEntry
    from crm.queue import work_once
    from tests.messages.test_messages import DAY_ZONE
    token = run_demo(runner)
    with app.extensions["crm.sessionmaker"]() as session:
        # The seeded history queued no care: nothing for the messages queue is pending.
        assert session.scalar(select(func.count()).select_from(OutboxEntry).where(
            OutboxEntry.queue == "messages", OutboxEntry.dispatched_at.is_(None))) == 0
    rule = graphql(client, token, '{ careRules { key delaySeconds } }')["careRules"]
    assert {"key": "post-purchase", "delaySeconds": 0} in rule

    created = graphql(client, token, """mutation { customerCreate(input: {email: "walk-in@demo.example",
        firstName: "Wanda", timezone: "%s"}) { customer { id } } }""" % DAY_ZONE)["customerCreate"]["customer"]
    graphql(client, token, """mutation($id: ID!) { customerSetConsent(customerId: $id, channel: EMAIL, granted: true) {
        errors { code } } }""", {"id": created["id"]})
    from crm import clock
    graphql(client, token, """mutation($id: ID!, $at: DateTime!) { orderRecord(input: {customerId: $id,
        externalId: "walk-in-1", amount: "42.00", currency: "EUR", channel: STORE, occurredAt: $at}) {
        errors { code } } }""", {"id": created["id"], "at": clock.now().isoformat()})
    with caplog.at_level("INFO", logger="crm.messages.sent"):
        work_once(app)
        work_once(app)
    lines = [r.getMessage() for r in caplog.records if r.name == "crm.messages.sent"]
    assert any(line.startswith("SENT EMAIL to walk-in@demo.example [care:post-purchase] How is your order?")
               for line in lines), lines
    with app.extensions["crm.sessionmaker"]() as session:
        check_ins = session.execute(select(Message.trigger, Message.status).where(
            Message.body.contains("walk-in-1"))).all()
    assert [(trigger, status.value) for trigger, status in check_ins] == [("care:post-purchase", "SENT")]


def test_the_demo_runs_a_welcome_journey_and_a_win_back_campaign_whose_sends_are_logged(app, runner, client, caplog):
    from crm import clock
    from crm.queue import run_periodic_jobs, work_once
    from tests.messages.test_messages import DAY_ZONE
    app.config.update(MESSAGES_QUIET_START="00:00", MESSAGES_QUIET_END="00:00")   # any hour of the test run
    token = run_demo(runner)
    campaigns = graphql(client, token, "{ campaigns { edges { node { id name status trigger { kind } } } } }")
    by_name = {e["node"]["name"]: e["node"] for e in campaigns["campaigns"]["edges"]}
    assert {(n, c["status"], c["trigger"]["kind"]) for n, c in by_name.items()} == {
        ("Welcome journey", "RUNNING", "STAGE_ENTERED"), ("Win-back", "RUNNING", "NO_ORDER_FOR")}

    created = graphql(client, token, """mutation { customerCreate(input: {email: "newbie@demo.example",
        firstName: "Nora", timezone: "%s"}) { customer { id } } }""" % DAY_ZONE)["customerCreate"]["customer"]
    graphql(client, token, """mutation($id: ID!) { customerSetConsent(customerId: $id, channel: EMAIL, granted: true) {
        errors { code } } }""", {"id": created["id"]})
    graphql(client, token, """mutation($id: ID!, $at: DateTime!) { orderRecord(input: {customerId: $id,
        externalId: "newbie-1", amount: "42.00", currency: "EUR", channel: WEB, occurredAt: $at}) {
        errors { code } } }""", {"id": created["id"], "at": clock.now().isoformat()})
    with caplog.at_level("INFO", logger="crm.messages.sent"):
        run_periodic_jobs(app)   # the win-back's no-order check runs at a worker's start
        for _ in range(4):
            work_once(app)
    lines = [r.getMessage() for r in caplog.records if r.name == "crm.messages.sent"]
    welcome = f"campaign:{raw_id(by_name['Welcome journey']['id'])}"
    win_back = f"campaign:{raw_id(by_name['Win-back']['id'])}"
    assert any(line.startswith("SENT EMAIL to newbie@demo.example") and f"[{welcome}] Welcome, Nora" in line
               for line in lines), lines
    assert any(line.startswith("SENT ") and f"[{win_back}] We miss you" in line for line in lines), lines
    results = graphql(client, token, """query($id: ID!) { campaign(id: $id) { results { entered sent } } }""",
                      {"id": by_name["Win-back"]["id"]})["campaign"]["results"]
    assert results["entered"] > 0 and results["sent"] > 0


def raw_id(global_id: str):
    from tests.helpers import raw_id as parse
    return parse(global_id)


def test_the_demo_dates_a_customers_history_when_it_happened(app, runner):
    """Noah Garcia, an advocate among the 40: created before his first order, every stage the order rules gave
    him at the order that earned it, the manual move after his last order, the points of each order at its
    time and the first order's points expired a year on, between the orders around it."""
    from datetime import timedelta

    from crm import clock
    from crm.customers.models import Customer, LifecycleTransition, Order
    from loyalty.models import EntryKind, LedgerEntry
    run_demo(runner)
    with app.extensions["crm.sessionmaker"]() as session:
        noah = session.scalars(select(Customer).where(Customer.first_name == "Noah",
                                                      Customer.last_name == "Garcia")).one()
        orders = session.scalars(select(Order).where(Order.customer_id == noah.id).order_by(Order.occurred_at)).all()
        changes = session.execute(select(LifecycleTransition.to_stage, LifecycleTransition.actor,
                                         LifecycleTransition.at)
                                  .where(LifecycleTransition.customer_id == noah.id)
                                  .order_by(LifecycleTransition.at)).all()
        entries = session.execute(select(LedgerEntry.kind, LedgerEntry.order_id, LedgerEntry.occurred_at,
                                         LedgerEntry.qualifies_at)
                                  .where(LedgerEntry.customer_id == noah.id).order_by(LedgerEntry.seq)).all()
    times = [order.occurred_at for order in orders]
    assert len(times) == 9
    assert [(stage.value, actor) for stage, actor, _ in changes] == [
        ("LEAD", "integration:demo-import"), ("NEW", "rule:first-order"), ("DEVELOPING", "rule:repeat-orders"),
        ("LOYAL", "rule:long-term-orders"), ("ADVOCATE", "priya.nair@demo.example")]
    moved = [at for _, _, at in changes]
    assert moved[0] == noah.created_at < times[0]
    # The first order; the third within a year; the first of six or more a year after the first order.
    assert moved[1:4] == [times[0], times[2], times[8]]
    assert times[7] - times[0] < timedelta(days=365) <= times[8] - times[0]
    assert times[-1] + timedelta(days=5) <= moved[4] <= clock.now()
    assert moved[4] - moved[0] > timedelta(days=365)  # spread over his story, not seeded within one second

    assert [(kind, order_id, occurred, qualifies) for kind, order_id, occurred, qualifies in entries
            if kind == EntryKind.EARN] == [(EntryKind.EARN, order.id, order.occurred_at, order.occurred_at)
                                           for order in orders]
    assert [(kind, occurred) for kind, _, occurred, _ in entries] == [
        *[(EntryKind.EARN, at) for at in times[:8]], (EntryKind.EXPIRE, times[0] + timedelta(days=365)),
        (EntryKind.EARN, times[8])]


WELCOME = """\
GraphQL API  http://127.0.0.1:5000/graphql  (POST; health: /healthz)
GraphiQL     http://127.0.0.1:5000/graphql  in a browser; it asks once per tab for a token (the ADMIN token below)

Sample customers:
  Emily Taylor      emily.taylor@post.example      AT_RISK   STANDARD
  Maximilian Meyer  maximilian_meyer@mail.example  LOYAL     VIP
  Hannah Hoffmann   hannah.hoffmann@example.org    LOYAL     PREFERRED
  Noah Garcia       garcia.noah@inbox.example      ADVOCATE  STANDARD
  Inès Moreau       i.moreau@example.org           NEW       STANDARD

Portal sign-in: a portal's back end, with its INTEGRATION token, gets a PORTAL token (1 h) for Emily Taylor; \
the browser then calls the API with it:
  export INTEGRATION_TOKEN=<integration>
  export PORTAL_TOKEN=$(curl -s http://127.0.0.1:5000/graphql -H "Authorization: Bearer $INTEGRATION_TOKEN" \
-H 'Content-Type: application/json' \\
      -d '{"query": "mutation($email: String!) { portalSessionCreate(customer: {email: $email}) { token expiresAt \
viewer { customer { displayName } } errors { code message } } }", "variables": {"email": "emily.taylor@post.example"}}' \\
      | tee /dev/stderr | jq -r .data.portalSessionCreate.token)
  curl -s http://127.0.0.1:5000/graphql -H "Authorization: Bearer $PORTAL_TOKEN" -H 'Content-Type: application/json' \
-d '{"query": "{ viewer { customer { displayName email lifecycleStage serviceTier } } }"}'

Staff sign-in, no token needed: amelia.hartmann@demo.example, DEMO-ONLY password demo-only-password \
(elsewhere: `crm staff set-password EMAIL`):
  curl -s http://127.0.0.1:5000/graphql -H 'Content-Type: application/json' \\
      -d '{"query": "mutation($email: String!, $password: String!) { staffSignIn(email: $email, password: $password) \
{ token expiresAt viewer { role staffUser { name } } errors { code message } } }", \
"variables": {"email": "amelia.hartmann@demo.example", "password": "demo-only-password"}}'

ADMIN token (send as `Authorization: Bearer <token>`; the README's examples call it $TOKEN):
<admin>"""

TOKEN_RE = r"crm_[A-Za-z0-9_-]{43}"


def welcome_of(output: str) -> tuple[str, dict[str, str]]:
    """The text `crm demo` prints after seeding, its tokens replaced by <integration> and <admin>."""
    import re
    text = output[output.index("GraphQL API  "):].rstrip("\n")
    tokens = {"integration": re.search(rf"export INTEGRATION_TOKEN=({TOKEN_RE})\n", text).group(1),
              "admin": text.rsplit("\n", 1)[1]}
    for name, token in tokens.items():
        text = text.replace(token, f"<{name}>")
    return text, tokens


def request_body(welcome: str, marker: str) -> dict:
    """The JSON body of the curl after the line containing ``marker``."""
    import json
    import re
    after = welcome[welcome.index(marker):]
    return json.loads(re.search(r"-d '(.*?)'", after).group(1))


def post(client, body: dict, token: str | None = None) -> dict:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = client.post("/graphql", json=body, headers=headers)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


def test_demo_prints_sample_customers_and_a_portal_and_a_staff_sign_in_that_work(runner, client):
    result = runner.invoke(args=["demo", "--customers", "40", "--no-serve"])
    assert result.exit_code == 0, result.output + repr(result.exception)
    welcome, tokens = welcome_of(result.output)
    assert welcome == WELCOME

    # The portal's back end, as printed: the INTEGRATION token trades Emily's email for a PORTAL token ...
    signed_in = post(client, request_body(welcome, "export PORTAL_TOKEN"), tokens["integration"])
    session = signed_in["data"]["portalSessionCreate"]
    assert session["errors"] == [] and session["viewer"] == {"customer": {"displayName": "Emily Taylor"}}
    # ... with which the browser reads her own profile.
    viewer = post(client, request_body(welcome, "curl -s http://127.0.0.1:5000/graphql -H \"Authorization: "
                                                "Bearer $PORTAL_TOKEN\""), session["token"])
    assert viewer == {"data": {"viewer": {"customer": {
        "displayName": "Emily Taylor", "email": "emily.taylor@post.example", "lifecycleStage": "AT_RISK",
        "serviceTier": "STANDARD"}}}}
    staff = post(client, request_body(welcome, "Staff sign-in"))["data"]["staffSignIn"]
    assert staff["errors"] == [] and staff["viewer"] == {"role": "ACCOUNT_MANAGER",
                                                         "staffUser": {"name": "Amelia Hartmann"}}
    assert graphql(client, staff["token"], VIEWER)["viewer"] == {
        "role": "ACCOUNT_MANAGER", "staffUser": {"email": "amelia.hartmann@demo.example"}}
    assert graphql(client, tokens["admin"], VIEWER)["viewer"]["role"] == "ADMIN"


def test_demo_again_prints_new_tokens_and_leaves_a_staff_password_of_someone_s_choosing_alone(app, runner, client):
    from crm.auth.sign_in import set_staff_password
    first = welcome_of(runner.invoke(args=["demo", "--customers", "40", "--no-serve"]).output)
    again = welcome_of(runner.invoke(args=["demo", "--customers", "40", "--no-serve"]).output)
    assert again[0] == first[0] == WELCOME  # the demo password is still the demo's: still printed
    assert again[1]["integration"] != first[1]["integration"] and again[1]["admin"] != first[1]["admin"]

    with app.app_context():
        from crm.sessions import get_session
        set_staff_password(get_session(), email="amelia.hartmann@demo.example", password="a password of her own")
    chosen = welcome_of(runner.invoke(args=["demo", "--customers", "40", "--no-serve"]).output)[0]
    assert "Staff sign-in" not in chosen and "demo-only-password" not in chosen
    assert chosen == WELCOME[:WELCOME.index("\n\nStaff sign-in")] + WELCOME[WELCOME.index("\n\nADMIN token"):]
    answer = post(client, request_body(WELCOME, "Staff sign-in"))["data"]["staffSignIn"]
    assert answer["token"] is None and [e["code"] for e in answer["errors"]] == ["INVALID_CREDENTIALS"]


def test_the_embedded_worker_logs_no_scheduler_lock_each_round_but_a_failing_job(app, caplog):
    """`crm demo`'s in-process worker filled most of its log with "rq.scheduler: Acquired scheduler lock" (one per
    queue per second); a job's failure is still logged, with its traceback."""
    import logging

    import crm
    from crm.db import transaction
    from crm.outbox import enqueue_after_commit
    from crm.queue import work_once
    from crm.sessions import get_session
    embedded = crm.create_app({"DATABASE_URL": app.config["DATABASE_URL"], "REDIS_URL": None, "TESTING": True,
                               "SECRET_KEY": "test"})
    try:
        with embedded.app_context():
            session = get_session()
            with transaction(session):
                entry = enqueue_after_commit(session, "json.loads", "{not json", job_id="failing-job")
        caplog.set_level(logging.INFO)
        for _ in range(3):
            work_once(embedded)
    finally:
        embedded.extensions["crm.engine"].dispose()
    rq_lines = [(r.name, r.levelname, r.getMessage()) for r in caplog.records if r.name.startswith("rq.")]
    assert entry.job_id == "failing-job"
    assert not [line for line in rq_lines if "scheduler lock" in line[2]], rq_lines
    assert all(level in ("WARNING", "ERROR") for _, level, _ in rq_lines), rq_lines
    failures = [r for r in caplog.records if r.name == "rq.worker" and "failing-job" in r.getMessage()]
    assert failures and "JSONDecodeError" in "\n".join(r.getMessage() + (r.exc_text or "") for r in failures)


def test_the_welcome_leaves_no_transaction_open_for_the_server_that_follows(app, runner):
    """On SQLite every transaction holds the write lock: one left open by `crm demo` before it serves locked its
    in-process worker out ("database is locked" after the 30 s busy timeout)."""
    from crm.demo import welcome
    from crm.sessions import get_session
    run_demo(runner)
    with app.app_context():
        session = get_session()
        assert [s.email for s in welcome.prepare(session).samples][:1] == ["emily.taylor@post.example"]
        assert not session.in_transaction()
