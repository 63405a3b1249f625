"""The one exception type the commands raise for problems the user can fix."""


class CLIError(Exception):
    """Printed as ``rnnkit: error: <message>`` with exit code ``exit_code``."""

    exit_code = 1

    def __init__(self, message: str, exit_code: int = 1):
        super().__init__(message)
        self.exit_code = exit_code
