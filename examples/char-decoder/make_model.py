"""Trains the example character-level decoder (issue #18, token-level exits) and writes:
  model.onnx        decoder-only transformer, 4 layers, an exit after every layer through one
                    shared final LayerNorm + LM head; inputs input_ids, attention_mask (int64
                    [batch, seq]); outputs exit_0 .. exit_3 (float32 [batch, seq, vocab] logits);
                    dynamic batch and seq; opset 13
  vocab.json        the token strings, index = token id (id 0 = "<pad>")
  test.npz          64 sequences from the second half of MPL-2.0 (held out): input_ids,
                    attention_mask [64, 64] int64
  calib.npz         64 sequences from the first half of MPL-2.0, the same arrays
  test_labels.npz   test.npz plus labels [64, 64] int64: input_ids with -100 at whitespace and padding
  expected.json     per-exit figures of test.npz and test_labels.npz, from the PyTorch logits, by a
                    numpy float64 implementation of the token-level definitions (see README.md)

Training text: Debian's /usr/share/common-licenses (GPL-3, GPL-2, LGPL-2.1, LGPL-3, Apache-2.0,
GFDL-1.3, MPL-1.1, Artistic, BSD, CC0-1.0); MPL-2.0 is held out for the sample sets.
Run with Debian's interpreter (python3-torch, python3-onnx, python3-numpy), from anywhere:
  /usr/bin/python3 examples/char-decoder/make_model.py
It trains 1,200 steps on one CPU thread (7 minutes on a busy two-core machine); the seed is fixed.
"""
import json
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
LICENSES = "/usr/share/common-licenses"
TRAIN_FILES = ["GPL-3", "GPL-2", "LGPL-2.1", "LGPL-3", "Apache-2.0", "GFDL-1.3", "MPL-1.1", "Artistic", "BSD", "CC0-1.0"]
HELD_OUT = "MPL-2.0"  # first half: calib.npz, second half: test.npz

SEQ = 64
D_MODEL, HEADS, LAYERS, FF = 64, 4, 4, 128
STEPS, BATCH, LR = int(os.environ.get("CHAR_DECODER_STEPS", "1200")), 16, 3e-3
N_SAMPLES = 64
PAD = 0

torch.manual_seed(0)
# One thread: on a busy two-core machine, two OpenMP threads spin against each other and a
# step takes several times longer; one thread also keeps the run reproducible.
torch.set_num_threads(1)
rng = np.random.default_rng(0)


def read(name):
    with open(os.path.join(LICENSES, name), encoding="utf-8") as f:
        # Form feeds (LGPL-2.1) and tabs (Artistic) would be two rare tokens of no interest.
        return f.read().replace("\x0c", "").replace("\t", "    ")


train_text = "\n".join(read(n) for n in TRAIN_FILES)
held_out = read(HELD_OUT)
calib_text, test_text = held_out[: len(held_out) // 2], held_out[len(held_out) // 2 :]
chars = sorted(set(train_text) | set(test_text) | set(calib_text))
vocab = ["<pad>"] + chars  # id 0 is padding
stoi = {c: i + 1 for i, c in enumerate(chars)}
V = len(vocab)


def encode(text):
    return np.array([stoi[c] for c in text], dtype=np.int64)


# ---------------------------------------------------------------------------------------------
# The model


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.ln1 = nn.LayerNorm(D_MODEL)
        self.qkv = nn.Linear(D_MODEL, 3 * D_MODEL)
        self.proj = nn.Linear(D_MODEL, D_MODEL)
        self.ln2 = nn.LayerNorm(D_MODEL)
        self.ff = nn.Sequential(nn.Linear(D_MODEL, FF), nn.GELU(), nn.Linear(FF, D_MODEL))

    def forward(self, x, allowed):
        b, t = x.shape[0], x.shape[1]
        q, k, v = self.qkv(self.ln1(x)).split(D_MODEL, dim=2)
        q = q.reshape(b, t, HEADS, D_MODEL // HEADS).transpose(1, 2)
        k = k.reshape(b, t, HEADS, D_MODEL // HEADS).transpose(1, 2)
        v = v.reshape(b, t, HEADS, D_MODEL // HEADS).transpose(1, 2)
        att = (q @ k.transpose(2, 3)) / math.sqrt(D_MODEL // HEADS)
        att = att.masked_fill(~allowed, -1e9).softmax(dim=-1)
        y = (att @ v).transpose(1, 2).reshape(b, t, D_MODEL)
        x = x + self.proj(y)
        return x + self.ff(self.ln2(x))


class CharDecoder(nn.Module):
    """GPT-style pre-LayerNorm decoder; every block's output goes through the one final
    LayerNorm and the LM head (tied to the token embedding), so exit k = logits after block k."""

    def __init__(self):
        super().__init__()
        self.tok = nn.Embedding(V, D_MODEL)
        self.pos = nn.Embedding(SEQ, D_MODEL)
        self.blocks = nn.ModuleList(Block() for _ in range(LAYERS))
        self.ln_f = nn.LayerNorm(D_MODEL)
        self.bias = nn.Parameter(torch.zeros(V))
        for m in self.modules():
            if isinstance(m, (nn.Linear, nn.Embedding)):
                nn.init.normal_(m.weight, std=0.02)
                if isinstance(m, nn.Linear):
                    nn.init.zeros_(m.bias)

    def head(self, x):
        return F.linear(self.ln_f(x), self.tok.weight, self.bias)

    def forward(self, input_ids, attention_mask):
        valid = attention_mask > 0  # [B, T]
        # Positions count real tokens only (as Hugging Face models do from the mask), so a
        # left-padded sequence sees the positions an unpadded one does.
        pos = (torch.cumsum(attention_mask, dim=1) - 1).clamp(min=0)
        # Query i may attend to key j when j <= i and key j is not padding; every query may
        # attend to itself, so that a padding position's row is never empty (no NaN).
        idx = torch.cumsum(torch.ones_like(input_ids[0]), dim=0)  # 1..T, follows the dynamic T
        causal = idx[None, :] <= idx[:, None]  # [T, T]
        self_only = idx[None, :] == idx[:, None]
        allowed = (causal[None, :, :] & valid[:, None, :]) | self_only[None, :, :]  # [B, T, T]
        allowed = allowed[:, None, :, :]  # [B, 1, T, T]: the same for every head
        x = self.tok(input_ids) + self.pos(pos)
        exits = []
        for block in self.blocks:
            x = block(x, allowed)
            exits.append(self.head(x))
        return tuple(exits)


def exit_losses(outs, ids, mask):
    """Per-exit next-token cross-entropy over positions whose token and next token are real."""
    target = ids[:, 1:].masked_fill(~((mask[:, :-1] > 0) & (mask[:, 1:] > 0)), -100)
    return [F.cross_entropy(o[:, :-1].reshape(-1, V), target.reshape(-1), ignore_index=-100) for o in outs]


# ---------------------------------------------------------------------------------------------
# Training

train_ids = torch.from_numpy(encode(train_text))


def train_batch():
    starts = torch.randint(0, len(train_ids) - SEQ, (BATCH,))
    ids = torch.stack([train_ids[s : s + SEQ] for s in starts])
    mask = torch.ones_like(ids)
    # A quarter of the rows padded, right or left, so that the mask is learnt to matter.
    for r in range(BATCH // 4):
        keep = int(torch.randint(8, SEQ, ()))
        if r % 2 == 0:
            ids[r, keep:], mask[r, keep:] = PAD, 0
        else:
            ids[r] = torch.cat([torch.full((SEQ - keep,), PAD), ids[r, :keep]])
            mask[r, : SEQ - keep] = 0
    return ids, mask


model = CharDecoder()
params = sum(p.numel() for p in model.parameters())
print(f"vocab {V}, parameters {params:,}, training text {len(train_text):,} chars")
opt = torch.optim.AdamW(model.parameters(), lr=LR, weight_decay=0.01)
sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=LR, total_steps=STEPS, pct_start=0.1)
t0 = time.time()
model.train()
for step in range(STEPS):
    ids, mask = train_batch()
    losses = exit_losses(model(ids, mask), ids, mask)
    opt.zero_grad()
    sum(losses).backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    opt.step()
    sched.step()
    if step % 250 == 0 or step == STEPS - 1:
        print(f"step {step:5d}  " + "  ".join(f"{l.item():.3f}" for l in losses) + f"  ({time.time() - t0:.0f} s)")
model.eval()

# ---------------------------------------------------------------------------------------------
# Sample sets


def sample_set(text, n=N_SAMPLES):
    """n evenly spaced, non-overlapping windows of SEQ characters; rows 1, 5, 9 … 29 right-padded (shorter
    sequences), rows 3 and 7 left-padded, the rest full."""
    codes = encode(text)
    stride = len(codes) // n
    assert stride >= SEQ
    ids = np.stack([codes[i * stride : i * stride + SEQ] for i in range(n)])
    mask = np.ones_like(ids)
    for r in range(1, 30, 4):  # right padding
        keep = int(rng.integers(12, SEQ - 4))
        ids[r, keep:], mask[r, keep:] = PAD, 0
    for r in (3, 7):  # left padding
        keep = int(rng.integers(24, SEQ - 8))
        ids[r] = np.concatenate([np.full(SEQ - keep, PAD), ids[r, :keep]])
        mask[r, : SEQ - keep] = 0
    return ids.astype(np.int64), mask.astype(np.int64)


test_ids, test_mask = sample_set(test_text)
calib_ids, calib_mask = sample_set(calib_text)
# labels: the Hugging Face-style unshifted copy of input_ids, -100 where not to score: padding
# and whitespace targets. The label of position t is labels[n, t + 1].
space_ids = [stoi[c] for c in chars if c.isspace()]
test_labels = np.where((test_mask == 0) | np.isin(test_ids, space_ids), -100, test_ids).astype(np.int64)

np.savez_compressed(os.path.join(HERE, "test.npz"), input_ids=test_ids, attention_mask=test_mask)
np.savez_compressed(os.path.join(HERE, "calib.npz"), input_ids=calib_ids, attention_mask=calib_mask)
np.savez_compressed(
    os.path.join(HERE, "test_labels.npz"), input_ids=test_ids, attention_mask=test_mask, labels=test_labels
)
with open(os.path.join(HERE, "vocab.json"), "w", encoding="utf-8") as f:
    json.dump(vocab, f, ensure_ascii=False, indent=0)
    f.write("\n")

# ---------------------------------------------------------------------------------------------
# Export and checks

names = [f"exit_{k}" for k in range(LAYERS)]
onnx_path = os.path.join(HERE, "model.onnx")
example = (torch.from_numpy(test_ids[:2]), torch.from_numpy(test_mask[:2]))
torch.onnx.export(
    model,
    example,
    onnx_path,
    input_names=["input_ids", "attention_mask"],
    output_names=names,
    dynamic_axes={n: {0: "batch", 1: "seq"} for n in ["input_ids", "attention_mask"] + names},
    opset_version=13,
    do_constant_folding=True,
)
import onnx  # noqa: E402

onnx.checker.check_model(onnx.load(onnx_path), full_check=True)
print("onnx.checker: ok")


def torch_logits(ids, mask):
    with torch.no_grad():
        return [o.numpy().astype(np.float64) for o in model(torch.from_numpy(ids), torch.from_numpy(mask))]


test_out = torch_logits(test_ids, test_mask)

# The mask matters, and padding does not change a sequence's predictions: a left-padded row
# gives the logits of the same text unpadded (up to float rounding).
r = 3
pad = int((test_mask[r] == 0).sum())
alone = torch_logits(test_ids[r : r + 1, pad:], test_mask[r : r + 1, pad:])
padding_gap = max(float(np.abs(alone[k][0] - test_out[k][r, pad:]).max()) for k in range(LAYERS))
print(f"left padding: largest logit difference to the unpadded sequence {padding_gap:.2e}")
assert padding_gap < 1e-3

try:
    import onnxruntime as ort  # not in Debian; checked when present

    sess = ort.InferenceSession(onnx_path, providers=["CPUExecutionProvider"])
    for ids, mask in [(test_ids, test_mask), (calib_ids[:5, :37], calib_mask[:5, :37])]:
        got = sess.run(names, {"input_ids": ids, "attention_mask": mask})
        want = torch_logits(ids, mask)
        gap = max(float(np.abs(g - w).max()) for g, w in zip(got, want))
        print(f"onnxruntime {ids.shape}: largest logit difference to PyTorch {gap:.2e}")
        assert gap < 1e-3
except ImportError:
    print("onnxruntime is not installed in this interpreter: the export was not run (see README.md)")
    # The exported logits for a run elsewhere (test/unit or node): not part of the example.
    check_dir = os.environ.get("CHAR_DECODER_CHECK_DIR")
    if check_dir:
        os.makedirs(check_dir, exist_ok=True)
        c_ids, c_mask = calib_ids[:5, :37].copy(), calib_mask[:5, :37].copy()
        np.save(os.path.join(check_dir, "ids.npy"), c_ids)
        np.save(os.path.join(check_dir, "mask.npy"), c_mask)
        for k, o in enumerate(torch_logits(c_ids, c_mask)):
            np.save(os.path.join(check_dir, f"exit_{k}.npy"), o.astype(np.float32))

# ---------------------------------------------------------------------------------------------
# Expected figures: a numpy float64 implementation of the token-level definitions, separate from
# the TypeScript, with the classifier metrics of test/reference/reference.py.

sys.path.insert(0, os.path.join(HERE, "..", "..", "test", "reference"))
from reference import exit_stats, per_exit  # noqa: E402


def token_positions(ids, mask, labels=None):
    """(n, t) of every scored position and its label, sequence by sequence, t ascending:
    t = 0 .. T-2 with mask 1 at t and t+1; label input_ids[n, t+1], or labels[n, t+1] when a
    labels array is given (then positions labelled -100 are skipped)."""
    rows, cols, out = [], [], []
    n_seq, T = ids.shape
    for n in range(n_seq):
        for t in range(T - 1):
            if mask[n, t] != 1 or mask[n, t + 1] != 1:
                continue
            y = ids[n, t + 1] if labels is None else labels[n, t + 1]
            if y == -100:
                continue
            rows.append(n)
            cols.append(t)
            out.append(int(y))
    return np.array(rows), np.array(cols), np.array(out, dtype=np.int64)


def figures(logits, ids, mask, labels=None):
    rows, cols, y = token_positions(ids, mask, labels)
    stats = [exit_stats(z[rows, cols]) for z in logits]  # [positions, vocab] per exit
    E = len(stats)
    table = per_exit(stats, y)
    settling = [0] * E
    for i in range(len(y)):
        s = E - 1
        while s > 0 and stats[s - 1]["pred"][i] == stats[E - 1]["pred"][i]:
            s -= 1
        settling[s] += 1
    keep = ["index", "accuracy", "meanConfidence", "agreement", "meanEntropy", "ece", "nll"]
    return dict(
        N=int(len(y)),
        sequences=int(ids.shape[0]),
        T=int(ids.shape[1]),
        exits=[{k: row[k] for k in keep} for row in table],
        settlingHistogram=settling,
        meanSettlingExit=sum(k * c for k, c in enumerate(settling)) / len(y),
    )


expected = {
    "about": "Per-exit figures of model.onnx on the token positions of test.npz and test_labels.npz, from "
    "PyTorch's float32 logits, computed in numpy float64 by make_model.py (token positions) and "
    "test/reference/reference.py (classifier metrics). ONNX Runtime's logits differ from PyTorch's by "
    "float rounding: compare with a tolerance.",
    "test.npz": figures(test_out, test_ids, test_mask),
    "test_labels.npz": figures(test_out, test_ids, test_mask, test_labels),
}
with open(os.path.join(HERE, "expected.json"), "w", encoding="utf-8") as f:
    json.dump(expected, f, indent=2)
    f.write("\n")
for name in ["test.npz", "test_labels.npz"]:
    e = expected[name]
    print(f"{name}: {e['N']} positions, settling {e['settlingHistogram']}")
    for row in e["exits"]:
        print(
            f"  exit_{row['index']}: accuracy {row['accuracy']:.3f}  confidence {row['meanConfidence']:.3f}"
            f"  agreement {row['agreement']:.3f}"
        )
print(f"model.onnx {os.path.getsize(onnx_path):,} bytes; wrote {HERE}")
