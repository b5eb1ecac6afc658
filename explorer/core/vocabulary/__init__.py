"""The layer vocabulary: every layer type's rules, one family module per kind of layer.

`layer_type.py` says what a type declares; `geometry.py` holds the sliding-window
arithmetic that convolution and pooling share; `common.py` the parameter declarations
several types share; `activation_functions.py` the activation functions. Each family
module (conv, separable, pooling, reshape, dense, regularization, normalization,
activation) writes a type's rules top to bottom and ends with its `LayerType`.
`explorer.core.layers` assembles the registry from the family modules.
"""
