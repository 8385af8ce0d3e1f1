"""What browsers get from every response: CORS for the listed origins only, security headers, no server version.

CORS is flask-cors, for exact origins (CRM_CORS_ORIGINS, checked in crm/config.py) and without credentials: the
API authenticates with bearer tokens, never cookies, so a page on another origin can call it only with a token
it holds. A preflight from a listed origin learns the methods, ``Authorization, Content-Type`` and a max-age;
any other origin gets no ``Access-Control-*`` header at all.
"""
from __future__ import annotations

import re

from flask_cors import CORS
from werkzeug.serving import WSGIRequestHandler

# Seconds a browser may reuse a preflight answer (Chromium caps it at 7200): one preflight per page and ten minutes.
CORS_MAX_AGE = 600
# The bearer-authenticated routes: the API and the journey map exports.
CORS_RESOURCES = (r"/graphql", r"/reports/.*")
CORS_OPTIONS = {
    "methods": ["GET", "POST", "OPTIONS"],
    "allow_headers": ["Authorization", "Content-Type"],
    # A CSV export's file name, the challenge of a refused token and the rate limit, readable by the calling page.
    "expose_headers": ["Content-Disposition", "WWW-Authenticate", "RateLimit-Limit", "RateLimit-Remaining",
                       "RateLimit-Reset", "Retry-After"],
    "max_age": CORS_MAX_AGE,
    "supports_credentials": False,
    "always_send": False,  # flask-cors would otherwise list every allowed origin to requests without an Origin
    "vary_header": True,
}

# Pages with their own policy (GraphiQL) set these themselves; every other response is data, never a document
# to render, frame or run scripts in.
DEFAULT_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
    # Answers hold customer data: no browser or proxy cache keeps them. Assets that may be cached say so.
    "Cache-Control": "no-store",
}


def init_app(app) -> None:
    origins = app.config["CORS_ORIGINS"]
    if origins:
        # Compiled and anchored: flask-cors reads a string with "[" (an IPv6 host) as a regular expression and
        # matches patterns at the start only, so "https://a.example" would admit "https://a.example.evil".
        exact = [re.compile(re.escape(origin) + r"\Z", re.IGNORECASE) for origin in origins]
        CORS(app, resources={path: {"origins": exact} for path in CORS_RESOURCES}, **CORS_OPTIONS)
    app.after_request(security_headers)


def security_headers(response):
    for name, value in DEFAULT_HEADERS.items():
        response.headers.setdefault(name, value)
    return response


class RequestHandler(WSGIRequestHandler):
    """werkzeug's request handler (``crm serve``, ``crm demo``) without its ``Server: Werkzeug/x Python/y``: a
    version tells a scanner which known flaws to try. gunicorn sends no version of its own."""

    def send_header(self, keyword: str, value: str) -> None:
        if keyword.lower() != "server":
            super().send_header(keyword, value)
