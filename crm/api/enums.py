"""GraphQL enums of the shared domain enums (one graphene type each, reused everywhere)."""
import graphene

from crm import enums

Role = graphene.Enum.from_enum(enums.Role)
LifecycleStage = graphene.Enum.from_enum(enums.LifecycleStage)
ServiceTier = graphene.Enum.from_enum(enums.ServiceTier)
Channel = graphene.Enum.from_enum(enums.Channel)


class OrderDirection(graphene.Enum):
    ASC = "ASC"
    DESC = "DESC"
