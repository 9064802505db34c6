"""riskscore's compiled ensemble as a snowflake-ml ``CustomModel`` (imported only to log a model).

The class is shipped to Snowflake with the riskscore package (``code_paths``) and runs inside the
inference service Snowflake builds: ``predict_proba`` takes one DOUBLE column per feature in schema
order and answers ``output_feature_0`` = P(class 0) and ``output_feature_1`` = P(class 1), the columns
riskscore's own model service answers, so the httpx model client reads either.

No ``from __future__ import annotations`` here: snowflake-ml inspects the method's annotations at run
time and needs the real ``pandas.DataFrame`` objects, not strings.
"""

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd  # type: ignore[import-untyped]
from snowflake.ml.model import custom_model, model_signature

MODEL_ARTIFACT = "ensemble"


class RiskScoreCustomModel(custom_model.CustomModel):  # type: ignore[misc]
    def __init__(self, context: custom_model.ModelContext) -> None:
        super().__init__(context)
        from riskscore.adapters.treemodel.predictor import TreeEnsembleModel

        self._model = TreeEnsembleModel.load(Path(context.path(MODEL_ARTIFACT)))

    @custom_model.inference_api  # type: ignore[untyped-decorator]
    def predict_proba(self, X: pd.DataFrame) -> pd.DataFrame:
        matrix = X.to_numpy(dtype=np.float64)
        positive = self._model.predict_proba(matrix)
        return pd.DataFrame({"output_feature_0": 1.0 - positive, "output_feature_1": positive})


def build_custom_model(model_file: Path) -> Any:
    context = custom_model.ModelContext(artifacts={MODEL_ARTIFACT: str(model_file)})
    return RiskScoreCustomModel(context)


def build_signature(inputs: Sequence[str], outputs: Sequence[str]) -> Any:
    double = model_signature.DataType.DOUBLE
    return model_signature.ModelSignature(
        inputs=[model_signature.FeatureSpec(name=name, dtype=double) for name in inputs],
        outputs=[model_signature.FeatureSpec(name=name, dtype=double) for name in outputs],
    )
