#!/usr/bin/python3
"""Pictures of hpctrain runs (`hpctrain plot RUN_DIR [RUN_DIR ...] [--out DIR]`).

Reads each run directory's metrics.csv (one row per epoch, written by `hpctrain train`) and writes
PNGs to --out (default: the first run directory):
  loss.png        training and validation loss against optimizer steps, and against time
  metrics.png     every validation metric (val_*) against steps
  throughput.png  training samples/s per epoch
  phases.png      seconds per epoch in each phase (data, forward, backward, communication wait,
                  optimizer, evaluation), stacked; one panel per run
  calibration.png  with --predictions PRED.h5 (an ensemble's `hpctrain predict` on data with targets):
                  observed against nominal coverage of its central intervals (/calibration_nominal,
                  /calibration_observed) and the coverage of its --uq.levels intervals (coverage_*
                  attributes), beside the diagonal of perfect calibration; several files compare
Several run directories go on the same figures, one colour each, so runs can be compared. An ensemble's
directory (RUN/member-XXX/metrics.csv) counts each member as a run.

The first run's training loss is drawn in pure red (#ff0000) and its validation loss in pure blue
(#0000ff), with round markers at each epoch, so tests can find the points in the image.
"""
import argparse
import csv
import math
import os
import sys

try:
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt
except ImportError:
    print("hpctrain plot: error: matplotlib is not installed (Debian: apt install python3-matplotlib, "
          "which scripts/install-deps does)", file=sys.stderr)
    sys.exit(1)

WIDTH_IN, HEIGHT_IN, DPI = 10, 6, 100  # every PNG is 1000 x 600 pixels
PHASES = ["t_data", "t_forward", "t_backward", "t_comm_wait", "t_optimizer", "t_eval"]
FIRST_RUN = {"train_loss": "#ff0000", "val_loss": "#0000ff"}


def fail(msg):
    print(f"hpctrain plot: error: {msg}", file=sys.stderr)
    sys.exit(1)


def number(cell):
    return float(cell) if cell not in ("", None) else math.nan


def read_run(path):
    """(label, rows as dicts of floats) of one metrics.csv."""
    try:
        with open(path, newline="") as f:
            rows = [{k: number(v) for k, v in r.items()} for r in csv.DictReader(f)]
    except OSError as e:
        fail(f"{path}: cannot read: {e.strerror}")
    except ValueError as e:
        fail(f"{path}: not a metrics file of numbers: {e}")
    if not rows or "step" not in rows[0] or "train_loss" not in rows[0]:
        fail(f"{path}: no epoch rows with step and train_loss (is it a metrics.csv of hpctrain train?)")
    return rows


def runs_of(directories):
    """[(label, rows)] for each run directory, or each member of an ensemble directory."""
    runs = []
    for d in directories:
        if not os.path.isdir(d):
            fail(f"{d}: not a run directory")
        csv_path = os.path.join(d, "metrics.csv")
        if os.path.exists(csv_path):
            runs.append((os.path.basename(os.path.normpath(d)), read_run(csv_path)))
            continue
        members = sorted(m for m in os.listdir(d) if m.startswith("member-") or m.startswith("model-"))
        member_csvs = [os.path.join(d, m, "metrics.csv") for m in members]
        member_csvs = [p for p in member_csvs if os.path.exists(p)]
        if not member_csvs:
            fail(f"{d}: has no metrics.csv (nor members with one); has the run finished an epoch?")
        for p in member_csvs:
            label = f"{os.path.basename(os.path.normpath(d))}/{os.path.basename(os.path.dirname(p))}"
            runs.append((label, read_run(p)))
    return runs


def column(rows, name):
    return [r.get(name, math.nan) for r in rows]


def elapsed(rows):
    """Cumulative seconds at the end of each epoch."""
    total, out = 0.0, []
    for r in rows:
        total += r.get("epoch_seconds", math.nan)
        out.append(total)
    return out


def figure(panels=1):
    fig, axes = plt.subplots(1, panels, figsize=(WIDTH_IN, HEIGHT_IN), dpi=DPI, squeeze=False)
    return fig, axes[0]


def save(fig, out, name):
    fig.tight_layout()
    path = os.path.join(out, name)
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return path


def colours(n):
    cycle = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    return [cycle[i % len(cycle)] for i in range(n)]


def plot_loss(runs, out):
    fig, (by_step, by_time) = figure(2)
    for i, ((label, rows), c) in enumerate(zip(runs, colours(len(runs)))):
        for name, style in (("train_loss", "-"), ("val_loss", "--")):
            if name not in rows[0]:
                continue
            colour = FIRST_RUN[name] if i == 0 else c
            kw = dict(color=colour, linestyle=style, marker="o", markersize=6, label=f"{label} {name}")
            by_step.plot(column(rows, "step"), column(rows, name), **kw)
            by_time.plot(elapsed(rows), column(rows, name), **kw)
    by_step.set_xlabel("optimizer step")
    by_time.set_xlabel("seconds")
    for ax in (by_step, by_time):
        ax.set_ylabel("loss")
        ax.grid(alpha=0.3)
    by_time.legend(fontsize=8)  # on the right: the left panel shows only the points (tests read them)
    return save(fig, out, "loss.png")


def plot_metrics(runs, out):
    names = [k for k in runs[0][1][0] if k.startswith("val_") and k != "val_loss"]
    fig, axes = figure(max(1, len(names)))
    for ax, name in zip(axes, names):
        for (label, rows), c in zip(runs, colours(len(runs))):
            ax.plot(column(rows, "step"), column(rows, name), color=c, marker="o", label=label)
        ax.set_title(name[4:])
        ax.set_xlabel("optimizer step")
        ax.grid(alpha=0.3)
    if names:
        axes[0].legend(fontsize=8)
    else:
        axes[0].text(0.5, 0.5, "no validation metrics", ha="center", va="center")
    return save(fig, out, "metrics.png")


def plot_throughput(runs, out):
    fig, (ax,) = figure()
    for (label, rows), c in zip(runs, colours(len(runs))):
        ax.plot(column(rows, "epoch"), column(rows, "samples_per_s"), color=c, marker="o", label=label)
    ax.set_xlabel("epoch")
    ax.set_ylabel("training samples/s")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return save(fig, out, "throughput.png")


def plot_phases(runs, out):
    fig, axes = figure(len(runs))
    for ax, (label, rows) in zip(axes, runs):
        epochs = column(rows, "epoch")
        bottom = [0.0] * len(rows)
        for phase, c in zip(PHASES, colours(len(PHASES))):
            values = [v if not math.isnan(v) else 0.0 for v in column(rows, phase)]
            ax.bar(epochs, values, bottom=bottom, color=c, label=phase[2:])
            bottom = [b + v for b, v in zip(bottom, values)]
        ax.set_title(label, fontsize=9)
        ax.set_xlabel("epoch")
        ax.set_ylabel("seconds")
    axes[0].legend(fontsize=8)
    return save(fig, out, "phases.png")


def plot_calibration(files, out):
    try:
        import h5py
    except ImportError:
        fail("--predictions needs h5py (Debian: python3-h5py)")
    fig, (ax,) = figure()
    ax.plot([0, 1], [0, 1], color="grey", linestyle=":", label="perfect calibration")
    for path, c in zip(files, colours(len(files))):
        try:
            f = h5py.File(path, "r")
        except OSError as e:
            fail(f"--predictions {path}: cannot read it as HDF5 ({e})")
        with f:
            if "calibration_nominal" not in f or "calibration_observed" not in f:
                fail(f"--predictions {path}: no /calibration_nominal and /calibration_observed (an ensemble's "
                     "regression predictions on data with targets have them)")
            name = os.path.basename(path)
            ax.plot(f["calibration_nominal"][:], f["calibration_observed"][:], color=c, marker="o",
                    label=f"{name} central intervals")
            levels = sorted((float(k[len("coverage_"):]), float(v)) for k, v in f.attrs.items()
                            if k.startswith("coverage_"))
            if levels:
                ax.plot([l for l, _ in levels], [v for _, v in levels], color=c, marker="s", markersize=10,
                        linestyle="none", label=f"{name} --uq.levels intervals")
    ax.set_xlabel("nominal coverage")
    ax.set_ylabel("observed coverage")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return save(fig, out, "calibration.png")


def main():
    p = argparse.ArgumentParser(prog="hpctrain plot", description=__doc__.split("\n\n")[0])
    p.add_argument("runs", nargs="*", help="run directories (RUN/metrics.csv) or ensemble directories")
    p.add_argument("--predictions", nargs="+", default=[], help="ensemble predictions (PRED.h5): calibration.png")
    p.add_argument("--out", help="where the PNGs go (default: the first run directory)")
    a = p.parse_args()
    if not a.runs and not a.predictions:
        fail("give run directories, --predictions PRED.h5, or both")
    runs = runs_of(a.runs)  # checked before anything is written
    out = a.out or (a.runs[0] if a.runs else os.path.dirname(a.predictions[0]) or ".")
    os.makedirs(out, exist_ok=True)
    if a.runs:
        for path in (plot_loss(runs, out), plot_metrics(runs, out), plot_throughput(runs, out), plot_phases(runs, out)):
            print(f"wrote {path}")
    if a.predictions:
        print(f"wrote {plot_calibration(a.predictions, out)}")


if __name__ == "__main__":
    main()
