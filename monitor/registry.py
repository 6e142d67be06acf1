"""The ClinicalTrials.gov data API v2 client: batched, paginated, paced and retried.

Only this module speaks HTTP. What it hands on are raw study dicts, page by page, so that a cycle
never holds more than one page in memory; httpx's exceptions are translated into RegistryError
here and nowhere else.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import logging
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any
from urllib.parse import quote

import httpx

from monitor import __version__
from monitor.config import RegistryConfig
from monitor.errors import LimitError, RegistryError
from monitor.normalize import TRACKED_FIELDS

log = logging.getLogger(__name__)

USER_AGENT = f"trial-monitor/{__version__} (ClinicalTrials.gov change monitor; httpx)"
# nginx refuses request lines over 8 KB by default; stay clear of it with room for headers.
MAX_URL_BYTES = 8000
MAX_RETRY_AFTER_SECONDS = 300.0

Study = dict[str, Any]
Page = list[Study]


@dataclass
class RequestStats:
    requests: int = 0
    bytes_received: int = 0


class _Retry(Exception):
    """A failure worth another attempt, with the server's own wait when it gave one."""

    def __init__(self, problem: str, wait: float | None = None) -> None:
        super().__init__(problem)
        self.wait = wait


def make_http_client(config: RegistryConfig) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        timeout=httpx.Timeout(config.timeout_seconds),
        headers={"User-Agent": USER_AGENT, "Accept": "application/json"},
        follow_redirects=True,
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
        self._last_request = 0.0
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
        params = {"query.term": term, **_updated_since(since), **self._common_params()}
        async for page in self._pages(params):
            yield page

    async def studies(self, batch: Sequence[str], since: date | None = None) -> AsyncIterator[Page]:
        """The studies of one batch of ids (see `batches`), one page at a time; with `since`,
        only those last updated on or after that day."""
        params = {"filter.ids": "|".join(batch), **_updated_since(since), **self._common_params()}
        async for page in self._pages(params):
            yield page

    async def updated(self, since: date) -> AsyncIterator[Page]:
        """Every study in the registry last updated on or after `since`."""
        async for page in self._pages({**_updated_since(since), **self._common_params()}):
            yield page

    async def count_updated(self, since: date) -> int:
        """How many studies `updated(since)` would list, at the cost of one small request."""
        params = {
            **_updated_since(since),
            "format": "json",
            "fields": "NCTId",
            "countTotal": "true",
            "pageSize": "1",
        }
        body = await self._get_json("/studies", params, _check_page)
        total = body.get("totalCount")
        if isinstance(total, bool) or not isinstance(total, int) or total < 0:
            raise RegistryError("registry answered a count request without a totalCount")
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

    def _common_params(self) -> dict[str, str]:
        return {
            "format": "json",
            "fields": ",".join(TRACKED_FIELDS),
            "pageSize": str(self._config.page_size),
        }

    def _url_bytes(self, batch: list[str]) -> int:
        # Room for the longest extras a batch request can carry: a date filter, a page token.
        params = {
            "filter.ids": "|".join(batch),
            **_updated_since(date(2000, 1, 1)),
            **self._common_params(),
            "pageToken": "x" * 64,
        }
        return len(str(httpx.URL(self._config.base_url + "/studies", params=params)))

    async def _pages(self, params: dict[str, str]) -> AsyncIterator[Page]:
        token: str | None = None
        seen: set[str] = set()
        limit = self._config.max_pages
        for _ in range(limit):
            # The API ties a page token to the query: later pages repeat every parameter.
            page_params = params if token is None else {**params, "pageToken": token}
            body = await self._get_json("/studies", page_params, _check_page)
            yield body["studies"]
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
        for attempt in range(1, self._config.max_attempts + 1):
            try:
                return await self._attempt(url, params, check)
            except _Retry as retry:
                if attempt == self._config.max_attempts:
                    raise RegistryError(
                        f"registry {path} failed after {attempt} attempts: {retry}"
                    ) from None
                wait = retry.wait if retry.wait is not None else self._backoff(attempt)
                log.warning("registry %s: %s; retrying in %.1f s", path, retry, wait)
                await self._sleep(wait)
        raise AssertionError("unreachable: max_attempts >= 1")

    async def _attempt(
        self,
        url: str,
        params: dict[str, str],
        check: Callable[[dict[str, Any]], None] | None,
    ) -> dict[str, Any]:
        await self._pace()
        self.stats.requests += 1
        try:
            status, headers, content = await self._fetch(url, params)
        except httpx.TransportError as exc:
            raise _Retry(
                f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            ) from None
        if status == 429:
            raise _Retry("HTTP 429 rate limited", _retry_after(headers))
        if status >= 500:
            raise _Retry(f"HTTP {status}", _retry_after(headers))
        if status != 200:
            # Error bodies are text/plain; quote them, never parse them.
            text = " ".join(content.decode("utf-8", "replace").split())[:300]
            raise RegistryError(f"registry refused {url}: HTTP {status}: {text}")
        try:
            body = json.loads(content)
            if not isinstance(body, dict):
                raise ValueError("not a JSON object")
            if check is not None:
                check(body)
        except ValueError as exc:
            raise _Retry(f"body is not the JSON expected ({exc})") from None
        return body

    async def _fetch(self, url: str, params: dict[str, str]) -> tuple[int, httpx.Headers, bytes]:
        """One GET, its body read as it streams in and cut off past registry.max_response_bytes,
        so that a runaway answer cannot fill the memory."""
        limit = self._config.max_response_bytes
        async with self._http.stream("GET", url, params=params) as response:
            content = bytearray()
            async for chunk in response.aiter_bytes():
                content += chunk
                self.stats.bytes_received += len(chunk)
                if len(content) > limit:
                    raise LimitError(
                        f"a registry response passed {limit:,} bytes "
                        "(registry.max_response_bytes); stopped reading it"
                    )
            return response.status_code, response.headers, bytes(content)

    async def _pace(self) -> None:
        wait = self._last_request + self._config.min_interval_seconds - time.monotonic()
        if wait > 0:
            await self._sleep(wait)
        self._last_request = time.monotonic()

    def _backoff(self, attempt: int) -> float:
        base = self._config.backoff_seconds * 2.0 ** (attempt - 1)
        return base * random.uniform(0.8, 1.2)


def _updated_since(since: date | None) -> dict[str, str]:
    if since is None:
        return {}
    return {"filter.advanced": f"AREA[LastUpdatePostDate]RANGE[{since.isoformat()},MAX]"}


def _check_page(body: dict[str, Any]) -> None:
    studies = body.get("studies")
    if not isinstance(studies, list) or not all(isinstance(s, dict) for s in studies):
        raise ValueError("no list of studies")
    token = body.get("nextPageToken")
    if token is not None and not isinstance(token, str):
        raise ValueError("nextPageToken is not a string")


def _retry_after(headers: httpx.Headers) -> float | None:
    """Retry-After in seconds (a number or an HTTP date), capped so a cycle cannot hang."""
    value = headers.get("Retry-After")
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - datetime.now(UTC)).total_seconds()
    return float(min(max(seconds, 0.0), MAX_RETRY_AFTER_SECONDS))
