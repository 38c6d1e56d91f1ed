"""The load-test harness: simulated respondents, the database audit and the servers they run against.

``bench/load.py`` is its command line; ``tests/reliability`` drives the same browsers and audit
one request at a time. A development tool: it is not part of the installed package.
"""
