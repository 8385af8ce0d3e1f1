"""The demo's two running campaigns: a welcome journey and a win-back campaign.

Marketing writes and starts them through the campaign services when the demo is handed over (the
story's present), after the care rule: from then on they act on what happens, not on the seeded
history.
"""
from __future__ import annotations

from sqlalchemy import select

from crm.demo.registry import DemoRun
from crm.enums import Role
from journeys.campaigns import services
from journeys.campaigns.models import Campaign

WELCOME = {
    "name": "Welcome journey",
    "description": "New customers: a welcome, two days to settle in, then thanks for a second order or a nudge "
                   "with 100 bonus points.",
    "trigger": {"kind": "STAGE_ENTERED", "stage": "NEW", "delay_seconds": 0},
    "steps": [
        {"key": "welcome", "type": "SEND", "content": [
            {"channel": "EMAIL", "template": "Subject: Welcome, {{ customer.firstName or 'friend' }}\n"
                                             "Thanks for your first order. Here is how to get the most out of it."},
            {"channel": "EMAIL", "locale": "de", "template": "Subject: Willkommen, {{ customer.firstName or '' }}\n"
                                                            "Danke für Ihre erste Bestellung."},
            {"channel": "PUSH", "template": "Welcome aboard, {{ customer.firstName or 'friend' }}!"}]},
        {"key": "settle-in", "type": "WAIT", "wait_seconds": 2 * 86400},
        {"key": "ordered-again", "type": "BRANCH", "rule": {"field": "orders.count", "op": "gte", "value": 2},
         "if_true": "thanks"},
        {"key": "nudge", "type": "SEND", "content": [
            {"channel": "EMAIL", "template": "Subject: 100 points to spend\nHi {{ customer.firstName or 'there' }}, "
                                             "we added 100 points to your account for your next order."}]},
        {"key": "bonus", "type": "UPDATE", "points": 100, "points_reason": "welcome journey bonus"},
        {"key": "done", "type": "EXIT"},
        {"key": "thanks", "type": "SEND", "content": [
            {"channel": "EMAIL", "template": "Subject: You are back!\nThank you for ordering again, "
                                             "{{ customer.firstName or 'friend' }}."}]},
    ],
}

WIN_BACK = {
    "name": "Win-back",
    "description": "No order for 60 days: a we-miss-you message, and a reminder a week later unless they order.",
    "trigger": {"kind": "NO_ORDER_FOR", "days": 60, "delay_seconds": 0},
    "audience": {"lifecycle_stages": ["DEVELOPING", "LOYAL", "ADVOCATE", "AT_RISK", "CHURNED"]},
    "exit_on_order": True,
    "reentry": "COOLDOWN",
    "cooldown_seconds": 180 * 86400,
    "conversion_window_seconds": 14 * 86400,
    "steps": [
        {"key": "miss-you", "type": "SEND", "content": [
            {"channel": "EMAIL", "template": "Subject: We miss you, {{ customer.firstName or 'friend' }}\n"
                                             "It has been a while. Here is 10% off your next order: COMEBACK10."},
            {"channel": "SMS", "template": "We miss you! 10% off with COMEBACK10."}]},
        {"key": "a-week", "type": "WAIT", "wait_seconds": 7 * 86400},
        {"key": "reminder", "type": "SEND", "content": [
            {"channel": "EMAIL", "template": "Subject: Your 10% ends soon\nCOMEBACK10 is valid until Sunday."}]},
    ],
}


def seed_campaigns(run: DemoRun) -> None:
    """Create and start both (once: skipped when they exist)."""
    session, actor = run.session, run.actor
    if session.scalar(select(Campaign.id).limit(1)) is not None:
        return
    for values in (WELCOME, WIN_BACK):
        campaign = services.create_campaign(session, values=values, actor=actor, actor_role=Role.MARKETER)
        services.schedule_campaign(session, campaign_id=campaign.id, actor=actor, actor_role=Role.MARKETER)
