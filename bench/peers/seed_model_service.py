"""Seed-architecture model service: FastAPI + scikit-learn ``predict_proba``, one row per request.

This is the design the reference Snowflake quickstart describes, written plainly (no deliberate
slowness): a separate FastAPI app that loads the scikit-learn estimator and answers
``{"probability": p}`` for ``{"features": [...]}``.

Run: ``python -m bench.peers.seed_model_service --estimator PATH --port 5100``.
"""

from __future__ import annotations

import argparse

import joblib
import numpy as np
import uvicorn
from fastapi import FastAPI
from pydantic import BaseModel


class Features(BaseModel):
    features: list[float]


def create_app(estimator_path: str) -> FastAPI:
    estimator = joblib.load(estimator_path)
    app = FastAPI()

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/predict")
    def predict(body: Features) -> dict[str, float]:
        proba = estimator.predict_proba(np.asarray([body.features], dtype=np.float64))
        return {"probability": float(proba[0, 1])}

    return app


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--estimator", required=True)
    parser.add_argument("--port", type=int, default=5100)
    args = parser.parse_args()
    uvicorn.run(create_app(args.estimator), host="127.0.0.1", port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
