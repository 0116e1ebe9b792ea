"""`modelship dashboard`: a local web app over the cluster, as the user (docs/dashboard.md).

``views`` is pure (data in, HTML or SVG out; in the import-linter "pure" contract);
``store`` keeps the watch-fed cache, ``actions`` performs the manual commands through
ctl.py and promotion_ctl.py, ``server`` is the aiohttp application.
"""
