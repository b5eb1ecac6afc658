"""Training from the window: the settings panel, the controller and its worker, curves, results,
the runs list and the dataset picker.
"""
