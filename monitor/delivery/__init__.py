"""How the monitor reaches people: one folder per channel (delivery/<name>/: its transport, its
message assembly, settings and doctor check, and the `KIND` that answers channel.py's protocol),
and what they share: who gets which change and whether they have it (deliveries.py), sending a
cycle's letters (sending.py), holding a digest for an operator (holds.py).

Channels are registered here, one line each: the only place that names them. A new channel is
a folder and a line in CHANNELS.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, cast

if TYPE_CHECKING:
    from monitor.delivery.channel import ChannelKind

CHANNELS = ("monitor.delivery.email",)


def registered() -> tuple[ChannelKind, ...]:
    """Each registered channel's `KIND` (from its folder's channel.py)."""
    return tuple(cast("ChannelKind", import_module(f"{name}.channel").KIND) for name in CHANNELS)
