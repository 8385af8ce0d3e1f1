"""What a POST /graphql without a valid token may run: a document whose operation selects staffSignIn and
nothing else (``__typename`` aside). Anything else keeps its 401 before it is validated, so a client without a
token learns nothing about the schema; a sign-in document is then validated and run as any other, with the
same limits, by the anonymous viewer, which holds staff.sign_in only (crm.auth.permissions.ANONYMOUS).
"""
from __future__ import annotations

from flask import current_app, request
from graphql import FieldNode, GraphQLError, OperationDefinitionNode, OperationType, parse
from werkzeug.exceptions import RequestEntityTooLarge

from crm.api.body import BodyRefused, parse_body
from crm.api.trusted_documents import DocumentRefused, request_query
from crm.auth.services import Viewer
from crm.auth.sign_in import ANONYMOUS_VIEWER

TOKENLESS_FIELDS = frozenset({"staffSignIn"})


def signs_in_only(query, operation_name, max_tokens: int) -> bool:
    """Whether the operation a request asks to run is a mutation selecting only TOKENLESS_FIELDS (at least one)."""
    if not isinstance(query, str) or not (operation_name is None or isinstance(operation_name, str)):
        return False
    try:
        document = parse(query, max_tokens=max_tokens)
    except (GraphQLError, RecursionError):
        return False
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if operation_name is not None:
        operations = [o for o in operations if o.name is not None and o.name.value == operation_name]
    if len(operations) != 1 or operations[0].operation is not OperationType.MUTATION:
        return False
    # Fields only: a fragment spread at the root could select anything.
    selections = operations[0].selection_set.selections
    names = {s.name.value if isinstance(s, FieldNode) else None for s in selections}
    return bool(names & TOKENLESS_FIELDS) and names <= TOKENLESS_FIELDS | {"__typename"}


def tokenless_viewer() -> Viewer | None:
    """The anonymous viewer when this request's body asks only to sign in, else None (the request's 401)."""
    try:
        # Cached: the view reads the body again.
        body = parse_body(request.get_data(cache=True))
        # The text of a trusted document sent by its hash, as run_graphql will run it.
        query = request_query(body, current_app.extensions["crm.trusted_documents"])
    except (BodyRefused, DocumentRefused, RequestEntityTooLarge):
        return None
    if not signs_in_only(query, body.get("operationName"), int(current_app.config["GRAPHQL_MAX_TOKENS"])):
        return None
    return ANONYMOUS_VIEWER
