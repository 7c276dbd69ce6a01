"""The failures figure (:func:`simulator.plotting.plot_failures`) and its place in the report.

It renders from a run's flat summary and from ``summary.json`` (with intervals), its bars
are the summary's lost card-hours by cause, its right panel draws the cards in repair and
maintenance per centre, and the report includes it only for scenarios with failures or
maintenance windows (without listing it as missing otherwise).
"""

from __future__ import annotations

import io
from types import SimpleNamespace

import numpy as np
import pytest
from matplotlib.axes import Axes

from simulator import plotting
from simulator.experiment import run_experiment
from simulator.output import stacked_tables, summary_document
from simulator.report import make_report_figures, render_report_html
from simulator.results import ExperimentResult
from simulator.scenario import Scenario


def failing_scenario(sim: SimpleNamespace, **overrides) -> Scenario:
    """Two centres of 16 servers, checkpointed gang jobs, failures and a maintenance window."""
    base = {
        "horizon_days": 6,
        "replications": 2,
        "centres": [
            {"name": "c1", "pools": [sim.pool("p1", servers=16)]},
            {"name": "c2", "pools": [sim.pool("p2", servers=16)]},
        ],
        "workload": {
            "classes": [
                sim.job_class(
                    rate_per_day=40,
                    gang_sizes=(8, 16, 32),
                    work={"unit": "ref_hours", "distribution": {"kind": "constant", "value": 6}},
                    checkpoint_interval_h=1.0,
                    checkpoint_write_h=0.05,
                    restart_overhead_h=0.1,
                )
            ]
        },
        "failures": {
            "rate_per_card_h": 2e-3,
            "repair_h": {"kind": "constant", "value": 12},
            "hot_spare_fraction": 0.1,
        },
        "maintenance": [
            {
                "centre": "c2",
                "start": "2025-01-03T00:00:00",
                "duration_h": 12,
                "fraction": 0.5,
                "mode": "preempt",
            }
        ],
    }
    base.update(overrides)
    return sim.scenario(**base)


@pytest.fixture(scope="module")
def experiment(sim) -> tuple[Scenario, ExperimentResult]:
    scenario = failing_scenario(sim)
    return scenario, run_experiment(scenario)


def _png(ax: Axes) -> bytes:
    buffer = io.BytesIO()
    ax.figure.savefig(buffer, format="png", dpi=60)
    return buffer.getvalue()


def test_figure_renders_from_a_run_summary(experiment) -> None:
    _, result = experiment
    run = result.runs[0]
    assert run.summary["interruptions"] > 0
    ax = plotting.plot_failures(run.summary, run.utilisation, where="test")
    assert _png(ax).startswith(b"\x89PNG")
    fig = ax.figure
    assert len(fig.axes) == 2
    assert ax.get_title(loc="left").startswith("Lost card-hours by cause\ngoodput ")
    heights = [p.get_height() for p in ax.patches]
    causes = [f"lost_card_h[cause={c}]" for c, _ in plotting.LOSS_CAUSES]
    assert heights == pytest.approx([run.summary[k] for k in causes])
    right = fig.axes[1]
    labels = [line.get_label() for line in right.get_lines()]
    assert "c1: in repair" in labels and "c2: in maintenance" in labels
    # Maintenance (preempt) holds half of c2's 128 cards for 12 hours of a 24-hour bin.
    line = next(li for li in right.get_lines() if li.get_label() == "c2: in maintenance")
    assert float(np.max(line.get_ydata())) == pytest.approx(64 * 12 / 24)


def test_figure_renders_from_summary_json_with_intervals(experiment) -> None:
    scenario, result = experiment
    document = summary_document(scenario, result, command="test")
    tables = stacked_tables(result.runs)
    ax = plotting.plot_failures(document, tables["utilisation"])
    assert _png(ax).startswith(b"\x89PNG")
    texts = " ".join(t.get_text() for t in ax.texts)
    assert "whiskers: 95% CI across replications" in texts
    assert "restarted on a hot spare" in texts
    assert "goodput c1" in texts and "goodput c2" in texts
    # The left panel alone when there is no utilisation table.
    assert len(plotting.plot_failures(document).figure.axes) == 1


def test_figure_says_when_nothing_failed() -> None:
    summary = {"goodput": 1.0, "interruptions": 0.0, "lost_card_h[cause=rework]": 0.0}
    ax = plotting.plot_failures(summary)
    assert not plotting.run_has_failures(summary)
    assert any("no failures" in t.get_text() for t in ax.texts)
    assert _png(ax).startswith(b"\x89PNG")


def test_metric_labels_and_units() -> None:
    assert plotting.metric_unit("lost_card_h[cause=rework]") == "card-h"
    assert plotting.format_metric_value("goodput", 0.6912) == "69.1 %"
    assert plotting.metric_unit("campaign_days_failure_free[name=x]") == "d"


def _report(sim: SimpleNamespace, scenario: Scenario) -> tuple[dict, str]:
    result = run_experiment(scenario, replications=1)
    summary = summary_document(scenario, result, command="test")
    tables = stacked_tables(result.runs)
    figures = make_report_figures(summary, scenario, tables)
    return figures, render_report_html(summary, scenario, tables, figures)


def test_report_includes_the_figure_only_with_failures(sim) -> None:
    figures, page = _report(sim, failing_scenario(sim, horizon_days=3))
    assert list(figures)[-1] == "failures"
    assert 'id="fig-failures"' in page and "cards in repair (solid)" in page
    plain = failing_scenario(sim, horizon_days=3, failures=None, maintenance=[])
    figures, page = _report(sim, plain)
    assert "failures" not in figures
    assert 'id="fig-failures"' not in page
    missing = page.split("Not drawn", 1)[-1].split("</p>", 1)[0]
    assert "failures" not in missing
