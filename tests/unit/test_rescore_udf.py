"""The vectorized UDF handler (adapters/snowflake/udf_rescore.py) on local pandas batches: same
scores as the library, bad rows answered in place, the model loaded once per process from the import
directory, nothing heavy imported, and (slow) importable straight from the built wheel as Snowflake
does it."""

from __future__ import annotations

import datetime as dt
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from test_rescore_support import AS_OF, settings_for, train_versions

import riskscore
from riskscore.adapters.snowflake import udf_rescore
from riskscore.adapters.snowflake.udf_rescore import (
    IMPORT_DIRECTORY_ENV,
    UdfSetupError,
    load_scorer,
    rescore_frame,
)
from riskscore.adapters.synthetic import generate
from riskscore.domain.usecases.rescore import RescorePolicies, RescoreResult
from riskscore.settings import Settings

pd = pytest.importorskip("pandas")
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    settings = settings_for(tmp_path_factory.mktemp("data"))
    train_versions(settings, 2)
    return settings


@pytest.fixture(scope="module")
def imports(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The UDF's import directory as deploy/rescore-udf.md builds it: V2's model and metadata."""
    directory = tmp_path_factory.mktemp("imports")
    version = settings.registry_dir / settings.model_name / "V2"
    for name in ("model.npz", "metadata.json"):
        shutil.copy(version / name, directory / name)
    return directory


@pytest.fixture(scope="module")
def scorer(imports: Path) -> RescorePolicies:
    return load_scorer(imports)


def test_scores_equal_the_library_path(scorer: RescorePolicies, settings: Settings) -> None:
    apps = list(generate(12, 4, as_of=AS_OF))
    frame = pd.DataFrame(
        {0: [a.mib_xml for a in apps], 1: [a.rx_xml for a in apps], 2: [pd.Timestamp(AS_OF)] * 12}
    )
    values = rescore_frame(frame, scorer)
    expected = [
        o.risk_score
        for o in riskscore.rescore(
            [
                {
                    "policy_number": a.policy_number,
                    "mib_xml": a.mib_xml,
                    "rx_xml": a.rx_xml,
                    "as_of": a.as_of,
                }
                for a in apps
            ],
            model_version="V2",
            settings=settings,
            workers=1,
        )
        if isinstance(o, RescoreResult)
    ]
    assert [v["risk_score"] for v in values] == expected
    first = values.iloc[0]
    assert set(first) == {
        "risk_score",
        "risk_class",
        "model_name",
        "model_version",
        "feature_schema_version",
        "reason_codes",
        "error",
    }
    assert (first["model_name"], first["model_version"], first["error"]) == (
        "EVIDENCE_RISK_MODEL",
        "V2",
        None,
    )
    assert len(first["reason_codes"]) == 3


def test_bad_rows_are_answered_in_place_and_the_batch_goes_on(scorer: RescorePolicies) -> None:
    app = next(generate(1, 4, as_of=AS_OF))
    frame = pd.DataFrame(
        {
            0: [app.mib_xml, "<Response><broken>", None, app.mib_xml, app.mib_xml],
            1: [app.rx_xml, "<r/>", "<r/>", app.rx_xml, app.rx_xml],
            2: [pd.Timestamp(AS_OF), None, None, "not a date", pd.NaT],
        },
        index=[10, 11, 12, 13, 14],
    )
    values = rescore_frame(frame, scorer)
    assert list(values.index) == [10, 11, 12, 13, 14]
    errors = [None if v["error"] is None else v["error"]["type"] for v in values]
    assert errors == [None, "malformed-evidence", "missing-evidence", "invalid-input-row", None]
    assert values[11]["risk_score"] is None
    assert values[11]["model_version"] == "V2"
    assert "broken" not in str(values[11]["error"])  # never quotes evidence


def test_two_columns_score_as_of_today_and_dates_move_the_features(
    scorer: RescorePolicies,
) -> None:
    app = next(generate(1, 6, as_of=AS_OF))
    two = rescore_frame(pd.DataFrame({0: [app.mib_xml], 1: [app.rx_xml]}), scorer)
    assert two.iloc[0]["error"] is None
    dated = pd.DataFrame(
        {
            0: [app.mib_xml] * 3,
            1: [app.rx_xml] * 3,
            2: [AS_OF, "2026-01-01", dt.datetime(2026, 1, 1, 12, 0)],
        }
    )
    scores = {v["risk_score"] for v in rescore_frame(dated, scorer)}
    assert len(scores) == 1  # a date, its ISO text and a timestamp that day agree


def test_the_model_is_loaded_once_per_process_from_the_import_directory(
    imports: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(IMPORT_DIRECTORY_ENV, str(imports))
    monkeypatch.setattr(udf_rescore, "_scorer", None)
    frame = pd.DataFrame({0: ["<r/>"], 1: ["<r/>"]})
    rescore_frame(frame)
    loaded = udf_rescore._scorer
    assert loaded is not None
    rescore_frame(frame)
    assert udf_rescore._scorer is loaded


def test_missing_imports_are_a_setup_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(UdfSetupError, match=r"metadata\.json"):
        load_scorer(tmp_path)
    monkeypatch.delenv(IMPORT_DIRECTORY_ENV, raising=False)
    with pytest.raises(UdfSetupError, match="import directory"):
        udf_rescore.import_directory()


@pytest.mark.slow
def test_the_handler_imports_nothing_a_warehouse_lacks(imports: Path) -> None:
    code = textwrap.dedent(
        f"""
        import sys
        import pandas
        from riskscore.adapters.snowflake.udf_rescore import load_scorer, rescore_frame
        values = rescore_frame(pandas.DataFrame({{0: ["<r/>"], 1: ["<r/>"]}}), load_scorer(__import__("pathlib").Path({str(imports)!r})))
        assert values.iloc[0]["error"] is None
        heavy = {{"structlog", "litestar", "httpx", "sqlite3", "dependency_injector", "sklearn",
                 "snowflake.connector", "uvicorn", "riskscore.container", "riskscore.settings"}}
        loaded = sorted(heavy & set(sys.modules))
        assert not loaded, loaded
        """
    )
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The package wheel, built from a copy of the project (no build files in the working tree)."""
    project = tmp_path_factory.mktemp("project")
    shutil.copytree(
        ROOT / "src", project / "src", ignore=shutil.ignore_patterns("*.egg-info", "__pycache__")
    )
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, project / name)
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(out),
            str(project),
        ],
        check=True,
        capture_output=True,
    )
    (built,) = out.glob("riskscore-*.whl")
    return built


@pytest.mark.slow
def test_the_handler_runs_from_the_wheel_as_the_udf_imports_it(wheel: Path, imports: Path) -> None:
    # The inline body of deploy/sql/10_rescore_udf.sql, minus _snowflake: the wheel goes first on
    # sys.path and the editable install is masked, so only the wheel's code and data can be used.
    for name in ("model.npz", "metadata.json"):
        shutil.copy(imports / name, wheel.parent / name)
    wheel_name = wheel.name
    code = textwrap.dedent(
        f"""
        import os, sys
        sys.path = [p for p in sys.path if "/work/" not in p or "site-packages" in p]
        sys.meta_path = [f for f in sys.meta_path if "editable" not in type(f).__module__.lower()]
        sys._xoptions["snowflake_import_directory"] = {str(wheel.parent)!r}
        sys.path.insert(0, os.path.join(sys._xoptions["snowflake_import_directory"], {wheel_name!r}))
        import pandas
        from riskscore.adapters.snowflake.udf_rescore import rescore_frame
        import riskscore
        assert riskscore.__file__.startswith(os.path.join({str(wheel.parent)!r}, {wheel_name!r})), riskscore.__file__
        values = rescore_frame(pandas.DataFrame({{0: ["<r/>", "<bad"], 1: ["<r/>", "<r/>"]}}))
        assert values.iloc[0]["model_version"] == "V2" and values.iloc[0]["error"] is None
        assert values.iloc[1]["error"]["type"] == "malformed-evidence"
        """
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=wheel.parent)
