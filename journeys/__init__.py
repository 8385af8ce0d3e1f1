"""Journeys: touchpoint maps, the service process and the voice of the customer."""


def init_app(app) -> None:
    """Plug journeys into the customer core: settings, merge hook, CLI and report routes."""
    from crm.customers.merge import MERGE_HOOKS
    from journeys.merge import move_journeys
    from journeys.settings import DEFAULTS

    for key, value in DEFAULTS.items():
        app.config.setdefault(key, value)
    if move_journeys not in MERGE_HOOKS:
        MERGE_HOOKS.append(move_journeys)
    from journeys.cli import import_group, journeys_group
    from journeys.reports import blueprint

    if "journey_reports" not in app.blueprints:
        app.register_blueprint(blueprint)
    app.cli.add_command(import_group)
    app.cli.add_command(journeys_group)
