#!/usr/bin/env python3
"""Independent reference implementation of the forward-cost trust scores (spec/scores.md).

Every function works on ONE sample (a batch of one), in float32, on torch tensors:
  z  logits                 [N]   (a [1, N] row is accepted)
  h  penultimate features   [D]   (the input of the final classifier layer; a [1, D] row is accepted)
  W  classifier weight      [N, D] (an S3D conv weight [N, D, 1, 1, 1] is accepted)
  b  classifier bias        [N] or None

Orientation: higher = more trust, for every score.

  gradtrust       max_c e_c / mean_c e_c, e_c = unbiased Var_d(G[c, d]^2),
                  G = dL/dW by autograd, L = mean_c (z_c - 1/N)^2.
                  None where Var_d(h_d^2) = 0 (the reference divides 0 by 0).
  softmax         max_c p_c
  entropy         sum_c p_c log p_c (negative entropy)
  margin          p_(1) - p_(2)
  log_likelihood  z_yhat, the top logit (the reference applies NLL to raw logits)
  energy          logsumexp(z)
  neg_brier       -mean_c (p_c - onehot(yhat)_c)^2
  grad_norm       -||dL/dW||_F by autograd, L = (1/N) sum_c p_c (log p_c - 1/N)
                  (the reference's KLDivLoss(input=1/N, target=p), mean reduction)
  doctor          -D_alpha = -(1 - g) / g, g = sum_c p_c^2 (Granese et al., NeurIPS 2021)

The autograd paths differentiate at exactly the given z: dL/dz is taken with z as the leaf,
then chained into W through z_lin = W h + b with torch.autograd.grad (so the gradient is a
real autograd gradient w.r.t. W, evaluated at the logits the model produced, not at the
slightly different float result of W h + b).

CLI:
  scores_reference.py --logits L.npy --features F.npy --weight W.npy [--bias B.npy] --out scores.json
L [B, N], F [B, D], W [N, D] (or [N, D, 1, 1, 1]), B [N]. Writes JSON:
  {"samples": [{<score>: float|null, ..., "gradtrust_closed_form": float|null, "top5": [int]*5}, ...],
   "video": {<score>: float|null, ..., "gradtrust_closed_form": ..., "top5": [...]},
   "video_top5_mean_logits": [int]*5, "video_top5_sum_softmax": [int]*5}
where "video" scores z_video = mean_k z_k, h_video = mean_k h_k over all B rows (the clips of
one video). Nothing is printed on stdout.
"""

import argparse
import json
import math
import os
import sys

import torch
import torch.nn.functional as F

SCORE_KEYS = (
    "gradtrust",
    "softmax",
    "entropy",
    "margin",
    "log_likelihood",
    "energy",
    "neg_brier",
    "grad_norm",
    "doctor",
)


def _f32(t):
    return torch.as_tensor(t).detach().to(torch.float32)


def _vec(t):
    return _f32(t).reshape(-1)


def _mat(W, n):
    return _f32(W).reshape(n, -1)


def _finite_or_none(x):
    x = float(x)
    return x if math.isfinite(x) else None


def _weight_grad(z, h, W, b, loss_fn):
    """dL/dW (real autograd) for L = loss_fn(z), evaluated at exactly the given z.

    Step 1: dL/dz with z as a leaf. Step 2: chain through z_lin = W h + b into W.
    """
    z_leaf = z.clone().requires_grad_(True)
    (gz,) = torch.autograd.grad(loss_fn(z_leaf), z_leaf)
    W_leaf = W.clone().requires_grad_(True)
    z_lin = W_leaf @ h
    if b is not None:
        z_lin = z_lin + b
    (gW,) = torch.autograd.grad(z_lin, W_leaf, grad_outputs=gz)
    return gW


def gradtrust_loss(z):
    """L = mean_c (z_c - 1/N)^2: MSE against the uniform target."""
    n = z.shape[-1]
    return ((z - 1.0 / n) ** 2).mean()


def grad_norm_loss(z):
    """L = (1/N) sum_c p_c (log p_c - 1/N) = KLDivLoss(input=1/N, target=softmax(z), 'mean').

    log p via log_softmax so that a p that underflows to 0 contributes 0 instead of NaN.
    In float64: the top class's dL/dz_c = p_c (log p_c - sum p log p) / N cancels for a
    confident prediction, and float32 loses every digit of it once 1 - p_top nears 1e-7.
    """
    n = z.shape[-1]
    z = z.double()
    p = torch.softmax(z, dim=-1)
    logp = torch.log_softmax(z, dim=-1)
    return (p * (logp - 1.0 / n)).mean()


def gradtrust_from_grad(G):
    """max_c e_c / mean_c e_c with e_c = unbiased Var over the inputs of row c of G^2.

    G is [N, D] (or [N, D, 1, 1, 1]); None where the ratio is 0/0 or not finite.
    """
    G = _f32(G)
    G = G.reshape(G.shape[0], -1)
    e = torch.var(G * G, dim=1, correction=1)
    mean_e = e.mean()
    if not bool(mean_e > 0):
        return None
    return _finite_or_none(e.max() / mean_e)


def gradtrust_closed_form(z):
    """max_c (z_c - 1/N)^4 / mean_c (z_c - 1/N)^4 (valid when Var_d(h_d^2) > 0).

    None where every z_c = 1/N (0/0).
    """
    z = _vec(z)
    n = z.shape[0]
    q = (z - 1.0 / n) ** 4
    mean_q = q.mean()
    if not bool(mean_q > 0):
        return None
    return _finite_or_none(q.max() / mean_q)


def h_degenerate(h):
    """True where Var_d(h_d^2) = 0, i.e. GradTrust is 0/0 in the reference."""
    h = _vec(h)
    return not bool(torch.var(h * h, correction=1) > 0)


def gradtrust_autograd(z, h, W, b=None):
    z, h = _vec(z), _vec(h)
    W = _mat(W, z.shape[0])
    b = None if b is None else _vec(b)
    if h_degenerate(h):
        return None
    return gradtrust_from_grad(_weight_grad(z, h, W, b, gradtrust_loss))


def fast_scores(z, h, W, b=None):
    """The forward-cost scores of one sample, as a dict of Python floats (None = missing)."""
    z, h = _vec(z), _vec(h)
    n = z.shape[0]
    W = _mat(W, n)
    if W.shape[1] != h.shape[0]:
        raise ValueError(f"weight {tuple(W.shape)} does not match features [{h.shape[0]}]")
    b = None if b is None else _vec(b)

    with torch.no_grad():
        # Probabilities in float64 from the float32 logits: 1 - p_top of a confident
        # prediction is ~1e-4, below what float32 probabilities resolve (neg_brier, DOCTOR).
        p = torch.softmax(z.double(), dim=0)
        logp = torch.log_softmax(z.double(), dim=0)
        top2 = torch.topk(p, 2).values
        yhat = int(torch.argmax(z))
        onehot = torch.zeros_like(p)
        onehot[yhat] = 1.0
        out = {
            "softmax": float(p.max()),
            "entropy": float((p * logp).sum()),
            "margin": float(top2[0] - top2[1]),
            "log_likelihood": float(z[yhat]),
            "energy": float(torch.logsumexp(z, dim=0)),
            "neg_brier": float(-((p - onehot) ** 2).mean()),
        }
        g = float((p**2).sum())
        out["doctor"] = -(1.0 - g) / g
    out["gradtrust"] = gradtrust_autograd(z, h, W, b)
    gW = _weight_grad(z, h, W, b, grad_norm_loss)
    # Frobenius norm as the norm of the row norms: still float32, but a single flat float32
    # reduction over all N*D entries loses ~3e-5 relative, too close to the 1e-4 tolerance.
    out["grad_norm"] = float(-torch.linalg.vector_norm(torch.linalg.vector_norm(gW, dim=1)))
    return {k: out[k] for k in SCORE_KEYS}


def top5(v):
    return [int(i) for i in torch.topk(_vec(v), 5).indices]


def sample_entry(z, h, W, b=None):
    """fast_scores plus the closed-form GradTrust and the top-5 class indices."""
    d = fast_scores(z, h, W, b)
    d["gradtrust_closed_form"] = None if h_degenerate(h) else gradtrust_closed_form(z)
    d["top5"] = top5(z)
    return d


def video_block(Z, H, W, b=None):
    """Video-level entries from the clip rows Z [K, N], H [K, D]."""
    Z, H = _f32(Z), _f32(H)
    z_video = Z.mean(dim=0)
    h_video = H.mean(dim=0)
    sum_softmax = torch.softmax(Z, dim=1).sum(dim=0)
    return {
        "video": sample_entry(z_video, h_video, W, b),
        "video_top5_mean_logits": top5(z_video),
        "video_top5_sum_softmax": top5(sum_softmax),
    }


def score_batch(Z, H, W, b=None):
    """The CLI's JSON object for clip rows Z [B, N], H [B, D]."""
    Z, H = _f32(Z), _f32(H)
    if Z.dim() != 2 or H.dim() != 2 or Z.shape[0] != H.shape[0]:
        raise ValueError(f"logits {tuple(Z.shape)} and features {tuple(H.shape)} must be [B,N], [B,D]")
    out = {"samples": [sample_entry(Z[i], H[i], W, b) for i in range(Z.shape[0])]}
    out.update(video_block(Z, H, W, b))
    return out


def write_json(obj, path):
    tmp = f"{path}.tmp"
    with open(tmp, "w") as f:
        json.dump(obj, f, indent=1, allow_nan=False)
        f.write("\n")
    os.replace(tmp, path)


def _load_npy(path):
    import numpy as np

    return torch.from_numpy(np.load(path)).to(torch.float32)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--logits", required=True, help="[B, N] float logits .npy")
    ap.add_argument("--features", required=True, help="[B, D] penultimate features .npy")
    ap.add_argument("--weight", required=True, help="[N, D] classifier weight .npy")
    ap.add_argument("--bias", help="[N] classifier bias .npy (omit when the head has none)")
    ap.add_argument("--out", required=True, help="output JSON path")
    a = ap.parse_args(argv)
    torch.set_num_threads(1)
    Z, H, W = _load_npy(a.logits), _load_npy(a.features), _load_npy(a.weight)
    b = _load_npy(a.bias) if a.bias else None
    write_json(score_batch(Z, H, W, b), a.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
