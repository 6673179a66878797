"""What plugins register and what every part of vizkit passes around: datasets, models,
metrics, losses, visualizers (pages) and commands (jobs)."""
