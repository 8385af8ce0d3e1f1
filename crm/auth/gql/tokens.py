"""API tokens and sessions: the ApiToken node, the admin's `apiTokens` list, `apiTokenCreate`, `apiTokenRevoke`
(an admin any token, every other token its own: signing out) and `portalSessionCreate`."""
from __future__ import annotations

import graphene
from graphene import relay
from sqlalchemy import select

from crm.api.access import access_customer
from crm.api.connections import connection_type, page_size
from crm.api.enums import Role, enum_type
from crm.api.ids import parse_id
from crm.api.loaders import Loader
from crm.api.mutations import BaseMutation, root_mutations
from crm.api.node import ModelNode
from crm.api.permissions import PermissionField
from crm.api.scalars import DateTime
from crm.auth import selectors, services
from crm.auth.gql.types import AuthError, SessionPayload, StaffUser
from crm.auth.models import ApiToken as ApiTokenModel
from crm.auth.models import StaffUser as StaffUserModel
from crm.auth.models import TokenKind as TokenKindEnum
from crm.auth.permissions import Capability
from crm.customers.gql.refs import CustomerRef, resolve_customer_ref
from crm.customers.models import Customer as CustomerModel
from crm.enums import Role as RoleEnum
from crm.errors import DomainError

TokenKind = enum_type(TokenKindEnum)


class StaffOfToken(Loader):
    parent_kind = "api_token"

    def key_of(self, token):
        return token.staff_user_id

    def batch(self, keys):
        return {row.id: row for row in self.session.scalars(select(StaffUserModel).where(StaffUserModel.id.in_(keys)))}


class CustomerOfToken(Loader):
    parent_kind = "api_token"
    produces = "customer"

    def key_of(self, token):
        return token.customer_id

    def batch(self, keys):
        keys = [k for k in keys if access_customer(self.context, k) is not None]
        rows = self.session.scalars(select(CustomerModel).where(CustomerModel.id.in_(keys),
                                                                CustomerModel.merged_into_id.is_(None)))
        return {row.id: row for row in rows}


class ApiToken(ModelNode, graphene.ObjectType):
    class Meta:
        interfaces = (relay.Node,)
        description = ("A bearer token or session. Only its SHA-256 is stored: the token itself is shown once, by "
                       "apiTokenCreate, portalSessionCreate or staffSignIn.")

    role = graphene.Field(Role, required=True)
    kind = graphene.Field(TokenKind, required=True,
                          description="API: made by an admin; PORTAL_SESSION, STAFF_SESSION: made by a sign-in.")
    label = graphene.String()
    staff_user = graphene.Field(StaffUser)
    customer = graphene.Field("crm.customers.gql.types.Customer", description="Set for PORTAL tokens.")
    created_at = DateTime(required=True)
    expires_at = DateTime(description="Null: until revoked.")
    last_used_at = DateTime(description="Kept to within about a minute.")
    revoked_at = DateTime()

    node_model, node_capability = ApiTokenModel, Capability.TOKENS_MANAGE
    node_seen_as = "api_token"

    @staticmethod
    def resolve_staff_user(token, info):
        return info.context.loaders.get(StaffOfToken).load(token.staff_user_id)

    @staticmethod
    def resolve_customer(token, info):
        return info.context.loaders.get(CustomerOfToken).load(token.customer_id)


ApiTokenConnection = connection_type(ApiToken, "ApiToken")


class TokenQueries(graphene.ObjectType):
    api_tokens = PermissionField(
        graphene.NonNull(ApiTokenConnection), first=graphene.Int(), after=graphene.String(), role=Role(),
        include_revoked=graphene.Boolean(), capability=Capability.TOKENS_MANAGE,
        description="Tokens and sessions, newest first; revoked ones with includeRevoked.",
        note="Expired sessions are listed until the purge deletes them (docs/auth.md).")

    @staticmethod
    def resolve_api_tokens(root, info, first=None, after=None, role=None, include_revoked=False):
        page = selectors.list_tokens(info.context.session, first=page_size(info, first), after=after,
                                     role=RoleEnum(getattr(role, "value", role)) if role else None,
                                     include_revoked=bool(include_revoked))
        info.context.loaders.see("api_token", page.items)
        return page


class ApiTokenPayload(graphene.ObjectType):
    api_token = graphene.Field(ApiToken)
    token = graphene.String(description="The secret, shown once, on create only.")
    errors = graphene.List(graphene.NonNull(AuthError), required=True)


class ApiTokenInput(graphene.InputObjectType):
    role = graphene.InputField(Role, required=True)
    label = graphene.String()
    staff_email = graphene.String(description="The staff user the token belongs to (staff roles but ADMIN: "
                                              "required).")
    customer = graphene.InputField(CustomerRef, description="PORTAL only: the customer the token is bound to.")
    expires_at = DateTime(description="Null: until revoked.")


# The services name their fields as the CLI's options; the payload names them as the input does.
_INPUT_FIELDS = {"staff": "staffEmail"}


class ApiTokenCreate(BaseMutation):
    """Create a token; the secret is in `token`, once."""

    input_type, payload, capability = ApiTokenInput, ApiTokenPayload, Capability.TOKENS_MANAGE

    errors_name_the_input_argument = False

    @classmethod
    def perform(cls, info, input):
        session = info.context.session
        customer = resolve_customer_ref(session, input["customer"]) if input.get("customer") is not None else None
        try:
            row, token = services.create_token(
                session, role=RoleEnum(getattr(input["role"], "value", input["role"])),
                staff_email=input.get("staff_email"), customer_id=customer.id if customer else None,
                label=input.get("label"), expires_at=input.get("expires_at"))
        except DomainError as exc:
            raise DomainError(exc.code, exc.message, _INPUT_FIELDS.get(exc.field, exc.field)) from None
        info.context.loaders.see("api_token", [row])
        return ApiTokenPayload(api_token=row, token=token, errors=[])


class ApiTokenRevoke(BaseMutation):
    """Revoke a token at once. An ADMIN revokes any; every other token only its own id (signing out): any other
    id is NOT_FOUND, as an unknown one."""

    class Arguments:
        id = graphene.ID(required=True)

    payload, capability = ApiTokenPayload, Capability.TOKENS_REVOKE_OWN

    @classmethod
    def perform(cls, info, id):
        context = info.context
        row = services.revoke_token(context.session, token_id=parse_id(id, "ApiToken", "id"), by=context.viewer)
        context.loaders.see("api_token", [row])
        return ApiTokenPayload(api_token=row, errors=[])


class PortalSessionCreate(BaseMutation):
    """A portal's back end, having signed its customer in, exchanges a reference to that customer for a PORTAL
    token bound to it: `ttlSeconds` (default 3600, at least 60) capped at CRM_PORTAL_SESSION_MAX_TTL."""

    class Arguments:
        customer = CustomerRef(required=True)
        ttl_seconds = graphene.Int()

    payload, capability = SessionPayload, Capability.PORTAL_SESSIONS_CREATE

    @classmethod
    def perform(cls, info, customer, ttl_seconds=None):
        context = info.context
        found = resolve_customer_ref(context.session, customer)
        row, token = services.create_portal_session(
            context.session, customer_id=found.id, ttl_seconds=ttl_seconds,
            max_ttl=int(context.config["PORTAL_SESSION_MAX_TTL"]), label=f"session by {context.viewer.actor}"[:200])
        viewer = services.Viewer(role=row.role, token_id=row.id, customer_id=row.customer_id, label=row.label)
        return SessionPayload(token=token, expires_at=row.expires_at, viewer=viewer, errors=[])


TokenMutations = root_mutations("TokenMutations", PortalSessionCreate, ApiTokenCreate, ApiTokenRevoke)
