"""The block tools behind ``blocks``, ``check``, ``schema``, ``exec``, ``port`` (commands: ``cli.blocks``)."""
