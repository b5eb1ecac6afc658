"""What the GUI's feature packages share: the open project document, the one task runner for
background work, family colours, parameter editors and settings. Imports no feature package.
"""
