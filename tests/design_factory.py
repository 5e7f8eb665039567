"""One way for tests to build a study's design by hand, as the design stage would write it."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from pipeline.design import ARMS, CovariateInfo, DataAvailable, Design, Named, ScaleInfo, WaveInfo
from pipeline.study import ARM_LABELS

NO_FILES = {"groups": True, "coaches": True, "format": False, "leaving_dates": False, "sessions": False,
            "attendance": False, "session_surveys": False}  # fmt: skip


def make_test_design(
    *,
    waves: Mapping[str, float],
    programmes: Sequence[str] | Mapping[str, tuple[str, str]],
    comparison: bool,
    scales: Mapping[str, ScaleInfo],
    primary: Sequence[str],
    secondary: Sequence[str] = (),
    short_term: str | None = None,
    wave_label: Callable[[str, float], tuple[str, str]] = lambda w, _m: (w, w),
    ratings: Mapping[str, str] | None = None,
    data: Mapping[str, bool] | None = None,
    study_id: str = "synthetic",
    title: str = "synthetic study",
    demo: bool = True,
    assignment: str = "self_selected",
    covariates: Sequence[CovariateInfo] = (),
) -> Design:
    """A design of these waves (id -> months; the first by months is the baseline, the next the short-term
    wave unless ``short_term`` says otherwise), programmes (ids, or id -> (Dutch, English) names), arms and scales.

    ``data`` overrides which files and roster fields exist (default: groups and coaches only).
    """
    ordered = sorted(waves.items(), key=lambda kv: kv[1])
    names = programmes if isinstance(programmes, Mapping) else {p: (p, p) for p in programmes}
    arms = [a for a in ARMS if a == "intervisie" or comparison]
    return Design(
        study_id=study_id,
        title=title,
        demo=demo,
        waves=[WaveInfo(id=w, label_nl=wave_label(w, m)[0], label_en=wave_label(w, m)[1], months=m) for w, m in ordered],
        baseline=ordered[0][0],
        short_term=short_term or ordered[1][0],
        programmes=[Named(id=p, label_nl=nl, label_en=en) for p, (nl, en) in names.items()],
        arms=[Named(id=a, label_nl=ARM_LABELS[a].label_nl, label_en=ARM_LABELS[a].label_en) for a in arms],
        assignment=assignment,
        primary=list(primary),
        secondary=list(secondary),
        scales=dict(scales),
        ratings=dict(sorted((ratings or {}).items())),
        data=DataAvailable(**{**NO_FILES, **(data or {})}),
        covariates=list(covariates),
    )
