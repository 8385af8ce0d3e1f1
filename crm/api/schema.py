"""The one place the GraphQL schema is composed from every domain."""
from __future__ import annotations

import graphene

from crm.api.extensions import attach_fields
from crm.api.node import NodeField
from crm.auth.gql.queries import AuthQueries
from crm.auth.gql.sign_in import StaffSignInMutations
from crm.auth.gql.tokens import TokenMutations, TokenQueries
from crm.customers.gql.mutations import CustomerMutations
from crm.customers.gql.queries import CustomerQueries
from crm.customers.gql.types import Customer
from crm.auth.permissions import Capability
from journeys.campaigns.gql import types as campaign_types
from journeys.campaigns.gql.mutations import CampaignMutations
from journeys.campaigns.gql.queries import CampaignQueries
from journeys.gql import JourneyMutations, JourneyQueries
from journeys.interactions.gql import types as interaction_types
from journeys.maps.gql import types as map_types
from journeys.service.gql import types as service_types
from loyalty.gql import types as loyalty_types
from loyalty.gql.mutations import LoyaltyMutations
from loyalty.gql.queries import LoyaltyQueries
from crm.messages.gql import types as message_types
from crm.messages.gql.mutations import MessageMutations
from crm.messages.gql.queries import MessageQueries
from crm.segments.gql import types as segment_types
from crm.segments.gql.mutations import SegmentMutations
from crm.segments.gql.queries import SegmentQueries


class Query(CustomerQueries, SegmentQueries, JourneyQueries, LoyaltyQueries, MessageQueries, CampaignQueries,
            AuthQueries, TokenQueries, graphene.ObjectType):
    node = NodeField(capability=Capability.NODES_READ, description="Any object by its global id.",
                     note="Objects the token may not see resolve to null.")


class Mutation(CustomerMutations, SegmentMutations, JourneyMutations, LoyaltyMutations, MessageMutations,
               CampaignMutations, StaffSignInMutations, TokenMutations, graphene.ObjectType):
    pass


# The fields each domain adds to another's type (registered from its init_app), where the SDL has always
# listed them: clients and the committed graphql/schema.graphql diff by it.
CUSTOMER_FIELDS = ("journeys.interactions", "journeys.service", "crm.segments", "loyalty", "crm.messages")


def build_schema() -> graphene.Schema:
    attach_fields(Customer, order=CUSTOMER_FIELDS, before="created_at")
    attach_fields(loyalty_types.LedgerEntry, order=("journeys.service",), before="qualifying_points")
    return graphene.Schema(
        query=Query, mutation=Mutation,
        types=[map_types.Touchpoint, interaction_types.Interaction, service_types.Case, service_types.SurveyResponse,
               segment_types.Segment, loyalty_types.LedgerEntry, loyalty_types.Reward,
               loyalty_types.RewardRedemption, message_types.Message, campaign_types.Campaign],
    )


def sdl(schema: graphene.Schema) -> str:
    from graphql import print_schema
    return print_schema(schema.graphql_schema) + "\n"
