"""Claims the backend name ``localdir`` a second time; never meant to be loaded."""


class Backend:
    def __init__(self, options: object) -> None:
        raise RuntimeError("the clashing backend must never be constructed")
