"""Start: the journey from dataset to published model at a glance, and the next step."""

from ui.start import render_start

render_start()
