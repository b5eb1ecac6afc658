"""Building the network: the palette, the layer stack with its model, delegate and drag-and-drop
payload, the properties panel, the input header and the Keras-style summary.
"""
