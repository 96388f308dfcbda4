"""How ``per_layer_predictions.pt`` was made: the predictions of CIGT and early exit as
the library computed them when every routed layer gathered and scattered on its own
(commit ecefe7e), before routed blocks ran through ``condcomp_lib.ops.Dispatch``.

``tests/test_routed_predictions.py`` loads the same weights into today's code and checks
that the predictions have not changed. Running this file again records today's code
instead, which proves nothing: it is kept to show exactly what was recorded.

    python tests/data/record_per_layer_predictions.py
"""

import pathlib

import torch
from torch import nn
from condcomp_lib.methods import cigt, b_lenet, early_exit as ee
from condcomp_lib.methods.cascade import Cascade
from condcomp_lib.models import LeNet, LeNetWidths

torch.manual_seed(0)
SMALL = LeNetWidths(4, 8, 16, 32, 16)
net = cigt.LeNetCIGT(SMALL).eval()
# make the routers' batch norm non-trivial, so routes vary
x = torch.randn(64, 1, 28, 28, generator=torch.Generator().manual_seed(1))
net.train()
with torch.no_grad():
    for _ in range(20):  # batch-norm statistics of the data, so the routes spread out
        net.run(x)
    for r in (net.router1, net.router2):
        r.out.weight.mul_(20)
net.eval()
with torch.no_grad():
    out = net.run(x)
    out1 = [net.run(x[i : i + 1]) for i in range(8)]
print("routes", out.routes[0].bincount(minlength=2), out.routes[1].bincount(minlength=4))
cigt_rec = {
    "state_dict": net.state_dict(),
    "logits": out.logits,
    "routes": out.routes,
    "probs": out.probs,
    "logits_b1": torch.cat([o.logits for o in out1]),
}

SMALL_EE = LeNetWidths(4, 6, 8, 16, 12)
torch.manual_seed(0)
backbone = LeNet(SMALL_EE).eval()
heads = {
    "conv1": b_lenet.lenet_branch(SMALL_EE.conv1, width=3),
    "conv2": nn.Sequential(
        nn.AdaptiveAvgPool2d(2), nn.Flatten(), nn.Linear(SMALL_EE.conv2 * 4, 10)
    ),
}
en = ee.ExitNetwork(backbone, heads).eval()
xe = torch.randn(64, 1, 28, 28, generator=torch.Generator().manual_seed(1))
with torch.no_grad():
    outs = en.all_exits(xe)
    th = [ee.entropy(z).median().item() for z in outs[:-1]]
    en.rule = ee.EntropyRule(th)
    o = en(xe)
    o1 = [en(xe[i : i + 1]) for i in range(16)]
    small = LeNet(LeNetWidths(2, 2, 2, 8, 8)).eval()
    z_small = small(xe)
    crule = ee.EntropyRule(ee.entropy(z_small).median().item())
    cas = Cascade([small, backbone], crule)
    oc = cas(xe)
print("exits", o.exit_index.bincount(), oc.exit_index.bincount())
ee_rec = {
    "state_dict": en.state_dict(),
    "thresholds": th,
    "logits": o.logits,
    "exit_index": o.exit_index,
    "logits_b1": torch.cat([a.logits for a in o1]),
    "exit_index_b1": torch.cat([a.exit_index for a in o1]),
    "cascade_state_dict": cas.state_dict(),
    "cascade_threshold": crule.thresholds,
    "cascade_logits": oc.logits,
    "cascade_exit_index": oc.exit_index,
}
OUT = pathlib.Path(__file__).with_name("per_layer_predictions.pt")
torch.save({"cigt": cigt_rec, "early_exit": ee_rec}, OUT)
