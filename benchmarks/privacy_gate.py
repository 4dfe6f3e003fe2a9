"""How long does the privacy gate take over a large table with French identifiers in it?

Builds a table of N rows x 30 columns (ids, lab values, dates, categories, a free-text
note column) with French direct identifiers planted (a NIR stored as an integer, phone
numbers in three forms, postcodes as integers, IPP hospital numbers, surnames, first
names, birth dates, e-mail addresses, names and phone numbers in the notes), then times,
in a fresh process as a user's first call would run (imports and the spaCy model
included), ``kit.privacy.scan_identifiers`` phase by phase and ``kit.privacy.assess_release``
as a whole, and checks what they found. The comparison is Presidio's
``BatchAnalyzerEngine`` with the same analyzer run naively over every cell (every
recognizer and the NER on each one): timed on the first ``--naive-rows`` rows and
extrapolated to N. Target: N = 100,000 in under 60 s on 2 cores.

    python benchmarks/privacy_gate.py [--rows 100000] [--naive-rows 1000] [--max-values 10000]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

SURNAMES = (
    "Martin Bernard Thomas Petit Robert Richard Durand Dubois Moreau Laurent Simon Michel Lefebvre Leroy Roux "
    "David Bertrand Morel Fournier Girard Bonnet Dupont Lambert Fontaine Rousseau Vincent Muller Lefevre Faure "
    "Andre Mercier Blanc Guerin Boyer Garnier Chevalier Francois Legrand Gauthier Garcia Perrin Robin Clement "
    "Morin Nicolas Henry Roussel Mathieu Gautier Masson Marchand Duval Denis Dumont Marie Lemaire Noel Meyer "
    "Dufour Meunier Brun Blanchard Giraud Joly Riviere Lucas Brunet Gaillard Barbier Arnaud Martinez Gerard "
    "Roche Renard Schmitt Roy Leroux Colin Vidal Caron Picard Roger Fabre Aubert Lemoine Renaud Dumas Lacroix "
    "Olivier Philippe Bourgeois Pierre Benoit Rey Leclerc Payet Rolland Leclercq Guillaume Lecomte Lopez Jean "
    "Dupuy Guillot Hubert Berger Carpentier Sanchez Dupuis Moulin Louis Deschamps Huet Vasseur Perez Boucher "
    "Fleury Royer Klein Jacquet Adam Paris Poirier Marty Aubry Guyot Carre Charles Renault Charpentier Menard"
).split()
FIRST_NAMES = (
    "Marie Jean Pierre Michel Philippe Nathalie Isabelle Sylvie Catherine Françoise Alain Nicolas Christophe "
    "Patrick Christine Monique Sophie Julien Camille Léa Manon Emma Chloé Hugo Lucas Louis Gabriel Arthur Jules "
    "Inès Sarah Thomas Antoine Mathilde Élodie Aurélie Céline Sandrine Valérie Stéphane Luc Anne Paul Claire"
).split()
SERVICES = "Cardiologie Pneumologie Neurologie Gériatrie Oncologie Urgences Réanimation Néphrologie Chirurgie".split()
NOTES = (
    "Patient vu en consultation, douleur thoracique depuis {a} jours, ECG normal, revoir dans {b} mois.",
    "Suivi post-opératoire sans complication, cicatrice propre, ablation des fils à J{b}.",
    "Bilan biologique : créatinine {a} µmol/L, hémoglobine {b},{a} g/dL, pas d'anomalie.",
    "Dyspnée d'effort stade {b}, majoration du traitement diurétique, poids {a} kg.",
    "Hospitalisation pour décompensation cardiaque, amélioration sous traitement, sortie à J{b}.",
)


def nir_with_key(body: int) -> int:
    """A 13-digit NIR body with its key (97 - body mod 97): a valid 15-digit NIR."""
    return body * 100 + (97 - body % 97)


def french_phone(rng: np.random.Generator, n: int) -> list[str]:
    digits = rng.integers(10_000_000, 99_999_999, n)
    forms = rng.integers(0, 3, n)
    out = []
    for d, form in zip(digits, forms, strict=True):
        s = f"06{d:08d}"
        pairs = [s[i : i + 2] for i in range(0, 10, 2)]
        out.append(" ".join(pairs) if form == 0 else ".".join(pairs) if form == 1 else "+33 6 " + " ".join(pairs[1:]))
    return out


def build(n: int, seed: int = 0) -> pd.DataFrame:
    """N patients, 30 columns, French identifiers planted (see the module docstring)."""
    rng = np.random.default_rng(seed)
    surnames = np.array(SURNAMES)
    # about 50 x len(SURNAMES) distinct surnames: single and double-barrelled ones
    left, right = rng.integers(0, len(surnames), n), rng.integers(0, len(surnames), n)
    double = rng.random(n) < 0.3
    family = np.where(double, np.char.add(np.char.add(surnames[left], "-"), surnames[right]), surnames[left])
    born = pd.Timestamp("1930-01-01") + pd.to_timedelta(rng.integers(0, 70 * 365, n), unit="D")
    admitted = pd.Timestamp("2020-01-01") + pd.to_timedelta(rng.integers(0, 4 * 365 * 24, n), unit="h")
    sex = rng.choice(["M", "F"], n)
    nir_body = (
        np.where(sex == "M", 1, 2).astype(np.int64) * 10**12
        + (born.year.to_numpy().astype(np.int64) % 100) * 10**10
        + born.month.to_numpy().astype(np.int64) * 10**8
        + rng.integers(1, 95, n, dtype=np.int64) * 10**6
        + rng.integers(1, 999, n, dtype=np.int64) * 10**3
        + rng.integers(1, 999, n, dtype=np.int64)
    )
    phones = french_phone(rng, n)
    a, b = rng.integers(1, 400, n), rng.integers(1, 30, n)
    template = rng.integers(0, len(NOTES), n)
    notes = [NOTES[t].format(a=x, b=y) + f" (réf. {i})" for i, (t, x, y) in enumerate(zip(template, a, b, strict=True))]
    for i in rng.choice(n, max(1, n // 100), replace=False):
        notes[i] = f"Vu Mme {family[i]}, rappeler au {phones[i]}"
    frame = pd.DataFrame(
        {
            "case_id": [f"case-{i:06d}" for i in range(n)],
            "ipp": [f"IPP{v}" for v in rng.integers(10_000_000, 99_999_999, n)],
            "ref_assure": [nir_with_key(int(v)) for v in nir_body],  # a NIR stored as int64, a neutral name
            "telephone": phones,
            "code_postal": rng.choice([75002, 13001, 69003, 33000, 1000, 59000, 67000, 6000], n),
            "col_07": family,  # surnames under a neutral name: found by the NER
            "prenom": rng.choice(FIRST_NAMES, n),
            "date_naissance": born.strftime("%d/%m/%Y"),
            "date_admission": admitted,
            "courriel": [f"patient{i}@exemple.fr" for i in range(n)],
            "note": notes,
            "sexe": sex,
            "service": rng.choice(SERVICES, n),
            "grade": rng.choice(["I", "II", "III"], n),
            "statut": rng.choice(["Actif", "Sevré", "Jamais", "Inconnu"], n),
            "age": rng.integers(18, 89, n),
        }
    )
    labs = {
        "poids": (70, 15),
        "taille": (168, 10),
        "imc": (25, 4),
        "pas": (130, 18),
        "pad": (80, 10),
        "fc": (75, 12),
        "temperature": (37, 0.6),
        "glycemie": (5.5, 1.2),
        "creatinine": (80, 25),
        "hemoglobine": (13.5, 1.6),
        "leucocytes": (7.5, 2.5),
        "crp": (8, 12),
        "sodium": (140, 3),
    }
    for name, (mean, sd) in labs.items():
        frame[name] = np.round(rng.normal(mean, sd, n), 2)
    frame["plaquettes"] = rng.integers(150_000, 450_000, n)
    assert frame.shape[1] == 30, frame.shape
    return frame


EXPECTED = {
    "ipp": "record_number",
    "ref_assure": "national_id",
    "telephone": "phone",
    "code_postal": "postcode",
    "col_07": "person_name",
    "prenom": "person_name",
    "date_naissance": "date",
    "date_admission": "date",
    "courriel": "email",
    "note": "person_name",
}

#: run in a fresh process: a user's first call, imports and the spaCy model included
COLD = r"""
import json, sys, time
t0 = time.perf_counter()
import pandas as pd
from kit.cards.schema import PrivacyPolicy
from kit.privacy import assess_release, scan_identifiers
frame = pd.read_parquet(sys.argv[1])
max_values = int(sys.argv[2])
policy = PrivacyPolicy(allowed_identifiers=["case_id"])
t1 = time.perf_counter()
phases = {}
findings = scan_identifiers({"t": frame}, policy, max_values=max_values, timings=phases)
t2 = time.perf_counter()
report = assess_release({"t": frame}, policy, max_values=max_values)
t3 = time.perf_counter()
print(json.dumps({
    "imports": t1 - t0,
    "scan_cold": t2 - t1,
    "assess_warm": t3 - t2,
    "phases": phases,
    "findings": [[f.column, f.category, list(f.detected_by), f.n_rows, f.sampled] for f in findings],
    "warnings": list(report.warnings),
    "same": [(f.column, f.category) for f in findings] == [(f.column, f.category) for f in report.findings],
}))
"""


def naive(frame: pd.DataFrame, rows: int) -> float:
    """Seconds for Presidio's BatchAnalyzerEngine over every cell of the first *rows* rows (models warm)."""
    from presidio_analyzer import BatchAnalyzerEngine

    from kit.privacy.recognizers import get_analyzer

    batch = BatchAnalyzerEngine(analyzer_engine=get_analyzer())
    part = {c: [str(v) for v in frame[c].iloc[:rows]] for c in frame.columns if c != "case_id"}
    list(batch.analyze_dict({"warm-up": ["Vu Mme Dupont"]}, language="fr"))
    start = time.perf_counter()
    for column in batch.analyze_dict(part, language="fr", batch_size=256):  # a generator: consume it
        list(column.recognizer_results)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--naive-rows", type=int, default=1_000)
    parser.add_argument("--max-values", type=int, default=None, help="the NER's sample bound (kit's default)")
    args = parser.parse_args()
    from kit.privacy import DEFAULT_MAX_VALUES

    max_values = args.max_values or DEFAULT_MAX_VALUES
    start = time.perf_counter()
    frame = build(args.rows)
    print(f"table: {frame.shape[0]:,} rows x {frame.shape[1]} columns, built in {time.perf_counter() - start:.1f} s")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "table.parquet"
        frame.to_parquet(path)
        out = subprocess.run(
            [sys.executable, "-c", COLD, str(path), str(max_values)], capture_output=True, text=True, check=True
        )
    result = json.loads(out.stdout.strip().splitlines()[-1])
    print(f"\nkit.privacy (a fresh process; the NER sees at most {max_values:,} distinct values per column)")
    print(f"  import kit.privacy, pandas, read the table   {result['imports']:7.2f} s")
    print(f"  scan_identifiers, cold                       {result['scan_cold']:7.2f} s")
    for phase, seconds in sorted(result["phases"].items(), key=lambda kv: -kv[1]):
        print(f"    {phase:<40s} {seconds:7.2f} s")
    print(f"  assess_release, warm (scan + risk checks)    {result['assess_warm']:7.2f} s")
    print("\nfound:")
    found: dict[str, set[str]] = {}
    for column, category, how, n_rows, sampled in result["findings"]:
        found.setdefault(column, set()).add(category)
        print(
            f"  {column:<16s} {category:<14s} {n_rows:>8,} rows  {' and '.join(how)}{' (sampled)' if sampled else ''}"
        )
    missed = {c: k for c, k in EXPECTED.items() if k not in found.get(c, set())}
    extra = sorted(set(found) - set(EXPECTED))
    print(f"  missed: {missed or 'none'}; columns flagged that hold no identifier: {extra or 'none'}")
    for w in result["warnings"]:
        print(f"  warning: {w}")

    seconds = naive(frame, args.naive_rows)
    cells = args.naive_rows * (frame.shape[1] - 1)
    per_n = seconds * args.rows / args.naive_rows
    print(f"\nPresidio BatchAnalyzerEngine over every cell: {cells:,} cells in {seconds:.1f} s (models warm)")
    print(f"  extrapolated to {args.rows:,} rows: {per_n:,.0f} s")
    print(f"  ratio naive / kit cold scan: {per_n / result['scan_cold']:,.0f}x")
    target = "met" if result["scan_cold"] < 60 else "NOT met"
    print(f"\ntarget (< 60 s for the cold scan): {target}")


if __name__ == "__main__":
    main()
