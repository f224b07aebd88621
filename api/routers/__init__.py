"""Routers of the service: health, imputation, mixed models."""
