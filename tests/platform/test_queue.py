"""The outbox, the RQ plumbing, events and the workers, against the real database and Redis."""
from __future__ import annotations

import json
import signal
import threading
import time
import uuid
import zlib
from datetime import timedelta
from urllib.parse import urlsplit, urlunsplit

import pytest
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus
from rq.registry import FinishedJobRegistry, ScheduledJobRegistry
from rq.serializers import JSONSerializer
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

import crm
from crm import clock, events
from crm.auth.models import StaffUser
from crm.db import transaction, utcnow
from crm.sessions import get_session
from crm.enums import Role
from crm.outbox import OutboxEntry, enqueue_after_commit
from crm.queue import (
    PERIODIC_JOBS, QUEUE_NAMES, ROUND_JOBS, get_queue, get_redis, make_worker, relay_outbox, run_periodic_jobs,
    start_embedded_worker, work_once,
)
from tests import jobs_for_tests
from tests.conftest import Api
from tests.helpers import CREATE, RECORD_ORDER, create_customer, raw_id

COUNT_ONCE = "tests.jobs_for_tests.count_once"
ADD_STAFF_ONCE = "tests.jobs_for_tests.add_staff_once"
RECORD_EVENT = "tests.jobs_for_tests.record_event"
BROKEN_REDIS = "redis://127.0.0.1:1/0"


# ---------------------------------------------------------------- helpers and fixtures

def outbox_rows(app) -> list[OutboxEntry]:
    """Every outbox row, read in a fresh session (not the test's, so nothing stays open)."""
    with app.extensions["crm.sessionmaker"]() as session:
        return list(session.scalars(select(OutboxEntry).order_by(OutboxEntry.id)))


def queued(app) -> dict[str, list[str]]:
    """Job ids waiting on each named queue, for the queues that have any."""
    out = {}
    for name in QUEUE_NAMES:
        ids = get_queue(name, app).job_ids
        if ids:
            out[name] = ids
    return out


def rq_job_keys(app) -> list[bytes]:
    return sorted(get_redis(app).keys("rq:job:*"))


def counter(app) -> int:
    return int(get_redis(app).get(jobs_for_tests.COUNTER_KEY) or 0)


def commit_job(app, func_path: str, *args, **kwargs) -> OutboxEntry:
    """enqueue_after_commit in a transaction of its own, in a fresh app context of ``app``."""
    with app.app_context():
        session = get_session()
        with transaction(session):
            entry = enqueue_after_commit(session, func_path, *args, **kwargs)
        return entry


def add_pending_row(app, func_path: str, *args, **kwargs) -> int:
    """An outbox row that no relay has seen, as left by a process that died right after commit."""
    with app.extensions["crm.sessionmaker"]() as session:
        entry = OutboxEntry(func=func_path, args=list(args), **kwargs)
        session.add(entry)
        session.commit()
        return entry.id



@pytest.fixture(autouse=True)
def only_this_tests_subscriptions(subscriptions):
    """Plumbing tests count outbox rows: they see the subscriptions they make, not the domains' own."""
    events._SUBSCRIBERS.clear()


@pytest.fixture
def make_app(database_url):
    """Build another app on the test database; its engine is disposed afterwards."""
    apps = []

    def make(redis_url):
        other = crm.create_app({"DATABASE_URL": database_url, "REDIS_URL": redis_url, "TESTING": True,
                                "SECRET_KEY": "test"})
        apps.append(other)
        return other

    yield make
    for other in apps:
        other.extensions["crm.engine"].dispose()


@pytest.fixture
def keep_signal_handlers():
    """An RQ worker run in the main thread installs its own SIGINT/SIGTERM handlers; put pytest's back."""
    saved = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    yield
    for sig, handler in saved.items():
        signal.signal(sig, handler)


def wait_for(predicate, timeout: float = 10.0, step: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return predicate()


def embedded_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "crm-embedded-worker"]


# ---------------------------------------------------------------- 1. the outbox and the relay

def test_a_rolled_back_enqueue_leaves_no_row_and_never_reaches_redis(app, ctx):
    with pytest.raises(RuntimeError):
        with transaction(ctx):
            enqueue_after_commit(ctx, COUNT_ONCE, "rolled-back", queue="messages")
            ctx.flush()  # the row was really written inside the transaction
            assert ctx.scalar(select(func.count()).select_from(OutboxEntry)) == 1
            raise RuntimeError("the change fails")

    assert outbox_rows(app) == []
    assert queued(app) == {}
    assert rq_job_keys(app) == []
    assert "outbox_dirty" not in ctx.info  # the rollback forgot the pending relay
    # A later commit on the same session relays nothing from the rolled-back transaction.
    with transaction(ctx):
        ctx.add(StaffUser(id=uuid.uuid4(), name="Later", email="later@example.com",
                          role=Role.SUPPORT_AGENT, created_at=utcnow()))
    assert outbox_rows(app) == []
    assert queued(app) == {}
    assert rq_job_keys(app) == []


def test_a_committed_enqueue_is_relayed_onto_its_named_queue_as_a_json_job(app, ctx):
    before = utcnow()
    with transaction(ctx):
        entry = enqueue_after_commit(ctx, COUNT_ONCE, "committed", queue="messages")
        # Nothing reaches Redis before the commit.
        ctx.flush()
        assert queued(app) == {}

    [row] = outbox_rows(app)
    assert row.id == entry.id
    assert (row.func, row.args, row.queue, row.job_id, row.run_at) == (COUNT_ONCE, ["committed"], "messages", None, None)
    assert row.dispatched_at is not None and before <= row.dispatched_at <= utcnow()

    job_id = f"outbox-{row.id}"
    assert queued(app) == {"messages": [job_id]}
    assert get_queue("messages", app).count == 1
    assert get_queue("default", app).count == 0

    # The stored job is JSON (not pickle): its data field is zlib-compressed JSON text.
    raw = get_redis(app).hgetall(f"rq:job:{job_id}")
    assert raw[b"origin"] == b"messages"
    assert json.loads(zlib.decompress(raw[b"data"])) == [COUNT_ONCE, None, ["committed"], {}]
    job = Job.fetch(job_id, connection=get_redis(app), serializer=JSONSerializer)
    assert (job.func_name, job.args, job.kwargs, job.origin) == (COUNT_ONCE, ["committed"], {}, "messages")
    assert job.get_status() == JobStatus.QUEUED

    # Relaying again does not enqueue the row a second time.
    assert relay_outbox(app) == 0
    assert queued(app) == {"messages": [job_id]}


def test_an_explicit_job_id_is_used_instead_of_the_outbox_id(app, ctx):
    with transaction(ctx):
        enqueue_after_commit(ctx, COUNT_ONCE, "named", queue="high", job_id="send-welcome-42")
    assert queued(app) == {"high": ["send-welcome-42"]}
    assert outbox_rows(app)[0].dispatched_at is not None


def test_a_job_written_before_savepoints_is_relayed_when_the_outer_transaction_commits(app, ctx):
    # Releasing a savepoint fires the session's after_commit too, and rolling one back a soft
    # rollback: the relay must wait for the real commit and still happen then.
    with transaction(ctx):
        entry = enqueue_after_commit(ctx, COUNT_ONCE, "before-savepoint")
        with ctx.begin_nested():
            ctx.add(StaffUser(id=uuid.uuid4(), name="Nested", email="nested@example.com",
                              role=Role.SUPPORT_AGENT, created_at=utcnow()))
        assert queued(app) == {}
        with pytest.raises(IntegrityError):  # as record_order does when an externalId races
            with ctx.begin_nested():
                ctx.add(StaffUser(id=uuid.uuid4(), name="Twin", email="nested@example.com",
                                  role=Role.SUPPORT_AGENT, created_at=utcnow()))
        assert queued(app) == {}
    [row] = outbox_rows(app)
    assert row.dispatched_at is not None
    assert queued(app) == {"default": [f"outbox-{entry.id}"]}


# ---------------------------------------------------------------- 2. the worker

def test_the_worker_runs_jobs_in_an_app_context_and_idempotent_jobs_have_one_effect(app, ctx, keep_signal_handlers):
    with transaction(ctx):
        first = enqueue_after_commit(ctx, ADD_STAFF_ONCE, "job@example.com", "Job Made")
        second = enqueue_after_commit(ctx, ADD_STAFF_ONCE, "job@example.com", "Job Made")
        enqueue_after_commit(ctx, COUNT_ONCE, "token-1", queue="messages")
        enqueue_after_commit(ctx, COUNT_ONCE, "token-1", queue="messages")
        enqueue_after_commit(ctx, COUNT_ONCE, "token-2", queue="segments")
    assert sum(len(ids) for ids in queued(app).values()) == 5

    assert make_worker(app).work(burst=True) is True

    assert queued(app) == {}
    with app.extensions["crm.sessionmaker"]() as session:
        staff = session.scalars(select(StaffUser).where(StaffUser.email == "job@example.com")).all()
    assert [s.name for s in staff] == ["Job Made"]  # two runs, one row
    assert counter(app) == 2  # token-1 twice and token-2 once
    connection = get_redis(app)
    for entry in (first, second):
        job = Job.fetch(f"outbox-{entry.id}", connection=connection, serializer=JSONSerializer)
        assert job.get_status() == JobStatus.FINISHED
        assert job.return_value() == str(staff[0].id)
    assert FinishedJobRegistry(queue=get_queue("default", app)).get_job_ids() == [
        f"outbox-{first.id}", f"outbox-{second.id}"]


def test_a_job_reads_rows_committed_before_it_was_enqueued(app, ctx, keep_signal_handlers):
    with transaction(ctx):
        ctx.add(StaffUser(id=uuid.uuid4(), name="Seen", email="seen@example.com",
                          role=Role.SUPPORT_AGENT, created_at=utcnow()))
        entry = enqueue_after_commit(ctx, "tests.jobs_for_tests.staff_count", "seen@example.com")
    make_worker(app, ["default"]).work(burst=True)
    job = Job.fetch(f"outbox-{entry.id}", connection=get_redis(app), serializer=JSONSerializer)
    assert job.get_status() == JobStatus.FINISHED
    assert job.return_value() == 1


# ---------------------------------------------------------------- 3. Redis down: nothing is lost

def test_with_redis_down_commits_succeed_and_rows_wait_for_the_relay(app, make_app, tokens, subscriptions):
    down = make_app(BROKEN_REDIS)
    events._SUBSCRIBERS.clear()  # building an app subscribes the domains again
    subscriptions("customer.created", RECORD_EVENT)
    assert down.extensions["crm.redis_embedded"] is False

    entry = commit_job(down, COUNT_ONCE, "while-down", queue="messages")
    customer = create_customer(Api(down.test_client(), tokens), email="down@example.com")

    rows = outbox_rows(app)
    assert [(r.id, r.func, r.dispatched_at) for r in rows] == [
        (entry.id, COUNT_ONCE, None), (rows[1].id, RECORD_EVENT, None)]
    assert rows[1].args == [{"topic": "customer.created", "customerId": str(raw_id(customer["id"]))}]
    assert queued(app) == {}
    # Relaying while Redis is still down keeps every row pending.
    assert relay_outbox(down) == 0
    assert all(r.dispatched_at is None for r in outbox_rows(app))

    # Redis is back (the real app): the relay moves both rows onto their queues, once.
    assert relay_outbox(app) == 2
    assert queued(app) == {"messages": [f"outbox-{entry.id}"], "default": [f"outbox-{rows[1].id}"]}
    assert all(r.dispatched_at is not None for r in outbox_rows(app))
    assert relay_outbox(app) == 0


@pytest.fixture
def read_only_redis_url(app, redis_url):
    """A Redis URL whose user may read but not write: Redis answers, with errors (ACL NOPERM)."""
    connection = get_redis(app)
    user, password = f"crm-test-ro-{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
    try:
        connection.execute_command("ACL", "SETUSER", user, "on", f">{password}", "~*", "&*", "+@all", "-@write")
    except Exception as exc:  # Redis < 6, or a server where ACL is not allowed
        pytest.skip(f"cannot create a Redis ACL user: {exc}")
    try:
        parts = urlsplit(redis_url)
        netloc = f"{user}:{password}@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
        yield urlunsplit(parts._replace(netloc=netloc))
    finally:
        connection.execute_command("ACL", "DELUSER", user)


def test_a_redis_error_while_relaying_does_not_fail_the_committed_write(app, make_app, read_only_redis_url):
    refusing = make_app(read_only_redis_url)
    assert get_redis(refusing).ping() is True  # reachable, but every write is refused

    entry = commit_job(refusing, COUNT_ONCE, "refused")  # must not raise: the write is committed

    [row] = outbox_rows(app)
    assert (row.id, row.dispatched_at) == (entry.id, None)
    assert queued(app) == {}
    assert relay_outbox(app) == 1
    assert queued(app) == {"default": [f"outbox-{entry.id}"]}


# ---------------------------------------------------------------- 4. scheduled jobs

def test_a_future_run_at_puts_the_job_in_the_scheduled_registry(app, ctx):
    run_at = (utcnow() + timedelta(hours=2)).replace(microsecond=0)
    with transaction(ctx):
        later = enqueue_after_commit(ctx, COUNT_ONCE, "later", queue="messages", run_at=run_at)
        now = enqueue_after_commit(ctx, COUNT_ONCE, "past", queue="messages", run_at=utcnow() - timedelta(minutes=1))

    queue = get_queue("messages", app)
    registry = ScheduledJobRegistry(queue=queue)
    assert registry.get_job_ids() == [f"outbox-{later.id}"]
    # RQ's scheduler keeps the machine's time: the same two hours from now, on that clock.
    assert registry.get_scheduled_time(f"outbox-{later.id}") == run_at - clock.shift()
    assert queue.job_ids == [f"outbox-{now.id}"]  # a run_at already passed is queued at once
    assert Job.fetch(f"outbox-{later.id}", connection=get_redis(app),
                     serializer=JSONSerializer).get_status() == JobStatus.SCHEDULED
    assert all(r.dispatched_at is not None for r in outbox_rows(app))


# ---------------------------------------------------------------- 5. events

def test_creating_a_customer_emits_one_customer_created_job(app, api, subscriptions):
    subscriptions("customer.created", RECORD_EVENT)
    customer = create_customer(api, email="event@example.com", firstName="Eve")

    [row] = outbox_rows(app)
    payload = {"topic": "customer.created", "customerId": str(raw_id(customer["id"]))}
    assert (row.func, row.args, row.queue) == (RECORD_EVENT, [payload], "default")
    assert queued(app) == {"default": [f"outbox-{row.id}"]}
    job = Job.fetch(f"outbox-{row.id}", connection=get_redis(app), serializer=JSONSerializer)
    assert (job.func_name, job.args) == (RECORD_EVENT, [payload])


def test_a_failed_mutation_emits_nothing(app, api, subscriptions):
    subscriptions("customer.created", RECORD_EVENT)
    create_customer(api, email="taken@example.com")
    [first] = outbox_rows(app)

    payload = api.data(CREATE, {"input": {"email": "Taken@Example.com"}})["customerCreate"]
    assert payload["customer"] is None
    assert [e["field"] for e in payload["errors"]] == ["email"]

    assert [r.id for r in outbox_rows(app)] == [first.id]
    assert queued(app) == {"default": [f"outbox-{first.id}"]}


def test_recording_an_order_emits_order_recorded_once_and_a_replay_emits_nothing(app, api, subscriptions):
    subscriptions("order.recorded", RECORD_EVENT, queue="high")
    customer = create_customer(api, email="buyer@example.com")
    assert outbox_rows(app) == []  # nobody subscribed to customer.created
    variables = {"input": {"customerId": customer["id"], "externalId": "ORD-1", "amount": "10.00",
                           "currency": "EUR", "channel": "WEB", "occurredAt": "2026-06-01T12:00:00+00:00",
                           "items": [{"sku": "SKU-1", "qty": 1}]}}
    first = api.data(RECORD_ORDER, variables)["orderRecord"]
    replay = api.data(RECORD_ORDER, variables)["orderRecord"]
    assert first["errors"] == [] and replay["errors"] == []
    assert replay["order"]["id"] == first["order"]["id"]

    [row] = outbox_rows(app)
    assert row.args == [{"topic": "order.recorded", "orderId": str(raw_id(first["order"]["id"])),
                         "customerId": str(raw_id(customer["id"]))}]
    assert queued(app) == {"high": [f"outbox-{row.id}"]}


def test_subscribing_twice_delivers_once(app, ctx, subscriptions):
    subscriptions("customer.created", RECORD_EVENT)
    subscriptions("customer.created", RECORD_EVENT)
    with transaction(ctx):
        events.emit(ctx, "customer.created", customerId="c-1")
    assert [r.args for r in outbox_rows(app)] == [[{"topic": "customer.created", "customerId": "c-1"}]]
    assert len(queued(app)["default"]) == 1


# ---------------------------------------------------------------- 6. periodic jobs

def test_periodic_jobs_start_once_per_interval(app):
    # The relay, campaign planning and the dispatcher run every maintenance round, in that order; the rest
    # through the queue.
    scheduled = [(name, interval) for name, _, interval in PERIODIC_JOBS if name not in ROUND_JOBS]
    names = [name for name, _ in scheduled]
    assert "rfm-refresh" in names and "inactivity" in names and "birthdays" in names
    assert ROUND_JOBS == ["outbox-relay", "campaigns", "messages-dispatch"]

    assert run_periodic_jobs(app) == names
    queue = get_queue("maintenance", app)
    jobs = queue.get_jobs()
    assert sorted(job.args[0] for job in jobs) == sorted(names)
    assert {job.func_name for job in jobs} == {"crm.queue.run_periodic"}
    assert all(job.id.startswith("periodic-") for job in jobs)
    connection = get_redis(app)
    for name, interval_key in scheduled:
        assert 0 < connection.ttl(f"crm:periodic:{name}") <= int(app.config[interval_key])

    assert run_periodic_jobs(app) == []
    assert queue.count == len(scheduled)
    assert queued(app) == {"maintenance": [job.id for job in jobs]}


# ---------------------------------------------------------------- 7. the embedded mode

def test_without_a_redis_url_the_app_uses_an_embedded_redis_and_work_once_runs_jobs(app, make_app):
    embedded = make_app(None)
    assert embedded.extensions["crm.redis_embedded"] is True
    assert embedded.extensions["crm.redis"] is not app.extensions["crm.redis"]

    now_entry = commit_job(embedded, COUNT_ONCE, "embedded-now")
    soon_entry = commit_job(embedded, COUNT_ONCE, "embedded-soon", queue="messages",
                            run_at=utcnow() + timedelta(seconds=2))
    # The stand-in lives in this process's memory: work waits in the database (durable) until the
    # in-process worker takes it, so nothing is relayed at commit.
    assert queued(embedded) == {}
    assert dispatch_times(embedded)[now_entry.id] is None and dispatch_times(embedded)[soon_entry.id] is None
    scheduled = ScheduledJobRegistry(queue=get_queue("messages", embedded))
    assert queued(app) == {} and rq_job_keys(app) == []  # nothing went to the real Redis

    work_once(embedded)
    assert counter(embedded) == 1
    assert dispatch_times(embedded)[now_entry.id] is not None
    assert dispatch_times(embedded)[soon_entry.id] is None  # not due yet: still only in the database
    assert scheduled.get_job_ids() == []

    time.sleep(max(0.0, (soon_entry.run_at - utcnow()).total_seconds()) + 0.1)
    work_once(embedded)
    assert counter(embedded) == 2
    assert scheduled.get_job_ids() == []
    assert queued(embedded) == {}
    connection = get_redis(embedded)
    for entry in (now_entry, soon_entry):
        job = Job.fetch(f"outbox-{entry.id}", connection=connection, serializer=JSONSerializer)
        assert job.get_status() == JobStatus.FINISHED
    assert counter(app) == 0


def test_the_embedded_worker_thread_runs_jobs_enqueued_after_commit(app, make_app):
    embedded = make_app(None)
    before = set(embedded_threads())
    stop = start_embedded_worker(embedded, poll_seconds=0.1)
    try:
        entry = commit_job(embedded, ADD_STAFF_ONCE, "thread@example.com", "Thread Made")
        assert wait_for(lambda: _finished(embedded, f"outbox-{entry.id}"), timeout=10)
        with app.extensions["crm.sessionmaker"]() as session:
            assert session.scalars(select(StaffUser.name).where(StaffUser.email == "thread@example.com")).all() \
                == ["Thread Made"]
        # A scheduled job comes due and runs too, with no further help.
        soon = commit_job(embedded, COUNT_ONCE, "thread-soon", run_at=utcnow() + timedelta(milliseconds=500))
        assert wait_for(lambda: counter(embedded) == 1, timeout=10)
        assert wait_for(lambda: _finished(embedded, f"outbox-{soon.id}"), timeout=10)
    finally:
        stop.set()
        assert wait_for(lambda: set(embedded_threads()) <= before, timeout=10), "the embedded worker did not stop"


# ---------------------------------------------------------------- 8. `crm worker --burst`

def test_crm_worker_burst_relays_pending_rows_and_runs_them(app, runner, keep_signal_handlers):
    entry_id = add_pending_row(app, COUNT_ONCE, "from-cli", queue="messages")
    assert outbox_rows(app)[0].dispatched_at is None
    assert queued(app) == {}

    result = runner.invoke(args=["worker", "--burst"])
    assert result.exit_code == 0, result.output

    assert outbox_rows(app)[0].dispatched_at is not None
    assert counter(app) == 1
    assert queued(app) == {}
    job = Job.fetch(f"outbox-{entry_id}", connection=get_redis(app), serializer=JSONSerializer)
    assert job.get_status() == JobStatus.FINISHED
    # The periodic jobs were started and run by the same burst.
    finished = FinishedJobRegistry(queue=get_queue("maintenance", app)).get_job_ids()
    assert len(finished) == len(PERIODIC_JOBS) - len(ROUND_JOBS) and all(j.startswith("periodic-") for j in finished)


def _finished(app, job_id: str) -> bool:
    try:
        job = Job.fetch(job_id, connection=get_redis(app), serializer=JSONSerializer)
    except NoSuchJobError:
        return False
    return job.get_status() == JobStatus.FINISHED


def dispatch_times(app) -> dict:
    """Every outbox row's id and dispatched_at."""
    from crm.outbox import OutboxEntry
    with app.extensions["crm.sessionmaker"]() as session:
        return dict(session.execute(select(OutboxEntry.id, OutboxEntry.dispatched_at)).all())


def test_embedded_mode_keeps_future_work_in_the_database_across_a_restart(make_app):
    first = make_app(None)
    later = commit_job(first, COUNT_ONCE, "in-three-days", run_at=utcnow() + timedelta(hours=72))
    work_once(first)  # a round of the in-process worker: the job is not due, so it stays put
    assert dispatch_times(first)[later.id] is None
    restarted = make_app(None)  # a new process: a new, empty embedded Redis
    assert restarted.extensions["crm.redis"] is not first.extensions["crm.redis"]
    assert dispatch_times(restarted)[later.id] is None
    work_once(restarted)
    assert dispatch_times(restarted)[later.id] is None
    assert counter(restarted) == 0
