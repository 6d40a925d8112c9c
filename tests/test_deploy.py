"""The deployment files: docker-compose.yml, the Dockerfile, the Dagster instances, Helm values.

Nothing here needs a Docker engine. The compose file and the Dockerfile are read as data and
held to what a year of unattended running needs (health checks, no secret in the file, the
one image everywhere); `docker compose config` checks the compose file too when the CLI has
its compose plugin. The Dagster instance files are loaded by Dagster itself, the production
one against a real Postgres database where dagster-postgres creates its schema. The images
the files name are looked up on Docker Hub when it answers. The Helm values cannot be
rendered without `helm` and the chart; they are checked for the keys the chart reads and for
the same queue, retry and monitoring settings as deploy/dagster.yaml.
"""

import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import dagster as dg
import httpx
import psycopg
import pytest
import yaml
from conftest import scratch_database
from dockerfile_parse import DockerfileParser

from orchestration.config import load_config
from orchestration.dbt.project import ensure_manifest
from orchestration.definitions import build_definitions
from orchestration.schedules import SOURCE_TAG

REPO_ROOT = Path(__file__).resolve().parents[1]
DEPLOY = REPO_ROOT / "deploy"
PROJECT_IMAGE = "observability-vault"
PROJECT_SERVICES = {"warehouse-init", "user-code", "webserver", "daemon"}
LONG_RUNNING = {"warehouse", "dagster-db", "user-code", "webserver", "daemon"}
CONDITIONS = {"service_started", "service_healthy", "service_completed_successfully"}
# A value that only refers to a variable: ${NAME}, ${NAME:-default}, ${NAME:?message}.
REFERENCE = re.compile(r"^\$\{[A-Z][A-Z0-9_]*(:?[-?][^}]*)?\}$")
SECRET_KEY = re.compile(r"PASSWORD|SECRET|TOKEN|API_KEY")


def _yaml(path: Path) -> dict:
    return yaml.safe_load(path.read_text())


@pytest.fixture(scope="module")
def compose() -> dict:
    return _yaml(REPO_ROOT / "docker-compose.yml")


@pytest.fixture(scope="module")
def helm() -> dict:
    return _yaml(DEPLOY / "helm" / "values.yaml")


def _project_version() -> str:
    text = (REPO_ROOT / "pyproject.toml").read_text()
    return re.search(r'^version = "([^"]+)"', text, re.MULTILINE).group(1)


def _split_image(image: str) -> tuple[str, str]:
    name, _, tag = image.rpartition(":")
    return name, tag


# -- docker-compose.yml ---------------------------------------------------------------------


def test_compose_has_every_service_with_health_checks_and_healthy_dependencies(compose):
    services = compose["services"]
    assert set(services) == LONG_RUNNING | {"warehouse-init"}
    for name in LONG_RUNNING:
        check = services[name]["healthcheck"]["test"]
        assert check[0] in {"CMD", "CMD-SHELL"} and len(check) > 1, name
        assert services[name]["restart"] == "unless-stopped", name
    # The one-shot init exits when done: the others wait for its success, not its health.
    assert services["warehouse-init"]["restart"] == "no"
    for name in ("user-code",):
        assert services[name]["depends_on"]["warehouse-init"] == {
            "condition": "service_completed_successfully"
        }
    for name, service in services.items():
        for target, dependency in service.get("depends_on", {}).items():
            assert target in services, (name, target)
            assert dependency["condition"] in CONDITIONS, (name, target)
            if target in LONG_RUNNING:
                assert dependency["condition"] == "service_healthy", (name, target)
    assert services["webserver"]["depends_on"]["user-code"]["condition"] == "service_healthy"
    assert services["daemon"]["depends_on"]["user-code"]["condition"] == "service_healthy"


def test_compose_runs_the_project_image_everywhere_but_the_databases(compose, helm):
    services = compose["services"]
    for name in PROJECT_SERVICES:
        name_only, tag = _split_image(services[name]["image"])
        assert name_only == PROJECT_IMAGE, name
        assert tag == _project_version(), name
        assert services[name]["build"] == "."
    assert services["webserver"]["command"][0] == "dagster-webserver"
    assert services["daemon"]["command"][:2] == ["dagster-daemon", "run"]
    assert services["warehouse"]["image"].startswith("timescale/timescaledb:")
    assert services["dagster-db"]["image"].startswith("postgres:")
    # The same image, by name and tag, in the Helm values.
    deployment = helm["dagster-user-deployments"]["deployments"][0]
    for image in (
        deployment["image"],
        helm["dagsterWebserver"]["image"],
        helm["dagsterDaemon"]["image"],
    ):
        assert (image["repository"], image["tag"]) == (PROJECT_IMAGE, _project_version())


def _environment(service: dict) -> dict[str, str]:
    env = service.get("environment", {})
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {key: str(value) for key, value in env.items()}


def test_compose_holds_no_secret_only_references_to_env(compose):
    checked = 0
    for name, service in compose["services"].items():
        for key, value in _environment(service).items():
            if SECRET_KEY.search(key):
                assert REFERENCE.match(value), f"{name}: {key} is not a ${{...}} reference"
                checked += 1
            if "://" in value and "@" in value:
                password = urlsplit(value).password
                assert password is not None, f"{name}: {key} has credentials but no password"
                assert REFERENCE.match(password), f"{name}: {key} has a literal password"
                checked += 1
    assert checked == 10  # the admin, owner, ingest, reader and Dagster passwords, where used
    # The required ones make compose refuse to start without them.
    text = (REPO_ROOT / "docker-compose.yml").read_text()
    for variable in ("WAREHOUSE_ADMIN_PASSWORD", "DAGSTER_PG_PASSWORD", "VAULT_OWNER_PASSWORD"):
        assert f"${{{variable}:?" in text
        assert re.search(rf"^{variable}=", (REPO_ROOT / ".env.example").read_text(), re.M)


def test_compose_connects_the_vault_as_owner_and_init_as_admin(compose):
    services = compose["services"]
    owner = urlsplit(_environment(services["user-code"])["VAULT_DATABASE_URL"])
    admin = urlsplit(_environment(services["warehouse-init"])["VAULT_DATABASE_URL"])
    assert (owner.username, owner.hostname, owner.port, owner.path) == (
        "vault_owner",
        "warehouse",
        5432,
        "/vault",
    )
    assert (admin.username, admin.hostname) == ("postgres", "warehouse")
    assert services["warehouse"]["environment"]["POSTGRES_DB"] == "vault"
    assert services["warehouse-init"]["command"][-1] == "vault db roles && vault db init"


def test_compose_declares_its_volumes_and_mounts_config_read_only(compose):
    declared = set(compose["volumes"])
    used = set()
    for name, service in compose["services"].items():
        for volume in service.get("volumes", []):
            if isinstance(volume, str):
                source = volume.split(":", 1)[0]
                if not source.startswith((".", "/")):
                    used.add(source)
            elif volume["type"] == "volume":
                used.add(volume["source"])
            else:
                assert volume["read_only"] is True, (name, volume["target"])
    assert used == declared == {"warehouse", "dagster-db", "dagster-storage"}
    mounts = {v["target"]: v for v in compose["services"]["user-code"]["volumes"] if "target" in v}
    config = mounts["/etc/vault/vault.yaml"]
    assert config["bind"]["create_host_path"] is False  # a missing vault.yaml is an error
    assert _environment(compose["services"]["user-code"])["VAULT_CONFIG"] == config["target"]
    # Published ports listen on loopback unless .env says otherwise.
    assert compose["services"]["warehouse"]["ports"] == ["127.0.0.1:${WAREHOUSE_PORT:-5432}:5432"]
    assert compose["services"]["webserver"]["ports"][0].startswith("${DAGSTER_UI_BIND:-127.0.0.1}")


def _docker_compose() -> list[str] | None:
    docker = shutil.which("docker")
    if docker is None:
        return None
    probe = subprocess.run([docker, "compose", "version"], capture_output=True, check=False)
    return [docker, "compose"] if probe.returncode == 0 else None


def test_docker_compose_config_accepts_the_file(tmp_path):
    command = _docker_compose()
    if command is None:
        pytest.skip("no `docker compose` here (no docker CLI, or no compose plugin)")
    env_file = tmp_path / ".env"
    env_file.write_text(
        "".join(
            f"{name}=x{index}\n"
            for index, name in enumerate(
                ["WAREHOUSE_ADMIN_PASSWORD", "DAGSTER_PG_PASSWORD", "VAULT_OWNER_PASSWORD"]
            )
        )
    )
    result = subprocess.run(
        [*command, "--env-file", str(env_file), "-f", "docker-compose.yml", "config", "-q"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr


# -- Dockerfile -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def dockerfile() -> list[dict]:
    parser = DockerfileParser(path=str(REPO_ROOT / "Dockerfile"))
    return parser.structure


def _instructions(structure: list[dict], name: str) -> list[str]:
    return [item["value"] for item in structure if item["instruction"] == name]


def test_dockerfile_is_python_311_slim_non_root_with_a_health_check(dockerfile):
    (base,) = _instructions(dockerfile, "FROM")
    assert base.startswith("python:3.11-")
    users = _instructions(dockerfile, "USER")
    assert users and users[-1] not in {"root", "0"}
    # The last USER comes before the code server starts and before dbt parses the project.
    last_user = max(i for i, item in enumerate(dockerfile) if item["instruction"] == "USER")
    parse = [i for i, item in enumerate(dockerfile) if "ensure_manifest" in item["value"]]
    assert parse and parse[0] > last_user
    (healthcheck,) = _instructions(dockerfile, "HEALTHCHECK")
    assert "grpc-health-check" in healthcheck and "4000" in healthcheck
    (cmd,) = _instructions(dockerfile, "CMD")
    assert "code-server" in cmd and "orchestration.definitions" in cmd and '"4000"' in cmd
    assert "4000" in _instructions(dockerfile, "EXPOSE")


def test_dockerfile_copies_only_paths_that_exist_and_are_not_ignored(dockerfile):
    ignored = {
        line.strip()
        for line in (REPO_ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    sources = []
    for value in _instructions(dockerfile, "COPY"):
        parts = [part for part in value.split() if not part.startswith("--")]
        sources += parts[:-1]
    assert {"pyproject.toml", "orchestration", "assets", "dbt_project"} <= set(sources)
    for source in sources:
        assert (REPO_ROOT / source).exists(), source
        assert source not in ignored, source
    assert {".venv", ".vault", ".git", ".env", "dbt_project/target"} <= ignored


# -- Images on their registries -------------------------------------------------------------


def _public_images(compose: dict, helm: dict, dockerfile: list[dict]) -> set[str]:
    images = {service["image"] for service in compose["services"].values()}
    images |= set(_instructions(dockerfile, "FROM"))
    for section in ("dagsterWebserver", "dagsterDaemon"):
        images.add("{repository}:{tag}".format(**helm[section]["image"]))
    for deployment in helm["dagster-user-deployments"]["deployments"]:
        images.add("{repository}:{tag}".format(**deployment["image"]))
    # The project's own image is built here and pushed to a registry of the operator's.
    return {image for image in images if not image.startswith(f"{PROJECT_IMAGE}:")}


def test_named_images_exist_on_docker_hub(compose, helm, dockerfile):
    images = _public_images(compose, helm, dockerfile)
    assert len(images) == 3  # TimescaleDB, Postgres, the Python base
    with httpx.Client(timeout=10) as client:
        try:
            client.get("https://hub.docker.com/v2/")
        except httpx.TransportError as error:
            pytest.skip(f"Docker Hub cannot be reached from here ({error}); tags not checked")
        for image in sorted(images):
            name, tag = _split_image(image)
            namespace, _, repository = name.rpartition("/")
            response = client.get(
                f"https://hub.docker.com/v2/namespaces/{namespace or 'library'}"
                f"/repositories/{repository}/tags/{tag}"
            )
            assert response.status_code == 200, f"{image}: {response.status_code}"


# -- Dagster instances ----------------------------------------------------------------------


def _queue_settings(instance: dg.DagsterInstance) -> dict:
    concurrency = instance.get_concurrency_config()
    queue = concurrency.run_queue_config
    return {
        "max_concurrent_runs": queue.max_concurrent_runs,
        "tag_concurrency_limits": list(queue.tag_concurrency_limits),
        "pool_default_limit": concurrency.pool_config.default_pool_limit,
        "freshness": instance.freshness_enabled,
        "run_retries": (instance.run_retries_enabled, instance.run_retries_max_retries),
        "run_monitoring": (
            instance.run_monitoring_enabled,
            instance.run_monitoring_start_timeout_seconds,
            instance.run_monitoring_cancel_timeout_seconds,
            instance.run_monitoring_poll_interval_seconds,
        ),
    }


EXPECTED_LIMITS = [
    {"key": SOURCE_TAG, "value": {"applyLimitPerUniqueValue": True}, "limit": 1},
]


@pytest.fixture
def instance_from() -> Iterator:
    opened: list[dg.DagsterInstance] = []

    def load(source: Path, home: Path) -> dg.DagsterInstance:
        home.mkdir(parents=True, exist_ok=True)
        shutil.copy(source, home / "dagster.yaml")
        instance = dg.DagsterInstance.from_config(str(home))
        opened.append(instance)
        return instance

    yield load
    for instance in opened:
        instance.dispose()


def test_local_instance_queues_runs_per_source_retries_and_monitors(tmp_path, instance_from):
    instance = instance_from(DEPLOY / "dagster.local.yaml", tmp_path / "home")
    assert type(instance.run_coordinator).__name__ == "QueuedRunCoordinator"
    assert type(instance.run_launcher).__name__ == "DefaultRunLauncher"
    assert type(instance.run_storage).__name__ == "SqliteRunStorage"
    assert _queue_settings(instance) == {
        "max_concurrent_runs": 4,
        "tag_concurrency_limits": EXPECTED_LIMITS,
        "pool_default_limit": 1,
        "freshness": True,
        "run_retries": (True, 2),
        "run_monitoring": (True, 300, 300, 120),
    }


def test_production_instance_creates_its_schema_in_postgres(
    tmp_path, instance_from, server_url, monkeypatch
):
    with scratch_database(server_url) as url:
        parts = urlsplit(url)
        monkeypatch.setenv("DAGSTER_PG_HOST", parts.hostname)
        monkeypatch.setenv("DAGSTER_PG_PORT", str(parts.port or 5432))
        monkeypatch.setenv("DAGSTER_PG_USER", parts.username)
        monkeypatch.setenv("DAGSTER_PG_PASSWORD", parts.password or "")
        monkeypatch.setenv("DAGSTER_PG_DB", parts.path.lstrip("/"))
        instance = instance_from(DEPLOY / "dagster.yaml", tmp_path / "home")
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        # psycopg2, not psycopg 3 (on which the daemon's freshness queries fail).
        assert instance.run_storage.postgres_url.startswith("postgresql+psycopg2://")
        assert type(instance.event_log_storage).__name__ == "PostgresEventLogStorage"
        assert type(instance.schedule_storage).__name__ == "PostgresScheduleStorage"
        assert instance.get_runs() == []
        local = instance_from(DEPLOY / "dagster.local.yaml", tmp_path / "local")
        assert _queue_settings(instance) == _queue_settings(local)
        with psycopg.connect(url) as conn:
            tables = {
                row[0]
                for row in conn.execute(
                    "select table_name from information_schema.tables where table_schema = 'public'"
                )
            }
        instance.dispose()
    assert {"runs", "event_logs", "jobs", "job_ticks"} <= tables


def test_collect_jobs_carry_the_source_tag_the_queue_limits(tmp_path):
    ensure_manifest()
    (tmp_path / "focus").mkdir()
    config = tmp_path / "vault.yaml"
    config.write_text(
        "sources:\n  anthropic: {}\n  openai: {}\n"
        f"  focus:\n    locations:\n      - uri: {tmp_path / 'focus'}\n"
    )
    defs = build_definitions(load_config(config))
    tags = {job.name: dict(job.tags) for job in defs.jobs}
    assert tags["collect_anthropic"] == {SOURCE_TAG: "anthropic"}
    assert tags["collect_openai"] == {SOURCE_TAG: "openai"}
    assert tags["collect_focus_files"] == {SOURCE_TAG: "focus"}
    assert SOURCE_TAG not in tags["transform"]
    limits = _yaml(DEPLOY / "dagster.yaml")["concurrency"]["runs"]["tag_concurrency_limits"]
    assert [limit["key"] for limit in limits] == [SOURCE_TAG]


# -- workspace.yaml and Helm values ---------------------------------------------------------


def test_workspace_names_the_code_server_compose_runs(compose, dockerfile):
    (location,) = _yaml(DEPLOY / "workspace.yaml")["load_from"]
    server = location["grpc_server"]
    assert server["host"] in compose["services"]
    assert server["host"] == "user-code"
    (cmd,) = _instructions(dockerfile, "CMD")
    assert f'"{server["port"]}"' in cmd
    assert str(server["port"]) in compose["services"]["user-code"]["healthcheck"]["test"]


def test_helm_values_launch_k8s_runs_with_external_postgres_and_secrets(helm):
    assert helm["runLauncher"]["type"] == "K8sRunLauncher"
    launcher = helm["runLauncher"]["config"]["k8sRunLauncher"]
    assert {"requests", "limits"} <= set(launcher["resources"])
    assert helm["postgresql"]["enabled"] is False
    assert helm["postgresql"]["postgresqlHost"]
    assert "postgresqlPassword" not in helm["postgresql"]
    assert helm["generatePostgresqlPasswordSecret"] is False
    assert helm["global"]["postgresqlSecretName"]
    deployment = helm["dagster-user-deployments"]["deployments"][0]
    assert deployment["codeServerArgs"] == ["-m", "orchestration.definitions"]
    assert deployment["port"] == 4000
    secrets = {secret["name"] for secret in deployment["envSecrets"]}
    assert "vault-warehouse" in secrets
    assert secrets == {secret["name"] for secret in launcher["envSecrets"]}


def test_helm_queue_retries_and_monitoring_equal_the_compose_instance(helm):
    instance = _yaml(DEPLOY / "dagster.yaml")
    daemon = helm["dagsterDaemon"]
    coordinator = daemon["runCoordinator"]
    assert coordinator["enabled"] is True
    assert coordinator["type"] == "QueuedRunCoordinator"
    assert "config" not in coordinator  # the chart refuses limits in both places
    runs, pools = helm["concurrency"]["runs"], helm["concurrency"]["pools"]
    assert runs["tagConcurrencyLimits"] == instance["concurrency"]["runs"]["tag_concurrency_limits"]
    assert runs["tagConcurrencyLimits"] == EXPECTED_LIMITS
    assert runs["maxConcurrentRuns"] == instance["concurrency"]["runs"]["max_concurrent_runs"]
    assert pools["defaultLimit"] == instance["concurrency"]["pools"]["default_limit"]
    assert daemon["runRetries"] == {
        "enabled": instance["run_retries"]["enabled"],
        "maxRetries": instance["run_retries"]["max_retries"],
    }
    monitoring = instance["run_monitoring"]
    assert daemon["runMonitoring"] == {
        "enabled": monitoring["enabled"],
        "startTimeoutSeconds": monitoring["start_timeout_seconds"],
        "cancelTimeoutSeconds": monitoring["cancel_timeout_seconds"],
        "pollIntervalSeconds": monitoring["poll_interval_seconds"],
    }
