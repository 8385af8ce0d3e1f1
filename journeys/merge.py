"""Moving a merged duplicate's interactions, cases and survey responses onto the primary."""
from __future__ import annotations

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from crm.customers.models import Customer
from journeys.maps import rollups
from journeys.interactions.models import Interaction
from journeys.service.models import Case, SurveyKind, SurveyResponse
from journeys.service.surveys import refresh_survey_metrics


def move_journeys(session: Session, primary: Customer, duplicate: Customer, config) -> None:
    session.execute(update(Interaction).where(Interaction.customer_id == duplicate.id)
                    .values(customer_id=primary.id))
    session.execute(update(Case).where(Case.customer_id == duplicate.id).values(customer_id=primary.id))
    # Both may have answered the same survey (say the relationship NPS): the duplicate's answer is kept,
    # marked as merged, so history stays whole and "one per customer, kind and case" still holds.
    duplicate_answers = session.scalars(select(SurveyResponse).where(SurveyResponse.customer_id == duplicate.id)).all()
    primary_keys = set(session.execute(select(SurveyResponse.kind, SurveyResponse.case_key)
                                       .where(SurveyResponse.customer_id == primary.id)).all())
    for answer in duplicate_answers:
        if (answer.kind, answer.case_key) in primary_keys:
            answer.case_key = f"merged:{answer.id}"
        answer.customer_id = primary.id
    session.flush()
    for kind in (SurveyKind.CSAT, SurveyKind.NPS):
        refresh_survey_metrics(session, primary, kind)
    rollups.rebuild(session, [primary.id, duplicate.id])
    latest = session.scalar(select(func.max(Interaction.occurred_at)).where(Interaction.customer_id == primary.id))
    if latest is not None and (primary.last_interaction_at is None or latest > primary.last_interaction_at):
        primary.last_interaction_at = latest
