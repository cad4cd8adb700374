"""The server-drawn charts: a value axis with round values, labels that do not overlap."""

from __future__ import annotations

import re

from webadmin.charts import bar_chart, nice_step


def test_the_axis_steps_are_round_numbers():
    assert nice_step(0) == 1
    assert nice_step(9) == 5
    assert nice_step(1_234_000) == 500_000
    assert nice_step(40) == 10


def test_a_chart_writes_its_axis_values_and_only_labels_that_fit():
    points = [(f"{day} Des", day * 1000) for day in range(1, 31)]
    svg = str(bar_chart(points, title="t", axis_label=lambda v: f"Rp{v}", every=1))
    axis = re.findall(r'<text class="tick value"[^>]*>([^<]*)<', svg)
    assert axis == ["Rp0", "Rp10000", "Rp20000", "Rp30000"]
    labels = re.findall(r'<text class="tick" [^>]*>([^<]*)<', svg)
    assert labels[0] == "1 Des" and 5 <= len(labels) < 30
    assert svg.count('<rect class="bar"') == 30
