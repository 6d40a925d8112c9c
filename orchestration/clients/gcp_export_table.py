"""The Cloud Billing export table's id, checked without loading the Google SDK.

BigQuery takes values as bound query parameters, but not the name of the table a query reads:
that has to be written into the SQL. So the id from `vault.yaml` is accepted only in a strict
shape, `project.dataset.table`, whose parts cannot hold a backtick, a quote, a space or a
comment; anything else is refused before a query is ever built. `vault.yaml` validation uses
this module too, which is why it imports nothing of Google's.

Cloud Billing names its tables after the billing account: `gcp_billing_export_v1_<ACCOUNT>`
for the standard usage cost export and `gcp_billing_export_resource_v1_<ACCOUNT>` for the
detailed one (resource names and prices besides), with the account id's dashes as
underscores. A view over the export can have any name; its kind must then be configured.
"""

import re
from dataclasses import dataclass

# A project id (6-30 characters), optionally scoped by a domain ("example.com:my-project").
_PROJECT = re.compile(r"^(?:[a-z0-9][a-z0-9.-]{0,61}[a-z0-9]:)?[a-z][a-z0-9-]{4,28}[a-z0-9]$")
_DATASET = re.compile(r"^[A-Za-z0-9_]{1,1024}$")
# BigQuery allows more in table names (Unicode letters, spaces); the export never needs them.
_TABLE = re.compile(r"^[A-Za-z0-9_-]{1,1024}$")
_ACCOUNT = r"([0-9A-F]{6})_([0-9A-F]{6})_([0-9A-F]{6})"
_STANDARD_TABLE = re.compile(rf"^gcp_billing_export_v1_{_ACCOUNT}$")
_DETAILED_TABLE = re.compile(rf"^gcp_billing_export_resource_v1_{_ACCOUNT}$")


@dataclass(frozen=True)
class ExportTable:
    """A checked `project.dataset.table`."""

    project: str
    dataset: str
    table: str

    @property
    def table_id(self) -> str:
        return f"{self.project}.{self.dataset}.{self.table}"

    @property
    def sql(self) -> str:
        """The id quoted for a GoogleSQL FROM clause; safe because every part was checked."""
        return f"`{self.table_id}`"

    @property
    def named_detailed(self) -> bool | None:
        """True for a detailed export's name, False for a standard one's, None for neither."""
        if _DETAILED_TABLE.match(self.table):
            return True
        if _STANDARD_TABLE.match(self.table):
            return False
        return None

    @property
    def billing_account_id(self) -> str | None:
        """The billing account the table's name carries (`01A2B3-C4D5E6-F7A8B9`), if any."""
        match = _DETAILED_TABLE.match(self.table) or _STANDARD_TABLE.match(self.table)
        return "-".join(match.groups()) if match else None


def parse_export_table(value: str) -> ExportTable:
    """`value` as an `ExportTable`, or ValueError saying which part is wrong and why."""
    parts = value.strip().split(".")
    # A domain-scoped project has dots of its own: "example.com:proj.dataset.table".
    if len(parts) > 3 and ":" in ".".join(parts[:-2]):
        parts = [".".join(parts[:-2]), parts[-2], parts[-1]]
    if len(parts) != 3 or not all(parts):
        raise ValueError(
            f"{value!r} must be a full table id, project.dataset.table (for example "
            "my-billing-project.billing_export.gcp_billing_export_v1_01A2B3_C4D5E6_F7A8B9)"
        )
    project, dataset, table = parts
    if not _PROJECT.match(project):
        raise ValueError(
            f"project {project!r} is not a Google Cloud project id (6-30 lowercase letters, "
            "digits and dashes, starting with a letter)"
        )
    if not _DATASET.match(dataset):
        raise ValueError(f"dataset {dataset!r} may hold only letters, digits and underscores")
    if not _TABLE.match(table):
        raise ValueError(f"table {table!r} may hold only letters, digits, underscores and dashes")
    return ExportTable(project, dataset, table)


def check_project_id(value: str) -> str:
    """`value` if it is a project id, else ValueError."""
    if not _PROJECT.match(value):
        raise ValueError(
            f"{value!r} is not a Google Cloud project id (6-30 lowercase letters, digits and "
            "dashes, starting with a letter)"
        )
    return value
