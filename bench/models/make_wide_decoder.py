"""A decoder with a 50,000-token output vocabulary, for the token-level memory test and
benchmark (docs/benchmarks.md): an embedding of 1,000 ids, three causal attention blocks, an
exit after each through one shared LM head of 50,000 outputs. Untrained (seeded): the memory and
speed of a large vocabulary do not depend on the weights. Run with Debian's interpreter:
    /usr/bin/python3 bench/models/make_wide_decoder.py
"""
import os

import numpy as np
import torch
import torch.nn as nn

HERE = os.path.dirname(os.path.abspath(__file__))
V_IN, V_OUT, T, D, E = 1000, 50_000, 64, 8, 3


class WideDecoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(V_IN, D)
        self.qkv = nn.ModuleList([nn.Linear(D, 3 * D) for _ in range(E)])
        self.lm_head = nn.Linear(D, V_OUT)

    def forward(self, input_ids, attention_mask):
        h = self.emb(input_ids)
        n = input_ids.shape[1]
        later = torch.triu(torch.ones(n, n, dtype=torch.bool), 1)
        pad = (attention_mask == 0).unsqueeze(1)
        ar = torch.arange(n)
        blocked = later.unsqueeze(0) | (pad & (ar.unsqueeze(0) != ar.unsqueeze(1)).unsqueeze(0))
        outs = []
        for qkv in self.qkv:
            q, k, v = qkv(h).chunk(3, dim=-1)
            a = torch.softmax(((q @ k.transpose(1, 2)) / D ** 0.5).masked_fill(blocked, -1e4), dim=-1) @ v
            h = h + a
            outs.append(self.lm_head(h))
        return tuple(outs)


torch.manual_seed(0)
m = WideDecoder().eval()
ids = torch.randint(0, V_IN, (2, T))
mask = torch.ones(2, T, dtype=torch.long)
torch.onnx.export(m, (ids, mask), os.path.join(HERE, "decoder_wide.onnx"), input_names=["input_ids", "attention_mask"],
                  output_names=[f"exit_{k}" for k in range(E)],
                  dynamic_axes={"input_ids": {0: "batch"}, "attention_mask": {0: "batch"},
                                **{f"exit_{k}": {0: "batch"} for k in range(E)}}, opset_version=14)
print("wrote decoder_wide.onnx", os.path.getsize(os.path.join(HERE, "decoder_wide.onnx")))
