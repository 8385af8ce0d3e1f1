"""``node(id:)``: any object by its global id, with a malformed id an INVALID error on ``id``.

graphene's own resolver raises a bare Exception for an id it cannot parse or whose type is not a
node, which would surface as an internal error."""
from __future__ import annotations

from graphene import relay
from graphene.relay.node import NodeField as GrapheneNodeField

from crm.api.access import access_customer
from crm.api.ids import load_node, split_global_id
from crm.api.permissions import describe, require
from crm.auth.permissions import Capability, has
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
    def __init__(self, *, capability: Capability, description: str | None = None, note: str | None = None,
                 **kwargs):
        self.capability = Capability(capability)
        super().__init__(relay.Node, description=describe(description, self.capability, note), **kwargs)

    def wrap_resolve(self, parent_resolver):
        capability = self.capability

        def guarded(root, info, **kwargs):
            require(info.context, capability)
            return resolve_node(root, info, **kwargs)

        return guarded


class ModelNode:
    """The node half of a GraphQL type for one model: ``is_type_of`` by the model class, and ``get_node``
    the row of the id (no query for a malformed one) when the viewer may see it:

    - ``node_capability``: when set, the capability needed to see any (checked before a query);
    - ``node_of_customer``: the row has a ``customer_id`` and only viewers who reach that customer see it
      (a PORTAL token: its own, ``access_customer``);
    - ``visible_node``: what else the type checks;
    - ``node_seen_as``: the loaders' kind the row is registered as, for what is loaded about it later.

    List it before ``graphene.ObjectType`` among the bases, since ObjectType's own ``is_type_of`` is None.
    Such a type implements ``Node`` (``get_node`` is what ``node(id:)`` calls) without its Meta saying so."""
    node_model: type
    node_capability: Capability | None = None
    node_of_customer = False
    node_seen_as: str | None = None

    def __init_subclass__(cls, **options):
        options.setdefault("interfaces", (relay.Node,))  # a Meta's own interfaces still win (graphene merges)
        super().__init_subclass__(**options)

    @classmethod
    def is_type_of(cls, root, info):
        return isinstance(root, cls.node_model)

    @classmethod
    def get_node(cls, info, id):
        if cls.node_capability is not None and not has(info.context.viewer.role, cls.node_capability):
            return None
        row = load_node(info.context.session, cls.node_model, id)
        if row is None or (cls.node_of_customer and access_customer(info.context, row.customer_id) is None):
            return None
        row = cls.visible_node(info, row)
        if row is not None and cls.node_seen_as:
            info.context.loaders.see(cls.node_seen_as, [row])
        return row

    @classmethod
    def visible_node(cls, info, row):
        """``row`` as this viewer may see it, or None; every row by default."""
        return row
