"""The labs stepped on two hosts: the kernel state shown at every pause against each
host's ``ss`` (read in its own network namespace), and every predict-mode answer against
the run's facts - the same checks as the loopback ones (``test_kernel_states``,
``test_quiz_answers``), each lab in a process of its own."""

from __future__ import annotations

import pytest

from sockviz.engine.scenarios import REGISTRY
from tests.conftest import IPV6
from tests.helpers import two_hosts_here
from tests.witness.witnesses import labs_checked, need, no_mismatch

FAMS = ("ipv4", "ipv6") if IPV6 else ("ipv4",)
LABS = [
    name for name, scenario in REGISTRY.items() if scenario.link is not None and name != "slow-link"
]
"""(slow-link's lesson is a transfer's window; its calls ask what tcp-echo's do)"""


@need("ss", "nsenter")
@pytest.mark.skipif(not two_hosts_here(), reason="two hosts cannot be made here")
@pytest.mark.parametrize("family", FAMS)
def test_every_lab_step_against_each_hosts_ss_and_the_wire(family):
    problems = labs_checked([(name, family) for name in LABS])
    no_mismatch(problems)
