"""Query.journeyMap through GraphQL: figures, filters, roles (the figures themselves: test_journey_map.py)."""
from __future__ import annotations

from tests.helpers import BULK, create_customer, make_touchpoint

MAP = """query($key: String!, $filter: JourneyMapFilter) { journeyMap(key: $key, filter: $filter) { key name
  stages { stage customers interactions averageEmotion painPointRate conversionToNext medianHoursToNext
    touchpoints { touchpoint { key } customers interactions averageEmotion painPointRate
      topPainPoints { painPoint count } } } } }"""


def test_journey_map_through_graphql(api):
    make_touchpoint(api, key="web.ad", stage="awareness")
    make_touchpoint(api, key="web.compare", stage="consideration")
    make_touchpoint(api, key="app.compare", channel="APP", stage="consideration")
    ann = create_customer(api, email="ann@example.com")
    bob = create_customer(api, email="bob@example.com")
    rows = [(ann, "web.ad", "2026-06-01T10:00:00Z", 1, []),
            (ann, "web.compare", "2026-06-01T16:00:00Z", -1, ["price", "slow"]),
            (bob, "web.ad", "2026-06-02T10:00:00Z", 2, []),
            (bob, "app.compare", "2026-06-01T09:00:00Z", 0, ["price"])]  # before bob's awareness: no conversion
    result = api.data(BULK, {"inputs": [{"customerId": c["id"], "touchpointKey": k, "occurredAt": at, "emotion": e,
                                         "painPoints": p} for c, k, at, e, p in rows]})["interactionRecordBulk"]
    assert (result["recorded"], result["errors"]) == (4, [])
    journey = api.data(MAP, {"key": "purchase"}, as_="marketer")["journeyMap"]
    assert (journey["key"], [s["stage"] for s in journey["stages"]]) == (
        "purchase", ["awareness", "consideration", "purchase", "onboarding", "usage"])
    awareness, consideration = journey["stages"][:2]
    assert {k: awareness[k] for k in ("customers", "interactions", "averageEmotion", "painPointRate",
                                      "conversionToNext", "medianHoursToNext")} == {
        "customers": 2, "interactions": 2, "averageEmotion": 1.5, "painPointRate": 0.0, "conversionToNext": 0.5,
        "medianHoursToNext": 6.0}
    assert {k: consideration[k] for k in ("customers", "interactions", "averageEmotion", "painPointRate")} == {
        "customers": 2, "interactions": 2, "averageEmotion": -0.5, "painPointRate": 1.0}
    cells = {c["touchpoint"]["key"]: c for c in consideration["touchpoints"]}
    assert cells["web.compare"]["topPainPoints"] == [{"painPoint": "price", "count": 1},
                                                     {"painPoint": "slow", "count": 1}]
    assert cells["app.compare"]["averageEmotion"] == 0.0
    web_only = api.data(MAP, {"key": "purchase", "filter": {"channels": ["WEB"]}})["journeyMap"]
    assert [c["touchpoint"]["key"] for c in web_only["stages"][1]["touchpoints"]] == ["web.compare"]
    assert web_only["stages"][0]["conversionToNext"] == 0.5
    june_2 = api.data(MAP, {"key": "purchase", "filter": {"from": "2026-06-02T00:00:00Z"}})["journeyMap"]
    assert [s["interactions"] for s in june_2["stages"]] == [1, 0, 0, 0, 0]
    assert api.data(MAP, {"key": "nope"}) == {"journeyMap": None}
    for role in ("integration",):
        assert api(MAP, {"key": "purchase"}, as_=role)["errors"][0]["extensions"]["code"] == "FORBIDDEN"
