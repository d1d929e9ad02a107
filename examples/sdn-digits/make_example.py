"""Trains the example SDN on scikit-learn's digits and writes:
  model.onnx        one output per exit (exit_0 .. exit_3), dynamic batch, opset 13
  calib.npz         calibration split (np.savez):            x [N,1,8,8] float32, label int64
  test.npz          test split (np.savez_compressed):        x [N,1,8,8] float32, label int64
  test_logits.npz   exit logits of the test split from PyTorch: exit_logits [E,N,C], labels
Run with Debian's interpreter: /usr/bin/python3 examples/sdn-digits/make_example.py
(python3-torch, python3-onnx, python3-sklearn, python3-numpy)."""
import os

import numpy as np
import torch
from sklearn.datasets import load_digits

from model import SDNDigits, sdn_loss

HERE = os.path.dirname(os.path.abspath(__file__))
torch.manual_seed(0)
rng = np.random.default_rng(0)

digits = load_digits()
x = (digits.images / 16.0).astype(np.float32)[:, None, :, :]
y = digits.target.astype(np.int64)
order = rng.permutation(len(y))
train, calib, test = order[:1000], order[1000:1397], order[1397:]

model = SDNDigits()
opt = torch.optim.Adam(model.parameters(), lr=3e-3)
xt, yt = torch.from_numpy(x[train]), torch.from_numpy(y[train])
for epoch in range(12):
    model.train()
    perm = torch.randperm(len(yt))
    for i in range(0, len(yt), 64):
        idx = perm[i:i + 64]
        opt.zero_grad()
        loss = sdn_loss(model(xt[idx]), yt[idx])
        loss.backward()
        opt.step()
model.eval()
with torch.no_grad():
    outs = model(torch.from_numpy(x[test]))
for k, o in enumerate(outs):
    print(f"exit_{k}: test accuracy {(o.argmax(1).numpy() == y[test]).mean():.3f}")

torch.onnx.export(
    model, torch.zeros(1, 1, 8, 8), os.path.join(HERE, "model.onnx"),
    input_names=["x"], output_names=[f"exit_{k}" for k in range(4)],
    dynamic_axes={n: {0: "batch"} for n in ["x"] + [f"exit_{k}" for k in range(4)]},
    opset_version=13,
)
np.savez(os.path.join(HERE, "calib.npz"), x=x[calib], label=y[calib])
np.savez_compressed(os.path.join(HERE, "test.npz"), x=x[test], label=y[test])
np.savez_compressed(os.path.join(HERE, "test_logits.npz"),
                    exit_logits=np.stack([o.numpy() for o in outs]), labels=y[test])
print("wrote", HERE)
