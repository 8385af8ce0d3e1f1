"""Lifecycle campaigns and multi-step journeys for marketing (docs/campaigns.md).

models: campaigns, runs, entries, step runs; definition: checking what marketing writes; schedule: wall
clock occurrences; planner: scheduled occurrences per timezone; entries: set-based entering; engine:
the steps; services: the lifecycle (schedule, pause, resume, cancel) and orders; preview and results.
"""

TRIGGERS = (
    ("customer.stage_changed", "journeys.campaigns.jobs.on_stage_changed"),
    ("segment.joined", "journeys.campaigns.jobs.on_segment_joined"),
    ("loyalty.tier_changed", "journeys.campaigns.jobs.on_loyalty_tier_changed"),
    ("order.recorded", "journeys.campaigns.jobs.on_order_recorded"),
)


def segment_users(session, segment_id) -> list[str]:
    """Campaigns that have not finished and whose audience or trigger names the segment."""
    from sqlalchemy import select

    from journeys.campaigns.models import Campaign
    from journeys.campaigns.services import EDITABLE
    wanted = str(segment_id)
    return [f"campaign {c.name!r}" for c in session.scalars(select(Campaign).where(Campaign.status.in_(EDITABLE)))
            if (c.audience or {}).get("segmentId") == wanted or (c.trigger or {}).get("segmentId") == wanted]


def init_app(app) -> None:
    """Plug campaigns in: settings, event triggers, the send guard, periodic jobs, the segment-users hook, the demo."""
    from crm import events
    from crm.messages.delivery import SEND_GUARDS
    from crm.queue import PERIODIC_JOBS, ROUND_JOBS
    from crm.segments.services import SEGMENT_USERS
    from journeys.campaigns.settings import DEFAULTS

    for key, value in DEFAULTS.items():
        app.config.setdefault(key, value)
    for topic, job in TRIGGERS:
        events.subscribe(topic, job, queue="default")
    SEND_GUARDS["campaign:"] = _guard
    for job in (("campaigns", "journeys.campaigns.jobs.tick", "OUTBOX_RELAY_INTERVAL"),
                ("campaigns-dormancy", "journeys.campaigns.jobs.enter_dormant", "CAMPAIGNS_DORMANCY_INTERVAL")):
        if job not in PERIODIC_JOBS:
            PERIODIC_JOBS.append(job)
    if "campaigns" not in ROUND_JOBS:
        ROUND_JOBS.insert(ROUND_JOBS.index("messages-dispatch"), "campaigns")
    if segment_users not in SEGMENT_USERS:
        SEGMENT_USERS.append(segment_users)
    from crm.demo.registry import register
    from journeys.campaigns.demo import seed_campaigns
    register("campaigns", seed_campaigns, after=("customers", "rewards", "journeys", "rfm", "segments", "care"))


def _guard(session, message):
    from journeys.campaigns.jobs import still_due
    return still_due(session, message)
