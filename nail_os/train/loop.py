"""The training pipeline behind `nail-os train`: data, IDF query weights, stage 1, teachers, stage 2, eval, save.

One call of `train(config)` runs everything end to end and writes, under the config's log_dir,
`train.log` (progress), `steps.jsonl` (losses per logged step), `results.json` (dev and test metrics) and
`loss.png`; the model goes to output_dir (fp16 safetensors, tokenizer.json, query_weights.json).

Model selection: after stage 1 and after each stage-2 epoch the model is scored on the config's dev sets
(validation qrels such as nfcorpus dev, held-out Debian synopses); the state with the best `select_on`
nDCG@10 is kept, the stage-1 state ("epoch 0") included. Test qrels are only read once, at the end, for the
report. With no dev sets (`nail-os adapt`, which has no labels) the state after the last epoch is kept.

Over 400 lines because `train` reads top to bottom as the pipeline it runs, and `Trainer` holds both stages'
steps; batching (`batches.py`) and what a run reports (`results.py`) live beside it.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import random
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from nail_os.model.config import DECODER_FIELDS
from nail_os.train.batches import stage1_batches, stage2_batches
from nail_os.train.bm25 import BM25Index
from nail_os.train.config import Stage2DatasetConfig, TrainConfig, TrainConfigError
from nail_os.train.data import (
    BeirDataset,
    DocPool,
    Pair,
    Stage2Query,
    build_stage1_pairs,
    build_stage2_queries,
    idf_weights,
    load_corpus,
    pseudo_labelled,
    query_bags,
    query_matrix,
    query_tokenizer,
    token_document_frequency,
)
from nail_os.train.losses import (
    contrastive_loss,
    ensemble_teacher,
    flops_loss,
    kl_distillation_loss,
    quadratic_warmup,
)
from nail_os.train.results import PROVENANCE_FILE, mean_table, plot_losses, provenance, selection_score

if TYPE_CHECKING:
    from nail_os.model.nail import NailModel

# The Debian held-out split does not follow cfg.seed: runs of any seed are compared on the same synopses, and a
# run continued from a checkpoint with another seed never trains on what its parent held out.
HELDOUT_SEED = 13


class Logger:
    """Progress lines to stderr and train.log; step metrics to steps.jsonl."""

    def __init__(self, log_dir: Path) -> None:
        log_dir.mkdir(parents=True, exist_ok=True)
        self.text = (log_dir / "train.log").open("a", encoding="utf-8")
        self.steps = (log_dir / "steps.jsonl").open("a", encoding="utf-8")
        self.start = time.time()

    def __call__(self, message: str) -> None:
        line = f"[{time.time() - self.start:7.1f}s] {message}"
        print(line, file=sys.stderr, flush=True)  # stdout stays free for what a caller pipes on
        self.text.write(line + "\n")
        self.text.flush()

    def step(self, record: dict[str, Any]) -> None:
        self.steps.write(json.dumps(record) + "\n")
        self.steps.flush()


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    os.environ.setdefault("PYTHONHASHSEED", str(seed))


def resolve_data_dir(cfg: TrainConfig) -> Path:
    if cfg.data_dir:
        return Path(cfg.data_dir)
    return Path(os.environ.get("NAIL_OS_DATA", "../shared/data"))


def subsample(ds: BeirDataset, max_docs: int, max_queries: int, rng: random.Random) -> BeirDataset:
    """A small copy for CPU debugging: some queries of each split and their judged docs, plus filler docs."""
    keep_q: set[str] = set()
    for table in ds.qrels.values():
        qids = sorted(table)
        rng.shuffle(qids)
        keep_q |= set(qids[: max_queries or len(qids)])
    judged = {d for table in ds.qrels.values() for q, docs in table.items() if q in keep_q for d in docs}
    rows = [i for i, d in enumerate(ds.doc_ids) if d in judged]
    others = [i for i, d in enumerate(ds.doc_ids) if d not in judged]
    rng.shuffle(others)
    rows = sorted(rows[:max_docs] + others[: max(0, max_docs - len(rows))])
    doc_ids = [ds.doc_ids[i] for i in rows]
    kept = set(doc_ids)
    qrels = {
        split: {q: {d: r for d, r in docs.items() if d in kept} for q, docs in table.items() if q in keep_q}
        for split, table in ds.qrels.items()
    }
    qrels = {s: {q: docs for q, docs in t.items() if docs} for s, t in qrels.items()}
    titles = [ds.titles[i] for i in rows] if ds.titles is not None else None
    return BeirDataset(ds.name, doc_ids, [ds.doc_texts[i] for i in rows], dict(ds.queries), qrels, titles)


def _param_groups(model: torch.nn.Module, lr: float, head_mult: float) -> list[dict[str, Any]]:
    enc = [p for n, p in model.named_parameters() if n.startswith("encoder.")]
    rest = [p for n, p in model.named_parameters() if not n.startswith("encoder.")]
    return [{"params": enc, "lr": lr}, {"params": rest, "lr": lr * head_mult}]


def _schedule(optimizer: torch.optim.Optimizer, total: int, warmup: float) -> torch.optim.lr_scheduler.LambdaLR:
    warm = max(1, int(total * warmup))

    def factor(step: int) -> float:  # linear warm-up, then linear decay to 0
        if step < warm:
            return (step + 1) / warm
        return max(0.0, (total - step) / max(1, total - warm))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


class Trainer:
    """Holds the model, tokenizers and query weights shared by both stages."""

    def __init__(self, cfg: TrainConfig, model: torch.nn.Module, weights: np.ndarray | Callable[[str], np.ndarray],
                 device: torch.device, log: Logger) -> None:
        """`weights`: one query-weight table (V,) for every corpus, or a function of the corpus's name."""
        self.cfg, self.model, self.device, self.log = cfg, model, device, log
        self._weights_of = weights if callable(weights) else lambda _corpus: weights
        self._weights: dict[str, torch.Tensor] = {}
        self.special = frozenset(model.config.special_token_ids)
        self.qtok = query_tokenizer(model.tokenizer_json)
        self.global_step = 0
        self.autocast = device.type == "cuda"

    def encode(self, texts: Sequence[str], max_length: int) -> torch.Tensor:
        batch = self.model.tokenize(list(texts), max_length)
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.autocast):
            docs = self.model(**batch)
        return docs.float()  # shape (B_d, V)

    def query_weights(self, corpus: str) -> torch.Tensor:
        """The query-side weights (V,) a query of `corpus` meets: IDF over that corpus's own documents, as an
        index's own statistics give them at search time (`query_weights: "idf-self"`), or one shared table."""
        if corpus not in self._weights:
            self._weights[corpus] = torch.as_tensor(self._weights_of(corpus), dtype=torch.float32, device=self.device)
        return self._weights[corpus]

    def queries(self, texts: Sequence[str], corpus: str) -> torch.Tensor:
        bags = query_bags(self.qtok, texts, self.special)
        return query_matrix(bags, self.query_weights(corpus), self.device)  # (B_q, V)

    def run_stage(
        self,
        stage: str,
        batches: Callable[[int], Iterator[list[Any]]],
        steps_per_epoch: int,
        epochs: float,
        lr: float,
        step_fn: Callable[[list[Any], float], dict[str, float]],
        flops_weight: float,
        after_epoch: Callable[[int], None] | None = None,
    ) -> None:
        total = max(1, int(math.ceil(steps_per_epoch * epochs)))
        opt = torch.optim.AdamW(_param_groups(self.model, lr, self.cfg.head_lr_mult), lr=lr, weight_decay=0.01)
        sched = _schedule(opt, total, self.cfg.warmup)
        self.model.train()
        step, epoch, t0 = 0, 0, time.time()
        window: dict[str, list[float]] = {}  # losses since the last log line: one batch is one dataset, noisy
        while step < total:
            for batch in batches(epoch):
                if step >= total:
                    break
                lam = quadratic_warmup(step, int(total * self.cfg.flops_warmup), flops_weight)
                parts = step_fn(batch, lam)
                loss = parts["loss_tensor"]
                opt.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(self.model.parameters(), 1.0)
                opt.step()
                sched.step()
                step += 1
                self.global_step += 1
                for k, v in parts.items():
                    if k != "loss_tensor":
                        window.setdefault(k, []).append(float(v))
                if step % self.cfg.log_every == 0 or step == total:
                    record = {k: float(np.mean(v)) for k, v in window.items()}
                    window = {}
                    record.update(stage=stage, step=step, global_step=self.global_step, lr=sched.get_last_lr()[0],
                                  flops_weight=lam, sec=time.time() - t0)
                    self.log.step(record)
                    self.log(f"{stage} step {step}/{total} " + " ".join(
                        f"{k}={v:.4g}" for k, v in record.items() if k not in ("stage", "step", "global_step")))
            epoch += 1
            if after_epoch is not None:
                after_epoch(epoch)

    # ------------------------------------------------------------------ stage 1
    def stage1_step(self, pairs: list[Pair], lam: float) -> dict[str, Any]:
        q = self.queries([p.query for p in pairs], pairs[0].source)  # shape (B, V): one corpus per batch
        d = self.encode([p.passage for p in pairs], self.cfg.stage1.max_length)  # shape (B, V)
        scores = q @ d.T  # shape (B, B): the diagonal holds each query's own passage
        target = torch.arange(len(pairs), device=self.device)
        ce = contrastive_loss(scores, target)
        fl = flops_loss(d)
        loss = ce + lam * fl
        return {"loss_tensor": loss, "loss": loss.detach(), "ce": ce.detach(), "flops": fl.detach(),
                "doc_nnz": (d > 0).sum(-1).float().mean().detach()}

    # ------------------------------------------------------------------ stage 2
    def stage2_step(
        self, batch: list[tuple[Stage2Query, list[int]]], lam: float, doc_texts: Sequence[str],
        teacher_weights: torch.Tensor | None,
    ) -> dict[str, Any]:
        """batch: (query, candidate positions into query.candidates: positive first, then negatives)."""
        group = len(batch[0][1])
        doc_rows = [q.candidates[c] for q, chosen in batch for c in chosen]
        q = self.queries([x.query for x, _ in batch], batch[0][0].dataset)  # shape (B, V)
        d = self.encode([doc_texts[r] for r in doc_rows], self.cfg.stage2.max_length)  # shape (B*G, V)
        scores = q @ d.T  # shape (B, B*G)
        target = torch.arange(len(batch), device=self.device) * group
        rows = torch.as_tensor(doc_rows, device=self.device)
        mask = torch.zeros_like(scores, dtype=torch.bool)
        for i, (query, _) in enumerate(batch):
            # Another copy of a positive of query i (in-batch, or its other positives) is no negative.
            pos = torch.as_tensor(query.positives, device=self.device)
            mask[i] = torch.isin(rows, pos)
            mask[i, i * group] = False
        ce = contrastive_loss(scores, target, mask)
        out: dict[str, Any] = {"ce": ce.detach()}
        loss = ce
        if teacher_weights is not None:
            own = scores.view(len(batch), len(batch), group)[torch.arange(len(batch)), torch.arange(len(batch))]
            teach = torch.as_tensor(
                np.stack([x.teacher[:, chosen] for x, chosen in batch], axis=1), device=self.device
            )  # shape (T, B, G)
            kd = kl_distillation_loss(own, ensemble_teacher(teach, teacher_weights), self.cfg.distill.temperature)
            loss = loss + self.cfg.distill.weight * kd
            out["kd"] = kd.detach()
        fl = flops_loss(d)
        loss = loss + lam * fl
        out.update(loss_tensor=loss, loss=loss.detach(), flops=fl.detach(),
                   doc_nnz=(d > 0).sum(-1).float().mean().detach())
        return out


def _dev_queries(ds: BeirDataset, split: str) -> list[str]:
    return [q for q in ds.qrels.get(split, {}) if q in ds.queries]


def train(cfg: TrainConfig, show_progress: bool = True) -> dict[str, Any]:
    """Run the whole pipeline for `cfg`; returns the results dict also written to results.json."""
    from nail_os.model._checkpoints import resolve_checkpoint
    from nail_os.train.evaluate import evaluate_dataset
    from nail_os.train.teachers import score_candidates

    seed_everything(cfg.seed)
    log_dir, out_dir = cfg.resolved(cfg.log_dir), cfg.resolved(cfg.output_dir)
    log = Logger(log_dir)
    (log_dir / "config.json").write_text(json.dumps(cfg.to_dict(), indent=2) + "\n", encoding="utf-8")
    device = torch.device(("cuda" if torch.cuda.is_available() else "cpu") if cfg.device == "auto" else cfg.device)
    data_dir = resolve_data_dir(cfg)
    rng = random.Random(cfg.seed)
    names = sorted(set(cfg.stage1_corpora) | set(cfg.stage2.datasets) | set(cfg.stage2.pseudo_corpora)
                   | {s.rsplit("/", 1)[0] for s in cfg.dev_sets + cfg.test_sets})
    datasets: dict[str, BeirDataset] = {}
    for name in names:
        ds = load_corpus(data_dir / name)
        if cfg.limit_docs:
            ds = subsample(ds, cfg.limit_docs, cfg.limit_queries, rng)
        datasets[name] = ds
    log(f"device {device}; data {data_dir}: " + ", ".join(f"{n} {len(d.doc_ids)} docs" for n, d in datasets.items()))

    # Train queries of one corpus (Debian synopses by default) held out of stage 2 for model selection
    # ("<heldout_corpus>/heldout" in dev_sets).
    heldout: list[str] = []
    if cfg.heldout_corpus in datasets:
        deb = datasets[cfg.heldout_corpus]
        qids = sorted(deb.qrels.get("train", {}))
        random.Random(HELDOUT_SEED).shuffle(qids)
        heldout = qids[: cfg.debian_heldout]
        deb.qrels["heldout"] = {q: deb.qrels["train"][q] for q in heldout}
        deb.qrels["train"] = {q: deb.qrels["train"][q] for q in qids[cfg.debian_heldout :]}

    init = cfg.init
    model = initial_model(cfg)
    model.to(device)
    log(f"model {init} {model.config.architecture}: {model.num_parameters() / 1e6:.1f}M parameters")

    # IDF over every unlabeled document the run may see (stage-1 corpora): the inference-free query side, and
    # the table saved with the model for an index that keeps no statistics of its own.
    unlabeled = [t for n in cfg.stage1_corpora for t in datasets[n].doc_texts]
    vocab_size, special = model.config.vocab_size, model.config.special_token_ids
    qtok = query_tokenizer(model.tokenizer_json)
    if cfg.query_weights == "binary":
        weights = np.ones(vocab_size, dtype=np.float32)
        weights[special] = 0.0
    else:
        weights = idf_weights(token_document_frequency(qtok, unlabeled, vocab_size), len(unlabeled), special)
    self_idf: dict[str, np.ndarray] = {}

    def weights_of(corpus: str) -> np.ndarray:
        """IDF of `corpus` over its own documents ("idf-self"), else the shared table."""
        if cfg.query_weights != "idf-self":
            return weights
        source = corpus.split("~")[0]  # a pseudo-labelled set ("name~pseudo") weighs as its source corpus
        if source not in self_idf:
            texts = datasets[source].doc_texts
            self_idf[source] = idf_weights(token_document_frequency(qtok, texts, vocab_size), len(texts), special)
        return self_idf[source]

    trainer = Trainer(cfg, model, weights_of, device, log)

    # ---------------------------------------------------------------- stage 1
    if cfg.stage1.enabled:
        pair_rng = random.Random(cfg.seed + 1)
        pairs = [p for n in cfg.stage1_corpora for p in build_stage1_pairs(
            datasets[n].doc_texts, pair_rng, titles=datasets[n].titles if cfg.stage1.headwords else None, source=n)]
        pair_rng.shuffle(pairs)
        if cfg.stage1.max_pairs:
            pairs = pairs[: cfg.stage1.max_pairs]
        kinds = Counter(p.kind for p in pairs)
        bs = cfg.stage1.batch_size
        log(f"stage1: {len(pairs)} pairs {dict(kinds)} from {dict(Counter(p.source for p in pairs))}, batch {bs}")

        def s1_batches(epoch: int) -> Iterator[list[Pair]]:
            yield from stage1_batches(pairs, bs, random.Random(cfg.seed + 100 + epoch))

        steps = len(stage1_batches(pairs, bs, random.Random(0)))
        trainer.run_stage("stage1", s1_batches, max(1, steps), cfg.stage1.epochs, cfg.stage1.lr,
                          trainer.stage1_step, cfg.stage1.flops_weight)

    results: dict[str, Any] = {"config": cfg.name, "dev": {}, "test": {}}
    bm25_cache: dict[tuple[str, str], Any] = {}

    def run_dev(tag: str) -> dict[str, Any]:
        dev = {}
        for spec in cfg.dev_sets:
            name, split = spec.rsplit("/", 1)
            if name not in datasets or split not in datasets[name].qrels:
                continue
            dev[spec] = evaluate_dataset(model, datasets[name], split, weights_of(name), device, cfg.hybrid_weights,
                                         bm25_cache, log=log)
            log(f"dev {tag} {spec}: " + json.dumps({k: round(v["nDCG@10"], 4) for k, v in dev[spec].items()}))
        results["dev"][tag] = dev
        return dev

    if cfg.stage1.enabled:
        run_dev("stage1")
    elif not cfg.stage2.enabled:  # nothing to train: score `init` as it is (a checkpoint, an average of some)
        run_dev("init")

    # ---------------------------------------------------------------- stage 2
    best_state: dict[str, torch.Tensor] | None = None
    if cfg.stage2.enabled:
        pool = DocPool()
        s2_queries: list[Stage2Query] = []
        specs = dict(cfg.stage2.datasets)
        pseudo_rng = random.Random(cfg.seed + 3)
        for corpus in cfg.stage2.pseudo_corpora:  # unlabeled text as pseudo-labelled queries (see pseudo_labelled)
            src = datasets[corpus]
            made_pairs = build_stage1_pairs(src.doc_texts, pseudo_rng, titles=src.titles, source=corpus)
            pseudo = pseudo_labelled(f"{corpus}~pseudo", made_pairs, cfg.stage2.pseudo_queries)
            datasets[pseudo.name] = pseudo
            specs[pseudo.name] = Stage2DatasetConfig(split="pseudo")
        for name, spec in specs.items():
            ds = datasets[name]
            offset = pool.add(ds)
            qids = [q for q in ds.qrels[spec.split] if q in ds.queries]
            index = BM25Index.build(ds.doc_texts)
            top, _ = index.search([ds.queries[q] for q in qids], cfg.stage2.bm25_depth)
            made = build_stage2_queries(ds, spec.split, offset, top, qids, cfg.stage2.bm25_depth,
                                         random.Random(cfg.seed + 2))
            if "bm25" in cfg.distill.teachers:  # BM25 is a teacher too: the hybrid of BM25 and dense is the bar
                scores = index.pair_scores([q.query for q in made], [[c - offset for c in q.candidates] for q in made])
                for q, row in zip(made, scores, strict=True):
                    q.bm25 = row
            log(f"stage2 {name}/{spec.split}: {len(made)} queries, "
                f"{sum(len(q.positives) for q in made)} positives, BM25 negatives from top {cfg.stage2.bm25_depth}")
            s2_queries += made
        teacher_weights = None
        if cfg.distill.enabled:
            paths = {n: "" if n == "bm25" else str(resolve_checkpoint(cfg.teacher_paths.get(n, n)))
                     for n in cfg.distill.teachers}
            t0 = time.time()
            order = score_candidates(s2_queries, pool.texts, paths, device, log=log)
            teacher_weights = torch.tensor([cfg.distill.teachers[n] for n in order], device=device)
            log(f"teachers scored in {time.time() - t0:.0f}s")

        best = {"score": -1.0, "epoch": 0}
        if not cfg.dev_sets:  # no labels to select on (`nail-os adapt`): the last state is kept
            log("no dev sets: the model after the last stage-2 epoch is kept")
        elif "stage1" in results["dev"]:  # the stage-1 model is a candidate too: out of domain, stage 2 may not help
            best["score"] = selection_score(results["dev"]["stage1"], cfg.select_on)
            best_state = {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}
            log(f"selection on {cfg.select_on}: stage 1 nDCG@10 {best['score']:.4f} (epoch 0)")

        def after_epoch(epoch: int) -> None:
            nonlocal best_state
            if not cfg.dev_sets:
                best["epoch"] = epoch
                return
            dev = run_dev(f"stage2-epoch{epoch}")
            sel = selection_score(dev, cfg.select_on)
            if sel > best["score"]:
                best.update(score=sel, epoch=epoch)
                best_state = {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}
            log(f"selection on {cfg.select_on}: epoch {epoch} nDCG@10 {sel:.4f} (best epoch {best['epoch']})")

        epoch_batches: dict[int, list[Any]] = {}

        def s2_batches(epoch: int) -> Iterator[list[Any]]:
            epoch_batches[epoch] = stage2_batches(s2_queries, cfg, epoch, specs)
            yield from epoch_batches[epoch]

        steps = len(stage2_batches(s2_queries, cfg, 0, specs))
        log(f"stage2: {len(s2_queries)} queries, {steps} steps per epoch, {cfg.stage2.epochs} epochs")
        trainer.run_stage(
            "stage2", s2_batches, steps, cfg.stage2.epochs, cfg.stage2.lr,
            lambda b, lam: trainer.stage2_step(b, lam, pool.texts, teacher_weights),
            cfg.stage2.flops_weight, after_epoch,
        )
        results["selected_epoch"] = best["epoch"]
        if best_state is not None:
            model.load_state_dict(best_state)

    # ---------------------------------------------------------------- test report and save
    for spec in cfg.test_sets:
        name, split = spec.rsplit("/", 1)
        if name in datasets and split in datasets[name].qrels:
            results["test"][spec] = evaluate_dataset(model, datasets[name], split, weights_of(name), device,
                                                     cfg.hybrid_weights, bm25_cache, log=log)
            log(f"test {spec}: " + json.dumps({k: round(v["nDCG@10"], 4) for k, v in results["test"][spec].items()}))
    results["test_mean"] = mean_table(results["test"])
    log("test mean nDCG@10: " + json.dumps({k: round(v, 4) for k, v in results["test_mean"].items()}))
    qw = {i: float(w) for i, w in enumerate(weights) if w > 0}
    model.save_pretrained(out_dir, dtype=torch.float16, query_weights=qw)
    (out_dir / PROVENANCE_FILE).write_text(json.dumps(provenance(cfg), indent=2) + "\n", encoding="utf-8")
    log(f"saved {out_dir}")
    (log_dir / "results.json").write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    try:
        plot_losses(log_dir / "steps.jsonl", log_dir / "loss.png", cfg.name)
    except ImportError:
        log("matplotlib missing: no loss.png (pip install 'nail-os[train]')")
    return results


# What a trained model's config may change when training continues from it: nothing here shapes a weight.
RUNTIME_FIELDS = ("top_k", "top_k_per_token", "min_top_k", "max_length")


def initial_model(cfg: TrainConfig) -> NailModel:
    """The model training starts from: `cfg.init` as a whole when it is a trained nail-os folder (encoder, decoder,
    position queries and vocabulary head: a continuation or `nail-os adapt`), else a new model over a pretrained
    encoder ("minilm", "splade-tiny", a Hugging Face BERT folder).

    A trained folder keeps its architecture; `cfg.model` may only change what encoding reads (top_k,
    top_k_per_token, min_top_k, max_length), since any other field would not fit its weights.
    """
    from nail_os.model._checkpoints import read_json, resolve_checkpoint
    from nail_os.model.config import NailConfig
    from nail_os.model.nail import CONFIG_FILE, NailModel

    folder = resolve_checkpoint(cfg.init)
    raw = read_json(folder / CONFIG_FILE) if (folder / CONFIG_FILE).is_file() else {}
    if not NailConfig.is_nail_config(raw):
        return NailModel.from_pretrained_encoder(str(folder), architecture=cfg.architecture, **cfg.model)
    model = NailModel.from_pretrained(folder)
    have = model.config
    problems = [] if cfg.architecture == have.architecture else [
        f'architecture "{cfg.architecture}" (the folder has "{have.architecture}")']
    runtime = {k: v for k, v in cfg.model.items() if k in RUNTIME_FIELDS}
    structural = {k: v for k, v in cfg.model.items() if k not in RUNTIME_FIELDS}
    problems += [f"model.{k}={v!r} (the folder has {getattr(have, k, None)!r})" for k, v in structural.items()
                 if getattr(have, k, None) != v and not (have.architecture == "splade" and k in DECODER_FIELDS)]
    if problems:
        raise TrainConfigError(f"init {cfg.init} is a trained model ({folder}); its weights fix its shape, so the "
                               "config cannot change " + ", ".join(problems))
    model.config = dataclasses.replace(have, **runtime)  # validated again by NailConfig.__post_init__
    return model
