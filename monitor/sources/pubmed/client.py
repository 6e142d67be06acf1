"""NCBI's E-utilities, for PubMed: ESearch (JSON) finds PMIDs, EFetch (XML, by POST) reads the
records. Paced, retried, bounded; only this module speaks to NCBI.

A thin httpx client rather than a maintained one: Biopython's Bio.Entrez is synchronous, keeps
its settings in module globals and may download a DTD while parsing; metapub is synchronous and
sends its maintainer's address unless told otherwise; the rest are unmaintained or stale
(shared/pubmed/NOTES.md, section 11). Three calls do not need them.

What the real service does that the client allows for (NOTES.md, sections 2-4):

* 3 requests a second per address without an API key, 10 with one, counted over every
  E-utility: paced well under each, at 2 and 8 (PubmedConfig.min_interval_seconds).
* Over the limit, HTTP 429, or a 200 whose JSON body is `{"error": "API rate limit exceeded"}`,
  which echoes the caller's address or key: retried after a wait, the body never logged.
* ESearch's hard errors come with HTTP 200, as an `ERROR` key; a phrase it did not find is
  left out and the rest searched. Both refuse the search (QueryRefused): a search that
  silently means something else would report the wrong papers as new.
* ESearch returns at most the first 10,000 ids: a search matching more than
  pubmed.max_results is an error that names it, never a silent cut.
* EFetch takes ids by POST, 200 to a request (NCBI prefers POST past about 200 ids; a long
  GET is refused with 414).
"""

from __future__ import annotations

import asyncio
import json
import logging
import xml.etree.ElementTree as ET  # for its types; parsing is defusedxml's, in normalize
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import httpx

from monitor import __version__
from monitor.core.errors import PubmedError
from monitor.sources.http import (
    UNREADABLE,
    Pacer,
    RequestStats,
    Retry,
    read_bounded,
    retry_after,
    retry_for,
    spent,
    tls_context,
)
from monitor.sources.pubmed.normalize import UnreadableDocument, document_root
from monitor.sources.pubmed.settings import PubmedConfig

log = logging.getLogger(__name__)

USER_AGENT = f"trial-monitor/{__version__} (evidence monitor; PubMed E-utilities)"
FETCH_BATCH = 200
# NCBI counts requests per second, per address, across processes: after a 429 the next second
# is the soonest a retry can pass (sooner would only be counted against the limit again).
RATE_WINDOW_SECONDS = 1.0


class QueryRefused(PubmedError):
    """PubMed did not understand a search (an error, or a phrase it did not find)."""


@dataclass(frozen=True)
class Found:
    """What one ESearch found: every PMID (newest first), and how PubMed read the term."""

    pmids: tuple[str, ...]
    count: int
    translation: str | None = None


def make_http_client(config: PubmedConfig) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        verify=tls_context(),
        timeout=httpx.Timeout(config.timeout_seconds),
        headers={"User-Agent": USER_AGENT},
        follow_redirects=False,
    )


def created_between(term: str, first: date, last: date) -> str:
    """`term` limited to papers added to PubMed from `first` to `last`: on the Create Date,
    which is never back-dated, where the Entrez Date is set to the publication date for a
    paper that enters PubMed a year after it was published (NLM Tech Bulletin 2008)."""
    return f'({term}) AND ("{first:%Y/%m/%d}"[crdt] : "{last:%Y/%m/%d}"[crdt])'


class PubmedClient:
    def __init__(
        self,
        config: PubmedConfig,
        http: httpx.AsyncClient,
        *,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        stats: RequestStats | None = None,
    ) -> None:
        self._config = config
        self._http = http
        self._sleep = sleep
        self._pacer = Pacer(config.min_interval_seconds, sleep)
        self.stats = stats or RequestStats()

    async def search(self, term: str, revised: tuple[date, date] | None = None) -> Found:
        """Every PMID PubMed finds for `term`, newest first; `revised`: only those whose record
        was modified (the Modification Date) from the first day to the second, both given, as
        the documentation requires of `mindate` and `maxdate`."""
        limit = self._config.max_results
        params = {"term": term, "retmode": "json", "retmax": str(limit), "sort": "pub_date"}
        if revised is not None:
            first, last = revised
            params |= {"datetype": "mdat", "mindate": f"{first:%Y/%m/%d}"}
            params["maxdate"] = f"{last:%Y/%m/%d}"
        body = await self._call("esearch.fcgi", params)
        result = body.get("esearchresult")
        if not isinstance(result, dict):
            raise PubmedError(f"PubMed's search answer has no esearchresult, for {term!r}")
        if result.get("ERROR"):
            raise QueryRefused(f"PubMed refused the search {term!r}: {_quoted(result['ERROR'])}")
        missing = _not_found(result.get("errorlist"))
        if missing:
            raise QueryRefused(
                f"PubMed did not understand {missing} in the search {term!r}; fix the term"
            )
        pmids = result.get("idlist")
        count = _number(result.get("count"))
        if not isinstance(pmids, list) or not all(isinstance(p, str) for p in pmids):
            raise PubmedError(f"PubMed's search answer has no list of ids, for {term!r}")
        if count is None:
            raise PubmedError(f"PubMed's search answer has no count, for {term!r}")
        if count > len(pmids):
            raise PubmedError(
                f"the search {term!r} matched {count:,} papers, more than pubmed.max_results"
                f" ({limit:,}; ESearch returns no more than 9,999); narrow it"
            )
        translation = result.get("querytranslation")
        return Found(
            tuple(dict.fromkeys(pmids)),
            count,
            translation if isinstance(translation, str) else None,
        )

    async def fetch(self, pmids: Sequence[str]) -> AsyncIterator[ET.Element]:
        """The PubMed XML of these papers, read, one EFetch answer (up to 200 papers) at a
        time; an answer that is not XML is asked for again like any bad answer."""
        for start in range(0, len(pmids), FETCH_BATCH):
            batch = pmids[start : start + FETCH_BATCH]
            yield await self._request(
                "efetch.fcgi", {"id": ",".join(batch), "retmode": "xml"}, json_body=False
            )

    async def _call(self, endpoint: str, params: dict[str, str]) -> dict[str, Any]:
        return await self._request(endpoint, params, json_body=True)  # type: ignore[no-any-return]

    async def _request(
        self, endpoint: str, params: dict[str, str], *, json_body: bool
    ) -> Any:  # a JSON object, or the root of an XML document
        url = f"{self._config.base_url}/{endpoint}"
        form = {"db": "pubmed", **params, **self._identity()}
        failures = 0
        while True:
            try:
                return await self._attempt(url, form, json_body)
            except Retry as retry:
                failures += 1
                config = self._config
                line = spent("PubMed", url, retry, failures, config.max_attempts)
                if line is not None:
                    raise PubmedError(line) from None
                wait = retry.delay(config.backoff_seconds, failures)
                log.warning("PubMed %s: %s; retrying in %.1f s", endpoint, retry, wait)
                await self._sleep(wait)

    async def _attempt(self, url: str, form: dict[str, str], json_body: bool) -> Any:
        """One request, its body read: a JSON object, or the root of an XML document."""
        await self._pacer.turn()
        self.stats.requests += 1
        try:
            async with asyncio.timeout(self._config.timeout_seconds):
                # POST for all: the form carries the ids (and the key) out of URLs and logs.
                async with self._http.stream("POST", url, data=form) as response:
                    status, headers = response.status_code, response.headers
                    content = await read_bounded(
                        response,
                        self._config.max_response_bytes,
                        "pubmed.max_response_bytes",
                        self.stats,
                        PubmedError,
                    )
        except (TimeoutError, httpx.TransportError) as exc:
            raise retry_for(exc, self._config.timeout_seconds) from None
        if status == 429:
            raise Retry("HTTP 429 rate limited", retry_after(headers) or RATE_WINDOW_SECONDS)
        if status >= 500:
            raise Retry(f"HTTP {status}", retry_after(headers))
        if status != 200:
            text = " ".join(content.decode("utf-8", "replace").split())[:200]
            raise PubmedError(f"PubMed refused {url}: HTTP {status}: {_redacted(text, form)}")
        if content.lstrip().startswith(b"{"):
            body = _json(content)
            error = body.get("error")
            if isinstance(error, str):
                if "rate limit" in error.lower():
                    raise Retry(
                        "rate limited (an error in the body)",
                        retry_after(headers) or RATE_WINDOW_SECONDS,
                    )
                raise PubmedError(f"PubMed answered an error: {_redacted(_quoted(error), form)}")
            if json_body:
                return body
        if json_body:
            raise Retry("body is not the JSON expected")
        if _is_html(content):
            # A maintenance or proxy page served with 200: PubMed's XML will be back.
            raise Retry("an HTML page, not PubMed's XML")
        try:
            return document_root(content)
        except UnreadableDocument as exc:
            raise Retry(str(exc)) from None

    def _identity(self) -> dict[str, str]:
        config = self._config
        found = {"tool": config.tool}
        if config.email:
            found["email"] = config.email
        if config.api_key:
            found["api_key"] = config.api_key
        return found


def _json(content: bytes) -> dict[str, Any]:
    try:
        body = json.loads(content)
    except UNREADABLE as exc:
        # Any body the parser cannot read is a bad answer, nested too deep for it included.
        raise Retry(f"body is not the JSON expected ({type(exc).__name__})") from None
    if not isinstance(body, dict):
        raise Retry("body is not a JSON object")
    return body


def _is_html(content: bytes) -> bool:
    start = content[:300].lstrip().lower()
    return start.startswith((b"<!doctype html", b"<html"))


def _not_found(errors: object) -> str | None:
    """The phrases and fields ESearch left out of a search, quoted, or None."""
    if not isinstance(errors, dict):
        return None
    missing = [
        str(item)
        for key in ("phrasesnotfound", "fieldsnotfound")
        for item in (errors.get(key) or [])
        if str(item).strip()
    ]
    return ", ".join(repr(m) for m in missing[:5]) or None


def _number(value: object) -> int | None:
    # ESearch's JSON gives its numbers as strings.
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None


def _quoted(value: object) -> str:
    return " ".join(str(value).split())[:300]


def _redacted(text: str, form: dict[str, str]) -> str:
    """An error NCBI sent back may echo the API key: never in a line the monitor prints."""
    key = form.get("api_key")
    return text.replace(key, "***") if key else text
