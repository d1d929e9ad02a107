"""Makes the benchmark's two multi-exit models (random, seeded weights; nothing is trained:
the benchmark measures speed and memory, not accuracy).

    cnn.onnx          a ResNet-like CNN for 3x32x32 inputs (a CIFAR ResNet-14: a 3x3 stem,
                      three stages of two basic blocks at 16/32/64 channels), four exits, each
                      a global-average-pooled linear head: after stage 1, after stage 2, after
                      the first block of stage 3, and the final one. About 28 MMACs per sample
                      at the final exit.
    transformer.onnx  a pre-norm transformer encoder on token ids [N, 64] (vocabulary 1000,
                      width 128, 4 heads, feed-forward 256), four layers with an exit after each
                      (mean-pooled, LayerNorm, linear). About 38 MMACs per sample at the final exit.

Both have 10 classes and a dynamic batch dimension. Run with Debian's interpreter
(python3-torch, python3-onnx):
    /usr/bin/python3 bench/models/make_models.py
The outputs are committed; the benchmark never runs Python.
"""
import os

import onnx
import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
CLASSES = 10


class BasicBlock(nn.Module):
    """He et al. 2016, "Deep Residual Learning for Image Recognition", CIFAR variant (option B shortcut)."""

    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.short = None
        if stride != 1 or cin != cout:
            self.short = nn.Sequential(nn.Conv2d(cin, cout, 1, stride=stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return F.relu(y + (x if self.short is None else self.short(x)))


class ExitHead(nn.Module):
    """A Shallow-Deep-Network-style internal classifier: global average pool, then linear."""

    def __init__(self, channels):
        super().__init__()
        self.fc = nn.Linear(channels, CLASSES)

    def forward(self, x):
        return self.fc(x.mean(dim=(2, 3)))


class MultiExitResNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16), nn.ReLU())
        self.stage1 = nn.Sequential(BasicBlock(16, 16, 1), BasicBlock(16, 16, 1))
        self.exit0 = ExitHead(16)
        self.stage2 = nn.Sequential(BasicBlock(16, 32, 2), BasicBlock(32, 32, 1))
        self.exit1 = ExitHead(32)
        self.stage3a = BasicBlock(32, 64, 2)
        self.exit2 = ExitHead(64)
        self.stage3b = BasicBlock(64, 64, 1)
        self.exit3 = ExitHead(64)

    def forward(self, x):
        x = self.stage1(self.stem(x))
        e0 = self.exit0(x)
        x = self.stage2(x)
        e1 = self.exit1(x)
        x = self.stage3a(x)
        e2 = self.exit2(x)
        x = self.stage3b(x)
        return e0, e1, e2, self.exit3(x)


class EncoderLayer(nn.Module):
    """Pre-norm transformer encoder layer (Vaswani et al. 2017; pre-norm as in Xiong et al. 2020)."""

    def __init__(self, d, heads, ff):
        super().__init__()
        self.heads, self.dh = heads, d // heads
        self.norm1 = nn.LayerNorm(d)
        self.qkv = nn.Linear(d, 3 * d)
        self.out = nn.Linear(d, d)
        self.norm2 = nn.LayerNorm(d)
        self.ff1 = nn.Linear(d, ff)
        self.ff2 = nn.Linear(ff, d)

    def forward(self, x):
        n, L, d = x.shape
        q, k, v = self.qkv(self.norm1(x)).view(n, L, 3, self.heads, self.dh).permute(2, 0, 3, 1, 4).unbind(0)
        att = torch.softmax(torch.matmul(q, k.transpose(2, 3)) * (self.dh ** -0.5), dim=-1)
        y = torch.matmul(att, v).transpose(1, 2).reshape(n, L, d)
        x = x + self.out(y)
        return x + self.ff2(F.gelu(self.ff1(self.norm2(x))))


class MultiExitTransformer(nn.Module):
    """DeeBERT-style: an exit after every encoder layer."""

    def __init__(self, vocab=1000, seq=64, d=128, heads=4, ff=256, layers=4):
        super().__init__()
        self.tok = nn.Embedding(vocab, d)
        self.pos = nn.Parameter(torch.randn(1, seq, d) * 0.02)
        self.layers = nn.ModuleList([EncoderLayer(d, heads, ff) for _ in range(layers)])
        self.exits = nn.ModuleList([nn.Sequential(nn.LayerNorm(d), nn.Linear(d, CLASSES)) for _ in range(layers)])

    def forward(self, ids):
        x = self.tok(ids) + self.pos
        outs = []
        for layer, head in zip(self.layers, self.exits):
            x = layer(x)
            outs.append(head(x.mean(dim=1)))
        return tuple(outs)


def randomise_batchnorm(model):
    """Non-trivial BatchNorm statistics, so that the exits' logits are not all alike."""
    g = torch.Generator().manual_seed(11)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.copy_(torch.randn(m.num_features, generator=g) * 0.1)
            m.running_var.copy_(torch.rand(m.num_features, generator=g) * 0.5 + 0.75)


def export(model, example, path, input_name, exits):
    model.eval()
    outputs = [f"exit_{k}" for k in range(exits)]
    torch.onnx.export(
        model, example, path,
        input_names=[input_name], output_names=outputs,
        dynamic_axes={n: {0: "batch"} for n in [input_name] + outputs},
        opset_version=13,
    )
    onnx.checker.check_model(onnx.load(path))
    print(f"{path}: {os.path.getsize(path) / 1e6:.2f} MB")


def main():
    torch.manual_seed(20261128)
    with torch.no_grad():
        cnn = MultiExitResNet()
        randomise_batchnorm(cnn)
        export(cnn, torch.zeros(1, 3, 32, 32), os.path.join(HERE, "cnn.onnx"), "x", 4)
        tr = MultiExitTransformer()
        export(tr, torch.zeros(1, 64, dtype=torch.long), os.path.join(HERE, "transformer.onnx"), "ids", 4)


if __name__ == "__main__":
    main()
