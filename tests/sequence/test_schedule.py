import math

import pytest

from heedful.sequence import TeacherForcingSchedule


def test_schedules_decay_from_start_to_floor():
    lin = TeacherForcingSchedule("linear", k=100, floor=0.1)
    assert lin(0) == 1.0 and lin(50) == pytest.approx(0.5) and lin(1000) == 0.1
    exp = TeacherForcingSchedule("exponential", k=0.9)
    assert exp(2) == pytest.approx(0.81)
    inv = TeacherForcingSchedule("inverse_sigmoid", k=10)
    assert inv(0) == pytest.approx(10 / 11) and inv(100) == pytest.approx(10 / (10 + math.exp(10)))
    assert inv(10**9) < 1e-300  # no overflow
    assert TeacherForcingSchedule("constant", start=0.7)(10**6) == 0.7


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"kind": "cosine"}, "unknown teacher-forcing schedule 'cosine'"),
        ({"kind": "exponential", "k": 2}, "0 < k < 1"),
        ({"floor": 0.5, "start": 0.2}, "floor <= start"),
    ],
)
def test_bad_schedule(kwargs, message):
    with pytest.raises(ValueError, match=message):
        TeacherForcingSchedule(**kwargs)
