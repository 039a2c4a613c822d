"""The monitor_reporting DAG: snapshots into monitoring.*, the status page, late-province alerts
to a webhook (a real HTTP server started here), once per province, period and day."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from conftest import rows

from nhandao import logins, pipeline, settings
from nhandao.ingest import load
from nhandao.sample import generate

pytestmark = pytest.mark.dbt


class Sink(BaseHTTPRequestHandler):
    received: list[dict] = []

    def do_POST(self):  # noqa: N802 (http.server's name)
        length = int(self.headers["Content-Length"])
        Sink.received.append(json.loads(self.rfile.read(length)))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def webhook(monkeypatch):
    Sink.received = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), Sink)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("NHANDAO_ALERT_WEBHOOK_URL", f"http://127.0.0.1:{server.server_port}/")
    monkeypatch.setenv("NHANDAO_ALERT_CHANNELS", "webhook")
    yield Sink.received
    server.shutdown()


@pytest.fixture(scope="module")
def published(module_warehouse_url, manifest, airflow_db, tmp_path_factory):
    folder = tmp_path_factory.mktemp("danang_2024")
    files = generate.generate_province("48", range(2024, 2025), folder, seed=2)
    assert {r.status for r in load.ingest_paths(files, module_warehouse_url)} == {"loaded"}
    from nhandao import dbt, warehouse

    # built, gated and published as the pipeline does it: as the transformer role
    dbt.run(["build", "--quiet"], warehouse.runtime_url(logins.TRANSFORMER))
    pipeline.publish_audit(pipeline.validate_audit())
    return module_warehouse_url, folder


def test_the_monitor_dag_snapshots_writes_the_page_and_alerts_once(published, webhook):
    from nhandao.sample.demo import load_dags, run_dag

    published, folder = published
    monthly_files = len(list(folder.glob("48-*-2024M??.csv")))
    dags = load_dags()
    assert "published_marts" in str(dags["monitor_reporting"].timetable.asset_condition)
    run_dag(dags, "monitor_reporting")

    [(snapshot_id, trigger)] = rows(
        published, "select snapshot_id, trigger from monitoring.snapshots"
    )
    assert trigger.startswith("manual__")
    # in 2024 the 7 districts with wards (not Hoàng Sa) owed 84 monthly reports and sent them
    # all; since July 2025 the 94 wards owe them and sent none: the current period is missing
    [(expected, received)] = rows(
        published,
        "select sum(expected), sum(received) from monitoring.completeness"
        " where province_code = '48' and period_code like '2024M%%'",
    )
    assert (expected, received) == (7 * 12, monthly_files)
    [state] = rows(
        published,
        "select province_code, held_back, current_expected, current_received,"
        " last_published_at is not null, last_loaded_at is not null"
        " from monitoring.province_status",
    )
    assert state == ("48", False, 94, 0, True, True)
    missing = rows(
        published,
        "select count(distinct admin_unit_code) from monitoring.overdue_reports"
        " where status = 'missing' and period_code = (select current_period"
        " from monitoring.province_status)",
    )
    assert missing == [(94,)]

    page = settings.reports_dir() / "status" / "index.html"
    html = page.read_text(encoding="utf-8")
    assert "Thành phố Đà Nẵng" in html and html.count("<svg") == 3
    assert "Phường Hải Châu" in html  # a missing ward, listed by name
    for external in ('src="http', 'href="http', "@import", "url(http"):
        assert external not in html  # reads offline

    [alert] = webhook
    assert alert["kind"] == "province_late" and alert["province_code"] == "48"
    assert "Phường Hải Châu" in alert["text"] and alert["report_url"].endswith("index.html")

    # the same day again: a new snapshot, but the province is not alerted twice
    run_dag(dags, "monitor_reporting")
    assert rows(published, "select count(*) from monitoring.snapshots") == [(2,)]
    assert len(webhook) == 1
