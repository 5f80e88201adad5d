"""Components of the Datasets page."""
