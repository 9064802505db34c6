"""MLflow's scoring server as the peer of riskscore's model service.

MLflow lives in its own virtual environment (``bench/.venv-mlflow``) so that its pins never touch
riskscore's. The same scikit-learn estimator riskscore registered is saved as an MLflow model with
``pyfunc_predict_fn="predict_proba"`` and served by ``mlflow models serve --env-manager local``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
VENV = ROOT / "bench" / ".venv-mlflow"
PY = VENV / "bin" / "python"

_SAVE = """
import sys, joblib, mlflow.sklearn
est = joblib.load(sys.argv[1])
mlflow.sklearn.save_model(est, sys.argv[2], pyfunc_predict_fn="predict_proba")
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


def save_model(estimator_path: Path, out_dir: Path) -> Path:
    subprocess.run([str(PY), "-c", _SAVE, str(estimator_path), str(out_dir)], check=True)
    return out_dir


def start_server(model_dir: Path, port: int, log_path: Path) -> subprocess.Popen[bytes]:
    env = dict(os.environ)
    env["PATH"] = f"{VENV / 'bin'}:{env.get('PATH', '')}"
    env["MLFLOW_TRACKING_URI"] = f"file://{model_dir.parent / 'mlruns'}"
    log = log_path.open("wb")
    return subprocess.Popen(
        [
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
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
    )
