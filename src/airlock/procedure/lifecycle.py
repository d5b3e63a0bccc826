"""The run lifecycle: the only way a migration can go, with who may take each step.

::

    draft → mandate_signed → planned → plan_approved → extracting → staged → loading → loaded
          → reconciled → accepted → purged
    (any state before accepted) → aborted → purged          (extracting, loading) → failed → purged

Each :class:`Step` names the states it leaves from, the state it leads to and the
role that takes it. The controller approves the plan and accepts the result; the
processor's operator does the rest; nobody approves or accepts their own work
(four eyes), which :func:`check` enforces with the actors' key ids.

>>> check(Step.APPROVE_PLAN, State.PLANNED, Actor("k1", "Dr Martin", "controller"), operator_key="k2")
<State.PLAN_APPROVED: 'plan_approved'>
>>> check(Step.LOAD, State.PLANNED, Actor("k2", "K. Benali", "processor"), operator_key="k2")
Traceback (most recent call last):
...
airlock.procedure.lifecycle.StepRefused: cannot load: the run is planned; it must be staged first
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from airlock.errors import AirlockError


class State(StrEnum):
    DRAFT = "draft"
    MANDATE_SIGNED = "mandate_signed"
    PLANNED = "planned"
    PLAN_APPROVED = "plan_approved"
    EXTRACTING = "extracting"
    STAGED = "staged"
    LOADING = "loading"
    LOADED = "loaded"
    RECONCILED = "reconciled"
    ACCEPTED = "accepted"
    PURGED = "purged"
    ABORTED = "aborted"
    FAILED = "failed"


class Step(StrEnum):
    VERIFY_MANDATE = "verify mandate"
    PLAN = "plan"
    APPROVE_PLAN = "approve plan"
    EXTRACT = "extract"
    FINISH_EXTRACT = "finish extraction"
    LOAD = "load"
    FINISH_LOAD = "finish loading"
    RECONCILE = "reconcile"
    ACCEPT = "accept"
    PURGE = "purge"
    ABORT = "abort"
    FAIL = "fail"


@dataclass(frozen=True)
class Actor:
    """Who takes a step: a signing identity (key id, name) in a role (controller or processor)."""

    key_id: str
    name: str
    role: str


@dataclass(frozen=True)
class Rule:
    sources: tuple[State, ...]
    target: State
    role: str  # controller, processor, or any
    needs: str  # what must hold, in words, for the refusal message


_BEFORE_ACCEPTANCE = (
    State.DRAFT, State.MANDATE_SIGNED, State.PLANNED, State.PLAN_APPROVED, State.EXTRACTING,
    State.STAGED, State.LOADING, State.LOADED, State.RECONCILED,
)

RULES: dict[Step, Rule] = {
    Step.VERIFY_MANDATE: Rule((State.DRAFT,), State.MANDATE_SIGNED, "processor", "a draft"),
    Step.PLAN: Rule((State.MANDATE_SIGNED, State.PLANNED), State.PLANNED, "processor", "signed (its mandate verified)"),
    Step.APPROVE_PLAN: Rule((State.PLANNED,), State.PLAN_APPROVED, "controller", "planned"),
    Step.EXTRACT: Rule((State.PLAN_APPROVED, State.EXTRACTING), State.EXTRACTING, "processor", "plan-approved by the controller"),
    Step.FINISH_EXTRACT: Rule((State.EXTRACTING,), State.STAGED, "processor", "extracting"),
    Step.LOAD: Rule((State.STAGED, State.LOADING), State.LOADING, "processor", "staged"),
    Step.FINISH_LOAD: Rule((State.LOADING,), State.LOADED, "processor", "loading"),
    Step.RECONCILE: Rule((State.LOADED, State.RECONCILED), State.RECONCILED, "processor", "loaded"),
    Step.ACCEPT: Rule((State.RECONCILED,), State.ACCEPTED, "controller", "reconciled"),
    Step.PURGE: Rule((State.ACCEPTED, State.ABORTED, State.FAILED), State.PURGED, "any", "accepted, aborted or failed"),
    Step.ABORT: Rule(_BEFORE_ACCEPTANCE, State.ABORTED, "any", "not yet accepted"),
    Step.FAIL: Rule((State.EXTRACTING, State.LOADING, State.STAGED, State.LOADED, State.RECONCILED), State.FAILED, "any", "running"),
}


class StepRefused(AirlockError):
    """A step the procedure does not allow now, or not to this actor."""


def check(step: Step, state: State, actor: Actor, *, operator_key: str | None) -> State:
    """The state ``step`` leads to, or StepRefused saying what is missing."""
    rule = RULES[step]
    if state not in rule.sources:
        raise StepRefused(f"cannot {step.value}: the run is {state.value.replace('_', ' ')}; it must be {rule.needs} first")
    if rule.role != "any" and actor.role != rule.role:
        raise StepRefused(f"cannot {step.value}: only the {rule.role} may, and {actor.name} acts as {actor.role}")
    if rule.role == "controller" and operator_key is not None and actor.key_id == operator_key:
        raise StepRefused(f"cannot {step.value}: {actor.name} operated this run; approval needs a second person (four eyes)")
    return rule.target
