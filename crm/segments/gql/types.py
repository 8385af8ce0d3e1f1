"""GraphQL types of segments (contract: "segments"): staff read them; PORTAL and INTEGRATION tokens do not."""
from __future__ import annotations

import graphene

from crm.api.access import actor_for_viewer, see_customers
from crm.api.connections import connection_type, page_size
from crm.api.enums import ServiceTier, enum_type
from crm.api.loaders import resolve_by
from crm.api.node import ModelNode
from crm.api.permissions import mask_email, require
from crm.api.scalars import JSON, DateTime
from crm.auth.permissions import Capability
from crm.errors import DomainError, Forbidden
from crm.masking import masks_pii
from crm.segments import models
from crm.segments.rules import condition_fields
from crm.segments.gql import loaders


SegmentKind = enum_type(models.SegmentKind)


MembershipChangeKind = enum_type(models.MembershipChangeKind)


def see_segments(info, segments):
    info.context.loaders.see("segment", segments)
    return segments


class Segment(ModelNode, graphene.ObjectType):
    class Meta:
        description = "A group of customers: DYNAMIC follows a rule, STATIC is kept by hand."

    name = graphene.String(required=True)
    description = graphene.String()
    kind = graphene.Field(SegmentKind, required=True)
    rule = graphene.Field(JSON, description="DYNAMIC only.")
    member_count = graphene.Int(required=True)
    members = graphene.Field(graphene.NonNull("crm.customers.gql.types.CustomerConnection"),
                             first=graphene.Int(), after=graphene.String(),
                             description="Current members, most recently joined first.")
    refreshed_at = DateTime(description="The last full refresh of a DYNAMIC segment.")
    history = graphene.Field(graphene.NonNull(lambda: SegmentMembershipChangeConnection),
                             first=graphene.Int(), after=graphene.String(),
                             description="Who joined and left, and why, newest first.")
    created_by = graphene.String()
    created_at = DateTime(required=True)
    updated_at = DateTime(required=True)

    node_model, node_capability = models.Segment, Capability.SEGMENTS_READ

    @classmethod
    def visible_node(cls, info, segment):
        return see_segments(info, [segment])[0]

    @staticmethod
    def resolve_kind(segment, info):
        return segment.kind.value

    @staticmethod
    def resolve_members(segment, info, first=None, after=None):
        page = info.context.loaders.get(loaders.MembersBySegment, page_size(info, first), after).load(segment.id)
        see_customers(info, page.items)
        page.count = lambda: segment.member_count
        return page

    @staticmethod
    def resolve_history(segment, info, first=None, after=None):
        return info.context.loaders.get(loaders.HistoryBySegment, page_size(info, first), after).load(segment.id)


class SegmentMembershipChange(graphene.ObjectType):
    segment = graphene.Field(Segment, description="Null once the segment is deleted.")
    customer = graphene.Field("crm.customers.gql.types.Customer", description="Null once merged away.")
    change = graphene.Field(MembershipChangeKind, required=True)
    reason = graphene.String(description='Why: "rule: <event>", "rule: periodic refresh", "added by hand", ...')
    actor = graphene.String()
    at = DateTime(required=True)

    resolve_segment = resolve_by(loaders.SegmentOfChange, "segment_id")

    @staticmethod
    def resolve_customer(change, info):
        return see_customers(info, info.context.loaders.get(loaders.CustomerOfChange).load(change.customer_id))

    @staticmethod
    def resolve_change(change, info):
        return change.change.value

    @staticmethod
    def resolve_actor(change, info):
        return actor_for_viewer(info, change.actor)


SegmentConnection = connection_type(Segment, "Segment")
SegmentMembershipChangeConnection = connection_type(SegmentMembershipChange, "SegmentMembershipChange")


class SegmentPreview(graphene.ObjectType):
    count = graphene.Int(required=True)
    sample = graphene.List(graphene.NonNull("crm.customers.gql.types.Customer"), required=True)


class SegmentExplanation(graphene.ObjectType):
    member = graphene.Boolean(required=True, description="Stored membership now.")
    trace = graphene.Field(JSON, required=True,
                           description="The rule tree, each node with its result and each condition with its value.")
    rule_result = graphene.Boolean(required=True, description="What the rule answers now; differs from `member` "
                                                              "only until the pending re-evaluation runs.")
    last_change = graphene.Field(SegmentMembershipChange, description="The customer's last join or leave.")


class ServiceTierRule(graphene.ObjectType):
    tier = graphene.Field(ServiceTier, required=True)
    rule = graphene.Field(JSON, required=True)
    is_default = graphene.Boolean(required=True, description="True: the spend threshold of the configuration.")


CONTACT_FIELDS = ("email",)


def refuse_contact_fields(info, rule, field: str) -> None:
    """Roles that see contact details masked may not select by them either: counts and members of
    ``email starts_with "a"``, "ab", ... would spell a hidden address out."""
    if not masks_pii(info.context.viewer.role) or not isinstance(rule, dict):
        return
    try:
        used = condition_fields(rule)
    except DomainError:
        return  # the service names what is invalid
    if used & set(CONTACT_FIELDS):
        raise Forbidden(f"The {info.context.viewer.role.value} role sees contact details masked and cannot "
                        f"select customers by them.", field)


def mask_trace(info, node):
    """An explain trace with the customer's own contact details masked for roles that see them masked."""
    if not masks_pii(info.context.viewer.role) or not isinstance(node, dict):
        return node
    out = dict(node)
    if out.get("field") in CONTACT_FIELDS and isinstance(out.get("actual"), str):
        out["actual"] = mask_email(out["actual"])
    for key in ("all", "any"):
        if key in out:
            out[key] = [mask_trace(info, child) for child in out[key]]
    if "not" in out:
        out["not"] = mask_trace(info, out["not"])
    return out


def segments_of(info, customer):
    require(info.context, Capability.SEGMENTS_READ)
    return info.context.loaders.get(loaders.SegmentsByCustomer).load(customer.id)


def segment_history_of(info, customer, first, after):
    require(info.context, Capability.SEGMENTS_READ)
    return info.context.loaders.get(loaders.HistoryByCustomer, page_size(info, first), after).load(customer.id)


class CustomerSegments:
    """What segments add to Customer (attached by crm.api.schema, registered in crm.segments.init_app)."""

    segments = graphene.List(graphene.NonNull(Segment), required=True,
                             description="Segments the customer is in now. Staff only.")
    segment_history = graphene.Field(
        graphene.NonNull(SegmentMembershipChangeConnection), first=graphene.Int(),
        after=graphene.String(), description="Every segment join and leave, newest first. Staff only.")

    @staticmethod
    def resolve_segments(customer, info):
        return segments_of(info, customer)

    @staticmethod
    def resolve_segment_history(customer, info, first=None, after=None):
        return segment_history_of(info, customer, first, after)
