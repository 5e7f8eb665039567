"""The synthetic demo study: a seeded simulator that writes a study's raw files with known truths.

:func:`run` reads ``simulation.yaml`` (seed, design, true effects, defect counts), the study
description it names (``study.yaml``, the contract of columns and formats) and the
instrument library, and writes every raw file of the study plus
``simulation_manifest.yaml`` (each planted defect with file, row and column; the realised
group truths and dropout dates; the SHA-256 of every file written, which is what lets a
``demo: true`` study use its published key on these files only).  Same configuration and seed give byte-identical files.

Modules: :mod:`.config` (the configuration schema), :mod:`.design` (groups, coaches,
participants), :mod:`.model` (latent trajectories, ratings, dropout), :mod:`.items`
(latent scores to answers, for any instrument), :mod:`.sessions` and :mod:`.waves`
(occasions and nonresponse), :mod:`.simulation` (all of it in memory), :mod:`.tables`
(the contract's layout), :mod:`.defects` and :mod:`.plant` (realistic trouble),
:mod:`.writers` (file formats) and :mod:`.manifest`.  :mod:`.variants` (with
:mod:`.variant_files`) writes small studies of any common design (single- or two-arm, 2-6
waves, any programmes, instruments and sources) through the same :func:`run`.
:mod:`.covariates` draws baseline covariates and decides who joins intervisie (selection
mechanisms); :mod:`.experiment` (:func:`selection_study`) runs a design in memory for
experiments over hundreds of studies.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Literal

import pandas as pd
import yaml

from pipeline.atomic import write_text
from pipeline.errors import InputError
from pipeline.instruments import load_library
from pipeline.keys import DEMO_MANIFEST, file_sha256
from pipeline.simulate.config import SimulationConfig, load_config
from pipeline.simulate.manifest import build_manifest, write_manifest
from pipeline.simulate.plant import plant_all
from pipeline.simulate.simulation import Simulation, simulate
from pipeline.simulate.tables import build_exports, csv_study
from pipeline.simulate.writers import write_export
from pipeline.study import load_study

MANIFEST = DEMO_MANIFEST

__all__ = ["MANIFEST", "Simulation", "SimulationConfig", "load_config", "run", "selection_study", "simulate"]


def selection_study(*args: object, **kwargs: object) -> pd.DataFrame:
    """Simulate a design in memory: participants, covariates and one outcome's scores (see :mod:`.experiment`)."""
    from pipeline.simulate.experiment import selection_study as _selection_study

    return _selection_study(*args, **kwargs)  # type: ignore[arg-type]


def run(
    config_path: Path,
    instruments_dir: Path,
    out_dir: Path,
    *,
    n_participants: int | None = None,
    formats: Literal["demo", "csv"] = "demo",
    progress: Callable[[str], None] | None = None,
) -> None:
    """Simulate a study and write its raw files and manifest.

    Parameters
    ----------
    config_path : Path
        ``simulation.yaml``; its ``study`` entry names the study description (relative to it).
    instruments_dir : Path
        The instrument library (``instruments/``).
    out_dir : Path
        Where the files go (created if needed).
    n_participants : int, optional
        Scale the design to about this many participants; groups and coaches scale along.
    formats : {"demo", "csv"}
        ``"demo"`` writes the formats of the study description (xlsx, sav, Qualtrics and
        Dutch CSV); ``"csv"`` writes every wave as a Qualtrics CSV and the roster as a plain
        UTF-8 CSV (for large benchmarks) and adds the matching ``study.yaml`` to ``out_dir``.
    progress : callable, optional
        Receives a short message per step.

    Raises
    ------
    InputError
        If the configuration, study description or instruments cannot be used, or if
        ``formats="csv"`` would overwrite the study description it was derived from.
    """
    if formats not in ("demo", "csv"):
        raise InputError(f"formats must be 'demo' or 'csv', not {formats!r}")
    say = progress or (lambda _msg: None)
    cfg = load_config(config_path)
    study_path = config_path.parent / cfg.study
    study = load_study(study_path)
    library = load_library(instruments_dir)
    if formats == "csv":
        if (out_dir / "study.yaml").resolve() == study_path.resolve():
            raise InputError(f"formats='csv' writes its own study.yaml; choose an out_dir other than {out_dir}")
        study = csv_study(study)
    sim = simulate(cfg, study, library, n_participants=n_participants, progress=say)
    say("exports")
    exports = build_exports(sim, study, library, cfg)
    say("defects")
    records = plant_all(cfg, sim, study, exports)
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, export in exports.items():
        say(f"write {name}")
        write_export(out_dir / name, export, cfg.file_timestamp)
    checksums = {name: file_sha256(out_dir / name) for name in exports}
    manifest = build_manifest(
        cfg, config_path.name, sim, exports, records, n_participants=n_participants, formats=formats, checksums=checksums
    )
    write_manifest(out_dir / MANIFEST, manifest)
    if formats == "csv":
        text = yaml.safe_dump(study.model_dump(mode="json"), sort_keys=False, allow_unicode=True, width=120)
        write_text(out_dir / "study.yaml", "# Written by `intervisie simulate --formats csv`.\n" + text)
