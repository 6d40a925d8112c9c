"""Why a report could not be made, each with the exit code `vault report` ends with."""


class ReportError(Exception):
    """A report could not be made; the message says why and what to do."""

    exit_code = 1


class BadInput(ReportError):
    """An option's value is malformed or names something the marts do not hold."""

    exit_code = 2


class WarehouseError(ReportError):
    """The warehouse could not be reached or read."""

    exit_code = 1


class MissingMart(WarehouseError):
    """A mart the report reads has not been built in this warehouse yet."""
