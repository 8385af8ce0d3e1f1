"""staffSignIn: the one mutation a request without a token may run (crm/api/view.py lets it through)."""
from __future__ import annotations

import graphene

from crm.api.mutations import BaseMutation, root_mutations
from crm.auth.gql.types import SessionPayload
from crm.auth.permissions import Capability
from crm.auth.sign_in import SignInSettings, sign_in_staff


class StaffSignIn(BaseMutation):
    """Sign a member of staff in with email and password; needs no token. The answer carries a STAFF_SESSION
    token (shown once) lasting CRM_STAFF_SESSION_TTL, or INVALID_CREDENTIALS (one message for an unknown email
    and a wrong password) or LOCKED (after 5 failures within 15 minutes; the message says until when)."""

    class Arguments:
        email = graphene.String(required=True)
        password = graphene.String(required=True)

    payload, capability = SessionPayload, Capability.STAFF_SIGN_IN

    @classmethod
    def perform(cls, info, email, password):
        context = info.context
        signed_in = sign_in_staff(context.session, email=email, password=password,
                                  settings=SignInSettings.from_config(context.config))
        return SessionPayload(token=signed_in.token, expires_at=signed_in.expires_at, viewer=signed_in.viewer,
                              errors=[])


StaffSignInMutations = root_mutations("StaffSignInMutations", StaffSignIn)
