"""Shared pytest fixtures for the app's tests."""
