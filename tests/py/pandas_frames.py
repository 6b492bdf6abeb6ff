"""Reads the CSV and the JSON Lines file of one batch run with pandas' plain readers and checks
that they give the same frame: the same columns, the same dtype for every column, the same
values (numbers to float rounding: the two files come from two runs, and libtorch's CPU
kernels are not bitwise invariant to how clips share a forward; `seconds` is timing and
dropped). Then runs the README's pandas recipe on both and prints what it found as JSON.

usage: pandas_frames.py RUN.csv RUN.jsonl
"""
import json
import sys

import pandas as pd
from pandas.testing import assert_frame_equal


def auroc(score, correct):
    """P(score of a right prediction > score of a wrong one), ties counted half: the README's
    sklearn-free AUROC."""
    ranks = score.rank()  # average ranks: ties count half
    n_right = int(correct.sum())
    n_wrong = len(correct) - n_right
    return (ranks[correct].sum() - n_right * (n_right + 1) / 2) / (n_right * n_wrong)


def recipe(df):
    """The README's recipe: video rows, ok rows, one score against `correct`."""
    videos = df[df.level == "video"]
    ok = videos[videos.status == "ok"]
    labelled = ok[ok.correct.notna()]
    correct = labelled.correct.astype(bool)
    by_outcome = labelled.groupby(correct).gradtrust.mean()
    return {
        "videos": len(videos),
        "ok": len(ok),
        "errors": int((videos.status != "ok").sum()),
        "accuracy": float(correct.mean()),
        "gradtrust_mean_by_correct": {str(k): float(v) for k, v in by_outcome.items()},
        "auroc_gradtrust": float(auroc(labelled.gradtrust, correct))
        if 0 < correct.sum() < len(correct)
        else None,
    }


def main():
    csv_path, jsonl_path = sys.argv[1:3]
    c = pd.read_csv(csv_path)
    j = pd.read_json(jsonl_path, lines=True)
    assert list(c.columns) == list(j.columns), (list(c.columns), list(j.columns))
    differ = {
        col: (str(c[col].dtype), str(j[col].dtype))
        for col in c.columns
        if c[col].dtype != j[col].dtype
    }
    assert not differ, f"dtypes differ (CSV, JSON Lines): {differ}"
    assert_frame_equal(
        c.drop(columns="seconds"),
        j.drop(columns="seconds"),
        check_exact=False,
        rtol=1e-4,
        atol=1e-6,
    )
    found = {"dtypes": {col: str(c[col].dtype) for col in c.columns}, "rows": len(c)}
    found["csv"] = recipe(c)
    found["jsonl"] = recipe(j)
    print(json.dumps(found))


if __name__ == "__main__":
    main()
