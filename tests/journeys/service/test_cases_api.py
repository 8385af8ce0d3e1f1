"""Cases, SLA policies and service metrics through GraphQL: roles, portal scope, payload errors, the queue."""
from __future__ import annotations

from crm.queue import work_once
from tests.helpers import create_customer, raw_id

CASE_FIELDS = """id status priority kind channel subject firstRespondedAt resolvedAt closedAt firstContactResolution
  rootCause resolution compensationPoints reopenCount serviceTier customer { id }
  sla { policy firstResponseState resolutionState } history { kind fromStatus toStatus actor note }"""
OPEN = "mutation($input: CaseOpenInput!) { caseOpen(input: $input) { case { %s } errors { field code message } } }" \
    % CASE_FIELDS
RESPOND = """mutation($id: ID!, $m: String!) { caseRespond(caseId: $id, message: $m) { case { %s }
  errors { field code message } } }""" % CASE_FIELDS
MOVE = """mutation($id: ID!, $to: CaseStatus!, $note: String) { caseTransition(caseId: $id, toStatus: $to, note: $note) {
  case { %s } errors { field code message } } }""" % CASE_FIELDS
RESOLVE = """mutation($id: ID!, $input: CaseResolveInput!) { caseResolve(caseId: $id, input: $input) { case { %s }
  errors { field code message } } }""" % CASE_FIELDS
QUEUE = """query($state: SlaState, $status: [CaseStatus!]) { cases(first: 10, slaState: $state, status: $status) {
  totalCount edges { node { subject sla { firstResponseState resolutionState } } } } }"""
BALANCE = "query($id: ID!) { customer(id: $id) { loyalty { balance entries(first: 5) { edges { node { kind points case { subject } } } } } } }"


def open_case(api, customer_id, as_="support_agent", **fields):
    data = {"customerId": customer_id, "kind": "REPAIR", "channel": "PHONE", "subject": "Broken hinge", **fields}
    return api.data(OPEN, {"input": data}, as_=as_)["caseOpen"]


def test_a_case_through_the_whole_service_process(api):
    customer = create_customer(api, email="ida@example.com")
    opened = open_case(api, customer["id"])
    assert opened["errors"] == []
    case = opened["case"]
    assert (case["status"], case["priority"], case["serviceTier"], case["sla"]["policy"]) == (
        "RECEIVED", 3, "STANDARD", "Standard")
    assert (case["sla"]["firstResponseState"], case["sla"]["resolutionState"]) == ("ON_TRACK", "ON_TRACK")
    responded = api.data(RESPOND, {"id": case["id"], "m": "We are on it"}, as_="support_agent")["caseRespond"]
    assert responded["case"]["firstRespondedAt"] is not None
    assert responded["case"]["sla"]["firstResponseState"] == "MET"
    for step in ("DIAGNOSING", "SOLUTION_PROPOSED"):
        assert api.data(MOVE, {"id": case["id"], "to": step})["caseTransition"]["errors"] == []
    resolved = api.data(RESOLVE, {"id": case["id"], "input": {"resolution": "New hinge"}})["caseResolve"]
    assert resolved["errors"] == []
    assert (resolved["case"]["status"], resolved["case"]["firstContactResolution"]) == ("RESOLVED", True)
    assert resolved["case"]["sla"]["resolutionState"] == "MET"
    for step in ("FOLLOWED_UP", "CLOSED"):
        assert api.data(MOVE, {"id": case["id"], "to": step})["caseTransition"]["errors"] == []
    closed = api.data("query($id: ID!) { case(id: $id) { %s } }" % CASE_FIELDS, {"id": case["id"]})["case"]
    assert closed["closedAt"] is not None
    assert [(h["kind"], h["fromStatus"], h["toStatus"]) for h in closed["history"]] == [
        ("OPENED", None, "RECEIVED"), ("RESPONSE", "RECEIVED", "RECEIVED"), ("TRANSITION", "RECEIVED", "DIAGNOSING"),
        ("TRANSITION", "DIAGNOSING", "SOLUTION_PROPOSED"), ("RESOLVED", "SOLUTION_PROPOSED", "RESOLVED"),
        ("TRANSITION", "RESOLVED", "FOLLOWED_UP"), ("TRANSITION", "FOLLOWED_UP", "CLOSED")]
    assert closed["history"][1]["note"] == "We are on it"
    assert {h["actor"] for h in closed["history"]} == {"support_agent@example.com", "admin@example.com"}


def test_payload_errors_of_case_mutations(api):
    customer = create_customer(api, email="ida@example.com")
    missing = "Q3VzdG9tZXI6MDAwMDAwMDAtMDAwMC0wMDAwLTAwMDAtMDAwMDAwMDAwMDAw"
    assert [(e["field"], e["code"]) for e in open_case(api, missing)["errors"]] == [("customerId", "NOT_FOUND")]
    assert [(e["field"], e["code"]) for e in open_case(api, customer["id"], subject=" ")["errors"]] == [
        ("subject", "REQUIRED")]
    case = open_case(api, customer["id"], kind="COMPLAINT")["case"]
    jump = api.data(MOVE, {"id": case["id"], "to": "CLOSED"})["caseTransition"]
    assert (jump["case"], [(e["field"], e["code"]) for e in jump["errors"]]) == (
        None, [("toStatus", "INVALID_TRANSITION")])
    early = api.data(RESOLVE, {"id": case["id"], "input": {"resolution": "x"}})["caseResolve"]
    assert [e["code"] for e in early["errors"]] == ["INVALID_TRANSITION"]
    for step in ("DIAGNOSING", "SOLUTION_PROPOSED"):
        api.data(MOVE, {"id": case["id"], "to": step})
    no_cause = api.data(RESOLVE, {"id": case["id"], "input": {"resolution": "Refund"}})["caseResolve"]
    assert [(e["field"], e["code"]) for e in no_cause["errors"]] == [("input.rootCause", "REQUIRED")]
    bad_points = api.data(RESOLVE, {"id": case["id"], "input": {"resolution": "Refund", "rootCause": "late courier",
                                                                "compensationPoints": 0}})["caseResolve"]
    assert [(e["field"], e["code"]) for e in bad_points["errors"]] == [("input.compensationPoints", "INVALID")]
    unknown = api.data(RESPOND, {"id": "Q2FzZTowMDAwMDAwMC0wMDAwLTAwMDAtMDAwMC0wMDAwMDAwMDAwMDA=", "m": "hi"})
    assert [(e["field"], e["code"]) for e in unknown["caseRespond"]["errors"]] == [("caseId", "NOT_FOUND")]
    status = api.data("query($id: ID!) { case(id: $id) { status history { toStatus } } }", {"id": case["id"]})
    assert status["case"]["status"] == "SOLUTION_PROPOSED" and len(status["case"]["history"]) == 3


def test_compensation_reaches_the_loyalty_ledger_once_however_often_resolve_is_called(api, app):
    customer = create_customer(api, email="ida@example.com")
    case = open_case(api, customer["id"], kind="COMPLAINT", subject="Late delivery")["case"]
    for step in ("DIAGNOSING", "SOLUTION_PROPOSED"):
        api.data(MOVE, {"id": case["id"], "to": step})
    resolution = {"resolution": "Apologised, refunded shipping", "rootCause": "courier capacity",
                  "compensationPoints": 250}
    first = api.data(RESOLVE, {"id": case["id"], "input": resolution})["caseResolve"]
    again = api.data(RESOLVE, {"id": case["id"], "input": resolution})["caseResolve"]
    assert first["errors"] == [] and again == first
    assert first["case"]["compensationPoints"] == 250
    work_once(app)
    work_once(app)
    loyalty = api.data(BALANCE, {"id": customer["id"]})["customer"]["loyalty"]
    assert loyalty["balance"] == 250
    assert [(e["node"]["kind"], e["node"]["points"], e["node"]["case"]["subject"])
            for e in loyalty["entries"]["edges"]] == [("COMPENSATION", 250, "Late delivery")]
    changed = api.data(RESOLVE, {"id": case["id"], "input": {**resolution, "compensationPoints": 300}})["caseResolve"]
    assert [e["code"] for e in changed["errors"]] == ["INVALID_TRANSITION"]


def test_portal_opens_and_reads_only_its_own_cases(api, portal_token, tokens):
    ida = create_customer(api, email="ida@example.com")
    eve = create_customer(api, email="eve@example.com")
    tokens["ida"] = portal_token(raw_id(ida["id"]))
    own = open_case(api, ida["id"], as_="ida", channel="WEB")
    assert own["errors"] == [] and own["case"]["customer"]["id"] == ida["id"]
    foreign = open_case(api, eve["id"], as_="ida")
    assert [(e["field"], e["code"]) for e in foreign["errors"]] == [("customerId", "NOT_FOUND")]
    eve_case = open_case(api, eve["id"])["case"]
    read = "query($id: ID!) { case(id: $id) { subject } node(id: $id) { id } }"
    assert api.data(read, {"id": eve_case["id"]}, as_="ida") == {"case": None, "node": None}
    assert api.data(read, {"id": own["case"]["id"]}, as_="ida")["case"] == {"subject": "Broken hinge"}
    respond = api.data(RESPOND, {"id": own["case"]["id"], "m": "me again"}, as_="ida")["caseRespond"]
    assert [e["code"] for e in respond["errors"]] == ["FORBIDDEN"]
    queue = api(QUEUE, {}, as_="ida")
    assert queue["errors"][0]["extensions"]["code"] == "FORBIDDEN"


def test_the_queue_filters_by_sla_state_and_status(api):
    customer = create_customer(api, email="ida@example.com")
    answered = open_case(api, customer["id"], subject="answered")["case"]
    open_case(api, customer["id"], subject="waiting")
    api.data(RESPOND, {"id": answered["id"], "m": "hello"})
    on_track = api.data(QUEUE, {"state": "ON_TRACK"})["cases"]
    assert sorted(e["node"]["subject"] for e in on_track["edges"]) == ["answered", "waiting"]
    assert api.data(QUEUE, {"state": "BREACHED"})["cases"]["totalCount"] == 0
    assert api.data(QUEUE, {"status": ["CLOSED"]})["cases"]["totalCount"] == 0
    assert api.data(QUEUE, {"status": ["RECEIVED"]})["cases"]["totalCount"] == 2


def test_sla_policy_update_applies_to_cases_opened_afterwards(api):
    update = """mutation($input: SlaPolicyUpdateInput!) { slaPolicyUpdate(input: $input) {
      slaPolicy { serviceTier name firstResponseMinutes resolutionMinutes businessHours } errors { field code } } }"""
    hours = {"timezone": "Europe/Berlin", "weekdays": [0, 1, 2, 3, 4], "start": "09:00", "end": "17:00",
             "holidays": ["2026-12-25"]}
    data = {"serviceTier": "STANDARD", "firstResponseMinutes": 60, "resolutionMinutes": 480, "businessHours": hours}
    refused = api.data(update, {"input": data}, as_="account_manager")["slaPolicyUpdate"]
    assert [e["code"] for e in refused["errors"]] == ["FORBIDDEN"]
    done = api.data(update, {"input": data})["slaPolicyUpdate"]
    assert done["errors"] == []
    assert (done["slaPolicy"]["firstResponseMinutes"], done["slaPolicy"]["businessHours"]["timezone"]) == (
        60, "Europe/Berlin")
    bad = api.data(update, {"input": {**data, "businessHours": {**hours, "start": "18:00"}}})["slaPolicyUpdate"]
    assert [e["code"] for e in bad["errors"]] == ["INVALID"]
    assert bad["errors"][0]["field"].startswith("input.businessHours")
    policies = api.data("{ slaPolicies { serviceTier firstResponseMinutes } }")["slaPolicies"]
    assert policies == [{"serviceTier": "VIP", "firstResponseMinutes": 5},
                        {"serviceTier": "PREFERRED", "firstResponseMinutes": 30},
                        {"serviceTier": "STANDARD", "firstResponseMinutes": 60}]


def test_service_metrics_through_graphql(api):
    query = """query($filter: ServiceMetricsFilter) { serviceMetrics(filter: $filter) { casesOpened casesResolved
      csatAverage csatResponses nps promoters passives detractors targets { kpi target actual met } } }"""
    customer = create_customer(api, email="ida@example.com")
    open_case(api, customer["id"])
    submit = """mutation($input: SurveyResponseInput!) { surveyResponseSubmit(input: $input) { errors { code } } }"""
    for kind, score, email in (("NPS", 10, "a"), ("NPS", 9, "b"), ("NPS", 5, "c"), ("CSAT", 5, "a"), ("CSAT", 4, "b")):
        who = customer if email == "a" else create_customer(api, email=f"{email}{kind}@example.com")
        assert api.data(submit, {"input": {"customerId": who["id"], "kind": kind, "score": score}})[
            "surveyResponseSubmit"]["errors"] == []
    metrics = api.data(query, as_="marketer")["serviceMetrics"]
    assert (metrics["casesOpened"], metrics["casesResolved"], metrics["csatAverage"], metrics["csatResponses"]) == (
        1, 0, 4.5, 2)
    assert (metrics["promoters"], metrics["passives"], metrics["detractors"]) == (2, 0, 1)
    assert round(metrics["nps"], 4) == 33.3333
    targets = {t["kpi"]: (t["target"], t["met"]) for t in metrics["targets"]}
    assert targets == {"averageFirstResponseMinutes": (5.0, None), "firstContactResolutionRate": (0.85, None),
                       "slaComplianceRate": (0.95, None), "csatAverage": (4.5, True), "nps": (60.0, False)}
    assert api("{ serviceMetrics { casesOpened } }", as_="integration")["errors"][0]["extensions"]["code"] == \
        "FORBIDDEN"
    bad = api(query, {"filter": {"from": "2026-06-01T00:00:00Z", "to": "2026-05-01T00:00:00Z"}})
    assert bad["errors"][0]["extensions"] == {"code": "INVALID", "field": "filter.to"}


def test_assigning_a_case_to_the_service_desk(api, staff):
    from crm.api.ids import global_id
    customer = create_customer(api, email="ida@example.com")
    case = open_case(api, customer["id"])["case"]
    assign = """mutation($id: ID!, $to: ID) { caseAssign(caseId: $id, staffUserId: $to) {
      case { assignee { name } history { kind note } } errors { field code } } }"""
    sam = global_id("StaffUser", staff["support_agent"].id)
    done = api.data(assign, {"id": case["id"], "to": sam})["caseAssign"]
    assert done["case"]["assignee"] == {"name": "Sam Support"}
    assert done["case"]["history"][-1] == {"kind": "ASSIGNED", "note": "assigned to Sam Support"}
    marketer = global_id("StaffUser", staff["marketer"].id)
    refused = api.data(assign, {"id": case["id"], "to": marketer})["caseAssign"]
    assert [(e["field"], e["code"]) for e in refused["errors"]] == [("staffUserId", "INVALID")]
    taken_back = api.data(assign, {"id": case["id"], "to": None})["caseAssign"]
    assert taken_back["case"]["assignee"] is None and len(taken_back["case"]["history"]) == 3


def test_cases_are_for_the_service_desk_and_the_portal_sees_no_staff_identities(api, portal_token, tokens, staff):
    from crm.api.ids import global_id
    ida = create_customer(api, email="ida@example.com")
    tokens["ida"] = portal_token(raw_id(ida["id"]))
    case = open_case(api, ida["id"], kind="COMPLAINT", description="internal: customer is upset")["case"]
    api.data("""mutation($id: ID!, $to: ID) { caseAssign(caseId: $id, staffUserId: $to) { errors { code } } }""",
             {"id": case["id"], "to": global_id("StaffUser", staff["support_agent"].id)})
    api.data(RESPOND, {"id": case["id"], "m": "Sorry, we are on it"})
    api.data(MOVE, {"id": case["id"], "to": "DIAGNOSING", "note": "check courier scans"})
    read = """query($id: ID!, $c: ID!) { node(id: $id) { ... on Case { subject } }
      customer(id: $c) { interactions(first: 5) { edges { node { case { id } } } } } }"""
    for role in ("marketer", "integration"):
        assert api.data(read, {"id": case["id"], "c": ida["id"]}, as_=role)["node"] is None
        refused = api("query($c: ID!) { customer(id: $c) { cases { totalCount } } }", {"c": ida["id"]}, as_=role)
        assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    mine = api.data("""query($id: ID!) { case(id: $id) { assignee { name } history { kind actor note } } }""",
                    {"id": case["id"]}, as_="ida")["case"]
    assert mine["assignee"] is None
    assert mine["history"] == [
        {"kind": "OPENED", "actor": "staff", "note": None}, {"kind": "ASSIGNED", "actor": "staff", "note": None},
        {"kind": "RESPONSE", "actor": "staff", "note": "Sorry, we are on it"},
        {"kind": "TRANSITION", "actor": "staff", "note": None}]
    staff_view = api.data("""query($id: ID!) { case(id: $id) { history { actor note } } }""", {"id": case["id"]})
    assert staff_view["case"]["history"][3] == {"actor": "admin@example.com", "note": "check courier scans"}


def test_touchpoint_nodes_are_not_for_portals(api, portal_token, tokens):
    ida = create_customer(api, email="ida@example.com")
    tokens["ida"] = portal_token(raw_id(ida["id"]))
    created = api.data("""mutation { touchpointCreate(input: {key: "web.faq", name: "FAQ", channel: WEB,
      stage: "Consideration", journeyMap: "purchase"}) { touchpoint { id stage } errors { code } } }""")
    touchpoint = created["touchpointCreate"]["touchpoint"]
    assert touchpoint["stage"] == "consideration"
    read = "query($id: ID!) { node(id: $id) { ... on Touchpoint { key } } }"
    assert api.data(read, {"id": touchpoint["id"]}, as_="ida") == {"node": None}
    assert api.data(read, {"id": touchpoint["id"]}, as_="integration") == {"node": {"key": "web.faq"}}


def test_malformed_node_ids_resolve_to_null(api):
    query = "query($id: ID!) { node(id: $id) { id } }"
    for node_id in ("Q2FzZTpub3QtYS11dWlk", "VG91Y2hwb2ludDp4"):  # "Case:not-a-uuid", "Touchpoint:x"
        assert api.data(query, {"id": node_id}) == {"node": None}
