#!/usr/bin/env python3
"""Reference values of eval's calibration numbers and temperature fit (spec/data-and-eval.md).

Written from the definitions with numpy masks (the Rust code bins by binary search and
weights), cross-checked against scikit-learn where it has a function:

  conf_i  top-1 probability, acc_i whether the top-1 prediction is right.
  ECE           15 equal-width bins, edges = np.linspace(0, 1, 16); bin b holds
                edges[b] < conf <= edges[b+1], the first bin also conf = 0;
                sum_b |B_b|/n * |mean acc(B_b) - mean conf(B_b)|
  MCE           max over non-empty equal-width bins of that gap
  adaptive ECE  the same with edges = np.percentile(conf, np.linspace(0, 1, 16) * 100)
                (equal-mass bins; membership by value, so ties share a bin)
  NLL           sklearn.metrics.log_loss(labels, P), and -mean log P[i, y_i] by hand
  Brier         mean_i sum_c (P[i, c] - [c = y_i])^2 (the multiclass Brier score of the full
                distribution; sklearn.metrics.brier_score_loss where this version accepts it)
  reliability   per-bin counts, mean conf and accuracy; sklearn.calibration.calibration_curve
                (strategy "uniform" / "quantile") gives the non-empty bins' accuracy and conf
  temperature   T minimising mean NLL of softmax(z / T) by torch.optim.LBFGS (strong Wolfe line
                search, float64), as temperature scaling's reference code fits it.

CLI:
  calibration_reference.py --cases IN.json --out OUT.json
IN: {"calibration": [{"confidence": [...], "correct": [...], "probs": [[...]] | null,
                      "labels": [...] | null}, ...],
     "temperature": [{"logits": [[...]], "labels": [...]}, ...]}
OUT: {"calibration": [{"ece", "adaptive_ece", "mce", "nll", "brier", "reliability": [...],
                       "sklearn_uniform": {"accuracy": [...], "confidence": [...]},
                       "sklearn_quantile": {...}, "sklearn_nll", "sklearn_brier"}, ...],
      "temperature": [{"temperature": T, "nll_before": ..., "nll_after": ...}, ...]}
"""
import argparse
import json

import numpy as np
import torch
from sklearn.calibration import calibration_curve
from sklearn.metrics import brier_score_loss, log_loss

BINS = 15


def binned(conf, acc, edges):
    out = []
    for b in range(BINS):
        lo, hi = edges[b], edges[b + 1]
        mask = (conf > lo) & (conf <= hi)
        if b == 0:
            mask |= conf <= lo
        n = int(mask.sum())
        out.append(
            {
                "count": n,
                "confidence": float(conf[mask].mean()) if n else None,
                "accuracy": float(acc[mask].mean()) if n else None,
            }
        )
    return out


def ece_mce(bins, n):
    ece, mce = 0.0, 0.0
    for b in bins:
        if b["count"]:
            gap = abs(b["accuracy"] - b["confidence"])
            ece += b["count"] / n * gap
            mce = max(mce, gap)
    return ece, mce


def sklearn_curve(acc, conf, strategy):
    prob_true, prob_pred = calibration_curve(acc, conf, n_bins=BINS, strategy=strategy)
    return {"accuracy": prob_true.tolist(), "confidence": prob_pred.tolist()}


def calibration(case):
    conf = np.asarray(case["confidence"], dtype=np.float64)
    acc = np.asarray(case["correct"], dtype=bool)
    n = len(conf)
    uniform = binned(conf, acc, np.linspace(0.0, 1.0, BINS + 1))
    ece, mce = ece_mce(uniform, n)
    quantile_edges = np.percentile(conf, np.linspace(0.0, 1.0, BINS + 1) * 100)
    quantile = binned(conf, acc, quantile_edges)
    aece, _ = ece_mce(quantile, n)
    out = {
        "ece": ece,
        "adaptive_ece": aece,
        "mce": mce,
        "reliability": uniform,
        "nll": None,
        "brier": None,
    }
    # calibration_curve needs both outcomes.
    if acc.any() and (~acc).any():
        out["sklearn_uniform"] = sklearn_curve(acc, conf, "uniform")
        out["sklearn_quantile"] = sklearn_curve(acc, conf, "quantile")
        # The equal-mass bins here are scikit-learn's: same non-empty bins, same values.
        mine = [b for b in quantile if b["count"]]
        sk = out["sklearn_quantile"]
        assert len(mine) == len(sk["accuracy"]), (len(mine), len(sk["accuracy"]))
        for b, a, c in zip(mine, sk["accuracy"], sk["confidence"]):
            assert abs(b["accuracy"] - a) < 1e-12 and abs(b["confidence"] - c) < 1e-12
    if case.get("probs") is not None:
        P = np.asarray(case["probs"], dtype=np.float64)
        y = np.asarray(case["labels"], dtype=np.int64)
        onehot = np.eye(P.shape[1])[y]
        out["nll"] = float(-np.mean(np.log(P[np.arange(len(y)), y])))
        out["brier"] = float(np.mean(((P - onehot) ** 2).sum(axis=1)))
        out["sklearn_nll"] = float(log_loss(y, P, labels=np.arange(P.shape[1])))
        try:
            out["sklearn_brier"] = float(
                brier_score_loss(y, P, labels=np.arange(P.shape[1]), scale_by_half=False)
            )
        except TypeError:
            # An older scikit-learn without the multiclass Brier score.
            pass
    return out


def temperature(case):
    z = torch.tensor(case["logits"], dtype=torch.float64)
    y = torch.tensor(case["labels"], dtype=torch.int64)
    t = torch.nn.Parameter(torch.tensor(1.5, dtype=torch.float64))
    opt = torch.optim.LBFGS(
        [t],
        lr=1.0,
        max_iter=1000,
        tolerance_grad=1e-14,
        tolerance_change=1e-16,
        line_search_fn="strong_wolfe",
    )

    def closure():
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(z / t, y)
        loss.backward()
        return loss

    for _ in range(5):
        opt.step(closure)
    with torch.no_grad():
        nll = lambda T: float(torch.nn.functional.cross_entropy(z / T, y))
        return {"temperature": float(t), "nll_before": nll(1.0), "nll_after": nll(float(t))}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cases", required=True)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    with open(args.cases) as f:
        cases = json.load(f)
    torch.set_num_threads(1)
    result = {
        "calibration": [calibration(c) for c in cases.get("calibration", [])],
        "temperature": [temperature(c) for c in cases.get("temperature", [])],
    }
    with open(args.out, "w") as f:
        json.dump(result, f)


if __name__ == "__main__":
    main()
