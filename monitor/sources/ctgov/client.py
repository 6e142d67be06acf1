"""The ClinicalTrials.gov data API v2 client: batched, paginated, paced and retried.

Only this module speaks to the registry. What it hands on are raw study dicts, page by page, so
that a cycle never holds more than one page in memory; httpx's exceptions are translated into
RegistryError here and nowhere else.

What the real registry does that the client allows for (see docs/sources/clinicaltrials-gov.md):
its edge may refuse a client with 403 (retried with a long back-off, then one clear line);
`filter.ids` matches aliases too; a page token expires at the daily refresh (the listing starts
again once); a search term it cannot parse is a 400 for that search alone; markup fields come
CommonMark-escaped unless asked for in the legacy format.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Iterator, Sequence
from datetime import date
from typing import Any, assert_never
from urllib.parse import quote

import httpx

from monitor import __version__
from monitor.core.errors import LimitError, RegistryError
from monitor.sources.ctgov.normalize import TRACKED_FIELDS
from monitor.sources.ctgov.settings import RegistryConfig, RegistryTransport
from monitor.sources.http import (
    UNREADABLE,
    Pacer,
    RequestStats,
    Retry,
    StdlibTransport,
    read_bounded,
    retry_after,
    retry_for,
    spent,
    tls_context,
)

log = logging.getLogger(__name__)

USER_AGENT = f"trial-monitor/{__version__} (ClinicalTrials.gov change monitor)"
# nginx refuses request lines over 8 KB by default; stay clear of it with room for headers.
MAX_URL_BYTES = 8000
MAX_REDIRECTS = 5
# What the registry-wide "updated since" listing asks for: enough to know which watched trials
# changed, a twentieth of the bytes of the tracked fields.
LISTING_FIELDS = ("NCTId", "LastUpdatePostDate")

Study = dict[str, Any]
Page = list[Study]


class RegistryRefused(RegistryError):
    """The registry's edge refused this client (HTTP 403), after the long back-off."""


class QueryRefused(RegistryError):
    """The registry refused a request as malformed (HTTP 400): a search term it cannot parse,
    for instance. Retrying the same request cannot help."""


class _Refused(Exception):
    """A 403: worth trying again, but only after minutes."""


class _TokenExpired(Exception):
    """A page token the registry no longer knows (it expires at the daily refresh)."""


def make_http_client(config: RegistryConfig) -> httpx.AsyncClient:
    """The HTTP client, with a TLS context built as the standard library builds its own (so the
    monitor's handshake is any Python program's), through httpx or through urllib."""
    context = tls_context()
    match config.transport:
        case RegistryTransport.HTTPX:
            # httpx's own transport, made by the client: it is the one that honours
            # HTTP(S)_PROXY and NO_PROXY (a transport handed in would not).
            transport: httpx.AsyncBaseTransport | None = None
        case RegistryTransport.STDLIB:
            transport = StdlibTransport(context, config.timeout_seconds)
        case _:
            assert_never(config.transport)
    return httpx.AsyncClient(
        transport=transport,
        verify=context,
        timeout=httpx.Timeout(config.timeout_seconds),
        headers={"User-Agent": USER_AGENT, "Accept": "application/json"},
        # Redirects are followed by hand, and only within the registry's own origin.
        follow_redirects=False,
    )


class RegistryClient:
    def __init__(
        self,
        config: RegistryConfig,
        http: httpx.AsyncClient,
        *,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._config = config
        self._http = http
        self._sleep = sleep
        self._pacer = Pacer(config.min_interval_seconds, sleep)
        self._origin = httpx.URL(config.base_url)
        self.stats = RequestStats()

    async def data_timestamp(self) -> str | None:
        """When the registry last refreshed its data (`/version`), as it states it."""
        body = await self._get_json("/version", {})
        if not isinstance(body.get("apiVersion"), str):
            raise RegistryError("registry /version answered without an apiVersion")
        stamp = body.get("dataTimestamp")
        return stamp if isinstance(stamp, str) else None

    async def search(self, term: str, since: date | None = None) -> AsyncIterator[Page]:
        """Every study matching `term` (sent as query.term), one page at a time; with `since`,
        only those last updated on or after that day."""
        params = {"query.term": term, **_updated_since(since), **self._tracked()}
        async for page in self._pages(params):
            yield page

    async def studies(self, batch: Sequence[str], since: date | None = None) -> AsyncIterator[Page]:
        """The studies of one batch of ids (see `batches`), one page at a time; with `since`,
        only those last updated on or after that day. The registry matches aliases too, and
        answers them under the record they are listed under."""
        params = {"filter.ids": "|".join(batch), **_updated_since(since), **self._tracked()}
        async for page in self._pages(params):
            yield page

    async def updated(
        self, since: date, until: date | None = None
    ) -> AsyncGenerator[tuple[int | None, Page], None]:
        """Every study in the registry last updated on or after `since` (and on or before
        `until`), with only its id and update date; each page with the listing's total (given
        with the first page only)."""
        params = {
            **_updated_since(since, until),
            "format": "json",
            "fields": ",".join(LISTING_FIELDS),
            "pageSize": str(self._config.page_size),
            "countTotal": "true",
        }
        async for body in self._bodies(params):
            total = body.get("totalCount")
            yield (
                (total if isinstance(total, int) and not isinstance(total, bool) else None),
                (body["studies"]),
            )

    async def count_updated(self, since: date, until: date) -> int:
        """How many studies the registry holds last updated from `since` to `until`: one small
        request (countTotal with a page of one id, as ctrdata counts)."""
        params = {
            **_updated_since(since, until),
            "format": "json",
            "fields": "NCTId",
            "pageSize": "1",
            "countTotal": "true",
        }
        total = (await self._get_json("/studies", params, _check_page)).get("totalCount")
        if not isinstance(total, int) or isinstance(total, bool) or total < 0:
            raise RegistryError("registry answered a count without a totalCount")
        return total

    def batches(self, nct_ids: Sequence[str]) -> Iterator[list[str]]:
        """Split ids into filter.ids batches whose request URL stays under MAX_URL_BYTES."""
        empty = self._url_bytes([])
        # What the encoded separator costs, measured rather than assumed.
        separator = self._url_bytes(["a", "b"]) - self._url_bytes(["ab"])
        batch: list[str] = []
        size = empty
        for nct_id in nct_ids:
            cost = len(quote(nct_id, safe="")) + (separator if batch else 0)
            if batch and (len(batch) >= self._config.page_size or size + cost > MAX_URL_BYTES):
                yield batch
                batch, size = [], empty
                cost = len(quote(nct_id, safe=""))
            batch.append(nct_id)
            size += cost
        if batch:
            yield batch

    def _tracked(self) -> dict[str, str]:
        return {
            "format": "json",
            "fields": ",".join(TRACKED_FIELDS),
            # Markup fields (whyStopped) as written, not CommonMark-escaped ("\[", "\>").
            "markupFormat": "legacy",
            "pageSize": str(self._config.page_size),
        }

    def _url_bytes(self, batch: list[str]) -> int:
        # Room for the longest extras a batch request can carry: a date filter, a page token.
        params = {
            "filter.ids": "|".join(batch),
            **_updated_since(date(2000, 1, 1)),
            **self._tracked(),
            "pageToken": "x" * 64,
        }
        return len(str(httpx.URL(self._config.base_url + "/studies", params=params)))

    async def _pages(self, params: dict[str, str]) -> AsyncIterator[Page]:
        async for body in self._bodies(params):
            yield body["studies"]

    async def _bodies(self, params: dict[str, str]) -> AsyncIterator[dict[str, Any]]:
        """Every page of a listing. A page token the registry has forgotten (tokens expire at
        its daily refresh) starts the listing again from its first page, once: what the pages
        already read held is recorded again, which finds nothing new."""
        for restart in (False, True):
            try:
                async for body in self._listing(params):
                    yield body
                return
            except _TokenExpired:
                if restart:
                    raise RegistryError(
                        "registry forgot a page token twice in one listing; stopped there"
                    ) from None
                log.warning("registry forgot a page token (a refresh?); reading the listing again")

    async def _listing(self, params: dict[str, str]) -> AsyncIterator[dict[str, Any]]:
        token: str | None = None
        seen: set[str] = set()
        limit = self._config.max_pages
        for _ in range(limit):
            # The API ties a page token to the query: later pages repeat every parameter.
            page_params = params if token is None else {**params, "pageToken": token}
            try:
                body = await self._get_json("/studies", page_params, _check_page)
            except QueryRefused:
                if token is None:
                    raise
                raise _TokenExpired from None
            yield body
            token = body.get("nextPageToken")
            if not token:
                return
            if token in seen:
                raise RegistryError("registry repeated a page token; the listing would not end")
            seen.add(token)
        raise LimitError(
            f"a registry listing went past {limit} pages (registry.max_pages); stopped there"
        )

    async def _get_json(
        self,
        path: str,
        params: dict[str, str],
        check: Callable[[dict[str, Any]], None] | None = None,
    ) -> dict[str, Any]:
        url = self._config.base_url + path
        config = self._config
        refusals = failures = 0
        while True:
            try:
                return await self._attempt(url, params, check)
            except _Refused:
                refusals += 1
                if refusals > config.refused_retries:
                    raise RegistryRefused(
                        f"the registry refused this client (HTTP 403) at {self._shown(url)}"
                        f" after {refusals} tries over minutes;"
                        " see docs/operating.md, Troubleshooting"
                    ) from None
                wait = config.refused_backoff_seconds * 2.0 ** (refusals - 1)
                log.warning("registry %s answered 403; trying again in %.0f s", path, wait)
                await self._sleep(wait)
            except Retry as retry:
                failures += 1
                line = spent("registry", self._shown(url), retry, failures, config.max_attempts)
                if line is not None:
                    raise RegistryError(line) from None
                wait = retry.delay(config.backoff_seconds, failures)
                log.warning("registry %s: %s; retrying in %.1f s", path, retry, wait)
                await self._sleep(wait)

    async def _attempt(
        self,
        url: str,
        params: dict[str, str],
        check: Callable[[dict[str, Any]], None] | None,
    ) -> dict[str, Any]:
        await self._pacer.turn()
        self.stats.requests += 1
        try:
            # One deadline for the whole request, body included: a server that trickles a
            # byte at a time cannot hold a cycle longer than timeout_seconds per request.
            async with asyncio.timeout(self._config.timeout_seconds):
                status, headers, content = await self._fetch(httpx.URL(url, params=params))
        except (TimeoutError, httpx.TransportError) as exc:
            raise retry_for(exc, self._config.timeout_seconds) from None
        if status == 429:
            raise Retry("HTTP 429 rate limited", retry_after(headers))
        if status >= 500:
            raise Retry(f"HTTP {status}", retry_after(headers))
        if status == 403:
            raise _Refused
        if status != 200:
            # Error bodies are text/plain; quote them, never parse them.
            text = " ".join(content.decode("utf-8", "replace").split())[:300]
            error = QueryRefused if status == 400 else RegistryError
            raise error(f"registry refused {self._shown(url)}: HTTP {status}: {text}")
        try:
            body = json.loads(content)
            if not isinstance(body, dict):
                raise ValueError("not a JSON object")
            if check is not None:
                check(body)
        except UNREADABLE as exc:
            # Whatever the parser cannot read is a bad answer, tried again: a body nested
            # deeper than it recurses ({"studies":[[[…]]]}) as much as a cut or garbled one.
            raise Retry(f"body is not the JSON expected ({type(exc).__name__}: {exc})") from None
        return body

    async def _fetch(self, url: httpx.URL) -> tuple[int, httpx.Headers, bytes]:
        """One GET, following the registry's own redirects (an alias id's 301) and no others,
        its body read as it streams in and cut off past registry.max_response_bytes, so that a
        runaway answer cannot fill the memory."""
        for _ in range(MAX_REDIRECTS + 1):
            async with self._http.stream("GET", url) as response:
                if response.is_redirect:
                    url = self._redirect(url, response)
                    continue
                return response.status_code, response.headers, await self._read(response)
        raise RegistryError(
            f"registry redirected {MAX_REDIRECTS} times from {self._shown(str(url))}"
        )

    def _redirect(self, url: httpx.URL, response: httpx.Response) -> httpx.URL:
        target = url.join(response.headers.get("Location", ""))
        if (target.scheme, target.host, target.port) != (
            self._origin.scheme,
            self._origin.host,
            self._origin.port,
        ):
            raise RegistryError(
                f"registry answered {response.status_code} to {target.scheme}://{target.host}:"
                " another host, not followed (only the registry's own redirects are)"
            )
        return target

    async def _read(self, response: httpx.Response) -> bytes:
        return await read_bounded(
            response, self._config.max_response_bytes, "registry.max_response_bytes", self.stats
        )

    def _shown(self, url: str) -> str:
        """A URL for an error line: whole, but not a 7 KB batch of ids."""
        return url if len(url) <= 200 else url[:197] + "..."


def _updated_since(since: date | None, until: date | None = None) -> dict[str, str]:
    if since is None:
        return {}
    last = until.isoformat() if until else "MAX"
    return {"filter.advanced": f"AREA[LastUpdatePostDate]RANGE[{since.isoformat()},{last}]"}


def _check_page(body: dict[str, Any]) -> None:
    studies = body.get("studies")
    if not isinstance(studies, list) or not all(isinstance(s, dict) for s in studies):
        raise ValueError("no list of studies")
    token = body.get("nextPageToken")
    if token is not None and not isinstance(token, str):
        raise ValueError("nextPageToken is not a string")
