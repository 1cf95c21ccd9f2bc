"""The user side of actframework: the ``act`` command line client."""
