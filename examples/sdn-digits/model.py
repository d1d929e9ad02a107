"""A Shallow-Deep-Network-style CNN (Kaya et al., ICML 2019) for the 8x8 digits of
scikit-learn: a small conv backbone with an internal classifier ("exit head") after each
block. Exported to ONNX by make_example.py with one output per exit: exit_0 .. exit_3."""
import torch
import torch.nn as nn
import torch.nn.functional as F


class ExitHead(nn.Module):
    """Internal classifier: average pooling to 2x2, then a linear layer."""

    def __init__(self, channels, classes):
        super().__init__()
        self.fc = nn.Linear(4 * channels, classes)

    def forward(self, x):
        return self.fc(F.adaptive_avg_pool2d(x, 2).flatten(1))


def block(cin, cout, stride=1):
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    )


class SDNDigits(nn.Module):
    def __init__(self, classes=10):
        super().__init__()
        self.blocks = nn.ModuleList([
            block(1, 16),
            block(16, 32),
            block(32, 32, stride=2),
            block(32, 64),
        ])
        # One exit head per block; the last one is the final classifier.
        self.exits = nn.ModuleList([
            ExitHead(16, classes),
            ExitHead(32, classes),
            ExitHead(32, classes),
            ExitHead(64, classes),
        ])

    def forward(self, x):
        outs = []
        for blk, head in zip(self.blocks, self.exits):
            x = blk(x)
            outs.append(head(x))
        return tuple(outs)


def sdn_loss(outputs, target, weights=(0.25, 0.5, 0.75, 1.0)):
    """The SDN training loss: a weighted sum of every exit's cross-entropy."""
    return sum(w * F.cross_entropy(o, target) for w, o in zip(weights, outputs))
