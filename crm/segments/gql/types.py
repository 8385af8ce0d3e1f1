"""GraphQL types of segments (contract: "segments"). The segments issue adds rules and membership."""
from __future__ import annotations

import graphene
from graphene import relay

from crm.api.connections import connection_type
from crm.api.scalars import DateTime, JSON


class SegmentKind(graphene.Enum):
    DYNAMIC = "DYNAMIC"
    STATIC = "STATIC"


class Segment(graphene.ObjectType):
    class Meta:
        interfaces = (relay.Node,)

    name = graphene.String(required=True)
    description = graphene.String()
    kind = graphene.Field(SegmentKind, required=True)
    rule = graphene.Field(JSON, description="DYNAMIC only.")
    member_count = graphene.Int(required=True)
    members = graphene.Field(graphene.NonNull("crm.customers.gql.types.CustomerConnection"),
                             first=graphene.Int(), after=graphene.String())
    refreshed_at = DateTime()


SegmentConnection = connection_type(Segment, "Segment")
