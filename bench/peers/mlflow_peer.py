"""MLflow's scoring server as the peer of riskscore's model service.

MLflow lives in its own virtual environment (``bench/.venv-mlflow``) so that its pins never touch
riskscore's. The same scikit-learn estimator riskscore registered is saved as an MLflow model with
``pyfunc_predict_fn="predict_proba"`` and served by ``mlflow models serve --env-manager local``
(one worker), answering ``POST /invocations``.

MLflow 3 saves scikit-learn models with skops, which refuses the tree node arrays of a
``HistGradientBoostingClassifier`` unless told to trust them; the estimator is our own, just trained
by the harness, so its types are passed as ``skops_trusted_types``. The saved copy also carries the
feature names (see ``save_model``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
VENV = ROOT / "bench" / ".venv-mlflow"
PY = VENV / "bin" / "python"

_SAVE = """
import json, sys, joblib, mlflow.sklearn, numpy, skops.io
est = joblib.load(sys.argv[1])
if len(sys.argv) > 3:
    est.feature_names_in_ = numpy.array(json.loads(open(sys.argv[3]).read()), dtype=object)
trusted = skops.io.get_untrusted_types(data=skops.io.dumps(est))
mlflow.sklearn.save_model(
    est, sys.argv[2], pyfunc_predict_fn="predict_proba", skops_trusted_types=trusted
)
"""


def ensure_venv() -> Path:
    """Create the MLflow environment once (same scikit-learn version as riskscore's)."""
    if PY.exists():
        return PY
    import sklearn

    subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    subprocess.run([str(PY), "-m", "pip", "install", "-q", "uv"], check=True)
    subprocess.run(
        [
            str(VENV / "bin" / "uv"),
            "pip",
            "install",
            "--python",
            str(PY),
            "-q",
            "mlflow",
            f"scikit-learn=={sklearn.__version__}",
        ],
        check=True,
    )
    return PY


def save_model(
    estimator_path: Path, out_dir: Path, feature_names: Sequence[str] | None = None
) -> Path:
    """Save the joblib estimator at ``estimator_path`` as an MLflow model directory ``out_dir``.

    With ``feature_names`` the saved copy carries them as ``feature_names_in_``, as if it had been
    fitted on a DataFrame (what an MLflow user does): scikit-learn then checks the request's columns
    against them instead of warning on every call that the model was fitted without names. The
    trees, and so the answers, are unchanged.
    """
    argv = [str(PY), "-c", _SAVE, str(estimator_path), str(out_dir)]
    if feature_names is not None:
        names = out_dir.parent / f"{out_dir.name}-feature-names.json"
        names.write_text(json.dumps(list(feature_names)))
        argv.append(str(names))
    subprocess.run(argv, check=True, capture_output=True, timeout=300)
    return out_dir


def server_argv(model_dir: Path, port: int) -> list[str]:
    return [
        str(VENV / "bin" / "mlflow"),
        "models",
        "serve",
        "-m",
        str(model_dir),
        "--env-manager",
        "local",
        "--host",
        "127.0.0.1",
        "-p",
        str(port),
        "--workers",
        "1",
    ]


def server_env(model_dir: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = f"{VENV / 'bin'}:{env.get('PATH', '')}"
    env["MLFLOW_TRACKING_URI"] = f"file://{model_dir.parent / 'mlruns'}"
    return env


def start_server(model_dir: Path, port: int, log_path: Path) -> subprocess.Popen[bytes]:
    """Start the scoring server (the harness uses ``server_argv``/``server_env`` with its own runner)."""
    with log_path.open("wb") as log:
        return subprocess.Popen(
            server_argv(model_dir, port),
            stdout=log,
            stderr=subprocess.STDOUT,
            env=server_env(model_dir),
            start_new_session=True,
        )
