"""The permission table: every capability, the roles that hold it, and what it lets them do.

This is the one place a role's rights are written. GraphQL fields and mutations declare the capability they
require, services ask ``has(role, capability)``, masking asks who lacks ``customers.pii``, and the README's
role table and the SDL's "Requires ..." descriptions are generated from it (tests fail when they drift).
Domain code: no Flask, no graphene, so services use it as they are.

A capability says what a role may do, not whose: a PORTAL token holding ``customers.profile`` updates its
own customer only; which customers a viewer reaches is ``crm.api.access``.
"""
from __future__ import annotations

import enum

from crm.enums import STAFF_ROLES, Role


class Capability(str, enum.Enum):
    VIEWER_READ = "viewer.read"
    NODES_READ = "nodes.read"
    CUSTOMERS_LOOKUP = "customers.lookup"
    CUSTOMERS_READ = "customers.read"
    CUSTOMERS_PII = "customers.pii"
    CUSTOMERS_WRITE = "customers.write"
    CUSTOMERS_PROFILE = "customers.profile"
    CUSTOMERS_CONFIRM_EMAIL = "customers.confirm_email"
    ORDERS_WRITE = "orders.write"
    STAFF_READ = "staff.read"
    STAFF_SEARCH = "staff.search"
    STAFF_SIGN_IN = "staff.sign_in"
    PORTAL_SESSIONS_CREATE = "portal_sessions.create"
    TOKENS_MANAGE = "tokens.manage"
    TOKENS_REVOKE_OWN = "tokens.revoke_own"
    SEGMENTS_READ = "segments.read"
    SEGMENTS_PREVIEW = "segments.preview"
    SEGMENTS_WRITE = "segments.write"
    SEGMENTS_MEMBERS = "segments.members"
    TIER_RULES_READ = "tier_rules.read"
    TIER_RULES_WRITE = "tier_rules.write"
    MESSAGES_READ = "messages.read"
    MESSAGES_SEND = "messages.send"
    MESSAGES_TRANSACTIONAL = "messages.transactional"
    CARE_RULES_READ = "care_rules.read"
    CARE_RULES_WRITE = "care_rules.write"
    CAMPAIGNS_READ = "campaigns.read"
    CAMPAIGNS_WRITE = "campaigns.write"
    MAPS_READ = "maps.read"
    MAPS_ANALYTICS = "maps.analytics"
    MAPS_WRITE = "maps.write"
    INTERACTIONS_RECORD = "interactions.record"
    CASES_READ = "cases.read"
    CASES_WORK = "cases.work"
    CASES_OPEN = "cases.open"
    SURVEYS_ANSWER = "surveys.answer"
    SERVICE_READ = "service.read"
    SLA_WRITE = "sla.write"
    LOYALTY_READ = "loyalty.read"
    POINTS_WRITE = "points.write"
    POINTS_ADJUST = "points.adjust"
    REWARDS_WRITE = "rewards.write"
    REWARDS_REDEEM = "rewards.redeem"


C = Capability
ADMIN, ACCOUNT_MANAGER, SUPPORT_AGENT, MARKETER, PORTAL, INTEGRATION = (
    Role.ADMIN, Role.ACCOUNT_MANAGER, Role.SUPPORT_AGENT, Role.MARKETER, Role.PORTAL, Role.INTEGRATION)
ANYONE = tuple(Role)
STAFF = STAFF_ROLES
SERVICE_DESK = (ADMIN, ACCOUNT_MANAGER, SUPPORT_AGENT)

# capability: (the roles that hold it, what it lets them do)
TABLE: dict[Capability, tuple[tuple[Role, ...], str]] = {
    C.VIEWER_READ: (ANYONE, "see who its token stands for"),
    C.NODES_READ: (ANYONE, "fetch an object by its global id (null unless the object's own rules let it see it)"),
    C.CUSTOMERS_LOOKUP: (ANYONE, "look up one customer by id, email or external id (PORTAL: only its own)"),
    C.CUSTOMERS_READ: ((*STAFF, INTEGRATION), "list and search the customer base, and reach any customer"),
    C.CUSTOMERS_PII: ((ADMIN, ACCOUNT_MANAGER, SUPPORT_AGENT, PORTAL, INTEGRATION),
                      "see email and phone unmasked, and look up and select customers by them"),
    C.CUSTOMERS_WRITE: ((ADMIN, ACCOUNT_MANAGER),
                        "create customers, move stages, pin service tiers, assign account managers, merge"),
    C.CUSTOMERS_PROFILE: ((ADMIN, ACCOUNT_MANAGER, PORTAL),
                          "update a customer's profile and consents (PORTAL: its own; a new email is confirmed "
                          "by the new address)"),
    C.CUSTOMERS_CONFIRM_EMAIL: ((PORTAL,), "confirm its pending email change"),
    C.ORDERS_WRITE: ((ADMIN, ACCOUNT_MANAGER, INTEGRATION), "record, refund and cancel orders"),
    C.STAFF_READ: (STAFF, "read staff users"),
    C.STAFF_SEARCH: ((ADMIN, ACCOUNT_MANAGER), "list staff users by name"),
    # The one operation accepted without a token: a request without one is asked for nothing else.
    C.STAFF_SIGN_IN: (ANYONE, "sign a member of staff in with email and password (needs no token)"),
    C.PORTAL_SESSIONS_CREATE: ((ADMIN, INTEGRATION), "exchange a customer reference for a short-lived PORTAL token "
                                                     "(a portal's back end signing its customer in)"),
    C.TOKENS_MANAGE: ((ADMIN,), "list, create and revoke API tokens and sessions"),
    C.TOKENS_REVOKE_OWN: (ANYONE, "revoke its own token (sign out)"),
    C.SEGMENTS_READ: (STAFF, "read segments, a customer's segments and segment history, explain membership, "
                             "filter customers by segment"),
    C.SEGMENTS_PREVIEW: ((ADMIN, ACCOUNT_MANAGER, MARKETER), "preview a segment rule"),
    C.SEGMENTS_WRITE: ((ADMIN, MARKETER), "create, change, delete and refresh segments"),
    C.SEGMENTS_MEMBERS: ((ADMIN, ACCOUNT_MANAGER, MARKETER), "add and remove members of STATIC segments"),
    C.TIER_RULES_READ: (STAFF, "read the service tier rules"),
    C.TIER_RULES_WRITE: ((ADMIN,), "set the service tier rules"),
    C.MESSAGES_READ: ((*STAFF, PORTAL), "read messages (PORTAL: those sent to its own customer)"),
    C.MESSAGES_SEND: ((ADMIN, ACCOUNT_MANAGER), "send a manual message"),
    C.MESSAGES_TRANSACTIONAL: ((ADMIN,), "send TRANSACTIONAL messages and run TRANSACTIONAL campaigns, which go "
                                         "out without consent"),
    C.CARE_RULES_READ: (STAFF, "read the care rules"),
    C.CARE_RULES_WRITE: ((ADMIN, ACCOUNT_MANAGER), "change care rules"),
    C.CAMPAIGNS_READ: ((ADMIN, ACCOUNT_MANAGER, MARKETER), "read campaigns and their results"),
    C.CAMPAIGNS_WRITE: ((ADMIN, MARKETER), "write, preview, schedule, pause, resume and cancel campaigns"),
    C.MAPS_READ: ((*STAFF, INTEGRATION), "read journey maps and touchpoints"),
    C.MAPS_ANALYTICS: (STAFF, "read journey map analytics and reports"),
    C.MAPS_WRITE: ((ADMIN, MARKETER), "edit journey maps and touchpoints"),
    C.INTERACTIONS_RECORD: ((*SERVICE_DESK, INTEGRATION), "record interactions (one or 1000 at a time)"),
    # Cases carry complaints and internal notes: the service desk reads them, and a portal its own.
    C.CASES_READ: ((*SERVICE_DESK, PORTAL), "read cases (PORTAL: its own customer's)"),
    C.CASES_WORK: (SERVICE_DESK, "work the case queue: answer, assign, move and resolve cases, and be assigned them"),
    C.CASES_OPEN: ((*SERVICE_DESK, INTEGRATION, PORTAL), "open a case (PORTAL: for its own customer)"),
    C.SURVEYS_ANSWER: ((*SERVICE_DESK, INTEGRATION, PORTAL), "record survey answers (PORTAL: its own customer's)"),
    C.SERVICE_READ: (STAFF, "read service metrics and SLA policies"),
    C.SLA_WRITE: ((ADMIN,), "change SLA policies"),
    C.LOYALTY_READ: (ANYONE, "read the loyalty tiers and the rewards catalogue"),
    C.POINTS_WRITE: ((ADMIN, ACCOUNT_MANAGER, INTEGRATION), "earn and redeem points"),
    C.POINTS_ADJUST: ((ADMIN, ACCOUNT_MANAGER), "adjust points by hand"),
    C.REWARDS_WRITE: ((ADMIN,), "edit the rewards catalogue"),
    C.REWARDS_REDEEM: ((ADMIN, ACCOUNT_MANAGER, INTEGRATION, PORTAL), "redeem rewards (PORTAL: for its own customer)"),
}
del C

# Role order everywhere a role list is written out: the order of the Role enum.
_HOLDERS = {cap: tuple(r for r in Role if r in roles) for cap, (roles, _) in TABLE.items()}


def roles_for(capability: Capability) -> tuple[Role, ...]:
    """The roles holding ``capability``, in Role order."""
    return _HOLDERS[Capability(capability)]


def roles_without(capability: Capability) -> tuple[Role, ...]:
    holders = roles_for(capability)
    return tuple(r for r in Role if r not in holders)


class Anonymous(str, enum.Enum):
    """The role of a request without a token, which may only sign in (crm/api/view.py lets through no other
    document). Not a Role: no token, staff user or table column has it, and every check but ``has`` compares
    with Role members, which it equals none of. Not None either: None is the platform itself, which masks
    nothing (crm.masking)."""

    ANONYMOUS = "ANONYMOUS"


ANONYMOUS = Anonymous.ANONYMOUS
ANONYMOUS_CAPABILITIES = frozenset({Capability.STAFF_SIGN_IN})


def has(role: Role | Anonymous | None, capability: Capability) -> bool:
    """Whether ``role`` holds ``capability``; no role (None) holds none, ANONYMOUS only staff.sign_in."""
    if role is ANONYMOUS:
        return Capability(capability) in ANONYMOUS_CAPABILITIES
    return role is not None and Role(role) in roles_for(capability)


def capabilities_of(role: Role | Anonymous) -> tuple[Capability, ...]:
    return tuple(cap for cap in Capability if has(role, cap))


def means(capability: Capability) -> str:
    return TABLE[Capability(capability)][1]


README_BEGIN = "<!-- permissions table: generated from crm/auth/permissions.py by `crm permissions table --readme README.md` -->"
README_END = "<!-- end of permissions table -->"


def markdown_table() -> str:
    """The README's role table: one row per capability, a column per role."""
    roles = list(Role)
    lines = ["| capability | may | " + " | ".join(r.value for r in roles) + " |",
             "|---|---|" + "---|" * len(roles)]
    for cap in Capability:
        marks = " | ".join("✓" if r in roles_for(cap) else "" for r in roles)
        lines.append(f"| `{cap.value}` | {means(cap)} | {marks} |")
    return "\n".join(lines) + "\n"


def with_table(readme: str) -> str:
    """``readme`` with the generated table between its markers."""
    head, begin, rest = readme.partition(README_BEGIN)
    _, end, tail = rest.partition(README_END)
    if not begin or not end:
        raise ValueError("the README has no permissions table markers")
    return head + README_BEGIN + "\n" + markdown_table() + README_END + tail
