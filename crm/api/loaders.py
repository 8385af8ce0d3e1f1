"""Per-request batch loaders: every relation resolves through one, never a query per object.

Objects are registered as "seen" by kind when a resolver produces them (a
page of customers, a batch of orders). A loader asked for one key loads, in a
single statement, that key and the keys of every seen parent not loaded yet, so
a list of N parents costs one query per relation whatever N is.
"""
from __future__ import annotations

from collections import defaultdict
from typing import Any, Hashable, Iterable

from sqlalchemy import func, select

from crm.api.connections import empty_page
from crm.pagination import Page, SortKey, keyset_pages_by_parent


class Loader:
    parent_kind: str = ""       # the kind of objects whose relation this loads
    produces: str | None = None  # the kind of objects it returns, registered as seen

    def __init__(self, context, *args):
        self.context = context
        self.args = args
        self.cache: dict[Hashable, Any] = {}

    @property
    def session(self):
        return self.context.session

    def key_of(self, parent) -> Hashable:
        return parent.id

    def batch(self, keys: list) -> dict:
        raise NotImplementedError

    def missing(self, key):
        return None

    def load(self, key):
        if key is None:
            return self.missing(key)
        if key not in self.cache:
            wanted = {key}
            for parent in self.context.loaders.seen[self.parent_kind]:
                candidate = self.key_of(parent)
                if candidate is not None and candidate not in self.cache:
                    wanted.add(candidate)
            found = self.batch(sorted(wanted, key=str))
            for k in wanted:
                self.cache[k] = found.get(k, self.missing(k))
            if self.produces:
                self.context.loaders.see(self.produces, _flatten(found.values()))
        return self.cache[key]


def _flatten(values: Iterable) -> list:
    """The objects in a batch's results: each one, a list of them, or a page of them.

    Only a real Page is a page: a row with a list in an ``items`` attribute (an order's line
    items) is one object."""
    out = []
    for value in values:
        if value is None:
            continue
        if isinstance(value, list):
            out.extend(value)
        elif isinstance(value, Page):
            out.extend(value.items)
        else:
            out.append(value)
    return out


class CountLoader(Loader):
    """How many rows each parent has: rows whose ``column`` holds the parent's id and that ``where()`` (of the
    loader's arguments) admits. A parent with none has 0."""

    column: Any = None  # a mapped column, e.g. Order.customer_id

    def where(self) -> tuple:
        return ()

    def batch(self, keys):
        column = type(self).column  # through the class: on an instance a mapped column would read a row's value
        stmt = select(column, func.count()).where(column.in_(keys), *self.where()).group_by(column)
        return dict(self.session.execute(stmt).all())

    def missing(self, key):
        return 0


class PageLoader(Loader):
    """A page of each parent's rows, in one statement: rows whose ``column`` holds the parent's id, in
    ``sort_keys`` order, admitted by ``where(*filters)``. Args: (first, after, *filters).

    Each page's totalCount counts the same rows with a ``CountLoader`` made for the subclass (``Count``),
    so the counts of a whole list of parents cost one more statement, and only when asked for."""

    column: Any = None  # a mapped column, e.g. Order.customer_id
    ordering: str = ""  # the cursors' ordering name
    sort_keys: list[SortKey] = []
    Count: type[CountLoader]

    @staticmethod
    def where(*filters) -> tuple:
        return ()

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        where = cls.where
        cls.Count = type(f"{cls.__name__}Count", (CountLoader,), {
            "parent_kind": cls.parent_kind, "column": cls.column, "where": lambda self: where(*self.args)})

    def batch(self, keys):
        first, after, *filters = self.args
        column = type(self).column  # through the class, as in CountLoader
        return keyset_pages_by_parent(self.session, column.class_, column, keys, ordering=self.ordering,
                                      keys=self.sort_keys, first=first, after=after, where=self.where(*filters))

    def missing(self, key):
        return empty_page()

    def load(self, key):
        page = super().load(key)
        counter = self.context.loaders.get(self.Count, *self.args[2:])
        page.count = lambda: counter.load(key)
        return page


class GroupedLoader(Loader):
    """Each parent's rows as a list: rows whose ``column`` holds the parent's id, in ``order_by`` order."""

    column: Any = None  # a mapped column, e.g. Consent.customer_id
    order_by: tuple = ()

    def batch(self, keys):
        column = type(self).column
        grouped = {k: [] for k in keys}
        for row in self.session.scalars(select(column.class_).where(column.in_(keys)).order_by(*self.order_by)):
            grouped[getattr(row, column.key)].append(row)
        return grouped

    def missing(self, key):
        return []


class RowById(Loader):
    """The ``model`` row each seen parent points at: its id in the parent's ``key`` attribute."""

    model: Any = None
    key: str = "id"

    def key_of(self, parent):
        return getattr(parent, self.key)

    def batch(self, keys):
        model = self.model
        return {row.id: row for row in self.session.scalars(select(model).where(model.id.in_(keys)))}


def _declare(base: type[Loader], column_or_model, parent_kind: str, produces: str | None, **attributes):
    target = getattr(column_or_model, "class_", column_or_model)
    name = f"{base.__name__}_{target.__name__}_of_{parent_kind}"
    return type(name, (base,), {"parent_kind": parent_kind, "produces": produces, **attributes})


def pages_of(column, *, parent_kind: str, produces: str, ordering: str, sort_keys: list[SortKey],
             where=None) -> type[PageLoader]:
    """A ``PageLoader`` of the rows whose ``column`` holds the parent's id (``where``: filters -> clauses)."""
    extra = {"where": staticmethod(where)} if where else {}
    return _declare(PageLoader, column, parent_kind, produces, column=column, ordering=ordering,
                    sort_keys=sort_keys, **extra)


def rows_of(column, *, parent_kind: str, order_by: tuple, produces: str | None = None) -> type[GroupedLoader]:
    """A ``GroupedLoader``: each parent's rows (``column`` holds its id) as a list in ``order_by`` order."""
    return _declare(GroupedLoader, column, parent_kind, produces, column=column, order_by=order_by)


def row_by_id(model, *, parent_kind: str, key: str, produces: str | None = None) -> type[RowById]:
    """A ``RowById``: the ``model`` row whose id each parent holds in ``key``."""
    return _declare(RowById, model, parent_kind, produces, model=model, key=key)


class LoaderRegistry:
    def __init__(self, context):
        self.context = context
        self.instances: dict[tuple, Loader] = {}
        self.seen: dict[str, list] = defaultdict(list)
        self._seen_ids: dict[str, set] = defaultdict(set)

    def get(self, loader_cls: type[Loader], *args) -> Loader:
        key = (loader_cls, args)
        if key not in self.instances:
            self.instances[key] = loader_cls(self.context, *args)
        return self.instances[key]

    def see(self, kind: str, objects: Iterable) -> None:
        for obj in objects:
            if obj is not None and id(obj) not in self._seen_ids[kind]:
                self._seen_ids[kind].add(id(obj))
                self.seen[kind].append(obj)


def resolve_by(loader: type[Loader], attribute: str):
    """A field resolver that loads ``root.<attribute>`` with ``loader`` (batched for the request):
    ``resolve_customer = resolve_by(CustomerOfCase, "customer_id")``."""
    def resolve(root, info):
        return info.context.loaders.get(loader).load(getattr(root, attribute))
    resolve.__name__ = f"resolve_by_{attribute}"
    return staticmethod(resolve)
