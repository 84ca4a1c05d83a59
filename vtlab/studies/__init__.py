"""Seeded studies of the paper's claims at CPU scale: training runs of a compact VT model, its ablations and its
convolutional baseline, and the small JSON files that keep their results.

The paper trains VT-ResNet-18/34 on ImageNet (Table 1: VT-ResNet against ResNet; Table 3: 90 epochs per
ablation). Here each variant of ``vt_resnet_mini`` (:data:`VARIANTS`: the base model and Table 3's -TF, -PE,
-DT) and the baseline ``resnet_mini`` (``"baseline"``) is trained with vtlab's engine on small offline data
(the generated ``shapes`` scenes, scikit-learn's ``digits``), once per seed, long enough to reach a plateau; the
same machinery compares ``vt_fpn_resnet_mini`` with ``fpn_resnet_mini`` on the ``shapes`` masks (mIoU).

- :mod:`~vtlab.studies.settings`: what a study trains (:class:`StudySettings`) and the shipped studies
  (:data:`STUDIES`);
- :mod:`~vtlab.studies.runner`: training them, resumably (:func:`run_study`);
- :mod:`~vtlab.studies.study`: the :class:`Study` that callers read (costs, runs, curves, paired differences);
- :mod:`~vtlab.studies.store`: the file format, :func:`save_study`, :func:`read_study` and :func:`load_study`;
- :mod:`~vtlab.studies.summary`: per-variant summaries over the seeds and the yardsticks of noise.
"""

from .runner import run_one, run_study, study_config, variant_cost
from .settings import (
    BASE,
    BASELINE,
    CLASSIFY,
    CONTROLS,
    CURVES,
    SEEDS,
    STUDIES,
    STUDY_DIR,
    TOKEN_KEYS,
    VARIANTS,
    StudySettings,
    variant_model,
)
from .store import load_study, parse_study, read_study, save_study, study_text
from .study import FORMAT, BlockTokens, Environment, Run, Study, Validation, VariantCost
from .summary import VariantSummary, binomial_stderr, direction, late_gain, summarize, t_quantile

__all__ = ["BASE", "BASELINE", "CLASSIFY", "CONTROLS", "CURVES", "FORMAT", "SEEDS", "STUDIES", "STUDY_DIR",
           "TOKEN_KEYS", "VARIANTS", "BlockTokens", "Environment", "Run", "Study", "StudySettings", "Validation",
           "VariantCost", "VariantSummary", "binomial_stderr", "direction", "late_gain", "load_study", "parse_study",
           "read_study", "run_one", "run_study", "save_study", "study_config", "study_text", "summarize",
           "t_quantile", "variant_cost", "variant_model"]
