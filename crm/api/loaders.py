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

from crm.pagination import Page


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
