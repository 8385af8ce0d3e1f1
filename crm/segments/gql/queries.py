"""Segment queries: parse arguments, call a service or selector, shape the answer."""
from __future__ import annotations

import graphene
from sqlalchemy import select

from crm.api.access import see_customers
from crm.api.connections import page_size
from crm.api.ids import parse_id
from crm.api.permissions import PermissionField
from crm.api.scalars import JSON
from crm.customers.gql.queries import MAX_SEARCH
from crm.auth.permissions import Capability
from crm.errors import Invalid
from crm.pagination import SortKey, keyset_page
from crm.segments import services, tiers
from crm.segments.gql.types import (
    SegmentConnection, SegmentExplanation, SegmentKind, SegmentPreview, ServiceTierRule, mask_trace,
    refuse_contact_fields, see_segments,
)
from crm.segments.models import Segment

SEGMENT_KEYS = [SortKey(Segment.name_key, lambda s: s.name_key, "str"), SortKey(Segment.id, lambda s: s.id, "uuid")]


class SegmentQueries(graphene.ObjectType):
    segments = PermissionField(graphene.NonNull(SegmentConnection), first=graphene.Int(), after=graphene.String(),
                               kind=graphene.Argument(SegmentKind), search=graphene.String(),
                               capability=Capability.SEGMENTS_READ,
                               description="Segments by name; `search` is a name prefix.")
    segment_preview = PermissionField(graphene.NonNull(SegmentPreview), rule=graphene.Argument(JSON, required=True),
                                      sample_size=graphene.Int(default_value=10),
                                      capability=Capability.SEGMENTS_PREVIEW,
                                      description="A dry run of a rule: how many customers match now and a sample "
                                                  "(newest first, at most 50). Saves nothing.")
    segment_explain = PermissionField(SegmentExplanation, segment_id=graphene.ID(required=True),
                                      customer_id=graphene.ID(required=True), capability=Capability.SEGMENTS_READ,
                                      description="Why a customer is or is not in a segment; null for an unknown "
                                                  "segment or customer.")
    service_tier_rules = PermissionField(graphene.NonNull(graphene.List(graphene.NonNull(ServiceTierRule))),
                                         capability=Capability.TIER_RULES_READ,
                                         description="The rules that set automatic service tiers, in precedence "
                                                     "order; customers no rule matches are STANDARD.")

    @staticmethod
    def resolve_segments(root, info, first=None, after=None, kind=None, search=None):
        stmt = select(Segment)
        if kind is not None:
            stmt = stmt.where(Segment.kind == getattr(kind, "value", kind))
        if len(search or "") > MAX_SEARCH:
            raise Invalid(f"A search is at most {MAX_SEARCH} characters.", "search")
        if search and search.strip():
            prefix = search.strip().lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            stmt = stmt.where(Segment.name_key.like(prefix + "%", escape="\\"))
        page = keyset_page(info.context.session, stmt, ordering="segments", keys=SEGMENT_KEYS,
                           first=page_size(info, first), after=after)
        see_segments(info, page.items)
        return page

    @staticmethod
    def resolve_segment_preview(root, info, rule, sample_size=10):
        refuse_contact_fields(info, rule, "rule")
        preview = services.preview(info.context.session, rule=rule, sample_size=sample_size)
        preview.sample = see_customers(info, preview.sample)
        return preview

    @staticmethod
    def resolve_segment_explain(root, info, segment_id, customer_id):
        explanation = services.explain_membership(
            info.context.session, segment_id=parse_id(segment_id, "Segment", "segmentId"),
            customer_id=parse_id(customer_id, "Customer", "customerId"))
        if explanation is not None:
            explanation.trace = mask_trace(info, explanation.trace)
        return explanation

    @staticmethod
    def resolve_service_tier_rules(root, info):
        return [{"tier": tier.value, "rule": rule, "is_default": default}
                for tier, rule, default in tiers.tier_rules(info.context.session, info.context.config)]
