"""Messages and the care engine: every message a row first, sent once by the workers, at the right
local time, to people who agreed to it."""

# (topic, job) of the care triggers the customer core knows; journeys and loyalty subscribe their own.
CARE_TRIGGERS = (
    ("customer.created", "crm.messages.jobs.on_customer_created"),
    ("customer.stage_changed", "crm.messages.jobs.on_stage_changed"),
    ("customer.tier_changed", "crm.messages.jobs.on_service_tier_changed"),
    ("order.recorded", "crm.messages.jobs.on_order_recorded"),
)


def init_app(app) -> None:
    from crm import events
    from crm.customers.merge import MERGE_HOOKS
    from crm.messages.cli import messages_group, periodic_group
    from crm.messages.services import move_messages
    from crm.messages.settings import DEFAULTS

    for key, value in DEFAULTS.items():
        app.config.setdefault(key, value)
    if move_messages not in MERGE_HOOKS:
        MERGE_HOOKS.append(move_messages)
    from crm.api.extensions import register_fields
    register_fields("Customer", "crm.messages", "crm.messages.gql.types.CustomerMessages")
    for topic, job in CARE_TRIGGERS:
        events.subscribe(topic, job, queue="messages")
    app.cli.add_command(messages_group)
    app.cli.add_command(periodic_group)
    from crm.messages import pages   # the unsubscribe page (crm/pages)
    pages.init_app(app)
    from crm.demo.registry import register
    from crm.messages.demo import seed_care
    register("care", seed_care, after=("customers", "rewards", "journeys", "rfm", "segments"))
