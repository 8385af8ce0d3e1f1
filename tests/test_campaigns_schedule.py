"""Scheduled campaigns with time controlled: local time across timezones and DST, recurring schedules,
rescheduling, two schedulers."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from tests.campaign_helpers import campaign_messages, create, entries, run, start
from tests.helpers import consenting_customer, raw_id

UTC = timezone.utc


def t(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def test_nine_local_reaches_tokyo_before_london_each_at_their_nine(api, app):
    tokyo = consenting_customer(api, email="ken@example.com", firstName="Ken", timezone="Asia/Tokyo")
    london = consenting_customer(api, email="amy@example.com", firstName="Amy", timezone="Europe/London")
    campaign = create(api, schedule={"kind": "ONCE", "localDate": "2026-12-01", "localTime": "09:00"})
    start(app, campaign["id"], t("2026-11-30T00:00:00"))

    assert run(app, t("2026-11-30T23:59:00"))["entered"] == 0      # 08:59 in Tokyo
    assert run(app, t("2026-12-01T00:00:00"))["entered"] == 1      # 09:00 in Tokyo
    [sent] = campaign_messages(app, campaign["id"])
    assert (sent.customer_id, sent.scheduled_for, sent.status.value) == (
        raw_id(tokyo["id"]), t("2026-12-01T00:00:00"), "SCHEDULED")
    assert run(app, t("2026-12-01T08:59:00"))["entered"] == 0
    assert run(app, t("2026-12-01T09:00:30"))["entered"] == 1      # 09:00 in London (GMT)
    sent = campaign_messages(app, campaign["id"])
    assert [(m.customer_id, m.scheduled_for) for m in sent] == [
        (raw_id(tokyo["id"]), t("2026-12-01T00:00:00")), (raw_id(london["id"]), t("2026-12-01T09:00:30"))]
    assert run(app, t("2026-12-01T12:00:00")) == {"entered": 0, "advanced": 0, "completed": 0}
