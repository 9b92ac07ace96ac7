"""Model quality side by side: mlengine's paths against LightGBM / XGBoost defaults.

Tasks (each with its own split; every model sees the same rows):

* ``census``: adult.data -> adult.test (AUC, accuracy); also the tutorial and demo Wide & Deep
  programs and an ensemble of the demo's seeds (``--census-programs``).
* ``geo``: a generated regression on latitude x longitude with thresholds and a categorical
  effect (RMSE).
* ``housing``: a generated regression shaped like California housing: 8 numeric features
  (latitude and longitude of homes clustered in cities along a coast, a skewed income,
  heavy-tailed rooms, population and occupancy), a price surface of several local peaks,
  interactions and a cap (RMSE).
* ``rec``: generated clicks with user and item ids, a time split, a third of the test users
  unseen (AUC); ``rec_new``: the same with most test users unseen.
* ``movies``: generated MovieLens-like ratings (rating >= 4 positive): user and movie ids, genres,
  user features, timestamps; a time split where most test users are seen but most movies new.
* ``breast_cancer``, ``diabetes``: scikit-learn's small data sets, if scikit-learn is installed.

Models: ``tabular`` (:func:`mlengine.estimator.train_tabular` at its defaults, no feature
engineering: a Wide & Deep, averaged with BoostedTrees where the validation rows prefer it; the
summary counts the seeds that kept the blend), ``tabular_wide_deep`` (the same with
``blend_trees=False``: the Wide & Deep alone),
``boosted_trees`` (BoostedTreesClassifier/Regressor at TF's defaults over the columns
``infer_feature_columns`` gives trees), ``lightgbm`` and ``xgboost`` at their defaults
(categories as pandas categories; one thread, as the others train). Run::

    python benchmarks/tabular_quality.py --seeds 1 2 3 --tasks census geo housing rec
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mlengine import estimator
from mlengine import feature_column as fc
from mlengine.data import census

Split = tuple[pd.DataFrame, np.ndarray, pd.DataFrame, np.ndarray, str]  # x, y, tx, ty, kind


def auc(y: np.ndarray, p: np.ndarray) -> float:
    """Exact ROC AUC (ties averaged), without scikit-learn."""
    ranks = pd.Series(p).rank().to_numpy()
    pos = y == 1
    n_pos, n_neg = pos.sum(), (~pos).sum()
    return float((ranks[pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def scores(kind: str, y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    if kind == "binary":
        return {"auc": auc(y, p), "accuracy": float(np.mean((p > 0.5) == y))}
    return {"rmse": float(np.sqrt(np.mean((p - y) ** 2)))}


# ---------------------------------------------------------------------------- tasks


def census_task(seed: int) -> Split:
    x, y = census.load("train")
    tx, ty = census.load("test")
    return x.drop(columns=["fnlwgt"]), y, tx.drop(columns=["fnlwgt"]), ty, "binary"


def geo_task(seed: int, n: int = 20000) -> Split:
    rng = np.random.default_rng(100 + seed)
    lat, lon = rng.uniform(-1, 1, n), rng.uniform(-1, 1, n)
    region = rng.choice([f"r{i}" for i in range(20)], n)
    effect = {f"r{i}": v for i, v in enumerate(rng.normal(0, 0.3, 20))}
    y = (
        np.sin(3 * lat) * np.cos(2 * lon)
        + 0.6 * ((lat > 0.3) & (lon < -0.2))
        + np.vectorize(effect.get)(region)
        + rng.normal(0, 0.3, n)
    )
    x = pd.DataFrame({"lat": lat, "lon": lon, "region": region, "noise": rng.normal(size=n)})
    cut = int(n * 0.8)
    return x[:cut], y[:cut], x[cut:].reset_index(drop=True), y[cut:], "regression"


#: Cities of the ``housing`` task: latitude, longitude, spread of homes (degrees), share of
#: homes, and the price peak around each (its height and width in degrees).
CITIES = (
    (37.8, -122.3, 0.35, 0.22, 1.6, 0.35),
    (34.0, -118.3, 0.50, 0.34, 1.1, 0.45),
    (32.8, -117.1, 0.25, 0.10, 0.9, 0.25),
    (38.6, -121.4, 0.30, 0.09, 0.2, 0.30),
    (36.7, -119.8, 0.30, 0.07, -0.2, 0.40),
    (34.4, -119.7, 0.12, 0.03, 1.3, 0.12),
    (37.3, -121.9, 0.20, 0.07, 1.5, 0.20),
)


def housing_task(seed: int, n: int = 20000) -> Split:
    """A regression shaped like California housing (8 numeric features, 20,000 rows): homes
    clustered in cities and spread along a coast; the price (in 100,000s, capped at 5) is a
    surface of local peaks around some cities and the coast, times a skewed income's effect,
    with interactions (income x coast, rooms x occupancy), heavy tails and noise."""
    rng = np.random.default_rng(300 + seed)
    cities = np.array(CITIES)
    share = cities[:, 3] / cities[:, 3].sum()
    town = rng.choice(len(cities) + 1, n, p=np.append(share * 0.8, 0.2))
    rural = town == len(cities)
    place = np.minimum(town, len(cities) - 1)
    lat = np.where(rural, rng.uniform(32.6, 41.9, n), cities[place, 0])
    lat = lat + np.where(rural, 0, rng.normal(0, 1, n) * cities[place, 2])
    coast = -124.2 + (41.9 - lat) * 0.67  # the coast's longitude at a latitude
    inland = np.where(rural, rng.exponential(1.5, n), np.abs(rng.normal(0, 1, n)) * 0.4)
    lon = np.where(rural, coast + inland, cities[place, 1] + rng.normal(0, 1, n) * cities[place, 2])
    lon = np.maximum(lon, coast)  # nobody lives in the sea
    to_coast = lon - coast
    peaks = np.zeros(n)
    for c_lat, c_lon, _, _, height, width in CITIES:
        peaks += height * np.exp(-((lat - c_lat) ** 2 + (lon - c_lon) ** 2) / (2 * width**2))
    income = np.clip(rng.lognormal(1.25, 0.45, n) * np.exp(0.25 * peaks), 0.5, 15.0)
    age = np.clip(np.round(rng.normal(29, 12, n) + 8 * peaks), 1, 52)
    rooms = np.exp(rng.normal(1.6, 0.25, n)) + 0.3 * income + rng.pareto(3.0, n) * rural
    bedrooms = rooms * rng.normal(0.2, 0.03, n) + rng.pareto(4.0, n) * 0.1
    population = np.round(rng.lognormal(7.0, 0.75, n) * (1 + 0.5 * ~rural))
    occupancy = np.exp(rng.normal(1.0, 0.25, n)) + rng.pareto(2.0, n) * 0.2
    log_price = (
        -0.5
        + 0.55 * np.log(income)
        + 0.8 * peaks
        + 0.5 * np.exp(-to_coast / 0.3) * (0.5 + 0.1 * income) / 1.3
        - 0.15 * np.log1p(to_coast)
        + 0.05 * (age - 29) / 12 * (peaks > 0.5)
        - 0.08 * np.log(occupancy) * np.log(rooms)
        + 0.05 * (bedrooms / rooms - 0.2) / 0.03 * -0.3
    )
    price = np.exp(log_price + rng.normal(0, 0.15, n) + 0.08 * rng.standard_t(3, n))
    y = np.minimum(price, 5.0)
    x = pd.DataFrame(
        {
            "MedInc": income,
            "HouseAge": age,
            "AveRooms": rooms,
            "AveBedrms": bedrooms,
            "Population": population,
            "AveOccup": occupancy,
            "Latitude": np.round(lat, 2),
            "Longitude": np.round(lon, 2),
        }
    )
    cut = int(n * 0.8)
    return x[:cut], y[:cut], x[cut:].reset_index(drop=True), y[cut:], "regression"


def rec_task(seed: int, n: int = 40000, recent: bool = False) -> Split:
    """Clicks over time: users arrive over time (a third of the test users are new; 21% of
    the test rows), long-tailed activity, items with popularity and a category; a user's
    taste follows age and device. ``recent``: users click soon after they arrive, so most
    test users (two thirds of them; 58% of the test rows) are new (task ``rec_new``)."""
    rng = np.random.default_rng(200 + seed)
    t = np.sort(rng.uniform(0, 1, n))
    n_users = 8000
    arrival = np.sort(rng.uniform(0, 1, n_users))
    arrived = np.searchsorted(arrival, t)
    if recent:
        back = np.floor(rng.exponential(400, n)).astype(np.int64)
        user = np.maximum(arrived - 1 - back, 0)
    else:
        user = np.array([rng.integers(0, max(1, a)) for a in arrived])
    user = np.minimum(user, n_users - 1)
    # Long tail: recent arrivals and a few heavy users.
    heavy = rng.uniform(size=n) < 0.3
    user = np.where(heavy, rng.zipf(1.5, n) % 200, user)
    age = rng.integers(18, 70, n_users)
    device = rng.choice(["ios", "android", "web"], n_users)
    items = 600
    category = rng.choice([f"c{i}" for i in range(15)], items)
    item_bias = rng.normal(0, 1, items)
    item = rng.zipf(1.3, n) % items
    cat_index = np.array([int(c[1:]) for c in category])
    taste = (age[user] - 40) / 20 * (cat_index[item] % 3 - 1) + (device[user] == "ios") * (
        cat_index[item] % 2
    )
    hour = rng.integers(0, 24, n)
    logit = 0.8 * taste + item_bias[item] - 1.0 + 0.3 * np.sin(hour / 24 * 2 * np.pi)
    logit += rng.normal(0, 0.5, n_users)[user]  # each user's own bias
    y = (rng.uniform(size=n) < 1 / (1 + np.exp(-logit))).astype(np.int64)
    x = pd.DataFrame(
        {
            "user_id": [f"u{u}" for u in user],
            "item_id": [f"i{i}" for i in item],
            "category": category[item],
            "age": age[user],
            "device": device[user],
            "hour": hour,
        }
    )
    cut = int(n * 0.8)
    return x[:cut], y[:cut], x[cut:].reset_index(drop=True), y[cut:], "binary"


GENRES = ("action", "adventure", "animation", "children", "comedy", "crime", "documentary",
          "drama", "fantasy", "noir", "horror", "musical", "mystery", "romance", "scifi",
          "thriller", "war", "western")  # fmt: skip


def movies_task(seed: int, n: int = 40000) -> Split:
    """Ratings over time, MovieLens-like, the other way round from ``rec``: users are mostly
    seen in training (they joined early and keep rating) while movies are released over time
    and watched most when new, so most test movies are new. A rating of 4 or more is a
    positive; it follows the user's own bias and taste for genres (partly from age and
    gender), the movie's quality (unknown for a new one) and its genres; the share of
    positives drifts down with time."""
    rng = np.random.default_rng(300 + seed)
    t = np.sort(rng.uniform(0, 1, n))
    n_users, n_movies, k = 3000, 4000, len(GENRES)
    joined = rng.uniform(-0.5, 0.9, n_users)  # most users joined before the test period
    gender = rng.choice(["F", "M"], n_users, p=[0.3, 0.7])
    age = rng.choice([18, 25, 35, 45, 50, 56], n_users)
    occupation = rng.integers(0, 21, n_users)
    activity = rng.pareto(1.2, n_users) + 0.05
    released = np.sort(rng.uniform(-0.3, 1, n_movies))
    primary = rng.integers(0, k, n_movies)
    secondary = np.where(rng.uniform(size=n_movies) < 0.5, rng.integers(0, k, n_movies), primary)
    genres = np.array(
        ["|".join(sorted({GENRES[a], GENRES[b]})) for a, b in zip(primary, secondary, strict=True)]
    )
    quality = rng.normal(0, 0.8, n_movies)
    genre_effect = rng.normal(0, 0.4, k)
    # Taste: a user's affinity for each genre, partly from age and gender, partly their own.
    by_age = rng.normal(0, 0.5, (6, k))
    by_gender = rng.normal(0, 0.5, (2, k))
    age_index = np.searchsorted([18, 25, 35, 45, 50, 56], age)
    own = rng.normal(0, 0.6, (n_users, k))
    taste = by_age[age_index] + by_gender[(gender == "M").astype(int)] + own
    bias = rng.normal(0, 0.8, n_users)
    user = np.empty(n, dtype=np.int64)
    movie = np.empty(n, dtype=np.int64)
    for i, ti in enumerate(t):
        active = np.flatnonzero(joined <= ti)
        w = activity[active]
        user[i] = active[np.searchsorted(np.cumsum(w), rng.uniform(0, w.sum()))]
        out = np.searchsorted(released, ti, side="right")  # movies out by then
        age_of = ti - released[:out]
        w = np.exp(-age_of / 0.08) + 0.02  # new movies are watched most
        movie[i] = np.searchsorted(np.cumsum(w), rng.uniform(0, w.sum()))
    movie = np.minimum(movie, n_movies - 1)
    logit = (
        bias[user]
        + quality[movie]
        + genre_effect[primary[movie]]
        + 0.7 * (taste[user, primary[movie]] + taste[user, secondary[movie]]) / 2
        + 0.3
        - 0.4 * t
    )
    rating = np.clip(np.round(3.4 + 1.1 * logit + rng.normal(0, 0.9, n)), 1, 5)
    y = (rating >= 4).astype(np.int64)
    x = pd.DataFrame(
        {
            "user_id": [f"u{u}" for u in user],
            "movie_id": [f"m{m}" for m in movie],
            "genres": genres[movie],
            "year": (1990 + 30 * (released[movie] + 0.3) / 1.3).astype(np.int64),
            "gender": gender[user],
            "age": age[user],
            "occupation": occupation[user],
            "timestamp": (1.0e9 + t * 3.0e7).astype(np.int64),
        }
    )
    cut = int(n * 0.8)
    return x[:cut], y[:cut], x[cut:].reset_index(drop=True), y[cut:], "binary"


def sklearn_task(name: str) -> Callable[[int], Split]:
    def load(seed: int) -> Split:
        from sklearn import datasets

        data = getattr(datasets, f"load_{name}")(as_frame=True)
        x, y = data.data, data.target.to_numpy()
        order = np.random.default_rng(seed).permutation(len(x))
        cut = int(len(x) * 0.7)
        a, b = order[:cut], order[cut:]
        kind = "binary" if name == "breast_cancer" else "regression"
        return (
            x.iloc[a].reset_index(drop=True),
            y[a],
            x.iloc[b].reset_index(drop=True),
            y[b],
            kind,
        )

    return load


TASKS: dict[str, Callable[[int], Split]] = {
    "census": census_task,
    "geo": geo_task,
    "housing": housing_task,
    "rec": rec_task,
    "rec_new": lambda seed: rec_task(seed, recent=True),
    "movies": movies_task,
    "breast_cancer": sklearn_task("breast_cancer"),
    "diabetes": sklearn_task("diabetes"),
}

# ---------------------------------------------------------------------------- models


def _categories(x: pd.DataFrame, tx: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    x, tx = x.copy(), tx.copy()
    for key in x.columns:
        if not pd.api.types.is_numeric_dtype(x[key]):
            x[key] = x[key].astype(str).str.strip().astype("category")
            values = tx[key].astype(str).str.strip()
            known = x[key].cat.categories
            tx[key] = pd.Categorical(values.where(values.isin(known)), known)  # unseen: NaN
    return x, tx


def run_lightgbm(split: Split, seed: int) -> np.ndarray:
    import lightgbm

    x, y, tx, _, kind = split
    x, tx = _categories(x, tx)
    if kind == "binary":
        model = lightgbm.LGBMClassifier(verbose=-1, n_jobs=1, random_state=seed).fit(x, y)
        return np.asarray(model.predict_proba(tx)[:, 1])
    reg = lightgbm.LGBMRegressor(verbose=-1, n_jobs=1, random_state=seed).fit(x, y)
    return np.asarray(reg.predict(tx))


def run_xgboost(split: Split, seed: int) -> np.ndarray:
    import xgboost

    x, y, tx, _, kind = split
    x, tx = _categories(x, tx)
    args = {"enable_categorical": True, "n_jobs": 1, "random_state": seed}
    if kind == "binary":
        model = xgboost.XGBClassifier(**args).fit(x, y)
        return np.asarray(model.predict_proba(tx)[:, 1])
    return np.asarray(xgboost.XGBRegressor(**args).fit(x, y).predict(tx))


def _fn(x: pd.DataFrame, y: Any = None) -> Any:
    labels = None if y is None else pd.Series(y)
    return estimator.inputs.pandas_input_fn(x, labels, batch_size=4096, shuffle=False)


def _outputs(kind: str, predictions: Any) -> np.ndarray:
    key = "logistic" if kind == "binary" else "predictions"
    return np.array([p[key][0] for p in predictions])


def run_boosted_trees(split: Split, seed: int) -> np.ndarray:
    x, y, tx, _, kind = split
    columns = list(fc.infer_feature_columns(x, y).tree_feature_columns)
    config = estimator.RunConfig(tf_random_seed=seed, quiet=True)
    with tempfile.TemporaryDirectory() as model_dir:
        model: estimator.Estimator
        if kind == "binary":
            model = estimator.BoostedTreesClassifier(columns, 1, model_dir, config=config)
        else:
            model = estimator.BoostedTreesRegressor(columns, 1, model_dir, config=config)
        model.train(_fn(x, y))
        return _outputs(kind, model.predict(_fn(tx)))


def run_tabular_wide_deep(split: Split, seed: int) -> np.ndarray:
    x, y, tx, _, kind = split
    with tempfile.TemporaryDirectory() as model_dir:
        result = estimator.train_tabular(x, y, model_dir=model_dir, seed=seed, blend_trees=False)
        return _outputs(kind, result.estimator.predict(_fn(tx)))


def run_tabular(split: Split, seed: int) -> tuple[np.ndarray, dict[str, Any]]:
    x, y, tx, _, kind = split
    with tempfile.TemporaryDirectory() as model_dir:
        result = estimator.train_tabular(x, y, model_dir=model_dir, seed=seed)
        key = "logistic" if kind == "binary" else "predictions"
        return result.predict(tx)[key][:, 0], {"blended": result.blended}


MODELS: dict[str, Callable[[Split, int], Any]] = {
    "lightgbm": run_lightgbm,
    "xgboost": run_xgboost,
    "boosted_trees": run_boosted_trees,
    "tabular": run_tabular,
    "tabular_wide_deep": run_tabular_wide_deep,
}


def census_programs(seeds: list[int], rows: list[dict[str, Any]]) -> None:
    """The tutorial and demo programs (examples/census/wide_deep.py), and the ensemble of the
    demo's seeds (one version averaging them)."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples" / "census"))
    import wide_deep

    from mlengine.export import load
    from mlengine.export.ensemble import export_ensemble

    tx, ty = census.load("test")
    with tempfile.TemporaryDirectory() as root:
        exports = []
        for columns, epochs, evals, batch in (("tutorial", 40, 40, 40), ("demo", 20, 4, 1024)):
            for seed in seeds:
                tick = time.perf_counter()
                summary = wide_deep.main(
                    [
                        "--columns", columns, "--train-epochs", str(epochs),
                        "--epochs-between-evals", str(evals), "--batch-size", str(batch),
                        "--seed", str(seed), "--model-dir", f"{root}/m-{columns}-{seed}",
                        "--export-dir", f"{root}/e-{columns}-{seed}", "--quiet",
                    ]
                )  # fmt: skip
                rows.append(
                    {
                        "task": "census",
                        "model": f"wide_deep_{columns}",
                        "seed": seed,
                        "auc": summary["auc"],
                        "accuracy": summary["accuracy"],
                        "seconds": time.perf_counter() - tick,
                    }
                )
                print(json.dumps(rows[-1]), flush=True)
                if columns == "demo":
                    exports.append(summary["export"])
        if len(exports) >= 2:
            predictor = load(export_ensemble(f"{root}/ensemble", exports))
            p = predictor.predict(tx)["logistic"][:, 0]
            rows.append({"task": "census", "model": f"ensemble_demo_x{len(exports)}", "seed": 0,
                         **scores("binary", ty, p), "seconds": 0.0})  # fmt: skip
            print(json.dumps(rows[-1]), flush=True)


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--tasks", nargs="+", default=["census", "geo", "housing", "rec"], choices=TASKS
    )
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS)
    parser.add_argument("--seeds", nargs="+", type=int, default=[1])
    parser.add_argument("--census-programs", action="store_true")
    args = parser.parse_args(argv)
    rows: list[dict[str, Any]] = []
    for task in args.tasks:
        for seed in args.seeds:
            split = TASKS[task](seed)
            for name in args.models:
                tick = time.perf_counter()
                try:
                    out = MODELS[name](split, seed)
                except ImportError as missing:
                    print(f"skip {name}: {missing}", flush=True)
                    continue
                seconds = time.perf_counter() - tick
                p, extra = out if isinstance(out, tuple) else (out, {})
                row = {"task": task, "model": name, "seed": seed,
                       **scores(split[4], split[3], p), "seconds": seconds, **extra}  # fmt: skip
                rows.append(row)
                print(json.dumps(row), flush=True)
    if args.census_programs:
        census_programs(args.seeds, rows)
    print("\ntask           model                  " + "metric means over seeds (seconds)")
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault((row["task"], row["model"]), []).append(row)
    for (task, model), group in groups.items():
        metrics = [k for k in ("auc", "accuracy", "rmse") if k in group[0]]
        shown = ", ".join(f"{k} {statistics.mean(r[k] for r in group):.4f}" for k in metrics)
        seconds = statistics.mean(r["seconds"] for r in group)
        if "blended" in group[0]:
            shown += f", blended {sum(r['blended'] for r in group)}/{len(group)}"
        print(f"{task:14} {model:22} {shown} ({seconds:.1f} s, {len(group)} seed(s))")
    return rows


if __name__ == "__main__":
    main()
