"""config.toml: the shipped file loads, and every kind of mistake is one line naming key and value."""

from __future__ import annotations

import re
import textwrap
import tomllib
from dataclasses import fields
from pathlib import Path

import pytest

from monitor.cli import main
from monitor.core.errors import ConfigError
from monitor.core.importance import default_importance
from monitor.core.models import Category, Importance
from monitor.delivery.email.settings import EmailConfig, EmailSettings
from monitor.house import load_config, parse_config
from monitor.sources.ctgov.settings import RegistryConfig
from monitor.sources.pubmed.settings import PubmedConfig

ROOT = Path(__file__).resolve().parents[2]

WATCH = """
[watch]
trials = ["NCT04270877"]
"""
EMAIL = (
    WATCH
    + """
[email]
host = "smtp.example.org"
sender = "LDN monitor <monitor@example.org>"
recipients = ["editor@example.org"]
"""
)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def test_the_shipped_config_names_the_ldn_article_and_an_ldn_search() -> None:
    config = load_config(ROOT / "config.toml", environ={})
    [article] = config.articles
    assert article.trials == ("NCT04270877", "NCT02806440")
    assert article.pmids == ("32068870", "32845365", "30248938")
    assert config.cited_trials == ("NCT04270877", "NCT02806440")
    assert len(config.claims) == 7 and set(article.passages) == set(article.trials)
    assert [s.term for s in config.watch.searches] == ["low dose naltrexone"]
    assert config.need(RegistryConfig).base_url == "https://clinicaltrials.gov/api/v2"
    assert config.database_url == "sqlite:///data/monitor.db"
    assert config.need(EmailSettings).email is None
    assert config.need(EmailSettings).outbox_dir == Path("data/outbox")


def test_claims_and_importance_are_read(tmp_path: Path) -> None:
    text = """
[watch]
trials = ["NCT04270877"]
[[article.claims]]
trial = "nct04270877"
status = "completed"
enrollment = 99
phase = ["PHASE2", "PHASE3"]
results_posted = false
[digest.importance]
new_trial = "medium"
"""
    config = load_config(write(tmp_path, text), environ={})
    assert [(c.field, c.expected) for c in config.claims] == [
        ("status", "COMPLETED"),
        ("enrollment", "99"),
        ("phase", "PHASE2|PHASE3"),
        ("results_posted", "false"),
    ]
    assert config.digest.importance == {"new_trial": "medium"}


def test_a_file_with_only_something_to_watch_means_the_embedded_defaults(
    tmp_path: Path,
) -> None:
    config = load_config(write(tmp_path, WATCH), environ={})
    assert config.database_url == "sqlite:///data/monitor.db"
    assert config.need(RegistryConfig).page_size == 1000
    assert config.cited_trials == ("NCT04270877",)


def test_a_configuration_that_watches_nothing_is_an_error_saying_so(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="watches nothing: give \\[\\[articles\\]\\]"):
        load_config(write(tmp_path, ""), environ={})


def test_email_defaults_follow_the_security_mode(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, EMAIL + 'security = "tls"\n'), environ={})
    email = config.need(EmailSettings).email
    assert email is not None
    assert (email.port, email.security) == (465, "tls")


def test_password_comes_from_a_file_named_in_the_environment(tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_text("s3cret-pw\n")
    path = write(tmp_path, EMAIL + 'username = "monitor"\n')
    config = load_config(path, environ={"TRIAL_MONITOR_SMTP_PASSWORD_FILE": str(secret)})
    email = config.need(EmailSettings).email
    assert email is not None
    assert email.password == "s3cret-pw"
    assert "s3cret-pw" not in repr(config)


ERRORS = [
    # (config text, environment, words the one-line error must contain)
    ("colour = 1", {}, "unknown key colour"),
    ('[registry]\nbase_urll = "x"', {}, "unknown key registry.base_urll"),
    ('[registry]\nbase_url = "ftp://x"', {}, "registry.base_url = 'ftp://x'"),
    ("[registry]\npage_size = 5000", {}, "registry.page_size = 5000 is not between 1 and 1000"),
    (
        '[registry]\ntimeout_seconds = "soon"',
        {},
        "registry.timeout_seconds = 'soon' is not a number",
    ),
    ("[registry]\nmax_attempts = true", {}, "registry.max_attempts = True is not a whole number"),
    ('[database]\nurl = "mysql://x"', {}, "database.url = 'mysql://x'"),
    ('[database]\nurl = "postgresql://u:hunter2@db/x"\nx = 1', {}, "unknown key database.x"),
    ('[watch]\ntrials = ["NCT0427087"]', {}, "watch.trials[0] = 'NCT0427087' is not an NCT id"),
    ('[watch]\ntrials = ["NCT04270877", 42]', {}, "watch.trials[1] = 42 is not an NCT id"),
    ('[watch]\ntrials = "NCT04270877"', {}, "watch.trials = 'NCT04270877' is not a list"),
    # The API's pattern has no room for an all-zero id: one would fail every batch it is in.
    ('[watch]\ntrials = ["NCT00000000"]', {}, "watch.trials[0] = 'NCT00000000' is not an NCT id"),
    (
        '[[watch.searches]]\nname = "LDN"\nterm = "AREA[Condition(fibromyalgia"',
        {},
        "watch.searches[0].term = 'AREA[Condition(fibromyalgia' has a '(' that is never closed",
    ),
    (
        '[[watch.searches]]\nname = "LDN"\nterm = "naltrexone)"',
        {},
        "has a ')' without its opening partner",
    ),
    ('[[watch.searches]]\nname = "LDN"', {}, "watch.searches[0].term is missing"),
    (
        '[[watch.searches]]\nname = "LDN"\nterm = "x"\nterms = "y"',
        {},
        "unknown key watch.searches[0].terms",
    ),
    (
        '[[watch.searches]]\nname = "a"\nterm = "ldn"\n[[watch.searches]]\nname = "b"\nterm = "ldn"',
        {},
        "watch.searches[1].term = 'ldn' repeats an earlier search",
    ),
    ('[email]\nsender = "a@b.org"\nrecipients = ["c@d.org"]', {}, "email.host is missing"),
    (EMAIL + 'security = "ssl"', {}, "email.security = 'ssl' is not one of none, starttls, tls"),
    (EMAIL + "port = 70000", {}, "email.port = 70000 is not between 1 and 65535"),
    (
        EMAIL.replace("monitor@example.org", "monitor-at-example"),
        {},
        "email.sender = 'LDN monitor <monitor-at-example>'",
    ),
    (
        EMAIL.replace('["editor@example.org"]', '["editor@example"]'),
        {},
        "email.recipients[0] = 'editor@example'",
    ),
    (EMAIL.replace('["editor@example.org"]', "[]"), {}, "email.recipients is empty"),
    (
        EMAIL.replace('["editor@example.org"]', '["a@b.org\\r\\nBcc: x@y.org"]'),
        {},
        "email.recipients[0]",
    ),
    (
        EMAIL + 'username = "monitor"',
        {},
        "email.username is set but neither TRIAL_MONITOR_SMTP_PASSWORD",
    ),
    (
        EMAIL,
        {"TRIAL_MONITOR_SMTP_PASSWORD": "pw"},
        "TRIAL_MONITOR_SMTP_PASSWORD is set but email.username is not",
    ),
    (
        EMAIL + 'username = "m"',
        {"TRIAL_MONITOR_SMTP_PASSWORD": "pw", "TRIAL_MONITOR_SMTP_PASSWORD_FILE": "/x"},
        "both TRIAL_MONITOR_SMTP_PASSWORD and TRIAL_MONITOR_SMTP_PASSWORD_FILE are set",
    ),
    (
        EMAIL + 'username = "m"',
        {"TRIAL_MONITOR_SMTP_PASSWORD_FILE": "/nonexistent/pw"},
        "TRIAL_MONITOR_SMTP_PASSWORD_FILE = '/nonexistent/pw' cannot be read",
    ),
    (
        EMAIL + 'ca_file = "/nonexistent/ca.pem"',
        {},
        "email.ca_file = '/nonexistent/ca.pem' is not a readable file",
    ),
    (
        '[digest]\nsubject_prefix = "a\\nb"',
        {},
        "digest.subject_prefix = 'a\\nb' contains a line break",
    ),
    ("[registry\n", {}, "is not valid TOML"),
    (
        '[[article.claims]]\ntrial = "NCT04270877"\nstatus = "COMPLETED"',
        {},
        "article.claims name NCT04270877, which watch.trials does not list",
    ),
    (
        '[watch]\ntrials = ["NCT04270877"]\n[[article.claims]]\ntrial = "NCT04270877"\nstatus = "DONE"',
        {},
        "article.claims[0].status = 'DONE' is not a registry status",
    ),
    (
        '[watch]\ntrials = ["NCT04270877"]\n[[article.claims]]\ntrial = "NCT04270877"\nenrollment = "99"',
        {},
        "article.claims[0].enrollment = '99' is not a whole number",
    ),
    (
        '[watch]\ntrials = ["NCT04270877"]\n[[article.claims]]\ntrial = "NCT04270877"\nphase = "2"',
        {},
        "article.claims[0].phase = '2' is not a phase like PHASE2",
    ),
    (
        '[watch]\ntrials = ["NCT04270877"]\n[[article.claims]]\ntrial = "NCT04270877"\nparticipants = 9',
        {},
        "unknown key article.claims[0].participants",
    ),
    (
        '[watch]\ntrials = ["NCT04270877"]\n[[article.claims]]\ntrial = "NCT04270877"',
        {},
        "article.claims[0] states nothing",
    ),
    (
        '[digest.importance]\nnew_trial = "urgent"',
        {},
        "digest.importance.new_trial = 'urgent' is not high, medium or low",
    ),
    ('[digest.importance]\nnews = "high"', {}, "digest.importance.news is not a category"),
]


@pytest.mark.parametrize(("text", "environ", "message"), ERRORS, ids=[e[2][:40] for e in ERRORS])
def test_each_configuration_mistake_is_named(
    tmp_path: Path, text: str, environ: dict[str, str], message: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, text), environ=environ)
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_the_database_url_and_its_password_can_come_from_the_environment(tmp_path: Path) -> None:
    secret = tmp_path / "db-password"
    secret.write_text("p@ss/word\n")
    environ = {
        "TRIAL_MONITOR_DATABASE_URL": "postgresql+psycopg://monitor@db:5432/monitor",
        "TRIAL_MONITOR_DATABASE_PASSWORD_FILE": str(secret),
    }
    config = load_config(
        write(tmp_path, WATCH + '[database]\nurl = "sqlite:///x.db"'), environ=environ
    )
    assert config.database_url == "postgresql+psycopg://monitor:p%40ss%2Fword@db:5432/monitor"
    assert config.secrets == ("p@ss/word",)
    with pytest.raises(
        ConfigError, match=r"TRIAL_MONITOR_DATABASE_PASSWORD is set but database\.url"
    ):
        load_config(write(tmp_path, ""), environ={"TRIAL_MONITOR_DATABASE_PASSWORD": "x"})


def test_a_database_password_never_reaches_an_error() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config({"database": {"url": "mysql://u:hunter2@db/x"}}, {}, "test")
    assert "hunter2" not in str(caught.value)


def test_the_command_exits_2_with_one_line_for_a_bad_config(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, '[watch]\ntrials = ["NCT123"]')
    assert main(["--config", str(path), "check"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == (
        "trial-monitor: configuration error: watch.trials[0] = 'NCT123' is not an NCT id like NCT04270877"
    )


def test_a_missing_config_file_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--config", str(tmp_path / "nope.toml"), "check"]) == 2
    assert "nope.toml does not exist" in capsys.readouterr().err


def test_the_config_path_comes_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, "typo = 1")
    monkeypatch.setenv("TRIAL_MONITOR_CONFIG", str(path))
    assert main(["check"]) == 2
    assert "unknown key typo" in capsys.readouterr().err


def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["frobnicate"])
    assert caught.value.code == 2


def documented(pattern: str, page: str) -> list[tuple[str, str]]:
    text = (ROOT / "docs" / page).read_text(encoding="utf-8")
    return re.findall(pattern, text, re.MULTILINE)


def test_the_configuration_page_states_each_default_as_the_settings_declare_it() -> None:
    # The least that watches something: an article that cites one paper.
    config = parse_config({"articles": [{"title": "x", "pmids": ["1"]}]}, {}, "defaults")
    rows = documented(r"^\| `([a-z_]+(?:\.[a-z_]+)*)` \| `([^`|]+)` \|", "configuration.md")
    assert len(rows) > 30
    for key, literal in rows:
        said = tomllib.loads(f"value = {literal}")["value"]
        section, _, name = key.rpartition(".")
        if section == "email":  # no [email] table in the defaults: its fields' own defaults
            actual = next(f.default for f in fields(EmailConfig) if f.name == name)
        elif key in ("article.claims", "routes"):
            actual = config.claims if key == "article.claims" else config.routes
        else:
            # Each source's section is its own settings object, found by its type.
            wings = {"registry": RegistryConfig, "pubmed": PubmedConfig}
            holder = config.need(wings[section]) if section in wings else getattr(config, section)
            actual = getattr(holder, name)
        assert (list(actual) if isinstance(actual, tuple) else actual) == said, key


def test_the_editors_page_states_each_importance_as_the_rules_give_it() -> None:
    rows = documented(r"^\| `([a-z_]+)` \| (high|medium|low) \|", "editors.md")
    assert {Category(c): Importance(level) for c, level in rows} == {
        c: default_importance(c) for c in Category
    }


def test_pubmed_settings_are_read_and_its_key_comes_only_from_the_environment(
    tmp_path: Path,
) -> None:
    path = write(
        tmp_path,
        WATCH
        + """
[pubmed]
tool = "ldn-monitor"
email = "editors@example.org"
max_results = 500
""",
    )
    secret = tmp_path / "ncbi.key"
    secret.write_text("0123456789abcdef0123456789abcdef01\n")
    config = load_config(path, environ={"TRIAL_MONITOR_NCBI_API_KEY_FILE": str(secret)})
    assert config.section(PubmedConfig) is not None
    assert config.need(PubmedConfig).base_url == "https://eutils.ncbi.nlm.nih.gov/entrez/eutils"
    assert (config.need(PubmedConfig).tool, config.need(PubmedConfig).email) == (
        "ldn-monitor",
        "editors@example.org",
    )
    assert config.need(PubmedConfig).max_results == 500
    assert config.need(PubmedConfig).api_key == "0123456789abcdef0123456789abcdef01"
    # A key raises NCBI's limit from 3 requests a second to 10: the client keeps to 8 and 2.
    assert config.need(PubmedConfig).min_interval_seconds >= 1 / 8
    assert "0123456789abcdef0123456789abcdef01" in config.secrets  # so logs blank it out
    keyless = load_config(path, environ={})
    assert keyless.section(PubmedConfig) is not None
    assert (
        keyless.need(PubmedConfig).api_key is None
        and keyless.need(PubmedConfig).min_interval_seconds >= 1 / 2
    )


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ('api_key = "sekrit-ncbi-key"', "pubmed.api_key is set in the config file"),
        ('tool = "ldn monitor"', "pubmed.tool = 'ldn monitor' must be one word"),
        ('email = "nobody"', "pubmed.email = 'nobody' is not an email address"),
        ('base_url = "ftp://eutils"', "pubmed.base_url = 'ftp://eutils' is not an http"),
        ("max_results = 10000", "pubmed.max_results"),
    ],
)
def test_pubmed_mistakes_are_one_line_and_never_show_the_key(
    tmp_path: Path, section: str, message: str
) -> None:
    path = write(tmp_path, WATCH + "\n[pubmed]\n" + section + "\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path, environ={})
    assert message in str(caught.value)
    assert "sekrit" not in str(caught.value) and "\n" not in str(caught.value)


def test_the_literature_side_is_on_when_a_paper_or_a_literature_search_is_watched(
    tmp_path: Path,
) -> None:
    assert load_config(write(tmp_path, WATCH), environ={}).section(PubmedConfig) is None
    config = load_config(
        write(
            tmp_path,
            """
[watch]
pmids = ["32068870", " 32068870 "]

[[watch.literature]]
name = "LDN trials"
term = "low dose naltrexone AND (randomized controlled trial[pt] OR meta-analysis[pt])"
""",
        ),
        environ={},
    )
    assert config.section(PubmedConfig) is not None  # its defaults
    assert config.watch.pmids == ("32068870",)
    assert config.cited_pmids == ("32068870",)
    assert [s.name for s in config.watch.literature] == ["LDN trials"]
    shipped = load_config(ROOT / "config.toml", environ={})
    assert shipped.section(PubmedConfig) is not None  # the LDN article cites papers
    assert shipped.cited_pmids == ("32068870", "32845365", "30248938")


@pytest.mark.parametrize(
    ("watch", "message"),
    [
        ('pmids = ["PMID32068870"]', "watch.pmids[0] = 'PMID32068870' is not a PubMed id"),
        (
            '[[watch.literature]]\nname = "x"\nterm = "(naltrexone"',
            "watch.literature[0].term = '(naltrexone' has a '(' that is never closed: PubMed would refuse it",
        ),
        ('[[watch.literature]]\nname = ""\nterm = "naltrexone"', "needs a non-empty name"),
    ],
)
def test_literature_mistakes_are_one_line_naming_the_key(
    tmp_path: Path, watch: str, message: str
) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_config(write(tmp_path, "[watch]\n" + watch + "\n"), environ={})
