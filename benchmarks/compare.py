"""Side-by-side benchmark: TensorFlow Addons seq2seq vs keras_bahdanau.

Each measurement runs in its own process. Side A (``tfa``) runs
``benchmarks/tfa_baseline.py`` in the TensorFlow Addons venv
(``.bench/tfa-venv``, made by ``benchmarks/make_tfa_env.sh``); side B
(``ours``) runs ``benchmarks/ours.py`` with the system ``python3``. Both
print one JSON record with the same schema.

For R rounds (default 5), every configuration is measured once per side;
the order of the two sides alternates between rounds (AB in even rounds, BA
in odd rounds) so slow drift of the machine affects both sides alike. The
output on stdout is JSON lines:

* ``{"kind": "matmul_rate", ...}`` (from ``flops.py``, unless ``--gflops``);
* ``{"kind": "round", "round": r, "position": p, ...record...}`` per run;
* ``{"kind": "error", ...}`` for a failed run;
* ``{"kind": "summary", ...}`` per (task, length) at the end, with per-round
  medians of both sides, the median of same-round ratios ours/tfa of the
  throughput (``> 1`` means keras_bahdanau is faster) and each side's share
  of the matmul FLOP lower bound (``lower_bound_s / median_s``).

Progress goes to stderr; each child's stderr is kept under ``--log-dir``.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
sys.path.insert(0, str(BENCH_DIR))

from flops import flop_bound  # noqa: E402

DEFAULT_TFA_PYTHON = REPO_ROOT / ".bench" / "tfa-venv" / "bin" / "python"
TFA_SCRIPT = BENCH_DIR / "tfa_baseline.py"
OURS_SCRIPT = BENCH_DIR / "ours.py"
FLOPS_SCRIPT = BENCH_DIR / "flops.py"

IMPLS = ("tfa", "ours")
IMPL_NAMES = {"tfa": "tfa", "ours": "keras_bahdanau"}
TASKS = ("train", "greedy", "beam5")
# (steps, warmup) per task; chosen so that a default 5-round run of both
# sides stays within about 25 minutes on a 2-core machine.
DEFAULT_STEPS = {
    ("train", 20): (15, 2),
    ("train", 50): (8, 2),
    ("greedy", 20): (30, 3),
    ("beam5", 20): (12, 2),
}
RECORD_KEYS = (
    "impl",
    "task",
    "length",
    "batch",
    "value",
    "unit",
    "median_s",
    "steps",
    "peak_rss_mb",
    "dtype",
)


@dataclass(frozen=True)
class Config:
    """One benchmark configuration (both sides are run on it)."""

    task: str
    length: int
    batch: int
    steps: int
    warmup: int


def emit(record: dict, out_file: object | None) -> None:
    """Print a JSON line on stdout (and append it to ``--out``)."""
    line = json.dumps(record)
    print(line, flush=True)
    if out_file is not None:
        out_file.write(line + "\n")
        out_file.flush()


def log(message: str) -> None:
    """Progress message on stderr."""
    print(
        f"[compare {time.strftime('%H:%M:%S')}] {message}",
        file=sys.stderr,
        flush=True,
    )


def _cpu_times() -> tuple[int, int] | None:
    """``(busy, total)`` jiffies of all CPUs from /proc/stat (Linux)."""
    try:
        with open("/proc/stat") as f:
            fields = [int(x) for x in f.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return sum(fields) - idle, sum(fields)


def cpu_busy_fraction(interval: float = 1.0) -> float | None:
    """Fraction of all CPUs busy during ``interval`` seconds (None if unknown).

    Sampled right before each run while this script itself is idle, so a
    value well above 0 means something else is using the machine and the
    next measurement will be disturbed.
    """
    before = _cpu_times()
    if before is None or interval <= 0:
        return None
    time.sleep(interval)
    after = _cpu_times()
    if after is None or after[1] == before[1]:
        return None
    return (after[0] - before[0]) / (after[1] - before[1])


def build_configs(args: argparse.Namespace) -> list[Config]:
    """Expand ``--tasks`` / ``--lengths`` into configurations."""
    configs = []
    for task in args.tasks:
        lengths = args.lengths if task == "train" else [args.decode_length]
        for length in lengths:
            steps, warmup = DEFAULT_STEPS.get((task, length), (8, 2))
            if args.steps is not None:
                steps = args.steps
            if args.warmup is not None:
                warmup = args.warmup
            configs.append(Config(task, length, args.batch, steps, warmup))
    return configs


def command_for(impl: str, cfg: Config, args: argparse.Namespace) -> list[str]:
    """Command line of one run."""
    common = [
        "--task",
        cfg.task,
        "--length",
        str(cfg.length),
        "--batch",
        str(cfg.batch),
        "--steps",
        str(cfg.steps),
        "--warmup",
        str(cfg.warmup),
    ]
    if impl == "tfa":
        extra = []
        if cfg.task == "train":
            extra = ["--optimizer", args.tfa_optimizer]
        return [str(args.tfa_python), str(args.tfa_script), *common, *extra]
    return [
        args.ours_python,
        str(args.ours_script),
        *common,
        "--dtype",
        args.dtype,
    ]


def check_side(impl: str, args: argparse.Namespace) -> str | None:
    """Return a reason why ``impl`` cannot run, or ``None`` if it can."""
    if impl == "tfa":
        if not Path(args.tfa_python).exists():
            return (
                f"TensorFlow Addons venv interpreter {args.tfa_python} not "
                "found; create it with `bash benchmarks/make_tfa_env.sh`"
            )
        if not Path(args.tfa_script).exists():
            return f"baseline script {args.tfa_script} not found"
        return None
    if not Path(args.ours_script).exists():
        return (
            f"{args.ours_script} does not exist yet; it must "
            "accept --task/--length/--batch/--steps/--warmup/--dtype and print "
            "the JSON schema in benchmarks/README.md with "
            '"impl": "keras_bahdanau". Run `--only tfa` to measure just the '
            "baseline"
        )
    return None


def run_one(
    impl: str, cfg: Config, round_index: int, args: argparse.Namespace
) -> tuple[dict | None, str | None]:
    """Run one measurement process.

    Returns:
      ``(record, None)`` on success, ``(None, error message)`` otherwise.
    """
    cmd = command_for(impl, cfg, args)
    log_path = Path(args.log_dir) / (
        f"r{round_index}-{impl}-{cfg.task}-L{cfg.length}.stderr.log"
    )
    log_path.parent.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    busy = cpu_busy_fraction(args.idle_check_s)
    deadline = time.monotonic() + args.wait_idle
    while (
        busy is not None
        and busy > args.busy_warn
        and time.monotonic() < deadline
    ):
        busy = cpu_busy_fraction(max(args.idle_check_s, 1.0))
    if busy is not None and busy > args.busy_warn:
        log(
            f"  warning: CPUs {busy:.0%} busy before this run; other "
            "processes are disturbing the measurement"
        )
    t0 = time.perf_counter()
    try:
        with open(log_path, "w") as err:
            proc = subprocess.run(
                cmd,
                cwd=REPO_ROOT,
                env=env,
                stdout=subprocess.PIPE,
                stderr=err,
                text=True,
                timeout=args.timeout,
            )
    except subprocess.TimeoutExpired:
        return None, f"timed out after {args.timeout} s (log: {log_path})"
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        tail = log_path.read_text(errors="replace").strip().splitlines()[-5:]
        return None, (
            f"exit status {proc.returncode} after {wall:.1f} s; "
            f"log: {log_path}; last lines: {' | '.join(tail)}"
        )
    record = None
    for line in reversed(proc.stdout.strip().splitlines()):
        try:
            candidate = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(candidate, dict) and "impl" in candidate:
            record = candidate
            break
    if record is None:
        return None, f"no JSON record on stdout (log: {log_path})"
    missing = [k for k in RECORD_KEYS if k not in record]
    if missing:
        return None, f"record lacks keys {missing}: {record}"
    if record["impl"] != IMPL_NAMES[impl]:
        return None, (
            f"expected impl {IMPL_NAMES[impl]!r}, got {record['impl']!r}"
        )
    record["wall_s"] = wall
    record["busy_before"] = busy
    return record, None


def measure_rate(args: argparse.Namespace) -> dict | None:
    """Matmul rates from ``flops.py --rate-only`` (system TensorFlow)."""
    cmd = [args.ours_python, str(FLOPS_SCRIPT), "--rate-only"]
    try:
        proc = subprocess.run(
            cmd,
            cwd=REPO_ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            timeout=300,
            check=True,
        )
    except (subprocess.SubprocessError, OSError) as exc:
        log(f"matmul rate measurement failed: {exc}")
        return None
    for line in proc.stdout.splitlines():
        record = json.loads(line)
        if record.get("kind") == "matmul_rate":
            return record
    return None


def update_rates(
    rates: dict[str, float | None],
    args: argparse.Namespace,
    out_file: object | None,
) -> None:
    """Measure matmul rates and raise ``rates`` to them where not given.

    Rates given on the command line are kept; measured ones replace a
    lower earlier measurement.
    """
    log("measuring matmul rate (flops.py --rate-only)")
    rate = measure_rate(args)
    if rate is None:
        return
    emit(rate, out_file)
    for key, given, field in (
        ("float32", args.gflops, "tf_gflops"),
        ("bfloat16", args.bf16_gflops, "tf_bf16_gflops"),
    ):
        measured = rate.get(field)
        if given is None and measured is not None:
            rates[key] = max(rates[key] or 0.0, measured)


def summarize(
    cfg: Config,
    records: dict[str, list[dict | None]],
    rates: dict[str, float | None],
    args: argparse.Namespace,
) -> dict:
    """Summary record of one configuration over all rounds.

    Args:
      cfg: the configuration.
      records: impl -> per-round record (``None`` where the run failed).
      rates: ``{"float32": GFLOP/s, "bfloat16": GFLOP/s}`` (may be None).
      args: parsed CLI.
    """
    summary: dict = {
        "kind": "summary",
        "task": cfg.task,
        "length": cfg.length,
        "batch": cfg.batch,
        "steps": cfg.steps,
        "rounds": args.rounds,
        "dtype_ours": args.dtype,
        "dtype_tfa": "float32",
    }
    if cfg.task == "train":
        summary["optimizer_tfa"] = args.tfa_optimizer
    f32 = flop_bound(cfg.task, cfg.length, cfg.batch, rates.get("float32"))
    summary["flops"] = f32["flops"]
    summary["lower_bound_s"] = f32["lower_bound_s"]
    summary["gflops_float32"] = rates.get("float32")
    bf16_bound = None
    if args.dtype == "bfloat16" and rates.get("bfloat16"):
        bf16_bound = flop_bound(
            cfg.task, cfg.length, cfg.batch, rates["bfloat16"]
        )["lower_bound_s"]
        summary["gflops_bfloat16"] = rates["bfloat16"]
        summary["lower_bound_bf16_s"] = bf16_bound
    for impl in args.impls:
        runs = records.get(impl, [])
        ok = [r for r in runs if r is not None]
        side: dict = {
            "impl": IMPL_NAMES[impl],
            "ok_rounds": len(ok),
            "median_s_per_round": [
                None if r is None else r["median_s"] for r in runs
            ],
        }
        if ok:
            med = statistics.median(r["median_s"] for r in ok)
            side["median_s"] = med
            side["value"] = statistics.median(r["value"] for r in ok)
            side["unit"] = ok[0]["unit"]
            side["peak_rss_mb"] = max(r["peak_rss_mb"] for r in ok)
            side["dtype"] = ok[0]["dtype"]
            busy = [r["busy_before"] for r in ok if r.get("busy_before")]
            side["busy_before_max"] = max(busy) if busy else None
            if f32["lower_bound_s"] is not None:
                side["flop_bound_share"] = f32["lower_bound_s"] / med
            if impl == "ours" and bf16_bound is not None:
                side["flop_bound_share_bf16_rate"] = bf16_bound / med
        summary[impl] = side
    if set(IMPLS) <= set(args.impls):
        ratios = [
            (o["value"] / t["value"])
            for t, o in zip(records["tfa"], records["ours"])
            if t is not None and o is not None
        ]
        summary["ratio_ours_over_tfa_per_round"] = ratios
        summary["ratio_ours_over_tfa"] = (
            statistics.median(ratios) if ratios else None
        )
    return summary


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line interface."""
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument(
        "--tasks",
        default="train,greedy,beam5",
        help="comma-separated subset of train,greedy,beam5",
    )
    parser.add_argument(
        "--lengths",
        default="20,50",
        help="comma-separated source/target lengths for train",
    )
    parser.add_argument(
        "--decode-length",
        type=int,
        default=20,
        help="source length for greedy/beam5 (output is 20 steps)",
    )
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument(
        "--steps",
        type=int,
        default=None,
        help="timed calls per run for every task (None: per-task defaults)",
    )
    parser.add_argument(
        "--warmup",
        type=int,
        default=None,
        help="untimed calls per run (None: per-task defaults)",
    )
    parser.add_argument(
        "--dtype",
        choices=("float32", "bfloat16"),
        default="float32",
        help="compute dtype passed to ours.py (tfa is always float32)",
    )
    parser.add_argument(
        "--only",
        choices=IMPLS,
        default=None,
        help="run a single side",
    )
    parser.add_argument("--tfa-python", default=str(DEFAULT_TFA_PYTHON))
    parser.add_argument("--ours-python", default="python3")
    parser.add_argument("--tfa-script", default=str(TFA_SCRIPT))
    parser.add_argument(
        "--tfa-optimizer",
        choices=("adam", "legacy_adam"),
        default="adam",
        help="the tfa side's training optimizer (tfa_baseline.py "
        "--optimizer): Keras 2.15's default Adam, or the legacy fused one",
    )
    parser.add_argument("--ours-script", default=str(OURS_SCRIPT))
    parser.add_argument(
        "--gflops",
        type=float,
        default=None,
        help="float32 matmul GFLOP/s for the bounds (None: measure)",
    )
    parser.add_argument(
        "--bf16-gflops",
        type=float,
        default=None,
        help="bfloat16 matmul GFLOP/s for the bf16 bound (None: measure)",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=600,
        help="seconds before one run is abandoned",
    )
    parser.add_argument(
        "--log-dir",
        default=str(REPO_ROOT / ".bench" / "logs"),
        help="where each run's stderr is kept",
    )
    parser.add_argument(
        "--idle-check-s",
        type=float,
        default=1.0,
        help="seconds of /proc/stat sampling before each run (0: off)",
    )
    parser.add_argument(
        "--busy-warn",
        type=float,
        default=0.15,
        help="warn when the CPUs were busier than this before a run",
    )
    parser.add_argument(
        "--wait-idle",
        type=float,
        default=0.0,
        help="wait up to this many seconds for the CPUs to be less busy "
        "than --busy-warn before each run",
    )
    parser.add_argument(
        "--out",
        default=None,
        help="also append the JSON lines to this file",
    )
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="print the commands that would run and exit",
    )
    args = parser.parse_args(argv)
    args.tasks = [t for t in args.tasks.split(",") if t]
    unknown = [t for t in args.tasks if t not in TASKS]
    if unknown:
        parser.error(f"unknown task(s) {unknown}; choose from {TASKS}")
    args.lengths = [int(x) for x in args.lengths.split(",") if x]
    args.impls = [args.only] if args.only else list(IMPLS)
    if args.rounds < 1:
        parser.error("--rounds must be >= 1")
    return args


def main(argv: list[str] | None = None) -> int:
    """Run the interleaved comparison."""
    args = parse_args(argv)
    configs = build_configs(args)

    if args.dry_run:
        for cfg in configs:
            for impl in args.impls:
                print(shlex.join(command_for(impl, cfg, args)))
        return 0

    problems = {impl: check_side(impl, args) for impl in args.impls}
    problems = {k: v for k, v in problems.items() if v}
    if problems:
        for impl, reason in problems.items():
            log(f"cannot run side {impl!r}: {reason}")
        return 2

    out_file = open(args.out, "a") if args.out else None
    try:
        rates: dict[str, float | None] = {
            "float32": args.gflops,
            "bfloat16": args.bf16_gflops,
        }
        need_rate = args.gflops is None or (
            args.dtype == "bfloat16" and args.bf16_gflops is None
        )
        if need_rate:
            update_rates(rates, args, out_file)

        results: dict[Config, dict[str, list[dict | None]]] = {
            cfg: {impl: [] for impl in args.impls} for cfg in configs
        }
        start = time.perf_counter()
        for r in range(args.rounds):
            order = (
                list(args.impls) if r % 2 == 0 else list(reversed(args.impls))
            )
            for cfg in configs:
                for position, impl in enumerate(order):
                    log(
                        f"round {r + 1}/{args.rounds} {cfg.task} "
                        f"L={cfg.length} {impl} "
                        f"(elapsed {time.perf_counter() - start:.0f} s)"
                    )
                    record, error = run_one(impl, cfg, r, args)
                    results[cfg][impl].append(record)
                    if record is None:
                        log(f"  FAILED: {error}")
                        emit(
                            {
                                "kind": "error",
                                "round": r,
                                "impl": IMPL_NAMES[impl],
                                "task": cfg.task,
                                "length": cfg.length,
                                "error": error,
                            },
                            out_file,
                        )
                        continue
                    log(
                        f"  {record['value']:.1f} {record['unit']} "
                        f"(median {record['median_s']:.4f} s, "
                        f"wall {record['wall_s']:.1f} s)"
                    )
                    emit(
                        {
                            "kind": "round",
                            "round": r,
                            "position": position,
                            **record,
                        },
                        out_file,
                    )
        if need_rate:
            # Measured again after the rounds; the higher rate is kept so
            # that a slow phase of the machine cannot loosen the bound.
            update_rates(rates, args, out_file)
        for cfg in configs:
            emit(summarize(cfg, results[cfg], rates, args), out_file)
        log(f"done in {time.perf_counter() - start:.0f} s")
        failed = any(
            r is None
            for per in results.values()
            for runs in per.values()
            for r in runs
        )
        return 1 if failed else 0
    finally:
        if out_file is not None:
            out_file.close()


if __name__ == "__main__":
    sys.exit(main())
