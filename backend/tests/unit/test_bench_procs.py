"""The benchmark's CPU accounting: per backend, the registry stand-in's apart, ended ones told."""

from __future__ import annotations

import pytest

from huiminbao_bench.enrollment import cpu_per_request
from huiminbao_bench.procs import CpuSample, between


def test_each_backend_counts_from_the_first_sample_or_its_start() -> None:
    before = CpuSample(server=10.0, backends={1: 2.0, 2: 5.0, 3: 1.0}, machine_busy=100.0,
                       machine_total=400.0)
    # 1 and 2 worked, 3 ended (its CPU left with it), 4 connected meanwhile, 5 is the stand-in's.
    after = CpuSample(server=13.0, backends={1: 2.5, 2: 6.0, 4: 0.25, 5: 0.75},
                      machine_busy=106.0, machine_total=408.0)
    use = between(before, after, wall=2.0, loadgen=0.5, registry_pids={5})
    assert use.server == pytest.approx(3.0)
    assert use.database == pytest.approx(0.5 + 1.0 + 0.25)
    assert use.registry_database == pytest.approx(0.75)
    assert use.backends_ended == 1
    assert use.other == pytest.approx(6.0 - 3.0 - 1.75 - 0.75 - 0.5)
    assert use.cores == pytest.approx(4.0)


def test_cpu_per_request_is_app_and_its_database_per_answer() -> None:
    sample = CpuSample(server=0.0, backends={}, machine_busy=0.0, machine_total=0.0)
    use = between(sample, CpuSample(server=2.0, backends={7: 0.5, 8: 9.0}, machine_busy=12.0,
                                    machine_total=20.0), wall=10.0, loadgen=0.1,
                  registry_pids={8})
    assert cpu_per_request(use, 100) == pytest.approx(25.0)  # (2.0 + 0.5) s / 100, in ms
    assert cpu_per_request(use, 0) == 0.0
