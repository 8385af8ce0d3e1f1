"""The demo's registry: each domain registers the seeder of its part of the demo from its ``init_app``.

The runner (``crm.demo.seed``) runs the seeders once each, every one after those it names in
``after``, in registration order otherwise; a name in ``after`` that no domain registered is
skipped, so the platform runs without journeys or loyalty too. Seeders write through their
domain's services, one transaction each, and skip what an interrupted seed already made.

Time hooks let a domain keep up with a customer's story while the customer seeder moves the
clock through it: ``hook(run, customer_id, since, until)`` runs with the clock at ``until``
before each step of the story and once at its end (loyalty expires lots and reviews tiers at the
moments the periodic jobs would have: loyalty/demo.py).
"""
from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.orm import Session

IMPORT_ACTOR = "integration:demo-import"  # the shop's import: the actor of everything the demo seeds unasked


@dataclass
class DemoRun:
    """What a seeder gets: the session, how many customers were asked for, and the story's present
    (every seeded time is at or before it; dates are relative to it)."""

    session: Session
    count: int
    present: datetime
    config: Mapping
    actor: str = IMPORT_ACTOR
    notes: dict = field(default_factory=dict)  # what one seeder leaves for a later one (agents, ...)


@dataclass(frozen=True)
class Seeder:
    name: str
    seed: Callable[[DemoRun], None]
    after: tuple[str, ...] = ()


TimeHook = Callable[[DemoRun, uuid.UUID, datetime, datetime], None]

SEEDERS: dict[str, Seeder] = {}
TIME_HOOKS: list[TimeHook] = []


def register(name: str, seed: Callable[[DemoRun], None], *, after: tuple[str, ...] = ()) -> None:
    """Add (or, from a second ``init_app``, replace) the seeder ``name``."""
    SEEDERS[name] = Seeder(name, seed, tuple(after))


def register_time_hook(hook: TimeHook) -> None:
    if hook not in TIME_HOOKS:
        TIME_HOOKS.append(hook)


def ordered() -> list[Seeder]:
    """Every seeder after the ones it names; registration order breaks ties. A cycle is a bug."""
    done: list[Seeder] = []
    placed: set[str] = set()
    pending = list(SEEDERS.values())
    while pending:
        ready = next((s for s in pending if all(a in placed or a not in SEEDERS for a in s.after)), None)
        if ready is None:
            raise RuntimeError(f"demo seeders wait on each other: {', '.join(s.name for s in pending)}")
        pending.remove(ready)
        placed.add(ready.name)
        done.append(ready)
    return done


def time_passes(run: DemoRun, customer_id: uuid.UUID, since: datetime, until: datetime) -> None:
    for hook in TIME_HOOKS:
        hook(run, customer_id, since, until)
