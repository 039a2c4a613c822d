"""The HTML report of one gate run: what was checked per province, what was held back and why.

Self-contained (inline styles, no scripts or fonts from the web), so it reads well offline and
can be attached to an alert. Written to `<reports>/gate/<gate_run_id>.html`.
"""

from __future__ import annotations

from datetime import datetime
from functools import cache
from pathlib import Path

from nhandao import reference
from nhandao.gate.results import GateResult
from nhandao.submission_format import VIETNAM


def local_time(value: datetime | None) -> str:
    """A timestamp as people in Vietnam read it (the server may run in UTC)."""
    return value.astimezone(VIETNAM).strftime("%Y-%m-%d %H:%M") if value else "—"


@cache
def environment():
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("nhandao", "templates"),
        autoescape=jinja2.select_autoescape(["html", "j2"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["local_time"] = local_time
    return env


def render(template: str, **context) -> str:
    generated_at = local_time(datetime.now().astimezone()) + " (giờ Việt Nam / Vietnam time)"
    return environment().get_template(template).render(generated_at=generated_at, **context)


def write(result: GateResult, folder: Path) -> Path:
    """Write the report of `result` into `folder`; return its path."""
    held = set(result.held_back_provinces)
    provinces = [
        {
            "code": code,
            "name": reference.province_name(code),
            "held": code in held,
            "blocking": sum(o.blocks and o.province_code == code for o in result.outcomes),
            "warnings": sum(
                not o.success and not o.blocks and o.province_code == code for o in result.outcomes
            ),
        }
        for code in result.provinces
    ]
    failed = sorted(
        (o for o in result.outcomes if not o.success),
        key=lambda o: (not o.blocks, o.province_code or "", o.year or 0, o.suite_name),
    )
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{result.gate_run_id}.html"
    path.write_text(
        render(
            "gate_run.html.j2",
            run=result,
            provinces=provinces,
            failed=failed,
            published=result.publishable_provinces,
        ),
        encoding="utf-8",
    )
    return path
