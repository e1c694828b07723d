"""File-in, file-out commands and builds: models, tone training, themes, neighbours, demo data."""
