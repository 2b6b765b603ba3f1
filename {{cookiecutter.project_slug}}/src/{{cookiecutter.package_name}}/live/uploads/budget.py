"""What uploads may hold on disk, counted before a byte arrives.

An entry reserves its declared size when it is preflighted (the upload
channel never takes more than that) and gives it back when its file goes:
consumed, cancelled, refused, expired, or its view closed. A socket's budget
draws on the process's, so that neither one client nor every client together
can make the server hold more than ``LiveConfig`` says; past either bound the
preflight refuses the entry, and the page says why.
"""

from __future__ import annotations


class BudgetFull(Exception):
    """No room for an entry; ``reason`` names the bound it would pass (as an upload error)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class DiskBudget:
    """At most ``limit`` bytes held at once, here and in every budget this one draws on."""

    def __init__(self, limit: int, reason: str, parent: DiskBudget | None = None) -> None:
        self.limit = limit
        self.reason = reason
        self.parent = parent
        self.held = 0

    def reserve(self, size: int) -> Reservation:
        """Hold ``size`` bytes in this budget and its parents, or raise ``BudgetFull``."""
        budgets: list[DiskBudget] = []
        budget: DiskBudget | None = self
        while budget is not None:
            if budget.held + size > budget.limit:
                raise BudgetFull(budget.reason)
            budgets.append(budget)
            budget = budget.parent
        for budget in budgets:
            budget.held += size
        return Reservation(size, budgets)


class Reservation:
    """Bytes held for one entry; ``release`` gives them back (once, however often called)."""

    def __init__(self, size: int, budgets: list[DiskBudget]) -> None:
        self.size = size
        self._budgets = budgets

    def release(self) -> None:
        budgets, self._budgets = self._budgets, []
        for budget in budgets:
            budget.held -= self.size
