"""Remedies: generalisation and suppression applied to the source before a challenge's split.

A blocked or risky table need not be given up: the organiser generalises it. Each remedy is
a small typed record in the spec's ``source.remedies`` (so ``kit prepare`` rebuilds the same
files from the same source), applied by :func:`apply_remedies` in
:func:`kit.prepare.build_from_frame` after ``source.drop`` and before the split, and
described in the data card ("Generalisation and suppression"). The privacy gate then
assesses the remedied tables: :func:`kit.prepare.remedy` reports the risk before and after.

The remedies are a registry keyed by their ``kind`` (:data:`REMEDIES`):

``age_bands``
    numbers to bands of ``width`` years (``40-49``), everything at or above ``top`` as one
    band (``90+``: HIPAA's Safe Harbor keeps no age over 89). Targets singling out and
    linkability on age, and the "age over 89" identifier.
``top_code``
    values above ``above`` recorded as ``above`` (and below ``below`` as ``below``): the
    extreme values that single a patient out (a stay of 400 days, 14 children).
``date``
    dates to the ``month`` (``2021-03``) or the ``year`` (``2021``). Targets the "date finer
    than the year" identifier and linkability on dates.
``departement``
    French postcodes (or INSEE commune codes) to their département: ``75012`` to ``75``,
    ``20100`` to ``2A``, ``97411`` to ``974``; integers that lost their leading zero
    (``1000``) are read as ``01000``. Targets the postcode identifier and linkability on place.
``merge_rare``
    categories held by fewer than ``min_count`` rows of the source merged into ``into``
    (``other``). Targets singling out on rare categories (a rare diagnosis, a small hospital).

Dropping a column is ``source.drop`` (``kit new --drop``), listed with the remedies in the card.
Every remedy refuses what it cannot transform (text in an age, a six-digit postcode) with
the column, the rows and the fix; none touches the target, the case ids or the patient column.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from .errors import DataIntegrityError, Problem, SpecError
from .registry import Registry

if TYPE_CHECKING:  # pandas is imported where a remedy runs: reading a spec does not need it
    import pandas as pd

#: rows named in a message before "and N more"
_SHOWN = 5


class Remedy(BaseModel):
    """A generalisation of one source column; subclasses register under their ``kind``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: what the remedy lowers, for the card and the CLI
    targets: ClassVar[str] = ""
    kind: str
    column: str = Field(min_length=1, description="the source column transformed")

    def clears(self) -> tuple[str, ...]:
        """The identifier categories (:mod:`kit.privacy`) this remedy's output cannot hold: the gate
        no longer flags the column for them by its name alone (``code_postal`` holding départements)."""
        return ()

    def transform(self, values: pd.Series) -> pd.Series:  # pragma: no cover - every remedy overrides it
        raise NotImplementedError

    def describe(self) -> str:  # pragma: no cover - every remedy overrides it
        raise NotImplementedError

    def spec(self) -> dict[str, Any]:
        """The remedy as the spec records it (its kind first)."""
        data = self.model_dump(mode="json")
        unset = [k for k, v in data.items() if v is None and type(self).model_fields[k].default is None]
        return {"kind": data.pop("kind"), **{k: v for k, v in data.items() if k not in unset}}


def _bad_rows(values: pd.Series, bad: np.ndarray | pd.Series, what: str, fix: str) -> DataIntegrityError:
    """The values a remedy cannot transform, by row (1-based, in the source's order)."""
    bad = np.asarray(bad, dtype=bool)
    rows = np.flatnonzero(bad)
    shown = ", ".join(f"row {r + 1} ({values.iloc[r]!r})" for r in rows[:_SHOWN])
    more = f" and {len(rows) - _SHOWN} more" if len(rows) > _SHOWN else ""
    return DataIntegrityError(
        f"column {values.name!r}: {len(rows)} value(s) {what}: {shown}{more}",
        where=f"source.remedies (column {values.name!r})",
        fix=fix,
    )


def _numbers(values: pd.Series, remedy: str) -> pd.Series:
    import pandas as pd

    numbers = pd.to_numeric(values, errors="coerce")
    bad = numbers.isna() & values.notna()
    if bad.any():
        raise _bad_rows(
            values, bad, "are not numbers", f"{remedy} needs numbers: clean the column, or drop it (--drop)"
        )
    return numbers


class AgeBands(Remedy):
    """Ages to bands of ``width`` years, ``top`` and over as one band."""

    kind: Literal["age_bands"] = "age_bands"
    targets: ClassVar[str] = "singling out and linkability on age; ages over 89"
    width: int = Field(default=10, ge=2, le=50, description="years per band")
    top: int | None = Field(default=90, ge=1, description="ages at or above it in one band (None: no top band)")

    def transform(self, values: pd.Series) -> pd.Series:
        import pandas as pd

        ages = _numbers(values, "age_bands")
        if (ages < 0).any():
            raise _bad_rows(values, ages < 0, "are negative", "ages are years since birth: fix the negative values")
        low = (np.floor(ages / self.width) * self.width).astype("Int64")
        integer = bool(((ages.dropna() % 1) == 0).all())
        out = pd.Series(pd.NA, index=values.index, dtype=object)
        present = ages.notna()
        for lo in low[present].unique():
            hi = int(lo) + self.width
            label = f"{int(lo)}-{hi - 1}" if integer else f"[{int(lo)}, {hi})"
            out[present & (low == lo)] = label
        if self.top is not None:
            out[present & (ages >= self.top)] = f"{self.top}+"
            # a band that straddles the top ends below it
            start = (self.top // self.width) * self.width
            if start < self.top:
                straddle = present & (ages >= start) & (ages < self.top)
                out[straddle] = f"{start}-{self.top - 1}" if integer else f"[{start}, {self.top})"
        return out

    def clears(self) -> tuple[str, ...]:
        return ("age_over_89",) if self.top is not None and self.top <= 90 else ()

    def describe(self) -> str:
        top = f", {self.top} and over as {self.top}+" if self.top is not None else ""
        return f"{self.column}: bands of {self.width} years{top}"


class TopCode(Remedy):
    """Values beyond the bounds recorded as the bounds."""

    kind: Literal["top_code"] = "top_code"
    targets: ClassVar[str] = "singling out on extreme values"
    above: float | None = Field(default=None, description="values above it are recorded as it")
    below: float | None = Field(default=None, description="values below it are recorded as it")

    @model_validator(mode="after")
    def _bounds(self):
        if self.above is None and self.below is None:
            raise ValueError("top_code needs `above` (or `below`): the bound extreme values are recorded as")
        if self.above is not None and self.below is not None and self.below >= self.above:
            raise ValueError(f"top_code: below ({self.below}) must be smaller than above ({self.above})")
        return self

    def transform(self, values: pd.Series) -> pd.Series:
        import pandas as pd

        numbers = _numbers(values, "top_code")
        out = numbers.clip(lower=self.below, upper=self.above)
        if pd.api.types.is_integer_dtype(values) and all(
            b is None or float(b).is_integer() for b in (self.above, self.below)
        ):
            return out.astype(values.dtype)
        return out

    def describe(self) -> str:
        parts = []
        if self.above is not None:
            parts.append(f"values above {self.above:g} recorded as {self.above:g}")
        if self.below is not None:
            parts.append(f"values below {self.below:g} recorded as {self.below:g}")
        return f"{self.column}: " + ", ".join(parts)


class DateTo(Remedy):
    """Dates to the month or the year."""

    kind: Literal["date"] = "date"
    targets: ClassVar[str] = "dates finer than the year; linkability on dates"
    to: Literal["month", "year"] = Field(default="year", description="keep the month (2021-03) or the year (2021)")

    def transform(self, values: pd.Series) -> pd.Series:
        import pandas as pd

        text = values.astype("string").str.strip()
        iso = text.str.match(r"^\d{4}-\d{1,2}").fillna(False).astype(bool)
        dates = pd.Series(pd.NaT, index=values.index, dtype="datetime64[ns]")
        if iso.any():  # 2021-03-04, with or without a time
            dates[iso] = pd.to_datetime(text[iso], errors="coerce", format="ISO8601")
        if (~iso).any():  # French exports write 31/12/2021: the day first
            dates[~iso] = pd.to_datetime(text[~iso], errors="coerce", format="mixed", dayfirst=True)
        bad = dates.isna() & values.notna() & (text != "")
        if bad.any():
            raise _bad_rows(
                values, bad, "are not dates", "write dates as YYYY-MM-DD (or DD/MM/YYYY), or drop the column (--drop)"
            )
        fmt = "%Y-%m" if self.to == "month" else "%Y"
        return pd.Series(dates.dt.strftime(fmt), index=values.index, dtype=object).where(dates.notna(), pd.NA)

    def clears(self) -> tuple[str, ...]:
        # a month is still a date finer than the year (HIPAA's Safe Harbor): only the year clears it
        return ("date",) if self.to == "year" else ()

    def describe(self) -> str:
        return f"{self.column}: dates to the {self.to}"


def departement(code: str) -> str | None:
    """The département of a French postcode or INSEE commune code (``None`` when it is not one).

    Two digits (``75``); Corsica ``2A``/``2B`` (postcodes 200xx-201xx are Corse-du-Sud, 202xx-206xx
    Haute-Corse); three digits overseas (``971``-``976``, ``984``-``988``).
    """
    code = code.strip().upper()
    if len(code) != 5:
        return None
    if code[:2] in ("2A", "2B") and code[2:].isdigit():
        return code[:2]
    if not code.isdigit() or code.startswith("00"):
        return None
    if code.startswith(("97", "98")):
        return code[:3]
    if code.startswith("20"):
        return "2A" if int(code[2]) <= 1 else "2B"
    return code[:2]


class Departement(Remedy):
    """French postcodes or commune codes to their département."""

    kind: Literal["departement"] = "departement"
    targets: ClassVar[str] = "postcodes and commune codes; linkability on place"

    def transform(self, values: pd.Series) -> pd.Series:
        import pandas as pd

        if pd.api.types.is_float_dtype(values):
            whole = values.dropna()
            if not (whole % 1 == 0).all():
                raise _bad_rows(values, values.notna() & (values % 1 != 0), "are not postcodes", "fix the codes")
            text = values.astype("Int64").astype("string")
        else:
            text = values.astype("string").str.strip()
        padded = text.where(~text.str.fullmatch(r"\d{4}").fillna(False), "0" + text)  # leading zero lost
        out = padded.map(lambda v: departement(v) if isinstance(v, str) else pd.NA, na_action="ignore")
        bad = out.isna() & values.notna()
        if bad.any():
            raise _bad_rows(
                values,
                bad,
                "are not French postcodes or commune codes (5 characters: 75012, 2A004)",
                "fix or blank the bad codes, or drop the column (--drop)",
            )
        return out.astype(object).where(out.notna(), pd.NA)

    def clears(self) -> tuple[str, ...]:
        return ("postcode",)

    def describe(self) -> str:
        return f"{self.column}: postcodes to their département"


class MergeRare(Remedy):
    """Categories held by fewer than ``min_count`` rows merged into one."""

    kind: Literal["merge_rare"] = "merge_rare"
    targets: ClassVar[str] = "singling out on rare categories"
    min_count: int = Field(default=10, ge=2, description="a category held by fewer rows of the source is merged")
    into: str = Field(default="other", min_length=1, description="the category rare ones become")

    def transform(self, values: pd.Series) -> pd.Series:
        import pandas as pd

        text = values.astype("string").str.strip()
        counts = text.value_counts(dropna=True)
        rare = counts.index[counts < self.min_count]
        if self.into in set(counts.index) and self.into not in set(rare) and len(rare):
            raise DataIntegrityError(
                f"column {values.name!r} already has a category {self.into!r} held by {counts[self.into]} rows",
                where=f"source.remedies ({values.name})",
                fix="name the merged category otherwise (into: ...)",
            )
        out = text.where(~text.isin(rare), self.into)
        return out.astype(object).where(out.notna(), pd.NA)

    def describe(self) -> str:
        return f"{self.column}: categories held by fewer than {self.min_count} rows merged into {self.into!r}"


#: the remedies, keyed by the ``kind`` the spec records
REMEDIES: Registry[type[Remedy]] = Registry("remedy", error=SpecError, hint="kit.remedies.get_remedy_names()")
for _cls in (AgeBands, TopCode, DateTo, Departement, MergeRare):
    REMEDIES.register(_cls, name=_cls.model_fields["kind"].default)


def get_remedy_names() -> list[str]:
    return REMEDIES.names()


def parse_remedies(items: Iterable[Mapping[str, Any] | Remedy], *, where: str = "source.remedies") -> list[Remedy]:
    """Typed remedies from the spec's records (or remedies already typed), with one problem per bad entry."""
    items = [i.spec() if isinstance(i, Remedy) else i for i in items]
    out: list[Remedy] = []
    problems = []
    for n, item in enumerate(items):
        if not isinstance(item, Mapping):
            problems.append(
                Problem(f"remedy {n + 1} is not a mapping", where=f"{where}[{n}]", fix="write {kind: ..., column: ...}")
            )
            continue
        kind = item.get("kind")
        if not isinstance(kind, str) or kind not in REMEDIES:
            problems.append(
                Problem(
                    f"remedy {n + 1}: unknown kind {kind!r}",
                    where=f"{where}[{n}]",
                    fix=f"use one of {', '.join(get_remedy_names())}",
                )
            )
            continue
        try:
            out.append(REMEDIES.get(kind).model_validate(dict(item)))
        except ValidationError as exc:
            for err in exc.errors():
                field = ".".join(str(p) for p in err["loc"]) or kind
                problems.append(
                    Problem(f"{kind}: {field}: {err['msg']}", where=f"{where}[{n}]", fix="see `kit new --help`")
                )
    if problems:
        raise SpecError(f"{len(problems)} bad remedy(ies)", where=where, problems=problems)
    return out


def remedy_problems(remedies: Sequence[Remedy], *, protected: Mapping[str, str], drop: Sequence[str]) -> list[str]:
    """Why a list of remedies cannot be applied: a protected column (target, ids, patients), one
    column remedied twice, or a remedied column that is also dropped."""
    out = []
    seen: dict[str, str] = {}
    for r in remedies:
        if r.column in protected:
            out.append(f"{r.kind} on {r.column!r}, the {protected[r.column]}: remedies never change it")
        if r.column in seen:
            out.append(f"{r.column!r} has two remedies ({seen[r.column]}, {r.kind}): keep one")
        if r.column in drop:
            out.append(f"{r.column!r} is dropped and remedied ({r.kind}): keep one")
        seen[r.column] = r.kind
    return out


def generalised(remedies: Sequence[Remedy]) -> dict[str, tuple[str, ...]]:
    """Column -> the identifier categories its remedy clears (for the privacy gate's ``generalised``)."""
    return {r.column: r.clears() for r in remedies if r.clears()}


def apply_remedies(frame: pd.DataFrame, remedies: Sequence[Remedy]) -> pd.DataFrame:
    """``frame`` with each remedy applied to its column (a new frame; the input is left unchanged)."""
    if not remedies:
        return frame
    missing = [r.column for r in remedies if r.column not in frame.columns]
    if missing:
        raise DataIntegrityError(
            f"remedies name column(s) {missing} that the source does not have",
            where="source.remedies",
            fix=f"use columns of the source: {list(frame.columns)}",
        )
    out = frame.copy()
    for r in remedies:
        out[r.column] = r.transform(frame[r.column].rename(r.column))
    return out


# -- the command line's short forms ------------------------------------------------------------
#: option -> (kind, the fields after the column, in order)
SHORT_FORMS: dict[str, tuple[str, tuple[str, ...]]] = {
    "age_bands": ("age_bands", ("width", "top")),
    "top_code": ("top_code", ("above", "below")),
    "date_to": ("date", ("to",)),
    "departement": ("departement", ()),
    "merge_rare": ("merge_rare", ("min_count", "into")),
}


def from_short_form(option: str, value: str) -> Remedy:
    """A remedy from its command-line form, ``COLUMN[:FIELD[:FIELD]]`` (``age:10:90``, ``admission:month``)."""
    kind, fields = SHORT_FORMS[option]
    column, *rest = [p.strip() for p in value.split(":")]
    flag = "--" + option.replace("_", "-")
    if len(rest) > len(fields) or not column:
        form = ":".join(["COLUMN", *(f.upper() for f in fields)])
        raise SpecError(
            f"{flag} {value!r} is not of the form {form}", where=flag, fix=f"e.g. {flag} {_EXAMPLES[option]}"
        )
    data: dict[str, Any] = {"kind": kind, "column": column}
    for name, text in zip(fields, rest, strict=False):
        if text:
            data[name] = None if text.lower() == "none" else text
    try:
        return parse_remedies([data], where=flag)[0]
    except SpecError as exc:
        raise SpecError(
            f"{flag} {value!r}: " + "; ".join(p.what for p in exc.problems),
            where=flag,
            fix=f"e.g. {flag} {_EXAMPLES[option]}",
        ) from None


_EXAMPLES = {
    "age_bands": "age:10:90",
    "top_code": "length_of_stay:60",
    "date_to": "admission_date:month",
    "departement": "code_postal",
    "merge_rare": "diagnosis:10:other",
}

__all__ = [
    "REMEDIES",
    "SHORT_FORMS",
    "AgeBands",
    "DateTo",
    "Departement",
    "MergeRare",
    "Remedy",
    "TopCode",
    "apply_remedies",
    "departement",
    "from_short_form",
    "generalised",
    "get_remedy_names",
    "parse_remedies",
    "remedy_problems",
]
