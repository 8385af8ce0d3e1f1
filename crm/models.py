"""Every model of every domain, imported so the metadata (and Alembic) sees the whole schema."""
from crm.auth.models import ApiToken, StaffUser  # noqa: F401
from crm.customers.models import (  # noqa: F401
    Consent, Customer, CustomerMerge, LifecycleTransition, Order, ServiceTierChange,
)
from crm.db import Base  # noqa: F401
from crm.outbox import OutboxEntry  # noqa: F401
