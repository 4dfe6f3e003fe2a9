"""Re-identification risk of the released records: the measures.

On the columns the challenge's :class:`~kit.cards.schema.PrivacyPolicy` declares
(quasi-identifiers, sensitive attributes), :func:`assess_anonymity` measures k (the
smallest group of records with equal quasi-identifiers) and l (the fewest distinct
sensitive values in a group) over all released records, and the k that numeric
quasi-identifiers would reach in bands of a few widths (to suggest a remedy).
k and l are computed with pycanon when it is installed, else with pandas (the same
definitions); pycanon is optional and imported on first use.

The measures behind the three criteria of :mod:`kit.privacy.criteria` are here too, in
pure numpy over integer codes (one pass per combination, no Python loop over records):
which columns are candidate quasi-identifiers (:func:`candidate_kind`), how much each
combination of them singles records out (:func:`search_quasi_identifiers`), and, per
group of equal quasi-identifiers, the distinct sensitive values (l) and the distance of
their distribution to the whole's (t: :func:`ordered_distance`, :func:`variational_distance`).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from ..cards.schema import PrivacyPolicy
from ..errors import Problem
from .detectors import AGE_NAMES, MAX_EXAMPLES, name_pattern, normalise_name

BAND_WIDTHS = (2, 5, 10, 20)


# -- k-anonymity and l-diversity ----------------------------------------------------------------
@dataclass(frozen=True)
class AnonymityCheck:
    """k-anonymity and l-diversity of the released records on the policy's columns."""

    quasi_identifiers: tuple[str, ...]
    sensitive_attributes: tuple[str, ...]
    n_records: int
    n_classes: int
    k: int
    k_threshold: int
    records_below_k: int
    records_unique: int  # records alone in their group (k = 1 for them)
    k_examples: tuple[str, ...]  # "frame:row" of records in classes smaller than the threshold
    #: the measure's own name (also a key of :meth:`kit.privacy.PrivacyReport.to_dict`)
    l: int | None  # noqa: E741
    l_threshold: int
    classes_below_l: int
    l_examples: tuple[str, ...]
    engine: str
    suggestion: str = ""
    #: k after generalising numeric quasi-identifiers to bands of these widths
    banded_k: tuple[tuple[int, int], ...] = ()

    @property
    def k_ok(self) -> bool:
        return self.k >= self.k_threshold

    @property
    def l_ok(self) -> bool:
        return self.l is None or self.l >= self.l_threshold

    def problems(self) -> list[Problem]:
        out = []
        qi = ", ".join(self.quasi_identifiers)
        if not self.k_ok:
            out.append(
                Problem(
                    f"k-anonymity: k = {self.k} on ({qi}), the policy requires k >= {self.k_threshold}; "
                    f"{self.records_below_k} of {self.n_records} records are in smaller groups, "
                    f"e.g. {', '.join(self.k_examples)}",
                    where="privacy.k_anonymity",
                    fix=self.suggestion or "generalise or drop quasi-identifiers until every group is large enough",
                )
            )
        if not self.l_ok:
            out.append(
                Problem(
                    f"l-diversity: l = {self.l} for ({', '.join(self.sensitive_attributes)}) within groups of ({qi}), "
                    f"the policy requires l >= {self.l_threshold}; {self.classes_below_l} group(s) fall short, "
                    f"e.g. records {', '.join(self.l_examples)}",
                    where="privacy.l_diversity",
                    fix="generalise the quasi-identifiers so that each group mixes more sensitive values",
                )
            )
        return out


def _release_table(frames: Mapping[str, pd.DataFrame], policy: PrivacyPolicy, key: str | None):
    """One row per released person with the quasi-identifiers and sensitive attributes."""
    qi = list(policy.quasi_identifiers)
    sa = list(policy.sensitive_attributes)
    problems = []
    people = [n for n in frames if all(c in frames[n].columns for c in qi)]
    if not people:
        missing = [c for c in qi if not any(c in f.columns for f in frames.values())]
        problems.append(
            Problem(
                f"quasi-identifier(s) {missing or qi} are not together in any released table",
                where="privacy.quasi_identifiers",
                fix="name columns that exist in the released tables (check the spelling)",
            )
        )
        return None, problems
    parts = []
    for name in people:
        f = frames[name]
        part = f[[c for c in dict.fromkeys(qi + sa + ([key] if key else [])) if c in f.columns]].copy()
        part["_where"] = [f"{name}:{i}" for i in range(len(f))]
        for s in sa:
            if s in part.columns:
                continue
            sources = [
                frames[o][[key, s]]
                for o in frames
                if key and o != name and key in frames[o].columns and s in frames[o].columns
            ]
            if key in part.columns and sources:
                lookup = pd.concat(sources).drop_duplicates(key)
                part = part.merge(lookup, on=key, how="left")
        parts.append(part)
    table = pd.concat(parts, ignore_index=True)
    if key and key in table.columns:
        table = table.drop_duplicates(subset=key, keep="first").reset_index(drop=True)
    for s in sa:
        if s not in table.columns:
            problems.append(
                Problem(
                    f"sensitive attribute {s!r} is not in any released table "
                    f"{'linked by ' + repr(key) if key else ''}".rstrip(),
                    where="privacy.sensitive_attributes",
                    fix="name columns that exist in the released tables (check the spelling)",
                )
            )
    return table, problems


def _k_l(table: pd.DataFrame, qi: list[str], sa: list[str]):
    """(k, l, engine) computed with pycanon when it is installed, else with pandas (same definitions)."""
    try:
        import pycanon
        from pycanon import anonymity
    except ImportError:
        anonymity = None
    if anonymity is not None:
        k = int(anonymity.k_anonymity(table, qi))
        l_value = int(anonymity.l_diversity(table, qi, sa)) if sa else None
        return k, l_value, f"pycanon {getattr(pycanon, '__version__', '')}".strip()
    groups = table.groupby(qi, dropna=False, sort=False)
    k = int(groups.size().min())
    l_value = int(groups[sa].nunique().min(axis=1).min()) if sa else None
    return k, l_value, "pandas"


def _strings(table: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """Columns as strings, missing values as their own value: equality as an attacker sees it."""
    return pd.DataFrame({c: table[c].astype("string").fillna("<missing>").astype(str) for c in columns})


def _banded_k(table: pd.DataFrame, qi: list[str], width: int) -> int | None:
    numeric = [c for c in qi if pd.api.types.is_numeric_dtype(table[c]) and table[c].nunique() > 2]
    if not numeric:
        return None
    banded = table[qi].copy()
    for c in numeric:
        banded[c] = np.floor(table[c] / width) * width
    return int(_strings(banded, qi).groupby(qi, sort=False).size().min())


def banded_suggestion(
    table: pd.DataFrame, qi: list[str], k: int, k_threshold: int
) -> tuple[tuple[tuple[int, int], ...], str]:
    """k with numeric quasi-identifiers in bands of each of :data:`BAND_WIDTHS`, and the remedy when k is short."""
    banded = tuple((w, bk) for w in BAND_WIDTHS if (bk := _banded_k(table, qi, w)) is not None)
    if k >= k_threshold:
        return banded, ""
    reach = next(((w, bk) for w, bk in banded if bk >= k_threshold), None)
    numeric = [c for c in qi if pd.api.types.is_numeric_dtype(table[c]) and table[c].nunique() > 2]
    if reach:
        return banded, (
            f"generalise {', '.join(numeric)} to bands of width {reach[0]} (gives k = {reach[1]}), "
            "or drop a quasi-identifier"
        )
    return banded, "drop or coarsen quasi-identifiers (bands of width up to 20 are not enough)"


def assess_anonymity(
    frames: Mapping[str, pd.DataFrame], policy: PrivacyPolicy, *, key: str | None = None
) -> tuple[AnonymityCheck | None, list[Problem]]:
    """k-anonymity and l-diversity on the policy's columns over all released records."""
    qi = list(policy.quasi_identifiers)
    sa = list(policy.sensitive_attributes)
    if not qi:
        return None, []
    table, problems = _release_table(frames, policy, key)
    if table is None or problems:
        return None, problems
    strings = _strings(table, qi + sa)
    groups = strings.groupby(qi, sort=False)
    sizes = groups[qi[0]].transform("size").to_numpy()
    where = table["_where"].to_numpy()
    small = sizes < policy.k_anonymity
    l_rows = np.zeros(len(table), dtype=bool)
    classes_below_l = 0
    with_sa = strings
    if sa:
        # records without a sensitive value say nothing about it; l is measured on the others
        keep = table[sa].notna().all(axis=1).to_numpy()
        with_sa = strings[keep]
        distinct = with_sa.groupby(qi, sort=False)[sa].transform("nunique").min(axis=1).to_numpy()
        below = distinct < policy.l_diversity
        l_rows[np.flatnonzero(keep)[below]] = True
        classes_below_l = int(with_sa[below].groupby(qi, sort=False).ngroups) if below.any() else 0
    k, l_value, engine = _k_l(strings.reset_index(drop=True), qi, [])
    if sa:
        _, l_value, _ = _k_l(with_sa.reset_index(drop=True), qi, sa)
    banded, suggestion = banded_suggestion(table, qi, k, policy.k_anonymity)
    check = AnonymityCheck(
        quasi_identifiers=tuple(qi),
        sensitive_attributes=tuple(sa),
        n_records=len(table),
        n_classes=int(groups.ngroups),
        k=k,
        k_threshold=policy.k_anonymity,
        records_below_k=int(small.sum()),
        records_unique=int((sizes == 1).sum()),
        k_examples=tuple(where[small][:MAX_EXAMPLES]),
        l=l_value,
        l_threshold=policy.l_diversity,
        classes_below_l=classes_below_l,
        l_examples=tuple(where[l_rows][:MAX_EXAMPLES]),
        engine=engine,
        suggestion=suggestion,
        banded_k=banded,
    )
    return check, []


# -- quasi-identifier candidates ----------------------------------------------------------------
#: text or categorical columns with at most this many distinct values are candidate quasi-identifiers
MAX_LEVELS = 100
#: numeric columns with at most this many distinct values (codes: grades, stages, flags) are candidates
MAX_CODES = 20
#: at most this many candidate columns enter the search (named ones first, then in column order)
MAX_CANDIDATES = 25
#: above this many records the combinations are ranked on a seeded sample of this size (the figures
#: reported are recomputed on every record); below, the ranking is exact. 100,000 records x 25
#: candidates (2,625 combinations of up to 3) take about a second and a half on one core.
SEARCH_ROWS = 200_000

SEX_NAMES = name_pattern(r"sex", r"sexe", r"gender", r"genre")
GEOGRAPHY_NAMES = name_pattern(
    r"zip(?:_?code)?",
    r"post_?code(?:_?district)?",
    r"postal_?code",
    r"code_?postal",
    r"commune",
    r"city",
    r"town",
    r"ville",
    r"d(?:e|_)partements?",
    r"departments?",
    r"regions?",
    r"canton",
    r"iris",
    r"insee",
    r"country",
    r"pays",
    r"nuts\d?",
    r"district",
    r"county",
    r"arrondissement",
    r"lsoa",
    r"msoa",
    r"municipality",
    r"residence",
    r"birth_?place",
    r"place_of_birth",
    r"lieu",
    r"nationality",
    r"nationalit(?:e|_)?",
    r"latitude",
    r"longitude",
)
#: dates and their parts (names are normalised first: accents become "_"); an event alone (birth,
#: admission) is not enough: birth_weight is a measurement
DATE_NAMES = name_pattern(
    r"dates?", r"dob", r"yob", r"year", r"ann(?:e|_)e", r"month", r"mois", r"week", r"semaine", r"timestamp"
)
#: whole tokens only: "valid", "lipid" or "covid" are not identifiers
ID_NAMES = name_pattern(r"ids?", r"identifi(?:ers?|ants?)", r"uuid", r"guid", r"nir", r"ipp", r"mrn", r"ssn", r"nss")


def _is_text(series: pd.Series) -> bool:
    return (
        pd.api.types.is_object_dtype(series)
        or pd.api.types.is_string_dtype(series)
        or isinstance(series.dtype, pd.CategoricalDtype)
        or pd.api.types.is_bool_dtype(series)
    )


def _free_text(values: pd.Series) -> bool:
    """Long values with spaces in most of them (checked on at most 1,000 distinct values)."""
    text = pd.Series(values.unique()[:1000]).astype(str)
    return bool(len(text)) and bool(text.str.len().mean() >= 20 and text.str.contains(" ").mean() >= 0.5)


def candidate_kind(name, series: pd.Series) -> str:
    """Why a column is a candidate quasi-identifier, or ``""`` when it is not one.

    ``"age"``, ``"sex"``, ``"geography"``, ``"date"`` (by name, or a datetime column),
    ``"categorical"`` (text, boolean or category with at most :data:`MAX_LEVELS` values and
    not one per record) or ``"code"`` (numeric with at most :data:`MAX_CODES` values).
    Not candidates: constant columns, identifiers (by name, or text or integers with one value
    per record), free text, and numeric measurements with more values.
    """
    norm = normalise_name(name)
    values = series.dropna()
    n_levels = int(values.nunique())
    if n_levels < 2 or (_is_text(series) and _free_text(values)):
        return ""
    if AGE_NAMES.search(norm):
        return "age"
    if SEX_NAMES.search(norm):
        return "sex"
    if GEOGRAPHY_NAMES.search(norm):
        return "geography"
    if DATE_NAMES.search(norm) or pd.api.types.is_datetime64_any_dtype(series):
        return "date"
    if ID_NAMES.search(norm):
        return ""
    if _is_text(series):
        return "categorical" if n_levels <= MAX_LEVELS and n_levels <= len(values) / 2 else ""
    if pd.api.types.is_numeric_dtype(series) and n_levels <= MAX_CODES:
        return "code"
    return ""


# -- groups of equal quasi-identifiers ----------------------------------------------------------
def encode(series: pd.Series) -> tuple[np.ndarray, int]:
    """Integer codes of a column (missing is a value of its own) and their number."""
    codes, levels = pd.factorize(series, use_na_sentinel=False)
    return codes.astype(np.int64), max(len(levels), 1)


def _combined(codes: Sequence[np.ndarray], levels: Sequence[int]) -> tuple[np.ndarray, int]:
    """One int64 key per record for a combination of coded columns, and the size of the key space."""
    key = np.zeros(len(codes[0]) if codes else 0, dtype=np.int64)
    space = 1
    for c, n in zip(codes, levels, strict=True):
        if space * n >= 2**62:  # keep the key within int64: renumber the groups so far
            _, key = np.unique(key, return_inverse=True)
            space = int(key.max()) + 1 if key.size else 1
        key = key * n + c
        space *= n
    return key, space


def class_sizes(codes: Sequence[np.ndarray], levels: Sequence[int]) -> np.ndarray:
    """The size of every non-empty group of equal values (order unspecified)."""
    key, space = _combined(codes, levels)
    if space <= max(4 * key.size, 1 << 16):
        counts = np.bincount(key, minlength=space)
        return counts[counts > 0]
    return np.unique(key, return_counts=True)[1]


def group_ids(codes: Sequence[np.ndarray], levels: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    """(group of every record numbered 0.., size of every group)."""
    key, _ = _combined(codes, levels)
    _, ids, sizes = np.unique(key, return_inverse=True, return_counts=True)
    return ids.reshape(-1), sizes


@dataclass(frozen=True)
class Combination:
    """How much one combination of quasi-identifiers singles records out (over every record)."""

    columns: tuple[str, ...]
    n_records: int
    n_classes: int
    k: int  # the smallest group
    records_unique: int  # records alone in their group
    records_below_k: int  # records in groups smaller than the policy's k
    declared: bool = False

    @property
    def unique_share(self) -> float:
        return self.records_unique / self.n_records if self.n_records else 0.0

    def to_dict(self) -> dict:
        return asdict(self) | {"unique_share": self.unique_share}


def _combination(columns, sizes: np.ndarray, k_threshold: int, declared=False) -> Combination:
    return Combination(
        columns=tuple(columns),
        n_records=int(sizes.sum()),
        n_classes=int(sizes.size),
        k=int(sizes.min()) if sizes.size else 0,
        records_unique=int((sizes == 1).sum()),
        records_below_k=int(sizes[sizes < k_threshold].sum()),
        declared=declared,
    )


def _rank(c: Combination) -> tuple:
    """Riskiest first: more unique records, more records below k, smaller k, fewer columns."""
    return (-c.records_unique, -c.records_below_k, c.k, len(c.columns))


@dataclass(frozen=True)
class Search:
    """The automatic search for quasi-identifiers: candidates and their riskiest combinations."""

    candidates: tuple[tuple[str, str], ...]  # (column, kind)
    combinations: tuple[Combination, ...]  # the riskiest, riskiest first (every record)
    n_tested: int
    max_combination: int
    ranked_on: int  # records the ranking was computed on (a seeded sample above SEARCH_ROWS)
    n_records: int
    skipped: tuple[str, ...] = ()  # candidates left out above MAX_CANDIDATES

    @property
    def riskiest(self) -> Combination | None:
        return self.combinations[0] if self.combinations else None

    @property
    def method(self) -> str:
        text = (
            f"{self.n_tested} combination(s) of up to {self.max_combination} of {len(self.candidates)} "
            "candidate column(s) ranked by the records they make unique"
        )
        if self.ranked_on < self.n_records:
            text += (
                f" (ranked on a seeded sample of {self.ranked_on} of {self.n_records} records, "
                f"{self.ranked_on / self.n_records:.0%}; figures recomputed on every record)"
            )
        if self.skipped:
            text += f"; {len(self.skipped)} more candidate(s) not searched: {', '.join(self.skipped)}"
        return text


def search_quasi_identifiers(
    table: pd.DataFrame,
    candidates: Sequence[tuple[str, str]],
    *,
    k_threshold: int,
    max_combination: int = 3,
    top: int = 5,
    search_rows: int = SEARCH_ROWS,
    seed: int = 0,
) -> Search:
    """Rank every combination of up to ``max_combination`` candidate columns by the records it makes unique.

    The ``top`` riskiest are kept, leaving out a combination whose unique records, records
    below k and k are those of one of its parts (the extra column adds nothing). Ranking is exact up to
    ``search_rows`` records, on a seeded sample above; the kept combinations' figures are
    always computed on every record.
    """
    named = [c for c in candidates if c[1] not in ("categorical", "code")]
    chosen = (named + [c for c in candidates if c not in named])[:MAX_CANDIDATES]
    ordered = [c for c in candidates if c in chosen]  # in column order
    skipped = tuple(c for c, _ in candidates if (c, _) not in chosen)
    columns = [c for c, _ in ordered]
    n = len(table)
    encoded = {c: encode(table[c]) for c in columns}
    rows = np.arange(n)
    if n > search_rows:
        rows = np.sort(np.random.default_rng(seed).choice(n, search_rows, replace=False))
    sample = {c: (codes[rows], levels) for c, (codes, levels) in encoded.items()}
    stats: dict[tuple[str, ...], Combination] = {}
    for size in range(1, min(max_combination, len(columns)) + 1):
        for combo in itertools.combinations(columns, size):
            sizes = class_sizes(*_coded(sample, combo))
            stats[combo] = _combination(combo, sizes, k_threshold)

    def adds_nothing(combo: tuple[str, ...]) -> bool:
        here = stats[combo]
        for part in itertools.combinations(combo, len(combo) - 1):
            p = stats.get(part)
            if p is not None and (p.records_unique, p.records_below_k, p.k) == (
                here.records_unique,
                here.records_below_k,
                here.k,
            ):
                return True
        return False

    kept = [c for c in sorted(stats.values(), key=_rank) if len(c.columns) == 1 or not adds_nothing(c.columns)][:top]
    full = [_combination(c.columns, class_sizes(*_coded(encoded, c.columns)), k_threshold) for c in kept]
    return Search(
        candidates=tuple(ordered),
        combinations=tuple(sorted(full, key=_rank)),
        n_tested=len(stats),
        max_combination=max_combination,
        ranked_on=len(rows),
        n_records=n,
        skipped=skipped,
    )


def _coded(encoded: Mapping[str, tuple[np.ndarray, int]], columns: Sequence[str]):
    return [encoded[c][0] for c in columns], [encoded[c][1] for c in columns]


def combination(table: pd.DataFrame, columns: Sequence[str], *, k_threshold: int, declared=False) -> Combination:
    """The figures of one combination over every record of ``table``."""
    encoded = {c: encode(table[c]) for c in columns}
    return _combination(columns, class_sizes(*_coded(encoded, columns)), k_threshold, declared)


# -- l-diversity and t-closeness per group ------------------------------------------------------
def distinct_per_class(ids: np.ndarray, values: np.ndarray, n_classes: int) -> np.ndarray:
    """The number of distinct values (integer codes) in every group."""
    base = int(values.max()) + 1 if values.size else 1
    return np.bincount(np.unique(ids * base + values) // base, minlength=n_classes)


def is_ordered(series: pd.Series) -> bool:
    """Numeric (not boolean) or an ordered categorical: t-closeness uses the ordered distance."""
    if isinstance(series.dtype, pd.CategoricalDtype):
        return bool(series.dtype.ordered)
    return pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)


def ranks(series: pd.Series) -> tuple[np.ndarray, int]:
    """Rank of every value among the distinct values in order (0..m-1), and m."""
    if isinstance(series.dtype, pd.CategoricalDtype):
        series = series.cat.remove_unused_categories()
        return series.cat.codes.to_numpy().astype(np.int64), len(series.cat.categories)
    distinct, rank = np.unique(series.to_numpy(), return_inverse=True)
    return rank.reshape(-1).astype(np.int64), len(distinct)


def ordered_distance(ids: np.ndarray, rank: np.ndarray, m: int, n_classes: int) -> np.ndarray:
    """Earth mover's distance of every group's distribution to the whole's, ordered ground distance.

    Li, Li and Venkatasubramanian (2007), *t-Closeness*: for m ordered values,
    ``EMD(P, Q) = 1/(m-1) * sum_i |sum_{j<=i} (p_j - q_j)|``. Computed for every group at once in
    O(n log n): between two consecutive values of a group its cumulative share is constant, and the
    whole's cumulative share is monotone, so each stretch is summed from prefix sums.
    """
    if m <= 1:
        return np.zeros(n_classes)
    n = rank.size
    q_cum = np.cumsum(np.bincount(rank, minlength=m)) / n  # F_Q(i)
    s = np.concatenate([[0.0], np.cumsum(q_cum)])  # s[i] = sum_{j<i} F_Q(j)
    order = np.lexsort((rank, ids))
    gid, r = ids[order], rank[order]
    sizes = np.bincount(ids, minlength=n_classes)
    start = np.cumsum(sizes) - sizes
    t = np.arange(n) - start[gid] + 1  # position in the group, from 1
    last = np.r_[gid[1:] != gid[:-1], True]
    a = r
    b = np.where(last, m, np.r_[r[1:], m])
    v = t / sizes[gid]  # F_P on [a, b)
    p = np.clip(np.searchsorted(q_cum, v, side="left"), a, b)
    stretch = v * (p - a) - (s[p] - s[a]) + (s[b] - s[p]) - v * (b - p)
    first = np.r_[True, gid[1:] != gid[:-1]]
    total = np.bincount(gid, weights=stretch, minlength=n_classes)
    total[gid[first]] += s[r[first]]  # [0, first value) where F_P = 0
    return total / (m - 1)


def variational_distance(ids: np.ndarray, values: np.ndarray, n_classes: int) -> np.ndarray:
    """Variational distance (EMD with equal ground distance) of every group's distribution to the whole's.

    ``D(P, Q) = 1/2 * sum_i |p_i - q_i|`` (Li et al. 2007), for categorical values (integer codes).
    """
    n_values = int(values.max()) + 1 if values.size else 1
    q = np.bincount(values, minlength=n_values) / values.size
    pairs, counts = np.unique(ids * n_values + values, return_counts=True)
    gid, val = pairs // n_values, pairs % n_values
    sizes = np.bincount(ids, minlength=n_classes)
    p = counts / sizes[gid]
    inside = np.bincount(gid, weights=np.abs(p - q[val]) - q[val], minlength=n_classes)
    return 0.5 * (inside + 1.0)


# -- the records: one row per released person ---------------------------------------------------
def release_records(
    frames: Mapping[str, pd.DataFrame], *, key: str | None = None, keep: Iterable[str] = ()
) -> pd.DataFrame:
    """One row per released person, every column of every table, ``_where`` its first ``"table:row"``.

    With ``key``, rows of different tables with the same key are one person (each column
    from the first table that has a value for it; a column constant in a table, such as the
    placeholder predictions of a sample submission, is taken from the other tables holding
    it). The persons are those of the tables that hold a candidate quasi-identifier or a
    column of ``keep``; without ``key``, their rows are the records.
    """
    keep = set(keep)

    def holds_people(f: pd.DataFrame) -> bool:
        return any(c in keep or (c != key and candidate_kind(c, f[c])) for c in f.columns)

    people = [n for n, f in frames.items() if holds_people(f)]
    if not key:
        parts = [frames[n].assign(_where=[f"{n}:{i}" for i in range(len(frames[n]))]) for n in people]
        return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame({"_where": []})
    held: dict[str, int] = {}
    for f in frames.values():
        for c in f.columns:
            held[c] = held.get(c, 0) + 1
    parts = []
    unkeyed = []
    for n, f in frames.items():
        part = f.assign(_where=[f"{n}:{i}" for i in range(len(f))])
        if key not in f.columns:
            if n in people:
                unkeyed.append(part)
            continue
        if len(f) > 1:
            constant = [c for c in f.columns if c != key and held[c] > 1 and f[c].nunique(dropna=False) <= 1]
            part = part.drop(columns=constant)
        parts.append(part)
    if not parts:
        return pd.concat(unkeyed, ignore_index=True) if unkeyed else pd.DataFrame({"_where": []})
    keys = pd.concat([frames[n][key] for n in people if key in frames[n].columns], ignore_index=True)
    table = pd.concat(parts, ignore_index=True)
    table = table[table[key].isin(keys)]
    table = table.groupby(key, sort=False, dropna=False).first().reset_index()
    return pd.concat([table, *unkeyed], ignore_index=True)


def normalised(table: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    """Columns as comparable strings: whole floats as integers, missing as a value of its own."""
    out = {}
    for c in columns:
        s = table[c]
        if pd.api.types.is_float_dtype(s) and bool(np.all(np.isnan(s) | (s == np.round(s)))):
            s = s.astype("Int64")
        out[c] = s.astype("string").fillna("<missing>").astype(str).to_numpy()
    return pd.DataFrame(out, index=range(len(table)))


def encoded(table: pd.DataFrame, columns: Sequence[str]) -> tuple[list[np.ndarray], list[int]]:
    """The integer codes of several columns and their numbers of values (for :func:`group_ids`)."""
    pairs = [encode(table[c]) for c in columns]
    return [p[0] for p in pairs], [p[1] for p in pairs]
