"""Components of the Train and Runs pages."""
