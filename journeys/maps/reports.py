"""Journey map exports: GET /reports/journey-map/<key>.csv and .svg, for staff with a bearer token.

Query parameters filter like the GraphQL ``journeyMap`` filter: ``from`` and ``to`` (ISO-8601
with an offset; the period is [from, to)), ``serviceTiers``, ``lifecycleStages``, ``channels``
(comma-separated enum values) and ``segmentId`` (a global id). Errors answer in the body shape
of /graphql: ``{"errors": [{"message", "extensions": {"code", "field"?}}]}``.

The CSV has, per stage, a total row (empty touchpoint columns; it alone carries
conversion_to_next and median_hours_to_next) followed by one row per touchpoint (top_pain_points
as "tag:count;tag:count"). Empty cells mean "no value"; rates are shares from 0 to 1.
"""
from __future__ import annotations

import csv
import io
import re
from datetime import datetime

from flask import Blueprint, Response, jsonify, request

from crm.api.body import unstorable
from crm.api.ids import parse_id
from crm.api.view import error_body, request_viewer, unauthenticated_response
from crm.sessions import get_session
from crm.auth.permissions import Capability, has, roles_for
from crm.enums import Channel, LifecycleStage, ServiceTier
from crm.errors import DomainError, Invalid
from crm.instants import in_utc_range
from journeys.maps.analytics import JourneyFilter, JourneyMapReport, journey_map
from journeys.maps.report_svg import render_svg

blueprint = Blueprint("journey_reports", __name__)

CSV_COLUMNS = ("stage", "touchpoint_key", "touchpoint_name", "channel", "customers", "interactions",
               "average_emotion", "pain_point_rate", "conversion_to_next", "median_hours_to_next", "top_pain_points")
# A form-encoded "+02:00" arrives as " 02:00": put the plus back rather than reject a pasted URL.
_SPACE_FOR_PLUS = re.compile(r"(T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?) (\d{2}(?::?\d{2})?)$")


@blueprint.get("/reports/journey-map/<key>.csv")
def journey_map_csv(key: str):
    report, failure = _load(key)
    if failure is not None:
        return failure
    return Response(to_csv(report), mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="journey-map-{report.key}.csv"'})


@blueprint.get("/reports/journey-map/<key>.svg")
def journey_map_svg(key: str):
    report, failure = _load(key)
    if failure is not None:
        return failure
    return Response(render_svg(report), mimetype="image/svg+xml")


def _load(key: str):
    """(report, None) or (None, the error response): 401, 403, 400, 404 in that order."""
    viewer = request_viewer()
    if viewer is None:
        return None, unauthenticated_response()
    if not has(viewer.role, Capability.MAPS_ANALYTICS):
        return None, error_body(f"The {viewer.role.value} role may not read reports; one of "
                                f"{', '.join(r.value for r in roles_for(Capability.MAPS_ANALYTICS))} may.",
                                "FORBIDDEN", 403)
    problem = unstorable(key)  # a NUL from the URL would reach PostgreSQL, which refuses it
    if problem:
        return None, error_body(problem, "BAD_REQUEST", 400)
    try:
        report = journey_map(get_session(), key=key, flt=parse_filter(request.args))
    except DomainError as exc:
        return None, _domain_error(exc, 400)
    if report is None:
        return None, error_body(f"No journey map has the key {key!r}.", "NOT_FOUND", 404)
    return report, None


def _domain_error(exc: DomainError, status: int):
    extensions = {"code": exc.code, **({"field": exc.field} if exc.field else {})}
    return jsonify({"errors": [{"message": exc.message, "extensions": extensions}]}), status


def parse_filter(args) -> JourneyFilter:
    """A JourneyFilter from query parameters; Invalid names the parameter at fault."""
    segment = (args.get("segmentId") or "").strip()
    return JourneyFilter(
        from_=_moment(args, "from"), to=_moment(args, "to"),
        segment_id=parse_id(segment, "Segment", "segmentId") if segment else None,
        service_tiers=_enums(args, "serviceTiers", ServiceTier),
        lifecycle_stages=_enums(args, "lifecycleStages", LifecycleStage),
        channels=_enums(args, "channels", Channel))


def _moment(args, name: str) -> datetime | None:
    text = (args.get(name) or "").strip()
    if not text:
        return None
    text = _SPACE_FOR_PLUS.sub(r"\1+\2", text)
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise Invalid(f"`{name}` is not an ISO-8601 date and time: {text!r}.", name) from None
    if moment.tzinfo is None:
        raise Invalid(f"`{name}` has no offset: add one, e.g. 2026-06-01T00:00:00Z or +02:00.", name)
    if not in_utc_range(moment):
        raise Invalid(f"`{name}` is outside the years 1 to 9999 in UTC: {text!r}.", name)
    return moment


def _enums(args, name: str, enum_cls):
    values = [v.strip() for v in (args.get(name) or "").split(",") if v.strip()]
    known = {member.value for member in enum_cls}
    for value in values:
        if value not in known:
            raise Invalid(f"`{name}` has the unknown value {value!r}; use {', '.join(sorted(known))}.", name)
    return [enum_cls(v) for v in values] or None


def _number(value) -> str:
    if value is None:
        return ""
    if isinstance(value, int):
        return str(value)
    return f"{value:.4f}".rstrip("0").rstrip(".")


def _text(value: str) -> str:
    # Spreadsheets run a cell starting with = + - @ as a formula; staff typed these names.
    return "'" + value if value[:1] in ("=", "+", "-", "@") else value


def to_csv(report: JourneyMapReport) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for stage in report.stages:
        writer.writerow([stage.stage, "", "", "", stage.customers, stage.interactions,
                         _number(stage.average_emotion), _number(stage.pain_point_rate),
                         _number(stage.conversion_to_next), _number(stage.median_hours_to_next), ""])
        for cell in stage.touchpoints:
            tp = cell.touchpoint
            writer.writerow([stage.stage, tp.key, _text(tp.name), tp.channel.value, cell.customers, cell.interactions,
                             _number(cell.average_emotion), _number(cell.pain_point_rate), "", "",
                             ";".join(f"{tag}:{count}" for tag, count in cell.top_pain_points)])
    return out.getvalue()
