"""Evaluation results on disk: results.json, results.md, TREC runs, plots, and the cross-dataset README.

    eval/results/<dataset>/results.json     every figure, the environment and the exact command
    eval/results/<dataset>/results.md       the tables a reader wants first
    eval/results/<dataset>/runs/<mode>.trec.gz
    eval/results/<dataset>/*.png            quality per mode, quality vs latency, the hybrid sweep
    eval/results/README.md                  the latest table across datasets (`write_summary`)
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import shlex
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nail_os.evaluation.metrics import ALPHA, DISPLAY_NAMES, MEASURES, PERMUTATIONS, significance_mark, write_run

if TYPE_CHECKING:
    from nail_os.engines import Client

MB = 1024 * 1024
TABLE_MEASURES: tuple[str, ...] = MEASURES
SUMMARY_MEASURES: tuple[str, ...] = ("nDCG@10", "R@100", "R@1000", "AP")


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _git(*args: str) -> str | None:
    """`git args` in the checkout nail_os runs from; None when it is installed (no checkout) or git is missing."""
    root = Path(__file__).resolve().parents[2]
    if not (root / ".git").exists() or shutil.which("git") is None:
        return None
    try:
        out = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def environment(client: Client, command: Sequence[str]) -> dict[str, Any]:
    """Versions, machine and node of this run, the command that made it and when (UTC)."""
    from nail_os.engines import name_of

    # Not `client.info()`: Elasticsearch's integ-test node (the local one) has no `GET /`; every node has this.
    local = next(iter(client.nodes.info(node_id="_local")["nodes"].values()))
    node: dict[str, Any] = {"version": local.get("version"), "distribution": name_of(client)}
    try:
        jvm = next(iter(client.nodes.info(metric="jvm")["nodes"].values()))["jvm"]
        node.update(jvm_version=jvm.get("version"), heap_max_bytes=jvm.get("mem", {}).get("heap_max_in_bytes"))
    except Exception:  # noqa: BLE001 - node details are nice to have; a restricted user may not see them
        pass
    pages = os.sysconf("SC_PHYS_PAGES") if hasattr(os, "sysconf") else 0
    return {
        "timestamp": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "command": shlex.join(command),
        "versions": {name: _version(name) for name in
                     ("nail-os", "torch", "opensearch-py", "ir-measures", "ir_datasets", "numpy", "scipy")}
        | {"python": platform.python_version()},
        "opensearch": node,
        "machine": {"platform": platform.platform(), "cpu": cpu_model(), "cores": os.cpu_count(),
                    "usable_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
                    "ram_bytes": pages * os.sysconf("SC_PAGE_SIZE") if pages else None,
                    "load_average_at_start": list(os.getloadavg()) if hasattr(os, "getloadavg") else None},
        "git": {"commit": _git("rev-parse", "HEAD"), "dirty": bool(_git("status", "--porcelain", "--", "nail_os"))},
    }


# -- tables ----------------------------------------------------------------------------------------------------
def _f(value: float | None, digits: int = 3) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def mode_label(results: Mapping[str, Any], mode: str) -> str:
    sweep = results.get("hybrid_sweep") or {}
    # Results written before the option existed are raw sums.
    normalized = ", max-normalized" if results["options"].get("hybrid_normalization") == "max" else ""
    if mode == "hybrid":
        return f"hybrid (w={results['options']['hybrid_weight']:g}, fixed{normalized})"
    if mode == "hybrid-tuned" and "tuned" in sweep:
        return f"hybrid (w={sweep['tuned']['nail_weight']:g}, tuned on {sweep['tune_split']}{normalized})"
    return mode


def quality_table(results: Mapping[str, Any]) -> str:
    """Mode × measure, † on nDCG@10 where the paired randomisation test against BM25 gives p < 0.05,
    plus the client p50 latency as a multiple of BM25's."""
    ratios = (results.get("latency") or {}).get("ratios", {})
    head = ["mode", *[DISPLAY_NAMES.get(m, m) for m in TABLE_MEASURES], "p50 × BM25"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for mode, scores in results["quality"].items():
        sig = results.get("significance", {}).get(mode, {})
        cells = [mode_label(results, mode)]
        for m in TABLE_MEASURES:
            mark = significance_mark(sig.get("p_randomization")) if m == "nDCG@10" else ""
            cells.append(_f(scores.get(m)) + mark)
        cells.append(_f(ratios.get(mode, {}).get("client_ms", {}).get("p50"), 2))
        lines.append("| " + " | ".join(cells) + " |")
    best = (results.get("hybrid_sweep") or {}).get("best_on_test")
    if best:
        cells = [f"hybrid (w={best['nail_weight']:g}, best on test: optimistic)",
                 *[_f(best.get(m)) for m in TABLE_MEASURES], "–"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def latency_table(results: Mapping[str, Any]) -> str:
    lat = results["latency"]
    head = ["mode", "client p50 / p95 / p99 ms", "× BM25", "took p50 / p95 / p99 ms", "took mean ms", "× BM25 (mean)"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for mode, clocks in lat["modes"].items():
        r = lat.get("ratios", {}).get(mode, {})
        c, t = clocks["client_ms"], clocks["took_ms"]
        rc = r.get("client_ms", {})
        lines.append("| " + " | ".join([
            mode, f"{c['p50']:.1f} / {c['p95']:.1f} / {c['p99']:.1f}",
            " / ".join(_f(rc.get(k), 2) for k in ("p50", "p95", "p99")),
            f"{t['p50']:.0f} / {t['p95']:.0f} / {t['p99']:.0f}", f"{t['mean']:.2f}",
            _f(r.get("took_ms", {}).get("mean"), 2)]) + " |")
    return "\n".join(lines)


def size_table(results: Mapping[str, Any]) -> str:
    sizes = results["index_size"]
    rows = [("BM25 only", sizes["bm25_only"]), ("BM25 + NAIL", sizes["full"]), ("NAIL field", sizes["nail_field"])]
    lines = ["| index | MB | bytes / doc | docs |", "|---|---|---|---|"]
    for name, s in rows:
        lines.append(f"| {name} | {s['bytes'] / MB:.2f} | {s['bytes_per_doc']:.0f} | {s.get('docs', '')} |")
    return "\n".join(lines)


def sweep_table(results: Mapping[str, Any]) -> str:
    sweep = results.get("hybrid_sweep") or {}
    if not sweep:
        return ""
    tune = {r["nail_weight"]: r for r in sweep.get("tune", [])}
    head = ["NAIL weight (BM25 1)", "nDCG@10", "R@100", "MAP"]
    if tune:
        head.append(f"nDCG@10 on {sweep['tune_split']}")
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in sweep["test"]:
        cells = [f"{row['nail_weight']:g}", _f(row["nDCG@10"]), _f(row["R@100"]), _f(row["AP"])]
        if tune:
            cells.append(_f(tune[row["nail_weight"]]["nDCG@10"]))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def render_markdown(results: Mapping[str, Any]) -> str:
    """results.md: quality, latency, size, exactness, the sweep, and how the run was made."""
    ds, env = results["dataset"], results.get("environment", {})
    feats = results["features"]
    parts = [
        f"# {ds['name']}: BM25, NAIL and hybrid through OpenSearch",
        f"Split `{ds['split']}`: {ds['queries']} queries, {ds['judgments']} judgments, {ds['documents']} documents. "
        f"Model `{results['model']}`. Index `{results['index']['name']}`.",
        "## Quality", quality_table(results),
        f"† p < {ALPHA} against BM25 on per-query nDCG@10, paired randomisation test ({PERMUTATIONS:,} sign "
        "flips, two-sided); paired t-test p-values are in results.json. The fixed hybrid uses the default weights; "
        "the best-on-test row is tuned on the test queries and so optimistic.",
        "## Latency", latency_table(results),
        f"{results['latency']['queries']} queries × {results['latency']['repeats']} interleaved passes per mode, "
        f"size {results['latency']['size']}, request cache off, after a warm-up pass. Client time includes building "
        "the body (tokenizing, for NAIL). `took` counts whole milliseconds, so its mean is the finer figure.",
        "## Index size (merged to one segment)", size_table(results),
        f"NAIL postings per document: {feats['postings_per_doc']['mean']:.1f} on average (median "
        f"{feats['postings_per_doc']['median']:.0f}, max {feats['postings_per_doc']['max']}); tokens per query: "
        f"{feats['query_tokens']['tokens_mean']:.1f} ({feats['query_tokens']['distinct_tokens_mean']:.1f} distinct "
        "= NAIL clauses).",
    ]
    ex = results.get("exactness")
    if ex:
        parts += ["## Exactness", _exactness_text(ex)]
    if results.get("hybrid_sweep"):
        parts += ["## Hybrid weight sweep", sweep_table(results)]
    t = results["timings"]
    parts += ["## Run", (
        f"{t['total_s']:.0f} s in all (index {t['index_s']:.0f} s{' (reused)' if results['index']['reused'] else ''}"
        f", sizes {t['sizes_s']:.0f} s, quality runs {t['quality_s']:.0f} s, latency {t['latency_s']:.0f} s)."),
        f"`{env.get('command', '')}` at {env.get('timestamp', '')}; OpenSearch "
        f"{env.get('opensearch', {}).get('version')}, nail-os {env.get('versions', {}).get('nail-os')}, "
        f"Python {env.get('versions', {}).get('python')}, torch {env.get('versions', {}).get('torch')}; "
        f"{env.get('machine', {}).get('cpu')}, {env.get('machine', {}).get('usable_cores')} cores."]
    return "\n\n".join(parts) + "\n"


# -- files -----------------------------------------------------------------------------------------------------
def write_results(result: Any, out: str | Path, env: Mapping[str, Any] | None = None, *, plots: bool = True
                  ) -> list[Path]:
    """Write results.json, results.md, runs/<mode>.trec.gz and the plots of one evaluation into `out`."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    results = dict(result.results)
    if env is not None:
        results["environment"] = dict(env)
    written = []
    runs = {}
    for mode, run in result.runs.items():
        path = write_run(out / "runs" / f"{mode}.trec.gz", run, tag=f"nail-os-{mode}")
        runs[mode] = str(path.relative_to(out))
        written.append(path)
    results["runs"] = runs
    if plots:
        from nail_os.evaluation.plots import plot_quality, plot_quality_latency, plot_sweep

        for name, fn in (("quality.png", plot_quality), ("quality_latency.png", plot_quality_latency),
                         ("hybrid_sweep.png", plot_sweep)):
            if fn(results, out / name):
                written.append(out / name)
    (out / "results.json").write_text(json.dumps(results, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    (out / "results.md").write_text(render_markdown(results), encoding="utf-8")
    return [out / "results.json", out / "results.md", *written]


def summary_table(all_results: Sequence[Mapping[str, Any]]) -> str:
    """Dataset × mode rows across datasets: the measures, † as in each dataset's table, and p50 × BM25."""
    head = ["dataset", "mode", *[DISPLAY_NAMES.get(m, m) for m in SUMMARY_MEASURES], "p50 × BM25 (client)"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for results in all_results:
        ratios = (results.get("latency") or {}).get("ratios", {})
        for mode, scores in results["quality"].items():
            sig = results.get("significance", {}).get(mode, {})
            cells = [results["dataset"]["name"], mode_label(results, mode)]
            cells += [_f(scores.get(m)) + (significance_mark(sig.get("p_randomization")) if m == "nDCG@10" else "")
                      for m in SUMMARY_MEASURES]
            cells.append(_f(ratios.get(mode, {}).get("client_ms", {}).get("p50"), 2))
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _means(all_results: Sequence[Mapping[str, Any]], mode: str, measure: str) -> float:
    return sum(r["quality"][mode][measure] for r in all_results) / len(all_results)


def mean_table(all_results: Sequence[Mapping[str, Any]]) -> str:
    """The modes every dataset has, averaged over the datasets (each dataset counts once), with Δ vs BM25 and
    the smallest per-dataset Δ: a mean can hide one dataset that loses."""
    modes = [m for m in all_results[0]["quality"] if all(m in r["quality"] for r in all_results)]
    lines = ["| mode | mean nDCG@10 | Δ vs BM25 | smallest Δ (dataset) | mean R@100 |", "|---|---|---|---|---|"]
    for mode in modes:
        row = [mode_label(all_results[0], mode), _f(_means(all_results, mode, "nDCG@10"), 4)]
        if "bm25" in all_results[0]["quality"] and mode != "bm25":
            deltas = [(r["quality"][mode]["nDCG@10"] - r["quality"]["bm25"]["nDCG@10"], r["dataset"]["name"])
                      for r in all_results]
            worst = min(deltas)
            row += [f"{sum(d for d, _ in deltas) / len(deltas):+.4f}", f"{worst[0]:+.4f} ({worst[1]})"]
        else:
            row += ["", ""]
        row.append(_f(_means(all_results, mode, "R@100"), 4))
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def kind_means(all_results: Sequence[Mapping[str, Any]]) -> list[str]:
    """One mean table per kind of collection (supervised, transductive, zero-shot for the model): a mean over
    collections the model trained on and ones it never saw would say nothing about either."""
    kinds: dict[str, list[Mapping[str, Any]]] = {}
    for r in all_results:
        kinds.setdefault(r.get("kind", "unknown"), []).append(r)
    order = ["zero-shot", "transductive", "supervised", "unknown"]
    parts = []
    for kind in sorted(kinds, key=lambda k: order.index(k) if k in order else len(order)):
        results = kinds[kind]
        names = ", ".join(r["dataset"]["name"] for r in results)
        what = {"zero-shot": "nothing of them was seen in training or selection",
                "transductive": "their text, not their labels, was seen in training",
                "supervised": "their train/dev labels trained or selected the model",
                "unknown": "the model folder has no provenance.json"}.get(kind, kind)
        parts += [f"**{kind}** ({what}): mean over {names}:", mean_table(results)]
    return parts


def models_table(results_dir: Path, all_results: Sequence[Mapping[str, Any]]) -> str | None:
    """This folder's model next to the runs of other models in its subfolders (`<model>/<dataset>/results.json`,
    e.g. `NAIL_OS_RESULTS=eval/results/splade-tiny eval/run_all --model splade-tiny`): one row per model and kind of
    collection (as `kind_means`), means over that kind's datasets."""
    others = {}
    for sub in sorted(p for p in results_dir.iterdir() if p.is_dir()):
        found = [json.loads(p.read_text(encoding="utf-8")) for p in sorted(sub.glob("*/results.json"))]
        found = [r for r in found if {"model", "quality", "dataset"} <= r.keys()]  # not training/'s results
        if found:
            others[sub.name] = found
    if not others:
        return None
    lines = ["| model | kind: datasets | BM25 nDCG@10 | NAIL nDCG@10 | NAIL R@100 | hybrid (w=1) nDCG@10 "
             "| hybrid R@100 | NAIL postings/doc |", "|---|---|---|---|---|---|---|---|"]
    here = all_results[0]["model"]
    for name, results in [(here, all_results), *others.items()]:
        model = Path(results[0]["model"]).name
        # An earlier version of this folder's model has the same name: its folder tells them apart.
        label = name if results is all_results else f"[{name if model == Path(here).name else model}]({name}/README.md)"
        kinds: dict[str, list[Mapping[str, Any]]] = {}
        for r in results:  # runs older than provenance.json recorded no kind
            kinds.setdefault(r.get("kind", "not recorded"), []).append(r)
        for kind, group in kinds.items():
            postings = sum(r["features"]["postings_per_doc"]["mean"] for r in group) / len(group)
            names = ", ".join(r["dataset"]["name"] for r in group)
            lines.append(f"| {label} | {kind}: {names} | {_means(group, 'bm25', 'nDCG@10'):.4f} | "
                         f"{_means(group, 'nail', 'nDCG@10'):.4f} | {_means(group, 'nail', 'R@100'):.4f} | "
                         f"{_means(group, 'hybrid', 'nDCG@10'):.4f} | {_means(group, 'hybrid', 'R@100'):.4f} | "
                         f"{postings:.0f} |")
    return "\n".join(lines)


def efficiency_table(all_results: Sequence[Mapping[str, Any]]) -> str:
    head = ["dataset", "docs", "BM25-only MB", "BM25+NAIL MB", "NAIL bytes/doc", "postings/doc", "tokens/query",
            "exact top-10", "run s"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in all_results:
        s, f, ex = r["index_size"], r["features"], r.get("exactness") or {}
        lines.append("| " + " | ".join([
            r["dataset"]["name"], str(r["dataset"]["documents"]), f"{s['bm25_only']['bytes'] / MB:.2f}",
            f"{s['full']['bytes'] / MB:.2f}", f"{s['nail_field']['bytes_per_doc']:.0f}",
            f"{f['postings_per_doc']['mean']:.1f}", f"{f['query_tokens']['distinct_tokens_mean']:.1f}",
            f"{ex.get('identical', '–')}/{ex.get('queries', '–')}", f"{r['timings']['total_s']:.0f}"]) + " |")
    return "\n".join(lines)


def _exactness_text(ex: Mapping[str, Any]) -> str:
    n, k = ex["queries"], ex["k"]
    text = (f"NAIL top-{k} from OpenSearch vs exhaustive in-process scoring of the weights ingest sent: identical "
            f"for {ex['identical']}/{n} queries ({100 * ex['identical_fraction']:.1f}%)")
    if ex["identical_stored"] != ex["identical"]:
        text += (f"; scored with the weights as `rank_features` stores them (9 significant bits): "
                 f"{ex['identical_stored']}/{n}")
    else:
        text += " (ingest rounds weights to the 9 significant bits `rank_features` keeps, so they are stored as sent)"
    return (text + f"; {ex['explained_by_ties']} more differ only by float32 ties; unexplained: "
            f"{ex['unexplained_count']}. Mean top-{k} overlap with exact scoring: {ex['mean_overlap']:.4f}.")


def _exactness_note(all_results: Sequence[Mapping[str, Any]]) -> str:
    checked = [r["exactness"] for r in all_results if r.get("exactness")]
    if not checked:
        return ""
    queries = sum(e["queries"] for e in checked)
    stored = sum(e["identical_stored"] + e["explained_by_ties"] for e in checked)
    unexplained = sum(e["unexplained_count"] for e in checked)
    return (f"Scored with the weights as `rank_features` stores them (9 significant bits), {stored}/{queries} "
            f"queries match up to float32 ties; {unexplained} differ otherwise.")


def write_summary(results_dir: str | Path, *, run_info: Mapping[str, Any] | None = None) -> Path:
    """eval/results/README.md from every `<dataset>/results.json` under `results_dir`."""
    results_dir = Path(results_dir)
    found = sorted(results_dir.glob("*/results.json"))
    if not found:
        raise FileNotFoundError(f"{results_dir}: no <dataset>/results.json to summarize; run nail-os eval first")
    all_results = [json.loads(p.read_text(encoding="utf-8")) for p in found]
    info_path = results_dir / "run_all.json"
    if run_info is not None:
        info_path.write_text(json.dumps(dict(run_info), indent=1) + "\n", encoding="utf-8")
    info = json.loads(info_path.read_text(encoding="utf-8")) if info_path.is_file() else {}
    env = all_results[0].get("environment", {})
    models = sorted({r["model"] for r in all_results})
    parts = [
        "# Evaluation results", "Generated by `eval/run_all` from each `<dataset>/results.json`; do not edit by hand.",
        f"Model: {', '.join(f'`{m}`' for m in models)}. OpenSearch {env.get('opensearch', {}).get('version')} on "
        f"{env.get('machine', {}).get('cpu')} ({env.get('machine', {}).get('usable_cores')} cores).",
        "## Quality (test splits)", *kind_means(all_results),
        "Per dataset:", summary_table(all_results),
        f"† p < {ALPHA} against BM25 on per-query nDCG@10 (paired randomisation test). p50 × BM25: median client "
        "latency of the mode divided by BM25's, same node, same queries, interleaved.",
        *(["## Models compared (means per kind of collection, same node, same BM25)", table]
          if (table := models_table(results_dir, all_results)) else []),
        "## Efficiency", efficiency_table(all_results),
        "Sizes are primary store bytes after a force-merge to one segment; the NAIL field's share is the full "
        "index minus a BM25-only index of the same documents (OpenSearch has no per-field disk usage API). "
        "Exact top-10: queries whose NAIL top-10 from OpenSearch equals exhaustive in-process scoring of the "
        f"ingested weights. {_exactness_note(all_results)}",
        "## How",
        "`nail-os eval <BEIR folder>` indexes the corpus once through `nail_os.ingest` (BM25 text fields and the "
        "NAIL `rank_features` field), runs every judged query of the split in each mode at depth 1000, sweeps the "
        "hybrid's NAIL weight (BM25 weight 1), scores with ir-measures, tests against BM25 per query, and times "
        "the modes interleaved on the same node (request cache off, after a warm-up). Per-dataset details, plots "
        "and the environment are in `<dataset>/results.md` and `results.json`; TREC runs are written to "
        "`<dataset>/runs/` (git-ignored, about 3 MB each).",
    ]
    if info:
        parts += ["## Run", f"`{info.get('command', 'eval/run_all')}` took {info.get('seconds', 0) / 60:.1f} min "
                  f"on {info.get('machine', env.get('machine', {}).get('cpu'))} at {info.get('timestamp', '')}."]
    from nail_os.evaluation.plots import plot_summary

    if plot_summary(all_results, results_dir / "summary.png"):
        parts.append("![nDCG@10 per dataset and mode](summary.png)")
    path = results_dir / "README.md"
    path.write_text("\n\n".join(parts) + "\n", encoding="utf-8")
    return path
