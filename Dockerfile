# trial-monitor as a service: `run` by default, the config at /config/config.toml, state in /data.
# Build: podman build -t trial-monitor .   (or docker build)

FROM python:3.12-slim AS build
WORKDIR /src
# Only what the wheel needs, so that editing tests or docs does not invalidate this layer.
COPY pyproject.toml README.md ./
COPY monitor ./monitor
COPY templates ./templates
# The service needs no installer at run time: pip and setuptools leave the venv (about 25 MB).
RUN python -m venv /opt/trial-monitor \
 && /opt/trial-monitor/bin/pip install --no-cache-dir --quiet --upgrade pip \
 && /opt/trial-monitor/bin/pip install --no-cache-dir --quiet ".[postgres]" \
 && /opt/trial-monitor/bin/pip uninstall --yes --quiet pip setuptools

FROM python:3.12-slim
RUN useradd --system --uid 10001 --home-dir /data --shell /usr/sbin/nologin monitor \
 && mkdir -p /data /config \
 && chown monitor:monitor /data
COPY --from=build /opt/trial-monitor /opt/trial-monitor
COPY config.toml /config/config.toml
ENV PATH="/opt/trial-monitor/bin:$PATH" \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    TRIAL_MONITOR_CONFIG=/config/config.toml
# The shipped config keeps its database and outbox in data/ relative to the working folder.
WORKDIR /
USER monitor
VOLUME ["/data"]
HEALTHCHECK --interval=5m --timeout=30s --start-period=1m --retries=2 \
    CMD ["trial-monitor", "health"]
ENTRYPOINT ["trial-monitor"]
CMD ["run"]
