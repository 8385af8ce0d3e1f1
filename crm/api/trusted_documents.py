"""Trusted documents: the manifest of sha256 -> document text, persisted-query requests, and who must use them.

A front end's documents are known when it is built (graphql/operations/ for the portal here); the manifest
lists them by the sha256 of their exact text. A request may name one by hash, Apollo's shape:
``{"extensions": {"persistedQuery": {"version": 1, "sha256Hash": "..."}}}``, with or without ``query``. With
``CRM_TRUSTED_DOCUMENTS=portal`` a PORTAL token runs only manifest documents (by hash, or as text the manifest
holds), so a leaked portal token cannot run arbitrary queries; ``all`` asks it of every token.

One document per file: each operation file holds one operation and the fragments it uses, and its whole text
is what a client sends (a bundler's raw import of the file). Text sent instead of a hash is trusted when it is
the same document written differently (whitespace, comments, definitions in another order, as code generators
print it): it is compared by its printed form.
"""
from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path

from graphql import GraphQLError, OperationDefinitionNode, parse, print_ast

from crm.config import ConfigError
from crm.enums import Role

MODES = ("off", "portal", "all")
OPERATIONS = Path(__file__).resolve().parents[2] / "graphql" / "operations"
_HASH = re.compile(r"[0-9a-f]{64}")


def sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def canonical(document) -> str:
    """The document as graphql-core prints it, definitions sorted: one text for every way of writing it."""
    return "\n\n".join(sorted(print_ast(definition) for definition in document.definitions))


@dataclass(frozen=True)
class Manifest:
    documents: dict[str, str]  # sha256 of the exact text -> the text
    printed: frozenset[str]  # sha256 of each document's canonical form

    @classmethod
    def of(cls, documents: dict[str, str]) -> Manifest:
        return cls(dict(documents), frozenset(sha256_hex(canonical(parse(text))) for text in documents.values()))

    def trusts(self, query: str, max_tokens: int) -> bool:
        """Whether ``query`` is one of the manifest's documents, as written or written differently."""
        if sha256_hex(query) in self.documents:
            return True
        try:
            document = parse(query, max_tokens=max_tokens)
        except (GraphQLError, RecursionError):
            return False
        return sha256_hex(canonical(document)) in self.printed


# --- building the manifest (`crm operations manifest`) ---

def build_manifest(directory: Path) -> dict[str, str]:
    """sha256 -> text of every ``*.graphql`` file in ``directory``; ValueError naming a file that does not
    parse or holds other than one operation (a client sends one operation per request)."""
    documents = {}
    for path in sorted(directory.glob("*.graphql")):
        text = path.read_text(encoding="utf-8")
        try:
            document = parse(text)
        except GraphQLError as error:
            raise ValueError(f"{path}: {error.message}") from None
        operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
        if len(operations) != 1:
            raise ValueError(f"{path} holds {len(operations)} operations: one operation per file "
                             "(with the fragments it uses).")
        documents[sha256_hex(text)] = text
    return documents


def manifest_text(documents: dict[str, str]) -> str:
    return json.dumps(documents, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


# --- the server side ---

def load_manifest(path: Path) -> Manifest:
    """The manifest at ``path``; ConfigError when it is not a JSON object of sha256 -> its document's text."""
    try:
        documents = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"CRM_TRUSTED_DOCUMENTS_MANIFEST: {path} cannot be read as JSON ({exc}).") from None
    if not isinstance(documents, dict) or not all(isinstance(t, str) for t in documents.values()):
        raise ConfigError(f"CRM_TRUSTED_DOCUMENTS_MANIFEST: {path} must be a JSON object of sha256 -> document "
                          "text, as `crm operations manifest` writes it.")
    for key, text in documents.items():
        if key != sha256_hex(text):
            raise ConfigError(f"CRM_TRUSTED_DOCUMENTS_MANIFEST: in {path}, {key!r} is not the sha256 of its "
                              "document's text; regenerate the file with `crm operations manifest`.")
    try:
        return Manifest.of(documents)
    except GraphQLError as error:
        raise ConfigError(f"CRM_TRUSTED_DOCUMENTS_MANIFEST: a document in {path} does not parse: "
                          f"{error.message}") from None


def init_app(app) -> None:
    """Check the mode and load the manifest once, at start. Without one (an installed wheel has no
    graphql/operations/), "off" still serves everything, hashes answering PERSISTED_QUERY_NOT_FOUND; the
    other modes refuse to start."""
    mode = str(app.config["TRUSTED_DOCUMENTS"]).lower()
    if mode not in MODES:
        raise ConfigError(f"CRM_TRUSTED_DOCUMENTS must be one of {', '.join(MODES)}, not "
                          f"{app.config['TRUSTED_DOCUMENTS']!r}.")
    app.config["TRUSTED_DOCUMENTS"] = mode
    configured = app.config["TRUSTED_DOCUMENTS_MANIFEST"]
    path = Path(configured) if configured else OPERATIONS / "manifest.json"
    manifest = None
    if path.is_file():
        manifest = load_manifest(path)
    elif configured or mode != "off":
        raise ConfigError(f"CRM_TRUSTED_DOCUMENTS={mode} needs the trusted-documents manifest, and {path} does not "
                          "exist: set CRM_TRUSTED_DOCUMENTS_MANIFEST to your front end's manifest.json (`crm "
                          "operations manifest --directory DIR` writes one from its .graphql files).")
    app.extensions["crm.trusted_documents"] = manifest


class DocumentRefused(Exception):
    """A request's document cannot be run: ``message``, ``code`` and the HTTP ``status`` for the client."""

    def __init__(self, message: str, code: str, status: int):
        super().__init__(message)
        self.message, self.code, self.status = message, code, status


NOT_FOUND = ("PersistedQueryNotFound: no trusted document has this sha256Hash. Send the document's text in "
             "`query` with the hash, or use a hash from the trusted-documents manifest.")


def request_query(body: dict, manifest: Manifest | None):
    """The query text a request runs: its ``query``, or the manifest's document of its persisted-query hash.

    An unknown hash without a query is PERSISTED_QUERY_NOT_FOUND with HTTP 200, as Apollo Server answers it
    (Apollo Client then sends the text with the hash); a hash that is not the text's is BAD_REQUEST."""
    query, extensions = body.get("query"), body.get("extensions")
    if extensions is None:
        return query
    if not isinstance(extensions, dict):
        raise DocumentRefused("`extensions` must be an object.", "BAD_REQUEST", 400)
    persisted = extensions.get("persistedQuery")
    if persisted is None:
        return query
    if not isinstance(persisted, dict) or persisted.get("version") != 1:
        raise DocumentRefused('`extensions.persistedQuery` must be {"version": 1, "sha256Hash": "<64 hex digits>"}.',
                              "BAD_REQUEST", 400)
    digest = persisted.get("sha256Hash")
    if not isinstance(digest, str) or not _HASH.fullmatch(digest.lower()):
        raise DocumentRefused("`extensions.persistedQuery.sha256Hash` must be a sha256 in hex (64 digits).",
                              "BAD_REQUEST", 400)
    digest = digest.lower()
    if isinstance(query, str):
        if sha256_hex(query) != digest:
            raise DocumentRefused("`extensions.persistedQuery.sha256Hash` is not the sha256 of `query` (of its "
                                  "UTF-8 text, exactly as sent).", "BAD_REQUEST", 400)
        return query
    if query is not None:
        return query  # not a string: refused with the transport's message
    if manifest is None or digest not in manifest.documents:
        raise DocumentRefused(NOT_FOUND, "PERSISTED_QUERY_NOT_FOUND", 200)
    return manifest.documents[digest]


def must_be_trusted(mode: str, role) -> bool:
    """"all" means every token's role; a request without one (its staffSignIn, which crm/api/tokenless.py
    admits alone) is not held to the manifest: it can run nothing else."""
    return isinstance(role, Role) and (mode == "all" or (mode == "portal" and role == Role.PORTAL))


def check_trusted(query: str, role, config, manifest: Manifest | None) -> None:
    """DocumentRefused (TRUSTED_DOCUMENT_REQUIRED, HTTP 403) when this token may run only trusted documents
    and ``query`` is none of them: the request is well formed, this token is not allowed to run it."""
    mode = config["TRUSTED_DOCUMENTS"]
    if not must_be_trusted(mode, role):
        return
    if manifest is not None and manifest.trusts(query, int(config["GRAPHQL_MAX_TOKENS"])):
        return
    who = "a PORTAL token" if mode == "portal" else "every token"
    raise DocumentRefused(
        f"Trusted document required: on this server {who} may run only the documents of the trusted-documents "
        "manifest. Send one of them, by `extensions.persistedQuery.sha256Hash` or as its text; to run another, "
        "add it to the front end's operations and regenerate the manifest (`crm operations manifest`).",
        "TRUSTED_DOCUMENT_REQUIRED", 403)
