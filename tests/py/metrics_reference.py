#!/usr/bin/env python3
"""Reference values of eval's misprediction-detection metrics (spec/data-and-eval.md).

AUROC and the two AUPRs come from scikit-learn. FPR@95TPR, AURC, E-AURC and AUGRC have no
scikit-learn function: they are computed here straight from the definitions, by a different
route than the Rust code (which sweeps sorted tie groups):

  correct  c_i in {0, 1}; wrong w_i = 1 - c_i; score s_i, higher = more trust.
  AUROC         roc_auc_score(c, s)
  AUPR-Success  average_precision_score(c, s)
  AUPR-Error    average_precision_score(w, -s)
  FPR@95TPR     t* = the largest score value t with 20 * #{correct, s >= t} >= 19 * #correct;
                FPR = #{wrong, s >= t*} / #wrong
  E(k)          expected errors among the k most trusted, every order of tied samples equally
                likely: sample i is among them with probability
                clip((k - #{s > s_i}) / #{s == s_i}, 0, 1)
  AURC          mean_k E(k) / k             (k = 1..n)
  E-AURC        AURC - AURC of the oracle score s = c
  AUGRC         mean_k E(k) / n
  working points, accepting s >= t over the distinct score values t:
    risk at C% coverage   the largest t with 100 * #{s >= t} >= C * n; risk = wrong share
                          of the accepted; also t
    coverage at R% risk   the smallest t with 100 * #{wrong, s >= t} <= R * #{s >= t};
                          coverage = #{s >= t} / n; none: coverage 0, t null

The detection metrics (AUROC, AUPRs, FPR@95TPR) are null unless both classes occur.

CLI:
  metrics_reference.py --cases IN.json --out OUT.json
IN: [{"scores": [...], "correct": [true, ...]}, ...]
OUT: [{"auroc": ..., "aupr_error": ..., "aupr_success": ..., "fpr95tpr": ..., "aurc": ...,
       "e_aurc": ..., "augrc": ...}, ...]
"""
import argparse
import json

import numpy as np
from sklearn.metrics import average_precision_score, roc_auc_score


def fpr_at_95_tpr(s, c):
    n_correct, n_wrong = c.sum(), (~c).sum()
    for t in sorted(set(s.tolist()), reverse=True):
        accepted = s >= t
        if 20 * (accepted & c).sum() >= 19 * n_correct:
            return float((accepted & ~c).sum() / n_wrong)
    raise AssertionError("unreachable: the lowest threshold accepts every sample")


def expected_errors(s, c):
    n = len(s)
    k = np.arange(1, n + 1, dtype=np.float64)
    above = (s[None, :] > s[:, None]).sum(axis=1).astype(np.float64)  # per sample i
    tied = (s[None, :] == s[:, None]).sum(axis=1).astype(np.float64)
    p_in = np.clip((k[:, None] - above[None, :]) / tied[None, :], 0.0, 1.0)  # [k, i]
    return p_in @ (~c).astype(np.float64)


def aurc(s, c):
    e = expected_errors(s, c)
    return float(np.mean(e / np.arange(1, len(s) + 1)))


def augrc(s, c):
    e = expected_errors(s, c)
    return float(np.mean(e / len(s)))


def working_points(s, c):
    n = len(s)
    out = {}
    ts = sorted(set(s.tolist()), reverse=True)
    for pct in (80, 90, 95):
        for t in ts:
            acc = s >= t
            if 100 * acc.sum() >= pct * n:
                out[f"risk_at_{pct}_coverage"] = [float((acc & ~c).sum() / acc.sum()), t]
                break
    for pct in (5, 10):
        out[f"coverage_at_{pct}_risk"] = [0.0, None]
        for t in reversed(ts):  # loosest first
            acc = s >= t
            if 100 * (acc & ~c).sum() <= pct * acc.sum():
                out[f"coverage_at_{pct}_risk"] = [float(acc.sum() / n), t]
                break
    return out


def metrics(s, c):
    out = {}
    both = c.any() and (~c).any()
    out["auroc"] = float(roc_auc_score(c, s)) if both else None
    out["aupr_error"] = float(average_precision_score(~c, -s)) if both else None
    out["aupr_success"] = float(average_precision_score(c, s)) if both else None
    out["fpr95tpr"] = fpr_at_95_tpr(s, c) if both else None
    out["aurc"] = aurc(s, c)
    out["e_aurc"] = out["aurc"] - aurc(c.astype(np.float64), c)
    out["augrc"] = augrc(s, c)
    out["working_points"] = working_points(s, c)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cases", required=True)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    with open(args.cases) as f:
        cases = json.load(f)
    results = [
        metrics(np.asarray(case["scores"], dtype=np.float64), np.asarray(case["correct"], dtype=bool))
        for case in cases
    ]
    with open(args.out, "w") as f:
        json.dump(results, f)


if __name__ == "__main__":
    main()
