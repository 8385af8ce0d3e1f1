"""GraphQL enums of the shared domain enums (one graphene type each, reused everywhere)."""
import enum

import graphene

from crm import enums


def enum_type(enum_cls: type[enum.Enum], name: str | None = None) -> type[graphene.Enum]:
    """The GraphQL enum of ``enum_cls``, of its name unless ``name``, without a description: graphene's
    from_enum would write "An enumeration." into the SDL. Its input values are members of ``enum_cls``."""
    return type(name or enum_cls.__name__, (graphene.Enum,), {"Meta": type("Meta", (), {"enum": enum_cls})})


def names_enum(name: str, members: str, module: str) -> type[graphene.Enum]:
    """A GraphQL enum of no domain enum whose values are its members' names (crm.enums.named_enum)."""
    return enum_type(enums.named_enum(name, members, module))

Role = graphene.Enum.from_enum(enums.Role)
LifecycleStage = graphene.Enum.from_enum(enums.LifecycleStage)
ServiceTier = graphene.Enum.from_enum(enums.ServiceTier)
Channel = graphene.Enum.from_enum(enums.Channel)


class OrderDirection(graphene.Enum):
    ASC = "ASC"
    DESC = "DESC"
