"""Every model of every domain, imported so the metadata (and Alembic) sees the whole schema.

This is a composition point: crm imports the other domains here, as in crm/api/schema.py."""
from crm.auth.models import ApiToken, StaffUser  # noqa: F401
from crm.customers.models import (  # noqa: F401
    Consent,
    Customer,
    CustomerMerge,
    LifecycleTransition,
    Order,
    RfmCutoffs,
    ServiceTierChange,
)
from crm.db import Base  # noqa: F401
from crm.messages.models import CareRuleSetting, Message, PeriodicRun  # noqa: F401
from crm.outbox import OutboxEntry  # noqa: F401
from journeys.campaigns.models import Campaign, CampaignEntry, CampaignRun, CampaignStepRun  # noqa: F401
from crm.segments.models import (  # noqa: F401
    Segment,
    SegmentMembership,
    SegmentMembershipChange,
    ServiceTierRule,
)
from journeys.interactions.models import Interaction, InteractionPainPoint  # noqa: F401
from journeys.maps.models import (  # noqa: F401
    CustomerPainPointRollup,
    CustomerTouchpointRollup,
    JourneyMap,
    Touchpoint,
)
from journeys.service.models import Case, CaseEvent, SlaPolicy, SurveyResponse  # noqa: F401
from loyalty.models import (  # noqa: F401
    EarningRule,
    LedgerEntry,
    LotConsumption,
    LoyaltyAccount,
    LoyaltyTier,
    Reward,
    RewardRedemption,
    TierChange,
)
