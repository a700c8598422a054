"""Typed configuration: binding config nodes to constructors, and the range checks they use.

- :mod:`~unpact_exp.config.binder`: the one place a config value's type is checked;
- :mod:`~unpact_exp.config.checks`: ranges, called by each settings class;
- :mod:`~unpact_exp.config.run_config`: the frozen, typed view of a whole run built once at
  the entry point.
"""
