"""Loaders of the service process (cases, surveys): one statement per relation for a whole page of parents."""
from __future__ import annotations

from crm.api.loaders import pages_of, row_by_id, rows_of
from crm.auth.gql.types import StaffById
from crm.customers.gql.loaders import customer_of
from crm.pagination import SortKey
from journeys.interactions.models import Interaction
from journeys.service.models import Case, CaseEvent, SurveyResponse

CASE_KEYS = [SortKey(Case.opened_at, lambda c: c.opened_at, "datetime", descending=True),
             SortKey(Case.id, lambda c: c.id, "uuid", descending=True)]
SURVEY_KEYS = [SortKey(SurveyResponse.submitted_at, lambda s: s.submitted_at, "datetime", descending=True),
               SortKey(SurveyResponse.id, lambda s: s.id, "uuid", descending=True)]


def _case_filter(statuses):
    return [Case.status.in_(statuses)] if statuses else []


# A page of each customer's cases (args: first, after, statuses) and survey answers (first, after), newest first.
CasesByCustomer = pages_of(Case.customer_id, parent_kind="customer", produces="case", ordering="customer-cases",
                           sort_keys=CASE_KEYS, where=_case_filter)
SurveysByCustomer = pages_of(SurveyResponse.customer_id, parent_kind="customer", produces="survey",
                             ordering="surveys", sort_keys=SURVEY_KEYS)

CaseOfInteraction, CaseOfSurvey, CaseOfEntry = (row_by_id(Case, parent_kind=kind, key="case_id", produces="case")
                                                for kind in ("interaction", "survey", "ledger_entry"))
HistoryOfCase = rows_of(CaseEvent.case_id, parent_kind="case", order_by=(CaseEvent.case_id, CaseEvent.seq))


CustomerOfCase, CustomerOfSurvey = customer_of("case"), customer_of("survey")


class AssigneeOfCase(StaffById):
    parent_kind = "case"

    def key_of(self, case):
        return case.assignee_id


InteractionsOfCase = rows_of(Interaction.case_id, parent_kind="case", order_by=(Interaction.occurred_at, Interaction.id),
                             produces="interaction")
