"""Controllers: each is observe + decide wired onto the kernel (kernel/loop.py)."""
