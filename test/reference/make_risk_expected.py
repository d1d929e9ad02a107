"""Expected guarantees (docs/metrics.md "Thresholds with a guarantee") for the logits fixtures,
from the brute-force numpy/scipy implementation in reference.py. Run with Debian's python3
(python3-numpy, python3-scipy): python3 test/reference/make_risk_expected.py
The output is committed; the tests never run Python."""
import json
import os

import numpy as np

import reference as ref

FIX = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures")


def load(name):
    d = np.load(os.path.join(FIX, name))
    return d["exit_logits"], (d["labels"] if "labels" in d else None)


def case(samples, calib, cost, baseline, eps, delta, loss):
    z, y = load(samples)
    zc, yc = load(calib)
    st = [ref.exit_stats(x) for x in z]
    sc = [ref.exit_stats(x) for x in zc]
    return dict(samples=samples, calib=calib, cost=cost, epsilon=eps, delta=delta, loss=loss,
                guarantees=[ref.guarantee(sc, yc, st, y, kind, cost, baseline, eps, delta, loss)
                            for kind in ["confidence", "entropy", "margin", "patience"]])


cases = [
    case("logits_random.npz", "logits_random_calib.npz", [2.0, 4.0, 6.0, 8.0, 10.0], 10.0, 0.05, 0.1, "gap"),
    case("logits_random.npz", "logits_random_calib.npz", [2.0, 4.0, 6.0, 8.0, 10.0], 10.0, 0.2, 0.05, "consistency"),
    # Every grid point certified (a risk no threshold can exceed)...
    case("logits_random.npz", "logits_random_calib.npz", [2.0, 4.0, 6.0, 8.0, 10.0], 10.0, 0.9, 0.1, "gap"),
    # ...and none (even the full model's zero losses cannot be told from ε at n = 300).
    case("logits_random.npz", "logits_random_calib.npz", [2.0, 4.0, 6.0, 8.0, 10.0], 10.0, 0.005, 0.1, "gap"),
    case("logits_unlabelled.npz", "logits_unlabelled_calib.npz", [1.0, 2.0, 3.0], 3.0, 0.1, 0.1, "consistency"),
    # Ties: integer logits, equal scores across samples and exits.
    case("logits_ties.npz", "logits_ties.npz", [1.0, 3.0, 6.0, 10.0], 10.0, 0.25, 0.2, "gap"),
    case("logits_ties.npz", "logits_ties.npz", [1.0, 3.0, 6.0, 10.0], 10.0, 0.3, 0.2, "consistency"),
]


with open(os.path.join(FIX, "risk_expected.json"), "w") as f:
    json.dump(ref.clean(cases), f, indent=1)
print("wrote risk_expected.json")
