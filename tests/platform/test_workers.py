"""Real worker processes and a real Redis server stopped and restarted: exactly once survives both."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis as redis_lib
from sqlalchemy import func, select

import crm
from crm.messages.models import Message
from crm.outbox import OutboxEntry
from crm.queue import work_once
from tests.helpers import SEND_MESSAGE, consenting_customer, raw_id, run_threads
from tests.servers import RedisServer
from tests.messages.test_messages import DAY_ZONE

CRM = str(Path(sys.executable).with_name("crm"))


def wait_for(condition, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def start_worker(database_url, redis_url, tmp_path, name, **config) -> subprocess.Popen:
    env = {**os.environ, "CRM_DATABASE_URL": database_url, "CRM_REDIS_URL": redis_url,
           "CRM_INSTANCE_PATH": str(tmp_path / name), "CRM_OUTBOX_RELAY_INTERVAL": "0.5",
           **{f"CRM_{key}": str(value) for key, value in config.items()}}
    log = open(tmp_path / f"{name}.log", "w")
    return subprocess.Popen([CRM, "worker", "--queues", "messages"], env=env, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(10)


def message_row(app, message_id):
    with app.extensions["crm.sessionmaker"]() as session:
        return session.get(Message, message_id)


def test_a_worker_killed_mid_send_is_replaced_and_the_customer_gets_the_message_once(
        api, app, database_url, redis_url, http_provider, tmp_path):
    customer = consenting_customer(api, consents=("SMS",), phone="+41790000001", timezone=DAY_ZONE)
    http_provider.hang.set()
    config = {"MESSAGES_HTTP_URL": http_provider.url, "MESSAGES_HTTP_SECRET": "s", "MESSAGES_CLAIM_LEASE": 3}
    first = start_worker(database_url, redis_url, tmp_path, "first", MESSAGES_PROVIDER_TIMEOUT=60, **config)
    second = None
    try:
        sent = api.data(SEND_MESSAGE, {"input": {"customerId": customer["id"], "channel": "SMS", "purpose": "CARE",
                                                 "body": "Your repair is ready"}}, as_="account_manager")
        message_id = raw_id(sent["messageSend"]["message"]["id"])
        wait_for(lambda: http_provider.requests, 30, "the first worker's provider call")
        os.killpg(first.pid, signal.SIGKILL)   # dead between the provider's delivery and recording it
        first.wait(10)
        http_provider.hang.clear()
        claimed = message_row(app, message_id)
        assert (claimed.status.value, claimed.attempts, claimed.claimed_at is not None) == ("QUEUED", 1, True)

        started = time.monotonic()
        second = start_worker(database_url, redis_url, tmp_path, "second", MESSAGES_PROVIDER_TIMEOUT=5, **config)
        wait_for(lambda: message_row(app, message_id).status.value == "SENT", 120, "the message to be sent")
        assert time.monotonic() - started < 120
    finally:
        stop(first)
        if second is not None:
            stop(second)
    done = message_row(app, message_id)
    assert (done.attempts, done.claimed_at) == (2, None)
    keys = [r["headers"]["idempotency-key"] for r in http_provider.requests]
    assert keys == [str(message_id), str(message_id)]          # the same key both times...
    assert list(http_provider.delivered) == [str(message_id)]  # ...so the customer got it once


@pytest.fixture
def private_redis(tmp_path):
    """A Redis server of this test's own, which it may stop and start again on the same port."""
    server = RedisServer(tmp_path).start()
    yield server
    server.stop()


def test_with_redis_down_writes_succeed_their_messages_wait_and_are_sent_when_it_is_back(
        api, app, database_url, private_redis, tokens):
    other = crm.create_app({"DATABASE_URL": database_url, "REDIS_URL": private_redis.url, "TESTING": True,
                            "SECRET_KEY": "test"})
    try:
        customer = consenting_customer(api, email="patient@example.com", timezone=DAY_ZONE)
        private_redis.stop()
        client = other.test_client()
        sent = []
        for body in ("One", "Two"):
            response = client.post("/graphql", headers={"Authorization": f"Bearer {tokens['account_manager']}"},
                                   json={"query": SEND_MESSAGE, "variables": {"input": {
                                       "customerId": customer["id"], "channel": "EMAIL", "purpose": "CARE",
                                       "body": body}}})
            assert response.status_code == 200
            payload = response.get_json()["data"]["messageSend"]
            assert payload["errors"] == [] and payload["message"]["status"] == "QUEUED"
            sent.append(raw_id(payload["message"]["id"]))
        with other.extensions["crm.sessionmaker"]() as session:
            waiting = session.scalars(select(OutboxEntry).where(OutboxEntry.dispatched_at.is_(None),
                                                                OutboxEntry.func == "crm.messages.jobs.send_message"))
            assert sorted(e.args[0] for e in waiting) == sorted(str(i) for i in sent)
        with pytest.raises(redis_lib.exceptions.ConnectionError):
            work_once(other)  # the worker cannot reach Redis either; nothing is lost by trying

        private_redis.start()   # a fresh, empty Redis: only the database remembers the work
        work_once(other)
        assert [message_row(app, i).status.value for i in sent] == ["SENT", "SENT"]
        assert [message_row(app, i).attempts for i in sent] == [1, 1]
    finally:
        other.extensions["crm.engine"].dispose()


def test_a_job_lost_with_redis_is_queued_again_by_the_dispatcher(api, app):
    """Redis has no persistence here: a queued job can vanish. The message row remembers it."""
    app.config.update(MESSAGES_REQUEUE_AFTER=0)
    customer = consenting_customer(api, email="lost@example.com", timezone=DAY_ZONE)
    sent = api.data(SEND_MESSAGE, {"input": {"customerId": customer["id"], "channel": "EMAIL", "purpose": "CARE",
                                             "body": "Hello"}}, as_="account_manager")
    from crm.messages.delivery import dispatch_due
    from crm.queue import get_queue
    with app.app_context():
        from crm.sessions import get_session
        # Still waiting in Redis behind a backlog: asked after, not queued a second time.
        waiting = get_queue("messages", app).get_job_ids()
        assert f"message-{raw_id(sent['messageSend']['message']['id'])}-0" in waiting
        assert dispatch_due(get_session()) == 0
        assert get_queue("messages", app).get_job_ids() == waiting
        app.extensions["crm.redis"].flushdb()
        assert dispatch_due(get_session()) == 1   # gone with Redis: queued again
        assert get_queue("messages", app).count == 1
    work_once(app)
    assert message_row(app, raw_id(sent["messageSend"]["message"]["id"])).status.value == "SENT"


def test_periodic_jobs_are_safe_on_two_workers_at_once(api, app, clock):
    from datetime import timedelta

    from crm.queue import run_periodic
    from tests.helpers import record_order
    now = clock.freeze("2026-07-14T12:00:00+00:00")   # noon in UTC: their birthday, in the day
    for i in range(6):
        customer = consenting_customer(api, email=f"idle{i}@example.com", timezone="UTC", birthday="1990-07-14")
        record_order(api, customer["id"], f"idle-{i}", occurred_at=(now - timedelta(days=120)).isoformat())
    work_once(app)

    def run(name):
        def target(_):
            with app.app_context():
                return run_periodic(name)
        return target

    moved = run_threads(2, run("inactivity"))
    assert sum(m["AT_RISK"] for m in moved) == 6
    greeted = run_threads(2, run("birthdays"))
    assert sum(greeted) == 6
    work_once(app)
    with app.extensions["crm.sessionmaker"]() as session:
        counts = dict(session.execute(select(Message.trigger, func.count()).group_by(Message.trigger)).all())
    assert (counts["care:at-risk"], counts["care:birthday"]) == (6, 6)
