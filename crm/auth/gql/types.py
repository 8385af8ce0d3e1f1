from __future__ import annotations

import graphene
from graphene import relay

from crm.api.enums import Role
from crm.api.errors import error_type
from crm.api.ids import global_id
from crm.api.scalars import DateTime
from crm.api.loaders import Loader
from crm.api.node import ModelNode
from crm.auth.errors import AuthErrorCode
from crm.auth.models import StaffUser as StaffUserModel
from crm.auth.permissions import Capability
from sqlalchemy import select


class StaffById(Loader):
    """Staff users by id, for every seen customer's account manager."""

    parent_kind = "customer"

    def key_of(self, customer):
        return customer.account_manager_id

    def batch(self, keys):
        rows = self.session.scalars(select(StaffUserModel).where(StaffUserModel.id.in_(keys)))
        return {row.id: row for row in rows}


class StaffUser(ModelNode, graphene.ObjectType):
    class Meta:
        interfaces = (relay.Node,)
        description = "A member of staff. Visible to staff roles; a PORTAL token sees its own account manager."

    name = graphene.String(required=True)
    email = graphene.String(required=True)
    role = graphene.Field(Role, required=True)

    node_model, node_capability = StaffUserModel, Capability.STAFF_READ


class Viewer(graphene.ObjectType):
    class Meta:
        description = "Who the bearer token stands for."

    role = graphene.Field(Role, required=True)
    staff_user = graphene.Field(StaffUser)
    customer = graphene.Field("crm.customers.gql.types.Customer", description="Set for PORTAL tokens.")
    token_id = graphene.ID(description="The global id of this token (an ApiToken): `apiTokenRevoke(id:)` with it "
                                       "signs out.")

    @staticmethod
    def resolve_role(viewer, info):
        return viewer.role

    @staticmethod
    def resolve_token_id(viewer, info):
        return global_id("ApiToken", viewer.token_id) if viewer.token_id else None

    @staticmethod
    def resolve_staff_user(viewer, info):
        if viewer.staff_user_id is None:
            return None
        return info.context.session.get(StaffUserModel, viewer.staff_user_id)

    @staticmethod
    def resolve_customer(viewer, info):
        if viewer.customer_id is None:
            return None
        from crm.api.access import see_customers
        from crm.customers.selectors import get_customer
        return see_customers(info, get_customer(info.context.session, viewer.customer_id))


AuthError = error_type("AuthError", AuthErrorCode)


class SessionPayload(graphene.ObjectType):
    class Meta:
        description = ("A signed-in session: staffSignIn's and portalSessionCreate's answer. The token is shown here "
                       "once and never again.")

    token = graphene.String(description="The bearer token, shown once.")
    expires_at = DateTime()
    viewer = graphene.Field(Viewer, description="Who the token stands for.")
    errors = graphene.List(graphene.NonNull(AuthError), required=True)
