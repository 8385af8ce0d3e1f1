"""HTTP transport: POST /graphql, GraphiQL on GET /graphql, GET /healthz."""
from __future__ import annotations

import json
import logging
import re

from flask import Blueprint, current_app, jsonify, request
from graphql import GraphQLError, execute, parse, validate
from sqlalchemy import text
from werkzeug.exceptions import RequestEntityTooLarge

from crm.api.context import RequestContext
from crm.api.validation import strip_suggestion, validation_rules
from crm.auth.services import Viewer, authenticate
from crm.db import get_session
from crm.errors import DomainError
from crm.queue import get_redis

log = logging.getLogger(__name__)
bp = Blueprint("graphql", __name__)


UNAUTHENTICATED_MESSAGE = "Authentication required: send `Authorization: Bearer <token>` with a valid token."


def error_body(message: str, code: str, status: int):
    return jsonify({"errors": [{"message": message, "extensions": {"code": code}}]}), status


def bearer_viewer() -> Viewer | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return authenticate(get_session(), token.strip())


def format_error(error: GraphQLError, production: bool) -> dict:
    formatted = error.formatted
    original = error.original_error
    if isinstance(original, DomainError):
        formatted["extensions"] = {**(formatted.get("extensions") or {}), "code": original.code}
        if original.field:
            formatted["extensions"]["field"] = original.field
    elif original is not None and not isinstance(original, GraphQLError):
        log.exception("resolver failed", exc_info=original)
        formatted["message"] = "Internal error." if production else f"Internal error: {original}"
        formatted["extensions"] = {"code": "INTERNAL"}
    if production:
        formatted["message"] = strip_suggestion(formatted["message"])
    return formatted


def run_graphql(body: dict, viewer: Viewer):
    """Parse, validate and execute one GraphQL request; returns (response dict, HTTP status)."""
    app = current_app
    config = app.config
    schema = app.extensions["crm.schema"].graphql_schema
    query = body.get("query")
    variables = body.get("variables") or {}
    if not isinstance(query, str) or not query.strip():
        return {"errors": [{"message": "The body needs a `query` string.", "extensions": {"code": "BAD_REQUEST"}}]}, 400
    if not isinstance(variables, dict):
        return {"errors": [{"message": "`variables` must be an object.", "extensions": {"code": "BAD_REQUEST"}}]}, 400
    production = config["PRODUCTION"]
    try:
        document = parse(query, max_tokens=int(config["GRAPHQL_MAX_TOKENS"]))
    except GraphQLError as error:
        # graphql-core says "Syntax Error: Document contains more than N tokens. Parsing aborted."
        if re.search(r"contains more than \d+ tokens", error.message):
            error.message = f"Token limit: the document has more than {config['GRAPHQL_MAX_TOKENS']} tokens."
            error.extensions = {"code": "TOKEN_LIMIT"}
        return {"errors": [format_error(error, production)]}, 400
    errors = validate(schema, document, validation_rules(config))
    if errors:
        return {"errors": [format_error(e, production) for e in errors]}, 400
    context = RequestContext(session=get_session(), viewer=viewer, config=config)
    result = execute(schema, document, context_value=context, variable_values=variables,
                     operation_name=body.get("operationName"))
    response: dict = {"data": result.data}
    if result.errors:
        response["errors"] = [format_error(e, production) for e in result.errors]
    return response, 200


def _storable(value) -> bool:
    """False for a NUL or a lone surrogate anywhere: PostgreSQL cannot store either, and the error would
    surface as an internal one deep in a resolver instead of a clear refusal of the request."""
    if isinstance(value, str):
        if "\x00" in value:
            return False
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return False
        return True
    if isinstance(value, dict):
        return all(_storable(k) and _storable(v) for k, v in value.items())
    if isinstance(value, list):
        return all(_storable(v) for v in value)
    return True


@bp.post("/graphql")
def graphql_post():
    viewer = bearer_viewer()
    if viewer is None:
        return error_body(UNAUTHENTICATED_MESSAGE, "UNAUTHENTICATED", 401)
    body = request.get_json(force=True, silent=True)
    if isinstance(body, list):
        return error_body("Batched requests are not supported: send one operation per request.", "BAD_REQUEST", 400)
    if not isinstance(body, dict):
        return error_body("The body must be a JSON object {query, variables, operationName}.", "BAD_REQUEST", 400)
    if not _storable(body):
        return error_body("Text in the request must be valid Unicode without NUL characters.", "BAD_REQUEST", 400)
    response, status = run_graphql(body, viewer)
    return current_app.response_class(json.dumps(response, default=str), status=status, mimetype="application/json")


@bp.get("/graphql")
def graphiql():
    return current_app.response_class(GRAPHIQL_HTML, mimetype="text/html")


@bp.get("/healthz")
def healthz():
    checks = {}
    try:
        get_session().execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:  # any failure means "down"; the message says why
        checks["database"] = f"down: {exc.__class__.__name__}: {str(exc).splitlines()[0]}"
    try:
        get_redis().ping()
        checks["redis"] = "ok (embedded)" if current_app.extensions["crm.redis_embedded"] else "ok"
    except Exception as exc:
        checks["redis"] = f"down: {exc.__class__.__name__}: {exc}"
    if current_app.config["PRODUCTION"]:
        checks = {name: "ok" if value.startswith("ok") else "down" for name, value in checks.items()}
    healthy = all(v.startswith("ok") for v in checks.values())
    return jsonify({"status": "ok" if healthy else "down", "checks": checks}), 200 if healthy else 503


@bp.app_errorhandler(RequestEntityTooLarge)
def too_large(_exc):
    limit = current_app.config["MAX_CONTENT_LENGTH"]
    return error_body(f"Request body limit: at most {limit} bytes.", "BODY_TOO_LARGE", 413)


@bp.app_errorhandler(401)
def unauthenticated(_exc):
    return error_body("Authentication required.", "UNAUTHENTICATED", 401)


GRAPHIQL_HTML = """<!doctype html>
<html><head><meta charset="utf-8"><title>CRM GraphiQL</title>
<link rel="stylesheet" href="https://unpkg.com/graphiql@3/graphiql.min.css"></head>
<body style="margin:0"><div id="graphiql" style="height:100vh"></div>
<script crossorigin src="https://unpkg.com/react@18/umd/react.production.min.js"></script>
<script crossorigin src="https://unpkg.com/react-dom@18/umd/react-dom.production.min.js"></script>
<script crossorigin src="https://unpkg.com/graphiql@3/graphiql.min.js"></script>
<script>
const fetcher = GraphiQL.createFetcher({url: window.location.pathname});
ReactDOM.createRoot(document.getElementById('graphiql')).render(
  React.createElement(GraphiQL, {fetcher, defaultHeaders: '{"Authorization": "Bearer <paste a token from crm tokens create>"}'}));
</script></body></html>"""
