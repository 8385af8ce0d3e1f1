"""A real server (`crm serve`, tests/servers.py) and a real headless Chromium (Debian's `chromium`, driven by
playwright with no browser download of its own): GraphiQL works with no network, asks for a token once, then
loads the schema and runs a query; any request to another host fails the test. Also over real HTTP: the
server sends no version of itself and the security headers reach the wire.

Skipped only where no chromium binary exists; .ci/run installs it, so CI runs it."""
from __future__ import annotations

import http.client
import json
import shutil
import socket
from urllib.parse import urlsplit

import pytest

from tests.servers import CrmServer

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
QUERY = "{ viewer { role } }"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    served = CrmServer(tmp_path_factory.mktemp("served")).start()
    yield served
    served.stop()


def fetch(server, method: str, path: str, body: dict | None = None, headers: dict | None = None):
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        connection.request(method, path, body=json.dumps(body) if body is not None else None,
                           headers={"Content-Type": "application/json", **(headers or {})})
        response = connection.getresponse()
        response.read()
        return response
    finally:
        connection.close()


def test_the_served_api_names_no_server_and_sends_the_security_headers(server):
    token = server.token()
    for method, path, body, headers, status in [
        ("GET", "/healthz", None, None, 200),
        ("POST", "/graphql", {"query": QUERY}, {"Authorization": f"Bearer {token}"}, 200),
        ("POST", "/graphql", {"query": QUERY}, None, 401),
        ("GET", "/nowhere", None, None, 404),
        ("GET", "/graphql", None, None, 200),
    ]:
        response = fetch(server, method, path, body, headers)
        assert response.status == status, (method, path)
        assert response.getheader("Server") is None, (method, path)
        assert response.getheader("X-Content-Type-Options") == "nosniff"
        assert response.getheader("Referrer-Policy") == "no-referrer"
        assert response.getheader("X-Frame-Options") in ("DENY", "SAMEORIGIN")


def test_a_request_the_server_cannot_parse_gets_no_server_version_either(server):
    # More than 100 header lines: Python's http.server refuses the request itself, before the app sees it.
    flood = b"".join(b"X-Header-%d: y\r\n" % n for n in range(120))
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n" + flood + b"\r\n")
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    head = answer.decode("latin-1").split("\r\n\r\n", 1)[0].lower()
    assert head.startswith("http/1.1 431 ")
    assert "\r\nserver:" not in head


@pytest.mark.skipif(CHROMIUM is None, reason="no chromium binary on this machine (.ci/run installs Debian's chromium)")
def test_graphiql_runs_a_query_offline_in_chromium(server):
    from playwright.sync_api import sync_playwright

    token = server.token(label="graphiql")
    own = urlsplit(server.url).netloc
    foreign: list[str] = []  # every request to another host: the test fails on any
    api_calls: list[dict] = []
    problems: list[str] = []

    def route(request_route):
        if urlsplit(request_route.request.url).netloc == own:
            request_route.continue_()
        else:
            foreign.append(request_route.request.url)
            request_route.abort("internetdisconnected")

    def on_request(request):
        parts = urlsplit(request.url)
        if parts.scheme in ("http", "https", "ws", "wss") and parts.netloc != own:
            foreign.append(request.url)
        if parts.path == "/graphql" and request.method == "POST":
            api_calls.append({"authorization": request.headers.get("authorization"),
                              "body": request.post_data or ""})

    def on_response(response):
        if response.status >= 400:
            problems.append(f"HTTP {response.status} {response.url}")

    with sync_playwright() as playwright:
        # No route out besides this machine, for the browser as a whole: names resolve to nothing but 127.0.0.1.
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"])
        try:
            context = browser.new_context()
            context.route("**/*", route)
            context.add_init_script("window.__violations = [];document.addEventListener('securitypolicyviolation',"
                                    "e => window.__violations.push(e.violatedDirective + ' ' + e.blockedURI));")
            page = context.new_page()
            page.on("request", on_request)
            page.on("response", on_response)
            page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
            page.on("console", lambda message: problems.append(f"console {message.type}: {message.text}")
                    if message.type == "error" else None)

            page.goto(f"{server.url}/graphql")
            page.wait_for_selector("#token", state="visible")
            assert api_calls == []  # nothing asked of the API before there is a token
            page.fill("#token", token)
            with page.expect_response(lambda r: urlsplit(r.url).path == "/graphql"
                                      and r.request.method == "POST") as schema:
                page.click("#token-sign-in button[type=submit]")
            assert schema.value.status == 200  # the schema, with the token: no 401 on the way in
            assert "__schema" in schema.value.json()["data"]
            page.wait_for_selector(".graphiql-container", state="visible")
            page.wait_for_function("() => document.querySelector('.graphiql-query-editor .CodeMirror')")
            page.evaluate("query => document.querySelector('.graphiql-query-editor .CodeMirror')"
                          ".CodeMirror.setValue(query)", QUERY)
            page.click(".graphiql-execute-button")
            page.wait_for_function(
                "() => (document.querySelector('.result-window .CodeMirror')?.CodeMirror.getValue() || '')"
                ".includes('ADMIN')", timeout=15000)
            result = json.loads(page.evaluate(
                "() => document.querySelector('.result-window .CodeMirror').CodeMirror.getValue()"))
            assert result == {"data": {"viewer": {"role": "ADMIN"}}}

            # A dialog adds <style> elements: the page's nonce admits them (no CSP violation below).
            page.click("[aria-label='Open settings dialog']")
            page.wait_for_selector("[role=dialog]", state="visible")
            page.keyboard.press("Escape")

            violations = page.evaluate("() => window.__violations")
            assert page.evaluate("() => sessionStorage.getItem('crm.graphiql.token')") == token
            assert "Bearer" not in page.evaluate("() => JSON.stringify(localStorage)")  # not kept beyond the tab
            page.reload()  # asked once: the tab keeps the token and opens GraphiQL straight away
            page.wait_for_selector(".graphiql-container", state="visible")
            assert page.is_hidden("#sign-in")
            violations += page.evaluate("() => window.__violations")
        finally:
            browser.close()

    assert foreign == []
    assert violations == []
    assert problems == []
    assert api_calls, "GraphiQL sent nothing to the API"
    assert {call["authorization"] for call in api_calls} == {f"Bearer {token}"}
    assert "IntrospectionQuery" in api_calls[0]["body"]  # the schema, asked for first, with the token
    assert any(json.loads(call["body"])["query"] == QUERY for call in api_calls)


STAFF_EMAIL, STAFF_PASSWORD = "grace@example.com", "a long staff passphrase"


@pytest.mark.skipif(CHROMIUM is None, reason="no chromium binary on this machine (.ci/run installs Debian's chromium)")
def test_staff_sign_in_to_graphiql_with_email_and_password(server):
    from playwright.sync_api import sync_playwright

    server.command("staff", "create", "--name", "Grace Admin", "--email", STAFF_EMAIL, "--role", "ADMIN")
    server.command("staff", "set-password", STAFF_EMAIL, stdin=STAFF_PASSWORD + "\n")
    own = urlsplit(server.url).netloc
    foreign: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"])
        try:
            context = browser.new_context()
            context.route("**/*", lambda r: r.continue_() if urlsplit(r.request.url).netloc == own
                          else (foreign.append(r.request.url), r.abort("internetdisconnected")))
            page = context.new_page()
            page.goto(f"{server.url}/graphql")
            page.wait_for_selector("#email", state="visible")
            page.fill("#email", STAFF_EMAIL)
            page.fill("#password", "not the password")
            page.click("#staff-sign-in button[type=submit]")
            page.wait_for_function("() => document.getElementById('sign-in-error').textContent !== ''")
            assert page.text_content("#sign-in-error") == "The email or password is not correct."
            assert page.evaluate("() => sessionStorage.getItem('crm.graphiql.token')") is None

            page.fill("#password", STAFF_PASSWORD)
            with page.expect_response(lambda r: urlsplit(r.url).path == "/graphql"
                                      and "IntrospectionQuery" in (r.request.post_data or "")) as schema:
                page.click("#staff-sign-in button[type=submit]")
            assert schema.value.status == 200
            token = page.evaluate("() => sessionStorage.getItem('crm.graphiql.token')")
            assert schema.value.request.headers["authorization"] == f"Bearer {token}"
            page.wait_for_selector(".graphiql-container", state="visible")
            assert page.input_value("#password") == ""
        finally:
            browser.close()
    assert foreign == []
    viewer = fetch_json(server, token, "{ viewer { role staffUser { email } } }")
    assert viewer == {"data": {"viewer": {"role": "ADMIN", "staffUser": {"email": STAFF_EMAIL}}}}


def fetch_json(server, token: str, query: str) -> dict:
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        connection.request("POST", "/graphql", body=json.dumps({"query": query}),
                           headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"})
        return json.loads(connection.getresponse().read())
    finally:
        connection.close()
