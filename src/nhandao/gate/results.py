"""What a gate run found: each expectation's outcome per province slice, and what it holds back."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

BLOCKING = "critical"


@dataclass(frozen=True)
class ExpectationOutcome:
    suite_name: str
    expectation_type: str
    column: str | None
    severity: str
    success: bool
    observed_value: str | None
    unexpected_count: int | None
    notes: str | None
    province_code: str | None = None  # the province slice validated; None: the whole table
    year: int | None = None  # the year of the province's rows validated; None: all of them
    validated_in: str | None = None  # an earlier gate run whose judgement of the slice holds

    @property
    def blocks(self) -> bool:
        return not self.success and self.severity == BLOCKING

    def describe(self) -> str:
        target = f"{self.suite_name}.{self.column}" if self.column else self.suite_name
        if self.province_code:
            where = " ".join(str(part) for part in (self.province_code, self.year) if part)
            target = f"[{where}] {target}"
        found = f" (observed {self.observed_value})" if self.observed_value is not None else ""
        count = f", {self.unexpected_count} rows" if self.unexpected_count else ""
        return f"{target}: {self.expectation_type}{found}{count} — {self.notes or ''}".rstrip(" —")


@dataclass
class GateResult:
    gate_run_id: str
    outcomes: list[ExpectationOutcome] = field(default_factory=list)
    data_docs_path: Path | None = None
    provinces: list[str] = field(default_factory=list)  # the province slices judged
    report_path: Path | None = None
    # (suite, province, year, fingerprint, run whose validation holds; None: this one) per slice
    slices: list[tuple[str, str, int | None, str, str | None]] = field(default_factory=list)

    @property
    def reused(self) -> int:
        """Slices judged by an earlier run, their rows and suite unchanged since."""
        return sum(1 for *_, validated_in in self.slices if validated_in)

    @property
    def passed(self) -> bool:
        """True when nothing at all is held back."""
        return not any(outcome.blocks for outcome in self.outcomes)

    @property
    def global_failures(self) -> list[ExpectationOutcome]:
        """Blocking failures of a model published whole: they hold back every province."""
        return [o for o in self.blocking_failures if o.province_code is None]

    @property
    def held_back_provinces(self) -> list[str]:
        if self.global_failures:
            return list(self.provinces)
        return sorted({o.province_code for o in self.blocking_failures if o.province_code})

    @property
    def publishable_provinces(self) -> list[str]:
        held_back = set(self.held_back_provinces)
        return [p for p in self.provinces if p not in held_back]

    @property
    def can_publish(self) -> bool:
        """Something may be published: no global failure, and not every province held back."""
        if self.global_failures:
            return False
        return not self.provinces or bool(self.publishable_provinces)

    @property
    def blocking_failures(self) -> list[ExpectationOutcome]:
        return [outcome for outcome in self.outcomes if outcome.blocks]

    @property
    def warnings(self) -> list[ExpectationOutcome]:
        return [o for o in self.outcomes if not o.success and o.severity != BLOCKING]


class GateFailed(Exception):
    """The audit build broke blocking expectations everywhere: nothing can be published."""

    def __init__(self, result: GateResult):
        self.result = result
        lines = "\n".join(f"  - {o.describe()}" for o in result.blocking_failures)
        super().__init__(
            f"quality gate {result.gate_run_id} failed; marts left as they were:\n{lines}\n"
            f"Report: {result.report_path}\nData Docs: {result.data_docs_path}"
        )
