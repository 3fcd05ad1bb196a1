"""Commands bayes-meta, bayes-sensitivity, transport, voi, its and did: JSON contracts, errors, files."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import yaml

from research.bayes import exact_meta, exact_meta_regression, transport
from research.cli import main
from research.local import difference_in_differences, interrupted_time_series


@pytest.fixture(scope="module")
def effects_csv(tmp_path_factory):
    rng = np.random.default_rng(17)
    k = 10
    vi = rng.uniform(0.01, 0.08, k)
    frame = pd.DataFrame({
        "study": [f"s{i}" for i in range(k)],
        "log_rr": rng.normal(rng.normal(-0.2, 0.1, k), np.sqrt(vi)),
        "var": vi,
        "se": np.sqrt(vi),
        "setting": ["city_centre", "car_park"] * (k // 2),
        "monitoring": ["active", "active", "passive", "passive", "active"] * 2,
    })
    path = tmp_path_factory.mktemp("cli") / "effects.csv"
    frame.to_csv(path, index=False)
    return path, frame.rename(columns={"study": "id", "log_rr": "yi", "var": "vi"})


def run_json(capsys, *args):
    code = main([*args, "--json"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    return json.loads(captured.out), captured.err


def test_bayes_meta_exact_contract(capsys, effects_csv):
    path, frame = effects_csv
    out, _ = run_json(capsys, "bayes-meta", str(path), "--yi", "log_rr", "--vi", "var", "--id", "study",
                      "--mu-prior", "normal:0,1", "--tau-prior", "halfcauchy:0.3", "--method", "exact")
    fit = exact_meta(frame, mu_prior="normal:0,1", tau_prior="halfcauchy:0.3")
    for key in ("mu", "tau"):
        assert set(out[key]) >= {"mean", "sd", "q025", "q975"}
        assert out[key]["q975"] == pytest.approx(getattr(fit, key).q975)
    assert set(out["predictive"]) >= {"mean", "q025", "q975"}
    assert out["p_mu_below_0"] == pytest.approx(fit.p_mu_below(0.0))
    assert out["method"] == "exact" and out["flag"] is None


def test_standard_errors_instead_of_variances(capsys, effects_csv):
    path, _ = effects_csv
    a, _ = run_json(capsys, "bayes-meta", str(path), "--yi", "log_rr", "--vi", "var")
    b, _ = run_json(capsys, "bayes-meta", str(path), "--yi", "log_rr", "--sei", "se")
    assert a["mu"]["mean"] == pytest.approx(b["mu"]["mean"], abs=1e-12)


def test_exact_meta_regression_from_the_command_line(capsys, effects_csv):
    path, frame = effects_csv
    out, _ = run_json(capsys, "bayes-meta", str(path), "--yi", "log_rr", "--vi", "var", "--model", "meta_regression", "--moderator", "setting")
    fit = exact_meta_regression(frame, ["setting"])
    assert out["coefficients"]["setting[city_centre]"]["mean"] == pytest.approx(fit.coefficients["setting[city_centre]"].mean)


@pytest.mark.slow
def test_bayes_meta_mcmc_reports_diagnostics_and_flags(capsys, effects_csv, tmp_path):
    path, _ = effects_csv
    out, err = run_json(capsys, "bayes-meta", str(path), "--yi", "log_rr", "--vi", "var", "--method", "mcmc",
                        "--draws", "30", "--tune", "20", "--cache-dir", str(tmp_path), "--trace", str(tmp_path / "trace.png"))
    assert out["method"] == "mcmc"
    assert out["diagnostics"]["ok"] is False
    assert out["flag"].startswith("UNRELIABLE") and "UNRELIABLE" in err
    assert (tmp_path / "trace.png").stat().st_size > 0
    assert list(tmp_path.glob("*.nc"))  # the fit was cached


def test_plot_file_is_written(capsys, effects_csv, tmp_path):
    path, _ = effects_csv
    target = tmp_path / "posterior.svg"
    assert main(["bayes-meta", str(path), "--yi", "log_rr", "--vi", "var", "--plot", str(target)]) == 0
    assert "<svg" in target.read_text()
    capsys.readouterr()


@pytest.mark.parametrize(
    "args, message",
    [
        (["--yi", "nope", "--vi", "var"], "no column"),
        (["--yi", "log_rr", "--vi", "var", "--tau-prior", "halfnormal:-1"], "halfnormal:-1"),
        (["--yi", "log_rr", "--vi", "var", "--method", "gibbs"], "--method"),
        (["--yi", "log_rr", "--vi", "var", "--model", "robust"], "needs --method mcmc"),
        (["--yi", "log_rr", "--vi", "var", "--sei", "se"], "at most one"),
    ],
)
def test_bad_input_exits_with_code_2(capsys, effects_csv, args, message):
    path, _ = effects_csv
    assert main(["bayes-meta", str(path), *args]) == 2
    assert message in capsys.readouterr().err.replace("\n", "")


def test_missing_file_exits_with_code_2(capsys, tmp_path):
    assert main(["bayes-meta", str(tmp_path / "absent.csv")]) == 2
    assert "not found" in capsys.readouterr().err


def test_sensitivity_table(capsys, effects_csv):
    path, _ = effects_csv
    out, _ = run_json(capsys, "bayes-sensitivity", str(path), "--yi", "log_rr", "--vi", "var",
                      "--tau-prior", "halfnormal:0.5", "--tau-prior", "halfcauchy:0.5")
    assert [row["tau_prior"] for row in out["rows"]] == ["halfnormal:0.5", "halfcauchy:0.5"] * 2


def test_transport_command(capsys, effects_csv):
    path, frame = effects_csv
    out, _ = run_json(capsys, "transport", str(path), "--yi", "log_rr", "--vi", "var", "--target", "Almaty",
                      "--known", "setting=car_park", "--unknown", "monitoring=active:0.6,passive:0.4")
    direct = transport(frame, "Almaty", known={"setting": "car_park"}, unknown={"monitoring": {"active": 0.6, "passive": 0.4}})
    assert out["p_benefit"] == pytest.approx(direct.p_benefit)
    assert out["target"] == "Almaty" and out["unknown"] == {"monitoring": {"active": 0.6, "passive": 0.4}}
    assert main(["transport", str(path), "--yi", "log_rr", "--vi", "var", "--unknown", "monitoring=active"]) == 2
    capsys.readouterr()


def test_voi_command(capsys, effects_csv, tmp_path):
    path, _ = effects_csv
    scenarios = tmp_path / "gaps.yaml"
    scenarios.write_text(yaml.safe_dump([
        {"gap_id": "local", "description": "local counts", "kind": "target", "counts": {"before": 300, "after": 250}},
        {"gap_id": "elsewhere", "kind": "external", "new_vi": 0.05},
    ]))
    out, _ = run_json(capsys, "voi", str(path), "--yi", "log_rr", "--vi", "var", "--scenarios", str(scenarios), "--n-sim", "200")
    assert [g["gap_id"] for g in out["gaps"]] == ["local", "elsewhere"]
    assert out["gaps"][0]["rank"] == 1
    scenarios.write_text("gap_id: [unclosed")
    assert main(["voi", str(path), "--yi", "log_rr", "--vi", "var", "--scenarios", str(scenarios)]) == 2
    capsys.readouterr()


def test_its_and_did_commands(capsys, tmp_path):
    rng = np.random.default_rng(2)
    n = 48
    t = np.arange(n)
    counts = rng.poisson(np.exp(np.log(60) + np.log(0.8) * (t >= 30) + 0.2 * np.sin(2 * np.pi * t / 12)))
    series = pd.DataFrame({"month": pd.date_range("2016-01-01", periods=n, freq="MS").strftime("%Y-%m-%d"), "crashes": counts})
    series.to_csv(tmp_path / "series.csv", index=False)
    out, _ = run_json(capsys, "its", str(tmp_path / "series.csv"), "--count", "crashes", "--date", "month",
                      "--intervention", "2018-07-01", "--family", "poisson")
    direct = interrupted_time_series(series["crashes"], series["month"], "2018-07-01", family="poisson")
    assert out["level_change"]["ratio"] == pytest.approx(direct.level_change["ratio"])

    rows = [{"site": u, "year": p, "treated": int(u < 6), "post": int(p >= 3), "n": int(rng.poisson(30))} for u in range(12) for p in range(5)]
    panel = pd.DataFrame(rows)
    panel.to_csv(tmp_path / "panel.csv", index=False)
    out, _ = run_json(capsys, "did", str(tmp_path / "panel.csv"), "--count", "n", "--unit", "site", "--time", "year")
    direct = difference_in_differences(panel, outcome="n", unit="site", time="year")
    assert out["effect"]["ratio"] == pytest.approx(direct.effect["ratio"])
    assert main(["its", str(tmp_path / "series.csv"), "--count", "nope", "--intervention", "2018-07-01"]) == 2
    capsys.readouterr()


def test_its_and_did_options_reach_the_models(capsys, tmp_path):
    rng = np.random.default_rng(3)
    n = 48
    t = np.arange(n)
    counts = rng.poisson(np.exp(np.log(60) + np.log(0.8) * (t >= 30)))
    series = pd.DataFrame({"month": pd.date_range("2016-01-01", periods=n, freq="MS").strftime("%Y-%m-%d"), "crashes": counts})
    series.to_csv(tmp_path / "series.csv", index=False)
    for choice in ("none", "hac"):
        out, _ = run_json(capsys, "its", str(tmp_path / "series.csv"), "--count", "crashes", "--date", "month",
                          "--intervention", "2018-07-01", "--season", "0", "--autocorrelation", choice)
        direct = interrupted_time_series(series["crashes"], series["month"], "2018-07-01", season=None,
                                         autocorrelation=choice)
        assert out["level_change"]["ci_high"] == pytest.approx(direct.level_change["ci_high"])
    # units adopting at different times: refused on request, with the reason and exit 2
    rows = [{"site": u, "year": p, "treated": int(u % 3 != 0), "post": int(u % 3 == 1 and p >= 2 or u % 3 == 2 and p >= 4),
             "n": int(rng.poisson(30))} for u in range(12) for p in range(6)]
    pd.DataFrame(rows).to_csv(tmp_path / "staggered.csv", index=False)
    assert main(["did", str(tmp_path / "staggered.csv"), "--count", "n", "--unit", "site", "--time", "year",
                 "--staggered", "refuse"]) == 2
    assert "stagger" in capsys.readouterr().err.lower()


def test_bayes_sbc_gives_the_same_calibration_on_two_local_processes(capsys, effects_csv):
    path, _ = effects_csv
    args = ["bayes-sbc", str(path), "--sei", "se", "--n-replicates", "40", "--seed", "2"]
    serial, _ = run_json(capsys, *args)
    parallel, _ = run_json(capsys, *args, "--jobs", "2")
    assert serial["n_replicates"] == 40 and sum(serial["histogram"]["mu"]) == 40
    assert parallel == serial


def test_bayes_sbc_names_a_missing_column(capsys, effects_csv):
    path, _ = effects_csv
    assert main(["bayes-sbc", str(path), "--vi", "variance"]) == 2
    assert "no column(s) variance" in capsys.readouterr().err
