"""The controller kernel: observe → decide (pure) → Plan → one executor."""
