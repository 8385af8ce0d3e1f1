"""Loyalty: an append-only points ledger, membership tiers and rewards."""


def init_app(app) -> None:
    """Plug loyalty into the customer core: settings, order and merge hooks, filters, segment fields, periodic jobs,
    the demo."""
    from crm import events
    from crm.customers.merge import MERGE_HOOKS
    from crm.customers.orders import ORDER_CLOSED_HOOKS, ORDER_RECORDED_HOOKS
    from crm.customers.selectors import FILTER_PROVIDERS
    from crm.queue import PERIODIC_JOBS
    from loyalty.earning import earn_for_order, reverse_for_order
    from loyalty.merge import move_loyalty
    from loyalty.selectors import loyalty_tier_filter
    from loyalty.settings import DEFAULTS

    for key, value in DEFAULTS.items():
        app.config.setdefault(key, value)
    for registry, hook in ((ORDER_RECORDED_HOOKS, earn_for_order), (ORDER_CLOSED_HOOKS, reverse_for_order),
                           (MERGE_HOOKS, move_loyalty)):
        if hook not in registry:
            registry.append(hook)
    FILTER_PROVIDERS["loyalty_tier"] = loyalty_tier_filter
    from crm.segments.fields import register_field_provider
    from loyalty.segment_fields import loyalty_fields
    register_field_provider("loyalty", loyalty_fields)
    from crm.api.extensions import register_fields
    register_fields("Customer", "loyalty", "loyalty.gql.types.CustomerLoyalty")
    events.subscribe("case.compensation_granted", "loyalty.jobs.credit_case_compensation")  # idempotent
    events.subscribe("loyalty.tier_changed", "loyalty.care.on_tier_changed", queue="messages")
    events.subscribe("customer.birthday", "loyalty.care.on_birthday")  # idempotent: the key holds the year
    events.subscribe("campaign.points_granted", "loyalty.jobs.grant_campaign_points")  # idempotent: its key
    from crm.messages.templates import CONTEXT_PROVIDERS
    from loyalty.care import template_context
    if template_context not in CONTEXT_PROVIDERS:
        CONTEXT_PROVIDERS.append(template_context)
    for job in (("loyalty-expiry", "loyalty.care.expire_and_remind", "LOYALTY_REVIEW_INTERVAL"),
                ("loyalty-tier-review", "loyalty.jobs.review_tiers", "LOYALTY_REVIEW_INTERVAL"),
                ("loyalty-verify", "loyalty.jobs.verify_ledger", "LOYALTY_REVIEW_INTERVAL")):
        if job not in PERIODIC_JOBS:
            PERIODIC_JOBS.append(job)
    from loyalty.cli import loyalty_group
    app.cli.add_command(loyalty_group)
    from crm.demo.registry import register, register_time_hook
    from loyalty.demo import keep_up, seed_rewards
    register("rewards", seed_rewards, after=("customers",))
    register_time_hook(keep_up)
