"""What `crm demo` prints once the data are in: where the API is, a few customers to try, a portal's sign-in and
a staff sign-in ready to paste, and the ADMIN token last, alone on the last line (scripts read it there:
.ci/fuzz, tests/platform/test_demo.py).

Tokens are stored only as hashes, so every run makes a new INTEGRATION token for the portal example, as it
makes a new ADMIN token. The staff password is the demo's alone: it is set only here, only on a demo staff
user that has none yet, and printed as demo-only.
"""
from __future__ import annotations

import json
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from crm.auth.models import StaffUser
from crm.auth.services import create_token
from crm.customers.models import Customer
from crm.db import transaction
from crm.enums import Role

# Demo customers with a story worth a look, in the order they are printed; the first is the one the README's
# example and the portal example use. All are among the first 40 the demo seeds (`--customers 40` keeps them).
SAMPLE_EMAILS = (
    "emily.taylor@post.example",       # AT_RISK, two orders in GBP: the README's example
    "maximilian_meyer@mail.example",   # LOYAL VIP with an account manager
    "hannah.hoffmann@example.org",     # LOYAL PREFERRED
    "garcia.noah@inbox.example",       # ADVOCATE, moved there by hand
    "i.moreau@example.org",            # NEW, in the Welcome journey
)
MIN_SAMPLES = 3

DEMO_STAFF_EMAIL = "amelia.hartmann@demo.example"
DEMO_STAFF_PASSWORD = "demo-only-password"  # never anywhere but a demo database: printed for all to see
INTEGRATION_LABEL = "demo: a portal's back end"

CONTENT_TYPE = "-H 'Content-Type: application/json'"
PORTAL_SIGN_IN = ("mutation($email: String!) { portalSessionCreate(customer: {email: $email}) "
                  "{ token expiresAt viewer { customer { displayName } } errors { code message } } }")
PORTAL_QUERY = "{ viewer { customer { displayName email lifecycleStage serviceTier } } }"
STAFF_SIGN_IN = ("mutation($email: String!, $password: String!) { staffSignIn(email: $email, password: $password) "
                 "{ token expiresAt viewer { role staffUser { name } } errors { code message } } }")


@dataclass(frozen=True)
class Sample:
    name: str
    email: str
    stage: str
    tier: str


@dataclass(frozen=True)
class Welcome:
    samples: list[Sample]
    integration_token: str
    staff_email: str | None  # None: the demo staff user is missing, or has a password of someone's choosing


def prepare(session: Session) -> Welcome:
    """Pick the sample customers, make an INTEGRATION token and give the demo staff user the demo password
    (only if it has none: a password set with `crm staff set-password` is left alone)."""
    from crm.auth.sign_in import set_staff_password
    _, integration_token = create_token(session, role=Role.INTEGRATION, label=INTEGRATION_LABEL)
    with transaction(session):
        staff = session.execute(select(StaffUser.id, StaffUser.password_hash)
                                .where(StaffUser.email == DEMO_STAFF_EMAIL)).first()
        samples = _samples(session)
    # The reads end with their transaction: on SQLite every transaction holds the write lock, and the server
    # `crm demo` starts next shares this session; left open, it would lock the in-process worker out.
    staff_email = None
    if staff is not None and staff.password_hash is None:
        set_staff_password(session, email=DEMO_STAFF_EMAIL, password=DEMO_STAFF_PASSWORD)
        staff_email = DEMO_STAFF_EMAIL
    elif staff is not None and _is_demo_password(staff.password_hash):
        staff_email = DEMO_STAFF_EMAIL
    return Welcome(samples=samples, integration_token=integration_token, staff_email=staff_email)


def _is_demo_password(password_hash: str) -> bool:
    from argon2.exceptions import InvalidHashError, VerificationError

    from crm.auth.sign_in import HASHER
    try:
        return HASHER.verify(password_hash, DEMO_STAFF_PASSWORD)
    except (VerificationError, InvalidHashError):
        return False


def _samples(session: Session) -> list[Sample]:
    found = {c.email: c for c in session.scalars(select(Customer).where(Customer.email.in_(SAMPLE_EMAILS),
                                                                         Customer.merged_into_id.is_(None)))}
    chosen = [found[email] for email in SAMPLE_EMAILS if email in found]
    if len(chosen) < MIN_SAMPLES:  # a small --customers: whoever has an email
        chosen += session.scalars(select(Customer).where(Customer.email.is_not(None),
                                                         Customer.email.not_in(SAMPLE_EMAILS),
                                                         Customer.merged_into_id.is_(None))
                                  .order_by(Customer.email).limit(MIN_SAMPLES - len(chosen)))
    return [Sample(name=" ".join(part for part in (c.first_name, c.last_name) if part) or c.email, email=c.email,
                   stage=c.lifecycle_stage.value, tier=c.service_tier.value) for c in chosen]


def _body(query: str, variables: dict | None = None) -> str:
    payload = {"query": query, **({"variables": variables} if variables else {})}
    return "'" + json.dumps(payload, ensure_ascii=False) + "'"


def _bearer(variable: str) -> str:
    return f'-H "Authorization: Bearer ${variable}"'


def lines(welcome: Welcome, *, url: str, admin_token: str) -> list[str]:
    """The text, line by line; the ADMIN token is the last line."""
    out = ["", f"GraphQL API  {url}  (POST; health: /healthz)",
           f"GraphiQL     {url}  in a browser; it asks once per tab for a token (the ADMIN token below)"]
    if welcome.samples:
        out += ["", "Sample customers:"]
        widths = [max(len(getattr(s, f)) for s in welcome.samples) for f in ("name", "email", "stage")]
        out += [f"  {s.name:<{widths[0]}}  {s.email:<{widths[1]}}  {s.stage:<{widths[2]}}  {s.tier}"
                for s in welcome.samples]
        who = welcome.samples[0]
        out += ["", f"Portal sign-in: a portal's back end, with its INTEGRATION token, gets a PORTAL token (1 h) "
                    f"for {who.name}; the browser then calls the API with it:",
                f"  export INTEGRATION_TOKEN={welcome.integration_token}",
                f'  export PORTAL_TOKEN=$(curl -s {url} {_bearer("INTEGRATION_TOKEN")} {CONTENT_TYPE} \\',
                f"      -d {_body(PORTAL_SIGN_IN, {'email': who.email})} \\",
                "      | tee /dev/stderr | jq -r .data.portalSessionCreate.token)",
                f"  curl -s {url} {_bearer('PORTAL_TOKEN')} {CONTENT_TYPE} -d {_body(PORTAL_QUERY)}"]
    if welcome.staff_email:
        out += ["", f"Staff sign-in, no token needed: {welcome.staff_email}, DEMO-ONLY password {DEMO_STAFF_PASSWORD} "
                    "(elsewhere: `crm staff set-password EMAIL`):",
                f"  curl -s {url} {CONTENT_TYPE} \\",
                f"      -d {_body(STAFF_SIGN_IN, {'email': welcome.staff_email, 'password': DEMO_STAFF_PASSWORD})}"]
    out += ["", "ADMIN token (send as `Authorization: Bearer <token>`; the README's examples call it $TOKEN):",
            admin_token]
    return out
