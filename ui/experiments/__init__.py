"""The Experiments page's parts."""
