"""The data contracts: one Great Expectations suite per manifest, as code.

Each contract module (``videos``, ``faces``, ``crops``, ``run``) names its suite
(``NAME``), its key column (``KEY``, unique; partitions are made by it), the
computed ``chk_*`` columns its batch carries (``COMPUTED``) and its checks
(``checks(limits)``), each an expectation with a name and a severity. Column and
type checks come from the Arrow schemas in ``schemas/manifests.py``.
``pipeline/validate/suites.py`` runs them; ARCHITECTURE.md ("Data contracts") lists them.
"""

# Nothing heavy here: the CLI imports the limits to build its parser, and
# great_expectations takes seconds to import (schemas/contracts/base.py does).
from schemas.contracts.limits import ContractLimits

__all__ = ["ContractLimits"]
