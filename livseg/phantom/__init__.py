"""Synthetic abdominal CT phantoms with liver / tumour reference labels.

``generate_case(seed, size, profile, phase)`` draws one patient; ``write_dataset(out_dir,
n, seed, ...)`` writes n cases in LiTS layout plus ``manifest.json`` (case i uses
``case_seed(seed, i)``, the 8:2 split ``split_assignment(n, seed)``).

Two profiles:

- ``"v1"`` (default): today's portal-venous phantom, bit-identical to generator 1.0 (the
  demo, the shipped weights and their tests rely on its look and its ~1 s per full case):
  body, spine, ribs, organs, a smooth random liver (1.35-1.85 L) with portal and hepatic
  trees, 1-6 hypodense / near-isodense tumours (1-6 cm), noise SD 11-18 HU.
- ``"v2"``: domain-randomised for training networks that hold on real CT. Per case it
  draws the contrast phase (non-contrast, arterial, portal-venous, delayed) and every
  tissue's HU from ``shared/reference/ct_appearance.md`` (``appearance``), fatty liver,
  liver-like neighbours touching the liver, cirrhotic or enlarged livers up to ~3 L
  (``anatomy``), six lesion families from 3 mm metastases by the dozen to confluent masses
  over 10 cm (``lesions``), and the scanner: field of view from the whole torso to a tight
  crop, off-centre patient, 0.5-1.0 mm pixels, 0.625-5 mm slices with partial volume, the
  kernel's blur and 3D-correlated noise of SD 5-40 HU, mild streaks (``scanner``).

Modules: ``geometry`` (grid, shapes), ``anatomy`` (body, organs, liver shape), ``body``
(painting the torso and abdomen), ``vessels``, ``lesions``, ``appearance`` (HU per tissue
and phase), ``scanner`` (grid, blur, noise, streaks), ``case`` (one case), ``dataset``
(seeds, split, files).

All anatomy is drawn in mm in the patient frame and only then sampled, so ``size="small"``
shows the same patient on a coarser grid. Arrays follow ``livseg.volume``'s canonical LAS+
grid (x index 0 at the patient's right); the affine is diag(-sx, sy, sz) plus an origin and
millimetre positions in ``meta`` are world RAS mm.
"""

from livseg.phantom.appearance import PHASES, TISSUE_HU
from livseg.phantom.case import GENERATOR_VERSION, PROFILES, SIZES, V1_VERSION, generate_case
from livseg.phantom.dataset import TEST_FRACTION, case_seed, split_assignment, write_dataset
from livseg.phantom.lesions import LESION_FAMILIES

__all__ = [
    "GENERATOR_VERSION",
    "LESION_FAMILIES",
    "PHASES",
    "PROFILES",
    "SIZES",
    "TEST_FRACTION",
    "TISSUE_HU",
    "V1_VERSION",
    "case_seed",
    "generate_case",
    "split_assignment",
    "write_dataset",
]
