from __future__ import annotations

import graphene
from sqlalchemy import select

from crm.api.connections import connection_type, page_size
from crm.api.permissions import PermissionField
from crm.auth.gql.types import StaffUser, Viewer
from crm.auth.models import StaffUser as StaffUserModel
from crm.auth.permissions import Capability
from crm.pagination import SortKey, keyset_page

StaffUserConnection = connection_type(StaffUser, "StaffUser")

_STAFF_KEYS = [SortKey(StaffUserModel.name, lambda s: s.name, "str"), SortKey(StaffUserModel.id, lambda s: s.id, "uuid")]


class AuthQueries(graphene.ObjectType):
    viewer = PermissionField(graphene.NonNull(Viewer), capability=Capability.VIEWER_READ,
                             description="Who this token stands for.")
    staff_users = PermissionField(graphene.NonNull(StaffUserConnection), first=graphene.Int(), after=graphene.String(),
                                  capability=Capability.STAFF_SEARCH,
                                  description="Staff users by name, e.g. to pick an account manager.")

    @staticmethod
    def resolve_viewer(root, info):
        return info.context.viewer

    @staticmethod
    def resolve_staff_users(root, info, first=None, after=None):
        return keyset_page(info.context.session, select(StaffUserModel), ordering="staff", keys=_STAFF_KEYS,
                           first=page_size(info, first), after=after)
