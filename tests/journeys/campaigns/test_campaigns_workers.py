"""Campaigns run by real `crm worker` processes: planned, advanced and sent by their maintenance rounds;
a worker killed mid-step; a pause that stops sending within seconds."""
from __future__ import annotations

import os
import signal
import time
from datetime import timedelta

from crm import clock
from tests.journeys.campaigns.helpers import campaign_messages, create, entries, lifecycle
from tests.helpers import consenting_customer
from tests.platform.test_workers import start_worker, stop, wait_for

NO_QUIET = {"MESSAGES_QUIET_START": "00:00", "MESSAGES_QUIET_END": "00:00"}


def soon(seconds: float) -> str:
    return (clock.now() + timedelta(seconds=seconds)).isoformat()


def test_a_worker_killed_mid_step_is_replaced_and_each_customer_gets_the_step_once(
        api, app, database_url, redis_url, http_provider, tmp_path):
    people = [consenting_customer(api, consents=("SMS",), phone=f"+4179000010{i}", timezone="UTC") for i in range(3)]
    campaign = create(api, schedule={"kind": "ONCE", "at": soon(2)},
                      steps=[{"key": "sms", "type": "SEND", "content": [{"channel": "SMS", "template": "Hi"}]}])
    assert lifecycle(api, "campaignSchedule", campaign["id"])["errors"] == []
    http_provider.hang.set()
    config = {"MESSAGES_HTTP_URL": http_provider.url, "MESSAGES_HTTP_SECRET": "s", "MESSAGES_CLAIM_LEASE": 3, **NO_QUIET}
    first = start_worker(database_url, redis_url, tmp_path, "first", MESSAGES_PROVIDER_TIMEOUT=60, **config)
    second = None
    try:
        wait_for(lambda: http_provider.requests, 30, "the first worker to plan, advance and send")
        os.killpg(first.pid, signal.SIGKILL)   # dead mid-step: a provider call in flight, its outcome unrecorded
        first.wait(10)
        http_provider.hang.clear()
        second = start_worker(database_url, redis_url, tmp_path, "second", MESSAGES_PROVIDER_TIMEOUT=5, **config)
        wait_for(lambda: [m.status.value for m in campaign_messages(app, campaign["id"])] == ["SENT"] * 3, 120,
                 "every message to be sent")
    finally:
        stop(first)
        if second is not None:
            stop(second)
    written = campaign_messages(app, campaign["id"])
    assert len(entries(app, campaign["id"])) == 3 and len({m.customer_id for m in written}) == 3
    assert sorted(http_provider.delivered) == sorted(str(m.id) for m in written)   # each once, however often tried
    assert len(people) == 3


def test_pausing_stops_sends_within_seconds_and_resuming_continues(api, app, database_url, redis_url, tmp_path):
    consenting_customer(api, email="pause@example.com", timezone="UTC")
    campaign = create(api, schedule={"kind": "ONCE", "at": soon(1)},
                      steps=[{"key": "one", "type": "SEND", "content": [{"channel": "EMAIL", "template": "One"}]},
                             {"key": "wait", "type": "WAIT", "waitSeconds": 3},
                             {"key": "two", "type": "SEND", "content": [{"channel": "EMAIL", "template": "Two"}]}])
    assert lifecycle(api, "campaignSchedule", campaign["id"])["errors"] == []
    worker = start_worker(database_url, redis_url, tmp_path, "worker", **NO_QUIET)
    try:
        wait_for(lambda: [m.status.value for m in campaign_messages(app, campaign["id"])] == ["SENT"], 30,
                 "the first step to be sent")
        assert lifecycle(api, "campaignPause", campaign["id"])["errors"] == []
        time.sleep(6)   # the wait ends while paused: nothing moves
        assert [m.context["step"] for m in campaign_messages(app, campaign["id"])] == ["one"]
        assert lifecycle(api, "campaignResume", campaign["id"])["errors"] == []
        wait_for(lambda: [m.status.value for m in campaign_messages(app, campaign["id"])] == ["SENT", "SENT"], 30,
                 "the second step after resuming")
    finally:
        stop(worker)
    assert [(e.status.value, e.step_key) for e in entries(app, campaign["id"])] == [("COMPLETED", None)]
