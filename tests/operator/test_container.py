"""The container image, built and run with the machine's container engine (podman or docker):
`--help`, then real `check` cycles inside it against the stand-in registry and an SMTP server on
the host. Skipped where no container engine exists; `.ci/run` prepares podman on CI machines."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import FINAL, ROOT, body, is_article_check, postgres_schema
from smtp import SmtpServer
from standin import StandinRegistry, set_piece

IMAGE = "trial-monitor:test"


def _answering_engine() -> tuple[str | None, str]:
    """The first container engine that answers `info` (podman first: .ci/run prepares it), and
    why none does. A `docker` program alone is only the client: without a running daemon every
    build fails, so the engine is asked, not just found."""
    tried: list[str] = []
    for name in ("podman", "docker"):
        program = shutil.which(name)
        if program is None:
            continue
        try:
            answer = subprocess.run(
                [program, "info"], capture_output=True, text=True, timeout=60, check=False
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            tried.append(f"{name} info failed ({exc})")
            continue
        if answer.returncode == 0:
            return program, ""
        last = (answer.stderr.strip().splitlines() or ["no answer"])[-1]
        tried.append(f"{name} info: {last}")
    return None, "; ".join(tried) or "no container engine installed (podman or docker)"


ENGINE, NO_ENGINE = _answering_engine()
pytestmark = pytest.mark.skipif(ENGINE is None, reason=f"no running container engine: {NO_ENGINE}")


def engine(*args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    assert ENGINE is not None
    return subprocess.run([ENGINE, *args], capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def image() -> str:
    build = ["build", "-t", IMAGE, str(ROOT)]
    if ENGINE and ENGINE.endswith("podman"):
        build[1:1] = ["--format", "docker"]  # keeps the HEALTHCHECK, which OCI images drop
    result = engine(*build, timeout=1200)
    assert result.returncode == 0, result.stderr[-3000:]
    return IMAGE


def test_the_image_answers_help(image: str) -> None:
    result = engine("run", "--rm", image, "--help")
    assert result.returncode == 0, result.stderr
    assert "check" in result.stdout and "run" in result.stdout


def test_the_image_runs_as_a_non_root_user_with_run_as_the_default(image: str) -> None:
    result = engine(
        "image",
        "inspect",
        image,
        "--format",
        "{{.Config.User}} {{json .Config.Cmd}} {{json .Config.Entrypoint}}",
    )
    assert result.stdout.split() == ["monitor", '["run"]', '["trial-monitor"]']
    healthcheck = engine("image", "inspect", image, "--format", "{{json .Config.Healthcheck}}")
    assert "health" in healthcheck.stdout


def test_a_real_check_inside_the_container_mails_a_change(
    image: str, registry: StandinRegistry, tmp_path: Path
) -> None:
    smtp = SmtpServer().start()
    config_dir, data_dir = tmp_path / "config", tmp_path / "data"
    config_dir.mkdir()
    data_dir.mkdir()
    data_dir.chmod(0o777)  # the image's user (uid 10001) writes here
    (config_dir / "config.toml").write_text(
        f"""
[registry]
base_url = "{registry.url}"
min_interval_seconds = 0

[database]
url = "sqlite:////data/monitor.db"

[watch]
trials = ["NCT04270877", "NCT02806440"]

[digest]
subject_prefix = "[LDN monitor]"

[email]
host = "127.0.0.1"
port = {smtp.port}
security = "none"
sender = "LDN monitor <monitor@example.org>"
recipients = ["editor@example.org"]
"""
    )
    run = [
        "run", "--rm", "--network", "host", "--read-only",
        "-v", f"{config_dir}:/config:ro", "-v", f"{data_dir}:/data", image,
    ]  # fmt: skip
    try:
        first = engine(*run, "check")
        assert first.returncode == 0, first.stderr
        registry.update(FINAL, lambda r: set_piece(r, "OverallStatus", "TERMINATED"))
        second = engine(*run, "check")
        assert second.returncode == 0, second.stderr
        # The first check reads the article against the registry; the second mails the change.
        [check, message] = smtp.messages
        assert is_article_check(check)
        assert "Completed → Terminated" in body(message)
        health = engine(*run, "health")
        assert health.returncode == 0, health.stdout + health.stderr
        assert (data_dir / "monitor.db").exists()
    finally:
        smtp.stop()


def test_the_container_keeps_its_state_in_postgresql_named_by_the_environment(
    image: str, registry: StandinRegistry, tmp_path: Path
) -> None:
    """What compose.yaml does: the database URL from TRIAL_MONITOR_DATABASE_URL, the outbox in /data."""
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    data_dir.chmod(0o777)
    config = tmp_path / "config.toml"
    config.write_text(
        f'[registry]\nbase_url = "{registry.url}"\nmin_interval_seconds = 0\n[watch]\ntrials = ["{FINAL}"]\n'
    )
    config.chmod(0o644)
    with postgres_schema() as url:
        run = [
            "run", "--rm", "--network", "host", "--read-only", "-e", f"TRIAL_MONITOR_DATABASE_URL={url}",
            "-v", f"{config}:/config/config.toml:ro", "-v", f"{data_dir}:/data", image,
        ]  # fmt: skip
        assert engine(*run, "check").returncode == 0
        registry.update(FINAL, lambda r: set_piece(r, "OverallStatus", "TERMINATED"))
        result = engine(*run, "check")
        assert result.returncode == 0, result.stderr
        assert "digest written to data/outbox/" in result.stdout
        status = engine(*run, "status")
        assert "Terminated" in status.stdout
    assert list((data_dir / "outbox").glob("*.eml"))


def test_the_image_stays_small(image: str) -> None:
    """Under 250 MB on the official slim base (about 125 MB): the project's layers stay under 120 MB."""
    size = int(engine("image", "inspect", image, "--format", "{{.Size}}").stdout)
    base = int(engine("image", "inspect", "python:3.12-slim", "--format", "{{.Size}}").stdout)
    added = (size - base) / 1e6
    print(
        f"image {size / 1e6:.0f} MB, base {base / 1e6:.0f} MB, added by the project {added:.0f} MB"
    )
    assert added < 120
