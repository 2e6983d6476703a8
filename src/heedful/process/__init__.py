"""Process track: offline process-data sources, task dataset builders, training and comparison."""
