"""Looking inside a trained network: the input picker, feature maps, filters and the activation
gallery, fed by a capture controller.
"""
