"""Segment mutations: parse, call one service, shape the payload."""
from __future__ import annotations

import graphene

from crm.api.enums import ServiceTier
from crm.api.errors import error_list, error_type, payload_type
from crm.api.ids import parse_id
from crm.api.mutations import BaseMutation, family_member, mutation_family, root_mutations
from crm.api.scalars import JSON
from crm.auth.permissions import Capability
from crm.enums import ServiceTier as ServiceTierValue
from crm.errors import Invalid
from crm.segments import services, tiers
from crm.segments.errors import SegmentErrorCode
from crm.segments.gql.types import Segment, SegmentKind, ServiceTierRule, refuse_contact_fields
from crm.segments.models import SegmentKind as SegmentKindValue

MAX_IDS = services.MAX_IDS


SegmentError = error_type("SegmentError", SegmentErrorCode)


class SegmentCreateInput(graphene.InputObjectType):
    name = graphene.String(required=True)
    description = graphene.String()
    kind = graphene.InputField(SegmentKind, required=True)
    rule = graphene.Field(JSON, description="DYNAMIC only: the rule tree (docs/segments.md).")


SegmentPayload = payload_type("SegmentPayload", SegmentError, segment=Segment)


def _fields(info, input) -> dict:
    refuse_contact_fields(info, input.get("rule"), "input.rule")
    return {"name": input.get("name"), "description": input.get("description"),
            "kind": SegmentKindValue(getattr(input["kind"], "value", input["kind"])), "rule": input.get("rule")}


_SegmentMutation = mutation_family("_SegmentMutation", SegmentPayload, Capability.SEGMENTS_WRITE)


class SegmentCreate(_SegmentMutation):
    """Create a segment. A DYNAMIC segment's rule is validated (the error names the bad node, e.g.
    input.rule.all.1.field) and its members are computed before this returns."""

    input_type = SegmentCreateInput

    @classmethod
    def perform(cls, info, input):
        segment = services.create_segment(info.context.session, **_fields(info, input), actor=info.context.viewer.actor)
        return SegmentPayload(segment=segment, errors=[])


class SegmentUpdate(_SegmentMutation):
    """Replace a segment's name, description, kind and rule; a DYNAMIC segment is refreshed against the
    new rule (members who no longer match leave, with the reason in their history)."""

    class Arguments:
        id = graphene.ID(required=True)
        input = SegmentCreateInput(required=True)

    @classmethod
    def perform(cls, info, id, input):
        segment = services.update_segment(info.context.session, segment_id=parse_id(id, "Segment", "id"),
                                          **_fields(info, input), actor=info.context.viewer.actor)
        return SegmentPayload(segment=segment, errors=[])


def _segment_change(name: str, doc: str, change):
    """A mutation of the segment ``id`` alone, by the service ``change``."""
    def perform(cls, info, id):
        segment = change(info.context.session, segment_id=parse_id(id, "Segment", "id"),
                         actor=info.context.viewer.actor)
        return SegmentPayload(segment=segment, errors=[])

    return family_member(name, _SegmentMutation, doc, perform, {"id": graphene.ID(required=True)})


SegmentDelete = _segment_change(
    "SegmentDelete", "Delete a segment and its memberships; refused while another segment's rule or a tier rule "
    "reads it. The payload's segment is the deleted one as it was.", services.delete_segment)


class _MembersChange(_SegmentMutation):
    """Subclasses name the service that changes the members as ``change``."""

    capability = Capability.SEGMENTS_MEMBERS

    class Meta:
        abstract = True

    class Arguments:
        segment_id = graphene.ID(required=True)
        customer_ids = graphene.List(graphene.NonNull(graphene.ID), required=True)

    @classmethod
    def perform(cls, info, segment_id, customer_ids):
        if len(customer_ids) > MAX_IDS:
            raise Invalid(f"At most {MAX_IDS} customers per call.", "customerIds")
        ids = [parse_id(v, "Customer", f"customerIds.{i}") for i, v in enumerate(customer_ids)]
        segment = cls.change(info.context.session, segment_id=parse_id(segment_id, "Segment", "segmentId"),
                             customer_ids=ids, actor=info.context.viewer.actor)
        return SegmentPayload(segment=segment, errors=[])


class SegmentAddCustomers(_MembersChange):
    """Add up to 1000 customers to a STATIC segment; customers already in it are left as they are."""

    change = staticmethod(services.add_customers)


class SegmentRemoveCustomers(_MembersChange):
    """Remove up to 1000 customers from a STATIC segment; customers not in it are ignored."""

    change = staticmethod(services.remove_customers)


SegmentRefresh = _segment_change(
    "SegmentRefresh", "Recompute a DYNAMIC segment over the whole base now, writing only the differences.",
    services.refresh_segment)


class ServiceTierRuleInput(graphene.InputObjectType):
    tier = graphene.InputField(ServiceTier, required=True, description="VIP or PREFERRED.")
    rule = graphene.Field(JSON, description="A rule of the segment language; null restores the default.")


class ServiceTierRulePayload(graphene.ObjectType):
    rules = graphene.List(graphene.NonNull(ServiceTierRule), description="Every tier rule after the change; "
                                                                        "null when the change failed.")
    customers_moved = graphene.Int(description="Customers whose (unpinned) tier changed; null when it failed.")
    errors = error_list(SegmentError)


class ServiceTierRuleUpdate(BaseMutation):
    """Set the rule of an automatic service tier (VIP, then PREFERRED, take precedence in that order) and
    re-evaluate every unpinned customer's tier. Pinned tiers are never changed."""

    input_type, payload, capability = ServiceTierRuleInput, ServiceTierRulePayload, Capability.TIER_RULES_WRITE

    @classmethod
    def perform(cls, info, input):
        session, config = info.context.session, info.context.config
        tier = ServiceTierValue(getattr(input["tier"], "value", input["tier"]))
        result = tiers.set_rule(session, tier=tier, rule=input.get("rule"), actor=info.context.viewer.actor,
                                config=config)
        rules = [{"tier": t.value, "rule": r, "is_default": d} for t, r, d in tiers.tier_rules(session, config)]
        return ServiceTierRulePayload(rules=rules, customers_moved=result["changed"], errors=[])


SegmentMutations = root_mutations("SegmentMutations", SegmentCreate, SegmentUpdate, SegmentDelete,
                                  SegmentAddCustomers, SegmentRemoveCustomers, SegmentRefresh,
                                  ServiceTierRuleUpdate)
