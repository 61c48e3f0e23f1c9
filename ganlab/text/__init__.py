"""Text -> image: joint embedders, captions, the captioned set and the LAFITE-style trainer.

    from ganlab.text.embedders import load_embedder       # minilm (offline) or openclip:MODEL:TAG
    from ganlab.text.generate import TextGenerator        # prompts -> images from a text-gan run
"""
