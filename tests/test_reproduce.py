"""``vtlab reproduce`` at toy size: all three parts run and the report carries the numbers they computed."""

import re

from vtlab.reproduce import PAIR, SEGMENTATION_PAIR, reproduce

TOY = {"epochs": 1, "train_size": 32, "segmentation_epochs": 1, "segmentation_train_size": 32, "progress": False,
       "tables": ["1", "3.2"]}  # Table 4 is tested in test_fpn.py: counting it at full size takes a while


def test_reproduce_writes_report_and_figure(tmp_path):
    report = reproduce(tmp_path, **TOY)
    text = report.read_text()
    assert "Table 1" in text and "Section 3.2" in text
    for name in PAIR:
        row = next(line for line in text.splitlines() if line.startswith(f"| {name} |"))
        accuracy = float(row.split("|")[2])
        assert 0 <= accuracy <= 1
        assert (tmp_path / name / "metrics.csv").exists()
    for name in SEGMENTATION_PAIR:
        row = next(line for line in text.splitlines() if line.startswith(f"| {name} |"))
        miou, pixel_acc = float(row.split("|")[2]), float(row.split("|")[3])
        assert 0 <= miou <= 1 and 0 <= pixel_acc <= 1
        assert "val_miou" in (tmp_path / name / "metrics.csv").read_text()
    assert re.search(r"VT-ResNet vs ResNet here: [+-]\d+\.\d points", text)
    assert re.search(r"VT-FPN vs FPN here: [+-]\d+\.\d points of mIoU, \d+\.\d\dx fewer neck MACs", text)
    figure = (tmp_path / "figure.html").read_text()
    # self-contained, opens offline: plotly.js is inlined, no script is fetched from elsewhere
    assert len(figure) > 1_000_000 and not re.search(r"<script[^>]*\bsrc=", figure)
    assert "val_miou" in figure
    # a second call reuses the finished runs instead of training again
    assert reproduce(tmp_path, **TOY).read_text().count("| vt_fpn_resnet_mini |") == 1
