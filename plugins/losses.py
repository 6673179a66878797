"""Built-in training losses: cross-entropy, normalised softmax, contrastive, triplet with
semi-hard mining, N-pairs and multi-similarity from pytorch-metric-learning; EP and EPSHN
(Xuan, Stylianou and Pless, WACV 2020) and the nearest-neighbour loss from
:mod:`vizkit.compute.losses`. Each is built (and
torch imported) only when a run starts."""
from __future__ import annotations

from vizkit import hookimpl
from vizkit.api.losses import Loss


def _classifier_loss(_num_classes: int, _dim: int):
    from vizkit.compute.losses import ClassifierLoss

    return ClassifierLoss()


def _easy_positive(semi_hard: bool):
    def build(_num_classes: int, _dim: int):
        from vizkit.compute.losses import EasyPositiveLoss

        return EasyPositiveLoss(semi_hard=semi_hard)
    return build


def _nearest_neighbour(_num_classes: int, _dim: int):
    from vizkit.compute.losses import NearestNeighbourLoss

    return NearestNeighbourLoss()


def _mined(loss, miner=None):
    from vizkit.compute.losses import MinedLoss

    return MinedLoss(loss, miner)

TRIPLET_MARGIN = 0.2
NORMALIZED_SOFTMAX_TEMPERATURE = 0.05
CONTRASTIVE_MARGINS = (1.0, 0.5)  # pull same-class cosine up to 1, push others below 0.5


def _normalized_softmax(num_classes: int, dim: int):
    from pytorch_metric_learning.losses import NormalizedSoftmaxLoss

    return _mined(NormalizedSoftmaxLoss(num_classes, dim,
                                           temperature=NORMALIZED_SOFTMAX_TEMPERATURE))


def _contrastive(_num_classes: int, _dim: int):
    from pytorch_metric_learning.distances import CosineSimilarity
    from pytorch_metric_learning.losses import ContrastiveLoss

    pos, neg = CONTRASTIVE_MARGINS
    return _mined(ContrastiveLoss(pos_margin=pos, neg_margin=neg, distance=CosineSimilarity()))


def _triplet_semihard(_num_classes: int, _dim: int):
    from pytorch_metric_learning.distances import CosineSimilarity
    from pytorch_metric_learning.losses import TripletMarginLoss
    from pytorch_metric_learning.miners import TripletMarginMiner

    return _mined(TripletMarginLoss(margin=TRIPLET_MARGIN, distance=CosineSimilarity()),
                     TripletMarginMiner(margin=TRIPLET_MARGIN, type_of_triplets="semihard",
                                        distance=CosineSimilarity()))


def _npairs(_num_classes: int, _dim: int):
    from pytorch_metric_learning.distances import DotProductSimilarity
    from pytorch_metric_learning.losses import NPairsLoss
    from pytorch_metric_learning.regularizers import LpRegularizer

    # Sohn (2016): dot products of unnormalised embeddings, with an L2 penalty on them
    return _mined(NPairsLoss(distance=DotProductSimilarity(normalize_embeddings=False),
                                embedding_regularizer=LpRegularizer(),
                                embedding_reg_weight=0.002))


def _multi_similarity(_num_classes: int, _dim: int):
    from pytorch_metric_learning.losses import MultiSimilarityLoss
    from pytorch_metric_learning.miners import MultiSimilarityMiner

    return _mined(MultiSimilarityLoss(alpha=2, beta=50, base=0.5),
                     MultiSimilarityMiner(epsilon=0.1))


LOSSES = [
    Loss("cross-entropy", _classifier_loss, classifier=True, balanced=False,
         description="softmax cross-entropy on a classifier head; the embedding is the "
                     "pooled feature the head sees (pre_logits)"),
    Loss("normalized-softmax", _normalized_softmax, balanced=False,
         description="cosine similarity to one learned proxy per class, softmax at "
                     f"temperature {NORMALIZED_SOFTMAX_TEMPERATURE}"),
    Loss("contrastive", _contrastive,
         description="contrastive (Hadsell et al.) on cosine similarity: every same-class "
                     f"pair below {CONTRASTIVE_MARGINS[0]:g} pulled up, every other-class pair "
                     f"above {CONTRASTIVE_MARGINS[1]:g} pushed down (each averaged over its "
                     "non-zero terms)"),
    Loss("triplet-semihard", _triplet_semihard,
         description=f"triplet margin {TRIPLET_MARGIN} on cosine similarity, semi-hard "
                     "triplets of the batch"),
    Loss("npairs", _npairs, normalize=False,
         description="N-pairs: one positive pair per class, softmax over the batch's other "
                     "classes (dot product, L2-regularised embedding)"),
    Loss("multi-similarity", _multi_similarity,
         description="multi-similarity loss with its pair miner (alpha 2, beta 50, base 0.5)"),
    Loss("ep", _easy_positive(semi_hard=False),
         description="easy positive, hardest negative: softplus((S_an - S_ap)/0.1)"),
    Loss("epshn", _easy_positive(semi_hard=True),
         description="easy positive, semi-hard negative (the hardest one less similar than "
                     "the positive): softplus((S_an - S_ap)/0.1)"),
    Loss("nearest-neighbour", _nearest_neighbour,
         description="each image pulled to its nearest same-class image only if their cosine "
                     "exceeds 0.3, pushed from other-class images only above 0.3: "
                     "log(1 + sum exp((S_an - S_ap)/0.1))"),
]


@hookimpl
def register_losses(register):
    """Register the built-in losses."""
    for loss in LOSSES:
        register(loss)
