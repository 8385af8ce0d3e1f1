"""The demo's segments: customer scores, three dynamic segments and a static "Key accounts".

Marketing sets the dynamic segments up today, so their members join today, when the segment first
judged them. "Key accounts" was kept by hand from when the first managed VIP became one: each
managed VIP is added a day after reaching VIP, the clock moved there (``crm.demo.story``).
"""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from crm.customers import scores
from crm.customers.models import Customer, ServiceTierChange
from crm.demo.registry import DemoRun
from crm.demo.story import story_clock
from crm.enums import ServiceTier
from crm.segments import services
from crm.segments.models import Segment, SegmentKind

DEMO_SEGMENTS = (
    ("Buyers at risk", "Customers who bought and whose churn risk is 0.4 or more: a win-back offer.",
     {"all": [{"field": "orders.count", "op": "gte", "value": 1},
              {"field": "metrics.churnRisk", "op": "gte", "value": 0.4}]}),
    ("Recent detractors", "An NPS of 6 or less or a CSAT of 2 or less in the last 90 days.",
     {"any": [{"field": "surveys.lastNps", "op": "lte", "value": 6, "within": "P90D"},
              {"field": "surveys.lastCsat", "op": "lte", "value": 2, "within": "P90D"}]}),
    ("Engaged email subscribers", "EMAIL opt-in and two or more orders in the last year, outside the US.",
     {"all": [{"field": "consents.EMAIL", "op": "eq", "value": True},
              {"field": "orders.count", "op": "gte", "value": 2, "within": "P365D"},
              {"not": {"field": "country", "op": "eq", "value": "US"}}]}),
)
KEY_ACCOUNTS = 12


def seed_segments(run: DemoRun) -> None:
    session = run.session
    if session.scalar(select(Segment.id).limit(1)) is not None:
        return
    scores.refresh_all(session, run.config)
    for name, description, rule in DEMO_SEGMENTS:
        services.create_segment(session, name=name, description=description, kind=SegmentKind.DYNAMIC, rule=rule,
                                actor=run.actor)
    seed_key_accounts(run)


def seed_key_accounts(run: DemoRun) -> None:
    """Managed VIPs (the first twelve customers), each added the day after they reached VIP."""
    session = run.session
    became_vip = (select(ServiceTierChange.customer_id, func.max(ServiceTierChange.at).label("at"))
                  .where(ServiceTierChange.to_tier == ServiceTier.VIP)
                  .group_by(ServiceTierChange.customer_id).subquery())
    managed = session.execute(select(Customer.id, became_vip.c.at).join(became_vip,
                                                                        became_vip.c.customer_id == Customer.id)
                              .where(Customer.service_tier == ServiceTier.VIP,
                                     Customer.account_manager_id.is_not(None))
                              .order_by(Customer.created_at).limit(KEY_ACCOUNTS)).all()
    session.commit()  # end the read transaction before the services write
    joins = sorted((at + timedelta(days=1), customer_id) for customer_id, at in managed)
    with story_clock() as story:
        story.at(joins[0][0] - timedelta(hours=1) if joins else run.present)
        key = services.create_segment(session, name="Key accounts", kind=SegmentKind.STATIC, actor=run.actor,
                                      description="VIPs with a dedicated account manager.")
        for at, customer_id in joins:
            story.at(at)
            services.add_customers(session, segment_id=key.id, customer_ids=[customer_id], actor=run.actor)
