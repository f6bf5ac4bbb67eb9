"""Entry points for ``ray job submit -- python -m rayops.jobs.<name> ...``.

Each job module parses its arguments, calls ``ray.init()`` (which joins the
cluster the job was submitted to) and runs library code that never calls
``ray.init`` itself.
"""
