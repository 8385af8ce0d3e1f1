"""``node(id:)``: any object by its global id, with a malformed id an INVALID error on ``id``.

graphene's own resolver raises a bare Exception for an id it cannot parse or whose type is not a
node, which would surface as an internal error."""
from __future__ import annotations

from graphene import relay
from graphene.relay.node import NodeField as GrapheneNodeField

from crm.api.ids import split_global_id
from crm.errors import Invalid


def resolve_node(_root, info, id):
    """The object, or null when none has the id (a well-formed id of a node type whose raw part is not
    one of ours included); INVALID when the id is not a global id of a node type at all."""
    kind, raw = split_global_id(id, "id")
    graphene_type = getattr(info.schema.get_type(kind), "graphene_type", None)
    if relay.Node not in getattr(getattr(graphene_type, "_meta", None), "interfaces", ()):
        raise Invalid("Expected the global id of an object, as the API returned it.", "id")
    get_node = getattr(graphene_type, "get_node", None)
    return get_node(info, raw) if get_node else None


class NodeField(GrapheneNodeField):
    def __init__(self, **kwargs):
        super().__init__(relay.Node, **kwargs)

    def wrap_resolve(self, parent_resolver):
        return resolve_node
