"""Publishing trained adapters: Ollama templates and Modelfiles, GGUF export."""
