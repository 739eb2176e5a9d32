"""The non-convex networks sdpnets trains, independent of every convex program.

* :mod:`.base`: :class:`~.base.Network`, prediction and the weight-decay objective;
* :mod:`.linear`: deep linear networks (fully connected, convolutional, circular);
* :mod:`.relu`: two-layer ReLU networks (and their gated, convolutional and circular forms);
* :mod:`.torch_modules`: the PyTorch layers their ``to_torch`` builds (torch imported on use).
"""
