"""Signed links: what a message sends the customer to (a survey, unsubscribe, the preference centre, a consent
confirmation) without an account or a token.

A link carries its purpose, the customer and a target (a case, a message), signed with CRM_SECRET_KEY by
itsdangerous, and expires after ``max_age`` seconds (CRM_LINKS_MAX_AGE). The purpose is the signature's salt: a
link made for one purpose never opens another. Nothing is stored: whether a link was used is the state it
changes (a survey answered once per customer, kind and case), so the pages decide that. Times come from the
platform clock, so tests freeze and move them as everything else.

No Flask here: the pages (crm/pages) read the secret and the base URL from the config and pass them in.
"""
from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass
from urllib.parse import quote

from itsdangerous import BadSignature, SignatureExpired, TimestampSigner, URLSafeTimedSerializer

from crm import clock


class LinkPurpose(enum.StrEnum):
    SURVEY = "survey"
    UNSUBSCRIBE = "unsubscribe"
    PREFERENCES = "preferences"
    CONFIRM_CONSENT = "confirm-consent"


class LinkProblem(enum.StrEnum):
    INVALID = "invalid"    # tampered, truncated, signed with another key or for another purpose
    EXPIRED = "expired"


class LinkRefused(Exception):
    def __init__(self, problem: LinkProblem):
        super().__init__(problem.value)
        self.problem = problem


@dataclass(frozen=True)
class Link:
    purpose: LinkPurpose
    customer_id: uuid.UUID
    target: str | None = None   # a case or message id, a channel, ...: what the purpose needs


class _ClockSigner(TimestampSigner):
    def get_timestamp(self) -> int:
        return int(clock.timestamp())


def _serializer(secret: str, purpose: LinkPurpose) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret, salt=f"crm.links.{purpose.value}", signer=_ClockSigner)


def make_token(secret: str, link: Link) -> str:
    return _serializer(secret, link.purpose).dumps([str(link.customer_id), link.target])


def read_token(secret: str, token: str, *, purpose: LinkPurpose, max_age: int) -> Link:
    """The link ``token`` stands for, if it was made for ``purpose`` with ``secret`` less than ``max_age`` seconds
    ago; LinkRefused otherwise. A token from the future (a clock moved back) is INVALID, as itsdangerous says."""
    try:
        customer_id, target = _serializer(secret, purpose).loads(token, max_age=max_age)
        return Link(purpose, uuid.UUID(customer_id), target)
    except SignatureExpired:
        raise LinkRefused(LinkProblem.EXPIRED) from None
    except (BadSignature, ValueError, TypeError):
        raise LinkRefused(LinkProblem.INVALID) from None


# The path of each purpose's page, below CRM_PUBLIC_BASE_URL.
PATHS = {
    LinkPurpose.SURVEY: "/s/survey",
    LinkPurpose.UNSUBSCRIBE: "/s/unsubscribe",
    LinkPurpose.PREFERENCES: "/s/preferences",
    LinkPurpose.CONFIRM_CONSENT: "/s/confirm",
}


def link_url(base_url: str, secret: str, link: Link) -> str:
    """The absolute URL of ``link``'s page: ``base_url`` (CRM_PUBLIC_BASE_URL) + its path + the token."""
    return f"{base_url.rstrip('/')}{PATHS[link.purpose]}/{quote(make_token(secret, link), safe='')}"


def configured_url(config, link: Link) -> str:
    """``link_url`` with the deployment's CRM_PUBLIC_BASE_URL and CRM_SECRET_KEY, for services holding the config."""
    return link_url(str(config["PUBLIC_BASE_URL"]), str(config["SECRET_KEY"]), link)
