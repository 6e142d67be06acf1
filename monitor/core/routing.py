"""Who gets which change: everyone on `email.recipients` gets every change; a desk named in
`[[routes]]` gets the changes of its trials and of the trials its searches found, and an
article's desk those of the trials and the papers its article cites. Pure."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass


@dataclass(frozen=True)
class Keys:
    """What a change's subject is known by, for the routes that name it: the trial's ids (its
    own and those merged into it), the searches that found it, the papers it is about."""

    ids: frozenset[str] = frozenset()
    searches: frozenset[str] = frozenset()
    pmids: frozenset[str] = frozenset()

    def __or__(self, other: Keys) -> Keys:
        return Keys(self.ids | other.ids, self.searches | other.searches, self.pmids | other.pmids)


@dataclass(frozen=True)
class Route:
    name: str
    recipients: tuple[str, ...]
    trials: frozenset[str] = frozenset()
    search_terms: frozenset[str] = frozenset()
    pmids: frozenset[str] = frozenset()  # papers (PubMed's side): an article's desk


@dataclass(frozen=True)
class Router:
    everyone: tuple[str, ...]  # get every change ("" alone: the outbox, addressed to no one)
    routes: tuple[Route, ...] = ()

    def recipients(
        self, nct_ids: Collection[str], found_by: Collection[str], pmids: Collection[str] = ()
    ) -> tuple[str, ...]:
        """Everyone, then each route's desk that wants this trial (known by any of `nct_ids`:
        its own, and those it was registered under before a merge) or this paper, without
        repeats."""
        chosen = dict.fromkeys(self.everyone)
        for route in self.routes:
            if (
                not route.trials.isdisjoint(nct_ids)
                or not route.search_terms.isdisjoint(found_by)
                or not route.pmids.isdisjoint(pmids)
            ):
                chosen.update(dict.fromkeys(route.recipients))
        return tuple(chosen)

    @property
    def order(self) -> tuple[str, ...]:
        """Every recipient, in the order the config names them (for the To: header)."""
        every = dict.fromkeys(self.everyone)
        for route in self.routes:
            every.update(dict.fromkeys(route.recipients))
        return tuple(every)
