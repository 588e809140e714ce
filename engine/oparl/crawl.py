"""Crawling an OParl list: one thread per list follows its ``next`` links and hands the pages
to the importer through a queue (split from the importer)."""

from __future__ import annotations

import queue
import threading
from dataclasses import dataclass, field
from typing import Any

import httpx

from engine.oparl.fetch import Fetcher, FetchError

# ----------------------------------------------------------------------------- crawling


@dataclass
class _Chain:
    kind: str
    url: str
    params: dict[str, str] | None
    key: str = ""  # the Body's list URL (where an interrupted run resumes)
    pages: queue.Queue[tuple[str, Any, str | None] | None] = field(
        default_factory=lambda: queue.Queue(maxsize=4))
    error: tuple[str, str] | None = None
    #: Objects older than the ``modified_since`` asked for: the server ignored the filter.
    older: int = 0
    #: Every object URL the list showed (for removing what a full listing no longer shows).
    seen: set[str] = field(default_factory=set)
    thread: threading.Thread | None = None
    #: A ``next`` that led back to a page read before, or off the source: not followed.
    loop: str | None = None
    foreign: str | None = None

    @property
    def first(self) -> str:
        """Where the list begins (with its query): where a run that read nothing goes on."""
        return str(httpx.URL(self.url, params=self.params)) if self.params else self.url


def _crawl(fetcher: Fetcher, chain: _Chain, stop: threading.Event, max_pages: int) -> None:
    """Read one list page by page (to ``chain.pages``), following ``next`` – never in a
    circle, never off the source, at most ``max_pages`` pages. Whatever goes wrong ends the
    list with ``chain.error``; the consumer always gets its end mark."""
    url: str | None = chain.url
    params = chain.params
    visited: set[str] = set()
    where = chain.first
    try:
        while url and not stop.is_set():
            where = str(httpx.URL(url, params=params)) if params else url
            if len(visited) >= max_pages:
                chain.error = (where, f"mehr als {max_pages} Seiten in einer Liste (Höchstzahl je Lauf)")
                break
            visited.add(where)
            try:
                page = fetcher.json(url, params)
                if not isinstance(page, dict) or not isinstance(page.get("data"), list):
                    raise FetchError(where, "keine OParl-Liste")
            except FetchError as exc:
                chain.error = (where, exc.reason)
                break
            links: dict[str, Any] = page["links"] if isinstance(page.get("links"), dict) else {}
            following = links.get("next") if isinstance(links.get("next"), str) else None
            if following is not None and (following in visited or following == url):
                chain.loop, following = following, None  # a server whose pages link in a circle
            elif following is not None and not fetcher.allowed(following):
                chain.foreign, following = following, None
            item = (where, page, following)
            while not stop.is_set():
                try:
                    chain.pages.put(item, timeout=0.1)
                    break
                except queue.Full:
                    continue
            url, params = following, None
    except BaseException as exc:  # noqa: BLE001 - reported as the list's error; the run goes on
        chain.error = (where, f"unerwarteter Fehler beim Abruf ({type(exc).__name__})")
    finally:
        while not stop.is_set():
            try:
                chain.pages.put(None, timeout=0.1)
                break
            except queue.Full:
                continue
