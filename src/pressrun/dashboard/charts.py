"""A bar chart drawn on the server as SVG: no script, nothing fetched, readable by a screen
reader (each bar has a title, and the figure a text summary)."""

from __future__ import annotations

from dataclasses import dataclass

from pressrun.dashboard.selectors import DayCount

WIDTH = 600
HEIGHT = 160
TOP_MARGIN = 14
BOTTOM_MARGIN = 18
GAP = 2


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    label: str


@dataclass(frozen=True)
class BarChart:
    width: int
    height: int
    bars: list[Bar]
    peak: int
    total: int
    baseline: float
    first_label: str
    last_label: str

    @property
    def summary(self) -> str:
        return (
            f"{self.total} production order{'s' if self.total != 1 else ''} from "
            f"{self.first_label} to {self.last_label}; busiest day {self.peak}."
        )


def orders_chart(days: list[DayCount]) -> BarChart:
    """Bars scaled so the busiest day fills the plot; a day without orders gets no bar."""
    peak = max((day.orders for day in days), default=0)
    plot_height = HEIGHT - TOP_MARGIN - BOTTOM_MARGIN
    slot = WIDTH / max(len(days), 1)
    bars = []
    for index, day in enumerate(days):
        height = plot_height * day.orders / peak if peak else 0.0
        bars.append(
            Bar(
                x=round(index * slot + GAP / 2, 2),
                y=round(TOP_MARGIN + plot_height - height, 2),
                width=round(slot - GAP, 2),
                height=round(height, 2),
                label=f"{day.day:%b %d}: {day.orders} order{'s' if day.orders != 1 else ''}",
            )
        )
    return BarChart(
        width=WIDTH,
        height=HEIGHT,
        bars=bars,
        peak=peak,
        total=sum(day.orders for day in days),
        baseline=HEIGHT - BOTTOM_MARGIN,
        first_label=f"{days[0].day:%b %d}" if days else "",
        last_label=f"{days[-1].day:%b %d}" if days else "",
    )
