"""The composition root's plan: which sources and channels this monitor is built of, and how the
commands get them put together (config, readers, channels, the store's routing).

`House.registered()` is the house as shipped: the sources registered in sources/__init__.py and
the channels in delivery/__init__.py. A test may hand `cli.main` a house with a source or a
channel of its own; nothing else changes.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, MetaData

from monitor.core.routing import Keys
from monitor.delivery.channel import Channel, ChannelKind
from monitor.settings import configfile
from monitor.settings.config import Config
from monitor.sources.base import Reader, Source


@dataclass(frozen=True)
class House:
    sources: tuple[Source, ...]
    channels: tuple[ChannelKind, ...]

    @classmethod
    def registered(cls) -> House:
        from monitor import delivery, sources

        return cls(sources.registered(), delivery.registered())

    def load_config(self, path: Path, environ: Mapping[str, str] | None = None) -> Config:
        return configfile.load_config(path, environ, [*self.sources, *self.channels])

    def parse_config(
        self, data: Mapping[str, Any], environ: Mapping[str, str], source: str
    ) -> Config:
        return configfile.parse_config(data, environ, source, [*self.sources, *self.channels])

    def on(self, config: Config) -> tuple[Source, ...]:
        """The sources the configuration turns on, in the order a cycle reads them."""
        return tuple(s for s in self.sources if s.on(config))

    @asynccontextmanager
    async def readers(self, config: Config) -> AsyncIterator[tuple[tuple[Source, Reader], ...]]:
        """Each source that is on, opened for one command; all closed at the end."""
        async with AsyncExitStack() as stack:
            opened = []
            for source in self.on(config):
                opened.append((source, await stack.enter_async_context(source.reader(config))))
            yield tuple(opened)

    def open_channels(self, config: Config, installation: str) -> tuple[Channel, ...]:
        return tuple(c.open(config, installation) for c in self.channels if c.on(config))

    def keys_of(self, conn: Connection, trials: Sequence[str]) -> dict[str, Keys]:
        """What each trial is known by, as every source knows it."""
        found: dict[str, Keys] = {}
        for source in self.sources:
            for trial, keys in source.routing_keys(conn, trials).items():
                found[trial] = found.get(trial, Keys()) | keys
        return found


def load_config(path: Path, environ: Mapping[str, str] | None = None) -> Config:
    """The configuration file, read with every registered source's and channel's section."""
    return House.registered().load_config(path, environ)


def parse_config(data: Mapping[str, Any], environ: Mapping[str, str], source: str) -> Config:
    return House.registered().parse_config(data, environ, source)


def schema() -> MetaData:
    """The whole schema: the store's tables and every registered source's (each wing's tables
    are on the same metadata once its source is imported)."""
    from monitor.store.schema import metadata

    House.registered()
    return metadata
