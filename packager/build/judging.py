"""The build's one judge (packager.runtime.judge), made once from what the build knows: the measuring
data, the task's scorer (a detector's boxes, else the output roles and kinds), the float model."""

from __future__ import annotations

from packager.build.stages import Prepared
from packager.quant.engines import FLOAT
from packager.runtime.judge import Judge


def measuring_data(prepared: Prepared):
    """What every model of the build is measured on, and what it is: the evaluation data, else seeded
    random inputs (agreement and errors only), as the table and auto always were."""
    if prepared.loading is not None:
        return prepared.eval_rows, "evaluation data"
    return prepared.stand_in, "seeded random inputs"


def make_judge(prepared: Prepared, name: str = FLOAT, quant: str = "fp32", rows=None, data: str | None = None) -> Judge:
    """The build's judge (on `rows` instead of the measuring data when given: the held-out calibration samples
    that judge the engine choice when there is no evaluation data)."""
    c, facts = prepared.converted, prepared.facts
    rows, data = (rows, data or "given rows") if rows is not None else measuring_data(prepared)
    labels = prepared.eval_labels if data == "evaluation data" else None
    score = c.task.scorer(labels, facts.num_classes, facts.roles, prepared.truth)  # a detector: by its detections, everywhere
    engine = "tf-converter" if c.converter else "none"
    return Judge(c.float_model, rows, score, finish=c.task.finish, name=name, quant=quant, engine=engine, data=data)
