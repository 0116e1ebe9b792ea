"""Pure renderers of the dashboard: objects in, HTML and SVG strings out, no I/O."""
