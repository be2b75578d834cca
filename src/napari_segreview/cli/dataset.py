"""``segreview dataset predict|status|export``: a study's cases on a Dask cluster.

Registered in :mod:`napari_segreview.cli` through :func:`add_dataset`.

- ``predict`` runs :func:`napari_segreview.dataset.engine.predict_dataset`: it
  says what it found (``42 cases, 3 already predicted, 2 unreadable: ...``),
  draws cases done / failed / remaining and an ETA on a terminal, and exits 0
  when every case is predicted, 1 when some failed (listed), 2 for an error
  of the command itself (bad options, an unreachable scheduler, a dataset of
  another model), 130 when interrupted (with the line that resumes it).
- ``status`` prints the counts per status and a table of the cases, sortable
  (``--sort uncertainty`` puts the most uncertain first), or ``--json``.
- ``export`` writes the ``done`` cases as training targets
  (:func:`napari_segreview.dataset.export.export_done`).
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from typing import Any, TextIO

from napari_segreview.cli._common import positive_int

__all__ = ["add_dataset", "run_export", "run_predict", "run_status"]

EPILOG = """\
examples:
  segreview dataset predict --each scans/ -o study/ --model bone.pt
  segreview dataset predict ct_01.nii.gz ct_02.nii.gz -o study/ --model bone.pt --workers 2
  segreview dataset predict --each /shared/scans -o /shared/study --model /shared/bone.pt \\
      --scheduler tcp://10.0.0.5:8786
  segreview dataset status study/ --sort uncertainty
  segreview dataset export study/ -o targets/ --format nnunet
"""


def _count(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number (0, 1, 2, ...)")
    return int(text)


def add_dataset(subparsers: Any) -> None:
    """Register ``segreview dataset`` and its subcommands."""
    p = subparsers.add_parser(
        "dataset", help="pre-annotate a dataset on a Dask cluster, see its status, export "
                        "done cases",
        description="A dataset is a folder of cases: their predictions, review sessions and "
                    "a manifest (docs/running-on-a-cluster.md).",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(title="commands", metavar="COMMAND", required=True)

    pr = sub.add_parser("predict", help="predict every case (resumes; skips predicted ones)",
                        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    pr.add_argument("sources", nargs="*", metavar="SOURCE",
                    help="an image file or a folder that reads as one image (a DICOM series, "
                         "a folder of slices); none with an existing DATASET: its own cases")
    pr.add_argument("--each", metavar="DIR", help="every readable entry of DIR is a case")
    pr.add_argument("-o", "--output", dest="dataset", required=True, metavar="DATASET",
                    help="the dataset folder (created; its parent must exist)")
    pr.add_argument("--model", required=True, metavar="MODEL",
                    help="TorchScript (.pt) or torch.export (.pt2) model; on a cluster, a "
                         "path every worker can read")
    pr.add_argument("--card", metavar="CARD", help="the model card (default: beside MODEL)")
    pr.add_argument("--factory", metavar="package.module:function",
                    help="the function that builds the model whose weights MODEL holds")
    where = pr.add_mutually_exclusive_group()
    where.add_argument("--scheduler", metavar="ADDRESS",
                       help="an existing Dask scheduler, tcp://HOST:PORT (default: a local "
                            "cluster on this machine)")
    where.add_argument("--scheduler-file", metavar="FILE",
                       help="the scheduler file dask scheduler --scheduler-file wrote")
    pr.add_argument("--workers", type=positive_int, metavar="N",
                    help="local worker processes (default: one per GPU, or a quarter of the "
                         "CPU cores)")
    pr.add_argument("--device", default="auto", metavar="{auto,cpu,cuda}",
                    help="where each worker runs the model (default auto)")
    pr.add_argument("--batch-size", type=positive_int, default=8, metavar="N",
                    help="slices or tiles per forward pass (default 8)")
    pr.add_argument("--retries", type=_count, default=0, metavar="N",
                    help="retries of a case after a transient error (default 0)")
    pr.add_argument("--format", choices=("tif", "npz", "npy"), default="tif",
                    help="file format of the predictions (default tif)")
    pr.add_argument("--force", action="store_true",
                    help="predict cases again (also with another model or card)")
    pr.set_defaults(func=run_predict)

    st = sub.add_parser("status", help="counts per status and a table of the cases")
    st.add_argument("dataset", metavar="DATASET")
    st.add_argument("--json", action="store_true", help="print the manifest's cases as JSON")
    st.add_argument("--sort", choices=("order", "id", "status", "uncertainty", "dice"),
                    default="order", help="table order (uncertainty: most uncertain first)")
    st.add_argument("--status", dest="only", metavar="STATUS", action="append",
                    help="only cases of this status (repeatable)")
    st.set_defaults(func=run_status)

    ex = sub.add_parser("export", help="export the done cases as training targets")
    ex.add_argument("dataset", metavar="DATASET")
    ex.add_argument("-o", "--output", required=True, metavar="EXPORT",
                    help="the export folder (new, or an export of the same card to append to)")
    ex.add_argument("--format", choices=("tif", "npz", "nnunet"), default="tif",
                    help="export format (default tif)")
    ex.add_argument("--include-predicted", action="store_true",
                    help="also export predicted cases that nobody reviewed")
    ex.add_argument("--force", action="store_true", help="replace cases already exported")
    ex.set_defaults(func=run_export)


class CaseBar:
    """``done 12  failed 1  remaining 29  ETA 3 min`` on one line, on a terminal only."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = sys.stderr if stream is None else stream
        isatty = getattr(self.stream, "isatty", None)
        self.enabled = bool(isatty and isatty())
        self.drawn = False

    def __call__(self, p: Any) -> None:
        if not self.enabled or not p.total:
            return
        frac = (p.done + p.failed) / p.total
        bar = "#" * round(frac * 24) + "." * (24 - round(frac * 24))
        eta = "" if p.eta_s is None else f"  ETA {_duration(p.eta_s)}"
        self.stream.write(f"\r[{bar}] done {p.done}  failed {p.failed}  remaining "
                          f"{p.remaining}{eta}   ")
        self.stream.flush()
        self.drawn = True

    def close(self) -> None:
        if self.drawn:
            self.stream.write("\n")
            self.stream.flush()
            self.drawn = False


def _duration(s: float) -> str:
    return f"{s:.0f} s" if s < 90 else f"{s / 60:.0f} min" if s < 5400 else f"{s / 3600:.1f} h"


def _resume_line(args: argparse.Namespace) -> str:
    words = ["segreview", "dataset", "predict", "-o", args.dataset, "--model", args.model]
    for flag, value in (("--card", args.card), ("--factory", args.factory),
                        ("--scheduler", args.scheduler),
                        ("--scheduler-file", args.scheduler_file)):
        if value:
            words += [flag, value]
    return " ".join(shlex.quote(str(w)) for w in words)


def run_predict(args: argparse.Namespace, progress_stream: TextIO | None = None) -> int:
    """Handle ``segreview dataset predict``."""
    from napari_segreview.dataset.engine import predict_dataset
    from napari_segreview.errors import Cancelled

    bar = CaseBar(progress_stream)
    t0 = time.perf_counter()
    try:
        result = predict_dataset(
            args.sources, args.dataset, args.model, args.card, each=args.each,
            scheduler=args.scheduler, scheduler_file=args.scheduler_file,
            workers=args.workers, device=args.device, batch_size=args.batch_size,
            retries=args.retries, force=args.force, fmt=args.format, factory=args.factory,
            progress=bar, on_plan=lambda plan: print(f"{plan.found}; "
                                                     f"{len(plan.run)} to predict", flush=True))
    except Cancelled as exc:
        bar.close()
        partial = getattr(exc, "result", None)
        kept = partial.counts.get("predicted", 0) if partial else 0
        print(f"segreview: stopped; {kept} predicted cases are kept in {args.dataset}. "
              f"Resume with: {_resume_line(args)}", file=sys.stderr)
        return 130
    finally:
        bar.close()
    ok = sum(1 for r in result.records if r["status"] == "predicted")
    if not result.where:
        print(f"nothing to predict: every case of {args.dataset} is kept")
        return 0
    print(f"predicted {ok} case{'s' if ok != 1 else ''} in "
          f"{_duration(time.perf_counter() - t0)} on {result.where} into {args.dataset}")
    if result.failed:
        print(f"{len(result.failed)} failed:", file=sys.stderr)
        for cid, reason in result.failed:
            print(f"  {cid}: {reason}", file=sys.stderr)
        return 1
    return 0


def _fmt(v: Any) -> str:
    return "-" if v is None else f"{v:.3f}" if isinstance(v, float) else str(v)


def run_status(args: argparse.Namespace) -> int:
    """Handle ``segreview dataset status``."""
    from napari_segreview.dataset.manifest import STATUSES, Manifest
    from napari_segreview.errors import FormatError

    m = Manifest.open(args.dataset)
    bad = [s for s in args.only or () if s not in STATUSES]
    if bad:
        raise FormatError(f"--status {bad[0]} is not a status; use one of {', '.join(STATUSES)}.")
    cases = [c for c in m.cases if not args.only or c.status in args.only]
    if args.sort == "uncertainty":
        cases.sort(key=lambda c: -1.0 if c.uncertainty is None else c.uncertainty, reverse=True)
    elif args.sort == "dice":
        cases.sort(key=lambda c: min(c.dice.values()) if c.dice else 2.0)
    elif args.sort in ("id", "status"):
        cases.sort(key=lambda c: getattr(c, args.sort))
    counts = m.counts()
    if args.json:
        print(json.dumps({"dataset": str(m.folder), "counts": counts,
                          "cases": [c.to_dict() for c in cases]}, indent=1))
        return 0
    total = sum(counts.values())
    print(f"{m.folder}: {counts['done']} / {total} done; "
          + ", ".join(f"{n} {s}" for s, n in counts.items() if n))
    keys = sorted({k for c in cases for k in c.channel_uncertainty})
    rows = [["case", "status", "uncertainty", *keys, "dice (min)", "reason"]]
    for c in cases:
        dice = min(c.dice.values()) if c.dice else None
        rows.append([c.id, c.status, _fmt(c.uncertainty),
                     *(_fmt(c.channel_uncertainty.get(k)) for k in keys), _fmt(dice),
                     c.reason or ""])
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    for r in rows:
        print("  ".join(v.ljust(w) for v, w in zip(r, widths, strict=False)) + "  " + r[-1])
    return 0


def run_export(args: argparse.Namespace) -> int:
    """Handle ``segreview dataset export``."""
    from napari_segreview.dataset.export import export_done
    from napari_segreview.targets.export import read_statistics

    statuses = ("done", "predicted") if args.include_predicted else ("done",)
    out = export_done(args.dataset, args.output, fmt=args.format, statuses=statuses,
                      overwrite=args.force)
    stats = read_statistics(out) if args.format != "nnunet" else None
    n = stats.get("cases") if isinstance(stats, dict) else None
    print(f"exported the {' and '.join(statuses)} cases of {args.dataset} into {out}"
          + (f" ({n} cases in the export)" if n is not None else ""))
    return 0
