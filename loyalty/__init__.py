"""Loyalty: points ledger, membership tiers and rewards."""


def init_app(app) -> None:
    """Register this domain's customer filters, order hooks and merge hooks."""
    from crm.customers.selectors import FILTER_PROVIDERS
    from loyalty.tiers import ENTRY_TIER
    from sqlalchemy import false

    # Until the ledger exists every customer holds the entry tier.
    FILTER_PROVIDERS.setdefault(
        "loyalty_tier", lambda stmt, key: stmt if key == ENTRY_TIER.key else stmt.where(false()))
