"""Tests for the probabilistic CLV module against the published CDNOW results.

Golden values (see data/cdnow/README.md): BG/NBD from Fader, Hardie & Lee (2005), Pareto/NBD from
Fader & Hardie's 2005 note, Gamma-Gamma from Fader & Hardie (2013). The summary is rebuilt from the
raw CDNOW sample transactions, so the whole path raw -> RFM -> fit is checked, not only the fitters.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import approx_fprime
from scipy.special import gammaln, hyp2f1

from segmentation_assets import clv

DATA = Path(__file__).parent / "data" / "cdnow"
CALIBRATION_END = "1997-09-30"
HOLDOUT_END = "1998-06-30"

PUBLISHED_BGNBD = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
PUBLISHED_BGNBD_PARAMS = clv.BGNBDParams(r=0.243, alpha=4.414, a=0.793, b=2.426)
PUBLISHED_PARETO = {"r": 0.553, "alpha": 10.578, "s": 0.606, "beta": 11.668}
PUBLISHED_GG = {"p": 6.25, "q": 3.74, "v": 15.44}


# ---------------------------------------------------------------------------------------------
# fixtures
# ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def cdnow_transactions() -> pd.DataFrame:
    tx = pd.read_csv(
        DATA / "CDNOW_sample.txt",
        sep=r"\s+",
        header=None,
        names=["master_id", "sample_id", "date", "cds", "dollars"],
        dtype={"date": str},
    )
    tx["date"] = pd.to_datetime(tx["date"], format="%Y%m%d")
    return tx


@pytest.fixture(scope="module")
def cdnow_summary(cdnow_transactions: pd.DataFrame) -> pd.DataFrame:
    return clv.rfm_summary_from_transactions(
        cdnow_transactions,
        customer_col="sample_id",
        datetime_col="date",
        monetary_col="dollars",
        observation_end=HOLDOUT_END,
        time_unit_days=7.0,
        calibration_end=CALIBRATION_END,
    )


@pytest.fixture(scope="module")
def published_summary() -> pd.DataFrame:
    return pd.read_csv(DATA / "cdnow_customers_summary_with_transactions.csv").set_index("ID")


def _rfm(summary: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    # summary.T would be the transpose, hence the item access.
    return (
        summary["frequency"].to_numpy(float),
        summary["recency"].to_numpy(float),
        summary["T"].to_numpy(float),
    )


@pytest.fixture(scope="module")
def bgnbd_fit(cdnow_summary: pd.DataFrame) -> clv.BGNBDParams:
    return clv.fit_bgnbd(*_rfm(cdnow_summary))


@pytest.fixture(scope="module")
def pareto_fit(cdnow_summary: pd.DataFrame) -> clv.ParetoNBDParams:
    return clv.fit_pareto_nbd(*_rfm(cdnow_summary))


# ---------------------------------------------------------------------------------------------
# RFM summary
# ---------------------------------------------------------------------------------------------
def test_cdnow_cohort_is_first_quarter_1997(cdnow_transactions: pd.DataFrame) -> None:
    first = cdnow_transactions.groupby("sample_id")["date"].min()
    assert len(first) == 2357
    assert first.min() == pd.Timestamp("1997-01-01")
    assert first.max() <= pd.Timestamp("1997-03-31")
    assert cdnow_transactions["date"].max() == pd.Timestamp(HOLDOUT_END)


def test_summary_from_raw_matches_published_calibration_summary(
    cdnow_summary: pd.DataFrame, published_summary: pd.DataFrame
) -> None:
    assert len(cdnow_summary) == len(published_summary) == 2357
    ours = cdnow_summary.loc[published_summary.index]
    assert (ours["frequency"].to_numpy() == published_summary["x"].to_numpy()).all()
    # The published file rounds weeks and dollars to 2 decimals.
    np.testing.assert_allclose(ours["recency"], published_summary["t_x"], atol=0.0051)
    np.testing.assert_allclose(ours["T"], published_summary["T"], atol=0.0051)
    np.testing.assert_allclose(ours["monetary_value"], published_summary["zbar"], atol=0.0051)
    assert int((ours["frequency"] > 0).sum()) == 946
    # Customer 1: bought 1997-01-01, 01-18, 08-02 in calibration and 12-12 in the hold-out.
    row = cdnow_summary.loc[1]
    assert row["frequency"] == 2
    assert row["recency"] == pytest.approx(213 / 7)
    assert row["T"] == pytest.approx(272 / 7)
    assert row["monetary_value"] == pytest.approx((29.73 + 14.96) / 2)
    assert row["frequency_holdout"] == 1
    assert row["duration_holdout"] == pytest.approx(273 / 7)


def test_summary_without_calibration_uses_whole_period(cdnow_transactions: pd.DataFrame) -> None:
    full = clv.rfm_summary_from_transactions(
        cdnow_transactions, "sample_id", "date", "dollars", HOLDOUT_END
    )
    assert list(full.columns) == ["frequency", "recency", "T", "monetary_value"]
    assert full.loc[1, "frequency"] == 3
    assert full.loc[1, "T"] == pytest.approx(545 / 7)


def test_summary_same_day_transactions_are_one_occasion() -> None:
    tx = pd.DataFrame(
        {
            "cid": ["a", "a", "a", "a", "b", "c", "c"],
            "ts": pd.to_datetime(
                [
                    "2024-01-01 09:00",
                    "2024-01-01 17:30",  # same day as the first purchase
                    "2024-01-08 10:00",
                    "2024-01-08 11:00",  # same day: one occasion worth 30 + 50
                    "2024-01-05 00:00",
                    "2024-01-02 08:00",
                    "2024-03-01 12:00",  # after observation_end: ignored
                ]
            ),
            "amount": [10.0, 5.0, 30.0, 50.0, 7.0, 3.0, 99.0],
        }
    )
    s = clv.rfm_summary_from_transactions(
        tx, "cid", "ts", "amount", observation_end="2024-01-15", time_unit_days=1.0
    )
    assert s.loc["a"].to_dict() == {
        "frequency": 1,
        "recency": 7.0,
        "T": 14.0,
        "monetary_value": 80.0,
    }
    assert s.loc["b"].to_dict() == {
        "frequency": 0,
        "recency": 0.0,
        "T": 10.0,
        "monetary_value": 0.0,
    }
    assert s.loc["c", "frequency"] == 0
    assert s["frequency"].dtype == np.int64


def test_summary_of_no_transactions_is_empty() -> None:
    tx = pd.DataFrame({"cid": pd.Series(dtype=str), "ts": pd.Series(dtype="datetime64[ns]")})
    s = clv.rfm_summary_from_transactions(tx, "cid", "ts", None, "2024-01-01")
    assert s.empty
    assert list(s.columns) == ["frequency", "recency", "T", "monetary_value"]


# ---------------------------------------------------------------------------------------------
# BG/NBD
# ---------------------------------------------------------------------------------------------
def test_bgnbd_fit_from_raw_matches_published(bgnbd_fit: clv.BGNBDParams) -> None:
    assert bgnbd_fit.converged
    for name, value in PUBLISHED_BGNBD.items():
        assert getattr(bgnbd_fit, name) == pytest.approx(value, rel=0.02), name
    assert bgnbd_fit.log_likelihood == pytest.approx(-9582.4, abs=1.0)
    assert bgnbd_fit.n_customers == 2357


def test_bgnbd_published_conditional_expectation() -> None:
    expected = clv.bgnbd_expected_purchases(PUBLISHED_BGNBD_PARAMS, 39.0, [2], [30.43], [38.86])
    assert expected[0] == pytest.approx(1.226, abs=0.001)


def test_bgnbd_log_likelihood_at_published_params(published_summary: pd.DataFrame) -> None:
    s = published_summary
    ll = clv.bgnbd_log_likelihood(0.243, 4.414, 0.793, 2.426, s["x"], s["t_x"], s["T"])
    assert ll.sum() == pytest.approx(-9582.4, abs=0.5)


def test_bgnbd_gradient_matches_finite_differences(cdnow_summary: pd.DataFrame) -> None:
    x, t_x, t_cap = _rfm(cdnow_summary)
    theta = np.log([0.3, 5.0, 0.9, 2.0])

    def total(th: np.ndarray) -> float:
        r, alpha, a, b = np.exp(th)
        return float(clv.bgnbd_log_likelihood(r, alpha, a, b, x, t_x, t_cap).sum())

    r, alpha, a, b = np.exp(theta)
    _, grad = clv._bgnbd_ll_and_grad(r, alpha, a, b, x, t_x, t_cap, with_grad=True)
    assert grad is not None
    analytic = grad.sum(axis=1) * np.exp(theta)
    np.testing.assert_allclose(analytic, approx_fprime(theta, total, 1e-6), rtol=1e-4)


def test_bgnbd_closed_form_matches_textbook_formula() -> None:
    # FHL eq. 10 evaluated literally (fine for small x) vs the transformed implementation.
    rng = np.random.default_rng(7)
    x = rng.integers(0, 15, 100).astype(float)
    t_cap = rng.uniform(1.0, 60.0, 100)
    t_x = np.where(x > 0, rng.uniform(0.0, 1.0, 100) * t_cap, 0.0)
    for r, alpha, a, b in [(0.243, 4.414, 0.793, 2.426), (1.5, 20.0, 1.7, 3.0)]:
        t = 39.0
        z = t / (alpha + t_cap + t)
        num = (a + b + x - 1) / (a - 1)
        num *= 1 - ((alpha + t_cap) / (alpha + t_cap + t)) ** (r + x) * hyp2f1(
            r + x, b + x, a + b + x - 1, z
        )
        den = 1 + (x > 0) * a / np.maximum(b + x - 1, 1e-9) * ((alpha + t_cap) / (alpha + t_x)) ** (
            r + x
        )
        ours = clv.bgnbd_expected_purchases(clv.BGNBDParams(r, alpha, a, b), t, x, t_x, t_cap)
        np.testing.assert_allclose(ours, num / den, rtol=1e-9)


def test_bgnbd_quadrature_agrees_with_closed_form() -> None:
    x = np.array([0.0, 1.0, 5.0, 40.0])
    t_cap = np.array([5.0, 20.0, 38.0, 38.86])
    # The quadrature is only used for large a, where the Beta density is smooth and unimodal.
    for a, b in [(20.0, 2.4), (50.0, 80.0), (400.0, 30.0)]:
        closed = clv._bgnbd_alive_mean(0.5, 4.0, a, b, 39.0, x, t_cap)
        quad = clv._bgnbd_alive_mean_quadrature(0.5, 4.0, a, b, 39.0, x, t_cap)
        np.testing.assert_allclose(quad, closed, rtol=1e-7)


def test_bgnbd_huge_a_b_stays_finite_and_reaches_fixed_p_limit() -> None:
    # Homogeneous dropout drives a and b towards infinity, where hyp2f1 overflows. In the limit
    # p = a/(a+b) is known exactly and E = P(alive) (1 - (1 + p t/(alpha+T))^-(r+x)) / p.
    r, alpha, a, b, t = 0.5, 4.0, 4e5, 6e5, 39.0
    x = np.array([0.0, 1.0, 5.0, 40.0])
    t_x = np.array([0.0, 10.0, 20.0, 30.0])
    t_cap = np.full(4, 38.0)
    params = clv.BGNBDParams(r, alpha, a, b)
    ours = clv.bgnbd_expected_purchases(params, t, x, t_x, t_cap)
    p = a / (a + b)
    limit = clv.bgnbd_p_alive(params, x, t_x, t_cap)
    limit *= (1 - (1 + p * t / (alpha + t_cap)) ** -(r + x)) / p
    assert np.all(np.isfinite(ours))
    np.testing.assert_allclose(ours, limit, rtol=1e-4)


def test_bgnbd_p_alive_properties(bgnbd_fit: clv.BGNBDParams) -> None:
    t_cap = np.full(6, 38.86)
    t_x = np.linspace(0.0, 38.86, 6)
    x = np.full(6, 3.0)
    p = clv.bgnbd_p_alive(bgnbd_fit, x, t_x, t_cap)
    assert np.all((p >= 0) & (p <= 1))
    # Longer silence since the last purchase (smaller t_x at fixed T) -> less likely alive.
    assert np.all(np.diff(p) > 0)
    assert p[-1] == pytest.approx(1 / (1 + bgnbd_fit.a / (bgnbd_fit.b + 2)))
    zero = clv.bgnbd_p_alive(bgnbd_fit, [0, 0], [0, 0], [1.0, 80.0])
    np.testing.assert_array_equal(zero, [1.0, 1.0])


def test_bgnbd_predicts_cdnow_holdout_roughly(
    bgnbd_fit: clv.BGNBDParams, cdnow_summary: pd.DataFrame
) -> None:
    # Out-of-sample sanity: 39-week hold-out repeat occasions, predicted vs observed (1882).
    predicted = clv.bgnbd_expected_purchases(bgnbd_fit, 39.0, *_rfm(cdnow_summary)).sum()
    actual = cdnow_summary["frequency_holdout"].sum()
    assert actual == 1882
    assert predicted == pytest.approx(actual, rel=0.15)


# ---------------------------------------------------------------------------------------------
# Pareto/NBD
# ---------------------------------------------------------------------------------------------
def test_pareto_nbd_fit_from_raw_matches_published(pareto_fit: clv.ParetoNBDParams) -> None:
    assert pareto_fit.converged
    for name, value in PUBLISHED_PARETO.items():
        assert getattr(pareto_fit, name) == pytest.approx(value, rel=0.02), name
    assert pareto_fit.log_likelihood == pytest.approx(-9595.0, abs=1.0)


@pytest.mark.parametrize(
    "params",
    [(0.553, 10.578, 0.606, 11.668), (0.553, 15.0, 0.606, 11.668), (2.0, 5.0, 0.4, 30.0)],
    ids=["alpha<beta", "alpha>beta", "far-apart"],
)
def test_pareto_nbd_matches_textbook_formula(params: tuple[float, float, float, float]) -> None:
    # Fader & Hardie's note evaluated literally, both hypergeometric branches.
    r, alpha, s, beta = params
    rng = np.random.default_rng(3)
    x = rng.integers(0, 12, 60).astype(float)
    t_cap = rng.uniform(1.0, 60.0, 60)
    t_x = np.where(x > 0, rng.uniform(0.0, 1.0, 60) * t_cap, 0.0)
    if alpha >= beta:

        def k(t: np.ndarray) -> np.ndarray:
            z = (alpha - beta) / (alpha + t)
            return hyp2f1(r + s + x, s + 1, r + s + x + 1, z) / (alpha + t) ** (r + s + x)
    else:

        def k(t: np.ndarray) -> np.ndarray:
            z = (beta - alpha) / (beta + t)
            return hyp2f1(r + s + x, r + x, r + s + x + 1, z) / (beta + t) ** (r + s + x)

    a0 = k(t_x) - k(t_cap)
    alive_term = 1 / ((alpha + t_cap) ** (r + x) * (beta + t_cap) ** s)
    ll = (
        gammaln(r + x)
        - gammaln(r)
        + r * np.log(alpha)
        + s * np.log(beta)
        + np.log(alive_term + s / (r + s + x) * a0)
    )
    p_alive = 1 / (1 + s / (r + s + x) * (alpha + t_cap) ** (r + x) * (beta + t_cap) ** s * a0)
    np.testing.assert_allclose(
        clv.pareto_nbd_log_likelihood(r, alpha, s, beta, x, t_x, t_cap), ll, rtol=1e-10
    )
    fitted = clv.ParetoNBDParams(r, alpha, s, beta)
    np.testing.assert_allclose(clv.pareto_nbd_p_alive(fitted, x, t_x, t_cap), p_alive, rtol=1e-10)


def test_pareto_nbd_predictions_are_sane(
    pareto_fit: clv.ParetoNBDParams, cdnow_summary: pd.DataFrame
) -> None:
    rfm = _rfm(cdnow_summary)
    p = clv.pareto_nbd_p_alive(pareto_fit, *rfm)
    assert np.all((p >= 0) & (p <= 1))
    e = clv.pareto_nbd_expected_purchases(pareto_fit, 39.0, *rfm)
    assert np.all(np.isfinite(e) & (e >= 0))
    assert e.sum() == pytest.approx(cdnow_summary["frequency_holdout"].sum(), rel=0.15)
    # Heavy buyers who just bought do not overflow the hypergeometric terms.
    heavy = clv.pareto_nbd_expected_purchases(
        pareto_fit, 39.0, [500, 5000], [38.86] * 2, [38.86] * 2
    )
    assert np.all(np.isfinite(heavy)) and heavy[1] > heavy[0] > 100


# ---------------------------------------------------------------------------------------------
# Gamma-Gamma
# ---------------------------------------------------------------------------------------------
def test_gamma_gamma_matches_published(cdnow_summary: pd.DataFrame) -> None:
    gg = clv.fit_gamma_gamma(cdnow_summary["frequency"], cdnow_summary["monetary_value"])
    assert gg.converged
    assert gg.n_customers == 946
    for name, value in PUBLISHED_GG.items():
        assert getattr(gg, name) == pytest.approx(value, rel=0.01), name
    spend = clv.gamma_gamma_expected_spend(gg, [0, 1, 10], [0.0, 100.0, 100.0])
    # Frequency 0 gets the population mean; more repeat occasions pull towards the own mean.
    assert spend[0] == pytest.approx(gg.population_mean_spend)
    assert spend[0] < spend[1] < spend[2] < 100.0


# ---------------------------------------------------------------------------------------------
# predict_clv
# ---------------------------------------------------------------------------------------------
def test_predict_clv_on_cdnow(cdnow_summary: pd.DataFrame) -> None:
    res = clv.predict_clv(cdnow_summary, horizon_months=12, monthly_discount_rate=0.0)
    out = res.customers
    assert list(out.columns) == list(clv.RESULT_COLUMNS)
    assert out.index.equals(cdnow_summary.index)
    assert res.diagnostics["model"] == "bgnbd"
    assert res.diagnostics["fallback"] is None and res.diagnostics["spend_fallback"] is None
    assert res.diagnostics["converged"] is True
    assert res.diagnostics["n_repeat_buyers"] == 946
    assert res.diagnostics["params"]["r"] == pytest.approx(0.243, rel=0.02)
    assert np.all(np.isfinite(out.to_numpy()))
    np.testing.assert_allclose(out["churn_risk"], 1 - out["p_alive"])
    # Monthly increments sum to the full-horizon conditional expectation...
    params = clv.BGNBDParams(**{k: res.diagnostics["params"][k] for k in ("r", "alpha", "a", "b")})
    horizon = 12 * clv.DAYS_PER_MONTH / 7.0
    direct = clv.bgnbd_expected_purchases(params, horizon, *_rfm(cdnow_summary))
    np.testing.assert_allclose(out["expected_purchases"], direct, rtol=1e-9)
    # ...so without discounting CLV is purchases times expected order value.
    np.testing.assert_allclose(
        out["predicted_clv"], out["expected_purchases"] * out["expected_order_value"], rtol=1e-9
    )


def test_predict_clv_discounting_lowers_value(cdnow_summary: pd.DataFrame) -> None:
    clvs = [
        clv.predict_clv(cdnow_summary, monthly_discount_rate=d).customers["predicted_clv"]
        for d in (0.0, 0.01, 0.05)
    ]
    active = clvs[0] > 0
    assert active.all()
    assert (clvs[1][active] < clvs[0][active]).all()
    assert (clvs[2][active] < clvs[1][active]).all()
    # Bounded by the first- and last-month discount factors.
    assert (clvs[1] >= clvs[0] / 1.01**12 - 1e-9).all() and (clvs[1] <= clvs[0] / 1.01).all()


def test_predict_clv_pareto_model(cdnow_summary: pd.DataFrame) -> None:
    res = clv.predict_clv(cdnow_summary, model="pareto_nbd")
    assert res.diagnostics["model"] == "pareto_nbd"
    assert res.diagnostics["params"]["s"] == pytest.approx(0.606, rel=0.02)
    assert np.all(np.isfinite(res.customers.to_numpy()))


def test_predict_clv_fallback_with_few_customers() -> None:
    summary = pd.DataFrame(
        {
            "frequency": [0, 1, 3, 0, 2],
            "recency": [0.0, 5.0, 20.0, 0.0, 30.0],
            "T": [10.0, 30.0, 40.0, 52.0, 31.0],
            "monetary_value": [0.0, 20.0, 35.0, 0.0, 50.0],
        },
        index=pd.Index(["a", "b", "c", "d", "e"], name="customer"),
    )
    res = clv.predict_clv(summary)
    d = res.diagnostics
    assert d["model"] == "empirical"
    assert "repeat buyer" in d["fallback"]
    assert d["spend_model"] == "own_mean" and "repeat buyer" in d["spend_fallback"]
    out = res.customers
    assert np.all(np.isfinite(out.to_numpy()))
    assert ((out["p_alive"] >= 0) & (out["p_alive"] <= 1)).all()
    # Own repeat mean for repeat buyers, the population mean for the rest.
    assert out.loc["c", "expected_order_value"] == pytest.approx(35.0)
    assert out.loc["a", "expected_order_value"] == pytest.approx((20 + 35 + 50) / 3)
    # Recent, frequent "e" beats long-silent one-off "d".
    assert out.loc["e", "predicted_clv"] > out.loc["d", "predicted_clv"] > 0
    assert out.loc["e", "p_alive"] > out.loc["d", "p_alive"]


def test_predict_clv_falls_back_when_fit_does_not_converge(
    cdnow_summary: pd.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    def not_converged(*args: object, **kwargs: object) -> clv.BGNBDParams:
        return clv.BGNBDParams(1.0, 1.0, 1.0, 1.0, converged=False, message="stub")

    monkeypatch.setattr(clv, "fit_bgnbd", not_converged)
    res = clv.predict_clv(cdnow_summary)
    assert res.diagnostics["model"] == "empirical"
    assert "did not converge" in res.diagnostics["fallback"]
    assert np.all(np.isfinite(res.customers.to_numpy()))


def test_predict_clv_zero_customers() -> None:
    empty = pd.DataFrame({c: pd.Series(dtype=float) for c in clv.SUMMARY_COLUMNS})
    res = clv.predict_clv(empty)
    assert res.customers.empty
    assert list(res.customers.columns) == list(clv.RESULT_COLUMNS)
    assert res.diagnostics["n_customers"] == 0
    assert res.diagnostics["fallback"] == "no customers"


@pytest.mark.parametrize(
    ("column", "values", "message"),
    [
        ("T", [10.0, -1.0], "'T'"),
        ("recency", [5.0, 12.0], "'recency' exceeds 'T'"),
        ("frequency", [1.5, 0.0], "'frequency'"),
        ("monetary_value", [np.nan, 0.0], "'monetary_value'"),
        ("recency", [5.0, np.nan], "'recency'"),
    ],
)
def test_predict_clv_validation_names_the_column(
    column: str, values: list[float], message: str
) -> None:
    summary = pd.DataFrame(
        {
            "frequency": [1, 0],
            "recency": [5.0, 0.0],
            "T": [10.0, 10.0],
            "monetary_value": [9.0, 0.0],
        }
    )
    summary[column] = values
    with pytest.raises(ValueError, match=message):
        clv.predict_clv(summary)


def test_fit_functions_validate_inputs() -> None:
    with pytest.raises(ValueError, match="'recency' must be 0 when 'frequency' is 0"):
        clv.fit_bgnbd([0, 1], [2.0, 1.0], [5.0, 5.0])
    with pytest.raises(ValueError, match="zero customers"):
        clv.fit_pareto_nbd([], [], [])
    with pytest.raises(ValueError, match="frequency > 0"):
        clv.fit_gamma_gamma([0, 0], [0.0, 0.0])


def test_predict_clv_with_prefitted_params(cdnow_summary: pd.DataFrame) -> None:
    pareto = clv.ParetoNBDParams(r=0.553, alpha=10.578, s=0.606, beta=11.668)
    spend = clv.GammaGammaParams(p=6.25, q=3.74, v=15.44)
    res = clv.predict_clv(cdnow_summary, purchase_params=pareto, spend_params=spend)
    assert res.diagnostics["model"] == "pareto_nbd"  # inferred from the params' type
    assert res.diagnostics["params"]["beta"] == 11.668
    assert res.diagnostics["spend_params"]["v"] == 15.44
    out = res.customers
    one_offs = cdnow_summary["frequency"] == 0
    assert out.loc[one_offs, "expected_order_value"].to_numpy() == pytest.approx(
        spend.population_mean_spend
    )
