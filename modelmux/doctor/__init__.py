"""`modelmux doctor`: checks of a setup beyond the config itself, each with a fix when it fails."""
