# The vault's one image: the Dagster code server (the default command), and with another
# command the Dagster webserver, the daemon, run workers and the `vault` CLI. Build it with
#   docker build -t observability-vault:0.1.0 .
# (docker-compose.yml builds and tags it the same way).
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DBT_SEND_ANONYMOUS_USAGE_STATS=false \
    DAGSTER_HOME=/opt/dagster/home \
    VAULT_CONFIG=/etc/vault/vault.yaml

# A fixed, unprivileged user; its uid is what a Kubernetes securityContext names.
RUN groupadd --system --gid 10001 vault \
    && useradd --system --uid 10001 --gid vault --home-dir /app --no-create-home \
        --shell /usr/sbin/nologin vault \
    && mkdir -p /app /etc/vault "$DAGSTER_HOME/storage" \
    && chown -R vault:vault /app "$DAGSTER_HOME"

WORKDIR /app

# An editable install: orchestration/dbt/project.py finds the dbt project beside the
# package's source (/app/dbt_project), which a wheel in site-packages would not have.
# The k8s extra adds the K8sRunLauncher the Helm deployment uses.
COPY --chown=vault:vault pyproject.toml README.md ./
COPY --chown=vault:vault orchestration ./orchestration
COPY --chown=vault:vault assets ./assets
RUN pip install -e '.[k8s]'

COPY --chown=vault:vault dbt_project ./dbt_project
COPY --chown=vault:vault workspace.yaml vault.example.yaml ./
COPY --chown=vault:vault deploy ./deploy
COPY --chown=vault:vault deploy/dagster.yaml /opt/dagster/home/dagster.yaml

USER vault

# Parse the dbt project now, so the manifest ships in the image and the code server starts
# without dbt parse (ensure_manifest only parses again if a project file is newer).
RUN python -c "from orchestration.dbt.project import ensure_manifest; print(ensure_manifest())"

EXPOSE 4000

# The code server answers gRPC health checks; the webserver and daemon services set
# their own checks.
HEALTHCHECK --interval=30s --timeout=10s --start-period=120s --retries=3 \
    CMD ["dagster", "api", "grpc-health-check", "-p", "4000"]

# code-server (rather than `dagster api grpc`) keeps serving while the definitions reload
# from the UI, and reports a load error instead of exiting.
CMD ["dagster", "code-server", "start", "-m", "orchestration.definitions", \
     "-h", "0.0.0.0", "-p", "4000"]
