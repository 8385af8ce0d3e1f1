"""Journeys: touchpoint maps, the service process and the voice of the customer."""


def init_app(app) -> None:
    """Register this domain's event subscribers, merge hooks and periodic jobs (none yet)."""
