"""Journey map figures (journeys.maps.analytics) and their CSV/SVG exports (journeys.maps.reports).

Every expected number below is worked out by hand from the data set in ``trial``.
"""
from __future__ import annotations

import uuid
import xml.etree.ElementTree as ET
from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest

from crm.api.ids import global_id
from crm.customers.services import create_customer, set_service_tier
from crm.enums import Channel, LifecycleStage, ServiceTier
from crm.errors import Invalid
from journeys.maps.analytics import JourneyFilter, journey_map
from journeys.interactions.services import InteractionRow, record_interactions
from journeys.maps.services import create_touchpoint, save_journey_map

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)
EVER = JourneyFilter(from_=T0 - timedelta(days=365), to=T0 + timedelta(days=365))  # covers every interaction
SVG = "{http://www.w3.org/2000/svg}"


def at(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


def make_map(session, key: str, stages: list[str], touchpoints: list[tuple[str, str, Channel, str]]):
    save_journey_map(session, key=key, name=f"{key.title()} journey", stages=stages)
    for tp_key, name, channel, stage in touchpoints:
        create_touchpoint(session, key=tp_key, name=name, channel=channel, stage=stage, journey_map=key)


def make_customer(session, name: str, **extra):
    return create_customer(session, data={"email": f"{name}@example.com", "firstName": name.title(), **extra},
                           actor="test")


def record(session, rows: list[tuple]) -> None:
    """rows: (customer, touchpoint key, hours after T0, emotion, pain points)."""
    result = record_interactions(session, [
        InteractionRow(customer_id=c.id, touchpoint_key=tp, occurred_at=at(h), emotion=e, pain_points=p)
        for c, tp, h, e, p in rows])
    assert result.errors == []
    assert len(result.recorded) == len(rows)


def build_trial(session):
    """Stages discover -> try -> buy; A and D are VIP, C is a PROSPECT; recorded in three batches so the
    rollups are folded into more than once."""
    make_map(session, "trial", ["discover", "try", "buy"], [
        ("ad", "Social ad", Channel.SOCIAL, "discover"), ("site", "Web site", Channel.WEB, "discover"),
        ("app", "Trial app", Channel.APP, "try"), ("store", "Store visit", Channel.STORE, "try"),
        ("checkout", "Web checkout", Channel.WEB, "buy"), ("shop", "Shop till", Channel.STORE, "buy")])
    a, b, d = make_customer(session, "ann"), make_customer(session, "bob"), make_customer(session, "dan")
    c = make_customer(session, "cat", lifecycleStage="PROSPECT")
    for vip in (a, d):
        set_service_tier(session, customer_id=vip.id, tier=ServiceTier.VIP, reason="test", actor="test")
    record(session, [(a, "ad", 0, -1, ["Slow site"]), (a, "site", 2, 1, None), (a, "app", 26, 2, None),
                     (b, "site", 1, 0, ["slow-site", "confusing"]), (b, "app", 49, -2, ["crash"])])
    record(session, [(b, "store", 100, None, None), (c, "ad", 5, 2, None), (c, "ad", 6, None, ["slow site"]),
                     (c, "store", 3, -1, None), (d, "app", 10, 1, None), (d, "checkout", 30, 2, None)])
    record(session, [(a, "checkout", 50, 1, ["price"])])


@pytest.fixture
def trial(ctx):
    build_trial(ctx)
    return ctx


def figures(report):
    """The report as plain data: (stage, customers, interactions, average emotion, pain-point rate,
    conversion, median hours, [(touchpoint, customers, interactions, average emotion, rate, top pains)])."""
    return [(s.stage, s.customers, s.interactions, s.average_emotion, s.pain_point_rate, s.conversion_to_next,
             s.median_hours_to_next, [(c.touchpoint.key, c.customers, c.interactions, c.average_emotion,
                                       c.pain_point_rate, c.top_pain_points) for c in s.touchpoints])
            for s in report.stages]


EMPTY = {"ad": ("ad", 0, 0, None, 0.0, []), "site": ("site", 0, 0, None, 0.0, []),
         "app": ("app", 0, 0, None, 0.0, []), "store": ("store", 0, 0, None, 0.0, []),
         "checkout": ("checkout", 0, 0, None, 0.0, []), "shop": ("shop", 0, 0, None, 0.0, [])}


def test_all_time_figures(trial):
    report = journey_map(trial, key="trial")
    assert (report.key, report.name) == ("trial", "Trial journey")
    assert figures(report) == [
        # discover: A, B, C; 5 interactions; emotions -1, 1, 0, 2 (C's second none) -> 2/4; pains A, B, C -> 3/5.
        # Entries: A 0, B 1, C 5; into try: A 26, B 49, C 3 (before discover) -> 2 of 3, hours 26 and 48 -> 37.
        ("discover", 3, 5, 0.5, 0.6, 2 / 3, 37.0, [
            ("ad", 2, 3, 0.5, 2 / 3, [("slow-site", 2)]),                         # A -1 slow; C 2, C none slow
            ("site", 2, 2, 0.5, 0.5, [("confusing", 1), ("slow-site", 1)])]),     # A 1; B 0 slow+confusing
        # try: A, B, C, D; 5 interactions; emotions 2, -2, -1, 1 -> 0; pains B's crash -> 1/5.
        # Entries: A 26, B 49, C 3, D 10; into buy: A 50 (24 h), D 30 (20 h) -> 2 of 4, median 22.
        ("try", 4, 5, 0.0, 0.2, 0.5, 22.0, [
            ("app", 3, 3, 1 / 3, 1 / 3, [("crash", 1)]),                           # A 2; B -2 crash; D 1
            ("store", 2, 2, -1.0, 0.0, [])]),                                      # B none; C -1
        # buy: A 1 price, D 2; the last stage has no conversion.
        ("buy", 2, 2, 1.5, 0.5, None, None, [
            ("checkout", 2, 2, 1.5, 0.5, [("price", 1)]), EMPTY["shop"]]),
    ]


def test_period_is_half_open(trial):
    # [T0, T0 + 26 h) leaves out A's app visit at exactly 26 h, and everything after.
    report = journey_map(trial, key="trial", flt=JourneyFilter(from_=T0, to=at(26)))
    assert figures(report) == [
        # discover as all time; into try within the period: C 3 (before its entry 5) and D (not in discover).
        ("discover", 3, 5, 0.5, 0.6, 0.0, None, [
            ("ad", 2, 3, 0.5, 2 / 3, [("slow-site", 2)]),
            ("site", 2, 2, 0.5, 0.5, [("confusing", 1), ("slow-site", 1)])]),
        # try: C store 3 (-1), D app 10 (1); nobody buys in the period.
        ("try", 2, 2, 0.0, 0.0, 0.0, None, [("app", 1, 1, 1.0, 0.0, []), ("store", 1, 1, -1.0, 0.0, [])]),
        ("buy", 0, 0, None, 0.0, None, None, [EMPTY["checkout"], EMPTY["shop"]]),
    ]
    # One more hour takes A's app visit in: A converts after 26 h, 1 of 3.
    report = journey_map(trial, key="trial", flt=JourneyFilter(from_=T0, to=at(27)))
    discover, try_, _ = figures(report)
    assert discover[1:7] == (3, 5, 0.5, 0.6, 1 / 3, 26.0)
    # try: A 26 (2), C 3 (-1), D 10 (1) -> 2/3.
    assert try_[:7] == ("try", 3, 3, 2 / 3, 0.0, 0.0, None)


def test_period_from_only(trial):
    # From 27 h on: B app 49 (-2, crash) and store 100 (none); D checkout 30 (2); A checkout 50 (1, price).
    report = journey_map(trial, key="trial", flt=JourneyFilter(from_=at(27)))
    assert figures(report) == [
        ("discover", 0, 0, None, 0.0, None, None, [EMPTY["ad"], EMPTY["site"]]),
        ("try", 1, 2, -2.0, 0.5, 0.0, None, [("app", 1, 1, -2.0, 1.0, [("crash", 1)]),
                                              ("store", 1, 1, None, 0.0, [])]),
        ("buy", 2, 2, 1.5, 0.5, None, None, [("checkout", 2, 2, 1.5, 0.5, [("price", 1)]), EMPTY["shop"]]),
    ]


def test_service_tier_filter(trial):
    report = journey_map(trial, key="trial", flt=JourneyFilter(service_tiers=[ServiceTier.VIP]))  # A and D
    assert figures(report) == [
        # A: ad -1 slow, site 1; into try after 26 h.
        ("discover", 1, 2, 0.0, 0.5, 1.0, 26.0, [("ad", 1, 1, -1.0, 1.0, [("slow-site", 1)]),
                                                 ("site", 1, 1, 1.0, 0.0, [])]),
        # A app 2, D app 1; both buy, after 24 h and 20 h.
        ("try", 2, 2, 1.5, 0.0, 1.0, 22.0, [("app", 2, 2, 1.5, 0.0, []), EMPTY["store"]]),
        ("buy", 2, 2, 1.5, 0.5, None, None, [("checkout", 2, 2, 1.5, 0.5, [("price", 1)]), EMPTY["shop"]]),
    ]


def test_lifecycle_stage_filter(trial):
    report = journey_map(trial, key="trial", flt=JourneyFilter(lifecycle_stages=[LifecycleStage.PROSPECT]))  # C
    assert figures(report) == [
        # C: ad 5 (2), ad 6 (none, slow); store at 3 is before the entry at 5: no conversion.
        ("discover", 1, 2, 2.0, 0.5, 0.0, None, [("ad", 1, 2, 2.0, 0.5, [("slow-site", 1)]), EMPTY["site"]]),
        ("try", 1, 1, -1.0, 0.0, 0.0, None, [EMPTY["app"], ("store", 1, 1, -1.0, 0.0, [])]),
        ("buy", 0, 0, None, 0.0, None, None, [EMPTY["checkout"], EMPTY["shop"]]),
    ]


def test_channel_filter(trial):
    report = journey_map(trial, key="trial", flt=JourneyFilter(channels=[Channel.APP, Channel.WEB]))
    assert figures(report) == [
        # site only: A 2 (1), B 1 (0, slow+confusing); into try via the app: A 26 (24 h), B 49 (48 h).
        ("discover", 2, 2, 0.5, 0.5, 1.0, 36.0, [("site", 2, 2, 0.5, 0.5, [("confusing", 1), ("slow-site", 1)])]),
        # app only: A 26, B 49, D 10; into buy: A 24 h, D 20 h -> 2 of 3.
        ("try", 3, 3, 1 / 3, 1 / 3, 2 / 3, 22.0, [("app", 3, 3, 1 / 3, 1 / 3, [("crash", 1)])]),
        ("buy", 2, 2, 1.5, 0.5, None, None, [("checkout", 2, 2, 1.5, 0.5, [("price", 1)])]),
    ]


def test_segment_filter_selects_nobody_until_segments_exist(trial):
    report = journey_map(trial, key="trial", flt=JourneyFilter(segment_id=uuid.uuid4()))
    assert figures(report) == [
        ("discover", 0, 0, None, 0.0, None, None, [EMPTY["ad"], EMPTY["site"]]),
        ("try", 0, 0, None, 0.0, None, None, [EMPTY["app"], EMPTY["store"]]),
        ("buy", 0, 0, None, 0.0, None, None, [EMPTY["checkout"], EMPTY["shop"]]),
    ]


@pytest.mark.parametrize("flt, interactions", [
    (JourneyFilter(), 12), (JourneyFilter(service_tiers=[ServiceTier.VIP]), 6),
    (JourneyFilter(lifecycle_stages=[LifecycleStage.PROSPECT, LifecycleStage.LEAD]), 12),
    (JourneyFilter(channels=[Channel.STORE, Channel.WEB]), 6), (JourneyFilter(segment_id=uuid.uuid4()), 0),
], ids=["none", "tier", "lifecycle", "channels", "segment"])
def test_rollup_path_equals_period_path(trial, flt, interactions):
    all_time = journey_map(trial, key="trial", flt=flt)
    in_period = journey_map(trial, key="trial", flt=replace(flt, from_=EVER.from_, to=EVER.to))
    assert all_time == in_period
    assert sum(s.interactions for s in all_time.stages) == interactions


def test_top_pain_points_at_most_five_most_frequent_first_ties_by_name(ctx):
    make_map(ctx, "tags", ["only"], [("desk", "Desk", Channel.PHONE, "only")])
    eve = make_customer(ctx, "eve")
    # zeta 2, beta 2, then ab, a-z, delta, gamma once each: '-' sorts before 'b' byte-wise.
    record(ctx, [(eve, "desk", 1, None, ["zeta", "beta", "ab"]), (eve, "desk", 2, None, ["zeta", "beta", "a-z"]),
                 (eve, "desk", 3, None, ["gamma", "delta"]), (eve, "desk", 4, None, None)])
    expected = [("beta", 2), ("zeta", 2), ("a-z", 1), ("ab", 1), ("delta", 1)]
    for flt in (JourneyFilter(), EVER):
        cell = journey_map(ctx, key="tags", flt=flt).stages[0].touchpoints[0]
        assert (cell.interactions, cell.pain_point_rate, cell.top_pain_points) == (4, 0.75, expected)


def test_median_of_an_odd_count_and_fractional_hours(ctx):
    make_map(ctx, "quick", ["first", "second"], [("one", "One", Channel.EMAIL, "first"),
                                                ("two", "Two", Channel.EMAIL, "second")])
    people = [make_customer(ctx, f"p{i}") for i in range(4)]
    # Hours to the second stage: 1.5, 5.25, 2 (median 2); the fourth never gets there.
    record(ctx, [(people[0], "one", 0, None, None), (people[0], "two", 1.5, None, None),
                 (people[1], "one", 1, None, None), (people[1], "two", 6.25, None, None),
                 (people[2], "one", 2, None, None), (people[2], "two", 4, None, None),
                 (people[3], "one", 3, None, None)])
    for flt in (JourneyFilter(), EVER):
        first, second = journey_map(ctx, key="quick", flt=flt).stages
        assert (first.customers, first.conversion_to_next, first.median_hours_to_next) == (4, 0.75, 2.0)
        assert (second.customers, second.conversion_to_next, second.median_hours_to_next) == (3, None, None)
    # Only the 1.5 and 5.25 hour customers are VIP: an even count, (1.5 + 5.25) / 2.
    for person in people[:2]:
        set_service_tier(ctx, customer_id=person.id, tier=ServiceTier.VIP, reason="test", actor="test")
    first = journey_map(ctx, key="quick", flt=JourneyFilter(service_tiers=[ServiceTier.VIP])).stages[0]
    assert (first.customers, first.conversion_to_next, first.median_hours_to_next) == (2, 1.0, 3.375)
    # Entering the next stage at the very time of entering this one converts, after 0 hours: 0, 1.5, 2, 5.25.
    record(ctx, [(people[3], "two", 3, None, None)])
    for flt in (JourneyFilter(), EVER):
        first = journey_map(ctx, key="quick", flt=flt).stages[0]
        assert (first.customers, first.conversion_to_next, first.median_hours_to_next) == (4, 1.0, 1.75)


def test_a_merged_customer_counts_as_the_one_merged_into(ctx):
    from crm.customers.merge import merge_customers
    make_map(ctx, "quick", ["first", "second"], [("one", "One", Channel.EMAIL, "first"),
                                                ("two", "Two", Channel.EMAIL, "second")])
    ann, dup = make_customer(ctx, "ann"), make_customer(ctx, "dup")
    record(ctx, [(ann, "one", 0, None, None), (dup, "one", 1, None, None), (dup, "two", 5, None, None)])
    first = journey_map(ctx, key="quick").stages[0]
    assert (first.customers, first.interactions, first.conversion_to_next, first.median_hours_to_next) == \
        (2, 2, 0.5, 4.0)
    merge_customers(ctx, primary_id=ann.id, duplicate_id=dup.id, actor="test")
    # Ann now entered "first" at 0 h and "second" at 5 h; nobody else is left.
    for flt in (JourneyFilter(), EVER, JourneyFilter(service_tiers=[ServiceTier.STANDARD]),
                replace(EVER, service_tiers=[ServiceTier.STANDARD])):
        first, second = journey_map(ctx, key="quick", flt=flt).stages
        assert (first.customers, first.interactions, first.conversion_to_next, first.median_hours_to_next) == \
            (1, 2, 1.0, 5.0)
        assert (second.customers, second.interactions) == (1, 1)


def test_map_without_data_and_unknown_map(ctx):
    assert journey_map(ctx, key="nope") is None
    report = journey_map(ctx, key="after-sales")
    assert figures(report) == [(stage, 0, 0, None, 0.0, None, None, [])
                               for stage in ("reception", "diagnosis", "solution", "follow-up")]


def test_bad_periods_are_invalid(ctx):
    with pytest.raises(Invalid) as raised:
        journey_map(ctx, key="purchase", flt=JourneyFilter(from_=T0, to=T0))
    assert (raised.value.field, raised.value.message) == ("to", "`to` must be after `from`.")
    with pytest.raises(Invalid) as raised:
        journey_map(ctx, key="purchase", flt=JourneyFilter(from_=datetime(2026, 1, 1)))
    assert raised.value.field == "from"


def test_fixed_number_of_statements_whatever_the_data(trial, count_statements):
    def statements(flt):
        trial.expunge_all()  # so the map is read, not served from the identity map
        with count_statements() as seen:
            journey_map(trial, key="trial", flt=flt)
        return len(seen)

    # The map, its touchpoints, the figures; on PostgreSQL also SET LOCAL jit = off.
    expected = 4 if trial.get_bind().dialect.name == "postgresql" else 3
    before = (statements(JourneyFilter()), statements(EVER))
    extra = [make_customer(trial, f"x{i}") for i in range(5)]
    record(trial, [(c, tp, h, 1, ["x"]) for c in extra for tp, h in (("ad", 1), ("app", 2), ("checkout", 3))])
    assert before == (statements(JourneyFilter()), statements(EVER)) == (expected, expected)


# --- the HTTP reports --------------------------------------------------------------------------------

@pytest.fixture
def tiny(app):
    """Stages one -> two. X: t1 at 0 h (2, slow) and 1 h (-1); t2 at 3 h (no emotion)."""
    from crm.sessions import get_session
    with app.app_context():
        session = get_session()
        make_map(session, "tiny", ["one", "two"], [("t1", 'Web, "home" <page> & more', Channel.WEB, "one"),
                                                  ("t2", "=cmd", Channel.APP, "two")])
        x = make_customer(session, "xena")
        record(session, [(x, "t1", 0, 2, ["slow"]), (x, "t1", 1, -1, None), (x, "t2", 3, None, None)])


def get(client, tokens, path, as_="support_agent"):
    headers = {"Authorization": f"Bearer {tokens[as_]}"} if as_ else {}
    return client.get(path, headers=headers)


TINY_CSV = (
    "stage,touchpoint_key,touchpoint_name,channel,customers,interactions,average_emotion,pain_point_rate,"
    "conversion_to_next,median_hours_to_next,top_pain_points\r\n"
    "one,,,,1,2,0.5,0.5,1,3,\r\n"
    'one,t1,"Web, ""home"" <page> & more",WEB,1,2,0.5,0.5,,,slow:1\r\n'
    "two,,,,1,1,,0,,,\r\n"
    "two,t2,'=cmd,APP,1,1,,0,,,\r\n")


@pytest.mark.parametrize("role", ["admin", "account_manager", "support_agent", "marketer"])
def test_csv_report(client, tokens, tiny, role):
    response = get(client, tokens, "/reports/journey-map/tiny.csv", as_=role)
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"] == 'attachment; filename="journey-map-tiny.csv"'
    assert response.get_data(as_text=True) == TINY_CSV


def test_csv_report_filters(client, tokens, tiny):
    # Only t1's first hour: [0 h, 1 h); the "+" of the offset arrives as a space when not URL-encoded.
    response = get(client, tokens, "/reports/journey-map/tiny.csv?from=2026-03-02T10:00:00+01:00"
                                   "&to=2026-03-02T10:00:00%2B00:00")
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.get_data(as_text=True).splitlines()[1:] == [
        "one,,,,1,1,2,1,0,,", 'one,t1,"Web, ""home"" <page> & more",WEB,1,1,2,1,,,slow:1',
        "two,,,,0,0,,0,,,", "two,t2,'=cmd,APP,0,0,,0,,,"]
    response = get(client, tokens, "/reports/journey-map/tiny.csv?channels=APP,EMAIL&lifecycleStages=LEAD")
    assert response.get_data(as_text=True).splitlines()[1:] == [
        "one,,,,0,0,,0,,,", "two,,,,1,1,,0,,,", "two,t2,'=cmd,APP,1,1,,0,,,"]
    response = get(client, tokens, "/reports/journey-map/tiny.csv?serviceTiers=VIP,PREFERRED")
    assert response.get_data(as_text=True).splitlines()[1:] == [
        "one,,,,0,0,,0,,,", 'one,t1,"Web, ""home"" <page> & more",WEB,0,0,,0,,,',
        "two,,,,0,0,,0,,,", "two,t2,'=cmd,APP,0,0,,0,,,"]
    response = get(client, tokens, f"/reports/journey-map/tiny.csv?segmentId={global_id('Segment', uuid.uuid4())}")
    assert response.status_code == 200
    assert response.get_data(as_text=True).splitlines()[1] == "one,,,,0,0,,0,,,"


def test_svg_report(client, tokens, tiny):
    response = get(client, tokens, "/reports/journey-map/tiny.svg")
    assert response.status_code == 200
    assert response.mimetype == "image/svg+xml"
    root = ET.fromstring(response.get_data())
    assert root.tag == f"{SVG}svg"
    texts = [t.text for t in root.iter(f"{SVG}text")]
    assert texts[:9] == [
        "Tiny journey (tiny)",
        "one", "1 customers, 2 interactions", "to next: 100.0%, median 3.0 h",
        'Web, "home" <page> & more', "WEB, emotion +0.50", "2 interactions, 1 customers", "pain points 50.0%",
        "two"]
    assert texts[9:15] == ["1 customers, 1 interactions", "last stage",
                           "=cmd", "APP, no emotion", "1 interactions, 1 customers", "pain points 0.0%"]
    assert texts[15:] == ["Average emotion", "-2", "-1", "0", "+1", "+2", "none"]
    cells = [g for g in root.iter(f"{SVG}g")]
    assert [g.find(f"{SVG}title").text for g in cells] == [
        'Web, "home" <page> & more [t1, WEB]; top pain points: slow (1)', "=cmd [t2, APP]; top pain points: none"]
    # +0.5 is a quarter of the way from grey (189,189,189) to green (26,152,80); none is grey.
    assert [g.find(f"{SVG}rect").get("fill") for g in cells] == ["#94b4a2", "#bdbdbd"]
    raw = response.get_data(as_text=True)
    assert "&lt;page&gt; &amp; more" in raw and "<page>" not in raw


def test_reports_need_a_token(client, tokens, tiny):
    for path in ("/reports/journey-map/tiny.csv", "/reports/journey-map/tiny.svg"):
        for headers in ({}, {"Authorization": "Bearer crm_nope"}, {"Authorization": "Basic abc"}):
            response = client.get(path, headers=headers)
            assert response.status_code == 401
            assert response.get_json() == {"errors": [{
                "message": "Authentication required: send `Authorization: Bearer <token>` with a valid token.",
                "extensions": {"code": "UNAUTHENTICATED"}}]}


def test_reports_are_for_staff(client, tokens, tiny, portal_token, app):
    response = get(client, tokens, "/reports/journey-map/tiny.csv", as_="integration")
    assert response.status_code == 403
    assert response.get_json() == {"errors": [{
        "message": "The INTEGRATION role may not read reports; one of ADMIN, ACCOUNT_MANAGER, SUPPORT_AGENT, "
                   "MARKETER may.", "extensions": {"code": "FORBIDDEN"}}]}
    from crm.customers.models import Customer
    from crm.sessions import get_session
    with app.app_context():
        customer_id = get_session().query(Customer.id).scalar()
    response = client.get("/reports/journey-map/tiny.svg",
                          headers={"Authorization": f"Bearer {portal_token(customer_id)}"})
    assert response.status_code == 403
    assert response.get_json()["errors"][0]["extensions"] == {"code": "FORBIDDEN"}


def test_unknown_map_is_404(client, tokens):
    for path in ("/reports/journey-map/nope.csv", "/reports/journey-map/nope.svg"):
        response = get(client, tokens, path)
        assert response.status_code == 404
        assert response.get_json() == {"errors": [{"message": "No journey map has the key 'nope'.",
                                                   "extensions": {"code": "NOT_FOUND"}}]}


@pytest.mark.parametrize("query, field, message", [
    ("from=yesterday", "from", "`from` is not an ISO-8601 date and time: 'yesterday'."),
    ("to=2026-03-02T10:00:00", "to", "`to` has no offset: add one, e.g. 2026-06-01T00:00:00Z or +02:00."),
    ("from=2026-03-02T10:00:00Z&to=2026-03-01T10:00:00Z", "to", "`to` must be after `from`."),
    ("serviceTiers=VIP,GOLD", "serviceTiers",
     "`serviceTiers` has the unknown value 'GOLD'; use PREFERRED, STANDARD, VIP."),
    ("channels=web", "channels", "`channels` has the unknown value 'web'; use APP, CHAT, EMAIL, PHONE, PUSH, "
                                 "SELF_SERVICE, SERVICE_CENTER, SMS, SOCIAL, STORE, WEB."),
    ("lifecycleStages=LEAD,,SLEEPY", "lifecycleStages",
     "`lifecycleStages` has the unknown value 'SLEEPY'; use ADVOCATE, AT_RISK, CHURNED, DEVELOPING, LEAD, LOYAL, "
     "NEW, PROSPECT."),
    ("segmentId=" + global_id("Customer", uuid.UUID(int=1)), "segmentId", "Expected the id of a Segment."),
])
def test_bad_filters_are_400(client, tokens, query, field, message):
    response = get(client, tokens, f"/reports/journey-map/purchase.csv?{query}")
    assert response.status_code == 400
    assert response.get_json() == {"errors": [{"message": message, "extensions": {"code": "INVALID", "field": field}}]}
