"""Journey map mutations: parse, call one service, shape the payload."""
from __future__ import annotations

import graphene

from crm.api.enums import Channel
from crm.api.mutations import BaseMutation, root_mutations
from crm.auth.permissions import Capability
from journeys.gql.errors import journey_errors, journey_payload
from journeys.maps import services as touchpoints
from journeys.maps.gql.report_types import JourneyMapDefinition
from journeys.maps.gql.types import Touchpoint


TouchpointPayload = journey_payload("TouchpointPayload", touchpoint=Touchpoint)


JourneyMapPayload = journey_payload("JourneyMapPayload", journey_map=JourneyMapDefinition)


class TouchpointCreateInput(graphene.InputObjectType):
    key = graphene.String(required=True)
    name = graphene.String(required=True)
    channel = Channel(required=True)
    stage = graphene.String(required=True)
    journey_map = graphene.String(required=True)


class JourneyMapSaveInput(graphene.InputObjectType):
    key = graphene.String(required=True)
    name = graphene.String(required=True)
    stages = graphene.List(graphene.NonNull(graphene.String), required=True)


class TouchpointCreate(BaseMutation):
    """Add a touchpoint to a stage of a journey map."""

    input_type, payload, capability = TouchpointCreateInput, TouchpointPayload, Capability.MAPS_WRITE

    @classmethod
    def perform(cls, info, input):
        touchpoint = touchpoints.create_touchpoint(info.context.session, **input)  # every field is required
        return TouchpointPayload(touchpoint=touchpoint, errors=[])


class JourneyMapSave(BaseMutation):
    """Create a journey map or change its name and stages; stages with touchpoints cannot be removed."""

    input_type, payload, capability = JourneyMapSaveInput, JourneyMapPayload, Capability.MAPS_WRITE

    @classmethod
    def perform(cls, info, input):
        saved = touchpoints.save_journey_map(info.context.session, **input)
        return JourneyMapPayload(journey_map=saved, errors=[])


MapMutations = root_mutations("MapMutations", TouchpointCreate, JourneyMapSave)
