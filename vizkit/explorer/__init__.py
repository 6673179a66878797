"""The model explorer: layer catalogue, feature maps, channel visualisations (torch-lucent)
and top-activating dataset images. Its store tables live in :mod:`vizkit.explorer.store`
and are created by its own jobs."""
