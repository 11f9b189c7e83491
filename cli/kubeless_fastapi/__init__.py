"""The kubeless-fastapi command line."""
