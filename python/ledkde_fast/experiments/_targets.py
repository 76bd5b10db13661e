"""The target the generalisation study is judged by (our choice, not the paper's); shared by the
experiment and its figures.
"""

#: The target the study is judged by (our choice): at most this memorised fraction (ratio rule) ...
TARGET_MEMORIZED = 0.10
#: ... at least this relative diversity ...
TARGET_DIVERSITY = 0.75
#: ... and a classifier accuracy (MNIST, one digit) of at least this fraction of that on real images
#: of the digit; for all digits, whose samples have no label, the classifier's confidence instead.
TARGET_QUALITY_RATIO = 0.90
#: For synthetic data, the quality criterion is a mean distance to the manifold of at most this
#: fraction of the training spacing.
TARGET_MANIFOLD_DISTANCE = 0.25
