"""Builders for campaign tests: GraphQL documents, inputs, and time-controlled service calls.

``start`` and ``run`` act at an instant of the test's choosing and stop the platform clock there, so that
whatever reads the clock rather than the ``now`` given (the API, event jobs, defaults) agrees with them."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from crm import clock
from crm.messages.models import Message
from journeys.campaigns import services
from journeys.campaigns.jobs import tick
from journeys.campaigns.models import Campaign, CampaignEntry, CampaignStepRun
from tests.helpers import raw_id

CAMPAIGN_FIELDS = """id name status purpose reentry cooldownSeconds exitOnOrder conversionWindowSeconds
  audience { segmentId lifecycleStages serviceTiers loyaltyTiers }
  schedule { kind at localDate localTime frequency weekdays dayOfMonth cron timezone startsOn endsOn }
  trigger { kind stage segmentId loyaltyTier days delaySeconds }
  steps { key type content { channel locale template } waitSeconds waitUntilLocalTime rule ifTrue ifFalse
          stage tierPin points pointsReason }"""

CREATE = f"""mutation($input: CampaignInput!) {{ campaignCreate(input: $input) {{
  campaign {{ {CAMPAIGN_FIELDS} }} errors {{ field code message }} }} }}"""
UPDATE = f"""mutation($id: ID!, $input: CampaignInput!) {{ campaignUpdate(id: $id, input: $input) {{
  campaign {{ {CAMPAIGN_FIELDS} }} errors {{ field code message }} }} }}"""
LIFECYCLE = """mutation($id: ID!) {{ {name}(id: $id) {{ campaign {{ id status }} errors {{ field code message }} }} }}"""
RESULTS = """query($id: ID!) { campaign(id: $id) { id status results {
  entered active completed exited cancelledEntries sent pending failed cancelled suppressed conversions conversionRate
  suppressedByReason { reason count } exitedByReason { reason count }
  steps { key type entered sent pending failed cancelled suppressed exited conversions
          suppressedByReason { reason count } } } } }"""
PREVIEW = """query($id: ID!, $n: Int) { campaignPreview(id: $id, sampleSize: $n) {
  audience recipients suppressed suppressedByReason { reason count }
  sample { customer { id email } channel timezone locale sendAt } } }"""

EMAIL = [{"channel": "EMAIL", "template": "Subject: Hello {{ customer.firstName }}\nHi {{ customer.firstName }}, "
                                          "news from {{ campaign.name }}."},
         {"channel": "EMAIL", "locale": "de", "template": "Subject: Hallo\nHallo {{ customer.firstName }}."}]


def send_step(key="email", content=None) -> dict:
    return {"key": key, "type": "SEND", "content": content or EMAIL}


def create(api, as_="marketer", **fields) -> dict:
    payload = {"name": "Spring news", "steps": [send_step()], **fields}
    result = api.data(CREATE, {"input": payload}, as_=as_)["campaignCreate"]
    assert result["errors"] == [], result["errors"]
    return result["campaign"]


def lifecycle(api, name: str, campaign_id: str, as_="marketer") -> dict:
    return api.data(LIFECYCLE.format(name=name), {"id": campaign_id}, as_=as_)[name]


def results(api, campaign_id: str, as_="marketer") -> dict:
    return api.data(RESULTS, {"id": campaign_id}, as_=as_)["campaign"]["results"]


def start(app, campaign_id: str, now: datetime) -> None:
    """Schedule a campaign as if at ``now`` (the clock stops there)."""
    clock.freeze(now)
    with app.app_context():
        from crm.sessions import get_session
        from crm.enums import Role
        services.schedule_campaign(get_session(), campaign_id=raw_id(campaign_id), actor="test",
                                   actor_role=Role.MARKETER, now=now)


def run(app, now: datetime) -> dict:
    """One campaign round at ``now`` (the clock stops there)."""
    clock.freeze(now)
    with app.app_context():
        return tick(now=now)


def entries(app, campaign_id: str) -> list[CampaignEntry]:
    with app.extensions["crm.sessionmaker"]() as session:
        return session.scalars(select(CampaignEntry).where(CampaignEntry.campaign_id == raw_id(campaign_id))
                               .order_by(CampaignEntry.entered_at, CampaignEntry.customer_id)).all()


def campaign_messages(app, campaign_id: str) -> list[Message]:
    with app.extensions["crm.sessionmaker"]() as session:
        return session.scalars(select(Message).where(Message.trigger == f"campaign:{raw_id(campaign_id)}")
                               .order_by(Message.scheduled_for, Message.customer_id)).all()


def step_runs(app, campaign_id: str) -> list[CampaignStepRun]:
    with app.extensions["crm.sessionmaker"]() as session:
        return session.scalars(select(CampaignStepRun).where(CampaignStepRun.campaign_id == raw_id(campaign_id))
                               .order_by(CampaignStepRun.at, CampaignStepRun.step_key)).all()


def row(app, campaign_id: str) -> Campaign:
    with app.extensions["crm.sessionmaker"]() as session:
        return session.get(Campaign, raw_id(campaign_id))


def run_jobs(app) -> None:
    """Run the jobs waiting in Redis (event subscribers) with a burst worker, without a maintenance round."""
    from crm.queue import make_worker
    make_worker(app, embedded=True).work(burst=True, logging_level="WARNING")
