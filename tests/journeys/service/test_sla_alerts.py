"""Proactive SLA alerts: at risk and breached, each raised once, and none for stopped clocks."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from sqlalchemy import select

from crm.customers import services as customer_services
from crm.enums import Channel, ServiceTier
from crm.outbox import OutboxEntry
from journeys.service import alerts, cases
from journeys.service.models import CaseKind

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=timezone.utc)
ALERTS = "tests.jobs_for_tests.record_event"


def raised(session) -> list[tuple]:
    rows = session.scalars(select(OutboxEntry).where(OutboxEntry.func == ALERTS).order_by(OutboxEntry.id)).all()
    return [(r.args[0]["topic"], r.args[0]["clock"]) for r in rows]


def vip_case(session, now=T0):
    customer = customer_services.create_customer(session, data={"email": "vip@example.com"}, actor="test")
    customer_services.set_service_tier(session, customer_id=customer.id, tier=ServiceTier.VIP, reason="key account",
                                       actor="test")
    return cases.open_case(session, customer_id=customer.id, kind=CaseKind.COMPLAINT, channel=Channel.PHONE,
                           subject="Outage", description=None, actor="test", now=now)


def test_alerts_come_once_each_and_stop_with_the_clock(ctx, subscriptions):
    subscriptions("case.sla_at_risk", ALERTS)
    subscriptions("case.sla_breached", ALERTS)
    case = vip_case(ctx)  # VIP: first response 5 min (at risk at 4), resolution 4 h (at risk at 3 h 12)
    assert case.sla_next_check_at == T0 + timedelta(minutes=4)
    assert alerts.sweep_sla(ctx, now=T0 + timedelta(minutes=3)) == 0
    assert alerts.sweep_sla(ctx, now=T0 + timedelta(minutes=4)) == 1
    assert alerts.sweep_sla(ctx, now=T0 + timedelta(minutes=4, seconds=30)) == 0
    assert raised(ctx) == [("case.sla_at_risk", "firstResponse")]
    assert alerts.sweep_sla(ctx, now=T0 + timedelta(minutes=6)) == 1
    assert raised(ctx)[-1] == ("case.sla_breached", "firstResponse")
    cases.respond(ctx, case_id=case.id, message="on it", actor="agent@example.com", now=T0 + timedelta(minutes=7))
    ctx.refresh(case)
    assert case.sla_next_check_at == T0 + timedelta(hours=3, minutes=12)
    cases.transition(ctx, case_id=case.id, to_status="DIAGNOSING", note=None, actor="a", now=T0 + timedelta(hours=1))
    cases.transition(ctx, case_id=case.id, to_status="SOLUTION_PROPOSED", note=None, actor="a",
                     now=T0 + timedelta(hours=2))
    cases.resolve(ctx, case_id=case.id, resolution="fixed", root_cause="config", actor="a",
                  now=T0 + timedelta(hours=3))
    ctx.refresh(case)
    assert case.sla_next_check_at is None
    assert alerts.sweep_sla(ctx, now=T0 + timedelta(days=1)) == 0
    assert raised(ctx) == [("case.sla_at_risk", "firstResponse"), ("case.sla_breached", "firstResponse")]


def test_a_late_sweep_reports_the_breach_not_the_risk_it_missed(ctx, subscriptions):
    subscriptions("case.sla_at_risk", ALERTS)
    subscriptions("case.sla_breached", ALERTS)
    vip_case(ctx)
    assert alerts.sweep_sla(ctx, now=T0 + timedelta(hours=5)) == 2
    assert sorted(raised(ctx)) == [("case.sla_breached", "firstResponse"), ("case.sla_breached", "resolution")]
    assert alerts.sweep_sla(ctx, now=T0 + timedelta(days=3)) == 0
