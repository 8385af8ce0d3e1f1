"""Rate limits through HTTP against a running server (`crm serve`): one budget per token sized by its role, one per
client address for requests without a valid token, RateLimit-* headers counting down, HTTP 429 with Retry-After
and a JSON error naming the limit, readable by a browser on a listed origin; counters in Redis shared across a
restart, and a Redis that goes away neither fails a request nor switches limits off. Config errors at startup."""
from __future__ import annotations

import http.client
import json
import re
import time
import uuid

import pytest
import redis as redis_lib

import crm
from crm.config import ConfigError
from crm.enums import Role
from tests.servers import CrmServer, RedisServer

SHOP = "https://shop.example"
LIMITS = {"PORTAL": "3/minute", "INTEGRATION": "5/minute"}
QUERY = {"query": "{ __typename }"}
RATE_HEADERS = ("RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset", "Retry-After")


def request(server, method: str, path: str, token: str | None = None, body: dict | None = None,
            headers: dict | None = None):
    """(status, headers, parsed JSON body or None)."""
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        sent = dict(headers or {})
        if token:
            sent["Authorization"] = f"Bearer {token}"
        data = None
        if body is not None:
            data = json.dumps(body)
            sent["Content-Type"] = "application/json"
        connection.request(method, path, body=data, headers=sent)
        response = connection.getresponse()
        raw = response.read()
        answer = dict(response.getheaders())
        parsed = json.loads(raw) if answer.get("Content-Type", "").startswith("application/json") else None
        return response.status, answer, parsed
    finally:
        connection.close()


def post(server, token=None, headers=None, body=QUERY):
    return request(server, "POST", "/graphql", token, body, headers)


def rate(headers) -> dict:
    return {name: headers[name] for name in RATE_HEADERS if name in headers}


class Tokens:
    """Tokens made straight in a server's database (the CLI would cost a process each)."""

    def __init__(self, server):
        self.app = crm.create_app({"DATABASE_URL": server.env["CRM_DATABASE_URL"], "REDIS_URL": None,
                                   "RATE_LIMITS_ENABLED": False})
        self.customer_id = None

    def __call__(self, role: Role) -> str:
        from crm.auth.services import create_token
        from crm.sessions import get_session
        with self.app.app_context():
            session = get_session()
            if role == Role.PORTAL and self.customer_id is None:
                self.customer_id = self._customer(session)
            customer = self.customer_id if role == Role.PORTAL else None
            return create_token(session, role=role, customer_id=customer, label="rate-limit tests")[1]

    def _customer(self, session):
        from crm.customers.services import create_customer
        return create_customer(session, data={"email": f"limited-{uuid.uuid4().hex[:8]}@example.com"}, actor="tests",
                               config=self.app.config).id

    def close(self):
        self.app.extensions["crm.engine"].dispose()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    served = CrmServer(tmp_path_factory.mktemp("limited"), RATE_LIMITS_ENABLED="true",
                       RATE_LIMITS=json.dumps(LIMITS), RATE_LIMIT_SIGN_IN="2/minute", CORS_ORIGINS=SHOP).start()
    try:
        yield served
    finally:
        served.stop()


@pytest.fixture(scope="module")
def token(server):
    tokens = Tokens(server)
    yield tokens
    tokens.close()


def reset_seconds(headers) -> int:
    value = int(headers["RateLimit-Reset"])
    assert 1 <= value <= 60, headers
    return value


def test_a_token_counts_down_and_its_fourth_request_is_refused(server, token):
    portal = token(Role.PORTAL)
    for remaining in ("2", "1", "0"):
        status, headers, body = post(server, portal)
        assert (status, body) == (200, {"data": {"__typename": "Query"}})
        assert {k: v for k, v in rate(headers).items() if k != "RateLimit-Reset"} == {
            "RateLimit-Limit": "3", "RateLimit-Remaining": remaining}
        reset_seconds(headers)
    status, headers, body = post(server, portal)
    assert status == 429
    assert headers["Content-Type"] == "application/json"
    retry = int(headers["Retry-After"])
    assert 1 <= retry <= 60
    assert rate(headers) == {"RateLimit-Limit": "3", "RateLimit-Remaining": "0", "RateLimit-Reset": str(retry),
                             "Retry-After": str(retry)}
    assert body == {"errors": [{
        "message": f"Rate limit: at most 3 per 1 minute for this token; retry in {retry} seconds.",
        "extensions": {"code": "RATE_LIMITED", "limit": "3 per 1 minute", "retryAfter": retry}}]}
    # Refused requests are not served: the count stays at the limit, the answer stays 429.
    assert post(server, portal)[0] == 429
    # Another token of the same role has a budget of its own.
    status, headers, _ = post(server, token(Role.PORTAL))
    assert (status, headers["RateLimit-Remaining"]) == (200, "2")


def test_each_role_has_its_own_limit_and_unlisted_roles_keep_the_default(server, token):
    status, headers, _ = post(server, token(Role.INTEGRATION))
    assert (status, headers["RateLimit-Limit"], headers["RateLimit-Remaining"]) == (200, "5", "4")
    status, headers, _ = post(server, token(Role.ADMIN))
    assert (status, headers["RateLimit-Limit"], headers["RateLimit-Remaining"]) == (200, "600", "599")


def test_the_exports_share_the_token_budget(server, token):
    portal = token(Role.PORTAL)
    assert post(server, portal)[1]["RateLimit-Remaining"] == "2"
    status, headers, body = request(server, "GET", "/reports/journey-map/default.csv", portal)
    assert (status, body["errors"][0]["extensions"]["code"]) == (403, "FORBIDDEN")
    assert headers["RateLimit-Remaining"] == "1"
    assert post(server, portal)[1]["RateLimit-Remaining"] == "0"
    status, headers, body = request(server, "GET", "/reports/journey-map/default.svg", portal)
    assert (status, body["errors"][0]["extensions"]["code"]) == (429, "RATE_LIMITED")


def test_requests_without_a_valid_token_are_limited_per_address(server, token):
    """The sign-in budget: staffSignIn, then an unknown token, then no token, share it; X-Forwarded-For is not
    believed."""
    sign_in = {"query": "mutation { staffSignIn(email: \"nobody@example.com\", password: \"guess-guess-guess\") "
                        "{ token errors { code } } }"}
    status, headers, body = post(server, body=sign_in)
    assert (status, body) == (200, {"data": {"staffSignIn": {"token": None,
                                                             "errors": [{"code": "INVALID_CREDENTIALS"}]}}})
    assert (headers["RateLimit-Limit"], headers["RateLimit-Remaining"]) == ("2", "1")
    status, headers, _ = post(server, "not-a-token", headers={"X-Forwarded-For": "203.0.113.9"})
    assert (status, headers["RateLimit-Remaining"]) == (401, "0")
    status, headers, body = post(server, headers={"X-Forwarded-For": "203.0.113.10"})
    retry = int(headers["Retry-After"])
    assert status == 429
    assert body == {"errors": [{
        "message": f"Rate limit: at most 2 per 1 minute for this client address, for requests without a token; "
                   f"retry in {retry} seconds.",
        "extensions": {"code": "RATE_LIMITED", "limit": "2 per 1 minute", "retryAfter": retry}}]}
    # A valid token is not held back by its address's sign-in budget.
    assert post(server, token(Role.PORTAL))[0] == 200


def test_a_browser_on_a_listed_origin_can_read_the_limit_and_the_refusal(server, token):
    portal = token(Role.PORTAL)
    exposed = None
    for _ in range(4):
        status, headers, _ = post(server, portal, headers={"Origin": SHOP})
        assert headers["Access-Control-Allow-Origin"] == SHOP
        exposed = {name.strip() for name in headers["Access-Control-Expose-Headers"].split(",")}
        assert set(RATE_HEADERS) <= exposed
    assert status == 429
    assert exposed == {"Content-Disposition", "WWW-Authenticate", *RATE_HEADERS}


# --- Redis ------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def own_redis(tmp_path_factory):
    redis_server = RedisServer(tmp_path_factory.mktemp("rate-redis")).start()
    try:
        yield redis_server
    finally:
        redis_server.stop()


@pytest.fixture(scope="module")
def redis_served(tmp_path_factory, own_redis):
    # Windows of an hour: a restart of the server within the test must not outlast one.
    served = CrmServer(tmp_path_factory.mktemp("limited-redis"), RATE_LIMITS_ENABLED="true",
                       RATE_LIMITS=json.dumps({"PORTAL": "3/hour"}), RATE_LIMIT_SIGN_IN="2/hour",
                       REDIS_URL=own_redis.url,
                       TRUSTED_PROXIES=1, CORS_ORIGINS=SHOP).start()
    try:
        yield served
    finally:
        served.stop()


def limit_keys(url: str) -> list[str]:
    return sorted(key.decode() for key in redis_lib.Redis.from_url(url).keys("crm-rate-limits:*"))


def test_counters_live_in_redis_and_survive_a_restart(redis_served, own_redis):
    tokens = Tokens(redis_served)
    try:
        portal = tokens(Role.PORTAL)
    finally:
        tokens.close()
    assert post(redis_served, portal)[1]["RateLimit-Remaining"] == "2"
    assert post(redis_served, portal)[1]["RateLimit-Remaining"] == "1"
    assert [re.sub(r"token:[0-9a-f-]+", "token:<id>", key) for key in limit_keys(own_redis.url)] == [
        "crm-rate-limits:LIMITER/token:<id>/api/3/1/hour"]
    redis_served.stop()
    redis_served.start()
    assert post(redis_served, portal)[1]["RateLimit-Remaining"] == "0"
    assert post(redis_served, portal)[0] == 429


def test_behind_a_trusted_proxy_each_client_address_has_its_own_budget(redis_served):
    for _ in range(2):
        assert post(redis_served, headers={"X-Forwarded-For": "203.0.113.7"})[0] == 401
    assert post(redis_served, headers={"X-Forwarded-For": "203.0.113.7"})[0] == 429
    status, headers, _ = post(redis_served, headers={"X-Forwarded-For": "203.0.113.8"})
    assert (status, headers["RateLimit-Remaining"]) == (401, "1")
    assert "crm-rate-limits:LIMITER/address:203.0.113.8/api/2/1/hour" in limit_keys(redis_served.env["CRM_REDIS_URL"])


def test_preflights_health_checks_and_graphiql_are_not_counted(redis_served):
    """Preflights come without a token: counted, they would spend the address's sign-in budget."""
    client = {"X-Forwarded-For": "203.0.113.50"}
    preflight = {"Origin": SHOP, "Access-Control-Request-Method": "POST",
                 "Access-Control-Request-Headers": "authorization, content-type", **client}
    for _ in range(3):
        status, headers, _ = request(redis_served, "OPTIONS", "/graphql", headers=preflight)
        assert (status, rate(headers), headers["Access-Control-Allow-Origin"]) == (200, {}, SHOP)
        assert request(redis_served, "OPTIONS", "/reports/journey-map/default.csv", headers=preflight)[0] == 200
        status, headers, _ = request(redis_served, "GET", "/healthz", headers=client)
        assert (status, rate(headers)) == (200, {})
        status, headers, _ = request(redis_served, "GET", "/graphql", headers=client)
        assert (status, rate(headers)) == (200, {})
    status, headers, _ = post(redis_served, headers=client)
    assert (status, headers["RateLimit-Remaining"]) == (401, "1")


def test_without_redis_requests_are_still_served_and_limited_in_memory(redis_served, own_redis):
    tokens = Tokens(redis_served)
    try:
        first, second = tokens(Role.PORTAL), tokens(Role.PORTAL)
    finally:
        tokens.close()
    own_redis.stop()
    try:
        answers = [post(redis_served, first) for _ in range(4)]
        assert [(status, headers.get("RateLimit-Remaining")) for status, headers, _ in answers] == [
            (200, "2"), (200, "1"), (200, "0"), (429, "0")]
        assert "falling back to in-memory storage" in redis_served.log_path.read_text()
    finally:
        own_redis.start()
    # Redis is asked again after a back-off (1, 2, 4, ... seconds): the next token's count lands there.
    deadline = time.monotonic() + 20
    while not any("token:" in key for key in limit_keys(own_redis.url)):
        assert time.monotonic() < deadline, "the limiter never went back to Redis"
        assert post(redis_served, second)[0] in (200, 429)
        time.sleep(0.5)
    assert "Rate limit storage recovered" in redis_served.log_path.read_text()


# --- configuration ----------------------------------------------------------------------------------

@pytest.fixture
def make_app(tmp_path, monkeypatch):
    monkeypatch.setenv("CRM_INSTANCE_PATH", str(tmp_path))
    made = []

    def make(**config):
        app = crm.create_app({"DATABASE_URL": f"sqlite:///{tmp_path}/crm.sqlite", "REDIS_URL": None, **config})
        made.append(app)
        return app

    yield make
    for app in made:
        app.extensions["crm.engine"].dispose()


@pytest.mark.parametrize(("config", "message"), [
    ({"RATE_LIMITS": {"PORTAL": "lots"}},
     "CRM_RATE_LIMITS[PORTAL]: 'lots' is not a limit like \"120/minute\" or \"10/second;600/hour\" (a count, a "
     "slash, second/minute/hour/day; several separated by ';')."),
    ({"RATE_LIMITS": {"PORTAL": 120}},
     "CRM_RATE_LIMITS[PORTAL] must be a limit like \"120/minute\" or \"10/second;600/hour\", not 120."),
    ({"RATE_LIMITS": {"GUEST": "1/second", "ROBOT": "1/second"}},
     "CRM_RATE_LIMITS: unknown role GUEST, ROBOT; the roles are ADMIN, ACCOUNT_MANAGER, SUPPORT_AGENT, MARKETER, "
     "PORTAL, INTEGRATION."),
    ({"RATE_LIMITS": "PORTAL=3/minute"},
     "CRM_RATE_LIMITS must be a JSON object of role to limit, e.g. '{\"PORTAL\": \"120/minute\"}', not "
     "'PORTAL=3/minute'."),
    ({"RATE_LIMIT_SIGN_IN": "10 a minute"},
     "CRM_RATE_LIMIT_SIGN_IN: '10 a minute' is not a limit like \"120/minute\" or \"10/second;600/hour\" (a count, "
     "a slash, second/minute/hour/day; several separated by ';')."),
    ({"RATE_LIMITS_ENABLED": "yes"}, "CRM_RATE_LIMITS_ENABLED must be true or false, not 'yes'."),
    ({"TRUSTED_PROXIES": -1},
     "CRM_TRUSTED_PROXIES must be the number of proxies in front of the app (0 or more), not -1."),
    ({"RATE_LIMIT_STORAGE_URL": "memcache://cache:11211"},
     "CRM_RATE_LIMIT_STORAGE_URL: the rate limiter cannot keep its counters there (unknown storage scheme : "
     "memcache://cache:11211); use a redis:// or rediss:// URL."),
    ({"TRUSTED_PROXIES": True},
     "CRM_TRUSTED_PROXIES must be the number of proxies in front of the app (0 or more), not True."),
])
def test_a_bad_setting_stops_the_app_from_starting(make_app, config, message):
    with pytest.raises(ConfigError) as refused:
        make_app(**config)
    assert str(refused.value) == message


def test_limits_from_the_environment_merge_with_the_defaults(make_app, monkeypatch):
    monkeypatch.setenv("CRM_RATE_LIMITS", '{"PORTAL": "30/minute;500/hour"}')
    monkeypatch.setenv("CRM_RATE_LIMIT_SIGN_IN", "5/minute")
    settings = make_app().extensions["crm.rate_limits"]
    assert settings.role_limits == {
        Role.ADMIN: "600/minute", Role.ACCOUNT_MANAGER: "600/minute", Role.SUPPORT_AGENT: "600/minute",
        Role.MARKETER: "600/minute", Role.PORTAL: "30/minute;500/hour", Role.INTEGRATION: "1200/minute"}
    assert (settings.sign_in, settings.storage_url, settings.trusted_proxies) == ("5/minute", "memory://", 0)


def test_storage_is_the_rate_limit_url_then_redis_then_memory(make_app):
    assert make_app(REDIS_URL="redis://127.0.0.1:1/0").extensions["crm.rate_limits"].storage_url == (
        "redis://127.0.0.1:1/0")
    assert make_app(REDIS_URL="redis://127.0.0.1:1/0", RATE_LIMIT_STORAGE_URL="redis://127.0.0.1:2/3").extensions[
        "crm.rate_limits"].storage_url == "redis://127.0.0.1:2/3"


def test_switched_off_there_is_no_limiter(make_app):
    app = make_app(RATE_LIMITS_ENABLED=False, RATE_LIMITS={"PORTAL": "1/minute"})
    assert "crm.limiter" not in app.extensions
    response = app.test_client().post("/graphql", json=QUERY)
    assert (response.status_code, rate(response.headers)) == (401, {})
