"""A service cannot raise a code its payload cannot carry.

Read from the source (AST), not by running it: every reference to a member of an error-code enum
(``<domain>/errors.py``, or crm.errors.ErrorCode of the generic NotFound/Invalid/Forbidden) counts as a code
the function it stands in may produce. From each mutation's ``perform`` the calls are followed (functions
called or passed on, methods of ``cls``/``self``, classes constructed, across modules through the imports)
and every code met on the way must be a value of the enum of that mutation's payload errors; were it not,
graphql-core could not serialise it and the mutation would answer null with an internal error instead.
Calls through registries (merge hooks, segment fields) and through objects are not followed: the
per-domain rule below keeps a domain's own modules to its own codes.
"""
from __future__ import annotations

import ast
import enum
import importlib
from collections import deque
from pathlib import Path

import graphene

from crm.api.mutations import BaseMutation
from crm.errors import ErrorCode

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("crm", "journeys", "loyalty")

# The error-code enum of each domain; a module raises only its domain's codes or ErrorCode's
# (the longest prefix names its domain; crm's platform modules outside these have ErrorCode only).
DOMAIN_CODES = {
    "crm.auth": "crm.auth.errors.AuthErrorCode",
    "crm.customers": "crm.customers.errors.CustomerErrorCode",
    "crm.segments": "crm.segments.errors.SegmentErrorCode",
    "crm.messages": "crm.messages.errors.MessageErrorCode",
    "journeys": "journeys.errors.JourneyErrorCode",
    "journeys.campaigns": "journeys.campaigns.errors.CampaignErrorCode",
    "loyalty": "loyalty.errors.LoyaltyErrorCode",
}
COMMON = "crm.errors.ErrorCode"
DOMAIN_ERROR = ("crm.errors", "DomainError")


def _code_enums() -> dict[str, type[enum.Enum]]:
    out = {COMMON: ErrorCode}
    for qualified in DOMAIN_CODES.values():
        module, name = qualified.rsplit(".", 1)
        out[qualified] = getattr(importlib.import_module(module), name)
    return out


CODE_ENUMS = _code_enums()


class Module:
    def __init__(self, name: str, path: Path):
        self.name, self.path = name, path
        self.tree = ast.parse(path.read_text(), str(path))
        self.package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        self.names: dict[str, str] = {}  # local name -> qualified name, from the imports (lazy ones too)
        self.functions: dict[str, ast.AST] = {}  # "f" or "Class.method" -> node
        self.classes: dict[str, ast.ClassDef] = {}
        for node in ast.walk(self.tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.asname:
                        self.names[alias.asname] = alias.name
                    else:
                        head = alias.name.split(".")[0]
                        self.names[head] = head
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parts = self.package.split(".")
                    parts = parts[:len(parts) - node.level + 1]
                    base = ".".join(parts + ([node.module] if node.module else []))
                for alias in node.names:
                    self.names[alias.asname or alias.name] = f"{base}.{alias.name}"
        for node in self.tree.body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                self.functions[node.name] = node
            elif isinstance(node, ast.Assign) and isinstance(node.value, ast.Call) and len(node.targets) == 1 \
                    and isinstance(node.targets[0], ast.Name):  # X = factory(..., lambda ...: service(...))
                self.functions.setdefault(node.targets[0].id, node)
            elif isinstance(node, ast.ClassDef):
                self.classes[node.name] = node
                for item in node.body:
                    if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)):
                        self.functions[f"{node.name}.{item.name}"] = item

    def domain_codes(self) -> set[str]:
        domains = [d for d in DOMAIN_CODES if self.name == d or self.name.startswith(d + ".")]
        return {COMMON} | ({DOMAIN_CODES[max(domains, key=len)]} if domains else set())


def _modules() -> dict[str, Module]:
    out = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            out[".".join(parts)] = Module(".".join(parts), path)
    return out


MODULES = _modules()


def dotted(node: ast.AST) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        head = dotted(node.value)
        return f"{head}.{node.attr}" if head else None
    return None


def locate(qualified: str, seen: frozenset = frozenset()) -> tuple[str, str] | None:
    """(module, "name" or "Class.attr") that a qualified name stands for, following re-exports."""
    parts = qualified.split(".")
    for cut in range(len(parts), 0, -1):
        module = MODULES.get(".".join(parts[:cut]))
        if module is None:
            continue
        rest = parts[cut:]
        if not rest or qualified in seen:
            return None
        if rest[0] in module.names and rest[0] not in module.classes and rest[0] not in module.functions:
            return locate(".".join([module.names[rest[0]], *rest[1:]]), seen | {qualified})
        return module.name, ".".join(rest[:2])
    return None


def resolve(module: Module, name: str, cls: str | None) -> tuple[str, str] | None:
    head, _, rest = name.partition(".")
    if head in ("cls", "self") and cls and rest:
        return method(module.name, cls, rest.split(".")[0])
    if head in module.functions or head in module.classes:
        return locate(f"{module.name}.{name}")
    if head in module.names:
        return locate(".".join(filter(None, [module.names[head], rest])))
    return None


def method(module_name: str, cls: str, attr: str, depth: int = 0) -> tuple[str, str] | None:
    """Class.attr, looked up in the class and then its bases (as written in the source)."""
    module = MODULES[module_name]
    if f"{cls}.{attr}" in module.functions:
        return module_name, f"{cls}.{attr}"
    node = module.classes.get(cls)
    for base in (node.bases if node is not None and depth < 10 else []):
        found = resolve(module, dotted(base) or "", None)
        if found and found[1] in MODULES[found[0]].classes:
            hit = method(found[0], found[1], attr, depth + 1)
            if hit:
                return hit
    return None


def body_of(target: tuple[str, str]) -> tuple[list[tuple[str, str]], list[tuple[str, str, int]]]:
    """What a function (or, for a class constructed, its __init__) calls and the codes it names."""
    module = MODULES[target[0]]
    if target[1] in module.classes:  # constructing a class runs its __init__
        init = method(module.name, target[1], "__init__")
        return ([init] if init else []), []
    node = module.functions.get(target[1])
    if node is None:
        return [], []
    cls = target[1].split(".")[0] if "." in target[1] else None
    calls, codes = [], []
    for child in ast.walk(node):
        # A function named, called or not: one passed on (``_change_members(info, services.add_customers, ...)``)
        # is called where it arrives.
        if isinstance(child, (ast.Name, ast.Attribute)) and isinstance(child.ctx, ast.Load):
            found = resolve(module, dotted(child) or "", cls)
            if found:
                calls.append(found)
        if isinstance(child, ast.Attribute) and isinstance(child.ctx, ast.Load):
            code = code_at(module, child)
            if code:
                codes.append((*code, child.lineno))
    return calls, codes


def code_at(module: Module, node: ast.Attribute) -> tuple[str, str] | None:
    """(enum, member) when ``node`` is ``SomeErrorCode.MEMBER`` (or ``errors.SomeErrorCode.MEMBER``)."""
    owner = dotted(node.value)
    if owner is None:
        return None
    head, _, rest = owner.partition(".")
    qualified = ".".join(filter(None, [module.names.get(head, f"{module.name}.{head}"), rest]))
    return (qualified, node.attr) if qualified in CODE_ENUMS else None


def all_codes():
    for module in MODULES.values():
        for node in ast.walk(module.tree):
            if isinstance(node, ast.Attribute):
                code = code_at(module, node)
                if code:
                    yield module, node, code


def mutations() -> list[type]:
    importlib.import_module("crm.api.schema")  # imports every domain's mutations
    out, todo = [], list(BaseMutation.__subclasses__())
    while todo:
        cls = todo.pop()
        todo += cls.__subclasses__()
        if getattr(getattr(cls, "_meta", None), "output", None) is not None:
            out.append(cls)
    return sorted(out, key=lambda c: c.__name__)


def unwrap(graphene_type):
    while isinstance(graphene_type, (graphene.List, graphene.NonNull)):
        graphene_type = graphene_type.of_type
    return graphene_type


def payload_codes(mutation) -> type[enum.Enum]:
    """The Python enum behind ``errors[].code`` of the mutation's payload."""
    error = unwrap(mutation._meta.output._meta.fields["errors"].type)
    return unwrap(error._meta.fields["code"].type)._meta.enum


def entry(mutation) -> tuple[str, str]:
    """Its ``perform``; for a mutation a factory makes (campaignPause), the statement that calls the factory."""
    owner = next(c for c in mutation.__mro__ if "perform" in c.__dict__)
    perform = owner.__dict__["perform"].__func__
    if "<locals>" in perform.__qualname__:
        return perform.__module__, mutation.__name__
    return perform.__module__, perform.__qualname__


def reachable_codes(start: tuple[str, str]) -> dict[tuple[str, str], list[str]]:
    """Every (enum, member) named on a path of calls from ``start``, with the path to its first sighting."""
    found, paths, queue = {}, {start: [f"{start[0]}:{start[1]}"]}, deque([start])
    while queue:
        target = queue.popleft()
        calls, codes = body_of(target)
        for enum_name, member, line in codes:
            found.setdefault((enum_name, member), paths[target] + [f"{MODULES[target[0]].path.name}:{line}"])
        for call in calls:
            if call not in paths:
                paths[call] = paths[target] + [f"{call[0]}:{call[1]}"]
                queue.append(call)
    return found


def test_every_code_a_mutation_can_reach_is_a_value_of_its_payload_enum():
    problems = []
    for mutation in mutations():
        allowed = {m.value for m in payload_codes(mutation)}
        for (enum_name, member), path in reachable_codes(entry(mutation)).items():
            value = CODE_ENUMS[enum_name][member].value
            if value not in allowed:
                problems.append(f"{mutation.__name__} can return {value} ({enum_name.rsplit('.', 1)[1]}), which "
                                f"{payload_codes(mutation).__name__} lacks: {' -> '.join(path)}")
    assert not problems, "\n".join(problems)


def test_the_walk_reaches_the_codes_known_to_be_raised():
    """Guards the walk itself: were the calls not followed, the test above would pass on nothing."""
    by_name = {m.__name__: {CODE_ENUMS[e][n].value for e, n in reachable_codes(entry(m))} for m in mutations()}
    expected = {"CampaignSchedule": {"INVALID_TRANSITION", "NOT_FOUND"}, "MessageSend": {"CONSENT_MISSING"},
                "RewardRedeem": {"OUT_OF_STOCK", "TIER_TOO_LOW"}, "CustomerCreate": {"DUPLICATE", "REQUIRED"},
                "CaseTransition": {"INVALID_TRANSITION"}, "InteractionRecordBulk": {"IDEMPOTENCY_MISMATCH"},
                "OrderRecord": {"IDEMPOTENCY_MISMATCH"}, "SegmentCreate": {"DUPLICATE"}}
    missing = {name: codes - by_name.get(name, set()) for name, codes in expected.items()}
    assert not {name: codes for name, codes in missing.items() if codes}, missing


def test_every_payload_enum_carries_the_codes_the_mutation_base_returns():
    for mutation in mutations():
        values = {m.value for m in payload_codes(mutation)}
        assert {c.value for c in ErrorCode} <= values, mutation.__name__


def test_error_code_enums_are_named_as_their_values_and_have_the_generic_codes():
    for name, codes in CODE_ENUMS.items():
        assert all(m.name == m.value for m in codes), name  # the GraphQL enum serialises by value
        assert {c.name for c in ErrorCode} <= set(codes.__members__), name


def test_a_domain_error_is_built_from_an_enum_member():
    """No free-text codes: the first argument is a member, or the code of an error caught (passed on)."""
    problems = []
    for module in MODULES.values():
        for node in ast.walk(module.tree):
            if not isinstance(node, ast.Call) or resolve(module, dotted(node.func) or "", None) != DOMAIN_ERROR:
                continue
            code = node.args[0] if node.args else next((k.value for k in node.keywords if k.arg == "code"), None)
            ok = isinstance(code, ast.Attribute) and (code_at(module, code) or code.attr == "code")
            if not ok:
                problems.append(f"{module.path.relative_to(ROOT)}:{node.lineno}: {ast.unparse(code) if code else '?'}")
    assert not problems, "\n".join(problems)


def test_a_domain_names_only_its_own_codes_and_never_a_deprecated_one():
    problems = []
    for module, node, (enum_name, member) in all_codes():
        where = f"{module.path.relative_to(ROOT)}:{node.lineno}: {enum_name.rsplit('.', 1)[1]}.{member}"
        if enum_name not in module.domain_codes():
            problems.append(f"{where} is not this domain's")
        if member in getattr(CODE_ENUMS[enum_name], "DEPRECATED", {}):
            problems.append(f"{where} is deprecated: never returned")
    assert not problems, "\n".join(problems)
