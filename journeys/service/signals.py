"""What journeys tells the customer scores: recent negative signals (crm.customers.scores)."""
from __future__ import annotations

import uuid
from collections import Counter
from datetime import datetime

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from journeys.interactions.models import Interaction
from journeys.service.models import SurveyKind, SurveyResponse
from journeys.service.surveys import CSAT_DETRACTOR_MAX, NPS_DETRACTOR_MAX

NEGATIVE_EMOTION = -1   # emotion is -2..2: "unhappy" or worse


def negative_signals(session: Session, customer_ids: list[uuid.UUID], since: datetime) -> dict[uuid.UUID, int]:
    """Per customer: negative-emotion interactions and detractor answers (NPS <= 6, CSAT <= 2) since ``since``."""
    counts: Counter = Counter()
    for customer_id, n in session.execute(
            select(Interaction.customer_id, func.count()).where(
                Interaction.customer_id.in_(customer_ids), Interaction.occurred_at >= since,
                Interaction.emotion <= NEGATIVE_EMOTION).group_by(Interaction.customer_id)):
        counts[customer_id] += n
    detractor = or_(and_(SurveyResponse.kind == SurveyKind.NPS, SurveyResponse.score <= NPS_DETRACTOR_MAX),
                    and_(SurveyResponse.kind == SurveyKind.CSAT, SurveyResponse.score <= CSAT_DETRACTOR_MAX))
    for customer_id, n in session.execute(
            select(SurveyResponse.customer_id, func.count()).where(
                SurveyResponse.customer_id.in_(customer_ids), SurveyResponse.submitted_at >= since, detractor)
            .group_by(SurveyResponse.customer_id)):
        counts[customer_id] += n
    return dict(counts)
