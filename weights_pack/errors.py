"""The one exception the packer raises for bad input; the CLI turns it into a message and exit code 1."""


class PackError(Exception):
    """Bad input or an unusable output path: the message says what and where; nothing was written."""
