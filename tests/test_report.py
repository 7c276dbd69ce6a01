"""The HTML report: self-contained, complete, and strict about what a results folder is.

The result tables are synthetic (built with pandas to the contract of
:mod:`simulator.results`) and the scenario is ``scenarios/toy-two-centres.yaml``, so these
tests do not depend on the engine.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pandas as pd
import pytest

from simulator import report
from simulator.errors import OutputError
from simulator.report import (
    FIGURE_CAPTIONS,
    fleet_by_centre_year,
    make_report_figures,
    read_results_folder,
    render_report_html,
    write_report,
)
from simulator.scenario import Scenario, dump_scenario, load_scenario
from simulator.scenario.schema import size_class

TOY = Path(__file__).resolve().parents[1] / "scenarios" / "toy-two-centres.yaml"
REPLICATIONS = 2


@pytest.fixture(scope="module")
def scenario() -> Scenario:
    return load_scenario(TOY)


def _tables(scenario: Scenario, seed: int = 1, n_jobs: int = 240) -> dict[str, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    start = pd.Timestamp(scenario.start)
    days = int(scenario.horizon_days)
    pools = [(c.name, p.name, p.card_type, p.max_cards) for c in scenario.centres for p in c.pools]
    util, backlog, jobs = [], [], []
    for rep in range(REPLICATIONS):
        for d in range(days):
            date = start + pd.Timedelta(days=d)
            for centre, pool, card, cards in pools:
                busy = cards * float(rng.uniform(0.4, 0.9))
                util.append(
                    {
                        "replication": rep,
                        "bin_start_h": 24.0 * d,
                        "bin_end_h": 24.0 * (d + 1),
                        "date": date,
                        "centre": centre,
                        "pool": pool,
                        "card_type": card,
                        "online_cards": float(cards),
                        "busy_cards": busy,
                        "busy_card_h": 24 * busy,
                        "online_card_h": 24.0 * cards,
                        "utilisation": busy / cards,
                    }
                )
            backlog.append(
                {
                    "replication": rep,
                    "bin_start_h": 24.0 * d,
                    "bin_end_h": 24.0 * (d + 1),
                    "date": date,
                    "queued_jobs": float(rng.poisson(4)),
                    "queued_cards": float(rng.poisson(150)),
                }
            )
        cards = rng.choice([1, 4, 8, 32, 128, 512, 2048], size=n_jobs)
        submit = np.sort(rng.uniform(0, 24.0 * days, n_jobs))
        wait = np.where(rng.random(n_jobs) < 0.4, 0.0, rng.exponential(3.0, n_jobs))
        run = rng.exponential(5.0, n_jobs)
        campaign = np.full(n_jobs, "", dtype=object)
        campaign[5] = "flagship-70b"
        submit[5], wait[5], run[5] = 984.0, 12.0, 300.0
        start_h, end_h = submit + wait, submit + wait + run
        jobs.append(
            pd.DataFrame(
                {
                    "replication": rep,
                    "job_id": np.arange(n_jobs, dtype="int64"),
                    "job_class": "evaluation",
                    "tenant": "default",
                    "priority": 0,
                    "cards": cards,
                    "size_class": [size_class(int(c)) for c in cards],
                    "submit_h": submit,
                    "start_h": start_h,
                    "end_h": end_h,
                    "wait_h": wait,
                    "run_h": run,
                    "centre": "alpha",
                    "pool": "gpu",
                    "card_type": "A100",
                    "work_ref_card_h": cards * run,
                    "estimate_h": 2 * run,
                    "state": "done",
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
            "delta_cards": [512, 768, 512],
            "online_cards": [512, 768, 1024],
            "label": ["opening", "", "expansion"],
        }
    )
    energy = pd.DataFrame(
        {
            "replication": [0, 0, 1, 1],
            "centre": ["alpha", "beta"] * 2,
            "year": [2025] * 4,
            "energy_mwh": [310.0, 240.0, 305.0, 243.0],
            "cost_cny": [217e3, 168e3, 213.5e3, 170.1e3],
        }
    )
    return {
        "jobs": pd.concat(jobs, ignore_index=True),
        "utilisation": pd.DataFrame(util),
        "backlog": pd.DataFrame(backlog),
        "capacity": capacity,
        "energy": energy,
    }


def _summary(scenario: Scenario) -> dict:
    def entry(mean: float, half: float | None) -> dict:
        if half is None:
            return {"mean": mean, "ci_low": None, "ci_high": None, "n": 1}
        return {"mean": mean, "ci_low": mean - half, "ci_high": mean + half, "n": REPLICATIONS}

    metrics = {
        "utilisation": entry(0.712, 0.014),
        "utilisation[year=2025]": entry(0.712, 0.014),
        "utilisation[centre=alpha]": entry(0.70, 0.02),
        "utilisation[centre=beta]": entry(0.73, 0.02),
        "wait_h_mean": entry(1.9, 0.3),
        "wait_h_p50": entry(0.0, 0.0),
        "wait_h_p95": entry(8.4, 1.1),
        "wait_h_p99": entry(19.0, 4.0),
        "wait_h_p95[size=1]": entry(0.42, 0.05),
        "wait_h_p95[size=2-8]": entry(1.3, 0.2),
        "wait_h_p95[size=>1024]": entry(52.0, 12.0),
        "wait_h_p95[size=1,year=2025]": entry(0.42, 0.05),
        "wait_h_p95[size=>1024,year=2025]": entry(52.0, 12.0),
        "campaign_days[name=flagship-70b]": entry(13.0, 0.4),
        "energy_mwh": entry(549.0, 4.0),
        "energy_mwh[year=2025]": entry(549.0, 4.0),
        "energy_cost_cny": entry(384300.0, 2800.0),
        "jct_h_mean": entry(6.9, 0.4),
        "bsld_mean": entry(1.8, None),
        "backlog_cards_mean": entry(151.0, 6.0),
        "jobs_submitted": entry(240.0, 0.0),
        "jobs_finished": entry(240.0, 0.0),
        "jobs_waiting_at_horizon": entry(0.0, 0.0),
    }
    per_replication = [
        {"replication": r, "utilisation": 0.70 + 0.02 * r, "wait_h_p95": 8.0 + r}
        for r in range(REPLICATIONS)
    ]
    return {
        "schema_version": 1,
        "scenario": scenario.name,
        "replications": REPLICATIONS,
        "seed": scenario.seed,
        "metrics": metrics,
        "per_replication": per_replication,
        "meta": {
            "version": "0.1.0",
            "command": "lingang-sim run scenarios/toy-two-centres.yaml --out results/toy",
            "created": "2025-06-01T12:00:00",
        },
    }


@pytest.fixture(scope="module")
def rendered(scenario: Scenario) -> tuple[str, dict]:
    tables = _tables(scenario)
    summary = _summary(scenario)
    figures = make_report_figures(summary, scenario, tables)
    return render_report_html(summary, scenario, tables, figures), figures


def _write_folder(folder: Path, scenario: Scenario, *, jobs: str = "per_replication") -> Path:
    """A results folder; ``jobs`` is "per_replication" (jobs/r<n>.parquet), "one" or "none"."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "scenario.yaml").write_text(dump_scenario(scenario), encoding="utf-8")
    (folder / "summary.json").write_text(json.dumps(_summary(scenario)), encoding="utf-8")
    for name, table in _tables(scenario).items():
        if name != "jobs":
            table.to_parquet(folder / f"{name}.parquet", index=False)
        elif jobs == "one":
            table.to_parquet(folder / "jobs.parquet", index=False)
        elif jobs == "per_replication":
            (folder / "jobs").mkdir()
            for replication, rows in table.groupby("replication"):
                rows.to_parquet(folder / "jobs" / f"r{replication}.parquet", index=False)
    return folder


def test_html_is_self_contained(rendered: tuple[str, dict]) -> None:
    page, _ = rendered
    assert page.startswith("<!DOCTYPE html>")
    for forbidden in ("http://", "https://", 'src="//', "<script", "<link", "@import", "url("):
        assert forbidden not in page, forbidden
    for src in re.findall(r'src="([^"]*)"', page):
        assert src.startswith("data:image/png;base64,")


def test_html_contains_every_figure_with_a_caption(rendered: tuple[str, dict]) -> None:
    page, figures = rendered
    assert set(figures) == set(FIGURE_CAPTIONS) - {"forest"}
    for key in figures:
        block = re.search(rf'<figure id="fig-{key}">(.*?)</figure>', page, re.S)
        assert block, key
        assert "data:image/png;base64," in block.group(1)
        caption = re.search(r"<figcaption>(.*?)</figcaption>", block.group(1), re.S)
        assert caption and "Scenario toy-two-centres" in caption.group(1)
        assert "2 replications" in caption.group(1)
    assert "range (min to max) over replications" in page


def test_html_contains_every_table(rendered: tuple[str, dict]) -> None:
    page, _ = rendered
    for table_id in (
        "tbl-fleet",
        "tbl-phases",
        "tbl-centres",
        "tbl-card-types",
        "tbl-workload",
        "tbl-campaigns",
        "tbl-answers",
        "tbl-answers-by-year",
        "tbl-campaign-outcomes",
        "tbl-metrics-utilisation",
        "tbl-metrics-wait",
        "tbl-metrics-jct",
        "tbl-metrics-campaigns",
        "tbl-metrics-counts",
        "tbl-per-replication",
        "tbl-all-metrics",
        "tbl-data-files",
    ):
        assert f'<table id="{table_id}">' in page, table_id
    inventory = re.search(r'<table id="tbl-data-files">(.*?)</table>', page, re.S)
    assert inventory
    for name in ("jobs", "utilisation", "backlog", "capacity", "energy"):
        assert f"<td>{name}</td>" in inventory.group(1), name


def test_html_states_intervals_and_headlines(rendered: tuple[str, dict]) -> None:
    page, _ = rendered
    assert "71.2 % [69.8, 72.6]" in page  # utilisation, mean [low, high]
    assert "Fleet utilisation in 2025" in page
    assert "0.42 h [0.37, 0.47]" in page  # p95 wait of 1-card jobs
    assert "52.0 h [40.0, 64.0]" in page  # p95 wait of >1024-card jobs
    assert "1.8 (no interval: one replication)" in page
    assert "13.0 d [12.6, 13.4]" in page  # time to train from the summary
    assert "384,300 CNY [381,500, 387,100]" in page
    # flagship-70b: submitted at 984 h, waited 12 h, ran 300 h: 13.0 days to train
    outcome = re.search(r'<table id="tbl-campaign-outcomes">(.*?)</table>', page, re.S)
    assert outcome and "13.0 d" in outcome.group(1)


def test_headline_by_year(rendered: tuple[str, dict]) -> None:
    """The planner's headline per calendar year: utilisation, p95 waits of 1-card and of
    >1024-card jobs, energy."""
    page, _ = rendered
    table = re.search(r'<table id="tbl-answers-by-year">(.*?)</table>', page, re.S)
    assert table
    row = re.search(r"<tr><td>2025</td>(.*?)</tr>", table.group(1), re.S)
    assert row, table.group(1)
    cells = re.findall(r"<td[^>]*>(.*?)</td>", row.group(1))
    assert cells[0] == "71.2 % [69.8, 72.6]"
    assert cells[1] == "0.42 h [0.37, 0.47]"
    assert cells[2] == "52.0 h [40.0, 64.0]"
    assert cells[3].startswith("549")


def test_html_prints_to_a4(rendered: tuple[str, dict]) -> None:
    page, _ = rendered
    assert "@media print" in page and "size: A4" in page
    assert "page-break-inside: avoid" in page
    assert re.search(r"figure img \{[^}]*max-width: 100%", page)


def test_html_has_the_reproducibility_footer(rendered: tuple[str, dict]) -> None:
    page, _ = rendered
    footer = re.search(r'<footer id="reproduce">(.*?)</footer>', page, re.S)
    assert footer
    for text in ("0.1.0", "lingang-sim run scenarios/toy-two-centres.yaml", "Root seed", ">7<"):
        assert text in footer.group(1), text


def test_html_escapes_scenario_text() -> None:
    scenario = load_scenario(TOY, {"description": "Alpha & beta <draft>"})
    page = render_report_html(_summary(scenario), scenario, {}, {})
    assert "Alpha &amp; beta &lt;draft&gt;" in page
    assert "<draft>" not in page
    assert "per-job records were not kept" in page


def test_fleet_by_centre_and_year_follows_the_phases() -> None:
    scenario = load_scenario(
        TOY,
        {
            "horizon_days": 800,
            "centres.alpha.pools.gpu.phases[1].date": "2026-03-01",
        },
    )
    fleet = fleet_by_centre_year(scenario).set_index(["centre", "year"])["cards"]
    assert fleet[("alpha", 2025)] == 64 * 8
    assert fleet[("alpha", 2026)] == 128 * 8
    assert fleet[("alpha", 2027)] == 128 * 8
    assert fleet[("beta", 2025)] == 96 * 8
    assert list(fleet_by_centre_year(scenario)["year"].unique()) == [2025, 2026, 2027]


def test_fleet_ignores_phases_after_the_horizon() -> None:
    scenario = load_scenario(TOY, {"centres.alpha.pools.gpu.phases[1].date": "2025-12-01"})
    fleet = fleet_by_centre_year(scenario)
    assert fleet.loc[fleet["centre"] == "alpha", "cards"].tolist() == [64 * 8]


def test_write_report_writes_one_file_atomically(tmp_path: Path, scenario: Scenario) -> None:
    folder = _write_folder(tmp_path / "run", scenario)
    (folder / "report.html").write_text("old", encoding="utf-8")
    path = write_report(folder, title="Toy & test")
    assert path == folder / "report.html"
    page = path.read_text(encoding="utf-8")
    assert "<title>Toy &amp; test</title>" in page
    for key in FIGURE_CAPTIONS:
        if key != "forest":
            assert f'id="fig-{key}"' in page, key
    assert "https://" not in page and "http://" not in page
    assert sorted(p.name for p in folder.iterdir() if p.name.startswith(".")) == []


def test_write_report_without_job_records(tmp_path: Path, scenario: Scenario) -> None:
    folder = _write_folder(tmp_path / "run", scenario, jobs="none")
    page = write_report(folder).read_text(encoding="utf-8")
    assert 'id="fig-utilisation_over_time"' in page
    assert 'id="fig-wait_ecdf_by_size"' not in page
    assert "Not drawn, for lack of the table they need" in page


def test_read_results_folder_returns_the_tables(tmp_path: Path, scenario: Scenario) -> None:
    summary, loaded, tables = read_results_folder(_write_folder(tmp_path / "run", scenario))
    assert summary["scenario"] == "toy-two-centres"
    assert loaded == scenario
    assert set(tables) == {"jobs", "utilisation", "backlog", "capacity", "energy"}
    assert sorted(tables["jobs"]["replication"].unique()) == [0, 1]
    assert "estimate_h" not in tables["jobs"].columns  # only the columns the report uses
    _, _, one_file = read_results_folder(_write_folder(tmp_path / "one", scenario, jobs="one"))
    assert len(one_file["jobs"]) == len(tables["jobs"])


def test_large_job_tables_are_read_for_one_replication(
    tmp_path: Path, scenario: Scenario, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(report, "MAX_JOB_ROWS", 300)
    folder = _write_folder(tmp_path / "run", scenario)
    _, _, tables = read_results_folder(folder)
    assert list(tables["jobs"]["replication"].unique()) == [0]
    assert "replication 0 only" in tables["jobs"].attrs["subset"]
    assert "replication 0 only" in write_report(folder).read_text(encoding="utf-8")


def test_a_folder_without_summary_is_not_a_results_folder(tmp_path: Path) -> None:
    with pytest.raises(OutputError, match=r"expected summary\.json .*there is no summary\.json"):
        write_report(tmp_path)
    with pytest.raises(OutputError, match="does not exist"):
        write_report(tmp_path / "missing")


def test_another_schema_version_is_refused(tmp_path: Path, scenario: Scenario) -> None:
    folder = _write_folder(tmp_path / "run", scenario)
    summary = json.loads((folder / "summary.json").read_text(encoding="utf-8"))
    summary["schema_version"] = 2
    (folder / "summary.json").write_text(json.dumps(summary), encoding="utf-8")
    with pytest.raises(OutputError, match='"schema_version": 1.*it has 2'):
        write_report(folder)
    assert not (folder / "report.html").exists()


def test_unreadable_summary_or_missing_scenario_is_refused(
    tmp_path: Path, scenario: Scenario
) -> None:
    folder = _write_folder(tmp_path / "run", scenario)
    (folder / "scenario.yaml").unlink()
    with pytest.raises(OutputError, match="no scenario.yaml"):
        write_report(folder)
    (folder / "summary.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(OutputError, match="cannot be read"):
        write_report(folder)
