"""``vtlab reproduce`` at toy size: both parts run and the report carries the numbers they computed."""

import re

from vtlab.reproduce import PAIR, reproduce


def test_reproduce_writes_report_and_figure(tmp_path):
    report = reproduce(tmp_path, epochs=1, train_size=32, progress=False)
    text = report.read_text()
    assert "Table 1" in text and "Section 3.2" in text
    for name in PAIR:
        row = next(line for line in text.splitlines() if line.startswith(f"| {name} |"))
        accuracy = float(row.split("|")[2])
        assert 0 <= accuracy <= 1
        assert (tmp_path / name / "metrics.csv").exists()
    assert re.search(r"VT-ResNet vs ResNet here: [+-]\d+\.\d points", text)
    figure = (tmp_path / "figure.html").read_text()
    # self-contained, opens offline: plotly.js is inlined, no script is fetched from elsewhere
    assert len(figure) > 1_000_000 and not re.search(r"<script[^>]*\bsrc=", figure)
    # a second call reuses the finished runs instead of training again
    assert reproduce(tmp_path, epochs=1, train_size=32, progress=False).read_text().count("| vt_resnet_mini |") == 1
