"""Seed-architecture API: FastAPI on uvicorn, lxml parsing, httpx to a separate model service,
features and prediction written to SQLite in a ``BackgroundTasks`` task.

It parses with the same lxml-based parser and computes the same features as riskscore (domain code),
so that both systems return the same score for the same input and the comparison isolates the serving
architecture. Run: ``python -m bench.peers.seed_api --model-url URL --db PATH --port 8100``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sqlite3
import time
import uuid

import httpx
import uvicorn
from fastapi import BackgroundTasks, FastAPI
from pydantic import BaseModel

from riskscore.adapters.lxml import LxmlEvidenceParser
from riskscore.domain.features.extract import extract_features

AS_OF = dt.date(2026, 1, 1)


class ScoreRequest(BaseModel):
    policy_number: str
    mib_xml: str
    rx_xml: str
    as_of: dt.date | None = None


def _write(db: str, prediction_id: str, policy: str, features: list[float], score: float) -> None:
    conn = sqlite3.connect(db)
    try:
        conn.execute(
            "INSERT INTO features (prediction_id, policy_number, features) VALUES (?, ?, ?)",
            (prediction_id, policy, json.dumps(features)),
        )
        conn.execute(
            "INSERT INTO predictions (prediction_id, policy_number, prediction, score_date)"
            " VALUES (?, ?, ?, ?)",
            (prediction_id, policy, score, dt.datetime.now(dt.UTC).isoformat()),
        )
        conn.commit()
    finally:
        conn.close()


def create_app(model_url: str, db: str) -> FastAPI:
    conn = sqlite3.connect(db)
    conn.execute(
        "CREATE TABLE IF NOT EXISTS features (prediction_id TEXT PRIMARY KEY, policy_number TEXT,"
        " features TEXT)"
    )
    conn.execute(
        "CREATE TABLE IF NOT EXISTS predictions (prediction_id TEXT PRIMARY KEY,"
        " policy_number TEXT, prediction REAL, score_date TEXT)"
    )
    conn.commit()
    conn.close()
    parser = LxmlEvidenceParser()
    client = httpx.AsyncClient(base_url=model_url, timeout=10.0)
    app = FastAPI()

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/v1/score")
    async def score(body: ScoreRequest, background: BackgroundTasks) -> dict[str, object]:
        started = time.perf_counter()
        evidence = parser.parse(body.policy_number, body.mib_xml, body.rx_xml)
        vector = extract_features(evidence, body.as_of or AS_OF)
        features = list(vector.values)
        response = await client.post("/predict", json={"features": features})
        probability = float(response.json()["probability"])
        prediction_id = str(uuid.uuid4())
        background.add_task(_write, db, prediction_id, body.policy_number, features, probability)
        return {
            "prediction_id": prediction_id,
            "policy_number": body.policy_number,
            "risk_score": probability,
            "total_ms": (time.perf_counter() - started) * 1000,
        }

    return app


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model-url", required=True)
    parser.add_argument("--db", required=True)
    parser.add_argument("--port", type=int, default=8100)
    args = parser.parse_args()
    uvicorn.run(
        create_app(args.model_url, args.db), host="127.0.0.1", port=args.port, log_level="warning"
    )


if __name__ == "__main__":
    main()
