"""Figure functions render from small synthetic tables, with titles, units and an Axes back.

The tables follow the contract of :mod:`simulator.results` and are built directly with
pandas (two centres, a few hundred jobs, 90 daily bins, two replications), so these tests
do not depend on the engine.
"""

from __future__ import annotations

import datetime as dt
import io
import re
import warnings

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pandas as pd
import pytest
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from simulator import plotting
from simulator.scenario.schema import size_class

START = dt.date(2025, 1, 1)
CENTRES = {"alpha": ("gpu", "A100", 1024), "beta": ("npu", "910B", 768)}
UNIT = re.compile(r"\([^()]*(?<![A-Za-z])(?:h|%|MWh|cards|jobs|days|pp)(?![A-Za-z])[^()]*\)")


def synthetic_tables(seed: int = 0, n_jobs: int = 300, replications: int = 2) -> dict:
    """Jobs, utilisation, backlog, capacity, energy and paired tables of a toy run."""
    rng = np.random.default_rng(seed)
    start = pd.Timestamp(START)
    days = 90
    util_rows, backlog_rows, job_frames = [], [], []
    for rep in range(replications):
        for d in range(days):
            for k, (centre, (pool, card, cards)) in enumerate(CENTRES.items()):
                online = cards if d < 31 or centre == "beta" else cards * 2
                busy = online * float(
                    np.clip(0.45 + 0.004 * d + 0.05 * k + rng.normal(0, 0.04), 0, 1)
                )
                util_rows.append(
                    {
                        "replication": rep,
                        "bin_start_h": 24.0 * d,
                        "bin_end_h": 24.0 * (d + 1),
                        "date": start + pd.Timedelta(days=d),
                        "centre": centre,
                        "pool": pool,
                        "card_type": card,
                        "online_cards": float(online),
                        "busy_cards": busy,
                        "busy_card_h": 24.0 * busy,
                        "online_card_h": 24.0 * online,
                        "utilisation": busy / online,
                    }
                )
            backlog_rows.append(
                {
                    "replication": rep,
                    "bin_start_h": 24.0 * d,
                    "bin_end_h": 24.0 * (d + 1),
                    "date": start + pd.Timedelta(days=d),
                    "queued_jobs": float(rng.poisson(5 + d / 10)),
                    "queued_cards": float(rng.poisson(200 + 3 * d)),
                }
            )
        cards = rng.choice(
            [1, 2, 4, 8, 16, 64, 256, 2048],
            size=n_jobs,
            p=[0.3, 0.1, 0.1, 0.15, 0.1, 0.1, 0.1, 0.05],
        )
        submit = np.sort(rng.uniform(0, days * 24.0, n_jobs))
        wait = np.where(rng.random(n_jobs) < 0.35, 0.0, rng.lognormal(0.0, 2.0, n_jobs))
        run = rng.lognormal(1.0, 1.0, n_jobs)
        start_h = submit + wait
        end_h = start_h + run
        horizon = days * 24.0
        start_h = np.where(start_h > horizon, np.nan, start_h)
        end_h = np.where(end_h > horizon, np.nan, end_h)
        state = np.where(np.isnan(start_h), "queued", np.where(np.isnan(end_h), "running", "done"))
        centre = rng.choice(list(CENTRES), n_jobs)
        campaign = np.array([""] * n_jobs, dtype=object)
        campaign[[n_jobs // 30, n_jobs * 2 // 3]] = ["flagship-70b", "follow-up-7b"]
        # campaigns are long: the first runs for about a month after a day's wait
        first = n_jobs // 30
        start_h[first] = submit[first] + 26.0
        end_h[first] = start_h[first] + 30 * 24.0
        state[first] = "done"
        job_frames.append(
            pd.DataFrame(
                {
                    "replication": rep,
                    "job_id": np.arange(n_jobs, dtype="int64"),
                    "job_class": rng.choice(["evaluation", "fine-tuning", "pretraining"], n_jobs),
                    "tenant": "default",
                    "priority": 0,
                    "cards": cards,
                    "size_class": [size_class(int(c)) for c in cards],
                    "submit_h": submit,
                    "start_h": start_h,
                    "end_h": end_h,
                    "wait_h": start_h - submit,
                    "run_h": end_h - start_h,
                    "centre": np.where(np.isnan(start_h), "", centre),
                    "pool": np.where(np.isnan(start_h), "", [CENTRES[c][0] for c in centre]),
                    "card_type": np.where(np.isnan(start_h), "", [CENTRES[c][1] for c in centre]),
                    "work_ref_card_h": cards * run,
                    "estimate_h": run * 2,
                    "state": state,
                    "campaign": campaign,
                }
            )
        )
    capacity = pd.DataFrame(
        {
            "replication": 0,
            "time_h": [0.0, 0.0, 744.0],
            "date": pd.to_datetime(["2025-01-01", "2025-01-01", "2025-02-01"]),
            "centre": ["alpha", "beta", "alpha"],
            "pool": ["gpu", "npu", "gpu"],
            "card_type": ["A100", "910B", "A100"],
            "delta_cards": [1024, 768, 1024],
            "online_cards": [1024, 768, 2048],
            "label": ["opening", "", "expansion"],
        }
    )
    energy = pd.DataFrame(
        [
            {"replication": r, "centre": c, "year": y, "energy_mwh": e, "cost_cny": e * 700.0}
            for r in range(replications)
            for c, base in (("alpha", 900.0), ("beta", 600.0))
            for y, e in ((2025, base), (2026, base * 1.6))
        ]
    )
    paired = pd.DataFrame(
        {
            "scenario": ["fifo", "fifo", "fifo", "fifo"],
            "baseline": "easy",
            "metric": ["utilisation", "wait_h_p95", "wait_h_p95[size=>1024]", "bsld_mean"],
            "diff_mean": [-0.021, 3.2, 41.0, 0.4],
            "diff_ci_low": [-0.030, 1.1, -5.0, -0.1],
            "diff_ci_high": [-0.012, 5.3, 87.0, 0.9],
            "n": 5,
        }
    )
    return {
        "jobs": pd.concat(job_frames, ignore_index=True),
        "utilisation": pd.DataFrame(util_rows),
        "backlog": pd.DataFrame(backlog_rows),
        "capacity": capacity,
        "energy": energy,
        "paired": paired,
    }


@pytest.fixture(scope="module")
def tables() -> dict:
    return synthetic_tables()


def _all_figures(tables: dict) -> dict[str, Axes]:
    return {
        "utilisation_over_time": plotting.plot_utilisation_over_time(
            tables["utilisation"], tables["capacity"], by="centre", warmup_h=168.0
        ),
        "utilisation_fleet": plotting.plot_utilisation_over_time(tables["utilisation"], by="fleet"),
        "utilisation_heatmap": plotting.plot_utilisation_heatmap(tables["utilisation"]),
        "wait_ecdf": plotting.plot_wait_ecdf_by_size(tables["jobs"]),
        "p95_by_quarter": plotting.plot_p95_wait_by_quarter(tables["jobs"], START),
        "backlog": plotting.plot_backlog(tables["backlog"]),
        "forest": plotting.plot_forest(tables["paired"]),
        "forest_one_metric": plotting.plot_forest(tables["paired"], metric_order=["wait_h_p95"]),
        "energy": plotting.plot_energy_by_centre_year(tables["energy"]),
        "campaigns": plotting.plot_campaign_timeline(tables["jobs"], top=6),
        "campaigns_dated": plotting.plot_campaign_timeline(tables["jobs"], start_date=START),
    }


@pytest.fixture(scope="module")
def figures(tables: dict) -> dict[str, Axes]:
    return _all_figures(tables)


def test_every_figure_returns_axes_with_title_and_labels(figures: dict[str, Axes]) -> None:
    for name, ax in figures.items():
        assert isinstance(ax, Axes), name
        assert ax.get_title(loc="left"), f"{name}: no title"
        assert ax.get_xlabel(), f"{name}: no x label"
        assert ax.get_ylabel(), f"{name}: no y label"


def test_quantitative_axes_state_their_units(figures: dict[str, Axes]) -> None:
    quantitative = {
        "utilisation_over_time": "y",
        "utilisation_fleet": "y",
        "wait_ecdf": "x",
        "p95_by_quarter": "y",
        "backlog": "y",
        "forest_one_metric": "x",
        "energy": "y",
        "campaigns": "x",
    }
    for name, axis in quantitative.items():
        ax = figures[name]
        label = ax.get_ylabel() if axis == "y" else ax.get_xlabel()
        assert UNIT.search(label), f"{name}: {axis} label {label!r} gives no unit"


def test_figures_render_to_png(figures: dict[str, Axes]) -> None:
    for name, ax in figures.items():
        buffer = io.BytesIO()
        ax.figure.savefig(buffer, format="png", dpi=60)
        assert buffer.getvalue()[:8] == b"\x89PNG\r\n\x1a\n", name


def test_draws_on_a_given_axes() -> None:
    tables = synthetic_tables(n_jobs=80, replications=1)
    fig = Figure(figsize=(12, 9), layout="constrained")
    axes = fig.subplots(2, 2)
    returned = [
        plotting.plot_backlog(tables["backlog"], ax=axes[0, 0]),
        plotting.plot_wait_ecdf_by_size(tables["jobs"], ax=axes[0, 1]),
        plotting.plot_utilisation_heatmap(tables["utilisation"], ax=axes[1, 0]),
        plotting.plot_energy_by_centre_year(tables["energy"], ax=axes[1, 1]),
    ]
    assert returned == list(axes.flat)
    fig.savefig(io.BytesIO(), format="png", dpi=50)


def test_utilisation_marks_build_out_phases(figures: dict[str, Axes]) -> None:
    ax = figures["utilisation_over_time"]
    texts = [t.get_text().replace("\u00a0", " ") for t in ax.texts]
    # a short number at the top of the axes, the details in the list under the axes
    assert "1" in texts
    assert any("(1) 2025-02-01: alpha/gpu +1,024 (expansion)" in t for t in texts)
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert {"alpha", "beta", "whole fleet", "build-out phase"} <= set(legend)
    assert any("range over 2 replications" in t for t in legend)
    assert any("warm-up" in t for t in legend)
    # 90 days: the table's own daily bins are drawn, and the label says so
    assert "daily" in ax.get_ylabel()
    alpha = next(line for line in ax.get_lines() if line.get_label() == "alpha")
    assert len(alpha.get_xdata()) == 90


def _many_centre_tables(
    n_centres: int = 9, days: int = 3 * 365, n_changes: int = 14
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Utilisation of many long-named centres over years, with many capacity changes."""
    rng = np.random.default_rng(3)
    start = pd.Timestamp(START)
    centres = [f"lingang-datacentre-campus-{k:02d}" for k in range(n_centres)]
    d = np.arange(days)
    frames = []
    for k, centre in enumerate(centres):
        online = np.full(days, 1000.0 * (k + 1))
        busy = online * np.clip(0.5 + 0.1 * np.sin(d / 60 + k) + rng.normal(0, 0.1, days), 0, 1)
        frames.append(
            pd.DataFrame(
                {
                    "bin_start_h": 24.0 * d,
                    "bin_end_h": 24.0 * (d + 1),
                    "date": start + pd.to_timedelta(d, unit="D"),
                    "centre": centre,
                    "pool": "ascend-910b",
                    "card_type": "910B",
                    "online_cards": online,
                    "busy_cards": busy,
                    "busy_card_h": 24.0 * busy,
                    "online_card_h": 24.0 * online,
                    "utilisation": busy / online,
                }
            )
        )
    # changes every two months, two on some dates, two a few days apart, one retirement
    offsets = [30 + 60 * i for i in range(n_changes - 2)] + [33, 30 + 60 * 3]
    rows = [
        {
            "time_h": 24.0 * off,
            "date": start + pd.Timedelta(days=off),
            "centre": centres[i % n_centres],
            "pool": "ascend-910b",
            "card_type": "910B",
            "delta_cards": 17_496 if i != 5 else -2_000,
            "online_cards": 50_000,
            "label": f"phase {i} ramp of the long-named campus build-out programme",
        }
        for i, off in enumerate(offsets)
    ]
    return pd.concat(frames, ignore_index=True), pd.DataFrame(rows)


def test_utilisation_figure_with_many_centres_and_build_outs_saves_cleanly() -> None:
    utilisation, capacity = _many_centre_tables()
    ax = plotting.plot_utilisation_over_time(utilisation, capacity, warmup_h=720.0, where="x")
    fig = ax.figure
    assert isinstance(fig, Figure)
    plotting.add_caption(fig, plotting.caption_text("many", 1, level=None))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fig.savefig(io.BytesIO(), format="png", dpi=80)
    assert [str(w.message) for w in caught] == []

    renderer = FigureCanvasAgg(fig).get_renderer()
    fig.draw(renderer)
    figure_box = fig.bbox
    legend = ax.get_legend()
    assert legend is not None
    for artist in (legend, ax.title, *ax.texts):
        box = artist.get_window_extent(renderer)
        assert box.x0 >= figure_box.x0 - 1 and box.x1 <= figure_box.x1 + 1, artist
        assert box.y0 >= figure_box.y0 - 1 and box.y1 <= figure_box.y1 + 1, artist
    # the axes keep most of the figure; the markers stay inside it, under the title
    axes_box = ax.get_window_extent(renderer)
    assert axes_box.width > 0.5 * figure_box.width
    assert axes_box.height > 0.4 * figure_box.height
    numbers = [t for t in ax.texts if t.get_text().isdigit()]
    assert sorted(int(t.get_text()) for t in numbers) == list(range(1, len(numbers) + 1))
    assert len(numbers) == 13  # 14 changes, two of them build-outs on one date
    for text in numbers:
        box = text.get_window_extent(renderer)
        assert axes_box.y0 <= box.y0 and box.y1 <= axes_box.y1 + 1
    # three years are drawn as monthly means, and the labels say so
    assert "monthly" in ax.get_ylabel() and "monthly" in ax.get_xlabel()
    first = next(line for line in ax.get_lines() if line.get_label().endswith("-00"))
    assert 36 <= len(first.get_xdata()) <= 37
    legend_texts = [t.get_text() for t in legend.get_texts()]
    assert {"whole fleet", "build-out phase", "retirement"} <= set(legend_texts)
    key = next(t.get_text() for t in ax.texts if "Capacity changes" in t.get_text())
    assert "-2,000" in key and key.count("+17,496") == 13


def test_utilisation_whole_fleet_is_black_and_no_centre_is() -> None:
    utilisation, capacity = _many_centre_tables(n_centres=9, days=200, n_changes=3)
    ax = plotting.plot_utilisation_over_time(utilisation, capacity)
    lines = {line.get_label(): line for line in ax.get_lines()}
    assert lines["whole fleet"].get_color() == "black"
    assert lines["whole fleet"].get_linewidth() > max(
        line.get_linewidth() for label, line in lines.items() if label.startswith("lingang")
    )
    styles = {
        (line.get_color(), line.get_linestyle())
        for label, line in lines.items()
        if label.startswith("lingang")
    }
    assert len(styles) == 9 and all(colour != "#000000" for colour, _ in styles)
    # 200 days: weekly means
    assert "weekly" in ax.get_ylabel()
    assert 28 <= len(lines["lingang-datacentre-campus-00"].get_xdata()) <= 30


@pytest.mark.parametrize("by", ["centre", "fleet"])
def test_utilisation_with_one_centre(by: str) -> None:
    tables = synthetic_tables(replications=1, n_jobs=10)
    one = tables["utilisation"][tables["utilisation"]["centre"] == "alpha"]
    ax = plotting.plot_utilisation_over_time(one, tables["capacity"], by=by)  # type: ignore[arg-type]
    labels = [line.get_label() for line in ax.get_lines() if not line.get_label().startswith("_")]
    assert labels == ["alpha" if by == "centre" else "fleet"]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ax.figure.savefig(io.BytesIO(), format="png", dpi=50)
    assert [str(w.message) for w in caught] == []


def test_wait_ecdf_reports_zero_waits_and_percentiles(tables: dict) -> None:
    ax = plotting.plot_wait_ecdf_by_size(tables["jobs"], where="toy")
    assert ax.get_xscale() == "log"
    assert "toy" in ax.get_title(loc="left")
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    for label in ("1 card", "2-8 cards", "9-64 cards", "65-1024 cards", ">1024 cards"):
        entry = next(t for t in legend if t.startswith(label + ":"))
        assert "zero wait" in entry and "p50" in entry and "p95" in entry
    # Every curve starts at its share of zero waits, so that share must match the data.
    jobs = tables["jobs"]
    ones = jobs[(jobs["size_class"] == "1") & jobs["wait_h"].notna()]
    share = float((ones["wait_h"] == 0).mean())
    first_line = ax.get_lines()[0]
    assert first_line.get_ydata()[0] == pytest.approx(share)


def test_wait_ecdf_with_only_zero_waits_stays_linear() -> None:
    jobs = synthetic_tables(n_jobs=50, replications=1)["jobs"]
    jobs = jobs.assign(wait_h=0.0, start_h=jobs["submit_h"])
    ax = plotting.plot_wait_ecdf_by_size(jobs)
    assert ax.get_xscale() == "linear"
    assert "(h)" in ax.get_xlabel()


def test_p95_by_quarter_uses_calendar_quarters() -> None:
    jobs = synthetic_tables(n_jobs=400, replications=1)["jobs"]
    jobs = jobs.assign(submit_h=jobs["submit_h"] * 3)  # spread over about nine months
    ax = plotting.plot_p95_wait_by_quarter(jobs, "2025-01-01", min_jobs=5)
    labels = [t.get_text() for t in ax.get_xticklabels()]
    assert labels[:3] == ["2025Q1", "2025Q2", "2025Q3"]


def test_forest_marks_zero_and_writes_intervals(figures: dict[str, Axes]) -> None:
    ax = figures["forest"]
    zero_lines = [line for line in ax.get_lines() if list(line.get_xdata()) == [0.0, 0.0]]
    assert zero_lines, "no line at zero"
    texts = [t.get_text() for t in ax.texts]
    assert any(t.startswith("-2.1 pp [-3.0 pp, -1.2 pp]") for t in texts)
    assert any("+41.0 h" in t for t in texts)
    assert len(ax.get_yticks()) == 4


def test_energy_labels_cost(figures: dict[str, Axes]) -> None:
    ax = figures["energy"]
    labels = [t.get_text() for t in ax.texts]
    assert any(t.startswith("¥") and t.endswith("M") for t in labels)
    assert [t.get_text() for t in ax.get_xticklabels()] == ["2025", "2026"]


def test_campaign_timeline_puts_campaigns_first(figures: dict[str, Axes]) -> None:
    ax = figures["campaigns"]
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert len(labels) == 6
    assert labels[0].startswith("flagship-70b") and labels[1].startswith("follow-up-7b")
    assert "replication 0" in ax.get_title(loc="left")


def test_empty_tables_give_a_labelled_empty_axes(tables: dict) -> None:
    empty = {name: table.iloc[0:0] for name, table in tables.items()}
    axes = [
        plotting.plot_utilisation_over_time(empty["utilisation"], empty["capacity"]),
        plotting.plot_utilisation_heatmap(empty["utilisation"]),
        plotting.plot_wait_ecdf_by_size(empty["jobs"]),
        plotting.plot_p95_wait_by_quarter(empty["jobs"], START),
        plotting.plot_backlog(empty["backlog"]),
        plotting.plot_forest(empty["paired"]),
        plotting.plot_energy_by_centre_year(empty["energy"]),
        plotting.plot_campaign_timeline(empty["jobs"]),
    ]
    for ax in axes:
        assert ax.get_title(loc="left")
        ax.figure.savefig(io.BytesIO(), format="png", dpi=40)


def test_add_caption_keeps_the_caption_below_the_axes(figures: dict[str, Axes]) -> None:
    fig = plotting.plot_backlog(synthetic_tables(n_jobs=20)["backlog"]).figure
    text = plotting.caption_text("toy-two-centres", 2, level=None, note="band: range")
    caption = plotting.add_caption(fig, text)
    assert caption.get_text() == "Scenario toy-two-centres · 2 replications · band: range"
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    renderer = canvas.get_renderer()
    caption_top = caption.get_window_extent(renderer).y1
    axes_bottom = fig.axes[0].get_tightbbox(renderer).y0
    assert caption_top <= axes_bottom + 1.0


def test_invalid_options_are_rejected(tables: dict) -> None:
    with pytest.raises(ValueError, match="by must be one of"):
        plotting.plot_utilisation_over_time(tables["utilisation"], by="tenant")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="column must be one of"):
        plotting.plot_backlog(tables["backlog"], column="cards")  # type: ignore[arg-type]


def test_metric_names_and_values() -> None:
    assert plotting.metric_label("wait_h_p95[size=1]") == "Wait, 95th percentile — jobs of 1 card"
    assert plotting.metric_label("utilisation[year=2026]").endswith("year 2026")
    assert plotting.metric_unit("jobs_finished") == "jobs"
    assert plotting.format_metric_value("jobs_finished", 1234.0) == "1,234 jobs"
    assert plotting.format_metric_value("wait_h_mean", float("nan")) == "n/a"
    assert plotting.format_metric_value("wait_h_mean", -2.0, difference=True) == "-2.00 h"
