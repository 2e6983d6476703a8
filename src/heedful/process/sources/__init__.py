"""Offline process-data sources. Data modules never import models."""
