"""RepVGGBlock: the identity branch exists only where the shapes allow it."""

import numpy as np

from kerastricks.layers import RepVGGBlock


def test_repvgg_identity_branch_only_when_shapes_allow():
    assert RepVGGBlock(4)(np.zeros((1, 5, 5, 4), "float32")) is not None
    with_id, without = RepVGGBlock(4), RepVGGBlock(4, strides=2)
    with_id.build((None, 5, 5, 4))
    without.build((None, 5, 5, 4))
    assert with_id.identity_bn is not None and without.identity_bn is None
    other = RepVGGBlock(4)
    other.build((None, 5, 5, 3))
    assert other.identity_bn is None
