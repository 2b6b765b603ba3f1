"""The app: settings, database, models and live views."""
