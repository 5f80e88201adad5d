"""LoRA Workbench core library: datasets, models, training, inference, evaluation, publishing.

Never imports streamlit: the pages are thin views over this package, and the CLI
(`python -m workbench`) offers the same operations.
"""

__version__ = "0.1.0"
