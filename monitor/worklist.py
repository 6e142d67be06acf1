"""The editors' commands: `findings` (each article's findings, by state), `handle`, `dismiss` and
`reopen` (where an editor puts a finding, recorded with who and why), and `verify` (each article
against the sources now, counting only the findings still open).

A finding handled or dismissed is never mailed again and `verify` no longer counts it; new
evidence is a new finding (its id hashes the evidence), so nothing new is hidden by an old
decision. Findings hang on the article's `id`, so a new title keeps them.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass

from monitor.commands import EXIT_OK, EXIT_USAGE, App, fail, open_database, outgoing
from monitor.core.errors import MonitorError, StoreError
from monitor.core.standing import FindingState, stand
from monitor.delivery.sending import cited_papers
from monitor.editorial.render import make_environment
from monitor.operator.findings import ArticleFindings, findings_json, findings_text, state_line
from monitor.run.verify import Verdict, Verification, verification_text, verify
from monitor.sources.base import Wanted
from monitor.store.findings import Findings, Kept, UnknownFindings
from monitor.store.journal import Journal

# `findings --state`: the states each choice lists.
STATES = {
    "open": (FindingState.OPEN,),
    "handled": (FindingState.HANDLED,),
    "dismissed": (FindingState.DISMISSED,),
    "all": tuple(FindingState),
}
# How a change made by one of these commands is recorded (`via`); the web view and chat links
# record their own.
VIA = "command"


def findings_command(app: App, args: argparse.Namespace) -> int:
    config = app.config
    articles = [a for a in config.articles if args.article in (None, a.id)]
    if args.article is not None and not articles:
        known = ", ".join(a.id for a in config.articles) or "none"
        fail(f"findings: no article has the id {args.article!r} (the articles: {known})")
        return EXIT_USAGE
    states = STATES[args.state]
    with open_database(config, existing=True) as engine:
        if Journal(engine).last_cycle_id() is None and not args.json:
            print("findings: no cycle has run yet, so no finding is stored")
            return EXIT_OK
        out = outgoing(app, engine)
        evidence = out.evidence(
            Wanted(
                list(dict.fromkeys(t for a in articles for t in a.trials)),
                list(dict.fromkeys(p for a in articles for p in cited_papers(a))),
            )
        )
        kept = Findings(engine)
        listed = [
            ArticleFindings(stand(a, evidence), tuple(kept.listed(a.id, states))) for a in articles
        ]
    print(findings_json(listed) if args.json else findings_text(listed, args.state))
    return EXIT_OK


def handle_command(app: App, args: argparse.Namespace) -> int:
    return _put(app, args, FindingState.HANDLED)


def dismiss_command(app: App, args: argparse.Namespace) -> int:
    return _put(app, args, FindingState.DISMISSED)


def reopen_command(app: App, args: argparse.Namespace) -> int:
    return _put(app, args, FindingState.OPEN)


def _put(app: App, args: argparse.Namespace, state: FindingState) -> int:
    """Put the findings named in `state`, every one or none: an unknown id changes nothing."""
    command = args.command
    note = (args.note or "").strip() or None
    if state is FindingState.DISMISSED and note is None:
        fail("dismiss: say why with --note (the next editor reads it)")
        return EXIT_USAGE
    by = (args.by or "").strip() or _login()
    with open_database(app.config, existing=True) as engine:
        kept = Findings(engine)
        try:
            made = kept.set_state(args.finding, state, by=by, via=VIA, note=note, now=app.clock())
        except UnknownFindings as exc:
            fail(
                f"{command}: no finding has the id {', '.join(exc.ids)} (`trial-monitor findings"
                " --state all` lists them); nothing was changed"
            )
            return EXIT_USAGE
        changed = {change.finding for change in made}
        for finding in dict.fromkeys(args.finding):
            if finding not in changed:
                print(f"{command}: {finding} is already {state.value}; left as it is")
        for change in made:
            print(f"{command}: {change.finding} {state_line(change)}")
    return EXIT_OK


def _login() -> str:
    """Who is at the keyboard, when `--by` does not say: the login name, as git and cron know
    it (a container's user may have none)."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def verify_command(app: App, args: argparse.Namespace) -> int:
    config = app.config
    if not config.articles:
        print("verify: the config names no article ([[articles]], or watch.trials)")
        return EXIT_OK

    async def run() -> Verification:
        async with app.house.readers(config) as readers:
            return await verify(config.articles, readers)

    try:
        verification = asyncio.run(run())
    except MonitorError as exc:
        fail(f"verify: could not check: {exc}")
        return Verdict.UNCHECKED
    verification = verification.set_aside(_decided(app, verification))
    env = make_environment()
    prefix = config.digest.subject_prefix
    everything = bool(getattr(args, "all", False))
    print(verification_text(verification, prefix, env, app.clock(), everything=everything))
    return verification.verdict


def _decided(app: App, verification: Verification) -> dict[str, Kept]:
    """The findings editors have handled or dismissed, of those `verify` found; none when no
    cycle has made a database (verify needs none)."""
    ids = [f.id for standing in verification.standings for f in standing.findings]
    try:
        with open_database(app.config, existing=True) as engine:
            stored = Findings(engine).of(ids)
    except StoreError:
        return {}
    return {i: k for i, k in stored.items() if k.state is not FindingState.OPEN}
