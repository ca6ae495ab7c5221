"""Each stage's examples cut into batches of one corpus each, reshuffled every epoch.

One corpus per batch for two reasons: its queries share one IDF table (the query side), and in-batch
negatives from the same corpus are harder than a dictionary entry next to a kernel manual.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from nail_os.train.config import Stage2DatasetConfig, TrainConfig
from nail_os.train.data import Pair, Stage2Query


def stage1_batches(pairs: Sequence[Pair], batch_size: int, rng: random.Random) -> list[list[Pair]]:
    """Shuffled batches of `batch_size` pairs, each from one source corpus: its queries share one IDF table,
    and in-batch negatives from the same corpus are harder than a dictionary entry next to a kernel manual.
    A corpus's last short batch is kept when it has at least two pairs (one would have no negative)."""
    by_source: dict[str, list[int]] = {}
    for i, p in enumerate(pairs):
        by_source.setdefault(p.source, []).append(i)
    batches = []
    for _, rows in sorted(by_source.items()):
        rng.shuffle(rows)
        batches += [[pairs[j] for j in rows[i : i + batch_size]] for i in range(0, len(rows), batch_size)]
    batches = [b for b in batches if len(b) > 1]
    rng.shuffle(batches)
    return batches


def stage2_batches(
    queries: list[Stage2Query], cfg: TrainConfig, epoch: int,
    specs: dict[str, Stage2DatasetConfig] | None = None,
) -> list[list[tuple[Stage2Query, list[int]]]]:
    """One epoch of single-dataset batches (in-batch negatives from the same corpus are harder), shuffled."""
    rng = random.Random(cfg.seed * 1000 + epoch)
    s2 = cfg.stage2
    by_ds: dict[str, list[Stage2Query]] = {}
    for q in queries:
        by_ds.setdefault(q.dataset, []).append(q)
    batches = []
    for name, items in sorted(by_ds.items()):
        spec = (specs or s2.datasets)[name]
        items = list(items)
        rng.shuffle(items)
        if spec.max_queries:
            items = items[: spec.max_queries]
        examples: list[tuple[Stage2Query, list[int]]] = []
        for _ in range(spec.repeat):
            for q in items:
                pos = list(range(len(q.positives)))
                rng.shuffle(pos)
                for p in pos[: spec.positives_per_query]:
                    neg_pool = list(range(len(q.positives), len(q.candidates)))
                    negs = rng.sample(neg_pool, min(s2.negatives, len(neg_pool)))
                    while len(negs) < s2.negatives:  # a query with few BM25 hits repeats negatives
                        negs.append(rng.choice(neg_pool) if neg_pool else p)
                    examples.append((q, [p, *negs]))
        rng.shuffle(examples)
        batches += [examples[i : i + s2.batch_size] for i in range(0, len(examples), s2.batch_size)]
    batches = [b for b in batches if len(b) > 1]
    rng.shuffle(batches)
    return batches
