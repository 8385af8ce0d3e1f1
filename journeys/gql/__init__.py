"""The journeys part of the schema: the queries and mutations of maps, interactions and service, composed.

graphene collects the fields of the bases last-first, so the bases are listed in reverse: the schema
keeps its field order (maps, then interactions, then service), and the committed SDL stays as it is.
"""
from __future__ import annotations

from journeys.interactions.gql.mutations import InteractionMutations
from journeys.maps.gql.mutations import MapMutations
from journeys.maps.gql.queries import MapQueries
from journeys.service.gql.mutations import ServiceMutations
from journeys.service.gql.queries import ServiceQueries


class JourneyQueries(ServiceQueries, MapQueries):
    pass


class JourneyMutations(ServiceMutations, InteractionMutations, MapMutations):
    pass
