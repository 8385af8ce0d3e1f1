"""GraphQL types of campaigns: the definition as written, its results, and its preview."""
from __future__ import annotations

import re

import graphene

from crm.api.connections import connection_type
from crm.api.enums import Channel, LifecycleStage, ServiceTier, names_enum
from crm.api.ids import global_id
from crm.api.loaders import resolve_by
from crm.api.node import ModelNode
from crm.api.permissions import require
from crm.api.scalars import JSON, DateTime
from crm.auth.permissions import Capability
from crm.messages.gql.types import MessagePurpose
from journeys.campaigns import models
from journeys.campaigns.gql import loaders


CampaignStatus = graphene.Enum.from_enum(models.CampaignStatus)


CampaignStepType = names_enum("CampaignStepType", "SEND WAIT BRANCH UPDATE EXIT", __name__)
CampaignTriggerKind = names_enum("CampaignTriggerKind", "STAGE_ENTERED SEGMENT_JOINED LOYALTY_TIER_REACHED NO_ORDER_FOR",
                                 __name__)
CampaignScheduleKind = names_enum("CampaignScheduleKind", "ONCE RECURRING", __name__)
CampaignFrequency = names_enum("CampaignFrequency", "DAILY WEEKLY MONTHLY CRON", __name__)
Weekday = names_enum("Weekday", "MON TUE WED THU FRI SAT SUN", __name__)
CampaignReentry = names_enum("CampaignReentry", "NEVER COOLDOWN", __name__)


_CAMEL = re.compile(r"(?<!^)(?=[A-Z])")


def _from(data: dict | None, cls):
    """A stored camelCase definition as a graphene object (its fields are snake_case)."""
    if data is None:
        return None
    values = {_CAMEL.sub("_", key).lower(): value for key, value in data.items()}
    return cls(**{name: value for name, value in values.items() if name in cls._meta.fields})


class CampaignAudience(graphene.ObjectType):
    segment_id = graphene.ID(description="Members of this segment (its global id).")
    lifecycle_stages = graphene.List(graphene.NonNull(LifecycleStage), required=True)
    service_tiers = graphene.List(graphene.NonNull(ServiceTier), required=True)
    loyalty_tiers = graphene.List(graphene.NonNull(graphene.String), required=True)

    @staticmethod
    def resolve_segment_id(audience, info):
        return global_id("Segment", audience.segment_id) if audience.segment_id else None


class CampaignSchedule(graphene.ObjectType):
    kind = graphene.Field(CampaignScheduleKind, required=True)
    at = DateTime(description="ONCE at one instant for everyone.")
    local_date = graphene.String(description="ONCE on this date, in each customer's timezone (or timezone's).")
    local_time = graphene.String(description='"09:00": on the wall clock of each customer (or of timezone).')
    frequency = graphene.Field(CampaignFrequency)
    weekdays = graphene.List(graphene.NonNull(Weekday))
    day_of_month = graphene.Int()
    cron = graphene.String()
    timezone = graphene.String(description="One wall clock for everyone; null: each customer's own timezone.")
    starts_on = graphene.String()
    ends_on = graphene.String()

    @staticmethod
    def resolve_at(schedule, info):
        from datetime import datetime
        return datetime.fromisoformat(schedule.at) if schedule.at else None


class CampaignTrigger(graphene.ObjectType):
    kind = graphene.Field(CampaignTriggerKind, required=True)
    stage = graphene.Field(LifecycleStage)
    segment_id = graphene.ID()
    loyalty_tier = graphene.String()
    days = graphene.Int()
    delay_seconds = graphene.Int(required=True)

    @staticmethod
    def resolve_segment_id(trigger, info):
        return global_id("Segment", trigger.segment_id) if trigger.segment_id else None


class CampaignContent(graphene.ObjectType):
    channel = graphene.Field(Channel, required=True)
    locale = graphene.String(description="Null: the default template of the channel.")
    template = graphene.String(required=True)

    @staticmethod
    def resolve_locale(content, info):
        return content.locale or None


class CampaignStep(graphene.ObjectType):
    key = graphene.String(required=True)
    type = graphene.Field(CampaignStepType, required=True)
    content = graphene.List(graphene.NonNull(CampaignContent), description="SEND: per channel, in the order "
                            "tried (the first the customer can be reached on), per locale.")
    wait_seconds = graphene.Int()
    wait_until_local_time = graphene.String()
    rule = graphene.Field(JSON, description="BRANCH: a rule of the segments language.")
    if_true = graphene.String()
    if_false = graphene.String()
    stage = graphene.Field(LifecycleStage)
    tier_pin = graphene.Field(ServiceTier)
    points = graphene.Int()
    points_reason = graphene.String()

    @staticmethod
    def resolve_content(step, info):
        return [_from(c, CampaignContent) for c in step.content] if step.content else None


class ReasonCount(graphene.ObjectType):
    reason = graphene.String(required=True)
    count = graphene.Int(required=True)


def _reasons(counter) -> list[ReasonCount]:
    return [ReasonCount(reason=r, count=n) for r, n in sorted(counter.items())]


class _Counts:
    entered = graphene.Int(required=True)
    sent = graphene.Int(required=True)
    pending = graphene.Int(required=True, description="Messages written and not sent yet.")
    failed = graphene.Int(required=True)
    cancelled = graphene.Int(required=True, description="Messages withdrawn (an exit, a cancel).")
    suppressed = graphene.Int(required=True)
    suppressed_by_reason = graphene.List(graphene.NonNull(ReasonCount), required=True)
    exited = graphene.Int(required=True)
    conversions = graphene.Int(required=True, description="Orders within the conversion window after a "
                                                          "message sent.")
    conversion_rate = graphene.Float(description="conversions / sent")

    @staticmethod
    def resolve_suppressed_by_reason(counts, info):
        return _reasons(counts.suppressed_by_reason)


class CampaignStepResults(_Counts, graphene.ObjectType):
    key = graphene.String(required=True)
    type = graphene.String(required=True, description="The step's type; REMOVED for a step edited away.")


class CampaignResults(_Counts, graphene.ObjectType):
    active = graphene.Int(required=True)
    completed = graphene.Int(required=True)
    cancelled_entries = graphene.Int(required=True, description="Entries cancelled with the campaign.")
    exited_by_reason = graphene.List(graphene.NonNull(ReasonCount), required=True, description=(
        "ORDER_PLACED, EXIT_RULE, EXIT_STEP, LEFT_AUDIENCE, CUSTOMER_MERGED, STEP_REMOVED"))
    steps = graphene.List(graphene.NonNull(CampaignStepResults), required=True)

    @staticmethod
    def resolve_cancelled_entries(results, info):
        return results.left

    @staticmethod
    def resolve_exited_by_reason(results, info):
        return _reasons(results.exited_by_reason)


class Campaign(ModelNode, graphene.ObjectType):
    class Meta:
        description = "A lifecycle campaign or multi-step journey (docs/campaigns.md)."

    name = graphene.String(required=True)
    description = graphene.String()
    status = graphene.Field(CampaignStatus, required=True)
    purpose = graphene.Field(MessagePurpose, required=True)
    audience = graphene.Field(CampaignAudience, required=True)
    schedule = graphene.Field(CampaignSchedule)
    trigger = graphene.Field(CampaignTrigger)
    steps = graphene.List(graphene.NonNull(CampaignStep), required=True)
    exit_on_order = graphene.Boolean(required=True)
    exit_rule = graphene.Field(JSON)
    reentry = graphene.Field(CampaignReentry, required=True)
    cooldown_seconds = graphene.Int(required=True)
    conversion_window_seconds = graphene.Int(required=True)
    results = graphene.Field(graphene.NonNull(CampaignResults))
    created_by = graphene.String()
    renders_masked = graphene.Boolean(required=True, description=(
        "Templates render with the customer's email and phone masked (a***@example.com): a role that sees "
        "contact details masked wrote, scheduled or resumed the campaign since an unmasked role last saved "
        "its steps."))
    created_at = DateTime(required=True)
    updated_at = DateTime(required=True)
    scheduled_at = DateTime()
    paused_at = DateTime()
    finished_at = DateTime()

    node_model, node_capability, node_seen_as = models.Campaign, Capability.CAMPAIGNS_READ, "campaign"

    @staticmethod
    def resolve_audience(campaign, info):
        return _from(campaign.audience or {"lifecycleStages": [], "serviceTiers": [], "loyaltyTiers": []},
                     CampaignAudience)

    @staticmethod
    def resolve_schedule(campaign, info):
        return _from(campaign.schedule, CampaignSchedule)

    @staticmethod
    def resolve_trigger(campaign, info):
        return _from(campaign.trigger, CampaignTrigger)

    @staticmethod
    def resolve_steps(campaign, info):
        return [_from(step, CampaignStep) for step in campaign.steps]

    @staticmethod
    def resolve_renders_masked(campaign, info):
        return campaign.masked_by is not None

    @staticmethod
    def resolve_results(campaign, info):
        require(info.context, Capability.CAMPAIGNS_READ)
        return info.context.loaders.get(loaders.ResultsByCampaign).load(campaign.id)


CampaignConnection = connection_type(Campaign, "Campaign")


class CampaignPreviewRecipient(graphene.ObjectType):
    customer = graphene.Field("crm.customers.gql.types.Customer", required=True)
    channel = graphene.Field(Channel, description="The first channel of the first SEND step they can be reached on.")
    timezone = graphene.String(required=True)
    locale = graphene.String()
    send_at = DateTime(description="Their next occurrence of the schedule, in their own timezone; null for a "
                                   "triggered campaign (its delay after their trigger).")

    resolve_customer = resolve_by(loaders.CustomerOfRecipient, "customer_id")


class CampaignPreview(graphene.ObjectType):
    audience = graphene.Int(required=True, description="Customers matching the audience now.")
    recipients = graphene.Int(required=True, description="Of those, how many it would reach.")
    suppressed = graphene.Int(required=True)
    suppressed_by_reason = graphene.List(graphene.NonNull(ReasonCount), required=True, description=(
        "ALREADY_ENTERED (re-entry), NO_ADDRESS, NO_CONSENT, FREQUENCY_CAP"))
    sample = graphene.List(graphene.NonNull(CampaignPreviewRecipient), required=True)

    @staticmethod
    def resolve_suppressed_by_reason(preview, info):
        return _reasons(preview.suppressed_by_reason)
