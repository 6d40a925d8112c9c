"""The Mixpanel collector through the real client code, against the sandbox over HTTP.

The seam: Mixpanel's Query API segmentation report is played by
`orchestration/sandbox/mixpanel_api.py` on the loopback sandbox server (service account
basic auth, project_id, Mixpanel's answer and error shapes); the client reaches it through
`HttpSource` as it would mixpanel.com. The warehouse is a real PostgreSQL, and dbt builds
fct_metrics from what was loaded.
"""

import logging
from base64 import b64decode
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from conftest import build_models_then_test

from assets.mixpanel import mixpanel_event_counts
from orchestration.clients.mixpanel import MixpanelClient
from orchestration.collectors.framework import run_collector
from orchestration.collectors.http import MissingCredentialError, SourceError
from orchestration.config import ConfigError, load_config
from orchestration.dbt.assets import ensure_sources_exist
from orchestration.sandbox import mixpanel_api
from orchestration.sandbox.company import build_company
from orchestration.sandbox.routing import Response, Route
from orchestration.sandbox.server import SandboxServer
from orchestration.warehouse.connection import WarehouseResource

USERNAME = "vault-tests.4f2a91.mp-service-account"
SECRET = "RECOGNISABLE-mixpanel-secret"
DAY = datetime(2026, 11, 7, tzinfo=UTC)  # a Saturday
LOG = logging.getLogger("test")
EVENTS = list(mixpanel_api.EVENTS)


@pytest.fixture(scope="module")
def company():
    return build_company(7)


@pytest.fixture
def sandbox(company):
    with SandboxServer(company) as server:
        yield server


def _client(url, **options):
    options.setdefault("events", EVENTS)
    return MixpanelClient(
        base_url=url,
        project_id=mixpanel_api.PROJECT_ID,
        username=options.pop("username", USERNAME),
        secret=options.pop("secret", SECRET),
        **options,
    )


def _collect(database_url, client, *, run_id="r1", day=DAY):
    result, _ = run_collector(
        mixpanel_event_counts,
        WarehouseResource(url=database_url),
        start=day,
        end=day + timedelta(days=1),
        partition_key=day.date().isoformat(),
        run_id=run_id,
        log=LOG,
        resources={"mixpanel": client},
    )
    return result


def _stored(conn):
    return {
        event: values
        for event, values in conn.execute(
            "select record ->> 'event', record -> 'data' -> 'values' from raw.mixpanel_event_counts"
        ).fetchall()
    }


def test_each_event_is_one_query_split_by_the_configured_property(
    conn, database_url, sandbox, company
):
    result = _collect(database_url, _client(sandbox.url, property_name="feature"))
    assert result.rows == len(EVENTS)
    day = DAY.date().isoformat()
    stored = _stored(conn)
    for event in EVENTS:
        expected = mixpanel_api.segmentation(company, event, DAY.date(), "feature")
        assert {value: counts[day] for value, counts in stored[event].items()} == expected
    assert stored["Session Started"].keys() == {mixpanel_api.UNDEFINED}, (
        "sessions carry no feature: Mixpanel counts them under undefined"
    )
    (first, *_) = sandbox.requests
    assert first.query["on"] == ('properties["feature"]',)
    assert first.query["project_id"] == (str(mixpanel_api.PROJECT_ID),)
    assert first.query["from_date"] == first.query["to_date"] == (day,)
    scheme, encoded = first.headers["authorization"].split(" ")
    assert scheme == "Basic" and b64decode(encoded).decode() == f"{USERNAME}:{SECRET}"


def test_without_a_property_each_event_has_its_daily_total(conn, database_url, sandbox, company):
    _collect(database_url, _client(sandbox.url, events=["Feature Used"]))
    day = DAY.date().isoformat()
    total = mixpanel_api.segmentation(company, "Feature Used", DAY.date(), None)
    assert _stored(conn) == {"Feature Used": {"Feature Used": {day: total["Feature Used"]}}}
    assert "on" not in sandbox.requests[0].query


def test_rate_limits_and_server_errors_are_retried(conn, database_url, sandbox):
    sandbox.faults[mixpanel_api.SEGMENTATION_PATH] = [429, 503]
    assert _collect(database_url, _client(sandbox.url, max_retries=3)).rows == len(EVENTS)
    assert len(sandbox.requests) == len(EVENTS) + 2


def test_refused_credentials_name_both_variables(conn, database_url, sandbox):
    loaded = _collect(database_url, _client(sandbox.url))
    revoked = _client(sandbox.url, secret=mixpanel_api.REVOKED_SECRET)
    with pytest.raises(SourceError) as failure:
        _collect(database_url, revoked, run_id="bad")
    message = str(failure.value)
    assert "HTTP 401" in message and "Invalid service account credentials" in message
    assert "MIXPANEL_SERVICE_ACCOUNT_USERNAME" in message
    assert "MIXPANEL_SERVICE_ACCOUNT_SECRET" in message
    assert mixpanel_api.REVOKED_SECRET not in message
    stored = conn.execute("select count(*), max(run_id) from raw.mixpanel_event_counts")
    assert stored.fetchone() == (loaded.rows, "r1")


def test_a_project_the_account_cannot_read_says_so(conn, database_url, sandbox):
    client = MixpanelClient(
        base_url=sandbox.url, project_id=999, username=USERNAME, secret=SECRET, events=EVENTS
    )
    with pytest.raises(SourceError, match="project 999") as failure:
        _collect(database_url, client)
    assert "HTTP 403" in str(failure.value) and "project_id" in str(failure.value)


def test_missing_credentials_name_the_variable(conn, database_url, sandbox):
    with pytest.raises(MissingCredentialError, match="MIXPANEL_SERVICE_ACCOUNT_SECRET"):
        _collect(database_url, _client(sandbox.url, secret=None))
    assert sandbox.requests == []


def test_a_garbled_answer_fails_its_partition_and_keeps_the_previous_load(
    conn, database_url, company
):
    real = mixpanel_api.ROUTES[("GET", mixpanel_api.SEGMENTATION_PATH)]
    garble = {"on": False}

    def answer(company, request):
        if garble["on"] and request.query["event"] == ("Answer Rated",):
            return Response(200, b'{"data": {"series": ["2026-11-07"], "values": {"che')
        return real.handler(company, request)

    routes = {("GET", mixpanel_api.SEGMENTATION_PATH): Route(answer, real.fault)}
    with SandboxServer(company, routes=routes) as server:
        client = _client(server.url, property_name="plan", max_retries=1)
        loaded = _collect(database_url, client)
        garble["on"] = True
        with pytest.raises(SourceError, match="not valid JSON"):
            _collect(database_url, client, run_id="r2")
    stored = conn.execute("select count(*), max(run_id) from raw.mixpanel_event_counts")
    assert stored.fetchone() == (loaded.rows, "r1")


def test_the_region_picks_the_query_api_and_the_config_is_checked(tmp_path):
    config = tmp_path / "vault.yaml"
    config.write_text(
        "sources:\n  mixpanel:\n    project_id: 42\n    region: EU\n"
        "    events: [Signed Up]\n    property_name: plan\n"
    )
    section = load_config(config).sources.mixpanel
    assert section.query_url == "https://eu.mixpanel.com"
    config.write_text(
        'sources:\n  mixpanel:\n    project_id: 42\n    events: [a, a]\n    property_name: plan"]\n'
    )
    with pytest.raises(ConfigError) as failure:
        load_config(config)
    assert "sources.mixpanel.events: Value error, an event is listed twice" in str(failure.value)
    assert "sources.mixpanel.property_name" in str(failure.value)


# --- end to end: fct_metrics holds what Mixpanel served ------------------------------------


@pytest.fixture(scope="module")
def built(module_database, company, tmp_path_factory):
    """Two days of event counts split by feature, then dbt; yields the database URL."""
    with SandboxServer(company) as server:
        client = _client(server.url, property_name="feature")
        for offset in range(2):
            _collect(module_database, client, day=DAY + timedelta(days=offset))
    ensure_sources_exist(WarehouseResource(url=module_database))
    build_models_then_test(
        module_database, tmp_path_factory.mktemp("dbt"), "fct_metrics", ["+int_metrics__mixpanel"]
    )
    yield module_database


def test_fct_metrics_holds_every_nonzero_count_the_report_served(built, company):
    expected = {}
    for offset in range(2):
        day = DAY + timedelta(days=offset)
        for event in EVENTS:
            for feature, count in mixpanel_api.segmentation(
                company, event, day.date(), "feature"
            ).items():
                if count:
                    expected[(day, event, feature)] = count
    with psycopg.connect(built) as connection:
        rows = connection.execute(
            "select observed_at, tags ->> 'event', tags ->> 'feature', value, feature, unit "
            "from marts.fct_metrics where source_system = 'mixpanel'"
        ).fetchall()
    assert {(at, event, value): count for at, event, value, count, _, _ in rows} == expected
    assert {unit for *_, unit in rows} == {"events"}
    assert {(value, column) for _, _, value, _, column, _ in rows} == {
        ("checkout-assistant", "checkout-assistant"),
        ("support-copilot", "support-copilot"),
        ("knowledge-search", "knowledge-search"),
        (mixpanel_api.UNDEFINED, "unallocated"),
    }
