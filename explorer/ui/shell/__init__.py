"""The application shell: it creates the window, wires the feature packages together through their
constructors, and owns file, export and recovery actions.
"""
