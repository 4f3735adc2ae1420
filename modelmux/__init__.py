"""ModelMux: an LLM gateway (nginx for AI models) driven by a compiled, validated YAML config."""

__version__ = "0.3.0"
__all__ = ["__version__"]
