"""Contract checks: does a request URL, or a response to it, keep to NLM's OpenAPI document for
the ClinicalTrials.gov data API 2.0.5?

The tests use it to hold both sides of the stand-in to the official spec: every URL the monitor's
registry client builds (`check_request`), and every answer the stand-in gives (`check_response`).

The document is `tests/fixtures/ctgov/ctg-oas-v2_2.0.5.yaml`, a byte-exact copy of
`/work/shared/ctgov/real/ctg-oas-v2_2.0.5.yaml`, which is `pattipativenu/openwork` :
`ctg-oas-v2.yaml` @ fe1e5a801c9be0c4a6e1df94bd128f3e5632c10a (live copy:
https://clinicaltrials.gov/api/oas/v2; provenance in `tests/fixtures/ctgov/README.md`).

openapi-core reads the document and does the validation. The few rules it cannot express are
checked here by hand, each commented where it is done: undeclared and repeated parameters,
booleans other than true/false and patterns that must match a whole item (`_hand_problems`),
comma-separated lists (`_spec_query`), and a status declared with no content (`check_response`).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from openapi_core import OpenAPI
from openapi_core.datatypes import RequestParameters
from openapi_core.templating.paths import APICallPathFinder
from openapi_core.templating.paths.exceptions import PathError
from openapi_core.validation.request.exceptions import ParameterValidationError
from openapi_core.validation.schemas.exceptions import InvalidSchemaValue
from werkzeug.datastructures import ImmutableMultiDict

SPEC_FILE = Path(__file__).parents[2] / "fixtures" / "ctgov" / "ctg-oas-v2_2.0.5.yaml"
MAX_MESSAGE_CHARS = 300  # errors quote the value; a whole page of studies would drown them

Parameter = Mapping[str, Any]  # one entry of an operation's `parameters`, as the spec writes it


@functools.cache
def _api() -> OpenAPI:
    """The spec, read once; openapi-core also checks the document itself as it loads it."""
    return OpenAPI.from_file_path(str(SPEC_FILE))


@dataclass
class _SpecRequest:
    """A GET on the spec's own server, in the shape openapi-core reads (its Request protocol)."""

    host_url: str
    path: str
    parameters: RequestParameters
    method: str = "get"
    body: bytes | None = None
    content_type: str = ""


@dataclass(frozen=True)
class _SpecResponse:
    """A response in the shape openapi-core reads (its Response protocol)."""

    status_code: int
    content_type: str
    data: bytes
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class _Target:
    """A request URL moved onto the spec's server, its query parsed."""

    url: str  # as given, for messages
    host_url: str  # the spec's server, e.g. https://clinicaltrials.gov
    path: str  # e.g. /api/v2/studies
    query: list[tuple[str, str]]

    def request(self, query: Iterable[tuple[str, str]]) -> _SpecRequest:
        params = RequestParameters(query=ImmutableMultiDict(list(query)))
        return _SpecRequest(self.host_url, self.path, params)


def check_request(url: str) -> None:
    """Raise AssertionError, naming each parameter and the rule it breaks, unless GET `url`
    (absolute; any host, its path under /api/v2) is a request the spec describes.

    openapi-core checks the path, the path parameter and every declared query parameter against
    its schema (type, enum, pattern, minimum, maxItems, and each item of a list parameter). By
    hand: parameters the operation does not declare, repeated ones, booleans other than
    true/false, and items that a pattern matches only in part."""
    target = _on_spec_server(url)
    declared = _declared_parameters(_operation(target))
    problems = list(_hand_problems(target, declared))
    request = target.request(_spec_query(target.query, declared))
    problems += [_describe(error) for error in _api().iter_request_errors(request)]
    _fail_if(url, problems)


def check_response(url: str, status: int, content_type: str, body: bytes) -> None:
    """Raise AssertionError unless this is an answer the spec allows to GET `url`: a status it
    declares for the path, in a media type it declares for that status, and a body valid
    against that media type's schema (PagedStudies for /studies, Study for /studies/{nctId},
    Version for /version). Error statuses are text/plain in the spec: their bodies are read as
    text, never parsed as JSON."""
    target = _on_spec_server(url)
    declared = _operation(target).get("responses", {}).get(str(status))
    if declared is not None and declared.get("content") == {}:
        # `content: {}` (the 301 of /studies/{nctId}) describes no body at all; openapi-core
        # would demand one anyway ("Missing response data"), so there is nothing to validate.
        return
    request = target.request(target.query)
    response = _SpecResponse(status, content_type.lower(), body)
    _fail_if(url, [_describe(error) for error in _api().iter_response_errors(request, response)])


def _on_spec_server(url: str) -> _Target:
    """`url` with its scheme and host replaced by the spec's server (https://clinicaltrials.gov),
    so that the stand-in's http://127.0.0.1:PORT/api/v2/... is read as the real API's."""
    server = urlsplit((_api().spec / "servers" / 0 / "url").read_str())
    parts = urlsplit(url)
    if not parts.path.startswith(server.path + "/"):
        raise AssertionError(
            f"GET {url}: path {parts.path!r} is not under {server.path}/, the spec's server path"
        )
    try:
        query = parse_qsl(parts.query, keep_blank_values=True, strict_parsing=bool(parts.query))
    except ValueError as exc:
        raise AssertionError(f"GET {url}: unreadable query string ({exc})") from None
    return _Target(url, f"{server.scheme}://{server.netloc}", parts.path, query)


def _operation(target: _Target) -> Mapping[str, Any]:
    """The spec's GET operation for the target's path, as the document writes it."""
    try:
        found = APICallPathFinder(_api().spec).find("get", target.host_url + target.path)
    except PathError as exc:
        raise AssertionError(
            f"GET {target.url}: {exc} (no such GET operation in the spec)"
        ) from None
    operation: Mapping[str, Any] = found.operation.read_value()
    return operation


def _declared_parameters(operation: Mapping[str, Any]) -> dict[str, Parameter]:
    """The query parameters an operation declares, by name (no path item of this spec declares
    any, and none is a $ref)."""
    entries: list[Parameter] = operation.get("parameters", [])
    return {entry["name"]: entry for entry in entries if entry["in"] == "query"}


def _hand_problems(target: _Target, declared: Mapping[str, Parameter]) -> Iterator[str]:
    """What the spec rules out but openapi-core lets through."""
    names = [name for name, _ in target.query]
    for name in sorted(set(names)):
        if name not in declared:
            # OpenAPI has no "no other parameters" keyword, so openapi-core ignores unknown
            # names; they are outside the contract all the same (the stand-in answers 400).
            yield f"query parameter {name!r}: not declared for GET {target.path} in the spec"
        elif names.count(name) > 1:
            # Every parameter here is form style with explode false: one name=value pair.
            times = names.count(name)
            yield f"query parameter {name!r}: given {times} times, the spec sends it once"
    for name, value in target.query:
        schema = declared.get(name, {}).get("schema", {})
        if schema.get("type") == "boolean" and value not in ("true", "false"):
            # openapi-core also casts y/yes/t/on/1 and n/no/f/off/0; OpenAPI writes booleans
            # in a query string as true or false.
            yield f"query parameter {name!r}: {value!r} is not a boolean (true or false) [type]"
        yield from _partial_matches(name, value, schema)


def _partial_matches(name: str, value: str, schema: Mapping[str, Any]) -> Iterator[str]:
    """Items that a parameter's pattern finds only in part.

    A JSON Schema pattern need only occur somewhere in the value. /studies' `fields` item
    pattern, `^([a-zA-Z][a-zA-Z0-9\\-. ]*)|(@query)$`, is anchored by `^` in its first branch
    only, so read that way it admits any item that starts with a letter ("BriefTitle$"); the
    same parameter of /studies/{nctId} is written `^[a-zA-Z][a-zA-Z0-9\\-. ]*$`. So each item
    must also match whole, as the alternation plainly means."""
    is_list = schema.get("type") == "array"
    pattern = (schema.get("items", {}) if is_list else schema).get("pattern")
    if pattern is None:
        return
    for item in _items(value) if is_list else [value]:
        # Items the pattern does not find at all are openapi-core's to report.
        if re.search(pattern, item) and not re.fullmatch(pattern, item):
            yield f"query parameter {name!r}: {item!r} matches {pattern!r} only in part [pattern]"


def _spec_query(
    query: Iterable[tuple[str, str]], declared: Mapping[str, Parameter]
) -> Iterator[tuple[str, str]]:
    """The query as openapi-core should read it: declared parameters only (the others are
    reported by hand), with comma-separated lists written pipe-separated."""
    for name, value in query:
        if name not in declared:
            continue
        if declared[name].get("style") == "pipeDelimited":
            # The spec declares filter.ids, filter.overallStatus, fields, sort, ... as
            # pipeDelimited, which openapi-core splits on "|" only; their descriptions say the
            # API takes a "comma- or pipe-separated list". No item pattern or enum admits a
            # comma, so reading commas as pipes loses nothing, and each item is still checked.
            value = "|".join(_items(value))
        yield name, value


def _items(value: str) -> list[str]:
    """The items of a list parameter: the API takes commas and pipes alike."""
    return re.split(r"[,|]", value)


def _describe(error: Exception) -> str:
    """One line per broken rule, e.g. `query parameter 'filter.ids': at 1: 'NCT00000000' does
    not match '^[Nn][Cc][Tt]0*[1-9]\\d{0,7}$' [pattern]` (at: the item, or where in the body)."""
    cause = error.__cause__
    if isinstance(cause, InvalidSchemaValue):
        where = _where(error)
        return "\n  ".join(f"{where}: {_rule(rule)}" for rule in cause.schema_errors)
    text = str(error)
    if cause is not None and str(cause) not in text:
        text = f"{text}: {cause}"
    return _shorten(text)


def _where(error: Exception) -> str:
    if isinstance(error, ParameterValidationError):
        return f"{error.location} parameter {error.name!r}"
    return "response body"  # str(error) would quote the whole body


def _rule(rule: Exception) -> str:
    """A jsonschema ValidationError: where in the value, what, and which keyword. jsonschema
    ships no type information, so its attributes are read with getattr."""
    at = "/".join(str(part) for part in getattr(rule, "absolute_path", ()))
    message = _shorten(str(getattr(rule, "message", rule)))
    keyword = getattr(rule, "validator", "?")
    return f"{'at ' + at + ': ' if at else ''}{message} [{keyword}]"


def _shorten(text: str) -> str:
    return text if len(text) <= MAX_MESSAGE_CHARS else text[:MAX_MESSAGE_CHARS] + "…"


def _fail_if(url: str, problems: list[str]) -> None:
    if problems:
        raise AssertionError(f"GET {url} breaks the API 2.0.5 spec:\n  " + "\n  ".join(problems))
