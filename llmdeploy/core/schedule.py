"""Off-hours: when a stack's GPUs serve, as cron expressions, and what that saves.

One schedule, two renderings: EventBridge Scheduler's `cron(...)` (staging stops
and starts its instance) and EC2 Auto Scaling's Unix cron recurrence (prod
scales its group's minimum and maximum). The hours on per week follow from the
same fields, so the cost with and without the schedule is exact arithmetic.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Days = Literal["weekdays", "daily"]
DAYS_PER_WEEK: dict[Days, int] = {"weekdays": 5, "daily": 7}
# EventBridge Scheduler's day-of-week field takes names; Auto Scaling's recurrence is Unix cron (0 = Sunday).
SCHEDULER_DAYS: dict[Days, str] = {"weekdays": "MON-FRI", "daily": "*"}
UNIX_DAYS: dict[Days, str] = {"weekdays": "1-5", "daily": "*"}
# AWS prices a month as 730 hours.
HOURS_PER_MONTH = 730
HOURS_PER_WEEK = 168


@dataclass(frozen=True)
class ServingHours:
    """Serve from `start_hour` to `stop_hour` (local time in `timezone`) on `days`."""

    start_hour: int
    stop_hour: int
    days: Days = "weekdays"
    timezone: str = "UTC"

    def __post_init__(self) -> None:
        if not 0 <= self.start_hour < self.stop_hour <= 23:
            raise ValueError("need 0 <= start_hour < stop_hour <= 23")

    @property
    def hours_on_per_week(self) -> int:
        return DAYS_PER_WEEK[self.days] * (self.stop_hour - self.start_hour)

    @property
    def share_on(self) -> float:
        """The share of the week the GPUs serve."""
        return self.hours_on_per_week / HOURS_PER_WEEK

    def scheduler_cron(self, hour: int) -> str:
        """EventBridge Scheduler: cron(minutes hours day-of-month month day-of-week year)."""
        day_of_month = "?" if self.days == "weekdays" else "*"
        day_of_week = SCHEDULER_DAYS[self.days] if self.days == "weekdays" else "?"
        return f"cron(0 {hour} {day_of_month} * {day_of_week} *)"

    def recurrence(self, hour: int) -> str:
        """EC2 Auto Scaling scheduled action: Unix cron, minute hour day month day-of-week."""
        return f"0 {hour} * * {UNIX_DAYS[self.days]}"


def monthly_cost(
    usd_per_hour: float | None, on_instances: int, off_instances: int, hours: ServingHours | None
) -> dict[str, float | int | None]:
    """Monthly on-demand cost of the GPU instances, always on and with the schedule (730-hour month)."""
    if usd_per_hour is None:
        return {"always_on_usd": None, "with_schedule_usd": None, "hours_on_per_week": None}
    always = usd_per_hour * on_instances * HOURS_PER_MONTH
    if hours is None:
        return {
            "always_on_usd": round(always, 2),
            "with_schedule_usd": round(always, 2),
            "hours_on_per_week": 168,
        }
    on_hours = HOURS_PER_MONTH * hours.share_on
    scheduled = usd_per_hour * (on_instances * on_hours + off_instances * (HOURS_PER_MONTH - on_hours))
    return {
        "always_on_usd": round(always, 2),
        "with_schedule_usd": round(scheduled, 2),
        "hours_on_per_week": hours.hours_on_per_week,
    }
