"""Every model of crm (the platform and the customer core's domains), imported so the metadata holds them.

The other domains' models join them in crm.import_models(), where the app is composed: Alembic and the
test suite need the whole schema."""
from crm.auth.models import ApiToken, SignInFailure, StaffUser  # noqa: F401
from crm.customers.models import (  # noqa: F401
    Consent,
    ConsentChange,
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
from crm.segments.models import (  # noqa: F401
    Segment,
    SegmentMembership,
    SegmentMembershipChange,
    ServiceTierRule,
)
