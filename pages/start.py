"""Start: the journey from dataset to published model at a glance, and the next step."""

from ui.frame import require_app_frame
from ui.start import render_start

require_app_frame()

render_start()
