"""Campaign mutations: parse, call one service, shape the payload."""
from __future__ import annotations

import graphene

from crm.api.enums import Channel, LifecycleStage, ServiceTier
from crm.api.errors import error_type, payload_type
from crm.api.ids import parse_id
from crm.api.mutations import BaseMutation, family_member, mutation_family, root_mutations
from crm.api.scalars import JSON, DateTime
from crm.auth.permissions import Capability
from crm.messages.gql.types import MessagePurpose
from crm.messages.templates import RenderLimits
from journeys.campaigns import services
from journeys.campaigns.errors import CampaignErrorCode
from journeys.campaigns.gql.types import (
    Campaign,
    CampaignFrequency,
    CampaignReentry,
    CampaignScheduleKind,
    CampaignStepType,
    CampaignTriggerKind,
    Weekday,
)


CampaignError = error_type("CampaignError", CampaignErrorCode)


CampaignPayload = payload_type("CampaignPayload", CampaignError, campaign=Campaign)


class CampaignAudienceInput(graphene.InputObjectType):
    segment_id = graphene.ID()
    lifecycle_stages = graphene.List(graphene.NonNull(LifecycleStage))
    service_tiers = graphene.List(graphene.NonNull(ServiceTier))
    loyalty_tiers = graphene.List(graphene.NonNull(graphene.String))


class CampaignScheduleInput(graphene.InputObjectType):
    kind = graphene.InputField(CampaignScheduleKind, required=True)
    at = DateTime(description="ONCE: one instant for everyone.")
    local_date = graphene.String(description="ONCE: YYYY-MM-DD on each customer's calendar (or timezone's).")
    local_time = graphene.String(description='"HH:MM" on each customer\'s wall clock (or timezone\'s).')
    frequency = graphene.InputField(CampaignFrequency, description="RECURRING: DAILY, WEEKLY, MONTHLY or CRON.")
    weekdays = graphene.List(graphene.NonNull(Weekday), description="WEEKLY: the days.")
    day_of_month = graphene.Int(description="MONTHLY: 1..31 (months without that day are skipped).")
    cron = graphene.String(description="CRON: five fields, on the wall clock of each customer (or timezone).")
    timezone = graphene.String(description="One wall clock for everyone (IANA name); omit for each customer's own.")
    starts_on = graphene.String()
    ends_on = graphene.String()


class CampaignTriggerInput(graphene.InputObjectType):
    kind = graphene.InputField(CampaignTriggerKind, required=True)
    stage = graphene.InputField(LifecycleStage, description="STAGE_ENTERED")
    segment_id = graphene.ID(description="SEGMENT_JOINED")
    loyalty_tier = graphene.String(description="LOYALTY_TIER_REACHED: the tier key")
    days = graphene.Int(description="NO_ORDER_FOR: days since the last order (or sign-up)")
    delay_seconds = graphene.Int(description="After the trigger, before the first step.")


class CampaignContentInput(graphene.InputObjectType):
    channel = graphene.InputField(Channel, required=True)
    locale = graphene.String(description="Omit for the channel's default template.")
    template = graphene.String(required=True, description="Jinja2 over customer, loyalty, campaign and now; a "
                                                          "first line 'Subject: ...' is an email's subject.")


class CampaignStepInput(graphene.InputObjectType):
    key = graphene.String(required=True)
    type = graphene.InputField(CampaignStepType, required=True)
    content = graphene.List(graphene.NonNull(CampaignContentInput))
    wait_seconds = graphene.Int()
    wait_until_local_time = graphene.String()
    rule = graphene.InputField(JSON)
    if_true = graphene.String()
    if_false = graphene.String()
    stage = graphene.InputField(LifecycleStage)
    tier_pin = graphene.InputField(ServiceTier)
    points = graphene.Int()
    points_reason = graphene.String()


# Fields of input objects are InputFields: a graphene.Field there reads as null when it was left out,
# and campaignUpdate changes only the fields given.
class CampaignInput(graphene.InputObjectType):
    name = graphene.String()
    description = graphene.String()
    purpose = graphene.InputField(MessagePurpose, description="CAMPAIGN (default) or TRANSACTIONAL (ADMIN only: no "
                                                              "consent needed).")
    audience = graphene.InputField(CampaignAudienceInput)
    schedule = graphene.InputField(CampaignScheduleInput)
    trigger = graphene.InputField(CampaignTriggerInput)
    steps = graphene.List(graphene.NonNull(CampaignStepInput))
    exit_on_order = graphene.Boolean(description="An order takes the customer out at any step.")
    exit_rule = graphene.InputField(JSON, description="A segments rule; a customer matching it leaves at their "
                                                      "next step.")
    reentry = graphene.InputField(CampaignReentry)
    cooldown_seconds = graphene.Int()
    conversion_window_seconds = graphene.Int()


def _values(input) -> dict:
    return {key: input[key] for key in input}


def _limits(info) -> RenderLimits:
    return RenderLimits.from_config(info.context.config)


def _id(value) -> object:
    return parse_id(value, "Campaign", "id")


_CampaignMutation = mutation_family("_CampaignMutation", CampaignPayload, Capability.CAMPAIGNS_WRITE)


class CampaignCreate(_CampaignMutation):
    """Write a DRAFT campaign."""

    input_type = CampaignInput

    @classmethod
    def perform(cls, info, input):
        viewer = info.context.viewer
        campaign = services.create_campaign(info.context.session, values=_values(input), actor=viewer.actor,
                                            actor_role=viewer.role, limits=_limits(info))
        return CampaignPayload(campaign=campaign, errors=[])


class CampaignUpdate(_CampaignMutation):
    """Change a campaign that has not finished; only the fields given. A new schedule plans from now on
    and never sends twice in one period."""

    class Arguments:
        id = graphene.ID(required=True)
        input = CampaignInput(required=True)

    @classmethod
    def perform(cls, info, id, input):
        viewer = info.context.viewer
        campaign = services.update_campaign(info.context.session, campaign_id=_id(id), values=_values(input),
                                            actor=viewer.actor, actor_role=viewer.role, limits=_limits(info))
        return CampaignPayload(campaign=campaign, errors=[])


def _lifecycle(name: str, doc: str, change, *, sends: bool = False):
    """A move of a campaign's status by the service ``change``; one that makes it send again (``sends``) also
    takes the actor's role, which decides whether a TRANSACTIONAL campaign may send."""
    def perform(cls, info, id):
        viewer = info.context.viewer
        role = {"actor_role": viewer.role} if sends else {}
        campaign = change(info.context.session, campaign_id=_id(id), actor=viewer.actor, **role)
        return CampaignPayload(campaign=campaign, errors=[])

    return family_member(name, _CampaignMutation, doc, perform, {"id": graphene.ID(required=True)})


CampaignSchedule = _lifecycle("CampaignSchedule", "DRAFT -> RUNNING: plan its schedule, or listen for its trigger, "
                              "from now on.", services.schedule_campaign, sends=True)
CampaignPause = _lifecycle("CampaignPause", "Stop planning, entering and sending within seconds; unsent messages "
                           "wait.", services.pause_campaign)
CampaignResume = _lifecycle("CampaignResume", "Continue where it stopped.", services.resume_campaign, sends=True)
CampaignCancel = _lifecycle("CampaignCancel", "Final: cancel every active entry and withdraw every message not yet "
                            "sent.", services.cancel_campaign)


CampaignMutations = root_mutations("CampaignMutations", CampaignCreate, CampaignUpdate, CampaignSchedule,
                                   CampaignPause, CampaignResume, CampaignCancel)
