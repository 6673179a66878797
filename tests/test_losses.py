"""Each built-in loss on a tiny hand-made batch equals a value computed by hand (loops over
the definitions, not the library), and EP/EPSHN select the pairs the definition says."""
import math

import numpy as np
import pytest
import torch

from vizkit.compute.losses import cosine_matrix, easy_positive_selection
from vizkit.registry import get_registry


def at_angles(degrees, scale=1.0) -> torch.Tensor:
    r = np.radians(degrees)
    return torch.tensor(np.stack([np.cos(r), np.sin(r)], 1) * scale, dtype=torch.float32)


# anchor 0 (class 0) at 0 deg: easiest positive is 1 (10 deg); the hardest negative is 3
# (5 deg, more similar than that positive); the semi-hard one is 4 (40 deg)
EMB = at_angles([0, 10, 60, 5, 40])
LABELS = torch.tensor([0, 0, 0, 1, 1])


def loss_of(name, emb, labels, num_classes=2):
    plugin = get_registry().loss(name)
    torch.manual_seed(0)
    module = plugin.build(num_classes, emb.shape[1])
    normalize = plugin.normalize and not plugin.classifier  # as the trainer does
    x = torch.nn.functional.normalize(emb, dim=1) if normalize else emb
    return module, float(module(x, labels).detach())


def sims_by_hand(emb):
    e = emb.numpy() / np.linalg.norm(emb.numpy(), axis=1, keepdims=True)
    return [[float(np.dot(a, b)) for b in e] for a in e]


def easy_positive_by_hand(emb, labels, semi_hard):
    s, lab = sims_by_hand(emb), labels.tolist()
    terms = []
    for a in range(len(lab)):
        pos = [(s[a][j], j) for j in range(len(lab)) if j != a and lab[j] == lab[a]]
        if not pos:
            continue
        s_ap = max(pos)[0]
        neg = [s[a][k] for k in range(len(lab)) if lab[k] != lab[a]
               and (not semi_hard or s[a][k] < s_ap)]
        if not neg or s_ap <= 0 or max(neg) <= 0:
            continue
        terms.append(math.log1p(math.exp((max(neg) - s_ap) / 0.1)))
    return sum(terms) / len(terms)


def test_easy_positive_selection_follows_the_definition():
    pos, neg, valid = easy_positive_selection(cosine_matrix(EMB), LABELS, semi_hard=False)
    assert pos[0] == 1 and neg[0] == 3 and bool(valid[0])
    pos, neg, valid = easy_positive_selection(cosine_matrix(EMB), LABELS, semi_hard=True)
    assert pos[0] == 1 and neg[0] == 4 and bool(valid[0])
    # anchor 3 (class 1, 5 deg): its only positive is 4 (35 deg apart, cos .819); semi-hard
    # negatives must be less similar than that: 2 at 55 deg (cos .574), not 0 or 1
    assert pos[3] == 4 and neg[3] == 2
    # an anchor whose selected negative similarity is not positive is left out
    far = at_angles([0, 10, 100, 120])
    _, _, valid = easy_positive_selection(cosine_matrix(far), torch.tensor([0, 0, 1, 1]), True)
    assert not bool(valid[0])


@pytest.mark.parametrize("name,semi_hard", [("ep", False), ("epshn", True)])
def test_easy_positive_losses_equal_hand_values(name, semi_hard):
    _, value = loss_of(name, EMB, LABELS)
    assert value == pytest.approx(easy_positive_by_hand(EMB, LABELS, semi_hard), rel=1e-5)


def test_triplet_semihard_equals_hand_value():
    s, lab, margin = sims_by_hand(EMB), LABELS.tolist(), 0.2
    losses = []
    for a in range(5):
        for p in range(5):
            for n in range(5):
                if p == a or lab[p] != lab[a] or lab[n] == lab[a]:
                    continue
                gap = s[a][p] - s[a][n]  # semi-hard: positive closer, within the margin
                if 0 < gap <= margin:
                    losses.append(max(0.0, s[a][n] - s[a][p] + margin))
    nonzero = [v for v in losses if v > 0]
    _, value = loss_of("triplet-semihard", EMB, LABELS)
    assert nonzero and value == pytest.approx(sum(nonzero) / len(nonzero), rel=1e-5)


def test_npairs_equals_hand_value():
    emb = at_angles([0, 20, 90, 100, 200, 230], scale=2.0)
    labels = torch.tensor([0, 0, 1, 1, 2, 2])
    e = emb.numpy()
    anchors, positives = [0, 2, 4], [1, 3, 5]  # the first pair of each class
    ce = []
    for i, a in enumerate(anchors):
        logits = [float(np.dot(e[a], e[p])) for p in positives]
        ce.append(-logits[i] + math.log(sum(math.exp(v) for v in logits)))
    reg = 0.002 * float(np.mean(np.linalg.norm(e, axis=1)))
    _, value = loss_of("npairs", emb, labels, num_classes=3)
    assert value == pytest.approx(sum(ce) / 3 + reg, rel=1e-5)


def test_multi_similarity_equals_hand_value():
    # all similarities within the miner's epsilon of each other: every pair is mined
    emb = at_angles([0, 4, 8, 12])
    labels = torch.tensor([0, 0, 1, 1])
    s, alpha, beta, base = sims_by_hand(emb), 2.0, 50.0, 0.5
    per_anchor = []
    for a in range(4):
        pos = [s[a][j] for j in range(4) if j != a and labels[j] == labels[a]]
        neg = [s[a][j] for j in range(4) if labels[j] != labels[a]]
        per_anchor.append(math.log1p(sum(math.exp(-alpha * (v - base)) for v in pos)) / alpha
                          + math.log1p(sum(math.exp(beta * (v - base)) for v in neg)) / beta)
    _, value = loss_of("multi-similarity", emb, labels)
    assert value == pytest.approx(sum(per_anchor) / 4, rel=1e-4)


def test_contrastive_equals_hand_value():
    # pos pairs below 1 are pulled, neg pairs above 0.5 pushed; each kind averaged over its
    # non-zero terms (pytorch-metric-learning's reducer), the two means added
    s, lab = sims_by_hand(EMB), LABELS.tolist()
    pos, neg = [], []
    for a in range(5):
        for b in range(5):
            if a == b:
                continue
            if lab[a] == lab[b]:
                pos.append(max(0.0, 1.0 - s[a][b]))
            else:
                neg.append(max(0.0, s[a][b] - 0.5))
    mean = [sum(v) / len(v) for v in ([x for x in pos if x > 0], [x for x in neg if x > 0])]
    _, value = loss_of("contrastive", EMB, LABELS)
    assert value == pytest.approx(sum(mean), rel=1e-5)


def nearest_neighbour_by_hand(emb, labels, threshold=0.3, temperature=0.1):
    s, lab = sims_by_hand(emb), labels.tolist()
    terms = []
    for a in range(len(lab)):
        pos = [s[a][j] for j in range(len(lab)) if j != a and lab[j] == lab[a]]
        if not pos or max(pos) <= threshold:
            continue  # no positive above the threshold: the anchor makes no pair
        s_ap = max(pos)
        pushed = [s[a][n] for n in range(len(lab)) if lab[n] != lab[a] and s[a][n] > threshold]
        terms.append(math.log(1 + sum(math.exp((v - s_ap) / temperature) for v in pushed)))
    return sum(terms) / len(terms)


def test_nearest_neighbour_loss_equals_hand_value():
    # anchor 2 (60 deg): its nearest positive is 1 (50 deg apart, cos .643 > .3), and only
    # negatives with cos > .3 are pushed: 4 (20 deg) and 3 (55 deg), not far ones
    emb = at_angles([0, 10, 60, 5, 40, 170])
    labels = torch.tensor([0, 0, 0, 1, 1, 2])
    _, value = loss_of("nearest-neighbour", emb, labels, num_classes=3)
    assert value == pytest.approx(nearest_neighbour_by_hand(emb, labels), rel=1e-5)
    # an anchor whose nearest same-class image is below the threshold makes no pair; with
    # none left the loss is zero (and still has a gradient)
    apart = at_angles([0, 120, 60, 180], scale=1.0).requires_grad_(True)
    module, value = loss_of("nearest-neighbour", apart.detach(), torch.tensor([0, 0, 1, 1]))
    assert value == 0.0
    module(apart, torch.tensor([0, 0, 1, 1])).backward()
    assert apart.grad is not None


def test_normalized_softmax_and_cross_entropy_equal_hand_values():
    module, value = loss_of("normalized-softmax", EMB, LABELS)
    w = module.loss.W.detach().numpy()  # [dim, classes]
    e = EMB.numpy() / np.linalg.norm(EMB.numpy(), axis=1, keepdims=True)
    w = w / np.linalg.norm(w, axis=0, keepdims=True)
    expected = []
    for i, y in enumerate(LABELS.tolist()):
        logits = [float(np.dot(e[i], w[:, c])) / 0.05 for c in range(2)]
        expected.append(-logits[y] + math.log(sum(math.exp(v) for v in logits)))
    assert value == pytest.approx(sum(expected) / 5, rel=1e-5)
    logits = torch.tensor([[2.0, 0.0, -1.0], [0.5, 0.5, 3.0]])
    _, value = loss_of("cross-entropy", logits, torch.tensor([0, 1]), num_classes=3)
    by_hand = [-2.0 + math.log(math.exp(2) + 1 + math.exp(-1)),
               -0.5 + math.log(2 * math.exp(0.5) + math.exp(3))]
    assert value == pytest.approx(sum(by_hand) / 2, rel=1e-6)


def test_every_loss_gives_a_gradient():
    for name, plugin in get_registry().items["loss"].items():
        emb = at_angles([0, 10, 60, 5, 40]).requires_grad_(True)
        module = plugin.build(2, 2)
        x = torch.nn.functional.normalize(emb, dim=1) if plugin.normalize else emb
        module(x, LABELS).backward()
        assert emb.grad is not None and torch.isfinite(emb.grad).all(), name
