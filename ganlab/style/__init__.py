"""Style-based and progressive families beyond their networks: their training steps (trainer.py),
style mixing and noise control (mixing.py), GAN inversion (project.py) and perceptual path length (ppl.py)."""
