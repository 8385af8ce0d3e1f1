"""Segments: a rule language compiled to SQL, stored membership kept current by events, tiers from rules."""

# Every event after which a customer's rules may answer differently. Coalesced per customer: one
# transaction that records an order, earns points and moves stage and tier queues one re-evaluation.
REEVALUATE_ON = (
    "customer.created", "customer.updated", "customer.consent_changed", "customer.stage_changed",
    "customer.tier_changed", "customer.manager_assigned", "customer.merged",
    "order.recorded", "order.closed",
    "interaction.recorded", "survey.submitted",
    "case.opened", "case.status_changed", "case.resolved", "case.closed",
    "loyalty.points_changed", "loyalty.tier_changed",
)

DEFAULTS = {
    "SEGMENTS_REFRESH_INTERVAL": 900,     # seconds between full refreshes (time-based conditions)
    "SCORES_REFRESH_INTERVAL": 3600,      # seconds between lifetime value / churn risk refreshes
    "CHURN_INACTIVE_DAYS": 365,
    "CHURN_HEALTHY_ORDERS": 4,
    "LTV_HORIZON_DAYS": 365,
}


def init_app(app) -> None:
    from crm import events
    from crm.customers.selectors import FILTER_PROVIDERS
    from crm.queue import PERIODIC_JOBS
    from crm.segments.selectors import segment_filter

    for key, value in DEFAULTS.items():
        app.config.setdefault(key, value)
    for topic in REEVALUATE_ON:
        events.subscribe(topic, "crm.segments.jobs.reevaluate_customer", queue="segments", coalesce_on="customerId")
    for topic in ("segment.joined", "segment.left"):  # segments and tier rules built on other segments
        events.subscribe(topic, "crm.segments.jobs.reevaluate_readers", queue="segments")
    FILTER_PROVIDERS["segment_id"] = segment_filter
    from crm.api.extensions import register_fields
    register_fields("Customer", "crm.segments", "crm.segments.gql.types.CustomerSegments")
    from crm.segments.cli import segments_group
    app.cli.add_command(segments_group)
    from crm.demo.registry import register
    from crm.segments.demo import seed_segments
    register("segments", seed_segments, after=("customers", "rewards", "journeys", "rfm"))
    for job in (("segments-refresh", "crm.segments.jobs.refresh_segments", "SEGMENTS_REFRESH_INTERVAL"),
                ("customer-scores", "crm.segments.jobs.refresh_scores", "SCORES_REFRESH_INTERVAL")):
        if job not in PERIODIC_JOBS:
            PERIODIC_JOBS.append(job)
