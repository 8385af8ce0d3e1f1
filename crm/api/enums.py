"""GraphQL enums of the shared domain enums (one graphene type each, reused everywhere)."""
import enum

import graphene

from crm import enums


def enum_type(enum_cls: type[enum.Enum], name: str | None = None, *,
              deprecated: dict[str, str] | None = None) -> type[graphene.Enum]:
    """The GraphQL enum of ``enum_cls``, of its name unless ``name``, without a description: graphene's
    from_enum would write the enum's docstring or "An enumeration." into the SDL. The members named in
    ``deprecated`` (name -> reason) are deprecated. Its input values are members of ``enum_cls``."""
    meta = {"enum": enum_cls}
    if deprecated:
        meta["deprecation_reason"] = lambda member: deprecated.get(member.name)
    return type(name or enum_cls.__name__, (graphene.Enum,), {"Meta": type("Meta", (), meta)})


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
