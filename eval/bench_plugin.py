"""Query latency of the nail plugin's server-side query against the client-built body, side by side on SciFact.

    nail-os server start --port 9250 && python eval/bench_plugin.py

Four modes, interleaved on the same node and index (`nail_os.evaluation.efficiency.time_queries`): `nail` (the client
tokenizes and sends one rank_feature clause per token), `nail_server` (one `nail` clause the plugin tokenizes),
and both inside the BM25 hybrid. Client time includes building the body, so the client-side modes pay for
tokenization in Python and the server-side ones pay for it in the node. Documents are weighted without an encoder
(1 + ln count of each token, as the plugin tests do): latency depends on posting lists, not on the weights.
"""

from __future__ import annotations

import argparse
import math
from collections import Counter

from bench_common import DATA, DEFAULT_URL, build_index, client, machine, write_results

from nail_os.corpus import read_corpus, read_queries
from nail_os.evaluation.efficiency import force_merge, summarize_latency, time_queries
from nail_os.queries import QueryOptions, build_query
from nail_os.registry import resolve_model_dir
from nail_os.tokens import Tokenizer

INDEX = "bench-plugin-scifact"
PASSES = 3  # 300 queries x 3 passes = 900 samples per mode


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default=DEFAULT_URL)
    parser.add_argument("--corpus", default="scifact")
    parser.add_argument("--passes", type=int, default=PASSES)
    args = parser.parse_args()

    os_client = client(args.url)
    plugins = {p["component"] for p in os_client.cat.plugins(format="json")}
    if "nail" not in plugins:
        raise SystemExit(f"{args.url} runs no nail plugin (plugins: {sorted(plugins)}); start it with "
                         f"`nail-os server start --port 9250`")
    tokenizer = Tokenizer.from_model_dir(resolve_model_dir("nail-minilm"))
    records = list(read_corpus(DATA / args.corpus))
    for record in records:
        ids = tokenizer.hf.encode(record.full_text, add_special_tokens=False).ids
        counts = Counter(i for i in ids if i not in tokenizer.special_ids)
        record.features = {tokenizer.id_to_token(i): 1.0 + math.log(c) for i, c in counts.items()}
    build_index(os_client, INDEX, records, tokenizer, show_progress=False)
    force_merge(os_client, INDEX)
    queries = dict(list(read_queries(DATA / args.corpus / "queries.jsonl").items())[:300])

    def body(mode: str, server_side: bool):
        options = QueryOptions(mode=mode, server_side=server_side)  # type: ignore[arg-type]
        return lambda text: build_query(text, None if server_side else tokenizer, options)

    bodies = {"nail": body("nail", False), "nail_server": body("nail", True),
              "hybrid": body("hybrid", False), "hybrid_server": body("hybrid", True)}
    summary = summarize_latency(time_queries(os_client, INDEX, queries, bodies, repeats=args.passes),
                                baseline="nail")
    rows = ["| mode | took p50 (ms) | took p99 (ms) | client p50 (ms) | client p99 (ms) |", "|---|---|---|---|---|"]
    for mode, clocks in summary["modes"].items():
        took, wall = clocks["took_ms"], clocks["client_ms"]
        rows.append(f"| {mode} | {took['p50']:.2f} | {took['p99']:.2f} | {wall['p50']:.2f} | {wall['p99']:.2f} |")
    modes = summary["modes"]
    delta = {clock: {pair: modes[a][clock]["p50"] - modes[b][clock]["p50"]
                     for pair, (a, b) in {"nail": ("nail_server", "nail"),
                                          "hybrid": ("hybrid_server", "hybrid")}.items()}
             for clock in ("took_ms", "client_ms")}
    markdown = "\n".join([
        f"# The nail plugin's server-side query vs the client-built body ({args.corpus})", "",
        f"{len(queries)} queries x {args.passes} passes, modes interleaved, request cache off.", "", *rows, "",
        f"Server-side minus client-built p50: took {delta['took_ms']['nail']:+.2f} ms (nail), "
        f"{delta['took_ms']['hybrid']:+.2f} ms (hybrid); client wall time {delta['client_ms']['nail']:+.2f} ms "
        f"(nail), {delta['client_ms']['hybrid']:+.2f} ms (hybrid).", ""])
    path = write_results(f"plugin_{args.corpus}", {"machine": machine(os_client), "summary": summary,
                                                   "p50_server_minus_client_ms": delta}, markdown)
    print(markdown)
    print(path)


if __name__ == "__main__":
    main()
