#!/usr/bin/env bash
# Regenerate every number and figure of docs/workload-calibration.md from the stored traces.
#
#   bash scripts/calibrate_workload.sh            # traces in /work/shared/traces
#   TRACES=/path/to/traces OUT=/tmp/cal bash scripts/calibrate_workload.sh
#
# Writes the fitted class blocks, fit reports (JSON) and a summary (Markdown tables and the
# proposed replacement blocks) to $OUT (default build/calibration), and the figures to
# docs/figures/fit-*.png. Takes about a minute.
set -euo pipefail
cd "$(dirname "$0")/.."
TRACES=${TRACES:-/work/shared/traces}
OUT=${OUT:-build/calibration}
FIGURES=docs/figures
mkdir -p "$OUT" "$FIGURES"

# `lingang-sim traces fit` once the command is registered in the main CLI; the module
# entry point (the same command) otherwise.
if .venv/bin/lingang-sim traces fit --help >/dev/null 2>&1; then
  FIT=(.venv/bin/lingang-sim traces fit)
else
  FIT=(.venv/bin/python -m simulator.traces.fit_commands)
fi

PHILLY="$TRACES/philly-jobs-pollux/philly.csv.gz"
ITP=("$TRACES"/microsoft-itp-2021/cluster*.csv.gz)
# Philly window: 2017-10-03 00:00 to 2017-12-15 00:00, the window of the stored node log
# (philly-aggregates), which the 2,490-GPU machine list describes. The subset's first
# submit is 2017-09-04 10:30:41, so the window starts 28.56202546 days after it; the
# subset's first weeks are nearly empty and would dilute the rate.
PHILLY_WINDOW=(--start-day 28.56202546 --span-days 73 --capacity 2490)

echo "== evaluation: Philly (Pollux subset), 1-8 GPUs"
"${FIT[@]}" "$PHILLY" --format philly --name evaluation --max-cards 8 "${PHILLY_WINDOW[@]}" \
  --out "$OUT/evaluation-philly.yaml" --report "$OUT/evaluation-philly.json" \
  --figure "$FIGURES/fit-evaluation-philly.png" --force

echo "== fine-tuning: ITP 2021 (10 clusters), 8-64 GPUs"
"${FIT[@]}" "${ITP[@]}" --format itp --name fine-tuning --min-cards 8 --max-cards 64 \
  --out "$OUT/fine-tuning-itp.yaml" --report "$OUT/fine-tuning-itp.json" \
  --figure "$FIGURES/fit-fine-tuning-itp.png" --force

echo "== fine-tuning cross-checks: ITP 16-64 GPUs; Philly 8-64 GPUs"
"${FIT[@]}" "${ITP[@]}" --format itp --name fine-tuning --min-cards 16 --max-cards 64 \
  --out "$OUT/fine-tuning-itp-16.yaml" --report "$OUT/fine-tuning-itp-16.json" --force
"${FIT[@]}" "$PHILLY" --format philly --name fine-tuning --min-cards 8 --max-cards 64 \
  "${PHILLY_WINDOW[@]}" --out "$OUT/fine-tuning-philly.yaml" \
  --report "$OUT/fine-tuning-philly.json" --force

echo "== pretraining: ITP 2021, 64+ GPUs (the only >= 64-GPU jobs in numbers)"
"${FIT[@]}" "${ITP[@]}" --format itp --name pretraining --min-cards 64 \
  --out "$OUT/pretraining-itp.yaml" --report "$OUT/pretraining-itp.json" \
  --figure "$FIGURES/fit-pretraining-itp.png" --force

echo "== pretraining: Philly, 64+ GPUs (expected to fail: too few jobs)"
if "${FIT[@]}" "$PHILLY" --format philly --name pretraining --min-cards 64 \
  >"$OUT/pretraining-philly.txt" 2>&1; then
  echo "unexpected: the Philly 64+ fit succeeded"
else
  tail -n 1 "$OUT/pretraining-philly.txt"
fi

echo "== rates, loads, profiles, frontier budgets and the proposed blocks"
TRACES="$TRACES" OUT="$OUT" FIGURES="$FIGURES" .venv/bin/python - <<'PY'
"""Numbers for docs/workload-calibration.md: printed as Markdown, saved in $OUT."""

import datetime as dt
import glob
import json
import math
import os
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from matplotlib.figure import Figure

from simulator.plotting import LABEL_SIZE, LEGEND_SIZE, OKABE_ITO
from simulator.scenario.loader import load_scenario
from simulator.scenario.schema import JobClass
from simulator.traces import read_trace
from simulator.traces.fit import (
    arrival_profiles,
    class_work_per_day,
    combine_tables,
    distribution_mean,
    estimate_factors,
    fit_lognormal,
    fit_report,
    plot_fit,
    trim_window,
)

TRACES = Path(os.environ["TRACES"])
OUT = Path(os.environ["OUT"])
FIGURES = Path(os.environ["FIGURES"])
lines: list[str] = []


def emit(text: str = "") -> None:
    lines.append(text)
    print(text)


def load(name: str) -> dict:
    return yaml.safe_load((OUT / f"{name}.yaml").read_text())


def report(name: str) -> dict:
    return json.loads((OUT / f"{name}.json").read_text())["report"]


# ------------------------------------------------------------------ jobs per card per day
acme = pd.read_csv(TRACES / "acme-summary/cluster_summary.csv").set_index("id")
helios = pd.read_csv(TRACES / "helios-aggregates/helios_cluster_summary.csv").set_index("id")


def gpu_hours(row: pd.Series) -> float:
    return float(row["complete_gpu_time"] + row["cancel_gpu_time"] + row["fail_gpu_time"]) / 3600


rows = []
# Acme (NSDI'24): 4,704 A100 in Seren + Kalos, March-August 2023 (facts [W1][W2]; AcmeTrace
# README "6 months"). Per-cluster GPU counts (Seren 2,288 = 286 x 8, Kalos 2,416 = 302 x 8)
# are the paper's; they are not in the stored files. Kalos's window is not stored either:
# 184 days (Mar-Aug) gives a lower bound of its rate, mid-May to Aug (108 days) a higher one.
acme_days = (dt.date(2023, 9, 1) - dt.date(2023, 3, 1)).days
kalos_short = (dt.date(2023, 9, 1) - dt.date(2023, 5, 16)).days
for name, gpus, days, when in (("Seren", 2288, acme_days, "Mar-Aug"),
                               ("Kalos", 2416, acme_days, "Mar-Aug"),
                               ("Kalos", 2416, kalos_short, "May 16-Aug")):
    r = acme.loc[name]
    rows.append((f"Acme {name} ({when})", int(r["gpu_job_num"]), gpus, days, gpu_hours(r)))
both = acme.loc[["Seren", "Kalos"]]
rows.append(("Acme Seren + Kalos (Mar-Aug)", int(both["gpu_job_num"].sum()), 4704, acme_days,
             sum(gpu_hours(both.loc[n]) for n in ("Seren", "Kalos"))))
# Helios (SC'21): gpu_num is the mean daily GPU total; the daily tables cover 2020-04-01 ..
# 2020-09-28 (181 days).
helios_days = (dt.date(2020, 9, 29) - dt.date(2020, 4, 1)).days
for name in ("Venus", "Earth", "Saturn", "Uranus", "total"):
    r = helios.loc[name]
    label = "Helios (4 clusters)" if name == "total" else f"Helios {name}"
    rows.append((label, int(r["gpu_job_num"]), int(r["gpu_num"]), helios_days, gpu_hours(r)))
# Philly (ATC'19): 112,956 GPU jobs (Acme summary); jobs submitted 2017-08-07 .. 2017-12-22
# (msr-fiddle/philly-traces README, 137 days); 2,490 GPUs (machine list) or 3,205 (revised).
philly_days = (dt.date(2017, 12, 22) - dt.date(2017, 8, 7)).days
r = acme.loc["Philly"]
for gpus in (2490, 3205):
    rows.append((f"Philly ({gpus:,} GPUs)", int(r["gpu_job_num"]), gpus, philly_days, gpu_hours(r)))
# Pollux Philly subset in the 73-day window of the node log.
philly = read_trace(TRACES / "philly-jobs-pollux/philly.csv.gz", "philly")
window = trim_window(philly, 28.56202546, 73.0)
rows.append(("Philly subset (Pollux), Oct 3-Dec 15", len(window), 2490, 73,
             float((window.cards * window.run_s).sum()) / 3600))
# ITP 2021: no capacity; 69,351 jobs, 1,632,719.7 GPU-hours over the submit span.
itp = combine_tables([read_trace(f, "itp") for f in sorted(glob.glob(str(TRACES / "microsoft-itp-2021/cluster*.csv.gz")))])
itp_days = float(itp.submit_s.max() - itp.submit_s.min()) / 86400
rows.append(("ITP 2021 (10 clusters)", len(itp), None, itp_days,
             float((itp.cards * itp.run_s).sum()) / 3600))

# Lingang baseline at the start.
scenario = load_scenario("scenarios/lingang-baseline.yaml")
ref = scenario.card_type(scenario.reference_card)
ref_flop_h = ref.effective_tflops * 1e12 * 3600


def fleet(date: dt.date) -> tuple[int, float, dict[str, int]]:
    cards, ref_cards, by_type = 0, 0.0, {}
    for centre in scenario.centres:
        for pool in centre.pools:
            online = sum(p.servers for p in pool.phases if p.date <= date)
            online -= sum(r.servers for r in pool.retirements if r.date <= date)
            n = online * pool.cards_per_server
            speed = scenario.card_type(pool.card_type).effective_tflops / ref.effective_tflops
            cards += n
            ref_cards += n * speed
            by_type[pool.card_type] = by_type.get(pool.card_type, 0) + n
    return cards, ref_cards, by_type


start_cards, start_ref, start_types = fleet(scenario.start)
end_cards, end_ref, end_types = fleet(dt.date(2025, 12, 31))
classes = scenario.workload.classes
base_jobs = sum(c.arrival.rate_per_day for c in classes)
base_work = {c.name: class_work_per_day(c, ref_flop_h) for c in classes}

emit("## Jobs per card per day")
emit()
emit("| trace | GPU jobs | GPUs | days | jobs/day | jobs per card per day | GPU-hours | offered load | jobs per busy card-day |")
emit("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
for label, jobs, gpus, days, gh in rows:
    per_day = jobs / days
    jpcd = f"{per_day / gpus:.3f}" if gpus else "-"
    load_ = f"{gh / (gpus * days * 24):.2f}" if gpus else "-"
    emit(f"| {label} | {jobs:,} | {f'{gpus:,}' if gpus else '-'} | {days:.0f} | {per_day:,.0f} | {jpcd} | "
         f"{gh:,.0f} | {load_} | {jobs / (gh / 24):.2f} |")
busy_ref = sum(base_work.values()) / 24
emit(f"| Lingang baseline at start (4 classes) | {base_jobs:,.2f}/day | {start_cards:,} "
     f"({end_cards:,} end-2025) | - | {base_jobs:,.0f} | {base_jobs / start_cards:.3f} "
     f"({base_jobs / end_cards:.3f}) | {sum(base_work.values()):,.0f}/day (ref) | "
     f"{busy_ref / start_ref:.2f} (ref) | {base_jobs / busy_ref:.3f} (ref) |")
emit()
emit(f"Fleet at {scenario.start}: {start_cards:,} cards = {start_ref:,.0f} reference cards "
     f"({', '.join(f'{k} {v:,}' for k, v in start_types.items())}); end-2025: "
     f"{end_cards:,} cards = {end_ref:,.0f} reference cards.")
emit()
emit("| baseline class | jobs/day | mean cards | mean ref-hours per job | ref-card-hours/day | share of load | share of 2025-01-01 capacity |")
emit("|---|---:|---:|---:|---:|---:|---:|")
total_work = sum(base_work.values())
for c in classes:
    w = base_work[c.name]
    mean_cards = distribution_mean(c.gang_size)
    emit(f"| {c.name} | {c.arrival.rate_per_day:g} | {mean_cards:.1f} | "
         f"{w / c.arrival.rate_per_day / mean_cards:.3g} | {w:,.0f} | {w / total_work:.1%} | "
         f"{w / 24 / start_ref:.1%} |")
emit(f"| total | {base_jobs:,.2f} | | | {total_work:,.0f} | 100% | {total_work / 24 / start_ref:.1%} |")
emit()
for name, rate in (("Kalos-like (0.05)", 0.05), ("Philly 1-8 window (0.40)", 0.4033),
                   ("Helios (1.40)", 1.404), ("Seren (1.58)", 1.577)):
    emit(f"- {name} jobs per card per day x {end_cards:,} cards = {rate * end_cards:,.0f} jobs/day")
emit()

# ------------------------------------------------------------------ arrival profiles
venus = pd.read_csv(TRACES / "helios-aggregates/venus_cluster_throughput_10min.csv.gz",
                    parse_dates=["time"])
t = (venus["time"] - pd.Timestamp("1970-01-01")) / pd.Timedelta(seconds=1)
t = t.to_numpy() + 300.0  # the middle of each 10-minute bin
v_daily, v_weekly = arrival_profiles(t, weights=venus["submit_gpu_job"].to_numpy(),
                                     window=(t.min() - 300.0, t.max() + 300.0))
ev = report("evaluation-philly")["arrival"]
p_daily, p_weekly = ev["daily_profile_trace"], ev["weekly_profile_trace"]
base_eval = next(c for c in classes if c.name == "evaluation")
b_daily = np.asarray(base_eval.arrival.daily_profile) / np.mean(base_eval.arrival.daily_profile)
b_weekly = np.asarray(base_eval.arrival.weekly_profile) / np.mean(base_eval.arrival.weekly_profile)
venus_days = venus.assign(day=venus["time"].dt.floor("D")).groupby("day")["submit_gpu_job"].sum()
gpus = pd.read_csv(TRACES / "helios-aggregates/venus_cluster_gpu_number.csv", parse_dates=["date"]).set_index("date")["total"]
per_card = (venus_days / gpus.reindex(venus_days.index)).dropna()
emit("## Arrival profiles")
emit()
emit(f"Helios Venus GPU jobs submitted: {int(venus['submit_gpu_job'].sum()):,} in {len(venus_days)} days; "
     f"jobs per GPU per day: mean {per_card.mean():.2f}, p10 {per_card.quantile(0.1):.2f}, "
     f"p90 {per_card.quantile(0.9):.2f}; variance/mean of daily counts "
     f"{venus_days.var() / venus_days.mean():.0f}.")
emit(f"- Venus daily (hour 0 first): {v_daily}")
emit(f"- Venus weekly (Monday first): {v_weekly}")
emit(f"- Philly 1-8 daily: {p_daily}")
emit(f"- Philly 1-8 weekly: {p_weekly}")
emit(f"- peak/trough: Venus {max(v_daily) / min(v_daily):.2f}, Philly {max(p_daily) / min(p_daily):.2f}, "
     f"baseline {b_daily.max() / b_daily.min():.2f}; weekend/weekday: Venus "
     f"{np.mean(v_weekly[5:]) / np.mean(v_weekly[:5]):.2f}, Philly {np.mean(p_weekly[5:]) / np.mean(p_weekly[:5]):.2f}, "
     f"baseline {b_weekly[5:].mean() / b_weekly[:5].mean():.2f}")
emit()

fig = Figure(figsize=(10.0, 3.8), layout="constrained")
ax_d, ax_w = fig.subplots(1, 2, width_ratios=[2.4, 1])
hours = np.arange(24)
for values, label, colour, style in ((v_daily, "Helios Venus, GPU jobs (2020; China time presumed)", OKABE_ITO[0], "-"),
                                     (p_daily, "Philly 1-8 GPUs (2017; time zone unknown)", OKABE_ITO[1], "--"),
                                     (b_daily, "baseline 'evaluation' (hand-set)", OKABE_ITO[3], ":")):
    ax_d.plot(hours, values, color=colour, linestyle=style, marker="o", markersize=3, label=label)
ax_d.set_xticks(range(0, 24, 3))
ax_d.set_title("Arrivals by hour of day", fontsize=LABEL_SIZE, loc="left")
ax_d.set_xlabel("hour of day (local wall clock of each trace)")
ax_d.set_ylabel("arrival rate / mean rate")
ax_d.legend(fontsize=LEGEND_SIZE - 1, frameon=False)
days_x = np.arange(7)
for values, colour, style in ((v_weekly, OKABE_ITO[0], "-"), (p_weekly, OKABE_ITO[1], "--"),
                              (b_weekly, OKABE_ITO[3], ":")):
    ax_w.plot(days_x, values, color=colour, linestyle=style, marker="o", markersize=3)
ax_w.set_xticks(days_x, ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"])
ax_w.set_title("Arrivals by weekday", fontsize=LABEL_SIZE, loc="left")
ax_w.set_xlabel("day of the week")
ax_w.set_ylabel("arrival rate / mean rate")
for ax in (ax_d, ax_w):
    ax.grid(True, alpha=0.3, linewidth=0.6)
    ax.set_ylim(bottom=0)
fig.savefig(FIGURES / "fit-arrival-profiles.png", dpi=100)

# ------------------------------------------------------------------ run-time cross-checks
emit("## Run-time cross-checks (lognormal sigma implied by a median and a mean)")
emit()
emit("| cluster | median GPU-job run (s) | mean (s) | sigma = sqrt(2 ln(mean/median)) |")
emit("|---|---:|---:|---:|")
for name in ("Seren", "Kalos", "Philly", "Helios"):
    r = acme.loc[name]
    emit(f"| {name} | {r['med_run_time_gpu']:,.0f} | {r['avg_run_time_gpu']:,.0f} | "
         f"{math.sqrt(2 * math.log(r['avg_run_time_gpu'] / r['med_run_time_gpu'])):.2f} |")
emit()

# ------------------------------------------------------------------ estimate factors (HPC)
emit("## User estimates in HPC logs (the GPU traces have none)")
emit()
emit("| log | jobs with estimate | estimate/run p10 | p25 | p50 | p75 | p90 | share < 1 | p50 for runs >= 1 h |")
emit("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
for name in ("KTH-SP2-1996-2.1-cln", "HPC2N-2002-2.1-cln", "SDSC-BLUE-2000-4.2-cln",
             "CEA-Curie-2011-2.1-cln"):
    log = read_trace(TRACES / f"pwa-swf/{name}.swf.gz", "swf", on_bad="skip")
    f_all = estimate_factors(log)
    f_long = estimate_factors(log[log.run_s >= 3600])
    qs = np.quantile(f_all, [0.1, 0.25, 0.5, 0.75, 0.9])
    emit(f"| {name} | {f_all.size:,} | " + " | ".join(f"{q:.3g}" for q in qs)
         + f" | {(f_all < 1).mean():.1%} | {np.median(f_long):.2f} |")
emit()

# ------------------------------------------------------------------ frontier FLOP budgets
budgets = {  # training FLOP, facts section 6 (DERIVED ones by 6 N D from the facts)
    "GPT-3 175B [R11]": 3.14e23,
    "OPT-175B [R11]": 4.3e23,
    "Kimi K2 (32B active, 15.5T tokens) [M1]": 6 * 32e9 * 15.5e12,
    "DeepSeek-V3 (37B active, 14.8T tokens) [D1]": 6 * 37e9 * 14.8e12,
    "Pangu Ultra 135B dense, 13.2T tokens [M3]": 6 * 135e9 * 13.2e12,
    "Llama 3.1 405B [R4]": 3.8e25,
}
flop_fit = fit_lognormal(np.array(list(budgets.values())), min_jobs=5, what="frontier budgets")
emit("## Frontier FLOP budgets")
emit()
for k, v in budgets.items():
    emit(f"- {k}: {v:.3g} FLOP = {v / ref_flop_h:,.0f} reference-card-hours")
emit(f"- lognormal MLE over {flop_fit.n}: median {flop_fit.median:.3g} FLOP, sigma "
     f"{flop_fit.log_sd:.2f} (standard error of the log-mean {flop_fit.se_log_mean:.2f})")
emit()

# ------------------------------------------------------------------ proposed blocks
ev_fit, ft_fit = load("evaluation-philly"), load("fine-tuning-itp")
raw = yaml.safe_load(Path("scenarios/lingang-baseline.yaml").read_text())
base = {c["name"]: c for c in raw["workload"]["classes"]}


def profile() -> dict:
    return {"daily_profile": list(v_daily), "weekly_profile": list(v_weekly)}


seren_median_h = float(acme.loc["Seren", "med_run_time_gpu"]) / 3600

evaluation = {
    "name": "evaluation",
    "arrival": {"rate_per_day": base_eval.arrival.rate_per_day, "growth_per_year": 1.2, **profile()},
    "gang_size": ev_fit["gang_size"],
    "work": {"unit": "ref_hours", "growth_per_year": 1.22,
             "distribution": {"kind": "lognormal", "median": round(seren_median_h, 4),
                              "sigma": ev_fit["work"]["distribution"]["sigma"],
                              "max": 72}},
    "estimate": base["evaluation"]["estimate"],
    "tenants": base["evaluation"]["tenants"],
}
ft_block = {
    "name": "fine-tuning",
    "arrival": {"rate_per_day": 1.0, "growth_per_year": 1.2, **profile()},
    "gang_size": ft_fit["gang_size"],
    "work": {"unit": "ref_hours", "growth_per_year": 1.22, "distribution": ft_fit["work"]["distribution"]},
    "estimate": base["fine-tuning"]["estimate"],
    "tenants": base["fine-tuning"]["tenants"],
    "priority": 1,
}
# Keep the class's share of the offered load: rate = baseline work per day / work per job.
per_job = class_work_per_day(JobClass.model_validate(ft_block))
ft_block["arrival"]["rate_per_day"] = float(f"{base_work['fine-tuning'] / per_job:.3g}")
frontier = {
    "name": "frontier",
    "arrival": {"rate_per_day": 1.0, "growth_per_year": 1.2},
    "gang_size": {"kind": "table", "values": [2048, 4096, 8192, 16384], "weights": [40, 30, 20, 10]},
    "work": {"unit": "flop", "growth_per_year": 1.22,
             "distribution": {"kind": "lognormal", "median": float(f"{flop_fit.median:.3g}"),
                              "sigma": round(flop_fit.log_sd, 2),
                              "min": 3.14e23, "max": 1.2e26}},
    "estimate": base["frontier"]["estimate"],
    "card_types": base["frontier"]["card_types"],
    "tenants": base["frontier"]["tenants"],
    "priority": 3,
}
per_job = class_work_per_day(JobClass.model_validate(frontier), ref_flop_h)
frontier["arrival"]["rate_per_day"] = float(f"{base_work['frontier'] / per_job:.3g}")
proposed = [evaluation, ft_block, base["pretraining"], frontier]
emit("## Proposed classes: load at the start")
emit()
emit("| class | jobs/day | ref-card-hours/day | baseline ref-card-hours/day | share of 2025-01-01 capacity |")
emit("|---|---:|---:|---:|---:|")
total = 0.0
for block in proposed:
    jc = JobClass.model_validate(block)
    w = class_work_per_day(jc, ref_flop_h)
    total += w
    emit(f"| {jc.name} | {jc.arrival.rate_per_day:g} | {w:,.0f} | {base_work[jc.name]:,.0f} | {w / 24 / start_ref:.1%} |")
emit(f"| total | {sum(b['arrival']['rate_per_day'] for b in proposed):,.4g} | {total:,.0f} | {total_work:,.0f} | {total / 24 / start_ref:.1%} |")
emit()
fr = JobClass.model_validate(frontier)
mean_flop = distribution_mean(fr.work.distribution)
emit(f"Frontier: mean budget {mean_flop:.3g} FLOP (clipped) = {mean_flop / ref_flop_h:,.0f} "
     f"reference-card-hours; {fr.arrival.rate_per_day * 365.25:.1f} runs a year at the start; "
     f"a median run on 4,096 910B cards takes "
     f"{fr.work.distribution.median / ref_flop_h / (4096 * 320 * 0.30 / ref.effective_tflops) / 24:.0f} days.")
emit()

# Fit quality of the proposed and the hand-set blocks against the traces.
emit("## Blocks against the traces (fit_report)")
emit()
emit("| block | trace (cards) | KS run time | p50 h trace / block | p90 h trace / block | mean h trace / block | KS gang size |")
emit("|---|---|---:|---:|---:|---:|---:|")
itp_sel = {"fine-tuning": (8, 64), "pretraining": (64, None)}
checks = [
    ("baseline evaluation", base_eval, window, (1, 8), 73.0, None),
    ("proposed evaluation", JobClass.model_validate(evaluation), window, (1, 8), 73.0,
     "fit-evaluation-proposed-vs-philly.png"),
    ("fitted evaluation (Philly)", JobClass.model_validate(ev_fit), window, (1, 8), 73.0, None),
    ("baseline fine-tuning", next(c for c in classes if c.name == "fine-tuning"), itp, (8, 64), None, None),
    ("fitted fine-tuning (ITP)", JobClass.model_validate(ft_fit), itp, (8, 64), None, None),
    ("baseline pretraining", next(c for c in classes if c.name == "pretraining"), itp, (64, None), None, None),
    ("fitted pretraining (ITP 64)", JobClass.model_validate(load("pretraining-itp")), itp, (64, None), None, None),
]
for label, jc, table, (lo, hi), span, figure in checks:
    rep = fit_report(table, jc, min_cards=lo, max_cards=hi, span_days=span)
    w = rep["work"]
    q = w["quantiles_h"]
    name = "Philly 1-8 (window)" if table is window else f"ITP {lo}-{hi or ''}"
    emit(f"| {label} | {name} | {w['ks_distance']:.3f} | {q['p50']['trace']:.3g} / {q['p50']['block']:.3g} | "
         f"{q['p90']['trace']:.3g} / {q['p90']['block']:.3g} | {w['mean_h_trace']:.3g} / {w['mean_h_block']:.3g} | "
         f"{rep['gang_size']['ks_distance']:.3f} |")
    if figure:
        plot_fit(table, jc, min_cards=lo, max_cards=hi, span_days=span,
                 title=f"{label} against {name}").savefig(FIGURES / figure, dpi=100)
emit()

text = yaml.safe_dump({"classes": proposed}, sort_keys=False, default_flow_style=None, width=96)
assert "&id" not in text, "lists must not be shared between blocks"
(OUT / "proposed-classes.yaml").write_text(
    "# Proposed workload classes (docs/workload-calibration.md); generated by "
    "scripts/calibrate_workload.sh\n" + text)
emit("## Proposed classes (YAML)")
emit()
emit("```yaml")
emit(text.rstrip())
emit("```")
(OUT / "summary.md").write_text("\n".join(lines) + "\n")
PY
echo "Wrote $OUT/summary.md, $OUT/proposed-classes.yaml and $FIGURES/fit-*.png"
