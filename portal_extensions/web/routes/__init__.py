"""The portal's routes, one module per feature: its page and JSON endpoint side by side."""
