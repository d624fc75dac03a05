"""Graph benchmark: a superpixel graph network against the 28 px CNN recipe, measured in one run.

For each dataset (PneumoniaMNIST, DermaMNIST by default) it

1. cuts every train and val image into SLIC superpixels and builds the region adjacency graphs
   (``xai_lab.graphs.from_dataset``), timing it (ms per image);
2. trains the graph network of ``xai_lab.graphs.GRAPH_RECIPES`` (``graphs.train_on``: AdamW,
   best epoch on val, 300 s budget, temperature and threshold on val) and the CNN of
   ``xai_lab.training.recipes.RECIPES`` (``recipes.train_on``) on the same splits, with the same
   seed;
3. prints val AUC / ACC of both, the AUC gap (target: graph network within 0.05 of the CNN on
   PneumoniaMNIST) and the training time (target: at most 5 minutes), as wall time and as the
   CPU time of this process (less sensitive to other jobs on a shared machine). Both recipes
   stop before 300 s of wall time; ``--no-budget`` lifts that limit for both, so that a loaded
   machine still trains every epoch (the accuracy comparison is then at equal epochs, and the
   timing target is read from the CPU time);
4. with ``--explain N``, explains N val graphs with every node explainer (seconds per graph)
   and prints the mean Spearman correlation per superpixel of each with the CNN's pixel methods
   (integrated gradients, occlusion, Grad-CAM) pooled per superpixel (``graphs.agreement``).

Validation figures only (the official test splits are held out).

Run: ``XAI_LAB_DATA_DIR=../shared/data python benchmarks/graphs.py [--datasets pneumoniamnist] [--explain 64]``
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import replace

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

DATASETS = ("pneumoniamnist", "dermamnist")
PIXEL_METHODS = ("integrated_gradients", "occlusion", "gradcam")


def _fmt(value, digits=3):
    return "  -  " if value is None or (isinstance(value, float) and not np.isfinite(value)) else f"{value:.{digits}f}"


def explain_and_compare(graph_model, cnn, val_graphs, n: int) -> list[tuple[str, float, float, float]]:
    """(node method, seconds per graph, mean rho with each pixel method...) for ``n`` val graphs."""
    from xai_lab import explain, graphs

    g = val_graphs[:n]
    node = {}
    seconds = {}
    for name in graphs.available_explainers():
        e = graphs.get_explainer(name).explain(graph_model, g, target=1 if g.n_classes == 2 else None)
        node[name], seconds[name] = e, e.seconds / len(g)
    targets = node[next(iter(node))].targets
    pixel = {m: explain.get(m).explain(cnn, g.images, target=targets) for m in PIXEL_METHODS}
    table = graphs.agreement({**node, **pixel})
    matrix = graphs.agreement_matrix(table)
    return [(name, seconds[name], *[float(matrix.loc[name, m]) for m in PIXEL_METHODS]) for name in node], \
        [(a, float(matrix.loc[a, b]), b) for i, a in enumerate(node) for b in list(node)[i + 1:]]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="*", default=list(DATASETS))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--explain", type=int, default=0, help="explain this many val graphs and compare")
    parser.add_argument("--no-budget", action="store_true", help="no 300 s wall-time budget for either model")
    args = parser.parse_args(argv)

    from xai_lab import config, data, graphs
    from xai_lab.training import recipes

    if config.data_dir() is None:
        print("XAI_LAB_DATA_DIR is not set: point it at the folder holding medmnist/*.npz", file=sys.stderr)
        return 2
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(f"# xai_lab graph benchmark, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
          f"{cores} CPU cores, load average at start {os.getloadavg()[0]:.1f}")
    print(f"# command: python benchmarks/graphs.py {' '.join(argv if argv is not None else sys.argv[1:])}")
    rows, comparisons = [], []
    for name in args.datasets:
        train, val = data.load(name, "train"), data.load(name, "val")
        recipe = graphs.get_graph_recipe(name)
        tr = graphs.from_dataset(train, n_segments=recipe.n_segments, compactness=recipe.compactness)
        va = graphs.from_dataset(val, n_segments=recipe.n_segments, compactness=recipe.compactness)
        per_image = 1000 * (tr.seconds + va.seconds) / (len(tr) + len(va))
        print(f"  {name}: superpixel graphs of {len(tr) + len(va)} images in {tr.seconds + va.seconds:.1f} s "
              f"({per_image:.2f} ms/image), nodes per graph {tr.n_nodes.min()}-{tr.n_nodes.max()} "
              f"(mean {tr.n_nodes.mean():.1f}), edges mean {tr.n_edges.mean():.1f}", flush=True)
        cpu = time.process_time()
        g_res = graphs.train_on(name, tr, va, seed=args.seed, **({"max_seconds": None} if args.no_budget else {}))
        g_res["fit"]["cpu_seconds"] = time.process_time() - cpu
        f = g_res["fit"]
        print(f"  {name}: graph network {f['epochs_run']}/{f['epochs']} epochs ({f['stopped_by']}), best "
              f"{f['best_epoch']}, fit {f['seconds']:.0f} s, load avg {os.getloadavg()[0]:.1f}", flush=True)
        if args.no_budget:  # the CNN recipe's budget is a field of its frozen Recipe
            recipes.RECIPES[name] = replace(recipes.RECIPES[name], max_seconds=None)
        cpu = time.process_time()
        c_res = recipes.train_on(name, train, val, seed=args.seed)
        c_res["fit"]["cpu_seconds"] = time.process_time() - cpu
        cf = c_res["fit"]
        print(f"  {name}: CNN recipe {cf['epochs_run']}/{cf['epochs']} epochs ({cf['stopped_by']}), best "
              f"{cf['best_epoch']}, fit {cf['seconds']:.0f} s, load avg {os.getloadavg()[0]:.1f}", flush=True)
        rows.append((name, g_res, c_res, tr.seconds + va.seconds, per_image))
        if args.explain:
            comparisons.append((name, *explain_and_compare(g_res["model"], c_res["model"], va, args.explain)))

    print()
    print("Validation split: graph network (superpixels) vs the 28 px CNN recipe, same seed, same splits")
    header = (f"{'dataset':<15} {'model':<14} {'val AUC':>7} {'val ACC':>7} {'params':>8} {'fit s':>6} "
              f"{'CPU s':>6} {'epochs':>7} {'superpixels s':>13}")
    print(header)
    print("-" * len(header))
    for name, g_res, c_res, sp_seconds, _ in rows:
        for label, res, sp in (("graph network", g_res, f"{sp_seconds:13.1f}"), ("CNN (28 px)", c_res, f"{'-':>13}")):
            m, f = res["metrics"], res["fit"]
            params = f.get("parameters") or int(res["model"].count_params())
            print(f"{name:<15} {label:<14} {_fmt(m['auc']):>7} {_fmt(m['acc']):>7} {params:>8} "
                  f"{f['seconds']:>6.0f} {f['cpu_seconds']:>6.0f} {f['epochs_run']:>3}/{f['epochs']:<3} {sp}")
    print()
    for name, g_res, c_res, sp_seconds, per_image in rows:
        gap = c_res["metrics"]["auc"] - g_res["metrics"]["auc"]
        fit_s, cpu_s = g_res["fit"]["seconds"], g_res["fit"]["cpu_seconds"]
        verdict = "met" if gap <= 0.05 else "MISSED"
        print(f"{name}: AUC gap CNN - graph = {gap:+.3f} (target <= 0.05: {verdict}); graph training "
              f"{fit_s:.0f} s wall, {cpu_s:.0f} s CPU (target <= 300 s: {'met' if fit_s <= 300 else 'MISSED'} "
              f"on wall time), {fit_s + sp_seconds:.0f} s wall with the superpixels ({per_image:.2f} ms/image); "
              f"ratio graph / CNN: wall {fit_s / c_res['fit']['seconds']:.2f}, "
              f"CPU {cpu_s / c_res['fit']['cpu_seconds']:.2f}")
    for name, per_method, within in comparisons:
        print()
        print(f"{name}: node explanations of {args.explain} val graphs (target: the positive / predicted class); "
              "mean Spearman rho per superpixel with the CNN's pixel maps summed per superpixel")
        print(f"{'node method':<24} {'s/graph':>8} " + " ".join(f"{m:>21}" for m in PIXEL_METHODS))
        for method, sec, *rhos in per_method:
            print(f"{method:<24} {sec:>8.3f} " + " ".join(f"{_fmt(r):>21}" for r in rhos))
        print("between node methods: " + "; ".join(f"{a} vs {b} {_fmt(r)}" for a, r, b in within))
    print("Note: the CPU is shared with other jobs (see load average): wall times are pessimistic.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
