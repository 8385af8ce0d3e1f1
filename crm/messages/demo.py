"""The demo's care: the post-purchase check-in goes out as soon as an order is recorded (the default
waits 3 days), so recording an order shows a care message in the log within seconds.

The seeded history is not news: the care its events queued (a welcome for each of the hundreds of
customers seeded a moment ago, a check-in for each of their orders) is set aside, not sent. Both
happen today, when the demo is handed over: the care rule is changed at the story's present.
"""
from __future__ import annotations

from crm import outbox
from crm.demo.registry import DemoRun
from crm.messages.care import update_care_rule


def seed_care(run: DemoRun) -> None:
    outbox.set_aside(run.session, "messages")
    update_care_rule(run.session, key="post-purchase", delay_seconds=0, actor=run.actor)
