"""What browsers get, through HTTP (the Flask test client): CORS for listed origins only, security headers on
every kind of response, GraphiQL from the package (on in development, off in production unless asked for), and
production's refusal of a missing or short CRM_SECRET_KEY. A real server and a real browser:
test_graphiql_browser.py."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

import crm
from crm.api import graphiql
from crm.config import ConfigError

SHOP = "https://shop.example"
LOCAL = "http://localhost:3000"
KEY = "k" * 32
PREFLIGHT = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization, content-type"}
CRM = str(Path(sys.executable).with_name("crm"))


@pytest.fixture(scope="module")
def made_apps():
    made = []
    yield made
    for app in made:
        if "crm.engine" in app.extensions:
            app.extensions["crm.engine"].dispose()


@pytest.fixture
def make_app(made_apps, database_url, redis_url, tmp_path, monkeypatch):
    monkeypatch.setenv("CRM_INSTANCE_PATH", str(tmp_path))

    def make(**config):
        app = crm.create_app({"DATABASE_URL": database_url, "REDIS_URL": redis_url, **config})
        made_apps.append(app)
        return app

    return make


@pytest.fixture(scope="module")
def cors_app(made_apps, database_url, redis_url, tmp_path_factory):
    """An app allowing two origins, not TESTING (errors reach their handlers), with a route that fails."""
    app = crm.create_app({"DATABASE_URL": database_url, "REDIS_URL": redis_url, "CORS_ORIGINS": f"{SHOP}, {LOCAL}"})
    app.instance_path = str(tmp_path_factory.mktemp("cors-instance"))
    app.add_url_rule("/boom", "boom", lambda: 1 / 0)
    made_apps.append(app)
    return app


@pytest.fixture
def cors(cors_app):
    return cors_app.test_client()


def auth(tokens, role="admin") -> dict:
    return {"Authorization": f"Bearer {tokens[role]}"}


def cors_headers(response) -> dict:
    return {name: value for name, value in response.headers if name.lower().startswith("access-control-")}


# --- CORS ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("origin", [SHOP, LOCAL])
def test_a_preflight_from_a_listed_origin_is_answered(cors, origin):
    response = cors.options("/graphql", headers={"Origin": origin, **PREFLIGHT})
    assert response.status_code == 200
    headers = cors_headers(response)
    assert headers["Access-Control-Allow-Origin"] == origin
    assert set(headers["Access-Control-Allow-Methods"].split(", ")) == {"GET", "POST", "OPTIONS"}
    assert {h.strip().lower() for h in headers["Access-Control-Allow-Headers"].split(",")} == {
        "authorization", "content-type"}
    assert headers["Access-Control-Max-Age"] == "600"
    assert "Access-Control-Allow-Credentials" not in headers  # bearer tokens only, never cookies
    assert "Origin" in response.headers["Vary"]


def test_a_preflight_allows_no_header_beyond_authorization_and_content_type(cors):
    response = cors.options("/graphql", headers={"Origin": SHOP, "Access-Control-Request-Method": "POST",
                                                 "Access-Control-Request-Headers": "authorization, x-forwarded-for"})
    assert response.headers["Access-Control-Allow-Headers"].lower() == "authorization"


@pytest.mark.parametrize("origin", ["https://evil.example", "https://shop.example.evil", "http://shop.example",
                                    "http://localhost:3001", "null"])
def test_an_unlisted_origin_gets_no_cors_headers(cors, tokens, origin):
    assert cors_headers(cors.options("/graphql", headers={"Origin": origin, **PREFLIGHT})) == {}
    response = cors.post("/graphql", json={"query": "{ viewer { role } }"}, headers={"Origin": origin, **auth(tokens)})
    assert response.status_code == 200
    assert cors_headers(response) == {}


def test_a_request_from_a_listed_origin_may_read_the_answer_and_its_refusals(cors, tokens):
    response = cors.post("/graphql", json={"query": "{ viewer { role } }"}, headers={"Origin": SHOP, **auth(tokens)})
    assert response.get_json() == {"data": {"viewer": {"role": "ADMIN"}}}
    assert response.headers["Access-Control-Allow-Origin"] == SHOP
    assert "Access-Control-Allow-Credentials" not in response.headers
    refused = cors.post("/graphql", json={"query": "{ viewer { role } }"}, headers={"Origin": SHOP})
    assert refused.status_code == 401
    assert refused.headers["Access-Control-Allow-Origin"] == SHOP  # the page can tell "sign in again"


def test_the_journey_map_exports_answer_listed_origins_too(cors, tokens):
    response = cors.get("/reports/journey-map/purchase.csv", headers={"Origin": LOCAL, **auth(tokens)})
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == LOCAL
    assert "Content-Disposition" in response.headers["Access-Control-Expose-Headers"]


def test_a_request_without_an_origin_gets_no_cors_headers(cors, tokens):
    assert cors_headers(cors.options("/graphql", headers=PREFLIGHT)) == {}
    assert cors_headers(cors.post("/graphql", json={"query": "{ __typename }"}, headers=auth(tokens))) == {}


def test_no_origin_is_allowed_by_default(client, tokens):
    assert client.application.config["CORS_ORIGINS"] == ()
    assert cors_headers(client.options("/graphql", headers={"Origin": SHOP, **PREFLIGHT})) == {}
    response = client.post("/graphql", json={"query": "{ __typename }"}, headers={"Origin": SHOP, **auth(tokens)})
    assert cors_headers(response) == {}


def test_origins_come_from_the_environment_as_a_list_or_json(make_app, monkeypatch):
    monkeypatch.setenv("CRM_CORS_ORIGINS", f"{SHOP},{LOCAL}/ , ")
    assert make_app().config["CORS_ORIGINS"] == (SHOP, LOCAL)
    monkeypatch.setenv("CRM_CORS_ORIGINS", f'["{SHOP}", "http://[::1]:8080"]')
    app = make_app()
    assert app.config["CORS_ORIGINS"] == (SHOP, "http://[::1]:8080")
    response = app.test_client().options("/graphql", headers={"Origin": "http://[::1]:8080", **PREFLIGHT})
    assert response.headers["Access-Control-Allow-Origin"] == "http://[::1]:8080"


@pytest.mark.parametrize("value", ["*", "https://*.example.com", "shop.example", "https://shop.example/app",
                                   "https://shop.example:port", "ftp://shop.example", "https://shop.(example)"])
def test_anything_but_an_exact_origin_is_refused(make_app, value):
    with pytest.raises(ConfigError) as refused:
        make_app(CORS_ORIGINS=f"{SHOP},{value}")
    assert str(refused.value).startswith(f"CRM_CORS_ORIGINS: {value!r} is not an exact origin like ")


# --- Security headers ------------------------------------------------------------------------------

API_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
    "Cache-Control": "no-store",
}


def assert_api_headers(response):
    assert {name: response.headers.get(name) for name in API_HEADERS} == API_HEADERS
    assert "Server" not in response.headers


@pytest.mark.parametrize("what, status", [
    ("query", 200), ("no token", 401), ("unknown token", 401), ("syntax error", 400), ("body too large", 413),
    ("wrong method", 405), ("unknown path", 404), ("health", 200), ("preflight", 200), ("csv export", 200),
    ("svg export", 200), ("export without token", 401), ("unknown export", 404), ("internal error", 500),
])
def test_every_response_carries_the_security_headers(cors, tokens, what, status):
    token = auth(tokens)
    response = {
        "query": lambda: cors.post("/graphql", json={"query": "{ viewer { role } }"}, headers=token),
        "no token": lambda: cors.post("/graphql", json={"query": "{ __typename }"}),
        "unknown token": lambda: cors.post("/graphql", json={"query": "{ __typename }"},
                                           headers={"Authorization": "Bearer nope"}),
        "syntax error": lambda: cors.post("/graphql", json={"query": "{"}, headers=token),
        "body too large": lambda: cors.post("/graphql", data="x" * (1024 * 1024 + 1), headers=token),
        "wrong method": lambda: cors.put("/graphql", headers=token),
        "unknown path": lambda: cors.get("/nowhere"),
        "health": lambda: cors.get("/healthz"),
        "preflight": lambda: cors.options("/graphql", headers={"Origin": SHOP, **PREFLIGHT}),
        "csv export": lambda: cors.get("/reports/journey-map/purchase.csv", headers=token),
        "svg export": lambda: cors.get("/reports/journey-map/purchase.svg", headers=token),
        "export without token": lambda: cors.get("/reports/journey-map/purchase.csv"),
        "unknown export": lambda: cors.get("/reports/journey-map/nothing.csv", headers=token),
        "internal error": lambda: cors.get("/boom"),
    }[what]()
    assert response.status_code == status, response.get_data(as_text=True)
    assert_api_headers(response)


def test_graphiql_may_be_framed_by_its_own_origin_only_and_runs_only_its_own_scripts(client):
    response = client.get("/graphql")
    assert response.status_code == 200
    assert response.headers["X-Frame-Options"] == "SAMEORIGIN"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert response.headers["Cache-Control"] == "no-store"
    policy = dict(part.split(" ", 1) for part in response.headers["Content-Security-Policy"].split("; "))
    nonce = re.fullmatch(r"'self' 'nonce-([\w-]{24})'", policy["script-src"]).group(1)
    assert policy == {
        "default-src": "'none'", "script-src": f"'self' 'nonce-{nonce}'", "style-src": f"'self' 'nonce-{nonce}'",
        "img-src": "'self' data:", "font-src": "'self' data:", "connect-src": "'self'",
        "frame-ancestors": "'self'", "base-uri": "'none'", "form-action": "'none'"}
    html = response.get_data(as_text=True)
    assert html.count(f'<script nonce="{nonce}">') == 1
    assert client.get("/graphql").headers["Content-Security-Policy"] != response.headers["Content-Security-Policy"]


# --- GraphiQL from the package ---------------------------------------------------------------------

def test_graphiql_loads_only_assets_of_the_package_with_their_integrity(client):
    html = client.get("/graphql").get_data(as_text=True)
    assert "http" not in html  # no other host: every URL on the page is a path on this server
    assert all(url.startswith(f"/graphiql/{graphiql.ASSETS_VERSION}/")
               for url in re.findall(r'(?:href|src)="([^"]*)"', html))
    urls = re.findall(r'(?:href|src)="([^"]+)" integrity="(sha384-[^"]+)"', html)
    assert [url for url, _ in urls] == [f"/graphiql/{graphiql.ASSETS_VERSION}/{name}" for name in (
        "graphiql.min.css", "crm-graphiql.css", "react.production.min.js", "react-dom.production.min.js",
        "graphiql.min.js")]
    for url, integrity in urls:
        asset = client.get(url)
        assert asset.status_code == 200
        assert asset.mimetype == ("text/css" if url.endswith(".css") else "text/javascript")
        assert asset.headers["Cache-Control"] == "public, max-age=31536000, immutable"
        assert asset.headers["X-Content-Type-Options"] == "nosniff"
        assert integrity == graphiql.integrity(url.rsplit("/", 1)[1])


def test_graphiql_asks_for_a_token_before_it_loads_the_schema(client):
    html = client.get("/graphql").get_data(as_text=True)
    assert '<input id="token" name="token" type="password"' in html
    assert "sessionStorage.setItem" in html
    assert 'headers: {Authorization: "Bearer " + token}' in html
    assert "defaultHeaders" not in html and "<paste" not in html


def test_graphiql_opens_on_a_query_every_role_may_run(client):
    html = client.get("/graphql").get_data(as_text=True)
    assert '"{\\n  viewer {\\n    role\\n  }\\n}\\n"' in html
    assert "defaultQuery: STARTER" in html


@pytest.mark.parametrize("path", ["/graphiql/other-version/graphiql.min.js", "/graphiql/{v}/LICENSE.react",
                                  "/graphiql/{v}/README.md", "/graphiql/{v}/..%2Fgraphiql.py"])
def test_only_the_listed_assets_are_served(client, path):
    response = client.get(path.format(v=graphiql.ASSETS_VERSION))
    assert response.status_code == 404
    assert response.headers["Cache-Control"] == "no-store"


def test_the_assets_and_their_licences_ship_in_the_package():
    shipped = {path.name for path in graphiql.ASSETS.iterdir()}
    assert set(graphiql.STYLES + graphiql.SCRIPTS) <= shipped
    assert {"LICENSE.graphiql", "LICENSE.react", "LICENSE.react-dom", "README.md"} <= shipped
    pyproject = (Path(__file__).parents[2] / "pyproject.toml").read_text()
    assert '"api/static/graphiql/*"' in pyproject


def test_graphiql_is_off_in_production_unless_asked_for(make_app):
    production = make_app(ENV="production", SECRET_KEY=KEY).test_client()
    response = production.get("/graphql")
    assert response.status_code == 404
    assert response.get_json() == {"errors": [{"message": graphiql.OFF_MESSAGE, "extensions": {"code": "NOT_FOUND"}}]}
    assert_api_headers(response)
    assert production.get(f"/graphiql/{graphiql.ASSETS_VERSION}/graphiql.min.js").status_code == 404
    asked = make_app(ENV="production", SECRET_KEY=KEY, GRAPHIQL=True).test_client()
    assert asked.get("/graphql").status_code == 200
    assert asked.get(f"/graphiql/{graphiql.ASSETS_VERSION}/graphiql.min.js").status_code == 200
    assert make_app(GRAPHIQL=False).test_client().get("/graphql").status_code == 404


def test_crm_graphiql_takes_true_or_false(make_app, monkeypatch):
    monkeypatch.setenv("CRM_GRAPHIQL", "true")
    assert make_app(ENV="production", SECRET_KEY=KEY).config["GRAPHIQL"] is True
    monkeypatch.setenv("CRM_GRAPHIQL", "yes")
    with pytest.raises(ConfigError, match="^CRM_GRAPHIQL must be true or false, not 'yes'.$"):
        make_app()


# --- CRM_SECRET_KEY --------------------------------------------------------------------------------

def test_production_refuses_the_development_secret_key(make_app, monkeypatch):
    monkeypatch.delenv("CRM_SECRET_KEY", raising=False)
    with pytest.raises(ConfigError) as refused:
        make_app(ENV="production")
    assert str(refused.value).startswith("CRM_SECRET_KEY is unset (the development default) or empty: production "
                                         "needs a random key of at least 32 characters")
    with pytest.raises(ConfigError, match="^CRM_SECRET_KEY is unset"):
        make_app(ENV="production", SECRET_KEY="")


def test_production_refuses_a_short_secret_key(make_app, monkeypatch):
    monkeypatch.setenv("CRM_SECRET_KEY", "s" * 31)
    with pytest.raises(ConfigError, match="^CRM_SECRET_KEY has 31 characters: production needs at least 32 random "
                                          "ones.$"):
        make_app(ENV="production")


def test_the_secret_key_becomes_flasks_as_typed(make_app, monkeypatch):
    digits = "1234567890" * 4  # JSON would read this as a number
    monkeypatch.setenv("CRM_SECRET_KEY", digits)
    app = make_app(ENV="production")
    assert app.secret_key == app.config["SECRET_KEY"] == digits


def test_development_starts_with_the_default_key(make_app, monkeypatch):
    monkeypatch.delenv("CRM_SECRET_KEY", raising=False)
    assert make_app().secret_key == "dev-insecure-change-me"


def test_the_command_line_says_why_it_refuses_to_start(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "CRM_ENV": "production", "CRM_SECRET_KEY": "short",
           "CRM_INSTANCE_PATH": str(tmp_path), "CRM_DATABASE_URL": f"sqlite:///{tmp_path}/crm.sqlite"}
    result = subprocess.run([CRM, "serve"], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == (
        "Error: CRM_SECRET_KEY has 5 characters: production needs at least 32 random ones.")
    assert "Traceback" not in result.stderr
