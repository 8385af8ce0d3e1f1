"""Journey maps (ordered stages) and the touchpoint catalogue. Each public function is one transaction."""
from __future__ import annotations

import re

from sqlalchemy import case, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from crm.db import transaction, utcnow
from crm.enums import Channel
from crm.errors import DomainError, Invalid, NotFound
from journeys.errors import JourneyErrorCode
from journeys.maps.models import JourneyMap, Touchpoint

KEY_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._-]{0,99}$")
STAGE_PATTERN = re.compile(r"^[a-z0-9][a-z0-9 _-]{0,63}$")


def _check_key(value: str, field: str, what: str) -> str:
    value = (value or "").strip()
    if not value:
        raise DomainError(JourneyErrorCode.REQUIRED, f"Give a {what}.", field)
    if not KEY_PATTERN.match(value):
        raise Invalid(f"A {what} is 1-100 characters of a-z, 0-9, '.', '_' and '-', starting with a letter or digit.",
                      field)
    return value


def _check_name(value: str, field: str = "name") -> str:
    value = (value or "").strip()
    if not value:
        raise DomainError(JourneyErrorCode.REQUIRED, "Give a name.", field)
    if len(value) > 200 or "\x00" in value:
        raise Invalid("A name is at most 200 characters, without NUL characters.", field)
    return value


def get_map(session: Session, key: str, field: str = "journeyMap") -> JourneyMap:
    journey_map = session.get(JourneyMap, key)
    if journey_map is None:
        raise NotFound(f"No journey map has the key {key!r}.", field)
    return journey_map


def create_touchpoint(session: Session, *, key: str, name: str, channel: Channel, stage: str,
                      journey_map: str) -> Touchpoint:
    key = _check_key(key, "key", "touchpoint key")
    name = _check_name(name)
    with transaction(session):
        the_map = get_map(session, (journey_map or "").strip())
        stage = (stage or "").strip().lower()
        if stage not in the_map.stages:
            raise Invalid(f"The {the_map.key!r} map has the stages {', '.join(the_map.stages)}.", "stage")
        if session.scalar(select(Touchpoint.id).where(Touchpoint.key == key)) is not None:
            raise DomainError(JourneyErrorCode.DUPLICATE, "Another touchpoint already has this key.", "key")
        touchpoint = Touchpoint(key=key, name=name, channel=Channel(channel), journey_map_key=the_map.key,
                                stage=stage, stage_position=the_map.stages.index(stage))
        session.add(touchpoint)
        try:
            session.flush()
        except IntegrityError:
            raise DomainError(JourneyErrorCode.DUPLICATE, "Another touchpoint already has this key.", "key") from None
    return touchpoint


def save_journey_map(session: Session, *, key: str, name: str, stages: list[str]) -> JourneyMap:
    """Create a map, or rename it and change its stages. A stage that has touchpoints cannot be dropped."""
    key = _check_key(key, "key", "journey map key")
    name = _check_name(name)
    cleaned = [(s or "").strip().lower() for s in stages or []]
    if not cleaned:
        raise DomainError(JourneyErrorCode.REQUIRED, "A journey map has at least one stage.", "stages")
    for index, stage in enumerate(cleaned):
        if not STAGE_PATTERN.match(stage):
            raise Invalid("A stage is 1-64 characters of a-z, 0-9, space, '_' and '-'.", f"stages.{index}")
    if len(set(cleaned)) != len(cleaned) or len(cleaned) > 20:
        raise Invalid("Stages are distinct, and a map has at most 20.", "stages")
    with transaction(session):
        the_map = session.get(JourneyMap, key)
        if the_map is None:
            the_map = JourneyMap(key=key, name=name, stages=cleaned, created_at=utcnow())
            session.add(the_map)
            try:
                session.flush()
            except IntegrityError:  # created by a concurrent call since our read
                raise DomainError(JourneyErrorCode.DUPLICATE,
                                  "A journey map with this key was just created; save again to "
                                  "change it.", "key") from None
            return the_map
        used = set(session.scalars(select(Touchpoint.stage).where(Touchpoint.journey_map_key == key).distinct()))
        dropped = sorted(used - set(cleaned))
        if dropped:
            raise Invalid(f"Stages with touchpoints cannot be removed: {', '.join(dropped)}.", "stages")
        the_map.name, the_map.stages = name, cleaned
        if used:
            session.execute(update(Touchpoint).where(Touchpoint.journey_map_key == key).values(
                stage_position=case({stage: position for position, stage in enumerate(cleaned)},
                                    value=Touchpoint.stage)))
        session.flush()
    return the_map
