"""Journeys: touchpoint maps, the service process and the voice of the customer.

maps: journey maps, touchpoints, their rollups and reports; interactions: recording and importing what
customers did; service: cases, SLA, alerts, metrics, surveys and care; campaigns: lifecycle campaigns
(initialised from crm/__init__.py, like the other domains). merge.py, cli.py and demo.py span the subpackages.
"""


def init_app(app) -> None:
    """Plug journeys into the customer core: settings, merge hook, segment fields, Customer fields, the SLA sweep,
    CLI, report routes, the survey page and the demo."""
    from crm.customers.merge import MERGE_HOOKS
    from crm.customers.scores import NEGATIVE_SIGNAL_PROVIDERS
    from crm.queue import PERIODIC_JOBS
    from journeys.merge import move_journeys
    from journeys.settings import DEFAULTS

    for key, value in DEFAULTS.items():
        app.config.setdefault(key, value)
    if move_journeys not in MERGE_HOOKS:
        MERGE_HOOKS.append(move_journeys)
    from journeys.service.signals import negative_signals
    if negative_signals not in NEGATIVE_SIGNAL_PROVIDERS:
        NEGATIVE_SIGNAL_PROVIDERS.append(negative_signals)
    from crm.segments.fields import register_field_provider
    from journeys.interactions.segment_fields import interaction_fields
    from journeys.service.segment_fields import service_fields
    register_field_provider("journeys.interactions", interaction_fields)
    register_field_provider("journeys.service", service_fields)
    from crm.api.extensions import register_fields
    register_fields("Customer", "journeys.interactions", "journeys.interactions.gql.types.CustomerInteractions")
    register_fields("Customer", "journeys.service", "journeys.service.gql.types.CustomerService")
    register_fields("LedgerEntry", "journeys.service", "journeys.service.gql.types.LedgerEntryCase")
    sweep = ("journeys-sla-sweep", "journeys.service.jobs.sweep_sla", "JOURNEYS_SLA_SWEEP_INTERVAL")
    if sweep not in PERIODIC_JOBS:
        PERIODIC_JOBS.append(sweep)
    from crm import events
    from crm.messages.delivery import SEND_GUARDS
    from journeys.service import care
    for topic, job in (("case.resolved", "journeys.service.care.on_case_resolved"),
                       ("survey.detractor", "journeys.service.care.on_detractor"),
                       ("case.sla_at_risk", "journeys.service.care.on_sla_alert"),
                       ("case.sla_breached", "journeys.service.care.on_sla_alert")):
        events.subscribe(topic, job, queue="messages")
    events.subscribe("message.sent", "journeys.service.care.on_message_sent", queue="messages",
                     match={"trigger": care.FOLLOW_UP_TRIGGER})
    SEND_GUARDS[care.FOLLOW_UP_TRIGGER] = care.follow_up_still_due
    from journeys.cli import import_group, journeys_group
    from journeys.maps.reports import blueprint

    if "journey_reports" not in app.blueprints:
        app.register_blueprint(blueprint)
    from journeys.service.pages import bp as survey_pages
    if survey_pages.name not in app.blueprints:
        app.register_blueprint(survey_pages)
    from crm.messages.templates import BASE_NAMES, CONTEXT_PROVIDERS
    if care.template_context not in CONTEXT_PROVIDERS:  # surveyUrls.CSAT / .NPS / .CES in every template
        CONTEXT_PROVIDERS.append(care.template_context)
    BASE_NAMES.add("surveyUrls")
    app.cli.add_command(import_group)
    app.cli.add_command(journeys_group)
    from crm.demo.registry import register
    from journeys.demo import seed_journeys
    register("journeys", seed_journeys, after=("customers", "rewards"))
