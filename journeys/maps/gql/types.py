"""GraphQL types of journey maps: the touchpoint catalogue."""
from __future__ import annotations

import graphene

from crm.api.enums import Channel
from crm.api.node import ModelNode
from crm.auth.permissions import Capability
from journeys.maps import models


class Touchpoint(ModelNode, graphene.ObjectType):
    key = graphene.String(required=True, description='e.g. "web.checkout", "store.repair-desk"')
    name = graphene.String(required=True)
    channel = graphene.Field(Channel, required=True)
    stage = graphene.String(required=True)
    journey_map = graphene.String(required=True)

    node_model, node_capability = models.Touchpoint, Capability.MAPS_READ

    @staticmethod
    def resolve_journey_map(touchpoint, info):
        return touchpoint.journey_map_key
