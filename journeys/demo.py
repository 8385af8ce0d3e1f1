"""The journeys part of the demo: the touchpoint catalogue, a year of interactions, cases and surveys.

Registered from ``journeys.init_app`` (``crm.demo.registry``); it runs once the customers, their orders
and the rewards are in, and reads the orders to follow each customer's real story. The parts live with
their subdomains: journeys/maps/demo.py (touchpoints), journeys/interactions/demo.py (the journeys),
journeys/service/demo.py (cases and surveys).

Everything goes through the services, at the moment it happened (``crm.demo.story``). A part already
seeded by an interrupted run is skipped per customer: interactions, cases and surveys each.
"""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from crm.customers.models import Customer
from crm.demo.registry import DemoRun
from crm.demo.story import story_clock
from journeys.interactions.demo import load_customers, seed_interactions
from journeys.maps.demo import seed_touchpoints
from journeys.service.demo import seed_cases, seed_surveys
from journeys.service.models import Case, SurveyResponse
from journeys.settings import JourneySettings


def seed_journeys(run: DemoRun) -> None:
    session, now = run.session, run.present
    first_customer = session.scalar(select(func.min(Customer.created_at)))
    seed_touchpoints(session, (first_customer or now) - timedelta(days=1))
    customers = load_customers(session)
    with_cases = set(session.scalars(select(Case.customer_id).distinct()))
    with_surveys = set(session.scalars(select(SurveyResponse.customer_id).distinct()))
    seed_interactions(session, customers, now)
    with story_clock() as story:
        resolved = seed_cases(session, story, customers, now, run.notes["agents"],
                              JourneySettings.from_config(run.config)) if not with_cases else []
        seed_surveys(session, story, [c for c in customers if c.id not in with_surveys],
                     [r for r in resolved if r[0].id not in with_surveys], now)
