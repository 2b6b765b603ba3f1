"""The app's LiveViews: one module per page."""
