r"""A circular CNN is an l1-regularized linear model in DFT feature space (docs/circular_cnn.md).

:func:`dft_features` returns the feature matrix :math:`\hat X = X\Phi` (``Phi`` the
orthonormal real Fourier basis) and the penalty weight of each frequency group, so that
training a two-layer circular CNN with weight decay is the group lasso

.. math::

    \min_z \tfrac12\|\hat X z - y\|^2 + \beta\sum_g c_g \|z_g\|_2,
    \qquad c_g = \sqrt{|g| / D},

i.e. :math:`\min_b \tfrac12\|Xb - y\|^2 + \tfrac{\beta}{D}\|Fb\|_1`. ::

    >>> import numpy as np
    >>> from sdpnets.fourier import dft_features
    >>> feats = dft_features(np.eye(4))
    >>> feats.features.shape, feats.penalty_weights.round(3).tolist()
    ((4, 4), [0.5, 0.5, 0.707])
"""

from .formulations.fourier import DFTFeatures, circular_cnn_beta_max, dft_features
from .dft import (
    DFTGroups,
    dft_groups,
    inverse_real_dft,
    real_dft,
    real_from_spectrum,
    spectrum_from_real,
)

__all__ = [
    "dft_features",
    "DFTFeatures",
    "DFTGroups",
    "dft_groups",
    "real_dft",
    "inverse_real_dft",
    "spectrum_from_real",
    "real_from_spectrum",
    "circular_cnn_beta_max",
]
