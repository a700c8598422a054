"""The config tree: Hydra's primary config module (``pkg://unpact_exp.conf``)."""
