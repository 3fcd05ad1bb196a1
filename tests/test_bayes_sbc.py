"""Simulation-based calibration: the exact path is calibrated, a wrong prior is detected, MCMC at small scale."""

from __future__ import annotations

import numpy as np
import pytest

from research.bayes import simulation_based_calibration

VI = np.array([0.01, 0.02, 0.04, 0.05, 0.08, 0.1])


def test_exact_posterior_is_calibrated():
    result = simulation_based_calibration(VI, "normal:0,0.5", "halfnormal:0.5", n_replicates=400, seed=1)
    assert result.n_replicates == 400
    assert min(result.pvalues().values()) > 0.01
    positions = np.concatenate(list(result.positions.values()))
    assert positions.min() >= 0 and positions.max() <= 1


def test_a_wrong_fitting_prior_is_detected():
    result = simulation_based_calibration(VI, "normal:0,0.5", "halfnormal:1", n_replicates=200, seed=2, fit_tau_prior="halfnormal:0.05")
    assert result.pvalues()["tau"] < 1e-6
    # The fitted tau is far too small: the truth sits in the top bin of its posterior.
    assert result.histogram()["tau"].iloc[-1] > 0.5 * result.n_replicates


@pytest.mark.slow
def test_mcmc_is_calibrated_at_small_scale():
    result = simulation_based_calibration(VI, "normal:0,0.5", "halfnormal:0.5", n_replicates=40, method="mcmc", seed=3,
                                          draws=300, tune=300, bins=5)
    assert min(result.pvalues().values()) > 0.001
    assert "uniformity" in result.summary()


def test_replicates_fitted_on_local_processes_equal_a_serial_run():
    from research.parallel import Engine

    serial = simulation_based_calibration(VI, "normal:0,0.5", "halfnormal:0.5", n_replicates=30, seed=5)
    parallel = simulation_based_calibration(VI, "normal:0,0.5", "halfnormal:0.5", n_replicates=30, seed=5,
                                            engine=Engine(jobs=2), chunk=7)
    assert serial.n_replicates == 30
    for name in ("mu", "tau"):
        np.testing.assert_array_equal(parallel.positions[name], serial.positions[name])
