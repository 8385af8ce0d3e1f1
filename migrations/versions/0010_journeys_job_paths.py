"""journeys job paths: pending outbox rows follow the modules into journeys' subpackages

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02 18:45:00.000000

The outbox stores each job as the dotted path of its function (outbox_entry.func). Rows written
before the move and not yet relayed still name the flat modules (journeys.care.on_case_resolved);
the relay would fail to import them. Only pending rows are rewritten: dispatched ones are history.
Jobs already on RQ are not in the database: drain the queues before deploying the move.
"""
from alembic import op
import sqlalchemy as sa


revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None

# old module -> new module; a path is rewritten when its module is exactly one of these.
MOVED = {
    "journeys.touchpoints": "journeys.maps.services",
    "journeys.analytics": "journeys.maps.analytics",
    "journeys.rollups": "journeys.maps.rollups",
    "journeys.reports": "journeys.maps.reports",
    "journeys.report_svg": "journeys.maps.report_svg",
    "journeys.interactions": "journeys.interactions.services",
    "journeys.importer": "journeys.interactions.importer",
    "journeys.cases": "journeys.service.cases",
    "journeys.sla": "journeys.service.sla",
    "journeys.alerts": "journeys.service.alerts",
    "journeys.metrics": "journeys.service.metrics",
    "journeys.surveys": "journeys.service.surveys",
    "journeys.care": "journeys.service.care",
    "journeys.signals": "journeys.service.signals",
    "journeys.jobs": "journeys.service.jobs",
}

outbox = sa.table("outbox_entry", sa.column("id", sa.Integer), sa.column("func", sa.String),
                  sa.column("dispatched_at", sa.DateTime))


def _rewrite(modules: dict[str, str]) -> None:
    conn = op.get_bind()
    pending = conn.execute(sa.select(outbox.c.id, outbox.c.func).where(
        outbox.c.dispatched_at.is_(None), outbox.c.func.like("journeys.%"))).all()
    for row_id, func in pending:
        module, _, name = func.rpartition(".")
        if module in modules:
            conn.execute(outbox.update().where(outbox.c.id == row_id).values(func=f"{modules[module]}.{name}"))


def upgrade() -> None:
    _rewrite(MOVED)


def downgrade() -> None:
    _rewrite({new: old for old, new in MOVED.items()})
