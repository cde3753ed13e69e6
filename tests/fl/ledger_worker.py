"""Worker for the multi-process ledger test: imports only the ledger (fast to spawn)."""

from dalrn_core.fl.ledger import BudgetExceeded, PrivacyLedger, RoundCost


def spend_once(path: str, i: int) -> bool:
    try:
        PrivacyLedger(path).spend(["a"], RoundCost(1.1, 0.1, 10), f"proc-{i}")
        return True
    except BudgetExceeded:
        return False
