"""`binding train`: bind a new modality to the shared space, train two towers, or adapt one.

The recipe is ImageBind's (arXiv 2305.05665, section 3): a frozen anchor tower (image by
default), a new encoder trained against it with a symmetric InfoNCE loss. See docs/train.md.
"""

FORMAT_VERSION = 1
