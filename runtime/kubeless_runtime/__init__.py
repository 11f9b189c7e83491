"""Serve a Kubeless function module on FastAPI."""
