"""GraphQL types of interactions: a customer's timeline across every channel."""
from __future__ import annotations

import graphene

from crm.api.connections import connection_type, page_size
from crm.api.enums import Channel
from crm.api.loaders import resolve_by
from crm.api.node import ModelNode
from crm.api.scalars import DateTime
from journeys.interactions import models
from journeys.interactions.gql import loaders
from journeys.maps.gql.types import Touchpoint
from journeys.service.gql import loaders as service_loaders
from journeys.service.gql.types import Case, case_of


class Interaction(ModelNode, graphene.ObjectType):
    customer = graphene.Field("crm.customers.gql.types.Customer", required=True)
    touchpoint = graphene.Field(Touchpoint, required=True)
    channel = graphene.Field(Channel, required=True)
    stage = graphene.String(required=True)
    occurred_at = DateTime(required=True)
    emotion = graphene.Int(description="-2 (very negative) .. 2 (very positive)")
    pain_points = graphene.List(graphene.NonNull(graphene.String), required=True)
    note = graphene.String()
    external_id = graphene.String()
    case = graphene.Field(Case)
    recorded_at = DateTime(required=True)

    node_model, node_of_customer, node_seen_as = models.Interaction, True, "interaction"

    resolve_customer = resolve_by(loaders.CustomerOfInteraction, "customer_id")

    resolve_touchpoint = resolve_by(loaders.TouchpointOfInteraction, "touchpoint_id")

    @staticmethod
    def resolve_pain_points(interaction, info):
        return interaction.pain_points or []

    @staticmethod
    def resolve_case(interaction, info):
        return case_of(info, service_loaders.CaseOfInteraction, interaction.case_id)


InteractionConnection = connection_type(Interaction, "Interaction")


def interactions_of(info, customer, first: int, after: str | None, channel):
    """The customer's timeline across every channel, newest first."""
    channel = channel.value if hasattr(channel, "value") else channel
    return info.context.loaders.get(loaders.InteractionsByCustomer, first, after, channel).load(customer.id)


class CustomerInteractions:
    """What interactions add to Customer (attached by crm.api.schema, registered in journeys.init_app)."""

    interactions = graphene.Field(graphene.NonNull(InteractionConnection), first=graphene.Int(),
                                  after=graphene.String(), channel=graphene.Argument(Channel),
                                  description="Newest first.")

    @staticmethod
    def resolve_interactions(customer, info, first=None, after=None, channel=None):
        return interactions_of(info, customer, page_size(info, first), after, channel)
