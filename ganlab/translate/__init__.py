"""Image-to-image translation: the pix2pix, cyclegan, srgan and inpaint trainers, a run opened for inference
(:mod:`.model`), the ``translate`` command and the quality figures of the bench."""
