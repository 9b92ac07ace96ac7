"""Write an export's evidence: what evaluation saw, the run's history, and importances.

Evaluation fills an :class:`EvidenceCollector` as it goes (a confusion matrix, or a
regressor's predictions; a binary head's curves come from the scores its AUC already keeps)
and leaves the result in ``model_dir/last_evaluation.json``; export reads that record (or the
estimator's own in memory), the training history from the run's TensorBoard event files, and
the model's importances where it has them, and writes ``evidence.json``
(:mod:`mlengine.export.evidence` holds its layout and its reader).

Under torchrun a binary head's curves cover every rank's examples (its scores are gathered
for the AUC); a multi-class confusion matrix and a regressor's deciles cover the chief's share.

The cost is kept small: one extra sort of the scores per evaluation (the AUC sorts them too),
a few kilobytes of JSON per evaluation and per export, and one read of the event files per
export.

Modules:

* ``collector``: ``EvidenceCollector``: what one evaluation records, batch by batch
* ``curves``: a binary head's ROC, PR, calibration and confusion; a regressor's deciles
* ``history``: the run's training and evaluation scalars, from its event files
* ``instances``: the first complete rows of a batch as JSON instances
* ``last_evaluation``: the run's last evaluation record, kept in ``model_dir``
* ``member``: importances, and the evidence assembled, trimmed and encoded as the member
"""

from mlengine.export.evidence import MEMBER
from mlengine.training.evidence.collector import EvidenceCollector, finite_metrics
from mlengine.training.evidence.curves import (
    BINARY_THRESHOLD,
    binary_curves,
    downsample,
    residual_deciles,
)
from mlengine.training.evidence.history import read_history, read_scalars
from mlengine.training.evidence.instances import first_instances
from mlengine.training.evidence.last_evaluation import (
    LAST_EVALUATION_FILE,
    load_last_evaluation,
    save_last_evaluation,
)
from mlengine.training.evidence.member import (
    build_evidence,
    encode_evidence,
    evidence_member,
    importances_from,
    linear_importances,
)

__all__ = [
    "BINARY_THRESHOLD",
    "EvidenceCollector",
    "LAST_EVALUATION_FILE",
    "MEMBER",
    "binary_curves",
    "build_evidence",
    "downsample",
    "encode_evidence",
    "evidence_member",
    "finite_metrics",
    "first_instances",
    "importances_from",
    "linear_importances",
    "load_last_evaluation",
    "read_history",
    "read_scalars",
    "residual_deciles",
    "save_last_evaluation",
]
