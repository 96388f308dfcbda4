"""One module per chapter's method (models, losses, policies)."""
