"""Alerts for the person on call: a failed quality gate, a failed DAG run, a late province.

Alerts go through the configured channels, e-mail (Airflow's SMTP provider, connection
`nhandao_smtp`) and a webhook (a JSON POST that Slack, Mattermost and Google Chat accept), and
every delivery attempt is recorded in `monitoring.alerts`.
"""

from __future__ import annotations

import html
import logging
import os
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from pathlib import Path
from urllib.parse import quote

import psycopg

from nhandao import logins, reference, warehouse
from nhandao.submission_format import VIETNAM

log = logging.getLogger(__name__)

KINDS = ("gate_failed", "dag_failed", "province_late")
CHANNELS = ("smtp", "webhook")
SMTP_CONN_ID = "nhandao_smtp"
WEBHOOK_TIMEOUT_SECONDS = 10


@dataclass(frozen=True)
class Rule:
    """What was broken: a gate expectation, a failed task, a reporting deadline."""

    name: str
    notes: str | None = None
    suite: str | None = None
    expectation: str | None = None
    column: str | None = None
    unexpected_count: int | None = None


@dataclass(frozen=True)
class Alert:
    """One notification about one province (None: the whole warehouse)."""

    kind: str
    province_code: str | None
    province_name: str | None
    subject: str
    body: str  # Vietnamese, with an English line
    rules: tuple[Rule, ...] = field(default_factory=tuple)
    report_url: str | None = None
    dedup_key: str = ""

    def payload(self) -> dict:
        """The webhook's JSON: `text` for chat tools, then the structured fields."""
        return {
            "text": f"{self.subject}\n{self.body}",
            "kind": self.kind,
            "province_code": self.province_code,
            "province_name": self.province_name,
            "subject": self.subject,
            "rules": [asdict(rule) for rule in self.rules],
            "report_url": self.report_url,
            "dedup_key": self.dedup_key,
        }

    def html(self) -> str:
        """The e-mail body: the text, escaped, with the report as a link."""
        paragraphs = "".join(
            f"<p>{html.escape(part).replace(chr(10), '<br>')}</p>"
            for part in self.body.split("\n\n")
        )
        if self.report_url:
            url = html.escape(self.report_url, quote=True)
            paragraphs += f'<p><a href="{url}">{url}</a></p>'
        return f'<html><body style="font-family: sans-serif">{paragraphs}</body></html>'


@dataclass(frozen=True)
class Delivery:
    """One attempt to deliver one alert through one channel."""

    alert: Alert
    channel: str
    ok: bool
    error: str | None = None


class AlertDeliveryFailed(Exception):
    """At least one channel could not deliver an alert (the others were still tried)."""

    def __init__(self, failures: list[Delivery]):
        self.failures = failures
        lines = "\n".join(
            f"  - channel {d.channel}: {d.alert.subject}: {d.error}" for d in failures
        )
        channels = ", ".join(sorted({d.channel for d in failures}))
        super().__init__(f"alert delivery failed on channel {channels}:\n{lines}")


def province_name(code: str | None) -> str | None:
    """The province's name (reference.province_name); None for the whole warehouse."""
    return reference.province_name(code) if code else None


def report_link(report: str | Path | None) -> str | None:
    """A URL for the report: URLs as they are; a local file under NHANDAO_REPORT_BASE_URL when
    that is set (base URL + file name), else as a file:// URL."""
    if report is None or str(report) == "":
        return None
    text = str(report)
    if "://" in text:
        return text
    path = Path(text)
    if base := os.environ.get("NHANDAO_REPORT_BASE_URL"):
        return f"{base.rstrip('/')}/{quote(path.name)}"
    return path.resolve().as_uri()


def _place(code: str | None, name: str | None) -> tuple[str, str]:
    """How the alert names its scope, in Vietnamese and in English."""
    if code is None:
        return "toàn bộ kho dữ liệu", "the whole warehouse"
    label = f"{name or 'tỉnh'} (mã {code})"
    return label, f"{name or 'province'} (code {code})"


def _gate_rule(outcome) -> Rule:
    return Rule(
        name=outcome.describe(),
        notes=outcome.notes,
        suite=outcome.suite_name,
        expectation=outcome.expectation_type,
        column=outcome.column,
        unexpected_count=outcome.unexpected_count,
    )


def gate_failed_alerts(result, report_url: str | Path | None = None) -> list[Alert]:
    """One alert per province with blocking failures in a gate result (province None: the whole
    warehouse, e.g. a dimension). The report defaults to the result's Data Docs page."""
    link = report_link(report_url if report_url is not None else result.data_docs_path)
    by_province: dict[str | None, list] = {}
    for outcome in result.blocking_failures:
        by_province.setdefault(getattr(outcome, "province_code", None), []).append(outcome)
    alerts = []
    for code in sorted(by_province, key=lambda c: (c is not None, c or "")):
        name = province_name(code)
        place_vi, place_en = _place(code, name)
        rules = tuple(_gate_rule(o) for o in by_province[code])
        listed = "\n".join(f"- {rule.name}" for rule in rules)
        body = (
            f"Kiểm định chất lượng dữ liệu (lượt {result.gate_run_id}) không đạt cho {place_vi}: "
            f"số liệu bị giữ lại, chưa công bố; bảng đã công bố giữ nguyên bản đạt gần nhất.\n\n"
            f"Quy tắc bị vi phạm:\n{listed}\n\n"
            f"Báo cáo kiểm định: {link or 'không có'}\n\n"
            f"English: quality gate run {result.gate_run_id} failed for {place_en}; its figures "
            f"were held back from publication. Rules broken: {len(rules)}. "
            f"Report: {link or 'none'}"
        )
        alerts.append(
            Alert(
                kind="gate_failed",
                province_code=code,
                province_name=name,
                subject=f"[nhandao] Kiểm định không đạt / Quality gate failed: {place_vi}",
                body=body,
                rules=rules,
                report_url=link,
                dedup_key=f"gate_failed:{result.gate_run_id}:{code or 'all'}",
            )
        )
    return alerts


def _field(row, name: str, default=None):
    if isinstance(row, Mapping):
        return row.get(name, default)
    return getattr(row, name, default)


def late_province_alerts(
    rows: Iterable, report_url: str | Path | None = None, today: date | None = None
) -> list[Alert]:
    """One alert per province and period with reports still missing.

    Each row is a dict or an object with `province_code` (str), `period_code` (str, e.g.
    "2024M09"), `expected` and `received` (int: reports owed and received) and `missing_units`
    (list of the names of units that have not reported); `due_date` (date) is optional. Rows with
    nothing missing give no alert. The dedup key is province + period + today (Vietnam time), so
    a province is reminded at most once a day per period and channel.
    """
    link = report_link(report_url)
    day = today or datetime.now(VIETNAM).date()
    alerts = []
    for row in rows:
        code = str(_field(row, "province_code"))
        period = str(_field(row, "period_code"))
        expected = int(_field(row, "expected", 0) or 0)
        received = int(_field(row, "received", 0) or 0)
        missing = [str(name) for name in _field(row, "missing_units", None) or []]
        if received >= expected and not missing:
            continue
        due = _field(row, "due_date")
        name = province_name(code)
        place_vi, place_en = _place(code, name)
        due_vi = f", hạn nộp {due:%d/%m/%Y}" if due else ""
        due_en = f", due {due:%Y-%m-%d}" if due else ""
        missing_vi = ", ".join(missing) or "không rõ"
        body = (
            f"{place_vi} chưa nộp đủ báo cáo kỳ {period}{due_vi}: "
            f"đã nhận {received}/{expected}.\n\n"
            f"Đơn vị chưa nộp: {missing_vi}\n\n"
            f"Báo cáo tiến độ nộp: {link or 'không có'}\n\n"
            f"English: {place_en} is late for period {period}{due_en}: {received} of {expected} "
            f"reports received; missing: {', '.join(missing) or 'unknown'}. "
            f"Report: {link or 'none'}"
        )
        rule = Rule(
            name=f"reporting_deadline {period}",
            notes=f"{received}/{expected} reports received; missing: {', '.join(missing)}",
            expectation="reports_received_by_due_date",
            unexpected_count=expected - received,
        )
        alerts.append(
            Alert(
                kind="province_late",
                province_code=code,
                province_name=name,
                subject=f"[nhandao] Báo cáo trễ hạn / Late reports: {place_vi}, kỳ {period}",
                body=body,
                rules=(rule,),
                report_url=link,
                dedup_key=f"province_late:{code}:{period}:{day.isoformat()}",
            )
        )
    return alerts


def _run_conf(context: Mapping) -> dict:
    dag_run = context.get("dag_run")
    conf = getattr(dag_run, "conf", None) or {}
    params = context.get("params") or {}
    return {**dict(params), **dict(conf)}


def _airflow_run_url(dag_id: str, run_id: str | None) -> str:
    from airflow.configuration import conf

    base = conf.get("api", "base_url", fallback="http://localhost:8080/").rstrip("/")
    return f"{base}/dags/{dag_id}" + (f"/runs/{quote(run_id)}" if run_id else "")


def build_dag_failed_alert(context: Mapping) -> Alert:
    """The alert for a failed DAG run, from an Airflow 3 callback context (DAG-level: `dag`,
    `run_id`, `reason` and, when known, the failed `ti`; task-level also `exception`). The
    province comes from the run's conf or params (`province_code`) when there is one."""
    ti = context.get("ti")
    dag = context.get("dag")
    dag_id = getattr(dag, "dag_id", None) or getattr(ti, "dag_id", None) or "?"
    run_id = context.get("run_id") or getattr(ti, "run_id", None)
    task_id = getattr(ti, "task_id", None)
    exception = context.get("exception")
    reason = context.get("reason")
    cause = str(exception) if exception else str(reason or "task failure")
    try:
        link = ti.log_url if ti is not None else _airflow_run_url(dag_id, run_id)
    except Exception:  # a context without a configured API: the run's path still helps
        link = None
    code = _run_conf(context).get("province_code")
    code = str(code) if code else None
    name = province_name(code)
    place_vi, place_en = _place(code, name)
    where_vi = f" ở tác vụ {task_id}" if task_id else ""
    where_en = f" at task {task_id}" if task_id else ""
    body = (
        f"DAG {dag_id} (lượt chạy {run_id}) thất bại{where_vi}, phạm vi: {place_vi}.\n\n"
        f"Nguyên nhân: {cause}\n\n"
        f"Nhật ký: {link or 'không có'}\n\n"
        f"English: DAG {dag_id} run {run_id} failed{where_en} ({place_en}): {cause}. "
        f"Log: {link or 'none'}"
    )
    return Alert(
        kind="dag_failed",
        province_code=code,
        province_name=name,
        subject=f"[nhandao] DAG {dag_id} thất bại / DAG failed: {place_vi}",
        body=body,
        rules=(Rule(name=f"{dag_id}.{task_id}" if task_id else dag_id, notes=cause[:2000]),),
        report_url=link,
        dedup_key=f"dag_failed:{dag_id}:{run_id}",
    )


def dag_failed_alert(context: Mapping) -> None:
    """Airflow `on_failure_callback`: build and send the DAG-failure alert; never raises."""
    try:
        send([build_dag_failed_alert(context)])
    except Exception:
        log.exception("could not send the DAG-failure alert")


def smtp_connection_exists(conn_id: str = SMTP_CONN_ID) -> bool:
    """True if Airflow knows the SMTP connection (env AIRFLOW_CONN_*, secrets backend or DB)."""
    try:
        from airflow.providers.common.compat.sdk import BaseHook

        BaseHook.get_connection(conn_id)
    except Exception:
        return False
    return True


def configured_channels() -> list[str]:
    """NHANDAO_ALERT_CHANNELS (comma list of smtp, webhook); by default the webhook if
    NHANDAO_ALERT_WEBHOOK_URL is set, plus smtp if the Airflow connection nhandao_smtp exists."""
    if listed := os.environ.get("NHANDAO_ALERT_CHANNELS", "").strip():
        channels = [c.strip().lower() for c in listed.split(",") if c.strip()]
        unknown = sorted(set(channels) - set(CHANNELS))
        if unknown:
            raise ValueError(
                f"NHANDAO_ALERT_CHANNELS names unknown channels {unknown}; use {list(CHANNELS)}"
            )
        return list(dict.fromkeys(channels))
    channels = []
    if os.environ.get("NHANDAO_ALERT_WEBHOOK_URL"):
        channels.append("webhook")
    if smtp_connection_exists():
        channels.append("smtp")
    return channels


def _error(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:1000]


def _send_webhook(alerts: list[Alert]) -> list[str | None]:
    """POST each alert; the error per alert, or None when it was accepted (2xx)."""
    import httpx

    url = os.environ.get("NHANDAO_ALERT_WEBHOOK_URL")
    if not url:
        return ["NHANDAO_ALERT_WEBHOOK_URL is not set"] * len(alerts)
    text_only = os.environ.get("NHANDAO_ALERT_WEBHOOK_FORMAT", "").lower() == "text"
    errors: list[str | None] = []
    with httpx.Client(timeout=WEBHOOK_TIMEOUT_SECONDS) as client:
        for alert in alerts:
            payload = alert.payload()
            try:
                response = client.post(
                    url, json={"text": payload["text"]} if text_only else payload
                )
                response.raise_for_status()
            except Exception as exc:
                errors.append(_error(exc))
            else:
                errors.append(None)
    return errors


def _send_smtp(alerts: list[Alert]) -> list[str | None]:
    """Send each alert by e-mail through the provider's SmtpHook; the error per alert or None."""
    recipients = [a.strip() for a in os.environ.get("NHANDAO_ALERT_EMAIL_TO", "").split(",")]
    recipients = [a for a in recipients if a]
    if not recipients:
        return ["NHANDAO_ALERT_EMAIL_TO is not set"] * len(alerts)
    from airflow.providers.smtp.hooks.smtp import SmtpHook

    try:
        hook = SmtpHook(smtp_conn_id=SMTP_CONN_ID)
        client = hook.get_conn()
    except Exception as exc:
        return [_error(exc)] * len(alerts)
    errors: list[str | None] = []
    try:
        for alert in alerts:
            try:
                client.send_email_smtp(
                    to=recipients,
                    subject=alert.subject,
                    html_content=alert.html(),
                    from_email=os.environ.get("NHANDAO_ALERT_EMAIL_FROM") or None,
                    custom_headers={"X-Nhandao-Alert": alert.kind},
                )
            except Exception as exc:
                errors.append(_error(exc))
            else:
                errors.append(None)
    finally:
        hook.__exit__(None, None, None)
    return errors


SENDERS = {"smtp": _send_smtp, "webhook": _send_webhook}


def _already_sent(conn: psycopg.Connection | None, alert: Alert, channel: str) -> bool:
    if conn is None or alert.kind != "province_late":
        return False
    return (
        conn.execute(
            "select 1 from monitoring.alerts where dedup_key = %s and channel = %s and ok",
            (alert.dedup_key, channel),
        ).fetchone()
        is not None
    )


def _record(conn: psycopg.Connection | None, deliveries: list[Delivery]) -> None:
    if conn is None or not deliveries:
        return
    try:
        _insert(conn, deliveries)
    except psycopg.Error:
        log.exception("alerts: could not record %d delivery attempt(s)", len(deliveries))


def _insert(conn: psycopg.Connection, deliveries: list[Delivery]) -> None:
    with conn.transaction(), conn.cursor() as cur:
        cur.executemany(
            "insert into monitoring.alerts (kind, province_code, dedup_key, subject, channel,"
            " ok, error) values (%s, %s, %s, %s, %s, %s, %s)",
            [
                (
                    d.alert.kind,
                    d.alert.province_code,
                    d.alert.dedup_key,
                    d.alert.subject,
                    d.channel,
                    d.ok,
                    d.error,
                )
                for d in deliveries
            ],
        )


def _ledger(url: str | None) -> psycopg.Connection | None:
    """The warehouse connection that records attempts; None (logged) if it is unreachable, so
    that an alert about a broken warehouse still goes out."""
    try:
        url = url or warehouse.runtime_url(logins.TRANSFORMER)
        conn = warehouse.connect(url, autocommit=True)
    except Exception:
        log.exception("alerts: the warehouse is unreachable; sending without recording")
        return None
    return conn


def _pending(conn: psycopg.Connection | None, channel: str, alerts: list[Alert]) -> list[Alert]:
    """The alerts still to send through `channel`: each late province once, none twice."""
    pending, seen = [], set()
    for alert in alerts:
        key = (alert.kind, alert.dedup_key)
        if alert.kind == "province_late" and key in seen:
            continue
        seen.add(key)
        if _already_sent(conn, alert, channel):
            log.info("alerts: %s already sent by %s, skipped", alert.dedup_key, channel)
            continue
        pending.append(alert)
    return pending


def _send_through(
    conn: psycopg.Connection | None, channel: str, alerts: list[Alert]
) -> list[Delivery]:
    """Send what is pending through one channel and record each attempt."""
    pending = _pending(conn, channel, alerts)
    if not pending:
        return []
    try:
        errors = SENDERS[channel](pending)
    except Exception as exc:  # a sender bug must not stop the other channels
        errors = [_error(exc)] * len(pending)
    attempts = [
        Delivery(alert, channel, ok=error is None, error=error)
        for alert, error in zip(pending, errors, strict=True)
    ]
    _record(conn, attempts)
    return attempts


def send(alerts: Iterable[Alert], url: str | None = None) -> list[Delivery]:
    """Deliver the alerts through every configured channel and record each attempt in
    monitoring.alerts of the warehouse at `url`; return the attempts made.

    A late-province alert whose dedup key was already delivered through a channel is not sent
    through it again. Raises AlertDeliveryFailed, naming the channel, if any delivery failed
    (after trying every channel).
    """
    alerts = list(alerts)
    if not alerts:
        return []
    channels = configured_channels()
    if not channels:
        log.warning(
            "alerts: no channel configured (NHANDAO_ALERT_CHANNELS, NHANDAO_ALERT_WEBHOOK_URL,"
            " Airflow connection %s); %d alert(s) not sent",
            SMTP_CONN_ID,
            len(alerts),
        )
        return []
    conn = _ledger(url)
    deliveries: list[Delivery] = []
    try:
        for channel in channels:
            deliveries.extend(_send_through(conn, channel, alerts))
    finally:
        if conn is not None:
            conn.close()
    for delivery in deliveries:
        if not delivery.ok:
            log.error(
                "alerts: %s not sent by %s: %s",
                delivery.alert.dedup_key,
                delivery.channel,
                delivery.error,
            )
    failures = [d for d in deliveries if not d.ok]
    if failures:
        raise AlertDeliveryFailed(failures)
    return deliveries
