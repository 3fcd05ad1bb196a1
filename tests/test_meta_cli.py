"""The ``research meta`` and ``research effect-sizes`` commands: JSON contract, errors, files."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from research.cli import main
from research.meta.conformance import assert_matches

REFERENCE = Path(__file__).parent / "reference"
BCG = REFERENCE / "data" / "bcg.csv"
CONTRACT = ["k", "estimate", "se", "ci_low", "ci_high", "pi_low", "pi_high", "tau2", "tau2_ci_low", "tau2_ci_high",
            "i2", "h2", "q", "q_p"]


def _reference_fit(name: str, method: str, test: str, mods: list[str]) -> dict:
    ref = json.loads((REFERENCE / f"{name}.json").read_text())
    for case in ref["fits"]:
        if case["method"] == method and case["test"] == test and case["mods"] == mods:
            return case["expected"]
    raise LookupError((name, method, test, mods))


def _run_json(capsys, *args: str) -> dict:
    code = main(["meta", *args, "--json"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    return json.loads(captured.out)


@pytest.mark.parametrize(
    ("method", "test", "mods"),
    [("REML", "z", []), ("DL", "hksj", []), ("PM", "z", []), ("REML", "hksj", ["ablat"]), ("DL", "z", ["ablat", "year"])],
)
def test_meta_json_contract_matches_metafor(capsys, method, test, mods):
    args = [str(BCG), "--yi", "yi", "--vi", "vi", "--method", method, "--test", test]
    if mods:
        args += ["--mods", ",".join(mods)]
    result = _run_json(capsys, *args)
    assert set(CONTRACT) <= set(result)
    expected = _reference_fit("bcg", method, test, mods)
    assert_matches({k: result[k] for k in CONTRACT}, {k: expected[k] for k in CONTRACT})
    if mods:
        assert [c["name"] for c in result["coefficients"]] == ["intercept", *mods]
        assert_matches(result["coefficients"], [{k: c[k] for k in ("name", "estimate", "se")} for c in expected["coefficients"]])
        assert_matches({"qm": result["qm"], "r2": result["r2"]}, {"qm": expected["qm"], "r2": expected["r2"]})
    else:
        assert "coefficients" not in result


def test_meta_json_bias_block_matches_metafor(capsys):
    result = _run_json(capsys, str(BCG), "--yi", "yi", "--vi", "vi", "--bias")
    bias = json.loads((REFERENCE / "bcg.json").read_text())["bias"]
    assert_matches(result["egger"], {"z": bias["egger"]["z"], "p": bias["egger"]["p"]})
    assert_matches(result["trimfill"], {k: bias["trimfill"][k] for k in ("k0", "side", "estimate")})


def test_meta_accepts_standard_errors_instead_of_variances(capsys, tmp_path):
    data = pd.read_csv(BCG)
    data["sei"] = data["vi"] ** 0.5
    path = tmp_path / "bcg_se.csv"
    data.to_csv(path, index=False, float_format="%.17g")
    with_se = _run_json(capsys, str(path), "--yi", "yi", "--sei", "sei")
    with_vi = _run_json(capsys, str(BCG), "--yi", "yi", "--vi", "vi")
    assert_matches(with_se, {k: with_vi[k] for k in CONTRACT}, rtol=1e-12)


def test_meta_text_output_and_plot_files(capsys, tmp_path):
    forest, funnel = tmp_path / "forest.png", tmp_path / "funnel.svg"
    code = main(["meta", str(BCG), "--yi", "yi", "--vi", "vi", "--bias", "--ratio",
                 "--forest", str(forest), "--funnel", str(funnel)])
    text = capsys.readouterr().out
    assert code == 0
    assert "Random-effects model (k = 13; tau2 estimator: REML" in text
    assert "Trim-and-fill: 1 study(ies) imputed on the right" in text
    assert forest.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "<svg" in funnel.read_text()


def _write(tmp_path: Path, frame: pd.DataFrame) -> str:
    path = tmp_path / "input.csv"
    frame.to_csv(path, index=False)
    return str(path)


@pytest.mark.parametrize(
    ("edit", "args", "message"),
    [
        (lambda d: d.assign(vi=d["vi"].where(d.index != 3)), [], "column 'vi', row 4 (line 5) is empty"),
        (lambda d: d.assign(yi=d["yi"].astype(object).where(d.index != 0, "about 0.3")), [], "column 'yi', row 1 (line 2) is not a finite number"),
        (lambda d: d.assign(vi=d["vi"].where(d.index != 2, 0.0)), [], "sampling variances must be > 0"),
        (lambda d: d.head(1), [], "need at least 2 studies"),
        (lambda d: d.assign(ablat2=2 * d["ablat"]), ["--mods", "ablat,ablat2"], "collinear"),
        (lambda d: d, ["--mods", "latitude"], "--mods 'latitude' is not a column"),
        (lambda d: d, ["--method", "XYZ"], "unknown method"),
        (lambda d: d, ["--test", "f"], "unknown test"),
    ],
)
def test_meta_bad_input_exits_with_code_2_and_names_the_problem(capsys, tmp_path, edit, args, message):
    path = _write(tmp_path, edit(pd.read_csv(BCG)))
    code = main(["meta", path, "--yi", "yi", "--vi", "vi", *args, "--json"])
    captured = capsys.readouterr()
    assert code == 2
    assert captured.out == ""
    assert message in " ".join(captured.err.split())


def test_effect_sizes_writes_escalc_columns(capsys, tmp_path):
    effects = json.loads((REFERENCE / "effects.json").read_text())
    case = next(c for c in effects["escalc"] if c["dataset"] == "bcg" and c["measure"] == "RR")
    out = tmp_path / "with_effects.csv"
    raw = REFERENCE / effects["data"]["bcg"]
    code = main(["effect-sizes", str(raw), "--measure", "RR", "--ai", "tpos", "--bi", "tneg", "--ci", "cpos",
                 "--di", "cneg", "--out", str(out)])
    assert code == 0, capsys.readouterr().err
    written = pd.read_csv(out)
    assert list(written.columns[-2:]) == ["yi", "vi"]
    assert_matches({"yi": written["yi"].tolist(), "vi": written["vi"].tolist()}, {"yi": case["yi"], "vi": case["vi"]},
                   rtol=1e-12)
    assert written.drop(columns=["yi", "vi"]).equals(pd.read_csv(raw))


def test_effect_sizes_relative_effect_size_with_overdispersion(capsys):
    effects = json.loads((REFERENCE / "effects.json").read_text())
    case = next(c for c in effects["relative_effect_size"] if c["overdispersion"] == 2.5)
    raw = REFERENCE / effects["data"][case["dataset"]]
    code = main(["effect-sizes", str(raw), "--measure", "RES", "--ai", case["cells"]["a"], "--bi", case["cells"]["b"],
                 "--ci", case["cells"]["c"], "--di", case["cells"]["d"], "--overdispersion", "2.5"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    from io import StringIO

    written = pd.read_csv(StringIO(captured.out))
    assert_matches({"yi": written["yi"].tolist(), "vi": written["vi"].tolist()}, {"yi": case["yi"], "vi": case["vi"]},
                   rtol=1e-12)


def test_effect_sizes_refuses_to_overwrite_and_reports_missing_inputs(capsys):
    code = main(["effect-sizes", str(BCG), "--measure", "RR", "--ai", "tpos", "--bi", "tneg", "--ci", "cpos",
                 "--di", "cneg"])
    assert code == 2
    assert "column 'yi' exists already" in " ".join(capsys.readouterr().err.split())
    code = main(["effect-sizes", str(REFERENCE / "data" / "raw_bcg.csv"), "--measure", "OR", "--ai", "tpos"])
    assert code == 2
    assert "needs bi, ci, di" in " ".join(capsys.readouterr().err.split())


def test_help_texts_describe_the_contract():
    from typer.testing import CliRunner

    from research.cli import app

    runner = CliRunner()
    meta_help = runner.invoke(app, ["meta", "--help"]).output
    assert "--mods" in meta_help and "hksj" in meta_help and "REML" in meta_help
    es_help = runner.invoke(app, ["effect-sizes", "--help"]).output
    assert "--measure" in es_help and "RES" in es_help
