"""Probabilistic customer-lifetime value: BG/NBD, Pareto/NBD and Gamma-Gamma.

The "buy-till-you-die" family models each customer as a Poisson buyer who may silently drop out
(churn is never observed in non-contractual retail, only inferred from silence). Everything is
fitted by maximum likelihood on the per-customer RFM summary:

* ``frequency`` (x): number of *repeat* purchase occasions (the first purchase is not counted;
  several transactions on one calendar day are one occasion),
* ``recency`` (t_x): time from the first purchase to the last purchase,
* ``T``: time from the first purchase to the end of the observation (calibration) period,
* ``monetary_value`` (z̄): mean value of the repeat occasions (0 when there are none).

All times are in one unit chosen by the caller (``time_unit_days``; weeks by default, as in the
papers). The formulas follow the published notes:

* BG/NBD: Fader, Hardie & Lee, "Counting Your Customers the Easy Way", Marketing Science 24(2),
  2005.
* Pareto/NBD: Fader & Hardie, "A Note on Deriving the Pareto/NBD Model and Related Expressions",
  2005.
* Gamma-Gamma: Fader & Hardie, "The Gamma-Gamma Model of Monetary Value", 2013.

The hypergeometric terms are evaluated after Euler transformations that keep their arguments in
[0, 1) and the remaining series bounded as x grows, so heavy buyers do not overflow ``hyp2f1``;
where scipy's ``hyp2f1`` still fails (BG/NBD with a in the thousands, i.e. nearly homogeneous
dropout) the BG/NBD expectation is integrated numerically instead. Fitting compresses customers to
unique (x, t_x, T) rows with counts and uses analytic gradients for BG/NBD and Gamma-Gamma, so a
million-customer fit takes seconds.

Pure numpy / scipy / pandas; no Dagster here (the asset layer wraps these functions).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray
from scipy.optimize import minimize
from scipy.special import betaln, digamma, expit, gammaln, hyp2f1

FloatArray = NDArray[np.float64]

#: Average month length in days, used to turn ``horizon_months`` into model time units.
DAYS_PER_MONTH = 365.25 / 12.0

# Log-parameter box for the optimiser: exp(±15) spans 3e-7 .. 3e6, wide enough for any sane time
# unit while keeping gammaln/hyp2f1 away from overflow during line searches.
_LOG_BOUND = 15.0

SUMMARY_COLUMNS = ("frequency", "recency", "T", "monetary_value")
RESULT_COLUMNS = (
    "expected_purchases",
    "p_alive",
    "churn_risk",
    "expected_order_value",
    "predicted_clv",
)


# ---------------------------------------------------------------------------------------------
# Parameter containers
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class BGNBDParams:
    """Fitted BG/NBD parameters.

    ``r``/``alpha``: gamma heterogeneity of the purchase rate (shape / rate, alpha in time units).
    ``a``/``b``: beta heterogeneity of the per-purchase dropout probability.
    ``log_likelihood``: total log-likelihood of the fitted sample (without any penalty).
    """

    r: float
    alpha: float
    a: float
    b: float
    log_likelihood: float = float("nan")
    converged: bool = True
    n_customers: int = 0
    message: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class ParetoNBDParams:
    """Fitted Pareto/NBD parameters.

    ``r``/``alpha``: gamma heterogeneity of the purchase rate; ``s``/``beta``: gamma heterogeneity
    of the (continuous-time) dropout rate. alpha and beta are in time units.
    """

    r: float
    alpha: float
    s: float
    beta: float
    log_likelihood: float = float("nan")
    converged: bool = True
    n_customers: int = 0
    message: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class GammaGammaParams:
    """Fitted Gamma-Gamma spend parameters.

    Each order value is Gamma(p, rate nu) with a customer-level nu ~ Gamma(q, rate v), so a
    customer's mean order value is p/nu and the population mean is p·v/(q-1) when q > 1 (money).
    """

    p: float
    q: float
    v: float
    log_likelihood: float = float("nan")
    converged: bool = True
    n_customers: int = 0
    message: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def population_mean_spend(self) -> float:
        """Population mean order value p·v/(q-1); ``inf`` when q <= 1 (no finite prior mean)."""
        return self.p * self.v / (self.q - 1.0) if self.q > 1.0 else math.inf


@dataclass
class CLVResult:
    """Output of :func:`predict_clv`.

    ``customers``: one row per input customer (same index as the input summary) with columns
    ``expected_purchases`` (count over the horizon), ``p_alive`` and ``churn_risk`` (probabilities),
    ``expected_order_value`` and ``predicted_clv`` (money, in the input's currency; CLV discounted).
    ``diagnostics``: model used, parameters, counts, convergence and the fallback reasons (or None).
    """

    customers: pd.DataFrame
    diagnostics: dict[str, Any] = field(default_factory=dict)


# ---------------------------------------------------------------------------------------------
# Validation
# ---------------------------------------------------------------------------------------------
def _as_float_array(values: ArrayLike, name: str) -> FloatArray:
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"column {name!r} must be numeric: {exc}") from exc
    if arr.ndim != 1:
        arr = arr.reshape(-1)
    if not np.all(np.isfinite(arr)):
        bad = int(np.count_nonzero(~np.isfinite(arr)))
        raise ValueError(f"column {name!r} has {bad} NaN or infinite value(s)")
    return arr


def validate_rfm(
    frequency: ArrayLike,
    recency: ArrayLike,
    T: ArrayLike,
    *,
    names: Sequence[str] = ("frequency", "recency", "T"),
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Check an RFM summary and return it as three float64 arrays of equal length n.

    Raises ``ValueError`` naming the offending column for NaN/inf, negative values, non-integer
    frequency, recency > T, recency > 0 with frequency 0, or mismatched lengths.
    """
    f_name, r_name, t_name = names
    x = _as_float_array(frequency, f_name)
    t_x = _as_float_array(recency, r_name)
    t_cap = _as_float_array(T, t_name)
    if not (len(x) == len(t_x) == len(t_cap)):
        raise ValueError(
            f"columns {f_name!r}, {r_name!r}, {t_name!r} have different lengths "
            f"({len(x)}, {len(t_x)}, {len(t_cap)})"
        )
    for arr, name in ((x, f_name), (t_x, r_name), (t_cap, t_name)):
        if np.any(arr < 0):
            raise ValueError(
                f"column {name!r} has {int(np.count_nonzero(arr < 0))} negative value(s)"
            )
    if np.any(x != np.round(x)):
        raise ValueError(f"column {f_name!r} must hold whole numbers of repeat purchases")
    # Summaries are often rounded to 2 decimals, so allow a little slack before calling it an error.
    tol = 1e-6 * np.maximum(1.0, t_cap)
    if np.any(t_x > t_cap + tol):
        bad = int(np.count_nonzero(t_x > t_cap + tol))
        raise ValueError(f"column {r_name!r} exceeds {t_name!r} for {bad} customer(s)")
    if np.any((x == 0) & (t_x > tol)):
        bad = int(np.count_nonzero((x == 0) & (t_x > tol)))
        raise ValueError(
            f"column {r_name!r} must be 0 when {f_name!r} is 0 "
            f"(found {bad} customer(s) with recency > 0)"
        )
    return x, np.minimum(t_x, t_cap), t_cap


def _validate_spend(
    frequency: ArrayLike, monetary_value: ArrayLike, names: Sequence[str]
) -> tuple[FloatArray, FloatArray]:
    f_name, m_name = names
    x = _as_float_array(frequency, f_name)
    m = _as_float_array(monetary_value, m_name)
    if len(x) != len(m):
        raise ValueError(f"columns {f_name!r} and {m_name!r} have different lengths")
    if np.any(x < 0) or np.any(x != np.round(x)):
        raise ValueError(f"column {f_name!r} must hold non-negative whole numbers")
    if np.any(m < 0):
        raise ValueError(f"column {m_name!r} has {int(np.count_nonzero(m < 0))} negative value(s)")
    return x, m


# ---------------------------------------------------------------------------------------------
# RFM summary from raw transactions
# ---------------------------------------------------------------------------------------------
def rfm_summary_from_transactions(
    transactions: pd.DataFrame,
    customer_col: str,
    datetime_col: str,
    monetary_col: str | None,
    observation_end: Any,
    time_unit_days: float = 7.0,
    calibration_end: Any = None,
) -> pd.DataFrame:
    """Build the per-customer RFM summary the models are fitted on.

    Input: one row per transaction with a customer id, a timestamp (anything ``pd.to_datetime``
    accepts) and, optionally, a non-negative monetary amount. Timestamps are truncated to the
    calendar day: all transactions of a customer on one day form one purchase occasion whose value
    is their sum. Transactions after ``observation_end`` are ignored.

    Without ``calibration_end`` the summary covers everything up to ``observation_end``. With it,
    the model columns describe the calibration period (transactions up to and including
    ``calibration_end``, T measured to ``calibration_end``), customers first seen after it are
    dropped, and two hold-out columns are added: ``frequency_holdout`` (occasions in
    (calibration_end, observation_end]) and ``duration_holdout`` (length of that period).

    Output: DataFrame indexed by customer id (sorted), with float columns in units of
    ``time_unit_days`` days: ``frequency`` (int64, repeat occasions), ``recency`` (first to last
    occasion), ``T`` (first occasion to period end), ``monetary_value`` (mean value of the repeat
    occasions, 0 when frequency is 0). Vectorised groupbys only; linear in the number of rows.
    """
    if time_unit_days <= 0:
        raise ValueError("time_unit_days must be positive")
    for col in (customer_col, datetime_col) + ((monetary_col,) if monetary_col else ()):
        if col not in transactions.columns:
            raise ValueError(f"column {col!r} not found in transactions")
    obs_end = pd.Timestamp(observation_end).normalize()
    cal_end = obs_end if calibration_end is None else pd.Timestamp(calibration_end).normalize()
    if cal_end > obs_end:
        raise ValueError("calibration_end must not be after observation_end")

    ts = pd.to_datetime(transactions[datetime_col])
    if ts.isna().any():
        raise ValueError(f"column {datetime_col!r} has {int(ts.isna().sum())} missing timestamp(s)")
    if ts.dt.tz is not None:
        # Compare wall-clock days in the data's own zone; the period ends are naive dates.
        ts = ts.dt.tz_localize(None)
    if transactions[customer_col].isna().any():
        raise ValueError(f"column {customer_col!r} has missing customer ids")
    if monetary_col:
        money = pd.to_numeric(transactions[monetary_col], errors="coerce")
        if money.isna().any():
            raise ValueError(f"column {monetary_col!r} has {int(money.isna().sum())} NaN value(s)")
        if (money < 0).any():
            raise ValueError(f"column {monetary_col!r} has negative amounts")
    else:
        money = pd.Series(0.0, index=transactions.index)

    # Integer day numbers are much cheaper to group on than datetimes at millions of rows.
    day = (ts.dt.normalize() - pd.Timestamp("1970-01-01")).dt.days.to_numpy(np.int64)
    obs_day = (obs_end - pd.Timestamp("1970-01-01")).days
    cal_day = (cal_end - pd.Timestamp("1970-01-01")).days
    frame = pd.DataFrame(
        {
            "customer": transactions[customer_col].to_numpy(),
            "day": day,
            "value": money.to_numpy(np.float64),
        }
    )
    frame = frame[frame["day"] <= obs_day]
    occasions = frame.groupby(["customer", "day"], sort=True, observed=True)["value"].sum()
    occ = occasions.reset_index()
    cal = occ[occ["day"] <= cal_day]

    by_cust = cal.groupby("customer", sort=True, observed=True)
    first_day = by_cust["day"].min()
    last_day = by_cust["day"].max()
    n_occ = by_cust["day"].size()
    total_value = by_cust["value"].sum()
    # Occasions are sorted by (customer, day), so the group's first row is the first purchase.
    first_value = by_cust["value"].first()

    frequency = (n_occ - 1).astype(np.int64)
    repeat_value = (total_value - first_value).clip(lower=0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        monetary = np.where(frequency > 0, repeat_value / frequency.clip(lower=1), 0.0)
    summary = pd.DataFrame(
        {
            "frequency": frequency,
            "recency": (last_day - first_day) / time_unit_days,
            "T": (cal_day - first_day) / time_unit_days,
            "monetary_value": monetary,
        }
    )
    summary.index.name = customer_col

    if calibration_end is not None:
        hold = occ[occ["day"] > cal_day]
        hold_counts = hold.groupby("customer", observed=True)["day"].size()
        summary["frequency_holdout"] = (
            hold_counts.reindex(summary.index, fill_value=0).astype(np.int64).to_numpy()
        )
        summary["duration_holdout"] = (obs_day - cal_day) / time_unit_days
    return summary


# ---------------------------------------------------------------------------------------------
# Optimisation helpers
# ---------------------------------------------------------------------------------------------
def _compress(*columns: FloatArray) -> tuple[list[FloatArray], FloatArray]:
    """Unique rows of the given columns plus their multiplicities (likelihood weights)."""
    if len(columns[0]) == 0:
        return [c.copy() for c in columns], np.zeros(0)
    # A hash groupby is ~20x faster than np.unique(axis=0), which sorts a structured view.
    frame = pd.DataFrame({f"c{i}": col for i, col in enumerate(columns)})
    counts = frame.groupby(list(frame.columns), sort=False).size()
    uniq = counts.index.to_frame(index=False)
    return (
        [uniq[f"c{i}"].to_numpy(np.float64) for i in range(len(columns))],
        counts.to_numpy(np.float64),
    )


def _unique_rows(*columns: FloatArray) -> tuple[list[FloatArray], NDArray[np.intp]]:
    """Unique rows (in order of first appearance) and, per input row, the index of its row."""
    frame = pd.DataFrame({f"c{i}": col for i, col in enumerate(columns)})
    inverse = frame.groupby(list(frame.columns), sort=False).ngroup().to_numpy(np.intp)
    # ngroup(sort=False) numbers groups by first appearance, the same order drop_duplicates keeps.
    uniq = frame.drop_duplicates()
    return [uniq[f"c{i}"].to_numpy(np.float64) for i in range(len(columns))], inverse


Objective = Callable[[FloatArray], tuple[float, FloatArray]]


def _maximise(
    objective: Objective,
    x0: FloatArray,
    max_iter: int,
    *,
    analytic_grad: bool,
) -> tuple[FloatArray, bool, str]:
    """Minimise a (mean) negative log-likelihood over log-parameters inside a box.

    ``objective`` returns (value, gradient); without ``analytic_grad`` the gradient is ignored and
    L-BFGS-B uses finite differences. When L-BFGS-B stops abnormally - typical on a very flat
    optimum - Nelder-Mead restarts from its point and decides convergence.
    """
    bounds = [(-_LOG_BOUND, _LOG_BOUND)] * len(x0)
    big = 1e100

    def value(theta: FloatArray) -> float:
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            val = objective(theta)[0]
        return val if np.isfinite(val) else big

    def value_and_grad(theta: FloatArray) -> tuple[float, FloatArray]:
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            val, grad = objective(theta)
        if not (np.isfinite(val) and np.all(np.isfinite(grad))):
            return big, np.zeros_like(theta)
        return val, grad

    if analytic_grad:
        res = minimize(
            value_and_grad,
            x0,
            jac=True,
            method="L-BFGS-B",
            bounds=bounds,
            options={"maxiter": max_iter},
        )
    else:
        res = minimize(value, x0, method="L-BFGS-B", bounds=bounds, options={"maxiter": max_iter})
    if res.success and np.isfinite(res.fun) and res.fun < big:
        return np.asarray(res.x, dtype=np.float64), True, "L-BFGS-B: " + str(res.message)
    start = res.x if np.isfinite(res.fun) and res.fun < big else x0
    nm = minimize(
        value,
        start,
        method="Nelder-Mead",
        bounds=bounds,
        options={"maxiter": max_iter * 20, "xatol": 1e-7, "fatol": 1e-10},
    )
    ok = bool(nm.success) and np.isfinite(nm.fun) and nm.fun < big
    return np.asarray(nm.x, dtype=np.float64), ok, "Nelder-Mead: " + str(nm.message)


def _bound_note(theta: FloatArray, names: Sequence[str]) -> str:
    hit = [n for n, v in zip(names, theta, strict=True) if abs(v) >= _LOG_BOUND - 1e-6]
    return f"; parameter(s) at search bound: {', '.join(hit)}" if hit else ""


# ---------------------------------------------------------------------------------------------
# BG/NBD
# ---------------------------------------------------------------------------------------------
def _bgnbd_ll_and_grad(
    r: float,
    alpha: float,
    a: float,
    b: float,
    x: FloatArray,
    t_x: FloatArray,
    t_cap: FloatArray,
    with_grad: bool,
) -> tuple[FloatArray, FloatArray | None]:
    """Per-customer BG/NBD log-likelihood (Fader, Hardie & Lee 2005) and, optionally, its (4, n)
    gradient with respect to (r, alpha, a, b).

    LL = A1 + log(exp(A2) + [x > 0] exp(A3)) with
    A1 = lnΓ(r+x) - lnΓ(r) + r ln α - lnB(a, b),
    A2 = lnB(a, b+x) - (r+x) ln(α+T)            (alive through T),
    A3 = lnB(a+1, b+x-1) - (r+x) ln(α+t_x)      (dropped out right after the last purchase).
    """
    repeat = x > 0
    # b + x - 1 is guarded so x = 0 never evaluates betaln/digamma at a non-positive argument.
    b_drop = np.where(repeat, b + x - 1.0, 1.0)
    log_a_t = np.log(alpha + t_cap)
    log_a_tx = np.log(alpha + t_x)
    a1 = gammaln(r + x) - gammaln(r) + r * np.log(alpha) - betaln(a, b)
    a2 = betaln(a, b + x) - (r + x) * log_a_t
    a3 = np.where(repeat, betaln(a + 1.0, b_drop) - (r + x) * log_a_tx, -np.inf)
    mix = np.logaddexp(a2, a3)
    ll = a1 + mix
    if not with_grad:
        return ll, None
    w3 = np.exp(a3 - mix)  # posterior share of "dropped out" paths; 0 when x = 0
    w2 = 1.0 - w3
    psi_abx = digamma(a + b + x)
    d_r = digamma(r + x) - digamma(r) + np.log(alpha) - w2 * log_a_t - w3 * log_a_tx
    d_alpha = r / alpha - (r + x) * (w2 / (alpha + t_cap) + w3 / (alpha + t_x))
    d_a = (
        digamma(a + b)
        - digamma(a)
        + w2 * (digamma(a) - psi_abx)
        + w3 * (digamma(a + 1.0) - psi_abx)
    )
    d_b = (
        digamma(a + b)
        - digamma(b)
        + w2 * (digamma(b + x) - psi_abx)
        + w3 * (digamma(b_drop) - psi_abx)
    )
    return ll, np.vstack([d_r, d_alpha, d_a, d_b])


def bgnbd_log_likelihood(
    r: float,
    alpha: float,
    a: float,
    b: float,
    frequency: ArrayLike,
    recency: ArrayLike,
    T: ArrayLike,
) -> FloatArray:
    """Per-customer BG/NBD log-likelihood (Fader, Hardie & Lee 2005); length-n arrays in and out.

    Inputs are not validated here (it is the optimiser's inner loop); use :func:`validate_rfm`.
    """
    x, t_x, t_cap = (np.asarray(v, dtype=np.float64) for v in (frequency, recency, T))
    return _bgnbd_ll_and_grad(r, alpha, a, b, x, t_x, t_cap, with_grad=False)[0]


def _penalised_objective(
    ll_and_grad: Callable[..., tuple[FloatArray, FloatArray | None]],
    columns: Sequence[FloatArray],
    weights: FloatArray,
    penalizer: float,
) -> Objective:
    """Mean negative log-likelihood over compressed rows and its gradient in log-parameters.

    Averaging (not summing) keeps the optimiser's tolerances meaningful at any sample size.
    """
    total = float(weights.sum())

    def objective(theta: FloatArray) -> tuple[float, FloatArray]:
        params = np.exp(theta)
        ll, grad = ll_and_grad(*params, *columns, with_grad=True)
        value = -float(weights @ ll) / total + penalizer * float(np.sum(params**2))
        if grad is None:
            return value, np.full_like(theta, np.nan)
        # Chain rule for theta = log(param): d/dtheta = param * d/dparam.
        g = -(grad @ weights) / total * params + 2.0 * penalizer * params**2
        return value, g

    return objective


def fit_bgnbd(
    frequency: ArrayLike,
    recency: ArrayLike,
    T: ArrayLike,
    *,
    penalizer: float = 0.0,
    initial: Sequence[float] | None = None,
    max_iter: int = 500,
) -> BGNBDParams:
    """Maximum-likelihood BG/NBD fit on n customers.

    Inputs: three length-n arrays (repeat occasions, recency and T in one time unit). ``penalizer``
    adds ``penalizer * sum(params**2)`` to the mean negative log-likelihood (0 = plain MLE; a small
    value stabilises tiny samples). ``initial``: optional (r, alpha, a, b) start.
    Returns :class:`BGNBDParams`; ``converged`` is False when the optimiser did not succeed.
    Raises ``ValueError`` on invalid input or an empty sample.
    """
    x, t_x, t_cap = validate_rfm(frequency, recency, T)
    n = len(x)
    if n == 0:
        raise ValueError("cannot fit BG/NBD on zero customers")
    cols, w = _compress(x, t_x, t_cap)
    objective = _penalised_objective(_bgnbd_ll_and_grad, cols, w, penalizer)
    if initial is None:
        # r/alpha is the mean purchase rate, so start alpha at the pooled inter-purchase time.
        rate = max(float(x.sum()), 1.0) / max(float(t_cap.sum()), 1e-9)
        initial = (1.0, 1.0 / rate, 1.0, 1.0)
    theta0 = np.log(np.clip(np.asarray(initial, dtype=np.float64), 1e-6, 1e6))
    theta, ok, msg = _maximise(objective, theta0, max_iter, analytic_grad=True)
    r, alpha, a, b = (float(v) for v in np.exp(theta))
    ll = float(w @ bgnbd_log_likelihood(r, alpha, a, b, *cols))
    return BGNBDParams(
        r=r,
        alpha=alpha,
        a=a,
        b=b,
        log_likelihood=ll,
        converged=ok and math.isfinite(ll),
        n_customers=n,
        message=msg + _bound_note(theta, ("r", "alpha", "a", "b")),
    )


def _params_tuple(params: BGNBDParams | ParetoNBDParams) -> tuple[float, float, float, float]:
    if isinstance(params, BGNBDParams):
        return params.r, params.alpha, params.a, params.b
    return params.r, params.alpha, params.s, params.beta


def bgnbd_p_alive(
    params: BGNBDParams, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike
) -> FloatArray:
    """P(customer still alive at T | x, t_x, T) under BG/NBD (Fader, Hardie & Lee, "Computing
    P(alive) Using the BG/NBD Model", 2008).

    Length-n arrays in, probabilities in [0, 1] out; exactly 1 for frequency 0 (in BG/NBD a customer
    can only drop out right after a repeat purchase).
    """
    x, t_x, t_cap = validate_rfm(frequency, recency, T)
    r, alpha, a, b = _params_tuple(params)
    with np.errstate(divide="ignore", invalid="ignore"):
        log_odds_dead = (
            np.log(a)
            - np.log(np.where(x > 0, b + x - 1.0, 1.0))
            + (r + x) * (np.log(alpha + t_cap) - np.log(alpha + t_x))
        )
    return np.where(x > 0, expit(-log_odds_dead), 1.0)


# Gauss-Legendre rule for the Beta-posterior integral used when the closed form cannot be trusted.
_GL_NODES, _GL_WEIGHTS = np.polynomial.legendre.leggauss(64)
# Above this a, scipy's hyp2f1 overflows or loses accuracy in the closed form (checked against the
# quadrature: agreement to ~1e-9 up to a = 1000, non-finite from about a = 1e4). Such fits arise on
# data with nearly homogeneous dropout, where a and b both run off towards infinity.
_BGNBD_CLOSED_FORM_MAX_A = 500.0
_QUADRATURE_CHUNK = 65_536


def _bgnbd_alive_mean_quadrature(
    r: float, alpha: float, a: float, b: float, t: float, x: FloatArray, t_cap: FloatArray
) -> FloatArray:
    """E[purchases in (T, T+t] | alive at T] by direct integration over the dropout probability.

    Given alive, lambda ~ Gamma(r+x, alpha+T) and p ~ Beta(a, b+x) independently, and a buyer with
    (lambda, p) makes (1 - exp(-lambda p t))/p purchases on average; integrating lambda out leaves
    g(p) = (1 - (1 + p t/(alpha+T))^-(r+x)) / p, averaged here over the Beta with Gauss-Legendre
    nodes on mean ± 14 sd (self-normalised, so no betaln cancellation at huge a, b).
    """
    out = np.empty_like(x)
    ux, inv = np.unique(x, return_inverse=True)
    bx = b + ux
    mean = a / (a + bx)
    sd = np.sqrt(a * bx / ((a + bx) ** 2 * (a + bx + 1.0)))
    lo = np.maximum(mean - 14.0 * sd, 0.0)
    hi = np.minimum(mean + 14.0 * sd, 1.0)
    nodes = lo[:, None] + (hi - lo)[:, None] * (_GL_NODES[None, :] + 1.0) / 2.0
    log_pdf = (a - 1.0) * np.log(nodes) + (bx[:, None] - 1.0) * np.log1p(-nodes)
    weights = _GL_WEIGHTS[None, :] * np.exp(log_pdf - log_pdf.max(axis=1, keepdims=True))
    weights /= weights.sum(axis=1, keepdims=True)
    for start in range(0, len(x), _QUADRATURE_CHUNK):
        sl = slice(start, start + _QUADRATURE_CHUNK)
        p = nodes[inv[sl]]
        scale = (t / (alpha + t_cap[sl]))[:, None]
        g = -np.expm1(-(r + x[sl])[:, None] * np.log1p(p * scale)) / p
        out[sl] = np.sum(weights[inv[sl]] * g, axis=1)
    return out


def _bgnbd_alive_mean(
    r: float, alpha: float, a: float, b: float, t: float, x: FloatArray, t_cap: FloatArray
) -> FloatArray:
    """E[purchases in (T, T+t] | alive at T] under BG/NBD (length n, per (x, T) pair).

    Multiplied by P(alive) this is the FHL 2005 conditional expectation.
    """
    if t <= 0:
        return np.zeros_like(x)
    if abs(a - 1.0) < 1e-6:
        # The closed form is 0/0 at a = 1; average the two sides at ±1e-4 (error O(1e-8)), which are
        # far enough from 1 that the bracket's cancellation costs only ~4 digits.
        lo = _bgnbd_alive_mean(r, alpha, 1.0 - 1e-4, b, t, x, t_cap)
        hi = _bgnbd_alive_mean(r, alpha, 1.0 + 1e-4, b, t, x, t_cap)
        return 0.5 * (lo + hi)
    if a > _BGNBD_CLOSED_FORM_MAX_A:
        return _bgnbd_alive_mean_quadrature(r, alpha, a, b, t, x, t_cap)
    # g(p) above is decreasing in p, so the answer lies between g(1) and g(0); rows outside these
    # bounds (or non-finite) mean hyp2f1 failed and are recomputed by quadrature.
    upper = (r + x) * t / (alpha + t_cap)
    lower = -np.expm1(-(r + x) * np.log1p(t / (alpha + t_cap)))
    z = t / (alpha + t_cap + t)
    # Euler's transformation of 2F1(r+x, b+x; a+b+x-1; z) absorbs the ((alpha+T)/(alpha+T+t))^(r+x)
    # prefactor, leaving (1-z)^(a-1)·2F1(a+b-1-r, a-1; a+b+x-1; z): x now appears only in the lower
    # parameter, where it speeds up the series instead of overflowing it.
    with np.errstate(all="ignore"):
        hyp = hyp2f1(a + b - 1.0 - r, a - 1.0, a + b + x - 1.0, z)
        bracket = 1.0 - np.exp((a - 1.0) * np.log1p(-z)) * hyp
        closed = (a + b + x - 1.0) / (a - 1.0) * bracket
    slack = 1e-9 * upper + 1e-12
    bad = ~np.isfinite(closed) | (closed < lower - slack) | (closed > upper + slack)
    if bad.any():
        closed[bad] = _bgnbd_alive_mean_quadrature(r, alpha, a, b, t, x[bad], t_cap[bad])
    return np.clip(closed, lower, upper)


def bgnbd_expected_purchases(
    params: BGNBDParams,
    t: float,
    frequency: ArrayLike,
    recency: ArrayLike,
    T: ArrayLike,
) -> FloatArray:
    """Expected number of purchases in the next ``t`` time units given (x, t_x, T) (FHL 2005).

    Length-n arrays in, non-negative floats out. With the published CDNOW parameters, x=2,
    t_x=30.43, T=38.86 and t=39 weeks this is ≈ 1.226.
    """
    x, t_x, t_cap = validate_rfm(frequency, recency, T)
    r, alpha, a, b = _params_tuple(params)
    # The alive-conditional mean depends on (x, T) only: evaluate the costly part once per pair.
    (ux, uT), inverse = _unique_rows(x, t_cap)
    alive_mean = _bgnbd_alive_mean(r, alpha, a, b, float(t), ux, uT)[inverse]
    return bgnbd_p_alive(params, x, t_x, t_cap) * alive_mean


# ---------------------------------------------------------------------------------------------
# Pareto/NBD
# ---------------------------------------------------------------------------------------------
def _pareto_log_a0(
    r: float,
    alpha: float,
    s: float,
    beta: float,
    x: FloatArray,
    t_x: FloatArray,
    t_cap: FloatArray,
) -> FloatArray:
    """log A0 of Fader & Hardie's note (the "died between t_x and T" integral, up to s/(r+s+x)).

    A0 = K(t_x) - K(T). Their K(t) is 2F1(r+s+x, ·; r+s+x+1; z(t)) / (max(alpha,beta)+t)^(r+s+x)
    with the branch chosen so z is in [0, 1). Euler's transformation (after swapping the symmetric
    upper parameters when alpha < beta) leaves 2F1(1, ·; r+s+x+1; z), a series of positive terms
    that is at most (r+s+x)/s when alpha >= beta; x no longer sits in a large upper parameter, so
    heavy buyers cannot overflow hyp2f1, and the powers are taken in log space.
    """
    rx = r + x
    c = r + s + x + 1.0

    def log_k(t: FloatArray) -> FloatArray:
        if alpha >= beta:
            z = (alpha - beta) / (alpha + t)
            # K(t) = (alpha+t)^-(r+x) (beta+t)^-s 2F1(1, r+x; r+s+x+1; z)
            return -rx * np.log(alpha + t) - s * np.log(beta + t) + np.log(hyp2f1(1.0, rx, c, z))
        z = (beta - alpha) / (beta + t)
        # K(t) = (alpha+t)^(1-r-x) (beta+t)^-(s+1) 2F1(1, s+1; r+s+x+1; z)
        return (
            (1.0 - rx) * np.log(alpha + t)
            - (s + 1.0) * np.log(beta + t)
            + np.log(hyp2f1(1.0, s + 1.0, c, z))
        )

    k_tx = log_k(t_x)
    k_t = log_k(t_cap)
    # K is decreasing in t; rounding can make the difference marginally positive, hence the clip.
    diff = np.minimum(k_t - k_tx, 0.0)
    with np.errstate(divide="ignore"):
        return k_tx + np.log(-np.expm1(diff))


def pareto_nbd_log_likelihood(
    r: float,
    alpha: float,
    s: float,
    beta: float,
    frequency: ArrayLike,
    recency: ArrayLike,
    T: ArrayLike,
) -> FloatArray:
    """Per-customer Pareto/NBD log-likelihood (Fader & Hardie's 2005 note). Length n in/out.

    Inputs are not validated here (it is the optimiser's inner loop); use :func:`validate_rfm`.
    """
    x, t_x, t_cap = (np.asarray(v, dtype=np.float64) for v in (frequency, recency, T))
    common = gammaln(r + x) - gammaln(r) + r * np.log(alpha) + s * np.log(beta)
    alive = -(r + x) * np.log(alpha + t_cap) - s * np.log(beta + t_cap)
    died = np.log(s) - np.log(r + s + x) + _pareto_log_a0(r, alpha, s, beta, x, t_x, t_cap)
    return common + np.logaddexp(alive, died)


def fit_pareto_nbd(
    frequency: ArrayLike,
    recency: ArrayLike,
    T: ArrayLike,
    *,
    penalizer: float = 0.0,
    initial: Sequence[float] | None = None,
    max_iter: int = 500,
) -> ParetoNBDParams:
    """Maximum-likelihood Pareto/NBD fit on n customers (same inputs and options as
    :func:`fit_bgnbd`; ``initial`` is (r, alpha, s, beta)). Returns :class:`ParetoNBDParams`."""
    x, t_x, t_cap = validate_rfm(frequency, recency, T)
    n = len(x)
    if n == 0:
        raise ValueError("cannot fit Pareto/NBD on zero customers")
    cols, w = _compress(x, t_x, t_cap)

    def ll_only(*args: Any, with_grad: bool) -> tuple[FloatArray, None]:
        # The hypergeometric terms have no cheap parameter derivatives: finite differences.
        return pareto_nbd_log_likelihood(*args), None

    objective = _penalised_objective(ll_only, cols, w, penalizer)

    if initial is None:
        rate = max(float(x.sum()), 1.0) / max(float(t_cap.sum()), 1e-9)
        mean_t = max(float(t_cap.mean()), 1e-6)
        initial = (1.0, 1.0 / rate, 1.0, mean_t)
    theta0 = np.log(np.clip(np.asarray(initial, dtype=np.float64), 1e-6, 1e6))
    theta, ok, msg = _maximise(objective, theta0, max_iter, analytic_grad=False)
    r, alpha, s, beta = (float(v) for v in np.exp(theta))
    with np.errstate(all="ignore"):
        ll = float(w @ pareto_nbd_log_likelihood(r, alpha, s, beta, *cols))
    return ParetoNBDParams(
        r=r,
        alpha=alpha,
        s=s,
        beta=beta,
        log_likelihood=ll,
        converged=ok and math.isfinite(ll),
        n_customers=n,
        message=msg + _bound_note(theta, ("r", "alpha", "s", "beta")),
    )


def pareto_nbd_p_alive(
    params: ParetoNBDParams, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike
) -> FloatArray:
    """P(alive at T | x, t_x, T) under Pareto/NBD (Fader & Hardie's note); length n in/out."""
    x, t_x, t_cap = validate_rfm(frequency, recency, T)
    r, alpha, s, beta = _params_tuple(params)
    with np.errstate(all="ignore"):
        log_odds_dead = (
            np.log(s)
            - np.log(r + s + x)
            + (r + x) * np.log(alpha + t_cap)
            + s * np.log(beta + t_cap)
            + _pareto_log_a0(r, alpha, s, beta, x, t_x, t_cap)
        )
    return expit(-log_odds_dead)


def pareto_nbd_expected_purchases(
    params: ParetoNBDParams,
    t: float,
    frequency: ArrayLike,
    recency: ArrayLike,
    T: ArrayLike,
) -> FloatArray:
    """Expected purchases in the next ``t`` time units given (x, t_x, T) under Pareto/NBD (Fader &
    Hardie's note): (r+x)(beta+T)/((alpha+T)(s-1)) · [1 - ((beta+T)/(beta+T+t))^(s-1)] · P(alive).

    Length-n arrays in, non-negative floats out."""
    x, t_x, t_cap = validate_rfm(frequency, recency, T)
    r, alpha, s, beta = _params_tuple(params)
    pa = pareto_nbd_p_alive(params, x, t_x, t_cap)
    return _pareto_cond_expectation(r, alpha, s, beta, float(t), x, t_cap, pa)


def _pareto_cond_expectation(
    r: float,
    alpha: float,
    s: float,
    beta: float,
    t: float,
    x: FloatArray,
    t_cap: FloatArray,
    p_alive: FloatArray,
) -> FloatArray:
    if t <= 0:
        return np.zeros_like(x)
    span = np.log1p(t / (beta + t_cap))
    # [1 - ((beta+T)/(beta+T+t))^(s-1)] / (s-1) via expm1, so s -> 1 tends smoothly to `span`.
    growth = span if abs(s - 1.0) < 1e-10 else -np.expm1(-(s - 1.0) * span) / (s - 1.0)
    return (r + x) * (beta + t_cap) / (alpha + t_cap) * growth * p_alive


# ---------------------------------------------------------------------------------------------
# Gamma-Gamma
# ---------------------------------------------------------------------------------------------
def _gamma_gamma_ll_and_grad(
    p: float,
    q: float,
    v: float,
    x: FloatArray,
    m: FloatArray,
    with_grad: bool,
) -> tuple[FloatArray, FloatArray | None]:
    """Per-customer log-density of the mean spend z̄ = m given x > 0 repeat occasions and,
    optionally, its (3, n) gradient in (p, q, v). z̄ | nu ~ Gamma(p·x, rate nu·x), nu ~ Gamma(q,
    rate v), so f(z̄) = Γ(px+q) / (Γ(px) Γ(q)) · v^q · x^(px) · z̄^(px-1) / (v + x z̄)^(px+q)."""
    px = p * x
    log_x, log_m, log_vxm = np.log(x), np.log(m), np.log(v + x * m)
    ll = (
        gammaln(px + q)
        - gammaln(px)
        - gammaln(q)
        + q * np.log(v)
        + px * log_x
        + (px - 1.0) * log_m
        - (px + q) * log_vxm
    )
    if not with_grad:
        return ll, None
    psi_pxq = digamma(px + q)
    d_p = x * (psi_pxq - digamma(px) + log_x + log_m - log_vxm)
    d_q = psi_pxq - digamma(q) + np.log(v) - log_vxm
    d_v = q / v - (px + q) / (v + x * m)
    return ll, np.vstack([d_p, d_q, d_v])


def gamma_gamma_log_likelihood(
    p: float, q: float, v: float, frequency: ArrayLike, monetary_value: ArrayLike
) -> FloatArray:
    """Per-customer Gamma-Gamma log-density of the observed mean spend (Fader & Hardie 2013).

    Length-n arrays with frequency > 0 and monetary_value > 0 in, length n out (not validated).
    """
    x, m = (np.asarray(val, dtype=np.float64) for val in (frequency, monetary_value))
    return _gamma_gamma_ll_and_grad(p, q, v, x, m, with_grad=False)[0]


def fit_gamma_gamma(
    frequency: ArrayLike,
    monetary_value: ArrayLike,
    *,
    penalizer: float = 0.0,
    initial: Sequence[float] | None = None,
    max_iter: int = 500,
) -> GammaGammaParams:
    """Maximum-likelihood Gamma-Gamma fit.

    Inputs: length-n arrays of repeat occasions and mean repeat-occasion value (money). Only
    customers with frequency > 0 and monetary_value > 0 enter the likelihood (the model describes
    repeat spend; a zero mean has zero density). Returns :class:`GammaGammaParams` with
    ``n_customers`` = the number used. Raises ``ValueError`` when no customer qualifies.
    """
    x, m = _validate_spend(frequency, monetary_value, ("frequency", "monetary_value"))
    keep = (x > 0) & (m > 0)
    x, m = x[keep], m[keep]
    n = len(x)
    if n == 0:
        raise ValueError("Gamma-Gamma needs at least one customer with frequency > 0 and spend > 0")
    cols, w = _compress(x, m)
    objective = _penalised_objective(_gamma_gamma_ll_and_grad, cols, w, penalizer)

    if initial is None:
        # Moment-ish start: p·v/(q-1) ≈ mean spend with q = 2, p = 1.
        initial = (1.0, 2.0, max(float(np.mean(m)), 1e-6))
    theta0 = np.log(np.clip(np.asarray(initial, dtype=np.float64), 1e-6, 1e6))
    theta, ok, msg = _maximise(objective, theta0, max_iter, analytic_grad=True)
    p, q, v = (float(val) for val in np.exp(theta))
    ll = float(w @ gamma_gamma_log_likelihood(p, q, v, *cols))
    return GammaGammaParams(
        p=p,
        q=q,
        v=v,
        log_likelihood=ll,
        converged=ok and math.isfinite(ll),
        n_customers=n,
        message=msg + _bound_note(theta, ("p", "q", "v")),
    )


def gamma_gamma_expected_spend(
    params: GammaGammaParams, frequency: ArrayLike, monetary_value: ArrayLike
) -> FloatArray:
    """Posterior mean order value E[Z | x, z̄] = p(v + x·z̄)/(p·x + q - 1) (Fader & Hardie 2013).

    A credibility-weighted blend of the population mean p·v/(q-1) and the customer's own z̄, so
    frequency 0 gives the population mean. Length n in, money out. Needs q > 1.
    """
    x, m = _validate_spend(frequency, monetary_value, ("frequency", "monetary_value"))
    p, q, v = params.p, params.q, params.v
    if q <= 1.0:
        raise ValueError(f"Gamma-Gamma q={q:.4g} <= 1: the population mean spend does not exist")
    return p * (v + x * m) / (p * x + q - 1.0)


# ---------------------------------------------------------------------------------------------
# CLV
# ---------------------------------------------------------------------------------------------
def _empty_result(diagnostics: dict[str, Any], index: pd.Index) -> CLVResult:
    frame = pd.DataFrame({c: pd.Series(dtype=np.float64) for c in RESULT_COLUMNS}, index=index)
    return CLVResult(customers=frame, diagnostics=diagnostics)


def _empirical_purchase_model(
    x: FloatArray, t_x: FloatArray, t_cap: FloatArray
) -> tuple[FloatArray, FloatArray, float]:
    """Fallback rate and p_alive without a fitted model.

    Rate: the customer's repeat rate shrunk toward the pooled rate by one pseudo-purchase (a
    gamma-Poisson posterior mean with prior mean = pooled rate), so one-off buyers still get a
    sensible rate. p_alive: chance that a buyer at that rate stays silent as long as this customer
    has since the last purchase, exp(-rate · (T - t_x)), i.e. a plain recency rule.
    """
    pooled = float(x.sum()) / float(t_cap.sum()) if t_cap.sum() > 0 else 0.0
    rate = (x + 1.0) / (t_cap + 1.0 / pooled) if pooled > 0 else np.zeros_like(x)
    p_alive = np.exp(-rate * (t_cap - t_x))
    return rate, p_alive, pooled


def predict_clv(
    summary: pd.DataFrame,
    horizon_months: int = 12,
    monthly_discount_rate: float = 0.01,
    time_unit_days: float = 7.0,
    *,
    model: Literal["bgnbd", "pareto_nbd"] = "bgnbd",
    min_repeat_buyers: int = 20,
    purchase_params: BGNBDParams | ParetoNBDParams | None = None,
    spend_params: GammaGammaParams | None = None,
    penalizer: float = 0.0,
    fallback_order_value: float | None = None,
    frequency_col: str = "frequency",
    recency_col: str = "recency",
    T_col: str = "T",
    monetary_col: str = "monetary_value",
) -> CLVResult:
    """Per-customer expected purchases, p_alive, expected order value and discounted CLV.

    Input: an RFM summary (one row per customer, e.g. from :func:`rfm_summary_from_transactions`) in
    units of ``time_unit_days`` days. The purchase model (BG/NBD by default, or Pareto/NBD) and the
    Gamma-Gamma spend model are fitted on it unless pre-fitted ``purchase_params`` (whose type then
    decides the model) or ``spend_params`` are passed. ``penalizer`` is passed to the fits.

    CLV = Σ_{m=1..H} (E[Y(m)] - E[Y(m-1)]) · E[spend] / (1 + d)^m, where E[Y(m)] is the conditional
    expected purchase count in the first m months (a month is 365.25/12 days), d the monthly
    discount rate and H ``horizon_months``; cash flows are discounted at month end.

    Fallbacks never raise for data reasons. With fewer than ``min_repeat_buyers`` customers with
    frequency > 0, or a failed or non-converged fit, the purchase side becomes empirical: each
    customer's repeat rate shrunk towards the pooled rate by one pseudo-purchase, (x+1)/(T +
    1/pooled), and p_alive = exp(-rate·(T - t_x)), the chance that a buyer at that rate stays silent
    this long. Single rows with non-finite model output get the same values
    (``n_nonfinite_replaced``). An unusable Gamma-Gamma fit (fewer than ``min_repeat_buyers`` repeat
    buyers with spend > 0, no convergence, q <= 1) switches to the customer's own mean repeat spend,
    and for customers without repeat spend to the population mean (or ``fallback_order_value`` when
    given). ``diagnostics["fallback"]`` and ``diagnostics["spend_fallback"]`` say why (None when
    unused).

    Diagnostics keys: model ("bgnbd", "pareto_nbd" or "empirical"), spend_model ("gamma_gamma" or
    "own_mean"), params, spend_params (dicts), n_customers, n_repeat_buyers, converged, fallback,
    spend_fallback, horizon_months, monthly_discount_rate, time_unit_days, n_nonfinite_replaced.

    Output: :class:`CLVResult`. Raises ``ValueError`` for invalid input (missing column, NaN,
    negative values, recency > T, non-integer frequency), naming the column.
    """
    if horizon_months < 0 or int(horizon_months) != horizon_months:
        raise ValueError("horizon_months must be a non-negative whole number")
    if monthly_discount_rate <= -1.0 or not math.isfinite(monthly_discount_rate):
        raise ValueError("monthly_discount_rate must be finite and > -1")
    if time_unit_days <= 0:
        raise ValueError("time_unit_days must be positive")
    if purchase_params is not None:
        model = "bgnbd" if isinstance(purchase_params, BGNBDParams) else "pareto_nbd"
    if model not in ("bgnbd", "pareto_nbd"):
        raise ValueError(f"unknown model {model!r}; expected 'bgnbd' or 'pareto_nbd'")
    for col in (frequency_col, recency_col, T_col, monetary_col):
        if col not in summary.columns:
            raise ValueError(f"column {col!r} not found in the summary")
    x, t_x, t_cap = validate_rfm(
        summary[frequency_col], summary[recency_col], summary[T_col],
        names=(frequency_col, recency_col, T_col),
    )  # fmt: skip
    _, money = _validate_spend(x, summary[monetary_col], (frequency_col, monetary_col))
    n = len(x)
    n_repeat = int(np.count_nonzero(x > 0))
    diagnostics: dict[str, Any] = {
        "model": model,
        "spend_model": "gamma_gamma",
        "params": None,
        "spend_params": None,
        "n_customers": n,
        "n_repeat_buyers": n_repeat,
        "converged": False,
        "fallback": None,
        "spend_fallback": None,
        "horizon_months": int(horizon_months),
        "monthly_discount_rate": float(monthly_discount_rate),
        "time_unit_days": float(time_unit_days),
        "n_nonfinite_replaced": 0,
    }
    if n == 0:
        diagnostics["fallback"] = "no customers"
        diagnostics["model"] = None
        diagnostics["spend_model"] = None
        return _empty_result(diagnostics, summary.index[:0])

    months = int(horizon_months)
    month_len = DAYS_PER_MONTH / time_unit_days
    discount = (1.0 + monthly_discount_rate) ** -np.arange(1, months + 1, dtype=np.float64)

    # --- purchase model -------------------------------------------------------------------------
    fallback: str | None = None
    fitted: BGNBDParams | ParetoNBDParams | None = purchase_params
    if fitted is None:
        if n_repeat < min_repeat_buyers:
            fallback = (
                f"only {n_repeat} repeat buyer(s) (< min_repeat_buyers={min_repeat_buyers}); "
                "used empirical rate and recency rule"
            )
        else:
            try:
                if model == "bgnbd":
                    fitted = fit_bgnbd(x, t_x, t_cap, penalizer=penalizer)
                else:
                    fitted = fit_pareto_nbd(x, t_x, t_cap, penalizer=penalizer)
            except (ValueError, FloatingPointError, OverflowError) as exc:
                fallback = f"{model} fit failed ({exc}); used empirical rate and recency rule"
            else:
                if not fitted.converged:
                    fallback = (
                        f"{model} fit did not converge ({fitted.message}); "
                        "used empirical rate and recency rule"
                    )

    cumulative = np.zeros((months + 1, n))
    p_alive = np.ones(n)
    if fallback is None and fitted is not None:
        diagnostics["model"] = model
        diagnostics["params"] = fitted.as_dict()
        diagnostics["converged"] = bool(fitted.converged)
        with np.errstate(all="ignore"):
            if isinstance(fitted, BGNBDParams):
                p_alive = bgnbd_p_alive(fitted, x, t_x, t_cap)
                r, alpha, a, b = _params_tuple(fitted)
                # The alive-conditional mean depends on (x, T) only; evaluate it per unique pair.
                (ux, uT), inverse = _unique_rows(x, t_cap)
                for m in range(1, months + 1):
                    alive_mean = _bgnbd_alive_mean(r, alpha, a, b, m * month_len, ux, uT)
                    cumulative[m] = p_alive * alive_mean[inverse]
            else:
                p_alive = pareto_nbd_p_alive(fitted, x, t_x, t_cap)
                r, alpha, s, beta = _params_tuple(fitted)
                for m in range(1, months + 1):
                    cumulative[m] = _pareto_cond_expectation(
                        r, alpha, s, beta, m * month_len, x, t_cap, p_alive
                    )
    rate, emp_alive, pooled = _empirical_purchase_model(x, t_x, t_cap)
    emp_cumulative = (np.arange(months + 1)[:, None] * month_len) * (rate * emp_alive)[None, :]
    if fallback is not None:
        diagnostics["model"] = "empirical"
        diagnostics["params"] = {"pooled_rate_per_time_unit": pooled}
        p_alive, cumulative = emp_alive, emp_cumulative
    else:
        # Per-customer guard: a handful of extreme rows should not sink the whole run.
        bad = ~(np.isfinite(p_alive) & np.all(np.isfinite(cumulative), axis=0))
        diagnostics["n_nonfinite_replaced"] = int(bad.sum())
        if bad.any():
            p_alive = np.where(bad, emp_alive, p_alive)
            cumulative[:, bad] = emp_cumulative[:, bad]
    p_alive = np.clip(p_alive, 0.0, 1.0)
    # Cumulative expectations are non-decreasing in theory; clip tiny negative increments from
    # floating-point noise so no month contributes negative value.
    increments = np.clip(np.diff(cumulative, axis=0), 0.0, None)

    # --- spend model ----------------------------------------------------------------------------
    spenders = (x > 0) & (money > 0)
    n_spenders = int(spenders.sum())
    pop_mean = float(money[spenders].mean()) if n_spenders else 0.0
    if fallback_order_value is not None:
        pop_mean = float(fallback_order_value)
    spend_fallback: str | None = None
    gg: GammaGammaParams | None = spend_params
    if gg is None:
        if n_spenders < min_repeat_buyers:
            spend_fallback = (
                f"only {n_spenders} repeat buyer(s) with spend (< min_repeat_buyers="
                f"{min_repeat_buyers}); used own mean repeat spend"
            )
        else:
            try:
                gg = fit_gamma_gamma(x, money, penalizer=penalizer)
            except ValueError as exc:
                spend_fallback = f"gamma-gamma fit failed ({exc}); used own mean repeat spend"
    if gg is not None and spend_fallback is None:
        if not gg.converged:
            spend_fallback = f"gamma-gamma fit did not converge ({gg.message}); used own mean"
        elif gg.q <= 1.0:
            spend_fallback = f"gamma-gamma q={gg.q:.3g} <= 1 (no finite mean); used own mean"
    if spend_fallback is None and gg is not None:
        diagnostics["spend_params"] = gg.as_dict()
        order_value = gamma_gamma_expected_spend(gg, x, money)
    else:
        diagnostics["spend_model"] = "own_mean"
        diagnostics["spend_params"] = {"population_mean_order_value": pop_mean}
        order_value = np.where(spenders, money, pop_mean)
    diagnostics["spend_fallback"] = spend_fallback
    diagnostics["fallback"] = fallback

    expected_purchases = cumulative[months]
    clv = order_value * (discount @ increments) if months else np.zeros(n)
    customers = pd.DataFrame(
        {
            "expected_purchases": expected_purchases,
            "p_alive": p_alive,
            "churn_risk": 1.0 - p_alive,
            "expected_order_value": order_value,
            "predicted_clv": clv,
        },
        index=summary.index,
    )
    return CLVResult(customers=customers, diagnostics=diagnostics)
