"""Loaders of the service process (cases, surveys): one statement per relation for a whole page of parents."""
from __future__ import annotations

from sqlalchemy import select

from crm.api.connections import empty_page
from crm.api.loaders import CountLoader, Loader
from crm.auth.gql.types import StaffById
from crm.customers.gql.loaders import CustomerById
from crm.pagination import SortKey, keyset_pages_by_parent
from journeys.interactions.models import Interaction
from journeys.service.models import Case, CaseEvent, SurveyResponse

CASE_KEYS = [SortKey(Case.opened_at, lambda c: c.opened_at, "datetime", descending=True),
             SortKey(Case.id, lambda c: c.id, "uuid", descending=True)]
SURVEY_KEYS = [SortKey(SurveyResponse.submitted_at, lambda s: s.submitted_at, "datetime", descending=True),
               SortKey(SurveyResponse.id, lambda s: s.id, "uuid", descending=True)]


def _case_filter(statuses):
    return [Case.status.in_(statuses)] if statuses else []


class CasesByCustomer(Loader):
    """A page of each customer's cases, newest first. Args: (first, after, statuses)."""

    parent_kind = "customer"
    produces = "case"

    def batch(self, keys):
        first, after, statuses = self.args
        return keyset_pages_by_parent(self.session, Case, Case.customer_id, keys, ordering="customer-cases",
                                      keys=CASE_KEYS, first=first, after=after, where=_case_filter(statuses))

    def missing(self, key):
        return empty_page()


class CaseCountByCustomer(CountLoader):
    parent_kind = "customer"
    column = Case.customer_id

    def where(self):
        (statuses,) = self.args
        return _case_filter(statuses)


class SurveysByCustomer(Loader):
    parent_kind = "customer"
    produces = "survey"

    def batch(self, keys):
        first, after = self.args
        return keyset_pages_by_parent(self.session, SurveyResponse, SurveyResponse.customer_id, keys,
                                      ordering="surveys", keys=SURVEY_KEYS, first=first, after=after)

    def missing(self, key):
        return empty_page()


class SurveyCountByCustomer(CountLoader):
    parent_kind = "customer"
    column = SurveyResponse.customer_id


class _CaseById(Loader):
    produces = "case"

    def key_of(self, parent):
        return parent.case_id

    def batch(self, keys):
        return {c.id: c for c in self.session.scalars(select(Case).where(Case.id.in_(keys)))}


class CaseOfInteraction(_CaseById):
    parent_kind = "interaction"


class CaseOfSurvey(_CaseById):
    parent_kind = "survey"


class CaseOfEntry(_CaseById):
    parent_kind = "ledger_entry"


class HistoryOfCase(Loader):
    parent_kind = "case"

    def batch(self, keys):
        grouped = {k: [] for k in keys}
        for event in self.session.scalars(select(CaseEvent).where(CaseEvent.case_id.in_(keys))
                                          .order_by(CaseEvent.case_id, CaseEvent.seq)):
            grouped[event.case_id].append(event)
        return grouped

    def missing(self, key):
        return []


class CustomerOfCase(CustomerById):
    parent_kind = "case"


class CustomerOfSurvey(CustomerById):
    parent_kind = "survey"


class AssigneeOfCase(StaffById):
    parent_kind = "case"

    def key_of(self, case):
        return case.assignee_id


class InteractionsOfCase(Loader):
    parent_kind = "case"
    produces = "interaction"

    def batch(self, keys):
        grouped = {k: [] for k in keys}
        for row in self.session.scalars(select(Interaction).where(Interaction.case_id.in_(keys))
                                        .order_by(Interaction.occurred_at, Interaction.id)):
            grouped[row.case_id].append(row)
        return grouped

    def missing(self, key):
        return []
