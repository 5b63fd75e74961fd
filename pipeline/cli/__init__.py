"""The ``facecorpus`` command line (``main``), its commands (``extract``, ``dvc``,
``validate``) and the flags made from the config (``options``)."""
