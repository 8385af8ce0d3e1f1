"""GraphiQL on GET /graphql, from pinned assets shipped in the package (static/graphiql/README.md).

The page makes no request to any other host, so it works offline and behind a locked-down proxy. It asks for a
token once (kept in the tab's sessionStorage, sent as ``Authorization: Bearer``) and only then mounts GraphiQL,
whose first request is the schema: no introspection goes out with a placeholder header to earn a 401.

On in development, off in production unless CRM_GRAPHIQL=true (crm/config.py): a production server with
introspection off would serve an explorer with no schema, and an open page advertises the endpoint.
"""
from __future__ import annotations

import base64
import hashlib
import secrets
from functools import cache
from html import escape
from pathlib import Path

from flask import Blueprint, current_app, request, send_from_directory

from crm.api.view import error_body

bp = Blueprint("graphiql", __name__)

ASSETS = Path(__file__).with_name("static") / "graphiql"
# Part of every asset URL, which browsers cache as immutable: change it whenever the files change.
ASSETS_VERSION = "graphiql-3.9.0-react-18.3.1-1"
STYLES = ("graphiql.min.css", "crm-graphiql.css")
SCRIPTS = ("react.production.min.js", "react-dom.production.min.js", "graphiql.min.js")
MIMETYPES = {".js": "text/javascript", ".css": "text/css"}  # exact: nosniff makes browsers check them
YEAR = 365 * 24 * 3600
OFF_MESSAGE = "GraphiQL is off in production; set CRM_GRAPHIQL=true to serve it. The API is POST /graphql."


@cache
def integrity(name: str) -> str:
    """The Subresource Integrity value of a shipped asset, from the file itself."""
    digest = hashlib.sha384((ASSETS / name).read_bytes()).digest()
    return "sha384-" + base64.b64encode(digest).decode()


def content_security_policy(nonce: str) -> str:
    # The nonce admits the page's own script and the <style> elements GraphiQL's dialogs add (they read it
    # from window.__webpack_nonce__); images and fonts come inlined as data: URLs in graphiql.min.css.
    return "; ".join((
        "default-src 'none'", f"script-src 'self' 'nonce-{nonce}'", f"style-src 'self' 'nonce-{nonce}'",
        "img-src 'self' data:", "font-src 'self' data:", "connect-src 'self'",
        "frame-ancestors 'self'", "base-uri 'none'", "form-action 'none'"))


@bp.get("/graphql")
def graphiql():
    if not current_app.config["GRAPHIQL"]:
        return error_body(OFF_MESSAGE, "NOT_FOUND", 404)
    nonce = secrets.token_urlsafe(18)
    response = current_app.response_class(page(nonce), mimetype="text/html")
    response.headers["Content-Security-Policy"] = content_security_policy(nonce)
    response.headers["X-Frame-Options"] = "SAMEORIGIN"
    return response


@bp.get(f"/graphiql/{ASSETS_VERSION}/<name>")
def asset(name: str):
    if not current_app.config["GRAPHIQL"] or name not in STYLES + SCRIPTS:
        return error_body(f"No GraphiQL asset {name!r} here.", "NOT_FOUND", 404)
    response = send_from_directory(ASSETS, name, mimetype=MIMETYPES[Path(name).suffix], max_age=YEAR)
    response.cache_control.public = True
    response.cache_control.immutable = True
    return response


def page(nonce: str) -> str:
    base = f"{request.script_root}/graphiql/{ASSETS_VERSION}"
    styles = "\n".join(f'<link rel="stylesheet" href="{base}/{name}" integrity="{integrity(name)}">'
                       for name in STYLES)
    scripts = "\n".join(f'<script src="{base}/{name}" integrity="{integrity(name)}"></script>' for name in SCRIPTS)
    return GRAPHIQL_HTML.format(styles=styles, scripts=scripts, nonce=escape(nonce),
                                url=f"{request.script_root}/graphql")


GRAPHIQL_HTML = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>CRM GraphiQL</title>
{styles}
</head>
<body>
<div id="sign-in" hidden>
<h1>CRM GraphiQL</h1>
<p id="sign-in-error" role="alert"></p>
<form id="staff-sign-in">
<h2>Sign in as staff</h2>
<label for="email">Email</label>
<input id="email" name="email" type="email" autocomplete="username" required>
<label for="password">Password</label>
<input id="password" name="password" type="password" autocomplete="current-password" required>
<button type="submit">Sign in</button>
</form>
<form id="token-sign-in">
<h2>Or paste an API token</h2>
<p><code>crm tokens create --role ADMIN --staff EMAIL</code> prints one. A token, like a session, stays in this
tab only and goes to the API as <code>Authorization: Bearer &hellip;</code>.</p>
<label for="token">Token</label>
<input id="token" name="token" type="password" autocomplete="off" required>
<button type="submit">Open GraphiQL</button>
</form>
</div>
<div id="graphiql"></div>
{scripts}
<script nonce="{nonce}">
window.__webpack_nonce__ = "{nonce}";
(function () {{
  var KEY = "crm.graphiql.token";
  // A first query that answers for every role (GraphiQL's own welcome text explains nothing of this API).
  var STARTER = "# Who this token stands for. Ctrl-Enter runs it; the Docs panel lists every field.\\n" +
    "{{\\n  viewer {{\\n    role\\n  }}\\n}}\\n";
  var SIGN_IN = "mutation StaffSignIn($email: String!, $password: String!) {{ staffSignIn(email: $email, " +
    "password: $password) {{ token errors {{ code message }} }} }}";
  var form = document.getElementById("sign-in"), input = document.getElementById("token");
  var email = document.getElementById("email"), password = document.getElementById("password");
  var problem = document.getElementById("sign-in-error");
  var root = null;
  function askForToken(message) {{
    sessionStorage.removeItem(KEY);
    if (root) {{ root.unmount(); root = null; }}
    problem.textContent = message;
    form.hidden = false;
    email.focus();
  }}
  function signedIn(token) {{
    sessionStorage.setItem(KEY, token);
    open(token);
  }}
  function open(token) {{
    form.hidden = true;
    var fetcher = GraphiQL.createFetcher({{
      url: "{url}",
      headers: {{Authorization: "Bearer " + token}},
      fetch: function (url, init) {{
        return window.fetch(url, init).then(function (response) {{
          if (response.status === 401) {{
            response.clone().json().then(function (body) {{
              var code = body.errors && body.errors[0] && body.errors[0].extensions &&
                body.errors[0].extensions.code;
              askForToken(code === "TOKEN_EXPIRED" ? "Your session has expired: sign in again."
                                                   : "The API refused that token (401): sign in again.");
            }}, function () {{ askForToken("The API refused that token (401): sign in again."); }});
          }}
          return response;
        }});
      }}
    }});
    root = ReactDOM.createRoot(document.getElementById("graphiql"));
    root.render(React.createElement(GraphiQL, {{fetcher: fetcher, shouldPersistHeaders: false,
                                              defaultQuery: STARTER}}));
  }}
  document.getElementById("token-sign-in").addEventListener("submit", function (event) {{
    event.preventDefault();
    var token = input.value.trim();
    if (!token) return;
    input.value = "";
    signedIn(token);
  }});
  document.getElementById("staff-sign-in").addEventListener("submit", function (event) {{
    event.preventDefault();
    problem.textContent = "";
    window.fetch("{url}", {{method: "POST", headers: {{"Content-Type": "application/json"}},
      body: JSON.stringify({{query: SIGN_IN, variables: {{email: email.value, password: password.value}}}})}})
      .then(function (response) {{ return response.json(); }})
      .then(function (body) {{
        var answer = body.data && body.data.staffSignIn;
        if (answer && answer.token) {{ password.value = ""; signedIn(answer.token); return; }}
        var errors = (answer && answer.errors) || body.errors || [];
        problem.textContent = errors.length ? errors[0].message : "Signing in failed.";
      }}, function () {{ problem.textContent = "The API could not be reached."; }});
  }});
  var saved = sessionStorage.getItem(KEY);
  if (saved) open(saved); else askForToken("");
}})();
</script>
</body></html>"""
