"""HTTP transport: POST /graphql, GET /healthz (GraphiQL on GET /graphql: crm/api/graphiql.py)."""
from __future__ import annotations

import json
import logging
import re

from flask import Blueprint, current_app, jsonify, request
from graphql import GraphQLError, execute, parse, validate
from sqlalchemy import text
from werkzeug.exceptions import HTTPException, InternalServerError, RequestEntityTooLarge

from crm.api.arguments import refuse_invalid_arguments
from crm.api.body import BodyRefused, parse_body
from crm.api.context import RequestContext
from crm.api.tokenless import tokenless_viewer
from crm.api.trusted_documents import DocumentRefused, check_trusted, request_query
from crm.api.trusted_documents import init_app as init_trusted_documents
from crm.api.validation import cost_errors, limit_errors, strip_suggestion, validation_rules
from crm.auth.services import TokenRefused, Viewer, authenticate
from crm.sessions import get_session
from crm.errors import DomainError
from crm.queue import get_redis

log = logging.getLogger(__name__)
bp = Blueprint("graphql", __name__)
# The manifest is loaded (and the mode checked) once, as the app registers the view: a missing one stops the start.
bp.record_once(lambda state: init_trusted_documents(state.app))


UNAUTHENTICATED_MESSAGE = "Authentication required: send `Authorization: Bearer <token>` with a valid token."


def error_body(message: str, code: str, status: int):
    return jsonify({"errors": [{"message": message, "extensions": {"code": code}}]}), status


def bearer_viewer() -> Viewer | None:
    """The viewer of the request's bearer token, or None; why a token was refused is kept for the 401
    (``unauthenticated_response``)."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    try:
        return authenticate(get_session(), token.strip())
    except TokenRefused as refused:
        request.environ["crm.token_refused"] = refused
        return None


def unauthenticated_response():
    """The 401 of a request without a valid token: TOKEN_EXPIRED for an expired one, else UNAUTHENTICATED, with
    the RFC 6750 challenge (``error="invalid_token"`` when a token was sent and refused)."""
    refused = request.environ.get("crm.token_refused")
    if refused is None:
        body, status = error_body(UNAUTHENTICATED_MESSAGE, "UNAUTHENTICATED", 401)
        challenge = "Bearer"
    else:
        body, status = error_body(refused.message, refused.code, 401)
        challenge = 'Bearer error="invalid_token"'
    body.headers["WWW-Authenticate"] = challenge
    return body, status


def request_viewer() -> Viewer | None:
    """The viewer of this request's bearer token, authenticated once per request (the rate limiter asks too),
    or None without a valid token. Kept in the request's environ, not on ``g``: an app context, and so ``g``,
    can outlive one request (a test client inside ``app.app_context()``)."""
    environ = request.environ
    if "crm.viewer" not in environ:
        environ["crm.viewer"] = bearer_viewer()
    return environ["crm.viewer"]


def format_error(error: GraphQLError, production: bool) -> dict:
    formatted = error.formatted
    original = error.original_error
    if isinstance(original, DomainError):
        formatted["extensions"] = {**(formatted.get("extensions") or {}), "code": original.code}
        if original.field:
            formatted["extensions"]["field"] = original.field
    elif original is not None and not isinstance(original, GraphQLError):
        # The exception's text can hold SQL and its parameters (customer data): the log gets all of it,
        # the client only the class, in development, to tell failures apart.
        log.error("resolver failed at %s", ".".join(map(str, error.path or ())), exc_info=original)
        formatted["message"] = "Internal error."
        formatted["extensions"] = {"code": "INTERNAL"}
        if not production:
            formatted["extensions"]["exception"] = type(original).__name__
    if production:
        formatted["message"] = strip_suggestion(formatted["message"])
    return formatted


def checked_document(schema, query: str, config, role=None) -> tuple:
    """(document, []) for a query within every limit and valid against ``schema``; (None, errors) otherwise."""
    try:
        document = parse(query, max_tokens=int(config["GRAPHQL_MAX_TOKENS"]))
    except GraphQLError as error:
        # graphql-core says "Syntax Error: Document contains more than N tokens. Parsing aborted."
        if re.search(r"contains more than \d+ tokens", error.message):
            error.message = f"Token limit: the document has more than {config['GRAPHQL_MAX_TOKENS']} tokens."
            error.extensions = {"code": "TOKEN_LIMIT"}
        elif "nested too deeply" in error.message:
            error.message = "Depth limit: the document nests too deeply to be parsed."
            error.extensions = {"code": "DEPTH_LIMIT"}
        return None, [error]
    errors = limit_errors(document, config) or validate(schema, document, validation_rules(config, role))
    for error in errors:  # graphql-core's own guards, which stop validating
        if error.message == "Validation aborted.":  # its rules would recurse too deeply
            error.message = "Validation limit: the document nests selections and fragments too deeply to validate."
            error.extensions = {"code": "VALIDATION_LIMIT"}
        elif error.message.startswith("Too many validation errors"):  # more than 100
            error.extensions = {"code": "VALIDATION_LIMIT"}
    return (None, errors) if errors else (document, [])


def run_graphql(body: dict, viewer: Viewer):
    """Parse, validate and execute one GraphQL request; returns (response dict, HTTP status)."""
    app = current_app
    config = app.config
    schema = app.extensions["crm.schema"].graphql_schema
    manifest = app.extensions["crm.trusted_documents"]
    try:
        query = request_query(body, manifest)
    except DocumentRefused as refused:
        return {"errors": [{"message": refused.message, "extensions": {"code": refused.code}}]}, refused.status
    variables = body.get("variables") or {}
    if not isinstance(query, str) or not query.strip():
        return {"errors": [{"message": "The body needs a `query` string.", "extensions": {"code": "BAD_REQUEST"}}]}, 400
    if not isinstance(variables, dict):
        return {"errors": [{"message": "`variables` must be an object.", "extensions": {"code": "BAD_REQUEST"}}]}, 400
    operation_name = body.get("operationName")
    if operation_name is not None and not isinstance(operation_name, str):
        return {"errors": [{"message": "`operationName` must be a string.",
                            "extensions": {"code": "BAD_REQUEST"}}]}, 400
    try:  # before validating: a token held to trusted documents learns nothing from another one's errors
        check_trusted(query, viewer.role, config, manifest)
    except DocumentRefused as refused:
        return {"errors": [{"message": refused.message, "extensions": {"code": refused.code}}]}, refused.status
    production = config["PRODUCTION"]
    document, errors = checked_document(schema, query, config, viewer.role)
    if errors:
        return {"errors": [format_error(e, production) for e in errors]}, 400
    cost, errors = cost_errors(schema, document, variables, operation_name, config)
    if errors:
        return {"errors": [format_error(e, production) for e in errors]}, 400
    context = RequestContext(session=get_session(), viewer=viewer, config=config)
    result = execute(schema, document, context_value=context, variable_values=variables,
                     operation_name=operation_name, middleware=[refuse_invalid_arguments])
    response: dict = {"data": result.data}
    if result.errors:
        response["errors"] = [format_error(e, production) for e in result.errors]
    if config["GRAPHQL_REPORT_COST"] and cost is not None:
        response["extensions"] = {"cost": cost, "costLimit": int(config["GRAPHQL_MAX_COST"])}
    return response, 200


@bp.post("/graphql")
def graphql_post():
    # Without a token, signing in is all a request may do (crm/api/tokenless.py).
    viewer = request_viewer() or tokenless_viewer()
    if viewer is None:
        return unauthenticated_response()
    try:
        # Whatever the Content-Type: clients that send JSON as text/plain are served too.
        body = parse_body(request.get_data(cache=False))
    except BodyRefused as refused:
        return error_body(refused.message, "BAD_REQUEST", 400)
    response, status = run_graphql(body, viewer)
    return current_app.response_class(json.dumps(response, default=str), status=status, mimetype="application/json")


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


@bp.app_errorhandler(HTTPException)
def http_error(exc: HTTPException):
    """Every HTTP error as JSON (a wrong method, an unknown path), never werkzeug's HTML page."""
    if exc.code is None or exc.code < 400:  # routing redirects are HTTPExceptions too
        return exc
    return error_body(exc.description or exc.name, re.sub(r"\W+", "_", exc.name).upper(), exc.code)


@bp.app_errorhandler(InternalServerError)
def internal_error(exc: InternalServerError):
    """Anything unforeseen outside a resolver: Flask has logged it; the client learns nothing more."""
    return error_body("Internal error.", "INTERNAL", 500)
