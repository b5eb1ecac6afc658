"""Evaluation of a trained network on the test split: metrics, the confusion matrix and
misclassified examples.
"""
