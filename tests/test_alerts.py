"""Alerts delivered for real: a local SMTP server (aiosmtpd) and a local HTTP server receive them,
and every attempt is read back from monitoring.alerts in a real Postgres."""

from __future__ import annotations

import dataclasses
import email
import json
import socket
import threading
from datetime import date
from email import policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace

import pytest
from aiosmtpd.controller import Controller
from conftest import rows

from nhandao.gate.validate import ExpectationOutcome, GateResult
from nhandao.monitor import alerts

DA_NANG = "Thành phố Đà Nẵng"
BLOOD_RULE = (
    "A blood drive collects at most 1,500 units: more per drive means a typing error "
    "(an extra digit) or units and drives from different reports."
)


def free_port() -> int:
    """A localhost port nothing listens on (bound, read and released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Inbox:
    """aiosmtpd handler keeping every message received, parsed."""

    def __init__(self):
        self.messages: list[email.message.EmailMessage] = []
        self.recipients: list[list[str]] = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(email.message_from_bytes(envelope.content, policy=policy.default))
        self.recipients.append(list(envelope.rcpt_tos))
        return "250 OK"


@pytest.fixture
def inbox():
    handler = Inbox()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    handler.port = controller.port
    yield handler
    controller.stop()


@pytest.fixture
def webhook():
    """A real HTTP server on localhost that keeps every JSON body POSTed to it."""
    received: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            length = int(self.headers.get("Content-Length", 0))
            received.append(json.loads(self.rfile.read(length).decode("utf-8")))
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield SimpleNamespace(
        url=f"http://127.0.0.1:{server.server_port}/hooks/nhandao", received=received
    )
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


def smtp_connection(port: int) -> str:
    """AIRFLOW_CONN_NHANDAO_SMTP in Airflow's JSON form: plain SMTP on localhost, no TLS."""
    return json.dumps(
        {
            "conn_type": "smtp",
            "host": "127.0.0.1",
            "port": port,
            "extra": {
                "from_email": "nhandao@localhost",
                "disable_ssl": True,
                "disable_tls": True,
                "retry_limit": 0,
                "timeout": 5,
            },
        }
    )


@pytest.fixture
def channels(inbox, webhook, monkeypatch):
    """Both channels configured the way users do it: an Airflow connection and env variables."""
    monkeypatch.delenv("NHANDAO_ALERT_CHANNELS", raising=False)
    monkeypatch.delenv("NHANDAO_ALERT_WEBHOOK_FORMAT", raising=False)
    monkeypatch.setenv("AIRFLOW_CONN_NHANDAO_SMTP", smtp_connection(inbox.port))
    monkeypatch.setenv("NHANDAO_ALERT_EMAIL_TO", "truc-ban@hoichuthapdo.example, qa@example.org")
    monkeypatch.setenv("NHANDAO_ALERT_WEBHOOK_URL", webhook.url)
    monkeypatch.setenv("NHANDAO_REPORT_BASE_URL", "https://bao-cao.example.org/gx/")
    return SimpleNamespace(inbox=inbox, webhook=webhook)


def outcome(**values) -> ExpectationOutcome:
    """An ExpectationOutcome for one province, before and after the gate learns provinces."""
    names = {f.name for f in dataclasses.fields(ExpectationOutcome)}
    province = values.pop("province_code", None)
    base = {
        "column": None,
        "severity": "critical",
        "success": False,
        "observed_value": None,
        "unexpected_count": None,
        "notes": None,
        **values,
    }
    if "province_code" in names:
        return ExpectationOutcome(**base, province_code=province)
    result = ExpectationOutcome(**base)
    object.__setattr__(result, "province_code", province)  # the field the gate is getting
    return result


def failed_gate(tmp_path: Path) -> GateResult:
    docs = tmp_path / "index.html"
    docs.write_text("<html>Data Docs</html>", encoding="utf-8")
    return GateResult(
        gate_run_id="gate_test0001",
        data_docs_path=docs,
        outcomes=[
            outcome(
                suite_name="marts.fct_blood_units",
                expectation_type="unexpected_rows_expectation",
                unexpected_count=1,
                notes=BLOOD_RULE,
                province_code="48",
            ),
            outcome(
                suite_name="marts.dim_admin_unit",
                expectation_type="expect_column_values_to_be_unique",
                column="admin_unit_id",
                unexpected_count=2,
                notes="One row per unit version.",
            ),
            # a warning and a pass give no alert
            outcome(
                suite_name="marts.fct_aid_value",
                expectation_type="unexpected_rows_expectation",
                severity="warning",
                province_code="01",
            ),
            outcome(
                suite_name="marts.fct_blood_units",
                expectation_type="expect_column_values_to_be_between",
                success=True,
                province_code="49",
            ),
        ],
    )


def html_body(message: email.message.EmailMessage) -> str:
    return message.get_body(("html",)).get_content()


def alert_rows(url: str) -> list[tuple]:
    return rows(
        url,
        "select kind, province_code, dedup_key, channel, ok, error from monitoring.alerts"
        " order by alert_id",
    )


def test_gate_failure_alerts_arrive_by_email_and_webhook(channels, warehouse_url, tmp_path):
    built = alerts.gate_failed_alerts(failed_gate(tmp_path))
    assert [(a.kind, a.province_code, a.province_name) for a in built] == [
        ("gate_failed", None, None),
        ("gate_failed", "48", DA_NANG),
    ]
    deliveries = alerts.send(built)
    assert {(d.channel, d.ok) for d in deliveries} == {("webhook", True), ("smtp", True)}
    report = "https://bao-cao.example.org/gx/index.html"

    # e-mail: one per alert, to every recipient, the Vietnamese subject decoded intact
    messages = {m["subject"]: m for m in channels.inbox.messages}
    assert len(channels.inbox.messages) == 2
    assert channels.inbox.recipients[0] == ["truc-ban@hoichuthapdo.example", "qa@example.org"]
    [subject] = [s for s in messages if "48" in s]
    assert subject == f"[nhandao] Kiểm định không đạt / Quality gate failed: {DA_NANG} (mã 48)"
    body = html_body(messages[subject])
    assert "marts.fct_blood_units" in body and "unexpected_rows_expectation" in body
    assert "A blood drive collects at most 1,500 units" in body
    assert f'<a href="{report}">' in body
    assert "English: quality gate run gate_test0001 failed" in body
    assert "dim_admin_unit" not in body  # the warehouse-wide failure has its own message
    [whole] = [m for s, m in messages.items() if "toàn bộ kho dữ liệu" in s]
    assert "marts.dim_admin_unit.admin_unit_id" in html_body(whole)

    # webhook: a chat-friendly text and the structured fields
    posted = {p["province_code"]: p for p in channels.webhook.received}
    assert set(posted) == {None, "48"}
    da_nang = posted["48"]
    assert da_nang["kind"] == "gate_failed"
    assert da_nang["province_name"] == DA_NANG
    assert da_nang["report_url"] == report
    assert [(r["suite"], r["expectation"], r["notes"]) for r in da_nang["rules"]] == [
        ("marts.fct_blood_units", "unexpected_rows_expectation", BLOOD_RULE)
    ]
    assert DA_NANG in da_nang["text"] and report in da_nang["text"]

    # every attempt recorded
    recorded = alert_rows(warehouse_url)
    assert {(kind, code, channel, ok) for kind, code, _, channel, ok, _ in recorded} == {
        ("gate_failed", "48", "smtp", True),
        ("gate_failed", "48", "webhook", True),
        ("gate_failed", None, "smtp", True),
        ("gate_failed", None, "webhook", True),
    }
    assert len(recorded) == 4

    # gate alerts are never deduplicated: the same result alerts again
    alerts.send(alerts.gate_failed_alerts(failed_gate(tmp_path)))
    assert len(channels.inbox.messages) == 4 and len(channels.webhook.received) == 4


@pytest.mark.parametrize("broken", ["webhook", "smtp"])
def test_a_failed_delivery_names_its_channel_and_is_recorded(
    broken, channels, warehouse_url, tmp_path, monkeypatch
):
    dead = free_port()
    if broken == "webhook":
        monkeypatch.setenv("NHANDAO_ALERT_WEBHOOK_URL", f"http://127.0.0.1:{dead}/hook")
    else:
        monkeypatch.setenv("AIRFLOW_CONN_NHANDAO_SMTP", smtp_connection(dead))
    built = alerts.gate_failed_alerts(failed_gate(tmp_path))

    with pytest.raises(alerts.AlertDeliveryFailed, match=f"channel {broken}:") as raised:
        alerts.send(built)
    assert {d.channel for d in raised.value.failures} == {broken}

    # the other channel was still tried and delivered
    working = channels.inbox.messages if broken == "webhook" else channels.webhook.received
    assert len(working) == len(built) == 2
    other = ({"smtp", "webhook"} - {broken}).pop()
    recorded = {(channel, ok) for _, _, _, channel, ok, _ in alert_rows(warehouse_url)}
    assert recorded == {(broken, False), (other, True)}
    errors = [error for _, _, _, channel, ok, error in alert_rows(warehouse_url) if not ok]
    assert len(errors) == 2 and all("refused" in error.lower() for error in errors)


def test_late_province_alerts_are_sent_once_a_day(channels, warehouse_url, monkeypatch):
    report = Path("/srv/nhandao/reports/tien-do-2024M09.html")
    late = [
        {
            "province_code": "48",
            "period_code": "2024M09",
            "expected": 7,
            "received": 5,
            "missing_units": ["Quận Hải Châu", "Huyện Hòa Vang"],
            "due_date": date(2024, 10, 10),
        },
        SimpleNamespace(
            province_code="49", period_code="2024M09", expected=3, received=3, missing_units=[]
        ),
    ]
    day = date(2024, 10, 12)
    [alert] = alerts.late_province_alerts(late, report, today=day)
    assert alert.dedup_key == "province_late:48:2024M09:2024-10-12"

    # the webhook is down the first time: e-mail goes, the webhook attempt is recorded as failed
    monkeypatch.setenv("NHANDAO_ALERT_WEBHOOK_URL", f"http://127.0.0.1:{free_port()}/hook")
    with pytest.raises(alerts.AlertDeliveryFailed, match="channel webhook"):
        alerts.send([alert])
    assert len(channels.inbox.messages) == 1
    [message] = channels.inbox.messages
    assert (
        message["subject"]
        == f"[nhandao] Báo cáo trễ hạn / Late reports: {DA_NANG} (mã 48), kỳ 2024M09"
    )
    body = html_body(message)
    assert "đã nhận 5/7" in body and "Quận Hải Châu, Huyện Hòa Vang" in body
    assert "https://bao-cao.example.org/gx/tien-do-2024M09.html" in body

    # back up: only the channel that failed sends again
    monkeypatch.setenv("NHANDAO_ALERT_WEBHOOK_URL", channels.webhook.url)
    sent = alerts.send(alerts.late_province_alerts(late, report, today=day))
    assert [(d.channel, d.ok) for d in sent] == [("webhook", True)]
    assert len(channels.inbox.messages) == 1
    [posted] = channels.webhook.received
    assert posted["kind"] == "province_late"
    assert (posted["province_code"], posted["province_name"]) == ("48", DA_NANG)
    assert posted["rules"][0]["expectation"] == "reports_received_by_due_date"
    assert posted["report_url"] == "https://bao-cao.example.org/gx/tien-do-2024M09.html"

    # the same day again: nothing goes out, nothing is recorded
    assert alerts.send(alerts.late_province_alerts(late, report, today=day)) == []
    assert len(channels.inbox.messages) == 1 and len(channels.webhook.received) == 1
    assert [(channel, ok) for _, _, _, channel, ok, _ in alert_rows(warehouse_url)] == [
        ("webhook", False),
        ("smtp", True),
        ("webhook", True),
    ]

    # the next day it reminds again
    alerts.send(alerts.late_province_alerts(late, report, today=date(2024, 10, 13)))
    assert len(channels.inbox.messages) == 2 and len(channels.webhook.received) == 2


FAILURE = "Không đọc được tệp 48-492-2024M09.xlsx / cannot read the file"


def failing_dag():
    from airflow.sdk import dag, task

    @dag(
        dag_id="alerts_failing_dag",
        schedule=None,
        catchup=False,
        on_failure_callback=alerts.dag_failed_alert,
        default_args={"retries": 0},
    )
    def alerts_failing_dag():
        @task
        def load_province():
            raise RuntimeError(FAILURE)

        load_province()

    return alerts_failing_dag()


def serialize(dag, folder: Path) -> None:
    """Write a DAG defined here into Airflow's metadata database, as the DAG processor would
    for a file of the dags folder (dag.test() runs only serialized DAGs)."""
    from airflow.dag_processing.bundles.manager import DagBundlesManager
    from airflow.dag_processing.dagbag import DagBag, sync_bag_to_db

    DagBundlesManager().sync_bundles_to_db()
    bag = DagBag(dag_folder=str(folder))
    bag.bag_dag(dag)
    sync_bag_to_db(bag, "dags-folder", None)


def test_a_failed_dag_run_alerts_through_its_callback(
    channels, warehouse_url, airflow_db, tmp_path
):
    dag = failing_dag()
    serialize(dag, tmp_path)
    run = dag.test(run_conf={"province_code": "48"})
    assert str(run.state) == "failed"

    [posted] = channels.webhook.received
    assert posted["kind"] == "dag_failed"
    assert (posted["province_code"], posted["province_name"]) == ("48", DA_NANG)
    assert posted["rules"][0]["name"] == "alerts_failing_dag.load_province"
    assert "/dags/alerts_failing_dag/runs/" in posted["report_url"]
    assert posted["report_url"].endswith("/tasks/load_province?try_number=1")
    [message] = channels.inbox.messages
    assert (
        message["subject"]
        == f"[nhandao] DAG alerts_failing_dag thất bại / DAG failed: {DA_NANG} (mã 48)"
    )
    assert "ở tác vụ load_province" in html_body(message)
    assert [(kind, code, ok) for kind, code, _, _, ok, _ in alert_rows(warehouse_url)] == [
        ("dag_failed", "48", True),
        ("dag_failed", "48", True),
    ]


def test_the_dag_callback_never_raises(channels, warehouse_url, monkeypatch):
    monkeypatch.setenv("NHANDAO_ALERT_WEBHOOK_URL", f"http://127.0.0.1:{free_port()}/hook")
    monkeypatch.setenv("AIRFLOW_CONN_NHANDAO_SMTP", smtp_connection(free_port()))
    context = {
        "dag": SimpleNamespace(dag_id="build_warehouse"),
        "run_id": "manual__2024-10-12",
        "exception": RuntimeError(FAILURE),
    }
    assert alerts.dag_failed_alert(context) is None
    recorded = alert_rows(warehouse_url)
    assert {(kind, channel, ok) for kind, _, _, channel, ok, _ in recorded} == {
        ("dag_failed", "webhook", False),
        ("dag_failed", "smtp", False),
    }
    built = alerts.build_dag_failed_alert(context)
    assert FAILURE in built.body and built.province_code is None
    assert built.report_url.endswith("/dags/build_warehouse/runs/manual__2024-10-12")


def test_channels_and_report_links(monkeypatch, tmp_path):
    for key in (
        "NHANDAO_ALERT_CHANNELS",
        "NHANDAO_ALERT_WEBHOOK_URL",
        "AIRFLOW_CONN_NHANDAO_SMTP",
        "NHANDAO_REPORT_BASE_URL",
    ):
        monkeypatch.delenv(key, raising=False)
    assert alerts.configured_channels() == []
    assert alerts.send(alerts.late_province_alerts([], None)) == []
    monkeypatch.setenv("NHANDAO_ALERT_WEBHOOK_URL", "http://127.0.0.1:9/hook")
    assert alerts.configured_channels() == ["webhook"]
    monkeypatch.setenv("AIRFLOW_CONN_NHANDAO_SMTP", smtp_connection(25))
    assert alerts.configured_channels() == ["webhook", "smtp"]
    monkeypatch.setenv("NHANDAO_ALERT_CHANNELS", "smtp")
    assert alerts.configured_channels() == ["smtp"]
    monkeypatch.setenv("NHANDAO_ALERT_CHANNELS", "smtp,telegram")
    with pytest.raises(ValueError, match="telegram"):
        alerts.configured_channels()

    page = tmp_path / "báo cáo.html"
    assert alerts.report_link(page) == page.resolve().as_uri()
    assert alerts.report_link("https://example.org/r.html") == "https://example.org/r.html"
    monkeypatch.setenv("NHANDAO_REPORT_BASE_URL", "https://example.org/docs")
    assert alerts.report_link(page) == "https://example.org/docs/b%C3%A1o%20c%C3%A1o.html"
    assert alerts.report_link(None) is None
