"""The default membership tiers: the programme every install starts with."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TierDefinition:
    key: str
    name: str
    rank: int
    qualifying_points: int
    earn_multiplier: float
    benefits: tuple[str, ...]


DEFAULT_TIERS: tuple[TierDefinition, ...] = (
    TierDefinition("member", "Member", 0, 0, 1.0, ("Earn 1 point per 1.00 spent", "Birthday bonus")),
    TierDefinition("silver", "Silver", 1, 1000, 1.25, ("25% bonus points", "Free standard shipping")),
    TierDefinition("gold", "Gold", 2, 5000, 1.5, ("50% bonus points", "Priority service line", "Early access")),
    TierDefinition("platinum", "Platinum", 3, 15000, 2.0,
                   ("Double points", "Dedicated account manager", "Free express shipping", "Event invitations")),
)
ENTRY_TIER = DEFAULT_TIERS[0]
