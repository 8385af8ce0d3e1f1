"""The demo's cases keep the deployment's SLA settings, as cases opened through the API do."""
from __future__ import annotations

from sqlalchemy import select

from crm.demo import seed
from crm.sessions import new_session
from journeys.service.models import Case


def test_demo_cases_turn_at_risk_at_the_configured_share_of_their_clock(app):
    with app.app_context():
        session = new_session()
        try:
            seed(session, 45, config={**app.config, "JOURNEYS_SLA_AT_RISK_SHARE": 0.5})
            cases = session.scalars(select(Case)).all()
            assert cases
            for case in cases:
                assert case.first_response_at_risk_at - case.opened_at == (
                    case.first_response_due_at - case.opened_at) / 2
                assert case.resolution_at_risk_at - case.opened_at == (case.resolution_due_at - case.opened_at) / 2
        finally:
            session.close()
