"""A second, deliberately plain implementation of the Exit Lens metric definitions
(docs/metrics.md) in numpy, written from the definitions and not from the TypeScript code.
Brute force everywhere: every policy is evaluated sample by sample at every candidate
threshold. It produces the expected values that the TypeScript tests compare against.

Conventions where the definitions are silent (the same choices the product documents):
- non-finite logits: prediction -1 (never equal to a label), confidence 0, margin 0, entropy 1,
  excluded from NLL; no policy exits at a non-finite output, whatever the threshold, and for
  patience its prediction equals no other;
- suggestions: lowest calibration mean cost meeting the target; ties to higher quality, then
  to the more conservative threshold (higher confidence/margin, lower entropy, higher t).
"""
import math

import numpy as np


def exit_stats(logits):
    """logits: [N, C] float array for one exit -> dict of per-sample arrays."""
    z = np.asarray(logits, dtype=np.float64)
    n, c = z.shape
    pred = np.full(n, -1, dtype=np.int64)
    conf = np.zeros(n)
    margin = np.zeros(n)
    ent = np.ones(n)
    logp = np.full((n, c), np.nan)
    finite = np.isfinite(z).all(axis=1)
    for i in range(n):
        if not finite[i]:
            continue
        m = z[i].max()
        e = np.exp(z[i] - m)
        # math.fsum is the correctly rounded sum: permuted logits give identical probabilities.
        p = e / math.fsum(e)
        pred[i] = int(np.argmax(p))  # numpy argmax returns the first maximum
        srt = np.sort(p)[::-1]
        conf[i] = srt[0]
        margin[i] = srt[0] - (srt[1] if c > 1 else 0.0)
        h = -math.fsum(q * math.log(q) for q in p if q > 0)
        # Normalised entropy lies in [0, 1] (docs/metrics.md); rounding may step past either end
        # by an ulp (a uniform row), and the entropy policy at τ = 1 must still fire there.
        ent[i] = min(1.0, max(0.0, h / math.log(c)))
        logp[i] = np.log(p)
    return dict(pred=pred, conf=conf, margin=margin, ent=ent, logp=logp, finite=finite)


def per_exit(stats, labels):
    E = len(stats)
    n = len(stats[0]["pred"])
    final = stats[E - 1]["pred"]
    out = []
    for k, s in enumerate(stats):
        row = dict(index=k, meanConfidence=float(s["conf"].mean()), meanEntropy=float(s["ent"].mean()),
                   agreement=float((s["pred"] == final).mean()), nonFiniteCount=int((~s["finite"]).sum()))
        if labels is not None:
            right = s["pred"] == labels
            row["accuracy"] = float(right.mean())
            ece = 0.0
            for b in range(15):
                lo, hi = b / 15, (b + 1) / 15
                inb = (s["conf"] > lo) & (s["conf"] <= hi)
                if inb.sum() == 0:
                    continue
                ece += inb.sum() / n * abs(right[inb].mean() - s["conf"][inb].mean())
            row["ece"] = float(ece)
            vals = [-s["logp"][i, labels[i]] for i in range(n) if s["finite"][i]]
            row["nll"] = float(np.mean(vals)) if vals else None
            row["destructiveRate"] = float((right & (final != labels)).mean())
        else:
            row["accuracy"] = row["ece"] = row["nll"] = row["destructiveRate"] = None
        out.append(row)
    return out


def overthinking(stats, labels, cost, baseline):
    E = len(stats)
    n = len(labels)
    hist = [0] * (E + 1)
    destructive = wasteful = defined = 0
    oracle_cost = 0.0
    trans = [dict(rr=0, rw=0, wr=0, ww=0) for _ in range(E - 1)]
    for i in range(n):
        right = [stats[k]["pred"][i] == labels[i] for k in range(E)]
        f = next((k for k in range(E) if right[k]), None)
        if f is None:
            hist[E] += 1
            oracle_cost += cost[E - 1]
        else:
            hist[f] += 1
            defined += 1
            oracle_cost += cost[f]
            if not right[E - 1]:
                destructive += 1
            elif f < E - 1:
                wasteful += 1
        for k in range(E - 1):
            key = ("r" if right[k] else "w") + ("r" if right[k + 1] else "w")
            trans[k][key] += 1
    mean_cost = oracle_cost / n
    return dict(oracleAccuracy=defined / n, destructiveRate=destructive / n, wastefulRate=wasteful / n,
                oracleSpeedup=baseline / mean_cost if mean_cost > 0 else None,
                firstCorrectHistogram=hist, transitions=trans)


def exit_index(stats, i, kind, t):
    E = len(stats)
    if kind == "patience":
        if t <= 0:
            return E - 1
        counter = 0
        for k in range(1, E):
            # A non-finite prediction (-1) equals no other, not even another -1.
            same = stats[k]["finite"][i] and stats[k]["pred"][i] == stats[k - 1]["pred"][i]
            counter = counter + 1 if same else 0
            if counter == t:
                return k
        return E - 1
    for k in range(E - 1):
        s = stats[k]
        if not s["finite"][i]:
            continue  # a non-finite output never fires, whatever its stand-in score
        if kind == "confidence" and s["conf"][i] >= t:
            return k
        if kind == "entropy" and s["ent"][i] <= t:
            return k
        if kind == "margin" and s["margin"][i] >= t:
            return k
        if kind == "per-exit" and s["conf"][i] >= t[k]:
            return k
    return E - 1


def outcome(stats, labels, kind, t, cost, baseline):
    E = len(stats)
    n = len(stats[0]["pred"])
    hist = [0] * E
    right = agree = 0
    total = 0.0
    for i in range(n):
        e = exit_index(stats, i, kind, t)
        hist[e] += 1
        p = stats[e]["pred"][i]
        if labels is not None and p == labels[i]:
            right += 1
        if p == stats[E - 1]["pred"][i]:
            agree += 1
        total += cost[e]
    mean = total / n
    return dict(accuracy=right / n if labels is not None else None, agreement=agree / n, meanCost=mean,
                speedup=baseline / mean if mean > 0 else None, exitHistogram=hist)


GRID = dict(confidence=[0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99], entropy=[0.05, 0.1, 0.2, 0.3, 0.5],
            margin=[0.1, 0.3, 0.5, 0.7, 0.9])
SCORE = dict(confidence="conf", entropy="ent", margin="margin")


def grid(stats, labels, cost, baseline):
    out = []
    for kind, ts in GRID.items():
        for t in ts:
            out.append(dict(kind=kind, threshold=t, **outcome(stats, labels, kind, t, cost, baseline)))
    for t in range(1, len(stats)):
        out.append(dict(kind="patience", threshold=t, **outcome(stats, labels, "patience", t, cost, baseline)))
    return out


def candidates(stats, kind):
    """Every distinct score value of a finite output at exits 0..E-2 is a candidate threshold; None = nothing fires."""
    vals = sorted({float(stats[k][SCORE[kind]][i]) for k in range(len(stats) - 1) for i in range(len(stats[0]["pred"])) if stats[k]["finite"][i]})
    # Conservative first: high confidence/margin, low entropy.
    ordered = vals if kind == "entropy" else vals[::-1]
    return [None] + ordered


def curve(stats, labels, kind, cost, baseline):
    """Brute force: the outcome at every candidate threshold, deduplicated to distinct outcomes."""
    pts = []
    for t in candidates(stats, kind):
        o = outcome(stats, labels, kind, math.inf if (t is None and kind != "entropy") else (-math.inf if t is None else t), cost, baseline)
        o["threshold"] = t
        pts.append(o)
    return pts


def frontier(points):
    """points: list of (cost, quality). Returns the non-dominated ones, sorted by cost."""
    out = []
    for i, (c, q) in enumerate(points):
        dominated = any((c2 <= c and q2 >= q and (c2 < c or q2 > q)) for j, (c2, q2) in enumerate(points) if j != i)
        if not dominated:
            out.append((c, q))
    return sorted(set(out))


def suggest(stats_cal, labels_cal, stats_test, labels_test, cost, baseline, drop):
    E = len(stats_cal)
    n = len(stats_cal[0]["pred"])
    if labels_cal is not None:
        target = float((stats_cal[E - 1]["pred"] == labels_cal).mean()) - drop
    else:
        target = 1 - drop
    out = {}
    for kind in ["confidence", "entropy", "margin", "patience"]:
        cands = candidates(stats_cal, kind) if kind != "patience" else [None] + list(range(E - 1, 0, -1))
        best = None
        for t in cands:
            tt = t
            if t is None:
                tt = 0 if kind == "patience" else (-math.inf if kind == "entropy" else math.inf)
            o = outcome(stats_cal, labels_cal, kind, tt, cost, baseline)
            q = o["accuracy"] if labels_cal is not None else o["agreement"]
            if q < target - 1e-12:
                continue
            key = (o["meanCost"], -q)
            if best is None or key < best[0]:
                best = (key, t, tt)
        _, t, tt = best
        out[kind] = dict(threshold=t, target=target,
                         calibration=outcome(stats_cal, labels_cal, kind, tt, cost, baseline),
                         test=outcome(stats_test, labels_test, kind, tt, cost, baseline))
    return out


# ---- Thresholds with a guarantee (docs/metrics.md "Thresholds with a guarantee")
def risk_grid(kind, E):
    """The fixed grid, most conservative first."""
    if kind == "patience":
        return list(range(E - 1, 0, -1))
    if kind == "entropy":
        return [j / 1000 for j in range(1001)]
    return [(1000 - j) / 1000 for j in range(1001)]


def risk_loss(loss, p, final, y):
    if loss == "consistency":
        return int(p != final)
    return int(p != y and final == y)


def binom_cdf(k, n, eps):
    from scipy.stats import binom
    return float(binom.cdf(k, n, eps))


def guarantee(stats_cal, labels_cal, stats_test, labels_test, kind, cost, baseline, eps, delta, loss):
    """Brute force: the losses of every calibration sample at every grid point, walked in order."""
    E = len(stats_cal)
    n = len(stats_cal[0]["pred"])
    lam, k_hat, p_hat, certified = None, 0, None, 0
    for t in risk_grid(kind, E):
        k = 0
        for i in range(n):
            e = exit_index(stats_cal, i, kind, t)
            y = labels_cal[i] if labels_cal is not None else -1
            k += risk_loss(loss, stats_cal[e]["pred"][i], stats_cal[E - 1]["pred"][i], y)
        p = binom_cdf(k, n, eps)
        if not p <= delta:
            break
        lam, k_hat, p_hat, certified = t, k, p, certified + 1
    m = len(stats_test[0]["pred"])
    tt = lam if lam is not None else (0 if kind == "patience" else (-math.inf if kind == "entropy" else math.inf))
    test = outcome(stats_test, labels_test, kind, tt, cost, baseline)
    if loss == "gap" and labels_test is None:
        test_risk = None
    else:
        lt = 0
        for i in range(m):
            e = exit_index(stats_test, i, kind, tt)
            y = labels_test[i] if labels_test is not None else -1
            lt += risk_loss(loss, stats_test[e]["pred"][i], stats_test[E - 1]["pred"][i], y)
        test_risk = lt / m
    test["risk"] = test_risk
    return dict(policy=kind, loss=loss, epsilon=eps, delta=delta, n=n, threshold=lam, pValue=p_hat,
                certifiedCount=certified, calibration=dict(losses=k_hat, risk=k_hat / n), test=test)


def settling(stats):
    """Settling exit s(x) = min{k : pred_j == pred_{E-1} for all j >= k}: histogram over k and mean."""
    E = len(stats)
    n = len(stats[0]["pred"])
    hist = [0] * E
    total = 0
    for i in range(n):
        final = stats[E - 1]["pred"][i]
        s = E - 1
        for k in range(E - 1, -1, -1):
            if all(stats[j]["pred"][i] == final for j in range(k, E)):
                s = k
        hist[s] += 1
        total += s
    return dict(settlingHistogram=hist, meanSettlingExit=total / n)


def token_positions(input_ids, attention_mask=None, labels=None):
    """docs/metrics.md "Token-level exits": (sequence, t, label) of every valid position, in order.
    Position t = 0..T-2 is valid when the mask is 1 at t and t+1; the label is input_ids[t+1], or
    labels[t+1] when a labels array is given (-100: skip)."""
    out = []
    n, T = input_ids.shape
    for s in range(n):
        for t in range(T - 1):
            if attention_mask is not None and not (attention_mask[s, t] == 1 and attention_mask[s, t + 1] == 1):
                continue
            y = int(labels[s, t + 1]) if labels is not None else int(input_ids[s, t + 1])
            if labels is not None and y == -100:
                continue
            out.append((s, t, y))
    return out


def clean(o):
    """numpy scalars to plain Python numbers, throughout, for json.dump."""
    if isinstance(o, dict):
        return {k: clean(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [clean(v) for v in o]
    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return float(o)
    return o
