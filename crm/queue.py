"""RQ plumbing: connection, named queues, JSON jobs, the outbox relay and periodic work.

With ``CRM_REDIS_URL`` unset the app uses an embedded Redis stand-in
(fakeredis) and ``start_embedded_worker`` runs jobs in a background thread, so
the demo sends its follow-ups with nothing else installed.
"""
from __future__ import annotations

import logging
import threading

import redis
from flask import Flask, current_app, has_app_context
from rq import Queue, SimpleWorker
from rq.job import Job
from rq.scheduler import RQScheduler
from rq.serializers import JSONSerializer
from rq.timeouts import TimerDeathPenalty

from crm import clock
from crm.db import utcnow
from crm.outbox import pending

log = logging.getLogger(__name__)

QUEUE_NAMES = ("high", "default", "messages", "segments", "maintenance")
JOB_TIMEOUT = 600
# RQ's own loggers (rq.worker, rq.scheduler) in the embedded worker: its per-round chatter off, a failing job's
# warning and traceback kept.
EMBEDDED_LOG_LEVEL = "WARNING"

# (name, dotted job path, config key of its interval in seconds). Domains append at composition.
PERIODIC_JOBS: list[tuple[str, str, str]] = [
    ("outbox-relay", "crm.queue.relay_outbox_job", "OUTBOX_RELAY_INTERVAL"),
    ("messages-dispatch", "crm.messages.jobs.dispatch_due", "MESSAGES_DISPATCH_INTERVAL"),
    ("rfm-refresh", "crm.customers.jobs.refresh_rfm_scores", "RFM_REFRESH_INTERVAL"),
    ("inactivity", "crm.customers.jobs.apply_inactivity", "INACTIVITY_INTERVAL"),
    ("birthdays", "crm.messages.jobs.send_birthday_greetings", "BIRTHDAYS_INTERVAL"),
]
# Run in every maintenance round of `crm worker` (and each round of the embedded worker), in this order,
# not through the queue: they are what moves work onto the queue. Domains insert theirs at composition.
ROUND_JOBS = ["outbox-relay", "messages-dispatch"]


def init_app(app: Flask) -> None:
    url = app.config["REDIS_URL"]
    if url:
        connection = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=5)
        app.extensions["crm.redis_embedded"] = False
    else:
        import fakeredis

        connection = fakeredis.FakeRedis(server=fakeredis.FakeServer())
        app.extensions["crm.redis_embedded"] = True
    app.extensions["crm.redis"] = connection


def get_redis(app: Flask | None = None) -> redis.Redis:
    return (app or current_app).extensions["crm.redis"]


def get_queue(name: str = "default", app: Flask | None = None) -> Queue:
    if name not in QUEUE_NAMES:
        raise ValueError(f"unknown queue {name!r}; known: {', '.join(QUEUE_NAMES)}")
    return Queue(name, connection=get_redis(app), serializer=JSONSerializer)


WAITING = {"queued", "scheduled", "deferred", "started"}


def enqueue_many(queue_name: str, func: str, jobs: list[tuple[str, list]], app: Flask | None = None,
                 chunk: int = 1000) -> None:
    """Enqueue (job id, args) pairs, a Redis pipeline per chunk (the dispatcher's fan-out)."""
    queue = get_queue(queue_name, app)
    for start in range(0, len(jobs), chunk):
        datas = [Queue.prepare_data(func, args, job_id=job_id, result_ttl=0, failure_ttl=7 * 86400,
                                    timeout=JOB_TIMEOUT)
                 for job_id, args in jobs[start:start + chunk]]
        with queue.connection.pipeline() as pipe:
            queue.enqueue_many(datas, pipeline=pipe)
            pipe.execute()


def jobs_waiting(job_ids: list[str], app: Flask | None = None) -> set[str]:
    """Which of these jobs Redis still holds, waiting or running (one pipelined read)."""
    with get_redis(app).pipeline(transaction=False) as pipe:
        for job_id in job_ids:
            pipe.hget(f"{Job.redis_job_namespace_prefix}{job_id}", "status")
        statuses = pipe.execute()
    return {job_id for job_id, status in zip(job_ids, statuses, strict=True) if status and status.decode() in WAITING}


def relay_outbox(app: Flask, limit: int = 500, drain: bool = False) -> int:
    """Move pending outbox rows onto their queues, ``limit`` per transaction (all of them with ``drain``).
    Returns how many were relayed.

    With the embedded Redis stand-in, which lives in one process's memory, only rows that are
    due now are relayed, by the in-process worker right before it runs them: future work stays
    in the database, so a restart loses nothing.
    """
    sessionmaker = app.extensions["crm.sessionmaker"]
    due_only = app.extensions["crm.redis_embedded"]
    relayed = 0
    while True:
        batch = 0
        with sessionmaker() as session:
            try:
                for entry in pending(session, limit, due_before=utcnow() if due_only else None):
                    queue = get_queue(entry.queue, app)
                    kwargs = {"job_id": entry.job_id or f"outbox-{entry.id}", "result_ttl": 3600,
                              "failure_ttl": 7 * 86400}
                    if entry.run_at is not None and entry.run_at > utcnow():
                        # RQ's scheduler keeps real time: hand it the delay on our clock, not the instant.
                        queue.enqueue_in(clock.delay_until(entry.run_at), entry.func, *entry.args, **kwargs)
                    else:
                        queue.enqueue(entry.func, *entry.args, **kwargs)
                    entry.dispatched_at = utcnow()
                    batch += 1
                session.commit()
            except redis.exceptions.RedisError as exc:
                # Unreachable, timing out or refusing writes: keep what was marked so far; the rest
                # waits for the next relay.
                session.commit()
                log.warning("outbox relay paused, Redis failed: %s: %s", exc.__class__.__name__, exc)
                return relayed + batch
        relayed += batch
        if not drain or batch < limit:
            return relayed


def relay_outbox_job() -> int:
    return relay_outbox(current_app._get_current_object())


def periodic_job(name: str) -> tuple[str, str, str]:
    for job in PERIODIC_JOBS:
        if job[0] == name:
            return job
    raise KeyError(name)


def run_periodic(name: str):
    """Run one periodic job here and now, recording its start, end and outcome (`crm periodic list`)."""
    from crm.sessions import get_session
    from crm.messages.periodic import record_finish, record_start
    func = _import(periodic_job(name)[1])
    record_start(name)
    try:
        result = func()
        # End the job's last transaction before the record opens its own: on SQLite every transaction
        # holds the write lock, and a read left open would make the record wait for it.
        get_session().commit()
    except BaseException as exc:
        get_session().rollback()
        record_finish(name, f"failed: {exc.__class__.__name__}: {exc}")
        raise
    record_finish(name, f"ok: {result}" if result is not None else "ok")
    return result


def _import(path: str):
    import importlib
    module, _, attr = path.rpartition(".")
    return getattr(importlib.import_module(module), attr)


def run_round_jobs(app: Flask) -> list[str]:
    """The outbox relay, then each domain's round job (campaign planning, the message dispatcher). Each runs
    even when one before it raised: the failure is logged with the job's name, its transaction rolled back,
    and the round goes on (one domain's bug must not stop the dispatcher). Returns the names that failed."""
    failed = []
    for name in ["outbox-relay", *(n for n in ROUND_JOBS if n != "outbox-relay")]:
        try:
            if name == "outbox-relay":
                relay_outbox(app, drain=True)
            else:
                _import(periodic_job(name)[1])()
        except Exception:
            log.exception("round job %s failed; the round goes on", name)
            failed.append(name)
            _roll_back()
    return failed


def _roll_back() -> None:
    """End a failed round job's transaction, so that the next job's session (the app context's) starts clean."""
    from crm.sessions import get_session
    if not has_app_context():
        return
    try:
        get_session().rollback()
    except Exception:
        log.exception("rolling back after a failed round job failed")


def run_periodic_jobs(app: Flask) -> list[str]:
    """Enqueue each periodic job at most once per interval across every worker process."""
    started = []
    connection = get_redis(app)
    for name, _func, interval_key in PERIODIC_JOBS:
        if name in ROUND_JOBS:
            continue
        interval = max(1, int(float(app.config[interval_key])))
        lock = f"crm:periodic:{name}"
        if connection.set(lock, "1", nx=True, ex=interval):
            try:
                get_queue("maintenance", app).enqueue("crm.queue.run_periodic", name,
                                                      job_id=f"periodic-{name}-{int(clock.timestamp())}")
            except Exception:
                connection.delete(lock)  # not started: let the next round try again
                raise
            started.append(name)
    return started


class AppWorker(SimpleWorker):
    """Runs each job inside an app context, so jobs can use the database session."""

    app: Flask

    def perform_job(self, job: Job, queue: Queue) -> bool:
        with self.app.app_context():
            return super().perform_job(job, queue)


class EmbeddedWorker(AppWorker):
    """The in-process worker: runs in a thread, where signals and alarms are unavailable."""

    death_penalty_class = TimerDeathPenalty

    def _install_signal_handlers(self):
        pass


def make_worker(app: Flask, queue_names=QUEUE_NAMES, embedded: bool = False) -> AppWorker:
    cls = EmbeddedWorker if embedded else AppWorker
    queues = [get_queue(name, app) for name in queue_names]
    connection = get_redis(app)
    if not app.extensions["crm.redis_embedded"]:
        # A pool of the worker's own: RQ raises the socket timeout above its blocking dequeue's only for
        # connections made after it starts, and a pooled one from before (5 s) made an idle worker quit
        # with "Redis connection timeout".
        connection = redis.Redis.from_url(app.config["REDIS_URL"], socket_connect_timeout=2)
    worker = cls(queues, connection=connection, serializer=JSONSerializer)
    worker.app = app
    return worker


def run_maintenance_loop(app: Flask, stop: threading.Event) -> None:
    """Relay the outbox and start periodic jobs until ``stop`` is set."""
    interval = float(app.config["OUTBOX_RELAY_INTERVAL"])
    while not stop.is_set():
        try:
            with app.app_context():
                run_round_jobs(app)
                run_periodic_jobs(app)
        except Exception:  # a failed round must not end the loop; the next one retries
            log.exception("maintenance round failed")
        stop.wait(interval)


def work_once(app: Flask) -> None:
    """One round of the embedded worker: relay due outbox rows, queue due messages and scheduled jobs,
    then run everything queued."""
    with app.app_context():
        run_round_jobs(app)
    connection = get_redis(app)
    # A scheduler made here each round takes its locks anew and would log "Acquired scheduler lock" for every
    # queue every second at INFO (most of the demo's log); its warnings and errors still show.
    scheduler = RQScheduler(QUEUE_NAMES, connection=connection, serializer=JSONSerializer,
                            logging_level=EMBEDDED_LOG_LEVEL)
    # enqueue_scheduled_jobs only looks at the registries of queues whose scheduler lock is held.
    scheduler.acquire_locks()
    try:
        scheduler.enqueue_scheduled_jobs()
    finally:
        scheduler.release_locks()
    make_worker(app, embedded=True).work(burst=True, logging_level=EMBEDDED_LOG_LEVEL)


def start_embedded_worker(app: Flask, poll_seconds: float = 1.0) -> threading.Event:
    """Start the in-process worker thread; set the returned event to stop it."""
    stop = threading.Event()

    def loop():
        while not stop.is_set():
            try:
                with app.app_context():
                    run_periodic_jobs(app)
                work_once(app)
            except Exception:
                log.exception("embedded worker round failed")
            stop.wait(poll_seconds)

    threading.Thread(target=loop, name="crm-embedded-worker", daemon=True).start()
    return stop
