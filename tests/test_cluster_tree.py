"""Feature-cluster trees and conditional networks (chapter 8): clusters, routes, lateral
connections, the routed tree against every specialist, the conditional LeNet."""

import pytest
import torch
import torch.nn.functional as F

from condcomp_lib import cost
from condcomp_lib.data import Split
from condcomp_lib.methods import cluster_tree as ct
from condcomp_lib.methods import cluster_tree_runs as runs
from condcomp_lib.methods import conditional_networks as cn
from condcomp_lib.models import THIN, LeNet

W1 = ct.SpecialistWidths(2, 3, 4, 6, 5)
W2 = ct.SpecialistWidths(1, 2, 2, 4, 3)


def base_net(seed=0):
    torch.manual_seed(seed)
    return LeNet(THIN).double().eval()


def images(n, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 1, 28, 28, dtype=torch.float64, generator=g)


def random_tree(k=3, k2=2, seed=0, n=24):
    """A tree with random weights whose centroids are the top features of actual images
    (so that every route is taken)."""
    base = base_net(seed)
    tree = ct.skeleton(base, ct.TreeShape(k, k2, W1, W2)).double().eval()
    torch.manual_seed(seed + 1)
    for p in tree.parameters():
        if p.requires_grad:  # the specialists: small random weights, biases included
            p.data.normal_(0, 0.3)
    x = images(n, seed)
    with torch.no_grad():
        levels = ct.base_levels(base, x)
        tree.centroids.copy_(levels[5][:k])
        flat = ct.pack(levels)
        route = ct.nearest(levels[5], tree.centroids)
        for c, node in enumerate(tree.branches):
            lat = ct.unpack(flat[route == c], node.specialist.lateral)
            top = ct.merge(lat, node.specialist.levels(lat))[5]
            node.centroids.copy_(top[:k2])
    return tree, x


# ---------------------------------------------------------------- clusters and routes


def test_kmeans_returns_the_clusters_of_a_separable_case():
    g = torch.Generator().manual_seed(0)
    centres = torch.tensor([[10.0, 0, 0], [0, 10.0, 0], [0, 0, 10.0]])
    which = torch.arange(3).repeat_interleave(20)[torch.randperm(60, generator=g)]
    z = centres[which] + 0.5 * torch.randn(60, 3, generator=g)
    centroids, cluster = ct.kmeans(z, 3, seed=0)
    # the same partition, whatever the clusters' numbering
    for c in range(3):
        members = which[cluster == c]
        assert len(members) == 20 and (members == members[0]).all()
    assert torch.equal(ct.nearest(z, centroids), cluster)
    assert (centroids - centres[ct.nearest(centres, centroids).argsort()]).abs().max() < 1
    with pytest.raises(ValueError, match="k must be"):
        ct.kmeans(z, 0)
    with pytest.raises(ValueError, match="need at least"):
        ct.kmeans(z[:2], 3)


def test_routing_is_deterministic_and_label_free():
    base = base_net().float()
    x = images(90).float()
    y = torch.arange(90) % 10
    levels = runs.levels_split(base, Split(x, y), batch=40)
    shuffled = Split(levels.x, y[torch.randperm(90, generator=torch.Generator())])
    shape = ct.TreeShape(3, 0, W1, W2)
    a, _ = runs.grow(base, levels, shape, epochs=1, seed=0)
    b, _ = runs.grow(base, shuffled, shape, epochs=1, seed=0)
    assert torch.equal(a.centroids, b.centroids)  # the labels never reached k-means
    test = images(30, seed=5).float()
    assert torch.equal(a.route(test), b.route(test))
    # a sample's route does not depend on the batch it comes in
    assert torch.equal(a.route(test)[7:9], a.route(test[7:9]))
    # yet the specialists did learn from the labels: the two trees differ
    w_a, w_b = a.branches[0].specialist.head.weight, b.branches[0].specialist.head.weight
    assert not torch.equal(w_a, w_b)


# ---------------------------------------------------------------- the routed tree


def every_specialist_then_select(tree, x):
    """Every specialist of both levels on every image, then each image's own, chosen by
    its clusters: written with loops and indexing, not with Dispatch."""
    levels = ct.base_levels(tree.base, x)
    route = ct.nearest(levels[5], tree.centroids)
    rows = torch.arange(len(x))
    per_child = []
    for node in tree.branches:
        lat = ct.unpack(ct.pack(levels), node.specialist.lateral)
        merged = ct.merge(lat, node.specialist.levels(lat))
        route2 = ct.nearest(merged[5], node.centroids)
        every = torch.stack([g.specialist(ct.pack(merged)) for g in node.branches])
        per_child.append(every[route2, rows])  # [B, 10]
    return torch.stack(per_child)[route, rows], route


def test_routed_tree_equals_every_specialist_selected_by_cluster():
    tree, x = random_tree()
    with torch.no_grad():
        want, route = every_specialist_then_select(tree, x)
        got = tree(x)
        assert torch.equal(tree.last_route, route)
        reference = tree(x, routed=False)
        one_by_one = torch.cat([tree(x[i : i + 1]) for i in range(len(x))])
    assert len(route.unique()) == 3  # every branch is taken: the test dispatches
    torch.testing.assert_close(got, want)
    torch.testing.assert_close(reference, want)
    torch.testing.assert_close(one_by_one, want)


def test_realized_macs_are_the_base_plus_one_branch():
    tree, x = random_tree()
    macs = cost.realized_macs(tree, x)
    child, grand = tree.branches[0].specialist, tree.branches[0].branches[0].specialist
    one_branch = (
        ct.base_macs(tree.base)
        + tree.centroids.numel()
        + child.macs(head=False)
        + tree.branches[0].centroids.numel()
        + grand.macs()
    )
    assert torch.equal(macs, torch.full_like(macs, float(one_branch)))
    # the thin LeNet to its last hidden layer: its MACs less the classifier's 64 x 10
    assert ct.base_macs(tree.base) == cost.dense_macs(LeNet(THIN), (1, 28, 28)) - 640
    assert runs.dense_macs(tree) > one_branch + 2 * grand.macs()


def test_every_branch_costs_every_specialist():
    tree, x = random_tree(k2=0)
    macs = cost.realized_macs(ct.EveryBranch(tree), x[:4])
    want = ct.base_macs(tree.base) + sum(b.specialist.macs() for b in tree.branches)
    assert macs.tolist() == [want] * 4


# ---------------------------------------------------------------- lateral connections


def test_lateral_connections_read_the_base_twin_layer():
    base = base_net()
    spec = ct.Specialist(W1, ct.base_channels(THIN)).double()
    # layer l reads [its own level l-1 ; the base's level l-1]
    assert spec.conv2.weight.shape == (W1.conv2, W1.conv1 + THIN.conv1, 5, 5)
    assert spec.conv3.weight.shape == (W1.conv3, W1.conv2 + THIN.conv2, 1, 1)
    assert spec.fc1.weight.shape == (W1.fc1, (W1.conv3 + THIN.conv3) * 9)
    assert spec.head.weight.shape == (10, W1.fc2 + THIN.fc2)
    spec.eval()
    x = images(4)
    levels = [h.requires_grad_() for h in ct.base_levels(base, x)]
    out = spec.classify(spec.levels(levels)[-1], levels[5])
    out.square().sum().backward()
    # the gradient reaches every lateral level: each layer reads its twin's output
    for h in levels:
        assert h.grad is not None and h.grad.abs().sum() > 0
    # changing the base's level 1 alone changes the specialist's output
    moved = list(levels)
    moved[1] = levels[1].detach() + 1.0
    assert not torch.allclose(spec.classify(spec.levels(moved)[-1], moved[5]), out)


def test_the_base_stays_frozen_and_a_fresh_specialist_starts_at_its_prediction():
    base = base_net()
    tree = ct.skeleton(base, ct.TreeShape(1, 0, W1, W2)).double()
    tree.branches[0].specialist.start_from(base.fc3)
    tree.eval()
    x = images(6)
    with torch.no_grad():
        torch.testing.assert_close(tree(x), base(x))
    tree.train()
    F.cross_entropy(tree(x), torch.arange(6)).backward()
    assert all(p.grad is None for p in tree.base.parameters())
    head = tree.branches[0].specialist.head
    assert head.weight.grad[:, : W1.fc2].abs().sum() > 0  # the new features learn


def test_bad_inputs_say_what_is_wrong():
    with pytest.raises(ValueError, match="int >= 1"):
        ct.SpecialistWidths(0, 1, 1, 1, 1)
    with pytest.raises(ValueError, match="bundle"):
        ct.unpack(torch.zeros(2, 5), ct.base_channels(THIN))
    with pytest.raises(ValueError, match="depth"):
        runs.shape(runs.get_setup("quick"), 2, depth=3)
    with pytest.raises(ValueError, match="profile"):
        runs.get_setup("huge")
    with pytest.raises(ValueError, match="no training image"):
        runs.data_of(Split(torch.zeros(3, 2), torch.zeros(3)), torch.zeros(3, dtype=bool))


def test_workers_train_the_same_specialists_as_one_process():
    base = base_net().float()
    data = runs.levels_split(base, Split(images(64).float(), torch.arange(64) % 10))

    def jobs():
        torch.manual_seed(0)
        spec = ct.Specialist(W1, ct.base_channels(THIN)).start_from(base.fc3)
        return [(spec, Split(data.x.float(), data.y))]

    here, there = jobs(), jobs()
    runs.train_all(here, epochs=1, seed=0)
    with runs.worker_pool(1) as pool:
        runs.train_all(there, epochs=1, seed=0, pool=pool)
    for a, b in zip(here[0][0].parameters(), there[0][0].parameters()):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)
    assert not torch.equal(here[0][0].head.weight, jobs()[0][0].head.weight)


# ---------------------------------------------------------------- conditional networks


def test_single_best_routing_runs_one_branch_and_soft_routing_mixes():
    torch.manual_seed(0)
    net = cn.ConditionalLeNet(THIN, groups=2, routing="explicit").double().eval()
    with torch.no_grad():
        net.router.weight.normal_(0, 3.0)  # a decided router, both branches in use
    x = images(16)
    with torch.no_grad():
        got = net(x)
        h = net.root(x)
        pi = net.router_probs(h)
        z = torch.stack([b(net.group(h, g)) for g, b in enumerate(net.branches)])
    route = pi.argmax(1)
    assert len(route.unique()) == 2
    torch.testing.assert_close(got, z[route, torch.arange(16)])
    # soft routing: log of sum_g pi_g softmax(z_g), a distribution over the classes
    net.train()
    net.branches.apply(lambda m: m.eval() if isinstance(m, torch.nn.Dropout) else None)
    mix = net(x)
    want = (pi.T.unsqueeze(2) * z.softmax(2)).sum(0).log()
    torch.testing.assert_close(mix, want)
    torch.testing.assert_close(mix.exp().sum(1), torch.ones(16, dtype=torch.float64))
    # soft routing at test: the same mixture, in eval mode, at every branch's MACs
    net.eval().test_routing = "soft"
    with torch.no_grad():
        torch.testing.assert_close(net(x), want)
    single = cost.realized_macs(net.float().eval(), x.float())
    net.test_routing = "best"
    assert (single > cost.realized_macs(net, x.float())).all()
    net.test_routing = "all"
    with pytest.raises(ValueError, match="test_routing"):
        net(x.float())


def test_filter_groups_halve_and_routing_halves_again():
    dense = cost.dense_macs(LeNet(THIN), (1, 28, 28))
    x = images(3).float()
    implicit = cn.ConditionalLeNet(THIN, 2, "implicit").eval()
    explicit = cn.ConditionalLeNet(THIN, 2, "explicit").eval()
    m_imp = cost.realized_macs(implicit, x)[0].item()
    m_exp = cost.realized_macs(explicit, x)[0].item()
    conv1 = 32 * 25 * 28 * 28
    # every layer after the root costs half the dense one: 2 blocks of 1/2 x 1/2
    assert abs((m_imp - conv1) / (dense - conv1) - 0.5) < 0.01
    # one branch of two, plus the router's 32 x 2 MACs
    assert m_exp - 64 - conv1 == (m_imp - conv1) / 2
    assert m_imp == cost.dense_macs(implicit, (1, 28, 28))
    with torch.no_grad():
        z = implicit(x)
        h = implicit.root(x)
        parts = [b(implicit.group(h, g)) for g, b in enumerate(implicit.branches)]
    torch.testing.assert_close(z, parts[0] + parts[1])
    with pytest.raises(ValueError, match="routing"):
        cn.ConditionalLeNet(THIN, 2, "learned")
    with pytest.raises(ValueError, match="groups"):
        cn.ConditionalLeNet(THIN, 3)
